"""The SQLite store: schema migrations, one writer connection with group commit, and the read helpers.

Why group commit: SQLite allows one writer at a time, and a commit per request (fsync each time) will not
keep up with a burst of callbacks. Request threads queue their job; one of them (the leader) runs every
queued job in one transaction (each in its own SAVEPOINT, so one bad job cannot cost the others), commits
once, and only then wakes the others, which answer Twilio. (A dedicated writer thread did the same, but
every request then paid two thread hand-offs under the GIL, which was slower under load.) A 2xx
therefore always means "committed": a crash or ``kill -9`` after it loses nothing (WAL,
synchronous=NORMAL is durable against process crashes).

A second process on the same database file, whatever path reaches it, is refused (``StoreLocked``):
never two writers fighting. A batch is acknowledged only while the file is still the operator's database
and the disk has room (store_health.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlite_utils
from sqlite_utils import Migrations

from .. import statuses, store_health
from ..callbacks import Callback
from ..request_storage import accepted_headers, cap_request, payload_json
from ..store_health import StoreError, StoreHealth, StoreLocked, StoreUnavailable
from . import stats_rollup
from .stats_maintenance import RollupMaintainer

__all__ = ["StoreError", "StoreLocked", "StoreUnavailable"]  # re-exported: callers import them from here

BATCH_MAX = 512
MIN_SQLITE = (3, 35)
CHECKPOINT_EVERY = 0.5  # seconds
# WAL size past which the checkpointer takes the writer's turn to restart the WAL (docs/DURABILITY.md)
WAL_LIMIT = 16 * 1024 * 1024
WAL_POLL = 0.05  # seconds between looks at the WAL's size
SLOW_WAL_TURN = 0.1  # seconds: a WAL restart that held the writer longer is logged
WAL_HARD_FACTOR = 3  # times wal_limit: past it the committing writer restarts the WAL itself (48 MB)
SYNCHRONOUS_LEVELS = ("NORMAL", "FULL")
log = logging.getLogger("callback_monitor.store")
migrations = Migrations("callback-monitor")


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class StoreClosed(RuntimeError):
    pass


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["messages"].create(  # type: ignore[union-attr]
        {
            "sid": str,
            "direction": str,
            "channel": str,
            "from_addr": str,
            "to_addr": str,
            "body": str,
            "status": str,
            "status_rank": int,
            "error_code": int,
            "messaging_service_sid": str,
            "account_sid": str,
            "num_segments": int,
            "num_media": int,
            "price": str,
            "price_unit": str,
            "profile_name": str,
            "channel_status_message": str,
            "raw_dlr_done_date": str,
            "first_seen": str,
            "updated_at": str,
            "event_count": int,
            "source": str,
        },
        pk="sid",
        not_null={"direction", "channel", "status", "status_rank", "first_seen", "updated_at"},
        defaults={"num_media": 0, "event_count": 0},
    )
    for cols in (
        ["first_seen"],
        ["updated_at"],
        ["status", "first_seen"],
        ["error_code"],
        ["channel", "first_seen"],
        ["direction", "first_seen"],
        ["to_addr"],
        ["from_addr"],
    ):
        db["messages"].create_index(cols)  # type: ignore[union-attr]
    db["events"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "message_sid": str,
            "status": str,
            "error_code": int,
            "event_type": str,
            "event_key": str,
            "idempotency_token": str,
            "channel_status_message": str,
            "raw_dlr_done_date": str,
            "received_at": str,
            "request_id": int,
            "payload": str,
        },
        pk="id",
        not_null={"message_sid", "status", "event_key", "received_at", "payload"},
    )
    db["events"].create_index(["event_key"], unique=True)  # type: ignore[union-attr]
    db["events"].create_index(["idempotency_token"], unique=True)  # type: ignore[union-attr]
    db["events"].create_index(["message_sid", "id"])  # type: ignore[union-attr]
    db["media"].create(  # type: ignore[union-attr]
        {"id": int, "message_sid": str, "idx": int, "url": str, "content_type": str}, pk="id"
    )
    db["media"].create_index(["message_sid", "idx"], unique=True)  # type: ignore[union-attr]
    db["requests"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "received_at": str,
            "method": str,
            "path": str,
            "query": str,
            "remote_addr": str,
            "headers": str,
            "body": str,
            "body_size": int,
            "content_type": str,
            "kind": str,
            "outcome": str,
            "http_status": int,
            "reason": str,
            "latency_ms": float,
            "message_sid": str,
        },
        pk="id",
    )
    db["requests"].create_index(["received_at"])  # type: ignore[union-attr]
    db["requests"].create_index(["outcome", "id"])  # type: ignore[union-attr]
    db["webhook_backups"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "created_at": str,
            "account_sid": str,
            "target_kind": str,
            "target_sid": str,
            "target_name": str,
            "previous": str,
            "applied": str,
            "restored_at": str,
        },
        pk="id",
    )


@migrations()
def m002_events_error_code_index(db: sqlite_utils.Database) -> None:
    """Error lookup counts callbacks per code; without this it scans every event."""
    db["events"].create_index(["error_code"])  # type: ignore[union-attr]


@migrations()
def m003_messages_time_sid_index(db: sqlite_utils.Database) -> None:
    """The messages table's default order (newest first, SID as tie-break) straight from an index, so a
    deep page (LIMIT … OFFSET n) walks index entries instead of sorting a million rows."""
    db["messages"].create_index(["first_seen", "sid"])  # type: ignore[union-attr]


_FTS_COLUMNS = ("sid", "from_addr", "to_addr", "body", "profile_name", "messaging_service_sid")


@migrations()
def m004_messages_text_index(db: sqlite_utils.Database) -> None:
    """A trigram index for the messages table's free-text search (substring of the columns above).

    Six ``LIKE '%x%'`` scan every message to count the matches (~300 ms for a million); a phrase of
    trigrams finds them in time proportional to the matches. Contentless (``content=''``): the text is
    already in ``messages``, the index only maps trigrams (with positions: ``detail=full``, so a phrase is
    an exact substring) to ``messages.rowid``. That rowid is implicit (the key is ``sid``), and ``VACUUM``
    may renumber implicit rowids: never VACUUM this database without rebuilding the index
    (``INSERT INTO messages_fts(messages_fts) VALUES('delete-all')`` then re-insert every row).

    Write path: one index insert per new message; an update touches the index only when one of the
    indexed columns really changes (the ``WHEN`` clause), so status callbacks, which only fill empty
    columns at most, cost a trigger check and nothing more.
    """
    cols = ", ".join(_FTS_COLUMNS)
    new = ", ".join(f"new.{c}" for c in _FTS_COLUMNS)
    old = ", ".join(f"old.{c}" for c in _FTS_COLUMNS)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in _FTS_COLUMNS)
    statements = (
        f"CREATE VIRTUAL TABLE messages_fts USING fts5({cols}, tokenize='trigram', content='', detail=full)",
        f"INSERT INTO messages_fts(rowid, {cols}) SELECT rowid, {cols} FROM messages",
        f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, {cols}) VALUES (new.rowid, {new});
        END""",
        f"""CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, {cols}) VALUES ('delete', old.rowid, {old});
        END""",
        f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF {cols} ON messages WHEN {changed} BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, {cols}) VALUES ('delete', old.rowid, {old});
            INSERT INTO messages_fts(rowid, {cols}) VALUES (new.rowid, {new});
        END""",
    )
    for sql in statements:  # one by one: executescript would COMMIT the migration's transaction
        db.execute(sql)


# indexes on messages that no query uses: every status callback paid for keeping them (bench/README.md)
UNUSED_MESSAGE_INDEXES = (
    "idx_messages_first_seen",  # covered by idx_messages_first_seen_sid (m003)
    "idx_messages_updated_at",  # nothing sorts or filters on updated_at; each callback moved its entry
    "idx_messages_from_addr",  # the free-text search goes through messages_fts (m004), and
    "idx_messages_to_addr",  # LIKE '%x%' never could use these
)


@migrations()
def m005_drop_unused_message_indexes(db: sqlite_utils.Database) -> None:
    """Each index on ``messages`` is one more B-tree to update per callback: the upsert of a callback
    went from 22 to 15 µs and the commit of a batch of 16 from 32 to 17 µs per callback without the two
    first ones (single-threaded micro-benchmark, bench/README.md)."""
    for name in UNUSED_MESSAGE_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")


@migrations()
def m007_idempotency_token_not_unique(db: sqlite_utils.Database) -> None:
    """A repeated ``I-Twilio-Idempotency-Token`` is a duplicate only for the same message, status and event
    type, and the unique ``event_key`` (``sid|status|event_type``) already refuses exactly those. The
    unique index on the token alone dropped distinct callbacks that shared a token (``twilio
    webhook:invoke`` sends one token every time, so only its first webhook was stored). Nothing looks
    events up by token, so no index replaces it; rows are untouched."""
    db.execute("DROP INDEX IF EXISTS idx_events_idempotency_token")


SIMULATED_TABLES = ("requests", "events", "messages")


@migrations()
def m008_simulated_marker(db: sqlite_utils.Database) -> None:
    """``simulated = 1`` on the requests, events and messages that the public demo token validated
    (the simulator's traffic), so statistics can leave them out and the operator can purge them. A
    partial index per table finds them for the purge without costing real traffic more than the
    check of its condition."""
    for table in SIMULATED_TABLES:
        db.execute(f"ALTER TABLE {table} ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0")
        pk = "sid" if table == "messages" else "id"
        db.execute(f"CREATE INDEX idx_{table}_simulated ON {table}({pk}) WHERE simulated = 1")


@migrations()
def m009_rejected_requests_sid_index(db: sqlite_utils.Database) -> None:
    """The detail pane and the SID search list a message's rejected callbacks ("why didn't my delivered
    arrive?"). Partial: only rejected rows are indexed, so accepted callbacks, the fast path, pay nothing."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_requests_rejected_sid ON requests (message_sid) "
        "WHERE outcome = 'rejected' AND message_sid IS NOT NULL"
    )


