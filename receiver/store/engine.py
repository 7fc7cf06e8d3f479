"""The SQLite writer's engine: one connection, the writer lock, group commit (group_commit.py), and the
WAL's bounds.

Group commit on SQLite: one writer at a time, ``BEGIN IMMEDIATE`` per batch, and a 2xx only after the
COMMIT: a crash or ``kill -9`` after it loses nothing (WAL, synchronous=NORMAL is durable against process
crashes).

A second process on the same database file, whatever path reaches it, is refused (``StoreLocked``):
never two writers fighting. A batch is acknowledged only while the file is still the operator's database
and the disk has room (store_health.py).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import IO, Self

import sqlite_utils

from .. import store_health
from ..store_health import StoreError, StoreHealth, StoreUnavailable
from .group_commit import BATCH_MAX, GroupCommit, Job
from .schema import migrations
from .stats_maintenance import RollupMaintainer

MIN_SQLITE = (3, 35)
CHECKPOINT_EVERY = 0.5  # seconds
# WAL size past which the checkpointer takes the writer's turn to restart the WAL (docs/DURABILITY.md)
WAL_LIMIT = 16 * 1024 * 1024
WAL_POLL = 0.05  # seconds between looks at the WAL's size
SLOW_WAL_TURN = 0.1  # seconds: a WAL restart that held the writer longer is logged
WAL_HARD_FACTOR = 3  # times wal_limit: past it the committing writer restarts the WAL itself (48 MB)
SYNCHRONOUS_LEVELS = ("NORMAL", "FULL")
log = logging.getLogger("callback_monitor.store")


def _lock(path: Path) -> IO[str] | None:
    """An exclusive advisory lock on ``<db>.lock``; None when another process holds it."""
    handle = open(path.with_name(path.name + ".lock"), "a+")  # noqa: SIM115 - kept open while locked
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows builds
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def as_store_error(exc: BaseException) -> BaseException:
    """A driver error as the store's own (the receiver answers it 503, callers need not know SQLite);
    anything else (a bug in a job) as it is, so it stays a 500. The driver's error is the cause."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    wrapped = StoreUnavailable(f"the database cannot be written: {exc}")
    wrapped.__cause__ = exc
    return wrapped


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A plain connection for readers (GUI, export); WAL lets them read while the writer writes."""
    if readonly:
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


class Engine(GroupCommit[sqlite3.Connection]):
    """Opens the database for writing (one process at a time) and commits jobs in groups.

    ``run(fn)`` is the one way to write: ``fn(conn)`` runs inside a transaction, shared with whatever
    other jobs were queued meanwhile, and ``run`` returns its result once that transaction is committed.
    ``Store`` (writer.py) adds the named writes on top."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        wal_limit: int = WAL_LIMIT,
        min_free_bytes: int = store_health.DEFAULT_MIN_FREE_MB * 1024 * 1024,
        free_space: store_health.FreeSpace = store_health.free_bytes,
        maintain_stats: bool = True,
    ) -> None:
        if synchronous.upper() not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_LEVELS)}")
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise store_health.StoreOpenError(
                f"SQLite {sqlite3.sqlite_version} is too old: Callback Monitor needs "
                f"{'.'.join(map(str, MIN_SQLITE))} or newer (UPSERT … RETURNING). Use a newer Python build."
            )
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self.wal_limit = wal_limit
        self._wal = self.path.with_name(self.path.name + "-wal")
        self.min_free_bytes, self.free_space = min_free_bytes, free_space
        self._open_checked()
        super().__init__(BATCH_MAX)
        self.checkpoints = 0
        self.wal_restarts = 0
        self.longest_wal_turn = 0.0  # seconds
        # Checkpoints (copying the WAL back into the database file, with an fsync) run on their own
        # thread and connection instead of inside whichever COMMIT crosses SQLite's 1000-page mark: there
        # they stalled every request of that batch, and the next ones queued behind it.
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._checkpoint_stop = threading.Event()
        # one checkpoint at a time (SQLite answers a second one BUSY at once); taken after the commit
        # lock by whoever holds both, never the other way round
        self._checkpoint_lock = threading.Lock()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="db-checkpoint", daemon=True)
        self._checkpointer.start()
        # the statistics rollup, kept by the process that owns the writer (False: tests of the live path)
        self.stats_rollup = RollupMaintainer(self).start() if maintain_stats else None

    # ---------------------------------------------------------------- opening (store_health.py)
    def _open_checked(self) -> None:
        """Lock the file itself, check it for damage when it may be damaged, migrate, start watching it.
        Every failure is a ``StoreError`` whose text is the operator's message, with nothing left open."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_health.open_error(self.path, exc) from None
        self._writer_lock = store_health.WriterLock(self.path)
        self._lock_handle: IO[str] | None = None
        conn: sqlite3.Connection | None = None
        try:
            self._lock_handle = _lock(self.path)
            if self._lock_handle is None:
                raise store_health._locked(self.path)
            must_check = store_health.needs_check(self.path)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self.integrity_checked = must_check
            if must_check:
                damage = store_health.check_integrity(conn, self.path)
                if damage is not None:
                    raise store_health.StoreDamaged(self.path, damage)
            store_health.mark_open(self.path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            # when the WAL restarts, the next commit cuts the file back to this size
            conn.execute(f"PRAGMA journal_size_limit = {int(self.wal_limit)}")
            conn.execute("PRAGMA busy_timeout = 5000")
            migrations.apply(sqlite_utils.Database(conn))
            self.health = StoreHealth(self.path, self.min_free_bytes, self.free_space)
            self.health.wal_opened()
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if self._lock_handle is not None:
                self._lock_handle.close()
            self._writer_lock.release()
            if isinstance(exc, StoreError) or not isinstance(exc, (OSError, sqlite3.Error)):
                raise
            raise store_health.open_error(self.path, exc) from None
        self._conn = conn

    # ---------------------------------------------------------------- WAL size (checkpointer thread)
    def _checkpoint_loop(self) -> None:
        """Keep the WAL small under any load, and give its space back when idle.

        Every ``CHECKPOINT_EVERY`` seconds a PASSIVE checkpoint copies what it can without waiting for
        anyone. That alone never ends a WAL that is always being written: SQLite starts writing at the
        beginning of the WAL again only when a checkpoint has copied all of it and no transaction has
        appended since, and under sustained load a commit always has. So when the WAL file has passed
        ``wal_limit`` (or the store has been idle since the last pass and the WAL is not empty), the
        checkpointer takes the group commit's turn (the commit lock: no batch runs meanwhile), finishes
        the checkpoint with RESTART (TRUNCATE when idle), and hands the turn on. The PASSIVE pass just
        before did the bulk of the copying, so the turn lasts only for the frames committed since.
        """
        conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        wal = self._wal
        commits_seen = -1
        next_pass = time.monotonic() + CHECKPOINT_EVERY
        try:
            conn.execute("PRAGMA busy_timeout = 1000")
            # the size is looked at often (a stat), the checkpoints run when due or when the WAL is too big
            while not self._checkpoint_stop.wait(WAL_POLL):
                try:
                    size = wal.stat().st_size
                except OSError:
                    continue
                over = size > self.wal_limit
                if not over and time.monotonic() < next_pass:
                    continue
                next_pass = time.monotonic() + CHECKPOINT_EVERY
                idle = self.commits == commits_seen
                commits_seen = self.commits
                if size == 0:
                    continue
                try:
                    # when the WAL is to be restarted, a second pass copies what came in during the
                    # first, so the writer's turn only waits for the frames of the last moments
                    for _ in range(2 if over else 1):
                        with self._checkpoint_lock:
                            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        self.checkpoints += 1
                    if over or idle:
                        self._restart_wal(conn, "TRUNCATE" if idle else "RESTART")
                except sqlite3.Error:  # busy or locked: the next pass copies it
                    log.debug("checkpoint skipped", exc_info=True)
        finally:
            conn.close()

    def _restart_wal(self, conn: sqlite3.Connection, mode: str) -> None:
        """Checkpoint all of the WAL so that the next commit writes from its start (``mode`` RESTART),
        or empty the file (TRUNCATE), holding the writer's turn. A reader that still uses an old
        snapshot (another process) can keep it from finishing: then it waits at most 200 ms and the
        next pass tries again, while the writer goes on."""
        started = time.perf_counter()
        with self._writer_turn(), self._checkpoint_lock:
            conn.execute("PRAGMA busy_timeout = 200")
            try:
                busy, _frames, _copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            finally:
                conn.execute("PRAGMA busy_timeout = 1000")
        held = time.perf_counter() - started
        self.longest_wal_turn = max(self.longest_wal_turn, held)
        if held > SLOW_WAL_TURN:  # callbacks waited that long: the disk's flushes are slow
            log.warning("WAL %s checkpoint held the writer %.0f ms (slow disk flush?)", mode, held * 1000)
        if not busy:
            self.wal_restarts += 1

    def _hold_wal_bound(self) -> None:
        """The safety net under the checkpointer (caller holds the commit lock, its batch is answered):
        when the WAL has reached ``WAL_HARD_FACTOR`` times the limit anyway (a disk whose flushes take
        long, a burst faster than the checkpointer looks), the leader restarts it before the next batch.
        The writers wait for that checkpoint: the WAL's bound holds whatever the load and the disk."""
        try:
            size = self._wal.stat().st_size
        except OSError:
            return
        if size <= self.wal_limit * WAL_HARD_FACTOR:
            return
        started = time.perf_counter()
        with self._checkpoint_lock:  # waits for a PASSIVE pass of the checkpointer to end
            self._conn.execute("PRAGMA busy_timeout = 200")  # a reader with an old snapshot: next batch
            try:
                busy = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]
            except sqlite3.Error:
                busy = 1
            finally:
                self._conn.execute("PRAGMA busy_timeout = 5000")
        held = time.perf_counter() - started
        self.longest_wal_turn = max(self.longest_wal_turn, held)
        if busy:
            log.debug("inline WAL restart could not finish (a reader); next batch tries again")
            return
        self.wal_restarts += 1
        log.warning(
            "WAL reached %.0f MB before the checkpointer restarted it: writers waited %.0f ms for it",
            size / 2**20,
            held * 1000,
        )

    # ---------------------------------------------------------------- group commit
    BEGIN = "BEGIN IMMEDIATE"  # the write lock at once: a batch never fails half-way for want of it

    def _commit(self, batch: list[Job[sqlite3.Connection]]) -> None:
        """One transaction for the batch. Optimistic first: every job straight in, no savepoints (two
        statements less per job); if any job raises, the whole transaction is rolled back and the batch
        runs again with a SAVEPOINT per job, so the bad job fails alone."""
        conn = self._conn
        error: BaseException | None = None
        try:
            self.health.before_write()  # gone, replaced, disk low: refuse before writing
            if not self._run_batch(conn, batch, savepoints=False):
                self._run_batch(conn, batch, savepoints=True)
            self.commits += 1
            self.health.after_commit()  # committed into the operator's file, or no 2xx
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.health.write_failed(exc)
            error = exc
        self._finish(batch, error)

    def _after_batch(self) -> None:
        self._hold_wal_bound()

    def _raised(self, error: BaseException) -> BaseException:
        return as_store_error(error)

    def close(self) -> None:
        if self._closed:
            return
        if self.stats_rollup is not None:  # before the writer goes: a pass may be waiting on it
            self.stats_rollup.stop()
        self._closed = True
        self._checkpoint_stop.set()
        self._checkpointer.join()
        with self._commit_lock:
            self._drain()
            self._conn.close()  # the last connection to close checkpoints the rest of the WAL
        if not self.health.problems():
            store_health.write_clean_stamp(self.path)
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None
        self._writer_lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
