"""The SQLite store: schema migrations, one writer connection with group commit, and the read helpers.

Why group commit: SQLite allows one writer at a time, and a commit per request (fsync each time) will not
keep up with a burst of callbacks. Request threads queue their job; one of them (the leader) runs every
queued job in one transaction (each in its own SAVEPOINT, so one bad job cannot cost the others), commits
once, and only then wakes the others, which answer Twilio. (A dedicated writer thread did the same, but
every request then paid two thread hand-offs under the GIL, which was slower under load.) A 2xx
therefore always means "committed": a crash or ``kill -9`` after it loses nothing (WAL,
synchronous=NORMAL is durable against process crashes).

A second process on the same database is refused (``StoreLocked``): never two writers fighting.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlite_utils
from sqlite_utils import Migrations

from . import statuses
from .callbacks import Callback

BATCH_MAX = 512
MIN_SQLITE = (3, 35)
CHECKPOINT_EVERY = 0.5  # seconds
log = logging.getLogger("callback_monitor.store")
migrations = Migrations("callback-monitor")


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class StoreLocked(RuntimeError):
    """Another process (app or ``serve``) is already writing to this database."""


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
def m009_rejected_requests_sid_index(db: sqlite_utils.Database) -> None:
    """The detail pane and the SID search list a message's rejected callbacks ("why didn't my delivered
    arrive?"). Partial: only rejected rows are indexed, so accepted callbacks, the fast path, pay nothing."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_requests_rejected_sid ON requests (message_sid) "
        "WHERE outcome = 'rejected' AND message_sid IS NOT NULL"
    )


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
    message_sid: str | None = None


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

    def __init__(self, path: str | Path) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} is too old: Callback Monitor needs "
                f"{'.'.join(map(str, MIN_SQLITE))} or newer (UPSERT … RETURNING). Use a newer Python build."
            )
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_handle = _lock(self.path)
        if self._lock_handle is None:
            raise StoreLocked(
                f"{self.path} is already in use by another Callback Monitor (app or `serve`). "
                "Close it first, or use another database with --db."
            )
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA busy_timeout = 5000")
        migrations.apply(sqlite_utils.Database(self._conn))
        self._pending: list[_Job] = []
        self._pending_lock = threading.Lock()
        self._commit_lock = threading.Lock()  # held by the thread that is committing a batch
        self._closed = False
        self.commits = 0
        self.checkpoints = 0
        # Checkpoints (copying the WAL back into the database file, with an fsync) run on their own
        # thread and connection instead of inside whichever COMMIT crosses SQLite's 1000-page mark: there
        # they stalled every request of that batch, and the next ones queued behind it.
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._checkpoint_stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="db-checkpoint", daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """A PASSIVE checkpoint every ``CHECKPOINT_EVERY`` seconds: it never waits for the writer or the
        readers (it copies what it can), and the writer never waits for it."""
        conn = sqlite3.connect(str(self.path), check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 1000")
            while not self._checkpoint_stop.wait(CHECKPOINT_EVERY):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error:  # busy or locked: the next pass copies it
                    log.debug("checkpoint skipped", exc_info=True)
        finally:
            conn.close()

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
        return bool(batch)

    def _commit(self, batch: list[_Job]) -> None:
        """One transaction for the batch. Optimistic first: every job straight in, no savepoints (two
        statements less per job); if any job raises, the whole transaction is rolled back and the batch
        runs again with a SAVEPOINT per job, so the bad job fails alone. Jobs are therefore plain database
        work that may run twice (every job in this module is)."""
        conn = self._conn
        try:
            if not self._run_batch(conn, batch, savepoints=False):
                self._run_batch(conn, batch, savepoints=True)
            self.commits += 1
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
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
        self._closed = True
        self._checkpoint_stop.set()
        self._checkpointer.join()
        with self._commit_lock:
            self._drain()
            self._conn.close()  # the last connection to close checkpoints the rest of the WAL
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writes
    def log_request(self, req: RequestRecord) -> Outcome:
        """Log a request that carries no callback (rejected, health…)."""

        def job(conn: sqlite3.Connection) -> Outcome:
            return Outcome(_insert_request(conn, req), req.outcome, req.message_sid, None, False)

        result: Outcome = self.run(job)
        return result

    def record_callback(self, cb: Callback, req: RequestRecord) -> Outcome:
        """Store a validated callback and its request-log line in one transaction."""

        prep = _PreparedCallback(cb, req.received_at)

        def job(conn: sqlite3.Connection) -> Outcome:
            return _apply_callback(conn, prep, req)

        result: Outcome = self.run(job)
        return result

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
def _insert_request(conn: sqlite3.Connection, req: RequestRecord) -> int:
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
            req.headers,
            req.body,
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


class _PreparedCallback:
    """A callback's rows, built on the request's own thread before it queues for the commit: the JSON
    and the parameter tuples cost nothing inside the batch, which holds the database."""

    __slots__ = ("cb", "event", "message", "payload")

    def __init__(self, cb: Callback, received_at: str) -> None:
        self.cb = cb
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
        self.payload = json.dumps(cb.payload, ensure_ascii=False)


def _apply_callback(conn: sqlite3.Connection, prep: _PreparedCallback, req: RequestRecord) -> Outcome:
    cb = prep.cb
    req.message_sid = cb.sid
    req.outcome = "accepted"
    request_id = _insert_request(conn, req)
    cur = conn.execute(_INSERT_EVENT, (*prep.event, request_id, prep.payload))
    if cur.rowcount == 0:  # duplicate: same idempotency token, or same sid|status|event_type
        conn.execute(
            "UPDATE requests SET outcome = 'duplicate', reason = ? WHERE id = ?",
            ("already stored (duplicate delivery)", request_id),
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
