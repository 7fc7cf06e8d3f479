"""One channel rule (receiver/channels.py): the label the receiver stores for a callback is the label the
REST API paths (the send dialog's row, reconciliation) give the same message, so one message never shows
under two channels. Messages come from the fake Twilio through the real twilio client; callbacks are signed
with twilio's RequestValidator and go through the receiver's routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver import channels, reconcile, sending
from receiver.app import ReceiverConfig, create_app
from receiver.store import Store, open_reader
from receiver.twilio_client import Credentials, make_client
from receiver.webhook_paths import STATUS_PATHS
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio, new_sid
from tests.receiver_helpers import PUBLIC, TOKEN, post, status_params

fake_twilio = fakes.fake_twilio  # fixture, made visible to pytest here

# (case, SID prefix, From, To, ChannelPrefix sent in callbacks, num_media in the API's answer, label)
CASES = [
    ("sms", "SM", "+15005550006", "+14155550100", None, "0", "sms"),
    # the send's answer counts no media yet; the MM SID already says MMS (and callbacks carry no NumMedia)
    ("mms", "MM", "+15005550006", "+14155550100", None, "0", "mms"),
    ("mms-counted", "MM", "+15005550006", "+14155550100", None, "1", "mms"),
    ("whatsapp", "SM", "whatsapp:+14155238886", "whatsapp:+14155550100", "whatsapp", "0", "whatsapp"),
    # RCS through a Messaging Service: the recipient is a plain number, the sender an RCS agent
    ("rcs", "SM", "rcs:acme_agent", "+14155550100", "rcs", "0", "rcs"),
    ("messenger", "SM", "messenger:1029384756", "messenger:5647382910", "messenger", "0", "messenger"),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "ch.db") as s:
        yield s


@pytest.mark.parametrize(
    ("prefix", "from_addr", "to_addr", "channel_prefix", "num_media", "label"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_receiver_and_the_api_paths_label_a_message_alike(
    fake_twilio: FakeTwilio,
    store: Store,
    prefix: str,
    from_addr: str,
    to_addr: str,
    channel_prefix: str | None,
    num_media: str,
    label: str,
) -> None:
    sid = new_sid(prefix)
    fake_twilio.add_message(sid=sid, status="sent", num_media=num_media, **{"from": from_addr, "to": to_addr})
    client = make_client(Credentials(fake_twilio.account_sid, auth_token=fake_twilio.auth_token),
                         api_base=fake_twilio.base_url)  # fmt: skip
    instance: Any = client.messages(sid).fetch()

    extra = {"From": from_addr, "To": to_addr}
    if channel_prefix:
        extra["ChannelPrefix"] = channel_prefix
    receiver = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    assert post(receiver, STATUS_PATHS[0], status_params(sid, "delivered", **extra)).status_code == 200
    reader = open_reader(store.path)
    try:
        stored = reader.message(sid)
    finally:
        reader.close()
    assert stored is not None

    assert stored.channel == label  # what the messages table, the detail pane and statistics show
    assert sending.message_to_row(instance)["channel"] == label  # a message sent from the app
    assert reconcile.message_row(instance)["channel"] == label  # a message learned by reconciliation
    if label in channels.KNOWN:
        assert channels.KNOWN.count(label) == 1  # the filters offer it once, under the same name


@pytest.mark.parametrize(
    ("from_addr", "to_addr", "expected"),
    [
        ("WhatsApp:+14155238886", "+14155550100", "whatsapp"),  # one channel whatever the case
        ("+1 (415) 555:0100", "+14155550100", "sms"),  # a colon in a number is no scheme
        ("<b>x</b>:1", "+14155550100", "sms"),  # neither is markup
        (None, None, "sms"),
    ],
)
def test_only_a_letters_scheme_names_a_channel(
    from_addr: str | None, to_addr: str | None, expected: str
) -> None:
    assert channels.channel_of(from_addr, to_addr) == expected
