"""The store: the schema its migrations leave (the readers' indexes, none that nobody uses: each costs
every callback a B-tree update), migrating an older database in place, the checkpointer, and a batch in
which one job fails."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from receiver.callbacks import parse
from receiver.store import UNUSED_MESSAGE_INDEXES, RequestRecord, Store
from tests.receiver_helpers import sid
from tests.waiting import wait_until


def _indexes(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA index_list(messages)")}


def _store_callback(store: Store, message_sid: str, status: str) -> None:
    items = [
        ("MessageSid", message_sid),
        ("MessageStatus", status),
        ("From", "+15005550006"),
        ("To", "+14155552671"),
    ]
    store.record_callback(parse("status", items, None), RequestRecord(path="/twilio/status", kind="status"))


def test_unused_indexes_are_gone_and_the_readers_indexes_are_there(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    names = _indexes(conn)
    assert not names & set(UNUSED_MESSAGE_INDEXES)
    assert {
        "idx_messages_first_seen_sid",
        "idx_messages_status_first_seen",
        "idx_messages_channel_first_seen",
        "idx_messages_direction_first_seen",
        "idx_messages_error_code",
    } <= names


def test_a_database_of_the_previous_release_is_migrated_with_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Store(db) as store:
        kept = sid()
        _store_callback(store, kept, "delivered")
    conn = sqlite3.connect(db)
    # put the database back to how m004 left it: the old indexes exist and m005 has not run
    for name in UNUSED_MESSAGE_INDEXES:
        column = name.removeprefix("idx_messages_")
        conn.execute(f"CREATE INDEX {name} ON messages ({column})")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_drop_unused_message_indexes'")
    conn.commit()
    assert set(UNUSED_MESSAGE_INDEXES) <= _indexes(conn)
    conn.close()
    with Store(db) as store:
        _store_callback(store, kept, "read")
    conn = sqlite3.connect(db)
    assert not _indexes(conn) & set(UNUSED_MESSAGE_INDEXES)
    assert conn.execute("SELECT status, event_count FROM messages WHERE sid = ?", (kept,)).fetchone() == (
        "read",
        2,
    )


def test_the_wal_is_checkpointed_off_the_request_path_and_the_thread_ends_with_the_store(
    tmp_path: Path,
) -> None:
    import threading

    store = Store(tmp_path / "w.db")
    size_before = (tmp_path / "w.db").stat().st_size
    try:
        for _ in range(300):
            _store_callback(store, sid(), "sent")
        before = store.checkpoints
        wait_until(lambda: store.checkpoints >= before + 2, what="a full checkpoint pass after the writes")
        # the callbacks' pages were copied from the WAL into the database file while the store was open
        assert (tmp_path / "w.db").stat().st_size > size_before + 100_000
    finally:
        store.close()
    assert not [t for t in threading.enumerate() if t.name == "db-checkpoint"]


def test_a_failing_job_in_a_batch_fails_alone_and_the_others_commit(tmp_path: Path) -> None:
    """Batches run without savepoints first; when a job raises, the batch runs again with one savepoint
    per job, so only that job's caller sees the error and the rest are committed."""
    import threading

    store = Store(tmp_path / "b.db")
    good = [sid() for _ in range(3)]
    errors: dict[str, BaseException] = {}

    def call(name: str, fn: Any) -> None:
        try:
            store.run(fn)
        except BaseException as exc:
            errors[name] = exc

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO messages (sid) VALUES ('half-written')")  # NOT NULL columns: fails
        raise AssertionError("unreachable")

    def insert(message_sid: str) -> Any:
        return lambda conn: conn.execute(
            "INSERT INTO messages (sid, direction, channel, status, status_rank, first_seen, updated_at) "
            "VALUES (?, 'outbound', 'sms', 'sent', 50, 'x', 'x')",
            (message_sid,),
        )

    writing, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:  # the writer is busy with this job ...
        writing.set()
        release.wait(10)

    try:
        holder = threading.Thread(target=call, args=("hold", hold))
        holder.start()
        assert writing.wait(10)
        commits = store.commits
        threads = [threading.Thread(target=call, args=(s, insert(s))) for s in good[:2]]
        threads.append(threading.Thread(target=call, args=("bad", bad)))
        threads.append(threading.Thread(target=call, args=(good[2], insert(good[2]))))
        for t in threads:
            t.start()
        wait_until(lambda: store.queued == 4, what="four jobs queued")  # ... while these four queue
        release.set()
        for t in [holder, *threads]:
            t.join(10)
        assert list(errors) == ["bad"] and isinstance(errors["bad"].__cause__, sqlite3.IntegrityError)
        assert store.commits == commits + 2  # the held job's transaction, then one for the batch of four
    finally:
        release.set()
        store.close()
    conn = sqlite3.connect(tmp_path / "b.db")
    stored = {row[0] for row in conn.execute("SELECT sid FROM messages")}
    assert stored == set(good)
