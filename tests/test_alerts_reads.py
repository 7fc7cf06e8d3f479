"""Twilio's alerts read back through the Reader, as reconciliation stored them from the (fake) Monitor API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver import reconcile
from receiver.store import Store, open_reader
from receiver.store.alerts_reads import StoredAlert
from receiver.twilio_client import Credentials, make_client
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio

fake_twilio = fakes.fake_twilio  # fixture, made visible to pytest here


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "cm.db") as s:
        yield s


def test_stored_alerts_come_back_newest_first_with_their_details_decoded(
    fake_twilio: FakeTwilio, store: Store
) -> None:
    m = fake_twilio.add_message(status="delivered")
    store.record_outbound({"sid": m["sid"], "status": "delivered"})
    url = "https://abc.ngrok-free.app/twilio/status"
    first = fake_twilio.add_alert(
        11200,
        request_url=url,
        request_variables=f"MessageSid={m['sid']}&MessageStatus=delivered",
        response_body="<html>502 Bad Gateway</html>",
    )
    second = fake_twilio.add_alert(30003, resource_sid=m["sid"])
    client = make_client(Credentials(fake_twilio.account_sid, auth_token=fake_twilio.auth_token),
                         api_base=fake_twilio.base_url)  # fmt: skip
    settings = reconcile.Settings(webhook_prefixes=(url,))
    reconcile.Reconciler(store, client, fake_twilio.account_sid, settings=settings).run()

    reader = open_reader(store.path)
    try:
        alerts = reader.twilio_alerts()
    finally:
        reader.close()
    assert all(isinstance(a, StoredAlert) for a in alerts)
    assert {a.sid for a in alerts} == {first["sid"], second["sid"]}
    assert [a.date_created for a in alerts] == sorted((a.date_created or "" for a in alerts), reverse=True)
    by_vars = next(a for a in alerts if a.sid == first["sid"])
    assert (by_vars.error_code, by_vars.request_url, by_vars.message_sid) == (11200, url, m["sid"])
    assert by_vars.details["response_body"] == "<html>502 Bad Gateway</html>"
    assert next(a for a in alerts if a.sid == second["sid"]).message_sid == m["sid"]
