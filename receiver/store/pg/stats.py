"""The statistics rollup on a team database (stats_rollup.py, m022): SQLite's maintainer, on a connection of
its own, with the two things several receivers change.

- **One maintainer at a time.** A pass first takes ``pg_try_advisory_lock`` on the maintainer's connection,
  then runs in one REPEATABLE READ transaction (plan and writes in the same snapshot): the receiver that
  gets the lock does the pass, the others skip their turn. Nothing is added to a callback's batch.
- **A watermark safe against ids that commit out of order.** Identity values are handed out when a row is
  inserted, not when it commits: event 100 may commit after event 105 is visible. SQLite's watermark ("the
  last event whose hour is accounted for" = the newest id seen) would then skip event 100 for good, and its
  message's hour would keep stale rows. Here the watermark only moves to an id ``newest`` observed in an
  earlier pass once every transaction that could still insert an id at or below it has ended: those running
  then had xids below that snapshot's ``xmax``, so they are over once the current snapshot's ``xmin`` has
  passed it; and ``SETTLE`` seconds by the database's clock cover a transaction that had drawn its id but
  not yet its xid. Until then the reader's plan recomputes the hours named by the newer events live, so
  figures stay exact meanwhile; the first pass waits for its first final id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import psycopg

from ..dialect import POSTGRES
from ..stats_maintenance import RollupMaintainer
from .connection import connect
from .engine import Conn

if TYPE_CHECKING:
    from .store import PgStore

# pg_try_advisory_lock key: "callback-monitor statistics"
LOCK = 0x43_4D_53_54_41_54_53  # "CMSTATS"
# the gap between drawing an id and getting an xid is one row insert (and PgStore's batches insert their
# request first, so they have their xid already): a few seconds is a wide margin
SETTLE = timedelta(seconds=5)


class _Qmark:
    """The maintainer's connection taking the rollup's ``?`` SQL (``execute`` and ``executemany``)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[tuple[Any, ...]]:
        return self.conn.execute(POSTGRES.sql(sql), tuple(parameters))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> None:
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(POSTGRES.sql(sql), rows)


class PgRollupMaintainer(RollupMaintainer):
    """Keeps a team database's rollup; ``store`` is the ``PgStore`` whose receiver runs it."""

    dialect = POSTGRES

    def __init__(self, store: PgStore, *, settle: timedelta | None = None, **kw: Any) -> None:
        super().__init__(store, **kw)
        self.target = store.target
        self.settle = SETTLE if settle is None else settle
        self.maintained = 0  # passes that held the lock (the others were another receiver's turn)
        self._conn: Conn | None = None
        self._seen: list[tuple[Any, int, int]] = []  # (database time, newest event id, snapshot xmax)
        self._final: int | None = None  # the newest id known to have no uncommitted id below it

    def stop(self) -> None:
        super().stop()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self.target, role="statistics")
        return self._conn

    def _pass(self) -> bool:
        conn = self._connection()
        # the lock before the snapshot: the pass then sees everything the previous holder committed
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK,)).fetchone()
        if not (row and row[0]):
            return False  # another receiver maintains the rollup now
        try:
            self.maintained += 1
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                db = _Qmark(conn)
                job, more = self._plan(db)
                if job is not None:
                    job(db)
        finally:
            with contextlib.suppress(psycopg.Error):  # a lost connection has released it
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))
        return more and not self._stop.is_set()

    def _newest(self, conn: Any) -> int:
        """The newest id observed at least ``settle`` ago in a snapshot whose running transactions have all
        ended since; -1 until one is."""
        now, newest, xmin, xmax = conn.execute(
            "SELECT now(), (SELECT COALESCE(MAX(id), 0) FROM events), "
            "pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
            "pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
        ).fetchone()
        if self._final is None or newest > self._final:
            self._seen.append((now, int(newest), int(xmax)))
        pending = []
        for seen in self._seen:
            when, candidate, before = seen
            if before <= xmin and now - when >= self.settle:
                self._final = max(self._final or 0, candidate)
            else:
                pending.append(seen)
        self._seen = pending[-1000:]  # a pass every few seconds: a bounded list even if xmin is stuck
        return -1 if self._final is None else self._final
