"""The schema the migrations leave: indexes the readers need are there, the ones nobody uses are not (each
costs every callback a B-tree update), and a database from an older release is migrated in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from receiver_helpers import sid

from desktop.models.message_query import MessageFilter, SortSpec, select_sql
from receiver.callbacks import parse
from receiver.store import UNUSED_MESSAGE_INDEXES, RequestRecord, Store


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


def test_every_table_filter_reads_through_an_index(tmp_path: Path) -> None:
    """The messages table's queries (default order, and each single filter) never scan the table."""
    Store(tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    for flt in (
        MessageFilter(),
        MessageFilter(statuses=("failed", "undelivered")),
        MessageFilter(channel="whatsapp"),
        MessageFilter(direction="inbound"),
        MessageFilter(error_code=30003),
    ):
        sql, args = select_sql(flt, SortSpec())
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql} LIMIT 200", args)]
        on_messages = [step for step in plan if "messages" in step]
        assert on_messages, plan
        assert all("INDEX" in step for step in on_messages), (flt, plan)


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
    import time

    store = Store(tmp_path / "w.db")
    size_before = (tmp_path / "w.db").stat().st_size
    try:
        for _ in range(300):
            _store_callback(store, sid(), "sent")
        deadline = time.monotonic() + 10
        before = store.checkpoints
        while store.checkpoints < before + 2 and time.monotonic() < deadline:  # a full pass after the writes
            time.sleep(0.05)
        assert store.checkpoints >= before + 2
        # the callbacks' pages were copied from the WAL into the database file while the store was open
        assert (tmp_path / "w.db").stat().st_size > size_before + 100_000
    finally:
        store.close()
    assert not [t for t in threading.enumerate() if t.name == "db-checkpoint"]
