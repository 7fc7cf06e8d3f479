"""Every write off the callback path does the same on both backends: each scenario runs on a SQLite
``Store`` and on a ``PgStore`` (the test cluster) and reads back, with plain SQL, the rows it expects —
the same on both. Retention's ``prune`` and ``Pruner`` run on either unchanged."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from receiver.callbacks import parse
from receiver.retention import Pruner, Retention, iso, prune
from receiver.store import RequestRecord, Store, StoreClosed
from receiver.store.pg.store import PgStore
from receiver.store.protocol import WriterStore
from receiver.store.url import PostgresTarget
from tests.receiver_helpers import sid, status_params
from tests.waiting import wait_until

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Backend:
    store: WriterStore
    rows: Any  # (sql with ? parameters, *args) -> list of tuples, on a connection of its own


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        db = tmp_path / "parity.db"
        store: WriterStore = Store(db)

        def rows(sql: str, *args: Any) -> list[tuple[Any, ...]]:
            with closing(sqlite3.connect(db)) as conn:
                return [tuple(r) for r in conn.execute(sql, args)]

    else:
        target: PostgresTarget = request.getfixturevalue("pg_target")
        store = PgStore(target)

        def rows(sql: str, *args: Any) -> list[tuple[Any, ...]]:
            with psycopg.connect(target.url) as conn:
                return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), args)]

    try:
        yield Backend(store, rows)
    finally:
        store.close()


def days_ago(days: float) -> str:
    return iso(NOW - timedelta(days=days))


def callback(
    store: WriterStore, message_sid: str, status: str, *, at: str = "", simulated: bool = False
) -> None:
    req = RequestRecord(path="/twilio/status", kind="status", http_status=200, simulated=simulated)
    if at:
        req.received_at = at
    store.record_callback(parse("status", list(status_params(message_sid, status).items()), sid("tok")), req)


def rejected(store: WriterStore, at: str) -> None:
    store.log_request(RequestRecord(path="/nope", kind="other", received_at=at, http_status=404, reason="no"))


def api_row(message_sid: str, status: str, **extra: Any) -> dict[str, Any]:
    """A message as reconcile.message_row makes it from the REST API."""
    row: dict[str, Any] = dict.fromkeys(
        ("from_addr", "to_addr", "body", "messaging_service_sid", "account_sid", "num_segments", "error_code",
         "price", "price_unit", "date_sent"),
    )  # fmt: skip
    row.update(sid=message_sid, status=status, direction="outbound-api", channel="sms", num_media=0)
    row.update(date_created=days_ago(1), **extra)
    return row


# ------------------------------------------------------------------------------------------ retention
def test_pruning_removes_the_same_rows(backend: Backend) -> None:
    store = backend.store
    old, recent = sid(), sid()
    callback(store, old, "sent", at=days_ago(10))
    callback(store, old, "delivered", at=days_ago(9))
    callback(store, recent, "delivered", at=days_ago(1))
    for days in (40, 20, 1):
        rejected(store, days_ago(days))

    result = prune(store, Retention(7, 30), messages_before=days_ago(5), now=NOW)

    assert (result.requests, result.messages, result.events) == (3, 1, 2)
    assert backend.rows("SELECT sid FROM messages") == [(recent,)]
    assert backend.rows("SELECT message_sid FROM events") == [(recent,)]
    kept = backend.rows("SELECT outcome, received_at FROM requests ORDER BY received_at")
    assert kept == [("rejected", days_ago(20)), ("accepted", days_ago(1)), ("rejected", days_ago(1))]


def test_the_pruner_thread_runs_on_either_store(backend: Backend) -> None:
    callback(backend.store, sid(), "sent", at=days_ago(10))
    pruner = Pruner(backend.store, lambda: Retention(7, 30), first_after=0, every=3600).start()
    try:
        wait_until(lambda: pruner.passes >= 1, what="one retention pass")
    finally:
        pruner.stop()
    assert pruner.last is not None and pruner.last.requests == 1
    assert backend.rows("SELECT count(*) FROM requests") == [(0,)]


# ------------------------------------------------------------------------------------------ reconciliation
def test_the_api_never_moves_a_status_back_and_adds_an_api_event_for_news_only(backend: Backend) -> None:
    store, msg = backend.store, sid()
    callback(store, msg, "delivered")

    assert store.apply_api_messages([api_row(msg, "sent", price="-0.0079", price_unit="USD")]) == ["updated"]
    assert store.apply_api_messages([api_row(msg, "sent", price="-0.0079", price_unit="USD")]) == [
        "unchanged"
    ]
    assert backend.rows("SELECT status, price, event_count FROM messages") == [("delivered", "-0.0079", 1)]

    assert store.apply_api_messages([api_row(msg, "read")], ("backfill", {"page": 2})) == ["updated"]
    assert backend.rows("SELECT status, event_count FROM messages") == [("read", 2)]
    events = backend.rows("SELECT status, source FROM events ORDER BY id")
    assert events == [("delivered", None), ("read", "api")]
    assert backend.rows("SELECT name, value FROM sync_state") == [("backfill", '{"page": 2}')]


def test_a_message_first_seen_by_the_api_is_new_and_alerts_are_stored_once(backend: Backend) -> None:
    store, msg = backend.store, sid()
    assert store.apply_api_messages([api_row(msg, "delivered")]) == ["new"]
    assert backend.rows("SELECT status, source, first_seen FROM messages") == [
        ("delivered", "reconcile", days_ago(1))
    ]
    alert = {"sid": "NO" + "1" * 32, "error_code": 11200, "alert_text": "x", "fetched_at": days_ago(0)}
    assert store.store_twilio_alerts([alert], ("alerts", {"since": "t"})) == [alert]
    assert store.store_twilio_alerts([alert]) == []
    assert backend.rows("SELECT sid, error_code FROM twilio_alerts") == [(alert["sid"], 11200)]
    assert backend.rows("SELECT name FROM sync_state") == [("alerts",)]


# ------------------------------------------------------------------------------------------ the app's writes
def test_purge_simulated_removes_exactly_the_simulated_rows(backend: Backend) -> None:
    store = backend.store
    real, fake = sid(), sid()
    callback(store, real, "sent")
    callback(store, fake, "sent", simulated=True)
    callback(store, fake, "delivered", simulated=True)
    callback(store, real, "delivered", simulated=True)  # a demo callback on a real message: that row only

    deleted = store.purge_simulated(batch=1)  # batches of one: the loop, not one statement

    assert deleted == {"messages": 1, "events": 3, "media": 0, "requests": 3}
    assert backend.rows("SELECT sid, status FROM messages") == [(real, "delivered")]
    assert backend.rows("SELECT message_sid, status FROM events ORDER BY id") == [(real, "sent")]
    assert backend.rows("SELECT count(*) FROM requests") == [(1,)]


def test_an_outbound_message_is_stored_and_a_later_answer_never_moves_its_status_back(
    backend: Backend,
) -> None:
    store, msg = backend.store, sid()
    store.record_outbound({"sid": msg, "status": "queued", "to_addr": "+15005550006", "body": "hi"})
    callback(store, msg, "delivered")
    store.record_outbound({"sid": msg, "status": "sent", "price": "-0.0079", "price_unit": "USD"})
    assert backend.rows("SELECT status, source, body, price FROM messages") == [
        ("delivered", "api", "hi", "-0.0079")
    ]


def test_webhook_backups_are_saved_listed_and_marked_restored(backend: Backend) -> None:
    store, account = backend.store, "AC" + "2" * 32
    item = {"target_kind": "number", "target_sid": "PN1", "target_name": "+1555", "previous": {"a": 1},
            "applied": {"a": 2}}  # fmt: skip
    first, second = store.save_backups(account, [item, item | {"target_sid": "PN2"}])
    assert second == first + 1
    store.mark_restored(first)
    pending = store.pending_backups(account)
    assert [(b["id"], b["target_sid"], b["previous"], b["restored_at"]) for b in pending] == [
        (second, "PN2", {"a": 1}, None)
    ]
    assert store.pending_backups("AC" + "3" * 32) == []


def test_a_closed_writer_says_so_with_the_stores_own_error(backend: Backend) -> None:
    """Reconciliation stops on ``StoreClosed`` (receiver/reconcile.py): the same class from either."""
    backend.store.close()
    with pytest.raises(StoreClosed):
        backend.store.record_outbound({"sid": sid(), "status": "queued"})
