"""``PgStore``: the receiver's writer on a team database (PostgreSQL), any number of them at once.

It is a ``WriterStore`` (receiver/store/protocol.py) as SQLite's ``Store`` is: the callbacks' writes in
PostgreSQL's own statements (writes.py here), every other write the same code as SQLite's
(shared_writes.py's mixins), with the same ``Outcome`` semantics and the same promise: a method returns only
once its rows are committed, so a 2xx is never sent for a write that is not durable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg

from ...callbacks import Callback
from ...request_storage import cap_request
from ...store_health import WRITE_FAILURE_SHOWN, StoreError, StoreOpenError
from ..app_writes import AppWrites
from ..backups import Backups
from ..group_commit import BATCH_MAX
from ..pruning import Pruning
from ..reconcile_writes import ReconcileWrites
from ..records import Outcome, RequestRecord
from ..shared_writes import Db, Dialect, mark_simulated
from ..stats_rollup import log_hours, touch
from ..url import PostgresTarget
from ..writes import _PreparedCallback
from . import writes
from .changes import CHANNEL, Change, encode
from .connection import connect
from .engine import Conn, PgGroupCommit, Wrote
from .registry import Registration
from .schema import apply_migrations
from .stats import PgRollupMaintainer
from .writers import HEARTBEAT_SECONDS

STATEMENT_TIMEOUT_MS = 20_000  # below the 30 s a request waits for its batch (group_commit.py's run)
# other receivers write the same rows: a job that reads a message to decide its write locks it first
POSTGRESQL = Dialect(for_update=" FOR UPDATE", touch=touch, forget=log_hours, event_added=writes.event_added)
T = TypeVar("T")


class PgHealth:
    """What /healthz reports for a team database: the last failed batch, for ``WRITE_FAILURE_SHOWN``
    seconds unless a later batch committed. Disk space is the server's business: no local figure."""

    free: int | None = None
    min_free_bytes = 0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failure: tuple[float, str] | None = None

    def committed(self) -> None:
        if self._failure is not None:
            with self._lock:
                self._failure = None

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._failure = (time.monotonic(), str(exc))

    def problems(self) -> list[str]:
        with self._lock:
            failure = self._failure
        if failure is None or time.monotonic() - failure[0] > WRITE_FAILURE_SHOWN:
            return []
        return [failure[1]]


