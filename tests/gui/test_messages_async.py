"""The messages table off the GUI thread: slow answers arrive from a worker, the text index, deep pages."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import sqlite_utils
from PySide6.QtCore import QCoreApplication

from desktop.models.message_query import MessageFilter, SortSpec
from desktop.models.messages_model import PAGE_SIZE, PLACEHOLDER, SID_ROLE, MessagesModel
from receiver.store import Reader, Store, connect, migrations
from receiver.store import message_sql as msql
from tests.conftest import SeedInfo, seed_database


@pytest.fixture
def reader(seeded_db: SeedInfo) -> Iterator[sqlite3.Connection]:
    conn = connect(seeded_db.path, readonly=True)
    yield conn
    conn.close()


def expected_sids(conn: sqlite3.Connection, flt: MessageFilter) -> list[str]:
    sql, args = msql.select_sql(flt, SortSpec())  # the LIKE path: what the table showed before the index
    return [r["sid"] for r in conn.execute(sql, args)]


def test_slow_count_and_rows_arrive_from_the_worker(qtbot: Any, reader: sqlite3.Connection) -> None:
    model = MessagesModel(lambda: Reader(reader))
    model.page_budget_ms = model.count_budget_ms = 0  # as if every query were slow: all go to the worker
    flt = MessageFilter(direction="inbound")
    expected = expected_sids(reader, flt)
    with qtbot.waitSignal(model.countChanged, timeout=5000) as blocker:
        model.set_filter(flt)
        assert not model.count_known
        assert model.rowCount() == 0  # nothing known yet
    assert blocker.args == [len(expected)] and model.count_known
    qtbot.waitUntil(lambda: model.rowCount() == len(expected), timeout=5000)
    assert model.index(0, 0).data() == PLACEHOLDER or model.index(0, 0).data(SID_ROLE) == expected[0]
    qtbot.waitUntil(lambda: model.index(0, 0).data(SID_ROLE) == expected[0], timeout=5000)
    assert [model.index(r, 0).data(SID_ROLE) for r in range(model.rowCount())] == expected
    model.close()


def test_async_answers_for_an_older_filter_are_dropped(qtbot: Any, reader: sqlite3.Connection) -> None:
    model = MessagesModel(lambda: Reader(reader))
    model.page_budget_ms = model.count_budget_ms = 0
    model.set_filter(MessageFilter(direction="inbound"))
    final = MessageFilter(channel="whatsapp")
    model.set_filter(final)  # before the worker answered the first
    expected = expected_sids(reader, final)
    qtbot.waitUntil(lambda: model.count_known and model.sid_at(0) == expected[0], timeout=5000)
    with qtbot.assertNotEmitted(model.countChanged), qtbot.assertNotEmitted(model.modelReset):
        model.close()  # the lanes' threads end: whatever they still had to say is queued now …
        QCoreApplication.processEvents()  # … and delivered (or dropped) here
    assert model.rowCount() == len(expected)
    assert [model.sid_at(r) for r in range(model.rowCount())] == expected


def test_qmodeltester_with_async_loading(qtbot: Any, qtmodeltester: Any, reader: sqlite3.Connection) -> None:
    model = MessagesModel(lambda: Reader(reader))
    model.page_budget_ms = model.count_budget_ms = 0
    model.set_filter(MessageFilter(channel="sms"))
    qtbot.waitUntil(lambda: model.count_known, timeout=5000)
    qtmodeltester.check(model)  # placeholders, rows arriving (dataChanged) and the inserted count
    qtbot.waitUntil(lambda: model.sid_at(0) is not None, timeout=5000)
    model.close()


def test_refresh_keeps_the_old_count_until_the_new_one_arrives(
    qtbot: Any, seeded_db: SeedInfo, reader: sqlite3.Connection
) -> None:
    model = MessagesModel(lambda: Reader(reader))
    assert model.rowCount() == 60
    model.page_budget_ms = model.count_budget_ms = 0
    with qtbot.waitSignal(model.countChanged, timeout=5000):
        model.refresh()
        assert model.rowCount() == 60 and not model.count_known  # provisional: what it was
    assert model.count_known and model.total == 60
    model.close()


@pytest.mark.parametrize(
    "text",
    ["+14155550042", "reply number 19", "reply", "Person", "100%_", "REPLY NUMBER", "MG0", "whatsapp:"],
)
def test_text_index_finds_the_same_rows_as_like(reader: sqlite3.Connection, text: str) -> None:
    assert msql.has_text_index(reader)
    flt = MessageFilter(text=text)
    like = expected_sids(reader, flt)
    sql, args = msql.select_sql(flt, SortSpec(), text_index=True)
    assert "messages_fts" in sql
    assert [r["sid"] for r in reader.execute(sql, args)] == like
    assert msql.count(reader, flt, text_index=True) == len(like) == msql.count(reader, flt)
    with_channel = MessageFilter(text=text, channel="whatsapp")
    assert msql.count(reader, with_channel, text_index=True) == msql.count(reader, with_channel)


def test_seed_sid_suffix_found_through_the_index(reader: sqlite3.Connection, seeded_db: SeedInfo) -> None:
    sid = seeded_db.messages[7]["sid"]
    flt = MessageFilter(text=sid[-6:])
    sql, args = msql.select_sql(flt, SortSpec(), text_index=True)
    assert sid in [r["sid"] for r in reader.execute(sql, args)]


def test_model_reads_few_text_matches_through_the_index(qapp: Any, reader: sqlite3.Connection) -> None:
    statements: list[str] = []
    reader.set_trace_callback(statements.append)
    model = MessagesModel(lambda: Reader(reader))
    model.set_filter(MessageFilter(text="reply number 19"))
    assert model.rowCount() == 1
    assert any("messages_fts" in s and "LIMIT" in s for s in statements)
    statements.clear()
    model.set_filter(MessageFilter(text="re"))  # two characters: no trigram, LIKE
    assert not any("messages_fts MATCH" in s and "LIMIT 200" in s for s in statements)
    assert model.rowCount() == len(expected_sids(reader, MessageFilter(text="re")))


def test_migration_indexes_existing_messages_and_triggers_follow_changes(tmp_path: Any) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    migrations.apply(db, stop_before="m004_messages_text_index")  # a database from before the index
    row = {
        "sid": "SM" + "a" * 32, "direction": "inbound", "channel": "sms", "from_addr": "+14155550001",
        "to_addr": "+15005550006", "body": "hello before", "status": "received", "status_rank": 1,
        "first_seen": "2026-03-02T09:00:00.000+00:00", "updated_at": "2026-03-02T09:00:00.000+00:00",
    }  # fmt: skip
    conn.execute(
        f"INSERT INTO messages ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", [*row.values()]
    )
    conn.commit()
    conn.close()
    store = Store(path)  # applies m004
    store.close()
    conn = connect(path)
    try:
        assert msql.text_match_count(conn, "hello bef") == 1
        assert msql.text_match_count(conn, "5550001") == 1
        conn.execute("UPDATE messages SET body = 'changed text' WHERE sid = ?", (row["sid"],))
        conn.execute("UPDATE messages SET status = 'read', status_rank = 2 WHERE sid = ?", (row["sid"],))
        assert msql.text_match_count(conn, "hello bef") == 0 and msql.text_match_count(conn, "changed") == 1
        conn.execute(
            "INSERT INTO messages (sid, direction, channel, status, status_rank, first_seen, updated_at, "
            "body) VALUES ('SMnew', 'inbound', 'sms', 'received', 1, 'x', 'x', 'brand new')"
        )
        assert msql.text_match_count(conn, "brand new") == 1
        conn.execute("DELETE FROM messages WHERE sid = 'SMnew'")
        assert msql.text_match_count(conn, "brand new") == 0
    finally:
        conn.close()


def test_deep_page_in_a_large_list_from_the_worker(qtbot: Any, tmp_path: Any) -> None:
    info = seed_database(tmp_path / "deep.db", n=PAGE_SIZE * 4 + 3)
    conn = connect(info.path, readonly=True)
    try:
        model = MessagesModel(lambda: Reader(conn))
        expected = expected_sids(conn, MessageFilter())
        model.page_budget_ms = 0
        row = PAGE_SIZE * 2 + 17
        assert model.index(row, 1).data() == PLACEHOLDER

        def covers_row(first: Any, last: Any, *_roles: Any) -> bool:  # not another page's arrival
            return bool(first.row() <= row <= last.row())

        with qtbot.waitSignal(model.dataChanged, timeout=5000, check_params_cb=covers_row):
            pass
        assert model.sid_at(row) == expected[row]
        model.close()
    finally:
        conn.close()


def test_rows_pruned_while_shown_go_blank_not_loading_forever(qapp: Any, tmp_path: Any) -> None:
    info = seed_database(tmp_path / "pruned.db", n=PAGE_SIZE * 3)
    conn = connect(info.path, readonly=True)
    try:
        model = MessagesModel(lambda: Reader(conn))
        model.page_budget_ms = model.count_budget_ms = 60_000  # what is read, not when
        assert model.rowCount() == PAGE_SIZE * 3
        writer = connect(info.path)  # retention deletes the oldest messages while the table shows them
        with writer:
            writer.execute(
                "DELETE FROM messages WHERE sid IN (SELECT sid FROM messages ORDER BY first_seen LIMIT ?)",
                (PAGE_SIZE + 10,),
            )
        writer.close()
        gone = model.index(PAGE_SIZE * 2 - 1, 0)  # page 1, read on from page 0: 190 rows are left of it
        assert gone.data() is None  # its page came back short: an empty row, not "…" waiting for nothing
        assert model.index(PAGE_SIZE, 0).data(SID_ROLE) is not None  # rows still there are shown
        model.close()
    finally:
        conn.close()
