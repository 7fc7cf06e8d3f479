"""End to end through a tunnel: the sink that apply created points at the tunnel's public URL, and Event
Streams' signed deliveries arrive through the stand-in ngrok (X-Forwarded-*, public Host) and validate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from receiver.app import ReceiverConfig, create_app
from receiver.server import ReceiverServer
from receiver.store import Store
from receiver.tunnel import TunnelManager, TunnelSettings
from receiver.twilio_client import Credentials, make_client
from receiver.webhook_apply import apply_event_streams
from tests.fakes import fake_twilio as fakes
from tests.fakes import ngrok_fixture
from tests.fakes.fake_twilio import FakeTwilio
from tests.fakes.ngrok_fixture import resolve_public_url

fake_twilio = fakes.fake_twilio
fake_ngrok = ngrok_fixture.fake_ngrok


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.delenv("FAKE_NGROK_FAIL", raising=False)


def test_events_delivered_through_the_tunnel_to_the_applied_sink_validate_and_land(
    fake_twilio: FakeTwilio, fake_ngrok: str, tmp_path: Path
) -> None:
    store = Store(tmp_path / "t.db")
    cfg = ReceiverConfig.with_token(fake_twilio.auth_token)
    server = ReceiverServer(create_app(store, cfg))
    server.start()
    manager = TunnelManager(
        TunnelSettings(
            ngrok_path=fake_ngrok, authtoken="2abcTok3n_for_tests", config_dir=str(tmp_path / "ngrok"),
            web_addr="127.0.0.1:0",
        )
    )  # fmt: skip
    try:
        public = manager.start(server.port)
        cfg.public_url = public  # what the app does when the tunnel comes up
        client = make_client(
            Credentials(fake_twilio.account_sid, fake_twilio.auth_token), api_base=fake_twilio.base_url
        )
        apply_event_streams(client, store, fake_twilio.account_sid, public)
        message = str(client.messages.create(to="+14155552671", from_="+15005550006", body="hi").sid)
        events = fake_twilio.events
        batches = [[events.cloudevent(message, "delivered")], [events.cloudevent(message, "sent")]]

        attempts = events.deliver(batches, via=lambda url: resolve_public_url(manager, url))

        assert [a.http_status for a in attempts] == [200, 200]
        assert attempts[0].url.startswith(public + "/twilio/events?bodySHA256=")
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("SELECT status FROM messages WHERE sid = ?", (message,)).fetchall() == [
                ("delivered",)
            ]
            # the request came through the tunnel: the forwarding headers are in its log row
            [(headers,)] = conn.execute("SELECT headers FROM requests ORDER BY id LIMIT 1").fetchall()
            assert "X-Forwarded-For" in headers
    finally:
        manager.stop()
        server.stop()
        store.close()
