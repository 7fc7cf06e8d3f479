"""The receiver on PostgreSQL stores what it stores on SQLite: the same requests, signed with twilio's own
RequestValidator, through ``create_app`` on each backend, give the same answers and the same rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from receiver.app import ReceiverConfig, create_app
from receiver.store import Store
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget
from tests.pg.cluster import Cluster
from tests.pg.conftest import fresh_database
from tests.receiver_helpers import PUBLIC, TOKEN, post, sid, status_params

MESSAGE_COLUMNS = (
    "sid, direction, channel, from_addr, to_addr, body, status, status_rank, error_code, "
    "messaging_service_sid, account_sid, num_segments, num_media, price, price_unit, profile_name, "
    "channel_status_message, raw_dlr_done_date, event_count, source, simulated"
)
EVENT_COLUMNS = (
    "message_sid, status, error_code, event_type, event_key, channel_status_message, raw_dlr_done_date, "
    "payload"
)
REQUEST_COLUMNS = "method, path, query, kind, outcome, http_status, reason, message_sid, body_size, body"


def traffic() -> list[tuple[str, dict[str, str], bool]]:
    """(path, form, signed): out-of-order statuses, retries, an inbound WhatsApp message with media,
    a failure with its error code, an unknown status, a forged request, a NUL in a signed field."""
    a, b, c, d = sid(), sid(), sid("MM"), sid()
    inbound = {
        "MessageSid": c,
        "SmsStatus": "received",
        "From": "whatsapp:+447700900123",
        "To": "whatsapp:+14155238886",
        "Body": "photo",
        "ProfileName": "Ana",
        "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/m/0",
        "MediaContentType0": "image/jpeg",
        "AccountSid": "AC" + "1" * 32,
    }
    return [
        ("/twilio/status", status_params(a, "delivered"), True),
        ("/twilio/status", status_params(a, "sent"), True),  # late: kept in history, status stays
        ("/twilio/status", status_params(a, "delivered"), True),  # a retry: duplicate
        ("/twilio/status", status_params(a, "read"), True),
        ("/twilio/status", status_params(b, "failed", ErrorCode="30003"), True),
        ("/twilio/status", status_params(b, "sent"), True),
        ("/twilio/status", status_params(b, "some_future_status"), True),
        ("/api/whatsapp/incoming", inbound, True),
        ("/api/whatsapp/incoming", inbound, True),
        ("/twilio/status", status_params(d, "sent", ChannelStatusMessage="a\x00b"), True),
        ("/twilio/status", status_params(d, "delivered"), False),  # unsigned: 403, logged
    ]


def run(store: Store | PgStore, requests: list[tuple[str, dict[str, str], bool]]) -> list[tuple[int, bytes]]:
    config = ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)
    client = create_app(store, config).test_client()
    answers = []
    for path, form, signed in requests:
        resp = post(client, path, form, token=TOKEN if signed else "f" * 32)
        answers.append((resp.status_code, resp.data))
    return answers


def without_nul(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row) for row in rows]


def rows_sqlite(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            "messages": conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY sid").fetchall(),
            "events": conn.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY id").fetchall(),
            "media": conn.execute("SELECT message_sid, idx, url, content_type FROM media").fetchall(),
            "requests": conn.execute(f"SELECT {REQUEST_COLUMNS} FROM requests ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


def rows_pg(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            "messages": conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY sid").fetchall(),
            "events": conn.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY id").fetchall(),
            "media": conn.execute("SELECT message_sid, idx, url, content_type FROM media").fetchall(),
            "requests": conn.execute(f"SELECT {REQUEST_COLUMNS} FROM requests ORDER BY id").fetchall(),
        }


@pytest.fixture
def pg_store(pg_target: PostgresTarget) -> Iterator[PgStore]:
    store = PgStore(pg_target)
    yield store
    store.close()


def test_the_same_traffic_gives_the_same_answers_and_rows_as_sqlite(
    tmp_path: Path, pg_store: PgStore, pg_target: PostgresTarget
) -> None:
    requests = traffic()
    with Store(tmp_path / "local.db") as local:
        expected_answers = run(local, requests)
    answers = run(pg_store, requests)
    assert answers == expected_answers
    assert [code for code, _ in answers] == [200] * 10 + [403]
    expected = rows_sqlite(tmp_path / "local.db")
    got = rows_pg(pg_target.url)
    # the one difference: PostgreSQL's text holds no NUL (U+FFFD stands for it, as for a bad byte)
    for table in ("messages", "events", "media", "requests"):
        assert got[table] == without_nul(expected[table]), table
    assert "a\ufffdb" in [r[16] for r in got["messages"]]  # the signed field with a NUL: stored, not lost
    assert sorted(r[6] for r in got["messages"]) == ["failed", "read", "received", "sent"]
    assert [r[4] for r in got["requests"]].count("duplicate") == 2


def test_a_lost_database_answers_503_and_the_next_request_reconnects(pg_cluster: Cluster) -> None:
    """A dropped connection (server restart, network) is a 503 for the batch in flight, never a 2xx, and
    the next batch connects again without a restart of the receiver."""
    name = fresh_database(pg_cluster)
    url = pg_cluster.url(name)
    from receiver.store.url import parse

    target = parse(url)
    assert isinstance(target, PostgresTarget)
    store = PgStore(target)
    try:
        client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
        first, second = sid(), sid()
        assert post(client, "/twilio/status", status_params(first, "sent")).status_code == 200
        # the administrator ends every session of the receiver's role (as a restart or failover would)
        pg_cluster.admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
            "AND pid <> pg_backend_pid()"
        )
        lost = post(client, "/twilio/status", status_params(second, "sent"))
        assert lost.status_code == 503
        assert post(client, "/twilio/status", status_params(second, "sent")).status_code == 200
        with psycopg.connect(url) as conn:
            stored = sorted(r[0] for r in conn.execute("SELECT message_sid FROM events"))
            log = conn.execute("SELECT http_status, reason FROM requests ORDER BY id").fetchall()
        assert stored == sorted([first, second])
        # the 503's own log line went in with the reconnection, saying why
        assert [code for code, _ in log] == [200, 503, 200]
        assert log[1][1].startswith("not stored: the team database cannot be written")
    finally:
        store.close()
        pg_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_write_stuck_behind_another_clients_lock_is_a_503_in_time_not_a_hang(
    pg_target: PostgresTarget,
) -> None:
    """Another client (a migration, an operator's open transaction) holds the message's row: the batch
    gives up at the statement timeout and the callback is refused 503 (Twilio retries), and the next
    one, once the lock is gone, is stored."""
    store = PgStore(pg_target, statement_timeout_ms=300)
    try:
        client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
        message = sid()
        assert post(client, "/twilio/status", status_params(message, "sent")).status_code == 200
        with psycopg.connect(pg_target.url) as other:
            other.execute("SELECT 1 FROM messages WHERE sid = %s FOR UPDATE", (message,))
            stuck = post(client, "/twilio/status", status_params(message, "delivered"))
            assert stuck.status_code == 503
            assert b"statement timeout" in stuck.data
        assert post(client, "/twilio/status", status_params(message, "delivered")).status_code == 200
    finally:
        store.close()
