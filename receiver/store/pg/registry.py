"""This receiver's row in ``writers`` (pg/writers.py): registered when its ``PgStore`` opens, ``last_seen``
touched every ``HEARTBEAT_SECONDS`` by a thread of its own on a connection of its own, in its own short
transaction (never inside a callback's batch, which it would slow), ``stopped_at`` set on close.

A lost connection costs a tick, not the heartbeat: the next tick connects again. The row is written with
``ON CONFLICT`` so a heartbeat after the database lost the row (restored from a backup) registers again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

import psycopg

from ... import __version__
from ...store_health import StoreError
from ..records import utcnow
from .engine import Conn
from .writers import HEARTBEAT_SECONDS

log = logging.getLogger("callback_monitor.store")

_UPSERT = (
    "INSERT INTO writers (id, host, pid, version, listen, started_at, last_seen) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (id) DO UPDATE SET listen = excluded.listen, last_seen = excluded.last_seen, "
    "stopped_at = NULL"
)


class Registration:
    """One writer's row and its heartbeat. ``id`` is what its NOTIFY payloads name (pg/changes.py)."""

    def __init__(
        self, connect: Callable[[], Conn], listen: str | None = None, every: float = HEARTBEAT_SECONDS
    ) -> None:
        self.id = uuid.uuid4().hex
        self.host, self.pid, self.version = socket.gethostname(), os.getpid(), __version__
        self.listen = listen
        self.started_at = utcnow()
        self.every = every
        self.beats = 0  # heartbeats written (a figure for tests and the status line)
        self._connect = connect
        self._conn: Conn | None = None
        self._lock = threading.Lock()  # one statement at a time on the connection
        self._failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="db-heartbeat", daemon=True)

    def start(self, conn: Conn) -> Registration:
        """Register on ``conn`` (the store's first connection; errors are the store's to raise), then beat."""
        conn.execute(_UPSERT, self._row())
        self._thread.start()
        return self

    def announce(self, listen: str | None) -> None:
        self.listen = listen
        self._write(_UPSERT, self._row())

    def stop(self) -> None:
        """Stop the heartbeat, then mark the row stopped (a database gone by now: the row just ages out)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._write("UPDATE writers SET stopped_at = %s WHERE id = %s", (utcnow(), self.id))
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _row(self) -> tuple[object, ...]:
        return (self.id, self.host, self.pid, self.version, self.listen, self.started_at, utcnow())

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            if self._write(_UPSERT, self._row()):
                self.beats += 1

    def _write(self, sql: str, args: tuple[object, ...]) -> bool:
        """One autocommit statement on the heartbeat's connection; False when it failed (logged once per
        outage: the batches' own failures already say the database is gone)."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._conn = self._connect()
                self._conn.execute(sql, args)
            except (psycopg.Error, StoreError) as exc:
                if not self._failing:
                    log.warning(
                        "writers: cannot update this receiver's row (trying every %g s): %s", self.every, exc
                    )
                self._failing = True
                if self._conn is not None and (self._conn.closed or self._conn.broken):
                    self._conn = None
                return False
            if self._failing:
                log.info("writers: this receiver's row is updated again")
            self._failing = False
            return True
