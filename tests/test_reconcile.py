"""Reconciliation with Twilio's REST API, against the fake Twilio through the real twilio-python client."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver import callbacks, reconcile
from receiver.store import RequestRecord, Store, open_reader
from receiver.twilio_client import Credentials, SetupError, make_client
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio

fake_twilio = fakes.fake_twilio  # fixture, made visible to pytest here

LONG_AGO = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="milliseconds")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "cm.db")
    yield s
    s.close()


def reconciler(fake: FakeTwilio, store: Store, **kwargs: Any) -> reconcile.Reconciler:
    client = make_client(Credentials(fake.account_sid, auth_token=fake.auth_token), api_base=fake.base_url)
    return reconcile.Reconciler(store, client, fake.account_sid, **kwargs)


def row(store: Store, sid: str) -> sqlite3.Row:
    conn = sqlite3.connect(store.path)
    conn.row_factory = sqlite3.Row
    try:
        found: sqlite3.Row = conn.execute("SELECT * FROM messages WHERE sid = ?", (sid,)).fetchone()
        return found
    finally:
        conn.close()


def events(store: Store, sid: str) -> list[tuple[str, str | None]]:
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(
            "SELECT status, source FROM events WHERE message_sid = ? ORDER BY id", (sid,)
        ).fetchall()
    finally:
        conn.close()


def snapshot(store: Store) -> list[Any]:
    conn = sqlite3.connect(store.path)
    try:
        return [
            conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("messages", "events", "twilio_alerts")
        ]
    finally:
        conn.close()


def sent_long_ago(store: Store, sid: str, status: str = "sent") -> None:
    """The app sent ``sid`` two hours ago and heard nothing since (the send dialog's row)."""
    store.record_outbound(
        {"sid": sid, "status": status, "to_addr": "+14155550100", "from_addr": "+15005550006"}
    )
    store.run(lambda c: c.execute("UPDATE messages SET updated_at = ? WHERE sid = ?", (LONG_AGO, sid)))


def callback(store: Store, sid: str, status: str) -> None:
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "1" * 32, "To": "+14155550100"}
    cb = callbacks.parse("status", list(params.items()), None)
    store.record_callback(cb, RequestRecord(path="/twilio/status", kind="status", http_status=200))


