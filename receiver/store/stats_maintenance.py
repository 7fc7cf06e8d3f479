"""Keeps the statistics rollup (stats_rollup.py) up to date, on a thread of the process that owns the Store.

Each pass reads on its own read-only connection (one snapshot), then hands the result to the writer as one
short job (``Store.run``), so callbacks wait at most for a few milliseconds of inserts, never for a GROUP BY:

1. the events appended since the watermark name the messages that changed; the rolled hours of those
   messages are logged as dirty and the watermark moves on (compare-and-set: pruning may have moved it
   back meanwhile, then the next pass starts over);
2. up to ``HOURS_PER_JOB`` dirty hours are recomputed (a change committed after the snapshot has a newer
   event, or a newer ``stats_dirty`` row, so the next pass catches it: only the rows read are cleared);
3. ``rolled_until`` moves towards ``now - CLOSED_AFTER``, ``HOURS_PER_JOB`` hours at a time. Only closed
   hours are rolled up: the hot hour of a campaign is never recomputed over and over.

On a team database (pg/stats.py) a pass plans and writes in one transaction on its own connection, one
receiver at a time, and the watermark moves only to ids that can no longer be overtaken by a late commit.

A pass that has nothing to do writes nothing, except the watermark every ``WATERMARK_EVERY`` seconds (the
queries recompute the hours named by newer events, so a stale watermark costs them time, not exactness).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import stats_rollup as rollup
from .dialect import SQLITE, Dialect

if TYPE_CHECKING:
    from .engine import Engine as Store

log = logging.getLogger("callback_monitor.stats")

CLOSED_AFTER = timedelta(hours=2)
HOURS_PER_JOB = 12  # ~17k messages on the bench database: a read of ~50 ms, a writer job of a few ms
INTERVAL = 5.0  # seconds between passes when caught up
FIRST_PASS_AFTER = 2.0  # seconds after the store opens: out of the way of the start itself
WATERMARK_EVERY = 10.0  # seconds


class RollupMaintainer:
    """``start()`` runs passes on a daemon thread until ``stop()``; ``catch_up()`` runs them now."""

    dialect = SQLITE  # of the live GROUP BYs that compute the rows

    def __init__(
        self,
        store: Store | Any,  # pg/stats.py's subclass takes a PgStore
        *,
        interval: float = INTERVAL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watermark_written = 0.0
        self._lock = threading.Lock()  # one pass at a time (the thread, or catch_up from another one)

    def start(self) -> RollupMaintainer:
        self._thread = threading.Thread(target=self._loop, name="stats-rollup", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        more = False
        wait = FIRST_PASS_AFTER
        while not self._stop.wait(wait):
            try:
                more = self.run_pass()
            except Exception:  # a full disk, a store closing: the next pass tries again
                log.warning("statistics rollup pass failed", exc_info=True)
                more = False
            wait = 0 if more else self.interval

    def catch_up(self, limit: int = 100_000) -> int:
        """Run passes until nothing is left to do; the number of passes."""
        for n in range(limit):
            if not self.run_pass():
                return n + 1
        return limit

    def run_pass(self) -> bool:
        """One step; True when more work is waiting."""
        with self._lock:
            self.passes += 1
            return self._pass()

    def _pass(self) -> bool:
        from .engine import connect  # engine imports this module for the Store's hook

        conn = connect(self.store.path, readonly=True)
        try:
            conn.execute("BEGIN")
            job, more = self._plan(conn)
            conn.execute("COMMIT")
        finally:
            conn.close()
        if job is not None and not self._stop.is_set():
            self.store.run(job)
        return more and not self._stop.is_set()

    def _newest(self, conn: Any) -> int:
        """The newest event id up to which every event is visible (SQLite's one writer commits in order);
        below 0: none is known yet."""
        return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def _plan(self, conn: Any) -> tuple[Callable[[Any], Any] | None, bool]:
        state = rollup.read_state(conn)
        newest = self._newest(conn)
        if newest < 0:
            return None, False  # no event id is known to be final yet (pg/stats.py)
        target = rollup.hour_of(self.clock() - CLOSED_AFTER)
        if state.rolled_until is None:
            first = conn.execute("SELECT MIN(first_seen) FROM messages").fetchone()[0]
            if first is None:
                return None, False
            start = min(str(first)[: rollup.HOUR], target)

            def begin(w: Any) -> None:
                rollup.set_state(w, "rolled_until", start)
                rollup.set_state(w, "watermark", newest)

            return begin, True
        rolled_until = state.rolled_until
        # 1. new events -> dirty hours
        if newest > state.watermark:
            hours = sorted(
                h
                for (h,) in conn.execute(
                    f"SELECT DISTINCT substr(m.first_seen, 1, {rollup.HOUR}) FROM events e "
                    "JOIN messages m ON m.sid = e.message_sid WHERE e.id > ? AND e.id <= ?",
                    (state.watermark, newest),
                )
                if h < rolled_until
            )
            due = time.monotonic() - self._watermark_written >= WATERMARK_EVERY
            if hours or due:

                def advance(w: Any) -> None:
                    moved = w.execute(
                        "UPDATE stats_state SET value = ? "
                        "WHERE name = 'watermark' AND CAST(value AS BIGINT) = ?",
                        (newest, state.watermark),
                    ).rowcount
                    if moved:
                        w.executemany("INSERT INTO stats_dirty (hour) VALUES (?)", [(h,) for h in hours])

                self._watermark_written = time.monotonic()
                return advance, True
        # 2. dirty hours
        dirty = conn.execute(
            "SELECT hour, MAX(id) FROM stats_dirty GROUP BY hour ORDER BY hour LIMIT ?", (HOURS_PER_JOB,)
        ).fetchall()
        if dirty:
            ranges = [(h, rollup.next_hour(h)) for h, _ in dirty if h < rolled_until]
            rows = _rows(conn, ranges, self.dialect)
            last_ids = [(h, int(i)) for h, i in dirty]

            def recompute(w: Any) -> None:
                rollup.write_hours(w, ranges, rows, rolled_until)
                w.executemany("DELETE FROM stats_dirty WHERE hour = ? AND id <= ?", last_ids)

            return recompute, True
        # 3. newly closed hours
        if rolled_until < target:
            end = min(
                target, rollup.hour_of(rollup.parse_hour(rolled_until) + timedelta(hours=HOURS_PER_JOB))
            )
            rows = _rows(conn, [(rolled_until, end)], self.dialect)

            def extend(w: Any) -> None:
                # the boundary moves only from where this pass read it (one maintainer per writer)
                rollup.write_hours(w, [(rolled_until, end)], rows, end)
                rollup.set_state(w, "rolled_until", end)

            return extend, end < target
        return None, False


def _rows(conn: Any, ranges: list[tuple[str, str]], d: Dialect) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {table: [] for table in rollup.TABLES}
    for lo, hi in ranges:
        for table, rows in rollup.hour_rows(conn, lo, hi, d).items():
            out[table].extend(rows)
    return out
