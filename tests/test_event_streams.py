"""Event Streams on the receiver: signed CloudEvent batches delivered by the fake Twilio (as Event Streams
would: retries, duplicates, any order) to a real waitress server, and what lands in the store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import itertools
import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver import store_health
from receiver.app import DEFAULT_MAX_BODY, ReceiverConfig, create_app
from receiver.event_streams import BatchError, parse_batch
from receiver.server import ReceiverServer
from receiver.store import Store
from receiver.twilio_client import Credentials, make_client
from receiver.webhook_paths import EVENTS_PATH
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_events import EventDelivery, signed_url
from tests.fakes.fake_twilio import FakeTwilio
from tests.receiver_helpers import PUBLIC, TOKEN, sid

fake_twilio = fakes.fake_twilio  # fixture


class Disk:
    """Free space the store sees: the test "fills the disk" to make the receiver answer 503."""

    def __init__(self) -> None:
        self.free = 10 * 2**30

    def __call__(self, _path: Path) -> int:
        return self.free


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    monkeypatch.setattr(store_health, "DISK_CHECK_EVERY", 0.0)  # look at every batch
    return Disk()


@pytest.fixture
def server(tmp_path: Path, disk: Disk, fake_twilio: FakeTwilio) -> Iterator[tuple[ReceiverServer, Store]]:
    store = Store(tmp_path / "events.db", free_space=disk)
    cfg = ReceiverConfig.with_token(fake_twilio.auth_token, public_url=PUBLIC)
    srv = ReceiverServer(create_app(store, cfg))
    srv.start()
    yield srv, store
    srv.stop()
    store.close()


def _message(fake: FakeTwilio) -> str:
    client = make_client(Credentials(fake.account_sid, fake.auth_token), api_base=fake.base_url)
    return str(client.messages.create(to="+14155552671", from_="+15005550006", body="hello").sid)


def _rows(store: Store, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store.path) as conn:
        return conn.execute(sql, args).fetchall()


def test_duplicates_and_out_of_order_events_land_once_each_with_the_final_status(
    server: tuple[ReceiverServer, Store], fake_twilio: FakeTwilio
) -> None:
    srv, store = server
    message = _message(fake_twilio)
    ev = {s: fake_twilio.events.cloudevent(message, s) for s in ("queued", "sent", "delivered")}
    url = PUBLIC + EVENTS_PATH
    via = f"127.0.0.1:{srv.port}"
    # delivered first, then sent and queued in one batch holding a duplicate; every batch re-sent once
    attempts = fake_twilio.events.deliver(
        [[ev["delivered"]], [ev["sent"], ev["queued"], ev["sent"]], [ev["queued"]]],
        url=url,
        via=via,
        duplicate=True,
    )

    assert [a.http_status for a in attempts] == [200] * 6
    events = _rows(
        store, "SELECT status, cloudevent_id FROM events WHERE message_sid = ? ORDER BY id", message
    )
    assert events == [
        ("delivered", ev["delivered"]["id"]),
        ("sent", ev["sent"]["id"]),
        ("queued", ev["queued"]["id"]),
    ]
    assert _rows(store, "SELECT status, event_count FROM messages WHERE sid = ?", message) == [
        ("delivered", 3)
    ]
    outcomes = [r[0] for r in _rows(store, "SELECT outcome FROM requests ORDER BY id")]
    assert outcomes == ["accepted", "duplicate", "accepted", "duplicate", "duplicate", "duplicate"]


def test_a_batch_retried_after_a_503_lands_once(
    server: tuple[ReceiverServer, Store], fake_twilio: FakeTwilio, disk: Disk
) -> None:
    srv, store = server
    message = _message(fake_twilio)
    batch = [
        fake_twilio.events.cloudevent(message, "sent"),
        fake_twilio.events.cloudevent(message, "delivered"),
    ]
    disk.free = 0  # the store refuses writes: the receiver must not acknowledge

    first = fake_twilio.events.post(batch, url=PUBLIC + EVENTS_PATH, via=f"127.0.0.1:{srv.port}")
    assert first.http_status == 503
    assert _rows(store, "SELECT COUNT(*) FROM events") == [(0,)]

    disk.free = 10 * 2**30  # Twilio retries later (with backoff); by then the disk has room again
    retried = fake_twilio.events.deliver([batch], url=PUBLIC + EVENTS_PATH, via=f"127.0.0.1:{srv.port}")

    assert [a.http_status for a in retried] == [200]
    assert retried[0].body == first.body  # the same batch, the same CloudEvent ids
    assert _rows(store, "SELECT status FROM events WHERE message_sid = ? ORDER BY id", message) == [
        ("sent",),
        ("delivered",),
    ]
    assert _rows(store, "SELECT status FROM messages WHERE sid = ?", message) == [("delivered",)]


def _post_raw(port: int, body: bytes, headers: dict[str, str], query: str = "") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", EVENTS_PATH + query, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_forged_or_unsigned_batches_are_refused_403_with_a_diagnosis_and_nothing_stored(
    server: tuple[ReceiverServer, Store], fake_twilio: FakeTwilio
) -> None:
    srv, store = server
    message = _message(fake_twilio)
    batch = [fake_twilio.events.cloudevent(message, "delivered")]
    url, via = PUBLIC + EVENTS_PATH, f"127.0.0.1:{srv.port}"

    wrong_token = fake_twilio.events.post(batch, url=url, via=via, auth_token="f" * 32)
    body = json.dumps(batch).encode()
    query = "?" + signed_url(url, body).split("?", 1)[1]
    unsigned = _post_raw(srv.port, body, {"Content-Type": "application/json"}, query)
    # a genuine signature, but the body was changed on the way: its hash no longer matches the URL
    genuine = fake_twilio.events.post(batch, url=url, via=via)
    tampered_body = genuine.body.replace(b"delivered", b"undelivered")
    tampered = _post_raw(
        srv.port, tampered_body, {**genuine.headers, "Content-Length": str(len(tampered_body))}, query
    )

    assert wrong_token.http_status == 403 and unsigned[0] == 403 and tampered[0] == 403
    reasons = [r[0] for r in _rows(store, "SELECT reason FROM requests WHERE http_status = 403 ORDER BY id")]
    assert "wrong auth token" in reasons[0]
    assert "no X-Twilio-Signature header" in reasons[1]
    assert "bodySHA256 in the URL does not match" in reasons[2]
    # only the genuine delivery landed
    assert _rows(store, "SELECT status FROM events") == [("delivered",)]


def test_a_batch_over_the_body_limit_is_refused_413_before_it_is_read(
    server: tuple[ReceiverServer, Store], fake_twilio: FakeTwilio
) -> None:
    srv, store = server
    message = _message(fake_twilio)
    event = fake_twilio.events.cloudevent(message, "sent")
    event["data"]["body"] = "x" * 1000
    batch = [{**event, "id": f"EZ{i:032x}"} for i in range(DEFAULT_MAX_BODY // 1000 + 5)]

    delivery = fake_twilio.events.post(batch, url=PUBLIC + EVENTS_PATH, via=f"127.0.0.1:{srv.port}")

    assert delivery.http_status == 413
    assert _rows(store, "SELECT COUNT(*) FROM events") == [(0,)]
    # before it is read: the answer comes while only the headers were sent (a server reading the body
    # first would wait for it until this socket times out)
    target = urlsplit(delivery.url)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(
            f"POST {target.path}?{target.query} HTTP/1.1\r\nHost: {target.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(delivery.body)}\r\n"
            f"X-Twilio-Signature: {delivery.headers['X-Twilio-Signature']}\r\n\r\n".encode()
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")


def _twilio_json_signature(token: str, url: str, body: bytes) -> tuple[str, str]:
    """Twilio's JSON-webhook scheme written out from its description (Twilio's
    https://www.twilio.com/docs/usage/webhooks/webhooks-security page and its Event Streams validation
    guides): the URL gets ``bodySHA256=<hex sha256(body)>``; the signature is
    base64(HMAC-SHA1(auth token, URL)), no params."""
    signed = url + ("&" if "?" in url else "?") + "bodySHA256=" + hashlib.sha256(body).hexdigest()
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return signed, base64.b64encode(digest).decode()


def test_twilio_published_json_vector_and_an_events_batch_signed_the_same_way_is_accepted(
    tmp_path: Path,
) -> None:
    # The published vector: twilio-python tests/unit/test_request_validator.py (test_validation_of_body
    # and its twins in twilio-node/-go): token 12345, this URL and body, this signature.
    signed, sig = _twilio_json_signature(
        "12345", "https://mycompany.com/myapp.php?foo=1&bar=2", b'{"property": "value", "boolean": true}'
    )
    assert signed.endswith("bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620")
    assert sig == "a9nBmqA0ju/hNViExpshrM61xv4="

    # the same scheme over an Event Streams delivery (the message event example of Twilio's
    # outbound-message event-type page) reaches the store
    body = json.dumps(
        [
            {
                "specversion": "1.0",
                "type": "com.twilio.messaging.message.delivered",
                "source": "AB00000000000000000000000001",
                "id": "NO00000000000000000000000001",
                "dataschema": "https://events-schemas.twilio.com/Messaging.MessageStatus/8",
                "datacontenttype": "application/json",
                "data": {
                    "messageSid": "SM" + "0" * 31 + "1",
                    "accountSid": "AC" + "0" * 31 + "1",
                    "from": "+15017122661",
                    "to": "+15558675310",
                    "messageStatus": "DELIVERED",
                    "eventName": "com.twilio.messaging.message.delivered",
                },
            }
        ]
    ).encode()
    signed, sig = _twilio_json_signature("12345", "https://mycompany.com" + EVENTS_PATH, body)
    store = Store(tmp_path / "v.db")
    try:
        client = create_app(
            store, ReceiverConfig.with_token("12345", public_url="https://mycompany.com")
        ).test_client()
        query = signed.split("?", 1)[1]
        ok = client.post(f"{EVENTS_PATH}?{query}", data=body, content_type="application/json",
                         headers={"X-Twilio-Signature": sig})  # fmt: skip
        assert ok.status_code == 200
        assert _rows(store, "SELECT sid, status FROM messages") == [("SM" + "0" * 31 + "1", "delivered")]
    finally:
        store.close()


def test_parse_batch_keeps_message_events_and_refuses_what_is_not_a_batch() -> None:
    message = sid()
    data = {"messageSid": message, "messageStatus": "FAILED", "errorCode": 30007, "to": "whatsapp:+1555"}
    batch = [
        {"id": "EZ1", "type": "com.twilio.messaging.message.failed", "data": data},
        {"id": "EZ2", "type": "com.twilio.voice.status-callback.call.completed", "data": {}},
    ]
    parsed = parse_batch(json.dumps(batch))
    [(cb, ce_id)] = parsed.events
    assert (cb.sid, cb.status, cb.error_code, cb.channel, ce_id) == (
        message,
        "failed",
        30007,
        "whatsapp",
        "EZ1",
    )
    assert parsed.ignored == 1
    for bad in ("{", "42", "[1]", '[{"type": "com.twilio.messaging.message.sent", "data": {}}]'):
        with pytest.raises(BatchError):
            parse_batch(bad)


def test_event_deliveries_are_recorded_by_the_fake(
    server: tuple[ReceiverServer, Store], fake_twilio: FakeTwilio
) -> None:
    """The fake's record of what it sent is what the tests above read (EventDelivery.body, .headers)."""
    srv, _ = server
    message = _message(fake_twilio)
    delivery = fake_twilio.events.post(
        [fake_twilio.events.cloudevent(message, "sent")],
        url=PUBLIC + EVENTS_PATH,
        via=f"127.0.0.1:{srv.port}",
    )
    assert isinstance(delivery, EventDelivery) and fake_twilio.events.state.deliveries == [delivery]
    assert delivery.url.startswith(PUBLIC + EVENTS_PATH + "?bodySHA256=")
    assert delivery.headers["Host"] == PUBLIC.removeprefix("https://")


