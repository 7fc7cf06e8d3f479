"""MessagesModel: a window onto SQLite with filters and sort in SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop.models import message_query as mq
from desktop.models.message_query import MessageFilter, SortSpec
from desktop.models.messages_model import PAGE_SIZE, SID_ROLE, MessagesModel
from receiver.store import Reader, connect
from receiver.store import message_sql as msql
from tests.conftest import SeedInfo


@pytest.fixture
def reader(seeded_db: SeedInfo) -> Iterator[sqlite3.Connection]:
    conn = connect(seeded_db.path, readonly=True)
    yield conn
    conn.close()


@pytest.fixture
def model(reader: sqlite3.Connection, qapp: Any) -> MessagesModel:
    return synchronous(MessagesModel(lambda: Reader(reader)))


def synchronous(model: MessagesModel) -> MessagesModel:
    """These tests check what the model reads, not when: with the default budgets (a few ms) a loaded
    machine sends reads to the worker and ``sid_at`` answers None until they land."""
    model.page_budget_ms = model.count_budget_ms = 60_000
    return model


def column(name: str) -> int:
    return mq.COLUMN_IDS.index(name)


def sids(model: MessagesModel) -> list[str]:
    return [model.index(r, 0).data(SID_ROLE) for r in range(model.rowCount())]


def test_qmodeltester_unfiltered_and_filtered(qtmodeltester: Any, model: MessagesModel) -> None:
    qtmodeltester.check(model)
    model.set_filter(MessageFilter(direction="inbound"))
    qtmodeltester.check(model)


def test_row_count_is_sql_count_and_default_sort_is_newest_first(
    model: MessagesModel, seeded_db: SeedInfo
) -> None:
    assert model.rowCount() == len(seeded_db.messages) == 60
    newest = max(seeded_db.messages, key=lambda m: m["first_seen"])
    assert model.index(0, 0).data(SID_ROLE) == newest["sid"]


def test_status_cell_is_badge_text_with_icon(model: MessagesModel) -> None:
    model.set_filter(MessageFilter(statuses=("partially_delivered",)))
    assert model.rowCount() == 0
    model.set_filter(MessageFilter(statuses=("undelivered",)))
    idx = model.index(0, column("status"))
    assert idx.data() == "undelivered"
    assert not idx.data(Qt.ItemDataRole.DecorationRole).isNull()
    assert model.index(0, column("error")).data().startswith("30003 ")


@pytest.mark.parametrize(
    ("flt", "pred"),
    [
        (MessageFilter(direction="inbound"), lambda m: m["direction"] == "inbound"),
        (MessageFilter(channel="whatsapp"), lambda m: m["channel"] == "whatsapp"),
        (
            MessageFilter(statuses=("failed", "undelivered")),
            lambda m: m["status"] in ("failed", "undelivered"),
        ),
        (MessageFilter(error_code=30003), lambda m: m["error_code"] == 30003),
        (
            MessageFilter(channel="sms", direction="outbound"),
            lambda m: m["channel"] == "sms" and m["direction"] == "outbound",
        ),
        (
            MessageFilter(since="2026-03-02T09:10:00.000+00:00", until="2026-03-02T09:20:00.000+00:00"),
            lambda m: "2026-03-02T09:10" <= m["first_seen"] < "2026-03-02T09:20",
        ),
    ],
)
def test_filters_match_python_expectation(
    model: MessagesModel, seeded_db: SeedInfo, flt: MessageFilter, pred: Any
) -> None:
    model.set_filter(flt)
    expected = seeded_db.count(pred)
    assert 0 < expected < 60
    assert model.rowCount() == expected
    assert {s for s in sids(model)} == {m["sid"] for m in seeded_db.messages if pred(m)}


def test_free_text_searches_number_sid_and_body(model: MessagesModel, seeded_db: SeedInfo) -> None:
    with_countchange: list[int] = []
    model.countChanged.connect(with_countchange.append)
    model.set_filter(MessageFilter(text="+14155550042"))  # one customer's number
    assert sids(model) == [seeded_db.messages[42]["sid"]]
    model.set_filter(MessageFilter(text="reply number 19"))  # an inbound body
    assert sids(model) == [seeded_db.messages[19]["sid"]]
    model.set_filter(MessageFilter(text=seeded_db.messages[7]["sid"][-6:]))  # end of a SID
    assert seeded_db.messages[7]["sid"] in sids(model)
    model.set_filter(MessageFilter(text="100%_"))  # LIKE wildcards are literal
    assert model.rowCount() == 0
    assert with_countchange[-1] == 0


def test_relative_time_range_excludes_old_messages(model: MessagesModel) -> None:
    model.set_filter(MessageFilter(since_seconds=3600))
    assert model.rowCount() == 0  # the seed is dated March 2026 at 09:00 UTC, long before "the last hour"
    # … unless the clock says otherwise; the where clause is computed from `now`
    from datetime import UTC, datetime

    where, args = msql.where_clause(
        MessageFilter(since_seconds=3600), datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    )
    assert args == ["2026-03-02T09:00:00.000+00:00"] and "first_seen >= ?" in where


@pytest.mark.parametrize("name", ["to", "status", "error", "price", "segments", "sid", "channel"])
def test_sort_by_column_is_sql_ordered_and_stable(
    model: MessagesModel, reader: sqlite3.Connection, name: str
) -> None:
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        model.sort(column(name), order)
        expr = msql.sort_expression(SortSpec(name))
        direction = "DESC" if order == Qt.SortOrder.DescendingOrder else "ASC"
        expected = [
            r[0]
            for r in reader.execute(f"SELECT sid FROM messages ORDER BY {expr} {direction}, sid {direction}")
        ]
        assert sids(model) == expected


def test_position_of_finds_row_under_filter_and_sort(model: MessagesModel, seeded_db: SeedInfo) -> None:
    model.sort(column("to"), Qt.SortOrder.AscendingOrder)
    for probe in (seeded_db.messages[0]["sid"], seeded_db.messages[33]["sid"], seeded_db.messages[59]["sid"]):
        row = model.position_of(probe)
        assert row is not None and model.index(row, 0).data(SID_ROLE) == probe
    model.set_filter(MessageFilter(direction="inbound"))
    assert model.position_of(seeded_db.messages[0]["sid"]) is None  # outbound: not in this view


def test_pages_are_fetched_lazily(tmp_path: Any, qapp: Any) -> None:
    from tests.conftest import seed_database

    info = seed_database(tmp_path / "big.db", n=PAGE_SIZE * 3 + 7)
    conn = connect(info.path, readonly=True)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        model = MessagesModel(lambda: Reader(conn))
        assert model.rowCount() == PAGE_SIZE * 3 + 7
        reads = [s for s in statements if "LIMIT" in s]
        assert len(reads) == 1 and "OFFSET 0" in reads[0]  # only the first page, for the top of the view
        model.index(PAGE_SIZE * 3 + 5, 0).data()
        reads = [s for s in statements if "LIMIT" in s]
        assert len(reads) == 2  # the last page: read backwards from the end, not OFFSET 600
        assert "ORDER BY first_seen ASC" in reads[1] and "LIMIT 7 OFFSET 0" in reads[1]
        model.index(PAGE_SIZE * 3 + 1, 3).data()
        assert len([s for s in statements if "LIMIT" in s]) == 2  # same page: cached
        model.index(PAGE_SIZE + 3, 0).data()
        keyset = [s for s in statements if "LIMIT" in s][-1]
        assert "(first_seen, sid) < (" in keyset and "OFFSET 0" in keyset  # right after cached page 0
    finally:
        conn.close()


@pytest.mark.parametrize(("name", "descending"), [("time", True), ("to", False), ("price", True)])
def test_deep_pages_read_by_keyset_match_the_full_order(
    tmp_path: Any, qapp: Any, name: str, descending: bool
) -> None:
    from tests.conftest import seed_database

    info = seed_database(tmp_path / "pages.db", n=PAGE_SIZE * 5 + 13)
    conn = connect(info.path, readonly=True)
    try:
        model = synchronous(MessagesModel(lambda: Reader(conn)))
        spec = SortSpec(name, descending)
        model.set_sort(spec)
        sql, args = msql.select_sql(MessageFilter(), spec)
        expected = [r["sid"] for r in conn.execute(sql, args)]
        # jumps in an order that uses every plan: from the end, backwards from a cached page below,
        # forwards from a cached page above with a skip, and neighbours
        for row in (
            len(expected) - 1,
            PAGE_SIZE * 3 + 10,
            PAGE_SIZE * 1 + 5,
            PAGE_SIZE * 4,
            PAGE_SIZE * 2 + 1,
        ):
            assert model.sid_at(row) == expected[row]
        assert sids(model) == expected
    finally:
        conn.close()