@migrations()
def m010_reconciliation(db: sqlite_utils.Database) -> None:
    """What reconciliation with Twilio's REST API needs (receiver/reconcile.py): ``events.source``
    (NULL: a callback; ``'api'``: learned from the API, so the timeline can say so), ``sync_state``
    (a backfill's progress, so a run cut off half-way resumes), and ``twilio_alerts`` (Twilio's Monitor
    alerts about this app's webhooks, linked to the message they concern when they name one)."""
    db.execute("ALTER TABLE events ADD COLUMN source TEXT")
    db.execute(
        "CREATE TABLE sync_state (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE twilio_alerts (sid TEXT PRIMARY KEY, error_code INTEGER, log_level TEXT, "
        "alert_text TEXT, request_url TEXT, request_method TEXT, date_created TEXT, resource_sid TEXT, "
        "message_sid TEXT, fetched_at TEXT NOT NULL, details TEXT)"
    )
    db.execute("CREATE INDEX idx_twilio_alerts_date ON twilio_alerts (date_created)")
    db.execute(
        "CREATE INDEX idx_twilio_alerts_message ON twilio_alerts (message_sid) WHERE message_sid IS NOT NULL"
    )


@migrations()
def m011_cloudevent_id(db: sqlite_utils.Database) -> None:
    """Event Streams (receiver/event_streams.py) delivers at least once: a retried or duplicated CloudEvent
    carries the same ``id``, which is unique per event. Partial: status callbacks leave it NULL and pay
    nothing for the index."""
    db.execute("ALTER TABLE events ADD COLUMN cloudevent_id TEXT")
    db.execute(
        "CREATE UNIQUE INDEX idx_events_cloudevent_id ON events (cloudevent_id) "
        "WHERE cloudevent_id IS NOT NULL"
    )


