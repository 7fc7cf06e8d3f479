"""apply/restore with the real SQLite Store: backups survive a crash and restore the fake's original URLs."""

from __future__ import annotations

from pathlib import Path

from receiver.sending import send_message
from receiver.store import Store
from receiver.twilio_client import Credentials, make_client
from receiver.webhook_apply import apply_plan, restore_all
from receiver.webhook_plan import plan_changes
from receiver.webhook_targets import list_targets
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio

fake_twilio = fakes.fake_twilio
PUBLIC = "https://abc.ngrok.test"


def test_backups_persist_across_a_crash_and_restore_puts_originals_back(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    number = fake_twilio.add_number("+15550000001", sms_url="https://old.example.com/sms", sms_method="GET")
    service = fake_twilio.add_service("Alerts", inbound_request_url="https://old.example.com/in")
    creds = Credentials(fake_twilio.account_sid, fake_twilio.auth_token)
    client = make_client(creds, api_base=fake_twilio.base_url)
    plan = plan_changes(list_targets(client), [number["sid"], service["sid"]], PUBLIC)

    store = Store(tmp_path / "w.db")
    apply_plan(client, store, fake_twilio.account_sid, plan)
    assert fake_twilio.state.numbers[number["sid"]]["sms_url"] == f"{PUBLIC}/twilio/inbound"
    store.close()  # the app dies here; the backups are in the database

    reopened = Store(tmp_path / "w.db")
    pending = reopened.pending_backups(fake_twilio.account_sid)
    assert [p["target_sid"] for p in pending] == [number["sid"], service["sid"]]
    assert pending[0]["previous"]["sms_url"] == "https://old.example.com/sms"
    restore_all(client, reopened, fake_twilio.account_sid)
    assert fake_twilio.state.numbers[number["sid"]]["sms_url"] == "https://old.example.com/sms"
    assert fake_twilio.state.numbers[number["sid"]]["sms_method"] == "GET"
    assert fake_twilio.state.services[service["sid"]]["inbound_request_url"] == "https://old.example.com/in"
    assert reopened.pending_backups() == []
    reopened.close()


def test_sent_message_is_stored_with_the_status_the_api_returned(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    number = fake_twilio.add_number("+15550000001")
    creds = Credentials(fake_twilio.account_sid, fake_twilio.auth_token)
    client = make_client(creds, api_base=fake_twilio.base_url)
    row = send_message(
        client,
        to="+14155552671",
        body="hi",
        from_=number["phone_number"],
        status_callback=f"{PUBLIC}/twilio/status",
    )
    with Store(tmp_path / "s.db") as store:
        store.record_outbound(row)
        import sqlite3

        got = sqlite3.connect(store.path).execute("SELECT status, body, source FROM messages").fetchone()
    assert got == ("queued", "hi", "api")
