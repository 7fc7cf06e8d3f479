"""Group commit on one PostgreSQL connection: many request threads, one transaction per batch.

The same leader/follower scheme as SQLite's store (core.py, "Why group commit"): a caller queues its job;
whoever takes the commit lock runs every queued job in one transaction, commits once (one WAL flush on
the server for the whole batch), then wakes the callers, which answer Twilio only then. A 2xx therefore
always means "committed".

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
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg.errors

from ...store_health import StoreError, StoreUnavailable
from ..records import StoreClosed

log = logging.getLogger("callback_monitor.store")
BATCH_MAX = 512
BATCH_ATTEMPTS = 6  # a batch that deadlocked runs again, up to this many times in all
RETRY_JITTER = 0.01  # seconds, times the attempt: the most a retry waits before it runs again
Conn = psycopg.Connection[tuple[Any, ...]]
_RETRY = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class Job:
    """One queued unit of work; ``wake`` is a binary semaphore (released = "look again")."""

    __slots__ = ("fn", "key", "done", "wake", "result", "error")

    def __init__(self, fn: Callable[[Conn], Any], key: str) -> None:
        self.fn = fn
        self.key = key
        self.done = False
        self.wake = threading.Lock()
        self.wake.acquire()
        self.result: Any = None
        self.error: BaseException | None = None

    def signal(self) -> None:
        try:
            self.wake.release()
        except RuntimeError:  # already signalled and not yet seen
            pass


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


class GroupCommit:
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
        self._connect = connect
        self._on_commit, self._on_failure = on_commit, on_failure
        self._before_commit = before_commit
        self.batch_max = batch_max
        self.wrote = Wrote()  # the running batch's: its jobs (on the leader's thread) add to it
        self._conn: Conn | None = None
        self._pending: list[Job] = []
        self._pending_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self.closed = False
        self.commits = 0
        self.retried_batches = 0

    @property
    def queued(self) -> int:
        """Jobs waiting for their batch (the one being committed not counted)."""
        return len(self._pending)

    def adopt(self, conn: Conn) -> None:
        """Use an open connection (the one the store migrated with) for the first batches."""
        self._conn = conn

    def run(self, fn: Callable[[Conn], Any], key: str = "", timeout: float = 30.0) -> Any:
        """Run ``fn(conn)`` in a transaction; return once it is committed (or raise why not)."""
        if self.closed:
            raise StoreClosed("the store is closed")
        job = Job(fn, key)
        with self._pending_lock:
            self._pending.append(job)
        deadline = time.monotonic() + timeout
        while not job.done:
            if self._commit_lock.acquire(blocking=False):
                try:
                    self._commit_next_batch()
                finally:
                    self._commit_lock.release()
                with self._pending_lock:  # queued while we held the lock: the oldest leads next
                    successor = self._pending[0] if self._pending else None
                if successor is not None:
                    successor.signal()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the database writer did not answer in time")
            job.wake.acquire(timeout=min(remaining, 0.05))
        if job.error is not None:
            raise job.error
        return job.result

    def _commit_next_batch(self) -> bool:
        with self._pending_lock:
            batch, self._pending = self._pending[: self.batch_max], self._pending[self.batch_max :]
        if batch:
            self._commit(batch)
        return bool(batch)

    def _commit(self, batch: list[Job]) -> None:
        batch.sort(key=lambda job: job.key)  # row locks in one order in every receiver
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
            for job in batch:
                job.error = job.error or error
        for job in batch:
            job.done = True
            job.signal()

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

    def _run_batch(self, conn: Conn, batch: list[Job], *, savepoints: bool) -> bool:
        """Run and commit ``batch``; False (rolled back) if a job raised without savepoints. A deadlock
        or serialization failure is raised for ``_commit`` to run the batch again."""
        conn.execute("BEGIN")
        self.wrote = wrote = Wrote()
        for job in batch:
            if not savepoints:
                try:
                    job.result = job.fn(conn)
                except _RETRY:
                    raise
                except Exception:
                    if conn.broken:
                        raise
                    conn.execute("ROLLBACK")
                    return False
                continue
            conn.execute("SAVEPOINT job")
            mark = wrote.mark()
            try:
                job.result, job.error = job.fn(conn), None
                conn.execute("RELEASE SAVEPOINT job")
            except _RETRY:
                raise
            except Exception as exc:  # one bad job must not cost the others
                if conn.broken:
                    raise
                conn.execute("ROLLBACK TO SAVEPOINT job")
                conn.execute("RELEASE SAVEPOINT job")
                wrote.reset(mark)
                job.result, job.error = None, self._as_store_error(exc)
        if self._before_commit is not None:
            self._before_commit(conn, wrote)
        conn.execute("COMMIT")
        return True

    def close(self) -> None:
        """Commit what is queued, then close the connection."""
        if self.closed:
            return
        self.closed = True
        with self._commit_lock:
            while self._commit_next_batch():
                pass
            if self._conn is not None:
                self._conn.close()
                self._conn = None
