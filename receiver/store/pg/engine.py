"""Group commit on one PostgreSQL connection: the shared leader/follower queue (receiver/store/
group_commit.py), one transaction and one WAL flush on the server per batch, then the callers answer.

What differs with several receivers on one database:

- **Deadlocks between receivers.** Two batches touching the same messages in opposite orders would wait
  for each other; each batch runs its jobs in the order of their ``key`` (the message SID), so two
  receivers take row locks in the same order, and a deadlock PostgreSQL still detects (jobs touching
  several messages) re-runs the whole batch, which every job here allows.
- **A lost connection** (server restart, network) fails the batch with ``StoreUnavailable`` (503, Twilio
  retries later); the next batch connects again. A COMMIT whose answer was lost may have committed: the
  callers get 503 all the same, and Twilio's retry is then a duplicate, never a lost callback.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, cast

import psycopg
import psycopg.errors

from ...store_health import StoreError, StoreUnavailable
from ..group_commit import BATCH_MAX, GroupCommit, Job

log = logging.getLogger("callback_monitor.store")
BATCH_ATTEMPTS = 6  # a batch that deadlocked runs again, up to this many times in all
RETRY_JITTER = 0.01  # seconds, times the attempt: the most a retry waits before it runs again
Conn = psycopg.Connection[tuple[Any, ...]]
_RETRY = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class Wrote:
    """What the batch being run has written so far (its jobs tell it): the highest request and event ids
    it inserted, and whether it changed anything at all. ``mark``/``reset``: a job rolled back to its
    savepoint takes its part back."""

    __slots__ = ("requests", "events", "changed")

    def __init__(self) -> None:
        self.requests: int | None = None
        self.events: int | None = None
        self.changed = False

    def request(self, request_id: int) -> None:
        self.requests = max(request_id, self.requests or 0)
        self.changed = True

    def event(self, event_id: int) -> None:
        self.events = max(event_id, self.events or 0)
        self.changed = True

    def mark(self) -> tuple[int | None, int | None, bool]:
        return self.requests, self.events, self.changed

    def reset(self, mark: tuple[int | None, int | None, bool]) -> None:
        self.requests, self.events, self.changed = mark


class PgGroupCommit(GroupCommit[Conn]):
    """Runs jobs in batched transactions on a connection that ``connect()`` (re)opens when needed.

    ``on_failure(exc)`` and ``on_commit()`` tell the store's health what happened to each batch;
    ``before_commit(conn, wrote)`` runs last inside each batch's transaction (the store's NOTIFY)."""

    def __init__(
        self,
        connect: Callable[[], Conn],
        on_commit: Callable[[], None],
        on_failure: Callable[[BaseException], None],
        batch_max: int = BATCH_MAX,
        before_commit: Callable[[Conn, Wrote], None] | None = None,
    ) -> None:
        super().__init__(batch_max)
        self._connect = connect
        self._on_commit, self._on_failure = on_commit, on_failure
        self._notify = before_commit
        self.wrote = Wrote()  # the running batch's: its jobs (on the leader's thread) add to it
        self._conn: Conn | None = None
        self.retried_batches = 0

    def adopt(self, conn: Conn) -> None:
        """Use an open connection (the one the store migrated with) for the first batches."""
        self._conn = conn

    def _commit(self, batch: list[Job[Conn]]) -> None:
        batch.sort(key=lambda job: job.key)  # row locks in one order in every receiver
        error: BaseException | None = None
        try:
            for attempt in range(1, BATCH_ATTEMPTS + 1):
                conn = self._connection()
                try:
                    if not self._run_batch(conn, batch, savepoints=False):
                        self._run_batch(conn, batch, savepoints=True)
                    break
                except _RETRY:
                    self._rollback(conn)
                    self.retried_batches += 1
                    if attempt == BATCH_ATTEMPTS:
                        raise
                    log.info("batch of %d deadlocked with another receiver: running it again", len(batch))
                    # jittered: a retry at once can take the row back before the other batch does
                    time.sleep(random.uniform(0, RETRY_JITTER * attempt))
            self.commits += 1
            self._on_commit()
        except Exception as exc:
            error = self._as_store_error(exc)
            self._on_failure(error)
        self._finish(batch, error)

    def _connection(self) -> Conn:
        conn = self._conn
        if conn is None or conn.closed:
            self._conn = conn = self._connect()
        return conn

    def _as_store_error(self, exc: Exception) -> Exception:
        """A database failure as the receiver's 503 reason; a broken connection is dropped for the next."""
        if isinstance(exc, StoreError):
            return exc
        if not isinstance(exc, psycopg.Error):
            return exc
        conn = self._conn
        if conn is not None and (conn.broken or conn.closed):
            conn.close()
            self._conn = None
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        return StoreUnavailable(f"the team database cannot be written: {first}")

    @staticmethod
    def _rollback(conn: Conn) -> None:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE and not conn.broken:
            conn.execute("ROLLBACK")

    # ---------------------------------------------------------------- the batch (group_commit.py)
    def _batch_started(self) -> None:
        self.wrote = Wrote()

    def _job_failed(self, conn: Any, exc: Exception) -> None:
        """A deadlock or serialization failure runs the whole batch again (``_commit``); a lost
        connection fails it."""
        if isinstance(exc, _RETRY) or conn.broken:
            raise exc

    def _job_mark(self) -> object:
        return self.wrote.mark()

    def _job_reset(self, mark: object) -> None:
        self.wrote.reset(cast(tuple[int | None, int | None, bool], mark))

    def _job_error(self, exc: Exception) -> BaseException:
        return self._as_store_error(exc)

    def _before_commit(self, conn: Any) -> None:
        if self._notify is not None:
            self._notify(conn, self.wrote)

    def close(self) -> None:
        """Commit what is queued, then close the connection."""
        if self._closed:
            return
        self._closed = True
        with self._commit_lock:
            self._drain()
            if self._conn is not None:
                self._conn.close()
                self._conn = None
