"""Bounded storage: caps on what one request stores, each callback fact stored once, retention rules
applied in batches (request-log rows of stored callbacks and of rejected requests kept differently,
messages and events only when the operator prunes), ``callback-monitor prune``, the automatic pruner,
and the durability level option."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver import cli
from receiver.app import ReceiverConfig, create_app
from receiver.callbacks import parse
from receiver.request_storage import MAX_HEADER, MAX_HEADERS, MAX_PATH, MAX_QUERY
from receiver.retention import REQUEST_BATCH, Pruner, Retention, iso, prune
from receiver.store import RequestRecord, Store
from tests.receiver_helpers import PUBLIC, TOKEN, post, request_detail, sid, status_params
from tests.waiting import wait_until

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _days_ago(days: float) -> str:
    return iso(NOW - timedelta(days=days))


def _callback(store: Store, message_sid: str, status: str, received_at: str) -> None:
    items = list(status_params(message_sid, status).items())
    store.record_callback(
        parse("status", items, sid("tok")),
        RequestRecord(path="/twilio/status", kind="status", received_at=received_at, http_status=200),
    )


def _rejected(store: Store, received_at: str) -> None:
    store.log_request(
        RequestRecord(
            path="/nope", kind="other", received_at=received_at, http_status=404, reason="not a webhook"
        )
    )


def _count(db: Path, sql: str, *args: Any) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql, args).fetchone()[0])
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------ caps
def test_one_unsigned_request_cannot_store_more_than_its_caps(tmp_path: Path) -> None:
    """An unsigned request with a 300 KB path, query and headers (the body has its own limit) is refused
    and logged, and its row holds at most the caps, each cut value saying it was cut."""
    with Store(tmp_path / "s.db") as store:
        client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
        huge = "A" * 100_000
        headers = {"X-Long": huge} | {f"X-Junk-{i}": "B" * 5_000 for i in range(40)}  # 300 KB of headers
        answer = client.post(f"/twilio/status/{huge}?q={huge}", data="x=1", headers=headers)
        assert answer.status_code == 404
        conn = sqlite3.connect(tmp_path / "s.db")
        path, query, stored_headers = conn.execute("SELECT path, query, headers FROM requests").fetchone()
        conn.close()
    assert len(path) < MAX_PATH + 40 and path.endswith(f"…[cut: {len(huge) + 15} bytes]")
    assert len(query) < MAX_QUERY + 40 and "…[cut: " in query
    assert len(stored_headers) < MAX_HEADERS + 2 * MAX_HEADER
    kept = json.loads(stored_headers)
    assert kept["X-Long"].startswith("A" * MAX_HEADER) and kept["X-Long"].endswith("bytes]")
    assert "X-Junk-39" in kept["[cut]"]  # the headers that did not fit are named, not silently gone


def test_a_usual_twilio_request_is_stored_uncut(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
        answer = post(client, "/twilio/status", status_params(sid(), "sent"), token="wrong" * 6)
        assert answer.status_code == 403
        row = request_detail(tmp_path / "s.db", 1)
    assert row is not None and "cut" not in row["headers"] and "cut" not in row["body"]
    assert row["body"].startswith("MessageSid=SM")


# ------------------------------------------------------------------------------------------ each fact once
def test_an_accepted_callback_stores_its_fields_once_and_the_inspector_gets_them_back(tmp_path: Path) -> None:
    """The fields live in the event's payload; the request row keeps no copy of the body nor the headers
    other columns hold, and ``Reader.request_detail`` (inspector, replay) puts them back."""
    params = status_params(sid(), "delivered")
    with Store(tmp_path / "s.db") as store:
        client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
        answer = post(client, "/twilio/status", params, headers={"I-Twilio-Idempotency-Token": "tok-1"})
        assert answer.status_code == 200
    conn = sqlite3.connect(tmp_path / "s.db")
    body, headers = conn.execute("SELECT body, headers FROM requests").fetchone()
    assert body is None
    assert not {"Content-Type", "Content-Length", "I-Twilio-Idempotency-Token"} & set(json.loads(headers))
    row = request_detail(tmp_path / "s.db", 1)
    assert row is not None and row["body_rebuilt"]
    from urllib.parse import parse_qsl

    assert dict(parse_qsl(row["body"])) == params
    shown = json.loads(row["headers"])
    assert shown["I-Twilio-Idempotency-Token"] == "tok-1"
    assert shown["Content-Type"] == "application/x-www-form-urlencoded"
    assert "X-Twilio-Signature" in shown


def test_a_duplicate_keeps_its_body_and_headers(tmp_path: Path) -> None:
    """No event holds a duplicate's fields, so its row does."""
    params = status_params(sid(), "sent")
    with Store(tmp_path / "s.db") as store:
        client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
        for _ in range(2):
            assert post(client, "/twilio/status", params).status_code == 200
    conn = sqlite3.connect(tmp_path / "s.db")
    outcome, body, headers = conn.execute(
        "SELECT outcome, body, headers FROM requests WHERE id = 2"
    ).fetchone()
    assert outcome == "duplicate" and body.startswith("MessageSid=")
    assert "I-Twilio-Idempotency-Token" in json.loads(headers)


