"""Hear a team database's changes: ``LISTEN callback_monitor`` on a connection and a thread of its own.

The thread sleeps in ``select`` on the connection's socket (and on a pipe that ``stop`` writes to, so a
closing window never waits for it): no polling. Each notification is decoded (pg/changes.py) and handed to
``on_change`` on the listener's thread. A lost connection (server restart, backend terminated, network)
is reported as ``Lost`` and retried with backoff (1, 2, 4 … 30 s); once listening again it reports
``Back``, and the caller must re-read everything it shows: rows committed while nobody listened sent
their notifications to no one.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from ...store_health import StoreError
from ..url import PostgresTarget
from .changes import CHANNEL, Change, decode
from .connection import _first_line, connect
from .engine import Conn

log = logging.getLogger("callback_monitor.store")
FIRST_RETRY = 1.0  # seconds; doubled at each failed attempt
MAX_RETRY = 30.0
ROLE = "listener"  # in application_name: "callback-monitor listener"


@dataclass(frozen=True)
class Live:
    """Listening (the first time)."""


@dataclass(frozen=True)
class Lost:
    """The connection is gone; the next attempt (number ``attempt``) is in ``retry_in`` seconds."""

    reason: str
    retry_in: float
    attempt: int


@dataclass(frozen=True)
class Back:
    """Listening again after a loss: re-read everything shown (changes made meanwhile were not heard)."""


State = Live | Lost | Back


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt`` (1-based): 1, 2, 4 … at most ``MAX_RETRY``."""
    return min(MAX_RETRY, FIRST_RETRY * 2.0 ** (attempt - 1))


class Listener:
    """``Listener(target, on_change, on_state).start()`` … ``stop()``; the callbacks run on its thread."""

    def __init__(
        self,
        target: PostgresTarget,
        on_change: Callable[[Change], None],
        on_state: Callable[[State], None],
        *,
        opener: Callable[[PostgresTarget], Conn] = lambda t: connect(t, role=ROLE),
    ) -> None:
        self.target = target
        self.on_change = on_change
        self.on_state = on_state
        self._open = opener
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="team-listener", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and wait for the thread (it wakes at once). Safe to call twice."""
        if not self._stop.is_set():
            self._stop.set()
            os.write(self._wake_w, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive() and self._wake_r >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        attempt = 0  # failed attempts since the last good connection
        ever_listened = False
        while not self._stop.is_set():
            try:
                conn = self._open(self.target)
            except StoreError as exc:
                attempt += 1
                self._lost(str(exc), attempt)
                continue
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                attempt = 0
                self.on_state(Back() if ever_listened else Live())
                ever_listened = True
                self._listen(conn)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    break
                attempt += 1
                self._lost(_first_line(exc), attempt)
            finally:
                conn.close()

    def _lost(self, reason: str, attempt: int) -> None:
        wait = backoff(attempt)
        log.info("team database listener: %s; retrying in %.0f s (attempt %d)", reason, wait, attempt)
        self.on_state(Lost(reason, wait, attempt))
        self._stop.wait(wait)

    def _listen(self, conn: Conn) -> None:
        """Hand on every notification until ``stop`` (returns) or the connection fails (raises)."""
        while not self._stop.is_set():
            ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [])
            if self._wake_r in ready:
                return
            # the socket has data: a notification, or the server's goodbye (raised here as an error)
            for note in conn.notifies(timeout=0):
                change = decode(note.payload)
                if change is not None:
                    self.on_change(change)
