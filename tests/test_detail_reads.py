"""One message read back through the Reader (the detail pane's and the wizard's queries): plain values."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver.app import ReceiverConfig, create_app
from receiver.store import Reader, RequestRecord, Store, open_reader
from receiver.store.detail_reads import EventRecord, MessageRecord
from receiver.webhook_paths import INBOUND_PATHS, STATUS_PATHS
from tests.receiver_helpers import PUBLIC, TOKEN, post, sid, status_params


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


@pytest.fixture
def client(store: Store) -> Any:
    return create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()


@pytest.fixture
def reader(store: Store) -> Iterator[Reader]:
    r = open_reader(store.path)
    yield r
    r.close()


def _plain(value: Any) -> None:
    """Only Python's own types: what a PostgreSQL Reader can return too."""
    assert isinstance(value, (str, int, float, bool, type(None))), f"{value!r} is not a plain value"


def test_a_message_its_events_and_media_come_back_as_plain_values(client: Any, reader: Reader) -> None:
    message = sid("MM")
    inbound = {
        "MessageSid": message, "SmsSid": message, "SmsStatus": "received", "AccountSid": "AC" + "1" * 32,
        "From": "+14155552671", "To": "+15005550006", "Body": "photo", "NumMedia": "2",
        "MediaUrl0": "https://api.twilio.com/m0", "MediaContentType0": "image/jpeg",
        "MediaUrl1": "https://api.twilio.com/m1", "MediaContentType1": "image/png",
    }  # fmt: skip
    assert post(client, INBOUND_PATHS[0], inbound).status_code == 200

    record = reader.message(message)
    assert isinstance(record, MessageRecord)
    assert (record.sid, record.direction, record.channel, record.body) == (message, "inbound", "mms", "photo")
    assert record.simulated is False
    for field in dataclasses.fields(record):
        _plain(getattr(record, field.name))

    assert [(m.idx, m.url, m.content_type) for m in reader.media_of(message)] == [
        (0, "https://api.twilio.com/m0", "image/jpeg"),
        (1, "https://api.twilio.com/m1", "image/png"),
    ]
    assert reader.message(sid()) is None


def test_events_of_lists_every_callback_in_arrival_order(client: Any, reader: Reader) -> None:
    message = sid()
    for status, extra in (("sent", {}), ("undelivered", {"ErrorCode": "30003"}), ("delivered", {})):
        assert post(client, STATUS_PATHS[0], status_params(message, status, **extra)).status_code == 200

    events = reader.events_of(message)
    assert [(e.status, e.error_code) for e in events] == [
        ("sent", None),
        ("undelivered", 30003),
        ("delivered", None),
    ]
    assert all(isinstance(e, EventRecord) for e in events)
    assert json.loads(events[1].payload)["ErrorCode"] == "30003"
    for event in events:
        for field in dataclasses.fields(event):
            _plain(getattr(event, field.name))
    assert reader.events_of(sid()) == []


def test_rejected_requests_naming_a_sid_are_read_with_their_claimed_status(
    store: Store, reader: Reader
) -> None:
    message = sid()
    for status in ("delivered", "read"):
        body = f"MessageSid={message}&MessageStatus={status}"
        store.log_request(
            RequestRecord(path="/twilio/status", kind="status", body=body, outcome="rejected",
                          http_status=403, reason="bad signature", message_sid=message)
        )  # fmt: skip
    assert [(r.status, r.http_status) for r in reader.rejections_of(message)] == [
        ("delivered", 403),
        ("read", 403),
    ]
    assert reader.rejection_count(message) == 2
    assert reader.rejection_count(sid()) == 0
