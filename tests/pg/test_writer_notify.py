"""One ``NOTIFY callback_monitor`` per committed batch that wrote something (pg/changes.py), heard by a
plain ``LISTEN`` connection as an attached desktop would. What a listener got is read up to a sentinel
notification sent after the writes returned: PostgreSQL delivers notifications in commit order, so
everything before the sentinel is all the store sent, with no timeout standing in for "no more"."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from receiver.callbacks import parse
from receiver.store import RequestRecord
from receiver.store.pg.changes import CHANNEL, Change, decode
from receiver.store.pg.store import PgStore
from receiver.store.shared_writes import Db
from receiver.store.url import PostgresTarget
from tests.receiver_helpers import sid, status_params
from tests.waiting import wait_until

SENTINEL = "sentinel"


@pytest.fixture
def store(pg_target: PostgresTarget) -> Iterator[PgStore]:
    with PgStore(pg_target) as opened:
        yield opened


@pytest.fixture
def listener(pg_target: PostgresTarget, store: PgStore) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(pg_target.url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        yield conn


def heard(listener: psycopg.Connection[tuple[object, ...]]) -> list[Change | None]:
    """The store's notifications so far, up to the sentinel this sends now."""
    listener.execute("SELECT pg_notify(%s, %s)", (CHANNEL, SENTINEL))
    got: list[Change | None] = []
    for note in listener.notifies(timeout=10):
        if note.payload == SENTINEL:
            return got
        got.append(decode(note.payload))
    raise AssertionError("the sentinel notification did not arrive")


def callback(store: PgStore, message_sid: str, status: str) -> None:
    cb = parse("status", list(status_params(message_sid, status).items()), None)
    store.record_callback(cb, RequestRecord(path="/twilio/status", kind="status", http_status=200))


def one_batch(store: PgStore, work: list[tuple[str, str]]) -> None:
    """Run ``work``'s callbacks on threads while a job that writes nothing holds the commit, so that all of
    them queue and commit as one batch after it."""
    holding, release = threading.Event(), threading.Event()

    def hold(db: Db) -> None:
        holding.set()
        release.wait(10)

    holder = threading.Thread(target=store.run_shared, args=(hold,))
    holder.start()
    assert holding.wait(10)
    commits = store.commits
    threads = [threading.Thread(target=callback, args=(store, *w)) for w in work]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: store.queued == len(work), what="every callback queued")
    finally:
        release.set()
        for t in [holder, *threads]:
            t.join(10)
    assert store.commits == commits + 2  # the holding job's batch, then all of them in one


def newest(pg_target: PostgresTarget, table: str) -> int:
    with psycopg.connect(pg_target.url) as conn:
        row = conn.execute(f"SELECT max(id) FROM {table}").fetchone()
    assert row is not None
    return int(str(row[0]))


def test_a_batch_of_concurrent_callbacks_is_one_notification_with_its_newest_ids(
    store: PgStore, listener: psycopg.Connection[tuple[object, ...]], pg_target: PostgresTarget
) -> None:
    one_batch(store, [(sid(), "delivered") for _ in range(12)])
    # the holding job wrote nothing: no notification for its batch
    assert heard(listener) == [
        Change(store.writer_id, newest(pg_target, "requests"), newest(pg_target, "events"))
    ]


def test_a_batch_of_duplicates_still_notifies_for_its_request_rows(
    store: PgStore, listener: psycopg.Connection[tuple[object, ...]], pg_target: PostgresTarget
) -> None:
    """A duplicate adds no event, but it adds its row to the request log, which attached desktops show:
    the batch notifies, with no event id."""
    messages = [sid() for _ in range(5)]
    for m in messages:
        callback(store, m, "sent")
    events = newest(pg_target, "events")
    assert len(heard(listener)) == 5  # each alone in its batch: one each

    one_batch(store, [(m, "sent") for m in messages])

    assert heard(listener) == [Change(store.writer_id, newest(pg_target, "requests"), None)]
    assert newest(pg_target, "events") == events


def test_a_batch_that_wrote_nothing_is_silent_and_reconciliations_events_are_announced(
    store: PgStore, listener: psycopg.Connection[tuple[object, ...]], pg_target: PostgresTarget
) -> None:
    assert store.pending_backups() == []  # a read: nothing written
    assert store.delete_messages("2000-01-01", 10) == (0, 0)  # nothing matched
    assert heard(listener) == []

    store.apply_api_messages(
        [{"sid": sid(), "status": "delivered", "direction": "outbound-api", "channel": "sms", "num_media": 0,
          "date_created": "2026-01-01T00:00:00.000+00:00"} | dict.fromkeys(
            ("from_addr", "to_addr", "body", "messaging_service_sid", "account_sid", "num_segments",
             "error_code", "price", "price_unit", "date_sent"))]
    )  # fmt: skip
    # reconciliation's own event (source 'api') is announced like a callback's
    assert heard(listener) == [Change(store.writer_id, None, newest(pg_target, "events"))]