class PgStore(AppWrites, Backups, Pruning, ReconcileWrites):
    """The writer of one receiver on a PostgreSQL database; other receivers may write to it too."""

    dialect = POSTGRESQL

    def __init__(
        self,
        target: PostgresTarget,
        *,
        batch_max: int = BATCH_MAX,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
        listen: str | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        maintain_stats: bool = True,
    ) -> None:
        self.target = target
        self.statement_timeout_ms = int(statement_timeout_ms)
        self.path = target.display()  # what /healthz and the start-up lines name (no password in it)
        self.health = PgHealth()
        conn = connect(target)
        # who writes: ``writer_id`` names this receiver in ``writers`` and in every NOTIFY it sends
        self.registration = Registration(self._connect_heartbeat, listen, heartbeat_seconds)
        self.writer_id = self.registration.id
        try:
            apply_migrations(conn)
            self._for_writes(conn)
            self.registration.start(conn)
        except psycopg.Error as exc:
            conn.close()
            first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise StoreOpenError(f"cannot prepare the team database {self.path}: {first}") from None
        self._engine = PgGroupCommit(
            self._connect, self.health.committed, self.health.failed, batch_max, self._notify
        )
        self._engine.adopt(conn)
        # the statistics rollup (pg/stats.py), kept on its own connection by one receiver at a time
        self.stats_rollup = PgRollupMaintainer(self).start() if maintain_stats else None

    def _connect(self) -> Conn:
        return self._for_writes(connect(self.target))

    def _connect_heartbeat(self) -> Conn:
        return connect(self.target, role="heartbeat")

    def _for_writes(self, conn: Conn) -> Conn:
        """A batch stuck on the server (a lock another client holds) fails in time for a 503, instead of
        holding every request of this receiver (migrations, which may build indexes, have no limit)."""
        conn.execute(f"SET statement_timeout = {self.statement_timeout_ms}")
        return conn

    def _notify(self, conn: Conn, wrote: Wrote) -> None:
        """The batch's one NOTIFY, last in its transaction: delivered only if, and once, it commits."""
        if wrote.changed:
            payload = encode(Change(self.writer_id, wrote.requests, wrote.events))
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    def announce(self, listen: str | None) -> None:
        """Where this receiver listens (``host:port``), shown with it in the team's list of writers."""
        self.registration.announce(listen)

    def run_shared(self, fn: Callable[[Db], T]) -> T:
        engine = self._engine
        result: T = engine.run(lambda conn: fn(writes.Qmark(conn, engine.wrote)))
        return result

    @property
    def queued(self) -> int:
        return self._engine.queued

    @property
    def commits(self) -> int:
        return self._engine.commits

    @property
    def retried_batches(self) -> int:
        """Batches run again after a deadlock with another receiver (a figure for the benchmark)."""
        return self._engine.retried_batches

    def close(self) -> None:
        """Commit what is queued, then mark this writer stopped."""
        if self.stats_rollup is not None:
            self.stats_rollup.stop()
        self._engine.close()
        self.registration.stop()

    def __enter__(self) -> PgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writes (receiver/app.py)
    def log_request(self, req: RequestRecord) -> Outcome:
        """Log a request that carries no callback (rejected, health…)."""
        cap_request(req)

        def job(conn: Conn) -> Outcome:
            request_id = writes.insert_request(conn, self._engine.wrote, req)
            return Outcome(request_id, req.outcome, req.message_sid, None, False)

        try:
            result: Outcome = self._engine.run(job)
        except (StoreError, TimeoutError):
            # these answers (4xx, /healthz) promise nothing stored: they still go out without a row
            return Outcome(0, req.outcome, req.message_sid, None, False)
        return result

    def record_callback(self, cb: Callback, req: RequestRecord) -> Outcome:
        """Store a validated callback and its request-log line in one transaction."""
        cap_request(req)
        prep = _PreparedCallback(cb, req)

        def job(conn: Conn) -> Outcome:
            outcome = writes.apply_callback(conn, self._engine.wrote, prep, req)
            if req.simulated:
                mark_simulated(writes.Qmark(conn, self._engine.wrote), outcome)
            return outcome

        result: Outcome = self._engine.run(job, key=cb.sid)
        return result

    def record_event_batch(self, events: list[tuple[Callback, str]], req: RequestRecord) -> list[Outcome]:
        """An Event Streams delivery: its request-log line and one event per CloudEvent, one transaction;
        the request is ``duplicate`` when every event was."""
        cap_request(req)
        preps = [(_PreparedCallback(cb, req), ce_id) for cb, ce_id in events]
        # messages in SID order (as the batches): two receivers lock rows in the same order
        order = sorted(range(len(preps)), key=lambda i: preps[i][0].cb.sid)

        def job(conn: Conn) -> list[Outcome]:
            req.outcome = "accepted"
            req.message_sid = events[0][0].sid if len(events) == 1 else None
            wrote = self._engine.wrote
            request_id = writes.insert_request(conn, wrote, req)
            outcomes: list[Outcome | None] = [None] * len(preps)
            for i in order:
                prep, ce_id = preps[i]
                outcome = outcomes[i] = writes.apply_event(conn, wrote, prep, ce_id, request_id)
                if req.simulated:
                    mark_simulated(writes.Qmark(conn, self._engine.wrote), outcome)
            done = [o for o in outcomes if o is not None]
            if done and all(o.outcome == "duplicate" for o in done):
                req.outcome = "duplicate"
                writes.mark_duplicate_request(conn, request_id)
            return done or [Outcome(request_id, "accepted", None, None, False)]

        key = preps[order[0]][0].cb.sid if preps else ""
        result: list[Outcome] = self._engine.run(job, key=key)
        return result