@migrations()
def m014_statistics_rollup(db: sqlite_utils.Database) -> None:
    """The statistics per closed hour and day (stats_rollup.py), filled by a thread off the request path
    (stats_maintenance.py): nothing is added to a callback's transaction. Empty until its first pass; the
    queries are exact (live) meanwhile."""
    for sql in stats_rollup.SCHEMA:
        db.execute(sql)


@dataclass
class RequestRecord:
    """One HTTP request as the request log keeps it."""

    path: str
    kind: str  # status | inbound | other
    method: str = "POST"
    received_at: str = field(default_factory=lambda: utcnow())
    query: str = ""
    remote_addr: str = ""
    headers: str = "{}"
    body: str = ""
    body_size: int = 0
    content_type: str = ""
    started: float = field(default_factory=time.perf_counter)  # at arrival, for latency
    outcome: str = "rejected"
    http_status: int = 0
    reason: str = ""
    message_sid: str | None = None  # on a rejected request: the SID it claims, unverified
    simulated: bool = False  # validated by the public demo token (m008)


@dataclass
class Outcome:
    request_id: int
    outcome: str  # accepted | duplicate | rejected
    message_sid: str | None
    status: str | None  # the message's current status after this request
    changed: bool
    error_code: int | None = None  # the callback's ErrorCode, for the log line


