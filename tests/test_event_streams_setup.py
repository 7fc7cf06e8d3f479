"""Turning Event Streams on/off through the real twilio client against the fake's Events v1, with the real
Store keeping the backup row (so a crash mid-way still restores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from twilio.rest import Client

from receiver import event_streams_setup as es
from receiver.event_streams import MESSAGE_EVENT_TYPES
from receiver.store import Store
from receiver.twilio_client import Credentials, SetupError, make_client
from receiver.webhook_apply import apply_event_streams, restore_all
from receiver.webhook_paths import EVENTS_PATH
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio

fake_twilio = fakes.fake_twilio
PUBLIC = "https://abc.ngrok.test"


def _client(fake: FakeTwilio) -> Client:
    return make_client(Credentials(fake.account_sid, fake.auth_token), api_base=fake.base_url)


def test_apply_creates_sink_and_subscription_and_restore_deletes_both(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    client = _client(fake_twilio)
    with Store(tmp_path / "a.db") as store:
        sink_sid = apply_event_streams(client, store, fake_twilio.account_sid, PUBLIC)

        [sink] = fake_twilio.events.state.sinks.values()
        assert sink["sid"] == sink_sid and sink["sink_type"] == "webhook"
        assert sink["sink_configuration"] == {
            "destination": PUBLIC + EVENTS_PATH,
            "method": "POST",
            "batch_events": False,
        }
        [sub] = fake_twilio.events.state.subscriptions.values()
        assert sub["sink_sid"] == sink_sid and sub["types"] == list(MESSAGE_EVENT_TYPES)

        # applying again (wizard run twice) reuses it: one sink, one subscription, no second backup
        assert apply_event_streams(client, store, fake_twilio.account_sid, PUBLIC) == sink_sid
        assert len(fake_twilio.events.state.sinks) == 1 and len(fake_twilio.events.state.subscriptions) == 1
        assert len(store.pending_backups()) == 1

        report = restore_all(client, store, fake_twilio.account_sid)

        assert fake_twilio.events.state.sinks == {} and fake_twilio.events.state.subscriptions == {}
        assert report == [f"Turned off {es.TARGET_NAME}: deleted sink {sink_sid}."]
        assert store.pending_backups() == []


def test_a_crash_after_apply_is_restored_from_the_backup_row(fake_twilio: FakeTwilio, tmp_path: Path) -> None:
    client = _client(fake_twilio)
    store = Store(tmp_path / "c.db")
    apply_event_streams(client, store, fake_twilio.account_sid, PUBLIC)
    store.close()  # the app dies with the sink live

    with Store(tmp_path / "c.db") as reopened:
        [backup] = reopened.pending_backups(fake_twilio.account_sid)
        assert backup["target_kind"] == es.KIND_EVENT_STREAM
        restore_all(client, reopened, fake_twilio.account_sid)
        assert fake_twilio.events.state.sinks == {} and reopened.pending_backups() == []


def test_a_failed_subscription_deletes_the_new_sink_and_says_so(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    client = _client(fake_twilio)
    fake_twilio.fail_next(r"^/v1/Subscriptions$", 400, 20001, "Invalid type", method="POST")
    with Store(tmp_path / "f.db") as store:
        with pytest.raises(SetupError) as info:
            apply_event_streams(client, store, fake_twilio.account_sid, PUBLIC)
        assert "Nothing was left on the account" in info.value.message
        assert fake_twilio.events.state.sinks == {} and store.pending_backups() == []


def test_credentials_in_the_public_url_reach_the_sink_but_never_the_database(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    client = _client(fake_twilio)
    with Store(tmp_path / "p.db") as store:
        apply_event_streams(client, store, fake_twilio.account_sid, "https://mon:s3cret-pw@abc.ngrok.test")
        [sink] = fake_twilio.events.state.sinks.values()
        assert (
            sink["sink_configuration"]["destination"] == "https://mon:s3cret-pw@abc.ngrok.test" + EVENTS_PATH
        )
        assert "s3cret-pw" not in json.dumps(store.pending_backups())
        restore_all(client, store, fake_twilio.account_sid)
        assert fake_twilio.events.state.sinks == {}
    assert b"s3cret-pw" not in (tmp_path / "p.db").read_bytes()


def test_a_local_url_is_refused_before_anything_is_created(fake_twilio: FakeTwilio, tmp_path: Path) -> None:
    with Store(tmp_path / "l.db") as store, pytest.raises(SetupError):
        apply_event_streams(_client(fake_twilio), store, fake_twilio.account_sid, "http://127.0.0.1:8080")
    assert fake_twilio.events.state.sinks == {}


def test_repoint_moves_the_sink_to_the_new_tunnel_url_and_restore_still_deletes_it(
    fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    from receiver.webhook_repoint import repoint

    client = _client(fake_twilio)
    new_base = "https://new-tunnel.ngrok.test"
    with Store(tmp_path / "r.db") as store:
        apply_event_streams(client, store, fake_twilio.account_sid, PUBLIC)

        repoint(client, store, fake_twilio.account_sid, new_base, "")

        [sink] = fake_twilio.events.state.sinks.values()
        assert sink["sink_configuration"]["destination"] == new_base + EVENTS_PATH
        [sub] = fake_twilio.events.state.subscriptions.values()
        assert sub["sink_sid"] == sink["sid"]
        restore_all(client, store, fake_twilio.account_sid)
        assert fake_twilio.events.state.sinks == {} and store.pending_backups() == []


def test_repoint_without_event_streams_creates_no_sink(fake_twilio: FakeTwilio, tmp_path: Path) -> None:
    from receiver.webhook_repoint import repoint

    with Store(tmp_path / "n.db") as store:
        repoint(_client(fake_twilio), store, fake_twilio.account_sid, "https://new-tunnel.ngrok.test", "")
    assert fake_twilio.events.state.sinks == {}
