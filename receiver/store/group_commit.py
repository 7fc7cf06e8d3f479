"""Group commit, for both databases: many request threads, one transaction (one flush) per batch.

Why: a commit per request (an fsync each, on SQLite; a WAL flush each, on PostgreSQL) will not keep up
with a burst of callbacks. Request threads queue their job; one of them (the leader) runs every queued
job in one transaction — all together first; if one fails, again with a SAVEPOINT each, so one bad job
cannot cost the others — commits once, and only then wakes the others, which answer Twilio. (A dedicated
writer thread did the same, but every request then paid two thread hand-offs under the GIL, which was
slower under load.) A 2xx therefore always means "committed". Under light load each caller commits its
own job at once.

``GroupCommit`` is the queue and the batch; the engines (engine.py for SQLite, pg/engine.py) say how a
batch's transaction is opened, what a failure means, and what happens around it (SQLite: the file's
health and the WAL's bound; PostgreSQL: reconnecting, deadlock retries, the batch's NOTIFY).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar, cast

from .records import StoreClosed

C = TypeVar("C")  # the database connection a job gets
T = TypeVar("T")
BATCH_MAX = 512
FOLLOWER_POLL = 0.05  # seconds: a queued caller looks at the commit lock at least this often


class Job(Generic[C]):
    """One queued unit of work. ``wake`` is a binary semaphore (a raw lock, released = "look again"):
    cheaper than ``threading.Event``, whose Condition costs two Python-level lock dances per wait/set.
    ``key`` orders a batch's jobs (PostgreSQL: row locks in one order in every receiver)."""

    __slots__ = ("fn", "key", "done", "wake", "result", "error")

    def __init__(self, fn: Callable[[C], Any], key: str) -> None:
        self.fn = fn
        self.key = key
        self.done = False
        self.wake = threading.Lock()
        self.wake.acquire()
        self.result: Any = None
        self.error: BaseException | None = None

    def signal(self) -> None:
        """Wake the job's caller: it is done, or the commit lock is free for it to lead."""
        try:
            self.wake.release()
        except RuntimeError:  # already signalled and not yet seen: one wake-up is enough
            pass


class GroupCommit(Generic[C]):
    """The leader/follower queue; subclasses implement ``_commit(batch)`` (usually with ``_run_batch``)."""

    BEGIN = "BEGIN"

    def __init__(self, batch_max: int = BATCH_MAX) -> None:
        self.batch_max = batch_max
        self._pending: list[Job[C]] = []
        self._pending_lock = threading.Lock()
        self._commit_lock = threading.Lock()  # held by the thread that is committing a batch
        self._closed = False
        self.commits = 0

    @property
    def queued(self) -> int:
        """Jobs waiting for their batch (the one being committed not counted): the writer's backlog."""
        return len(self._pending)

    def run(self, fn: Callable[[C], T], key: str = "", timeout: float = 30.0) -> T:
        """Run ``fn(conn)`` inside a transaction; return once it is committed (or raise why not).

        The caller queues its job; whichever caller gets the commit lock becomes the leader, commits every
        queued job (up to ``batch_max``) in one transaction, wakes their callers, and hands leadership to
        the oldest job still queued."""
        if self._closed:
            raise StoreClosed("the store is closed")
        job: Job[C] = Job(fn, key)
        with self._pending_lock:
            self._pending.append(job)
        deadline = time.monotonic() + timeout
        while not job.done:
            if self._commit_lock.acquire(blocking=False):
                try:
                    self._commit_next_batch()
                finally:
                    self._commit_lock.release()
                self._wake_successor()  # queued while we held the lock: the oldest leads next
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the database writer did not answer in time")
            job.wake.acquire(timeout=min(remaining, FOLLOWER_POLL))
        if job.error is not None:
            raise self._raised(job.error)
        return cast(T, job.result)  # set: the job ran without error

    def _wake_successor(self) -> None:
        with self._pending_lock:
            successor = self._pending[0] if self._pending else None
        if successor is not None:
            successor.signal()

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """Hold the commit lock like a leader would (no batch runs meanwhile), then wake the oldest
        queued job to lead next (without that, queued callers would notice only at their poll)."""
        with self._commit_lock:
            yield
        self._wake_successor()

    def _drain(self) -> None:
        """Commit batches until nothing is queued (caller holds the commit lock)."""
        while self._commit_next_batch():
            pass

    def _commit_next_batch(self) -> bool:
        """Commit up to ``batch_max`` queued jobs (caller holds the commit lock); False when none was."""
        with self._pending_lock:
            batch, self._pending = self._pending[: self.batch_max], self._pending[self.batch_max :]
        if batch:
            self._commit(batch)
            self._after_batch()
        return bool(batch)

    def _finish(self, batch: list[Job[C]], error: BaseException | None = None) -> None:
        """Wake every caller of ``batch``; ``error`` for those whose job has none of its own."""
        for job in batch:
            if error is not None and job.error is None:
                job.error = error
            job.done = True
            job.signal()

    def _run_batch(self, conn: Any, batch: list[Job[C]], *, savepoints: bool) -> bool:
        """Run and commit ``batch``; False (rolled back, nothing kept) if a job raised without savepoints.
        Jobs are therefore plain database work that may run twice."""
        conn.execute(self.BEGIN)
        self._batch_started()
        for job in batch:
            if not savepoints:
                try:
                    job.result = job.fn(conn)
                except Exception as exc:
                    self._job_failed(conn, exc)
                    conn.execute("ROLLBACK")
                    return False
                continue
            conn.execute("SAVEPOINT job")
            mark = self._job_mark()
            try:
                job.result, job.error = job.fn(conn), None
                conn.execute("RELEASE SAVEPOINT job")
            except Exception as exc:  # one bad job must not cost the others
                self._job_failed(conn, exc)
                conn.execute("ROLLBACK TO SAVEPOINT job")
                conn.execute("RELEASE SAVEPOINT job")
                self._job_reset(mark)
                job.result, job.error = None, self._job_error(exc)
        self._before_commit(conn)
        conn.execute("COMMIT")
        return True

    # ---------------------------------------------------------------- what the engines add
    def _commit(self, batch: list[Job[C]]) -> None:
        raise NotImplementedError

    def _after_batch(self) -> None:
        """After each batch, its callers woken, the commit lock still held."""

    def _raised(self, error: BaseException) -> BaseException:
        """What ``run`` raises for a job's error."""
        return error

    def _batch_started(self) -> None:
        """A batch's transaction began (again: a batch may run twice)."""

    def _job_failed(self, conn: Any, exc: Exception) -> None:
        """A job raised; raise to fail (or retry) the whole batch instead of this job alone."""

    def _job_mark(self) -> object:
        return None

    def _job_reset(self, mark: object) -> None:
        """A job was rolled back to its savepoint: forget what it noted since ``mark``."""

    def _job_error(self, exc: Exception) -> BaseException:
        return exc

    def _before_commit(self, conn: Any) -> None:
        """Last statements inside the batch's transaction."""