_db_number = itertools.count()
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
_types = st.sampled_from(["com.twilio.messaging.message.sent", "com.twilio.messaging.message.x y"]) | _json
_data = st.fixed_dictionaries(
    {"messageSid": st.just(sid()) | _json},
    optional={"errorCode": _json, "to": _json, "numberOfSegments": _json, "body": _json},
)
_events = st.lists(
    st.fixed_dictionaries({"id": _json | st.text(max_size=40), "type": _types, "data": _data}), max_size=5
)


# 150 fresh databases: ~20 s alone, past the suite's 120 s per test on a machine shared by several runs
# (the timeout is there to catch a hang, not to measure speed)
@pytest.mark.timeout(900)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=_events | _json)
def test_any_signed_json_is_stored_or_refused_400_never_5xx(tmp_path: Path, batch: Any) -> None:
    store = Store(tmp_path / f"p{next(_db_number)}.db")  # a fresh database per example
    try:
        client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
        body = json.dumps(batch).encode()
        signed, sig = _twilio_json_signature(TOKEN, PUBLIC + EVENTS_PATH, body)
        resp = client.post(
            EVENTS_PATH + "?" + signed.split("?", 1)[1], data=body, content_type="application/json",
            headers={"X-Twilio-Signature": sig},
        )  # fmt: skip
        assert resp.status_code in (200, 400)
        logged = _rows(store, "SELECT http_status FROM requests")
        assert logged == [(resp.status_code,)]  # every answer has its request-log line
    finally:
        store.close()
