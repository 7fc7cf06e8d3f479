"""The messages table's queries read through an index: each filter the table offers, in its default order.

Kept apart from tests/test_store.py, which tests the store alone: these queries are still built in
desktop/models/message_query.py. When they become MessagesReads methods, this test asks the Reader."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from desktop.models.message_query import MessageFilter, SortSpec, select_sql
from receiver.store import Store


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