class _Job:
    """One queued unit of work. ``wake`` is a binary semaphore (a raw lock, released = "look again"):
    cheaper than ``threading.Event``, whose Condition costs two Python-level lock dances per wait/set."""

    __slots__ = ("fn", "done", "wake", "result", "error")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn
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


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A plain connection for readers (GUI, export); WAL lets them read while the writer writes."""
    if readonly:
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


class Store:
    """The single writer of a Callback Monitor database.

    ``on_commit`` hooks passed to ``submit`` run on the writer thread after the commit.
    """

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
        self._pending: list[_Job] = []
        self._pending_lock = threading.Lock()
        self._commit_lock = threading.Lock()  # held by the thread that is committing a batch
        self._closed = False
        self.commits = 0
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

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """Hold the commit lock like a leader would, then wake the oldest queued job to lead next
        (without that, queued callers would notice the free lock only at their 50 ms poll)."""
        with self._commit_lock:
            yield
        with self._pending_lock:
            successor = self._pending[0] if self._pending else None
        if successor is not None:
            successor.signal()

    # ---------------------------------------------------------------- group commit
    def run(self, fn: Callable[[sqlite3.Connection], Any], timeout: float = 30.0) -> Any:
        """Run ``fn(conn)`` inside a transaction; return once it is committed.

        Leader/follower group commit: the caller queues its job; whichever caller gets the commit lock
        becomes the leader, commits every queued job (up to BATCH_MAX) in one transaction, wakes their
        callers, and hands leadership to the oldest job still queued. Under light load each caller commits
        its own job at once; under a burst one commit (one fsync) serves the whole batch.
        """
        if self._closed:
            raise StoreClosed("the store is closed")
        job = _Job(fn)
        with self._pending_lock:
            self._pending.append(job)
        deadline = time.monotonic() + timeout
        while not job.done:
            if self._commit_lock.acquire(blocking=False):
                try:
                    self._commit_next_batch()
                finally:
                    self._commit_lock.release()
                # whoever queued while we held the lock found it taken: wake the oldest to lead next
                with self._pending_lock:
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

    def _drain(self) -> None:
        """Commit batches until nothing is queued (caller holds the commit lock)."""
        while self._commit_next_batch():
            pass

    def _commit_next_batch(self) -> bool:
        """Commit up to BATCH_MAX queued jobs (caller holds the commit lock); False when none was queued."""
        with self._pending_lock:
            batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
        if batch:
            self._commit(batch)
            self._hold_wal_bound()
        return bool(batch)

    def _commit(self, batch: list[_Job]) -> None:
        """One transaction for the batch. Optimistic first: every job straight in, no savepoints (two
        statements less per job); if any job raises, the whole transaction is rolled back and the batch
        runs again with a SAVEPOINT per job, so the bad job fails alone. Jobs are therefore plain database
        work that may run twice (every job in this module is)."""
        conn = self._conn
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
            for job in batch:
                job.error = job.error or exc
        for job in batch:
            job.done = True
            job.signal()

    @staticmethod
    def _run_batch(conn: sqlite3.Connection, batch: list[_Job], *, savepoints: bool) -> bool:
        """Run and commit ``batch``; False (rolled back, nothing kept) if a job raised without savepoints."""
        conn.execute("BEGIN IMMEDIATE")
        for job in batch:
            if not savepoints:
                try:
                    job.result = job.fn(conn)
                except Exception:
                    conn.execute("ROLLBACK")
                    return False
                continue
            conn.execute("SAVEPOINT job")
            try:
                job.result, job.error = job.fn(conn), None
                conn.execute("RELEASE job")
            except Exception as exc:  # one bad job must not cost the others
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                job.result, job.error = None, exc
        conn.execute("COMMIT")
        return True

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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writes
    def log_request(self, req: RequestRecord) -> Outcome:
        """Log a request that carries no callback (rejected, health…)."""

        cap_request(req)

        def job(conn: sqlite3.Connection) -> Outcome:
            return Outcome(_insert_request(conn, req), req.outcome, req.message_sid, None, False)

        try:
            result: Outcome = self.run(job)
        except (StoreError, sqlite3.OperationalError):
            # these answers (4xx, /healthz) promise nothing stored: they still go out while the store
            # refuses writes (disk low, file gone; ``health`` says why), without a row (request_id 0)
            return Outcome(0, req.outcome, req.message_sid, None, False)
        return result

    def record_callback(self, cb: Callback, req: RequestRecord) -> Outcome:
        """Store a validated callback and its request-log line in one transaction."""

        cap_request(req)
        prep = _PreparedCallback(cb, req)

        def job(conn: sqlite3.Connection) -> Outcome:
            outcome = _apply_callback(conn, prep, req)
            if req.simulated:
                _mark_simulated(conn, outcome)
            return outcome

        result: Outcome = self.run(job)
        return result

    def record_event_batch(self, events: list[tuple[Callback, str]], req: RequestRecord) -> list[Outcome]:
        """Store an Event Streams delivery (receiver/event_streams.py): its request-log line and one event
        per CloudEvent, in one transaction. An event whose CloudEvent id (or ``sid|status|type``) is
        already stored is a duplicate; the request is ``duplicate`` when every event was."""

        cap_request(req)
        preps = [(_PreparedCallback(cb, req), ce_id) for cb, ce_id in events]

        def job(conn: sqlite3.Connection) -> list[Outcome]:
            req.outcome = "accepted"
            req.message_sid = events[0][0].sid if len(events) == 1 else None
            request_id = _insert_request(conn, req)
            outcomes = []
            for prep, ce_id in preps:
                cb = prep.cb
                cur = conn.execute(_INSERT_CLOUDEVENT, (*prep.event, request_id, prep.payload, ce_id))
                if cur.rowcount == 0:
                    row = conn.execute("SELECT status FROM messages WHERE sid = ?", (cb.sid,)).fetchone()
                    status = row[0] if row else None
                    outcomes.append(Outcome(request_id, "duplicate", cb.sid, status, False, cb.error_code))
                    continue
                status = conn.execute(_UPSERT_MESSAGE, prep.message).fetchone()[0]
                outcomes.append(Outcome(request_id, "accepted", cb.sid, status, True, cb.error_code))
                if req.simulated:
                    _mark_simulated(conn, outcomes[-1])
            if outcomes and all(o.outcome == "duplicate" for o in outcomes):
                req.outcome = "duplicate"
                conn.execute(
                    "UPDATE requests SET outcome = 'duplicate', reason = ? WHERE id = ?",
                    ("already stored (duplicate delivery)", request_id),
                )
            return outcomes or [Outcome(request_id, "accepted", None, None, False)]

        result: list[Outcome] = self.run(job)
        return result

    def purge_simulated(self, batch: int = 2000) -> dict[str, int]:
        """Delete everything the demo token validated (simulated messages with their events and media,
        and simulated requests), in small transactions so callbacks never wait long. Rows per table."""
        deleted = dict.fromkeys(("messages", "events", "media", "requests"), 0)

        def step(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT sid, first_seen FROM messages WHERE simulated = 1 LIMIT ?", (batch,)
            ).fetchall()
            sids, first_seen = [r[0] for r in rows], [r[1] for r in rows]
            marks = ",".join("?" * len(sids))
            counts = {"messages": 0, "media": 0}
            if sids:
                counts["media"] = conn.execute(
                    f"DELETE FROM media WHERE message_sid IN ({marks})", sids
                ).rowcount
                counts["messages"] = conn.execute(
                    f"DELETE FROM messages WHERE sid IN ({marks})", sids
                ).rowcount
            stats_rollup.forget(conn, first_seen)  # also after deleting events only: their ids may recur
            for table in ("events", "requests"):
                counts[table] = conn.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE simulated = 1 LIMIT ?)",
                    (batch,),
                ).rowcount
            return counts

        while True:
            counts: dict[str, int] = self.run(step)
            for table, n in counts.items():
                deleted[table] += n
            if not any(counts.values()):
                return deleted

    def record_outbound(self, message: dict[str, Any]) -> None:
        """A message the app sent through the REST API, with the status the API returned at creation
        (Twilio sends no callback for the initial status). Known fields overwrite, status never moves back."""

        def job(conn: sqlite3.Connection) -> None:
            _upsert_api_message(conn, message)

        self.run(job)

    def save_backups(self, account_sid: str, items: list[dict[str, Any]]) -> list[int]:
        def job(conn: sqlite3.Connection) -> list[int]:
            ids = []
            now = utcnow()
            for item in items:
                cur = conn.execute(
                    "INSERT INTO webhook_backups (created_at, account_sid, target_kind, target_sid, "
                    "target_name, previous, applied) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        now,
                        account_sid,
                        item["target_kind"],
                        item["target_sid"],
                        item.get("target_name"),
                        json.dumps(item["previous"]),
                        json.dumps(item["applied"]),
                    ),
                )
                ids.append(int(cur.lastrowid or 0))
            return ids

        result: list[int] = self.run(job)
        return result

    def pending_backups(self, account_sid: str | None = None) -> list[dict[str, Any]]:
        def job(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = "SELECT * FROM webhook_backups WHERE restored_at IS NULL"
            args: tuple[str, ...] = ()
            if account_sid is not None:
                sql += " AND account_sid = ?"
                args = (account_sid,)
            cur = conn.execute(sql + " ORDER BY id", args)
            cols = [d[0] for d in cur.description]
            rows = []
            for raw in cur.fetchall():
                row = dict(zip(cols, raw, strict=True))
                row["previous"] = json.loads(row["previous"])
                row["applied"] = json.loads(row["applied"])
                rows.append(row)
            return rows

        result: list[dict[str, Any]] = self.run(job)
        return result

    def mark_restored(self, backup_id: int) -> None:
        self.run(
            lambda conn: conn.execute(
                "UPDATE webhook_backups SET restored_at = ? WHERE id = ?", (utcnow(), backup_id)
            )
        )


# -------------------------------------------------------------------- job bodies (writer thread)
_AS_RECEIVED: Any = object()


def _insert_request(
    conn: sqlite3.Connection, req: RequestRecord, *, headers: Any = _AS_RECEIVED, body: Any = _AS_RECEIVED
) -> int:
    """Insert the request's row; ``headers``/``body`` replace the received ones (an accepted callback's)."""
    latency = (time.perf_counter() - req.started) * 1000.0
    cur = conn.execute(
        "INSERT INTO requests (received_at, method, path, query, remote_addr, headers, body, body_size, "
        "content_type, kind, outcome, http_status, reason, latency_ms, message_sid) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            req.received_at,
            req.method,
            req.path,
            req.query,
            req.remote_addr,
            req.headers if headers is _AS_RECEIVED else headers,
            req.body if body is _AS_RECEIVED else body,
            req.body_size,
            req.content_type,
            req.kind,
            req.outcome,
            req.http_status,
            req.reason,
            round(latency, 3),
            req.message_sid,
        ),
    )
    return int(cur.lastrowid or 0)


_FILL_COLUMNS = (
    "from_addr",
    "to_addr",
    "body",
    "messaging_service_sid",
    "account_sid",
    "num_segments",
    "profile_name",
)
_UP = "excluded.status_rank > status_rank"  # the callback's status supersedes the message's (statuses.py)
# One statement creates the message (an early callback) or merges into it. In an UPDATE every column on
# the right-hand side is the row's old value, so the order of the assignments does not matter.
_UPSERT_MESSAGE = (
    "INSERT INTO messages (sid, direction, channel, from_addr, to_addr, body, status, status_rank, "
    "error_code, messaging_service_sid, account_sid, num_segments, num_media, profile_name, "
    "channel_status_message, raw_dlr_done_date, first_seen, updated_at, event_count, source) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) "
    "ON CONFLICT(sid) DO UPDATE SET "
    + ", ".join(f"{c} = COALESCE({c}, excluded.{c})" for c in _FILL_COLUMNS)
    + f", status = CASE WHEN {_UP} THEN excluded.status ELSE status END"
    f", status_rank = CASE WHEN {_UP} THEN excluded.status_rank ELSE status_rank END"
    f", error_code = CASE WHEN {_UP} THEN excluded.error_code ELSE error_code END"
    f", channel_status_message = CASE WHEN {_UP} "
    "THEN COALESCE(excluded.channel_status_message, channel_status_message) "
    "ELSE COALESCE(channel_status_message, excluded.channel_status_message) END"
    f", raw_dlr_done_date = CASE WHEN {_UP} "
    "THEN COALESCE(excluded.raw_dlr_done_date, raw_dlr_done_date) "
    "ELSE COALESCE(raw_dlr_done_date, excluded.raw_dlr_done_date) END"
    f", num_media = CASE WHEN {_UP} THEN MAX(num_media, excluded.num_media) ELSE num_media END"
    ", updated_at = excluded.updated_at, event_count = event_count + 1 "
    "RETURNING status"
)
_INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (message_sid, status, error_code, event_type, event_key, "
    "idempotency_token, channel_status_message, raw_dlr_done_date, received_at, request_id, payload) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# an Event Streams event: refused (ignored) by either unique key, its CloudEvent id or sid|status|type
_INSERT_CLOUDEVENT = (
    "INSERT OR IGNORE INTO events (message_sid, status, error_code, event_type, event_key, "
    "idempotency_token, channel_status_message, raw_dlr_done_date, received_at, request_id, payload, "
    "cloudevent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _PreparedCallback:
    """A callback's rows, built on the request's own thread before it queues for the commit: the JSON
    and the parameter tuples cost nothing inside the batch, which holds the database."""

    __slots__ = ("cb", "event", "message", "payload", "headers")

    def __init__(self, cb: Callback, req: RequestRecord) -> None:
        received_at = req.received_at
        self.cb = cb
        # stored once: the fields in the event, the headers other columns hold not in the request's row
        self.headers = accepted_headers(req.headers)
        # the event row without its request_id, which is known only inside the transaction
        self.event = (
            cb.sid,
            cb.status,
            cb.error_code,
            cb.event_type,
            cb.event_key,
            cb.idempotency_token,
            cb.channel_status_message,
            cb.raw_dlr_done_date,
            received_at,
        )
        self.message = (
            cb.sid,
            cb.direction,
            cb.channel,
            cb.from_addr,
            cb.to_addr,
            cb.body,
            cb.status,
            statuses.rank(cb.status),
            cb.error_code,
            cb.messaging_service_sid,
            cb.account_sid,
            cb.num_segments,
            cb.num_media,
            cb.profile_name,
            cb.channel_status_message,
            cb.raw_dlr_done_date,
            received_at,
            received_at,
            "inbound" if cb.kind == "inbound" else "callback",
        )
        self.payload = payload_json(cb.payload)


def _apply_callback(conn: sqlite3.Connection, prep: _PreparedCallback, req: RequestRecord) -> Outcome:
    cb = prep.cb
    req.message_sid = cb.sid
    req.outcome = "accepted"
    request_id = _insert_request(conn, req, headers=prep.headers, body=None)
    cur = conn.execute(_INSERT_EVENT, (*prep.event, request_id, prep.payload))
    if cur.rowcount == 0:  # duplicate: same sid|status|event_type (a retry, whatever its token)
        conn.execute(  # no event holds its fields: the row keeps them
            "UPDATE requests SET outcome = 'duplicate', reason = ?, headers = ?, body = ? WHERE id = ?",
            ("already stored (duplicate delivery)", req.headers, req.body, request_id),
        )
        row = conn.execute("SELECT status FROM messages WHERE sid = ?", (cb.sid,)).fetchone()
        return Outcome(request_id, "duplicate", cb.sid, row[0] if row else None, False, cb.error_code)
    new_status = conn.execute(_UPSERT_MESSAGE, prep.message).fetchone()[0]
    if cb.media:
        conn.executemany(
            "INSERT OR IGNORE INTO media (message_sid, idx, url, content_type) VALUES (?, ?, ?, ?)",
            [(cb.sid, m.idx, m.url, m.content_type) for m in cb.media],
        )
    return Outcome(request_id, "accepted", cb.sid, new_status, True, cb.error_code)


def _mark_simulated(conn: sqlite3.Connection, outcome: Outcome) -> None:
    """Mark a demo-token callback's rows (m008); a real message it merely touched stays real."""
    conn.execute("UPDATE requests SET simulated = 1 WHERE id = ?", (outcome.request_id,))
    if outcome.outcome == "accepted":
        sid = outcome.message_sid
        conn.execute(
            "UPDATE events SET simulated = 1 WHERE message_sid = ? AND request_id = ?",
            (sid, outcome.request_id),
        )
        conn.execute(
            "UPDATE messages SET simulated = 1 WHERE sid = ? AND event_count = 1 AND source != 'api'", (sid,)
        )


