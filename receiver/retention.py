"""Retention: how long the store keeps what, and pruning in small batches off the request path.

Defaults (docs/DURABILITY.md says why):

* request-log rows of callbacks that were stored (accepted, duplicate): ``accepted_days`` (7). The
  callback itself lives on in its message and events; the row is its HTTP side (headers, timing).
* request-log rows that stored nothing (rejected: bad signature, wrong path, junk): ``rejected_days``
  (30), longer because they are what an operator digs through when callbacks go missing.
* messages, their events and media: kept until the operator prunes them (``prune --before``, or the
  app's Prune dialog).

Every delete is a writer's method (receiver/store/protocol.py: SQLite's pruning.py, PostgreSQL's pg/store.py)
that runs as one job of the group commit, at most a few hundred rows at a time, so a callback never waits
behind a long delete; freed pages are reused by new rows, so once the oldest rows go the file stops growing
(it does not shrink: no VACUUM, see m004's note on the FTS index).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store.protocol import WriterStore

log = logging.getLogger("callback_monitor.retention")

REQUEST_BATCH = 500  # request-log rows per job
MESSAGE_BATCH = 100  # messages (with their events and media) per job
PRUNE_EVERY = 600.0  # seconds between automatic passes
FIRST_PRUNE_AFTER = 5.0  # seconds after start: out of the way of the start itself
STORED = ("accepted", "duplicate")
REJECTED = ("rejected",)


@dataclass(frozen=True)
class Retention:
    """Days each kind of request-log row is kept; ``None`` keeps it forever."""

    accepted_days: float | None = 7.0
    rejected_days: float | None = 30.0

    @staticmethod
    def from_days(accepted: float | None, rejected: float | None) -> Retention:
        """From operator input, where 0 (or less) means "keep forever"."""
        return Retention(
            accepted_days=accepted if accepted and accepted > 0 else None,
            rejected_days=rejected if rejected and rejected > 0 else None,
        )


DEFAULT = Retention()


@dataclass
class PruneResult:
    requests: int = 0
    messages: int = 0
    events: int = 0

    def __str__(self) -> str:
        parts = [f"{self.requests:,} request-log rows"]
        if self.messages or self.events:
            parts.append(f"{self.messages:,} messages with {self.events:,} events")
        return "deleted " + " and ".join(parts)


def iso(moment: datetime) -> str:
    """The store's time format (UTC, milliseconds), which sorts as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def cutoff(days: float, now: datetime | None = None) -> str:
    return iso((now or datetime.now(UTC)) - timedelta(days=days))


def prune_requests(
    store: WriterStore, outcomes: tuple[str, ...], before: str, stop: threading.Event | None = None
) -> int:
    """Delete request-log rows with one of ``outcomes`` received before ``before`` (ISO time), in batches."""
    last = store.last_request_before(before)
    total = 0
    while last and not (stop is not None and stop.is_set()):
        deleted = store.delete_requests(outcomes, before, last, REQUEST_BATCH)
        total += deleted
        if deleted < REQUEST_BATCH:
            break
    return total


def prune_messages(store: WriterStore, before: str, stop: threading.Event | None = None) -> tuple[int, int]:
    """Delete messages first seen before ``before`` with their events and media, in batches.
    Returns (messages, events) deleted."""
    messages = events = 0
    while not (stop is not None and stop.is_set()):
        done = store.delete_messages(before, MESSAGE_BATCH)
        messages, events = messages + done[0], events + done[1]
        if done[0] < MESSAGE_BATCH:
            break
    return messages, events


def prune(
    store: WriterStore,
    retention: Retention,
    *,
    messages_before: str | None = None,
    now: datetime | None = None,
    stop: threading.Event | None = None,
) -> PruneResult:
    """One pass of the retention rules; messages and events only when ``messages_before`` is given."""
    result = PruneResult()
    if retention.accepted_days is not None:
        result.requests += prune_requests(store, STORED, cutoff(retention.accepted_days, now), stop)
    if retention.rejected_days is not None:
        result.requests += prune_requests(store, REJECTED, cutoff(retention.rejected_days, now), stop)
    if messages_before is not None:
        result.messages, result.events = prune_messages(store, messages_before, stop)
    return result


class Pruner:
    """Applies the retention rules on its own thread: shortly after start, then every ``every`` seconds.

    ``retention`` is called at each pass, so a changed setting applies from the next pass on."""

    def __init__(
        self,
        store: WriterStore,
        retention: Callable[[], Retention],
        *,
        every: float = PRUNE_EVERY,
        first_after: float = FIRST_PRUNE_AFTER,
    ) -> None:
        self.store = store
        self.retention = retention
        self.every = every
        self.first_after = first_after
        self.passes = 0
        self.last: PruneResult | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="db-prune", daemon=True)

    def start(self) -> Pruner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        wait = self.first_after
        while not self._stop.wait(wait):
            wait = self.every
            try:
                self.last = prune(self.store, self.retention(), stop=self._stop)
                if self.last.requests:
                    log.info("retention: %s", self.last)
            except Exception:  # a failed pass (store closed, disk trouble) is retried at the next one
                log.warning("retention pass failed", exc_info=True)
            self.passes += 1