# ------------------------------------------------------------------------------------------ retention
def test_retention_keeps_stored_and_rejected_requests_for_different_times(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        _callback(store, old := sid(), "sent", _days_ago(10))  # request row past 7 days
        _callback(store, new := sid(), "sent", _days_ago(1))
        _rejected(store, _days_ago(40))  # past 30 days
        _rejected(store, _days_ago(10))  # rejected, 10 days: kept (longer than stored ones)
        result = prune(store, Retention(accepted_days=7, rejected_days=30), now=NOW)
    assert result.requests == 2
    assert _count(db, "SELECT COUNT(*) FROM requests WHERE outcome = 'accepted'") == 1
    assert _count(db, "SELECT COUNT(*) FROM requests WHERE message_sid = ?", new) == 1
    assert _count(db, "SELECT COUNT(*) FROM requests WHERE outcome = 'rejected'") == 1
    # the callbacks themselves are not the request log's to delete
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE sid IN (?, ?)", old, new) == 2
    assert _count(db, "SELECT COUNT(*) FROM events") == 2


def test_zero_days_keeps_forever(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        _callback(store, sid(), "sent", _days_ago(400))
        _rejected(store, _days_ago(400))
        assert prune(store, Retention.from_days(0, 0), now=NOW).requests == 0
    assert _count(db, "SELECT COUNT(*) FROM requests") == 2


def test_pruning_runs_in_small_batches(tmp_path: Path) -> None:
    """A big backlog goes in several short jobs (commits), never one long delete holding the writer."""
    db = tmp_path / "s.db"
    rows = 2 * REQUEST_BATCH + 100
    with Store(db) as store:

        def seed(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO requests (received_at, method, path, kind, outcome, http_status) "
                "VALUES (?, 'POST', '/x', 'other', 'rejected', 404)",
                [(_days_ago(60),)] * rows,
            )

        store.run(seed)
        _rejected(store, _days_ago(1))
        before = store.commits
        assert prune(store, Retention(rejected_days=30), now=NOW).requests == rows
        assert store.commits - before >= 4  # the bound, then three batches of at most REQUEST_BATCH
    assert _count(db, "SELECT COUNT(*) FROM requests") == 1


def test_messages_and_events_go_only_when_the_operator_prunes_them(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        _callback(store, old := sid(), "sent", _days_ago(100))
        _callback(store, old, "delivered", _days_ago(100))
        _callback(store, new := sid(), "sent", _days_ago(2))
        prune(store, Retention(accepted_days=1, rejected_days=1), now=NOW)
        assert _count(db, "SELECT COUNT(*) FROM messages") == 2
        assert _count(db, "SELECT COUNT(*) FROM events") == 3
        result = prune(store, Retention.from_days(0, 0), messages_before=_days_ago(30), now=NOW)
    assert (result.messages, result.events) == (1, 2)
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE sid = ?", old) == 0
    assert _count(db, "SELECT COUNT(*) FROM events WHERE message_sid = ?", old) == 0
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE sid = ?", new) == 1
    # the text search index forgets the deleted message too
    assert _count(db, "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?", f'"{old}"') == 0
    assert _count(db, "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?", f'"{new}"') == 1


def test_the_pruner_applies_the_rules_on_its_own_thread(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        _rejected(store, iso(datetime.now(UTC) - timedelta(days=40)))
        _rejected(store, iso(datetime.now(UTC)))
        asked_from: list[threading.Thread] = []

        def rules() -> Retention:  # read at each pass, on the thread that runs it
            asked_from.append(threading.current_thread())
            return Retention(rejected_days=30)

        pruner = Pruner(store, rules, first_after=0.01).start()
        try:
            wait_until(lambda: pruner.passes > 0, what="a pruning pass")
        finally:
            pruner.stop()
        assert asked_from and threading.current_thread() not in asked_from
    assert _count(db, "SELECT COUNT(*) FROM requests") == 1


# ------------------------------------------------------------------------------------------ CLI
def _run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_prune_applies_retention_and_deletes_old_messages_on_request(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    long_ago = iso(datetime.now(UTC) - timedelta(days=90))
    with Store(db) as store:
        _callback(store, old := sid(), "sent", long_ago)
        _callback(store, new := sid(), "sent", iso(datetime.now(UTC)))
        _rejected(store, long_ago)
    code, out, _err = _run_cli("prune", "--db", str(db), "--keep-rejected-days", "0")
    assert code == 0 and "deleted 1 request-log rows" in out  # the old stored callback's row
    assert _count(db, "SELECT COUNT(*) FROM messages") == 2
    code, out, _err = _run_cli("prune", "--db", str(db), "--older-than", "30")
    assert code == 0 and "1 messages with 1 events" in out
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE sid = ?", old) == 0
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE sid = ?", new) == 1
    before = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out, _err = _run_cli("prune", "--db", str(db), "--before", before)
    assert code == 0 and _count(db, "SELECT COUNT(*) FROM messages") == 0


def test_cli_prune_explains_bad_dates_and_a_running_receiver(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store(db).close()
    code, _out, err = _run_cli("prune", "--db", str(db), "--before", "last tuesday")
    assert code == 2 and "YYYY-MM-DD" in err
    with Store(db):
        code, _out, err = _run_cli("prune", "--db", str(db))
    assert code == 1 and "running receiver" in err and "Storage and retention" in err


# ------------------------------------------------------------------------------------------ durability
@pytest.mark.parametrize(("level", "value"), [("NORMAL", 1), ("FULL", 2), ("full", 2)])
def test_the_durability_level_is_the_one_asked_for(tmp_path: Path, level: str, value: int) -> None:
    with Store(tmp_path / "s.db", synchronous=level) as store:
        assert store.run(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]) == value


def test_an_unknown_durability_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NORMAL, FULL"):
        Store(tmp_path / "s.db", synchronous="OFF")


def test_the_request_of_a_pruned_message_says_its_fields_went_with_it(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        _callback(store, sid(), "sent", _days_ago(100))
        prune(store, Retention.from_days(0, 0), messages_before=_days_ago(30), now=NOW)
    row = request_detail(db, 1)
    assert row is not None and row["body_deleted"] and not row["body_rebuilt"]