def test_stuck_message_is_brought_up_to_date_and_marked_as_learned_from_the_api(
    fake_twilio: FakeTwilio, store: Store
) -> None:
    m = fake_twilio.add_message(status="delivered", price="-0.0079")
    sent_long_ago(store, m["sid"])
    fresh = fake_twilio.add_message(status="delivered")
    store.record_outbound({"sid": fresh["sid"], "status": "sent"})  # sent a minute ago: not stuck yet

    report = reconciler(fake_twilio, store).run()

    got = row(store, m["sid"])
    assert (got["status"], got["price"], got["price_unit"]) == ("delivered", "-0.0079", "USD")
    assert ("delivered", "api") in events(store, m["sid"])
    assert row(store, fresh["sid"])["status"] == "sent"
    assert report.updated == 1
    fetched = [r.path for r in fake_twilio.requests if "/Messages/" in r.path]
    assert fetched == [f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages/{m['sid']}.json"]


def test_reconciliation_never_moves_a_status_backwards(fake_twilio: FakeTwilio, store: Store) -> None:
    """A read callback that lands while the pass fetches the (older) delivered status stays read."""
    m = fake_twilio.add_message(
        status="delivered", to="whatsapp:+14155550100", **{"from": "whatsapp:+14155238886"}
    )
    sent_long_ago(store, m["sid"], status="sent")

    def read_arrives_meanwhile(what: str, done: int, total: int) -> None:
        if what == "stuck messages" and done == 0 and total == 1:
            callback(store, m["sid"], "read")

    reconciler(fake_twilio, store, progress=read_arrives_meanwhile).run()

    assert row(store, m["sid"])["status"] == "read"
    assert events(store, m["sid"]) == [("read", None)]  # the stale delivered is not news


def test_backfill_pages_through_the_account_and_a_second_run_changes_nothing(
    fake_twilio: FakeTwilio, store: Store
) -> None:
    since = datetime.now(UTC) - timedelta(days=2)
    old = fake_twilio.add_message(date_sent=since - timedelta(days=1))
    sids = [
        fake_twilio.add_message(date_sent=since + timedelta(minutes=i), price="-0.01")["sid"]
        for i in range(7)
    ]
    settings = reconcile.Settings(page_size=3)

    report = reconciler(fake_twilio, store, settings=settings).run(since=since)

    assert (report.backfilled, report.backfill_new) == (7, 7)
    assert all(row(store, s)["status"] == "delivered" for s in sids)
    assert row(store, old["sid"]) is None
    pages = [r for r in fake_twilio.requests if r.path.endswith("/Messages.json")]
    assert len(pages) == 3  # 3 + 3 + 1, following next_page_uri
    before = snapshot(store)

    again = reconciler(fake_twilio, store, settings=settings).run(since=since)

    assert (again.backfilled, again.backfill_new, again.updated) == (7, 0, 0)
    assert snapshot(store) == before


def test_backfill_resumes_after_an_error_half_way(fake_twilio: FakeTwilio, store: Store) -> None:
    since = datetime.now(UTC) - timedelta(days=1)
    for i in range(9):
        fake_twilio.add_message(date_sent=since + timedelta(minutes=i))
    settings = reconcile.Settings(page_size=3)

    def fail_after_first_page(what: str, done: int, total: int) -> None:
        if what == "backfill" and done == 3:  # the first page is committed: the next request fails
            fake_twilio.fail_next(r"/Messages\.json$", 500, 20500, "Internal error", method="GET")

    with pytest.raises(SetupError, match="HTTP 500"):
        reconciler(fake_twilio, store, settings=settings, progress=fail_after_first_page).run(since=since)
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 3
    state = json.loads(conn.execute("SELECT value FROM sync_state WHERE name = 'backfill'").fetchone()[0])
    conn.close()
    assert "Page=1" in state["next_page_url"]
    fake_twilio.requests.clear()

    report = reconciler(fake_twilio, store, settings=settings).run(since=since)

    assert (report.backfilled, report.backfill_new) == (6, 6)
    listed = [r.query.get("Page", "0") for r in fake_twilio.requests if r.path.endswith("/Messages.json")]
    assert listed == ["1", "2"]  # resumed where it stopped, not from the first page
    assert sqlite3.connect(store.path).execute("SELECT count(*) FROM messages").fetchone()[0] == 9


def test_prices_arrive_on_a_later_pass(fake_twilio: FakeTwilio, store: Store) -> None:
    m = fake_twilio.add_message(status="delivered", price=None)
    store.record_outbound({"sid": m["sid"], "status": "sent"})
    callback(store, m["sid"], "delivered")

    first = reconciler(fake_twilio, store).run()
    assert row(store, m["sid"])["price"] is None and first.prices == 0

    fake_twilio.set_message(m["sid"], price="-0.00790", price_unit="EUR")
    second = reconciler(fake_twilio, store).run()
    got = row(store, m["sid"])
    assert (got["price"], got["price_unit"], second.prices) == ("-0.00790", "EUR", 1)
    assert events(store, m["sid"]) == [("delivered", None)]  # the callback's; the API added nothing else

    fake_twilio.requests.clear()
    reconciler(fake_twilio, store).run()
    assert not [r for r in fake_twilio.requests if "/Messages/" in r.path]  # priced: not fetched again


def test_rate_limit_is_retried_after_retry_after(fake_twilio: FakeTwilio, store: Store) -> None:
    m = fake_twilio.add_message(status="delivered")
    sent_long_ago(store, m["sid"])
    fake_twilio.fail_next(r"/Messages/", 429, 20429, "Too Many Requests", retry_after="0.2", times=2)
    r = reconciler(fake_twilio, store)
    r.run()
    assert r.backoff.waits == [0.2, 0.2]
    assert row(store, m["sid"])["status"] == "delivered"


def test_rate_limit_backs_off_exponentially_and_gives_up(fake_twilio: FakeTwilio, store: Store) -> None:
    m = fake_twilio.add_message(status="delivered")
    sent_long_ago(store, m["sid"])
    fake_twilio.fail_next(r"/Messages/", 429, 20429, "Too Many Requests", times=10)
    waits: list[float] = []
    r = reconciler(fake_twilio, store, sleep=waits.append)  # no real waiting: the waits asked for are checked
    with pytest.raises(SetupError, match="20429"):
        r.run()
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert row(store, m["sid"])["status"] == "sent"


def test_alerts_about_webhooks_are_stored_and_linked_to_their_message(
    fake_twilio: FakeTwilio, store: Store
) -> None:
    m = fake_twilio.add_message(status="delivered")
    store.record_outbound({"sid": m["sid"], "status": "delivered", "price": "-0.01"})
    url = "https://abc.ngrok-free.app/twilio/status"
    by_vars = fake_twilio.add_alert(
        11200,
        request_url=url,
        request_variables=f"MessageSid={m['sid']}&MessageStatus=delivered",
        response_body="<html>502 Bad Gateway</html>",
    )
    by_resource = fake_twilio.add_alert(30003, resource_sid=m["sid"])
    fake_twilio.add_alert(13227, request_url="https://elsewhere.example/voice")  # voice: not ours

    report = reconciler(fake_twilio, store, settings=reconcile.Settings(webhook_prefixes=(url,))).run()

    assert {a["sid"] for a in report.alerts} == {by_vars["sid"], by_resource["sid"]}
    reader = open_reader(store.path)
    stored = reader.twilio_alerts()
    reader.close()
    assert {a.message_sid for a in stored} == {m["sid"]}
    shown = next(a for a in stored if a.sid == by_vars["sid"])
    assert shown.details["response_body"] == "<html>502 Bad Gateway</html>"
    assert shown.request_url == url and shown.error_code == 11200

    again = reconciler(fake_twilio, store).run()
    assert again.alerts == []


def test_wake_detector_notices_a_wall_clock_jump() -> None:
    wall, mono = [1000.0], [50.0]
    detector = reconcile.WakeDetector(threshold=120, wall=lambda: wall[0], mono=lambda: mono[0])
    wall[0] += 60
    mono[0] += 60
    assert not detector.woke()
    wall[0] += 3600 + 30  # slept an hour: the monotonic clock did not count it
    mono[0] += 30
    assert detector.woke()
    assert not detector.woke()


def test_cli_reconcile_end_to_end(fake_twilio: FakeTwilio, tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with Store(db) as s:
        m = fake_twilio.add_message(status="undelivered", error_code=30003, price="-0.0079")
        sent_long_ago(s, m["sid"])
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    other = fake_twilio.add_message(status="delivered")
    env = {
        **os.environ,
        "CALLBACK_MONITOR_TWILIO_API_BASE": fake_twilio.base_url,
        "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "TWILIO_API_KEY": fake_twilio.api_key_sid,
        "TWILIO_API_SECRET": fake_twilio.api_key_secret,
    }
    env.pop("TWILIO_AUTH_TOKEN", None)
    cmd = [
        sys.executable,
        "-m",
        "receiver",
        "reconcile",
        "--db",
        str(db),
        "--since",
        since,
        "--stuck-after",
        "10",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "updated 1" in done.stdout and "1 new" in done.stdout
    assert fake_twilio.api_key_secret not in done.stdout + done.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status, error_code FROM messages WHERE sid = ?", (m["sid"],)).fetchone() == (
        "undelivered",
        30003,
    )
    assert conn.execute("SELECT source FROM messages WHERE sid = ?", (other["sid"],)).fetchone() == (
        "reconcile",
    )
    conn.close()

    with Store(db):  # a receiver holds the database: refused with a clear message
        held = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert held.returncode == 1 and "running receiver" in held.stderr and "Traceback" not in held.stderr

    no_creds = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    no_creds["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    missing = subprocess.run(cmd, env=no_creds, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "TWILIO_ACCOUNT_SID" in missing.stderr


def test_a_backfill_also_fetches_the_alerts_since_its_date(fake_twilio: FakeTwilio, store: Store) -> None:
    old = fake_twilio.add_alert(11200, date_created=datetime.now(UTC) - timedelta(days=3))
    assert reconciler(fake_twilio, store).run().alerts == []  # a plain pass looks back one day

    report = reconciler(fake_twilio, store).run(since=datetime.now(UTC) - timedelta(days=4))

    assert [a["sid"] for a in report.alerts] == [old["sid"]]