_API_COLUMNS = (
    "direction",
    "channel",
    "from_addr",
    "to_addr",
    "body",
    "messaging_service_sid",
    "account_sid",
    "num_segments",
    "num_media",
    "price",
    "price_unit",
)


def _upsert_api_message(conn: sqlite3.Connection, m: dict[str, Any]) -> None:
    sid = str(m["sid"])
    status = str(m.get("status") or "queued")
    now = utcnow()
    row = conn.execute("SELECT status FROM messages WHERE sid = ?", (sid,)).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO messages (sid, direction, channel, from_addr, to_addr, body, status, status_rank, "
            "error_code, messaging_service_sid, account_sid, num_segments, num_media, price, price_unit, "
            "first_seen, updated_at, event_count, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 'api')",
            (
                sid,
                m.get("direction") or "outbound",
                m.get("channel") or "sms",
                m.get("from_addr"),
                m.get("to_addr"),
                m.get("body"),
                status,
                statuses.rank(status),
                m.get("error_code"),
                m.get("messaging_service_sid"),
                m.get("account_sid"),
                m.get("num_segments"),
                m.get("num_media") or 0,
                m.get("price"),
                m.get("price_unit"),
                now,
                now,
            ),
        )
        return
    sets = ", ".join(f"{c} = COALESCE(?, {c})" for c in _API_COLUMNS)
    args: list[Any] = [m.get(c) for c in _API_COLUMNS]
    if statuses.supersedes(status, row[0]):
        sets += ", status = ?, status_rank = ?, error_code = COALESCE(?, error_code)"
        args += [status, statuses.rank(status), m.get("error_code")]
    conn.execute(f"UPDATE messages SET {sets}, updated_at = ? WHERE sid = ?", (*args, now, sid))
    stats_rollup.touch(conn, sid)  # no event records this change (a price, a status from the API)


# -------------------------------------------------------------------- reading
EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "messages": (
        'SELECT sid, direction, channel, from_addr AS "from", to_addr AS "to", body, status, error_code, '
        "num_segments, num_media, price, price_unit, messaging_service_sid, profile_name, "
        "channel_status_message, first_seen, updated_at FROM messages ORDER BY first_seen, sid",
        (),
    ),
    "events": (
        "SELECT id, message_sid, status, error_code, event_type, channel_status_message, raw_dlr_done_date, "
        "received_at FROM events ORDER BY id",
        (),
    ),
    "requests": (
        "SELECT id, received_at, method, path, remote_addr, http_status, outcome, reason, latency_ms, "
        "message_sid FROM requests ORDER BY id",
        (),
    ),
}


def iter_export(conn: sqlite3.Connection, what: str) -> Iterator[dict[str, Any]]:
    """Rows for ``callback-monitor export``; streamed, never all in memory."""
    sql, args = EXPORTS[what]
    cur = conn.execute(sql, args)
    cols = [d[0] for d in cur.description]
    while True:
        chunk = cur.fetchmany(1000)
        if not chunk:
            return
        for raw in chunk:
            yield dict(zip(cols, raw, strict=True))
