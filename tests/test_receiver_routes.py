"""The receiver's routes through the Flask test client: answers, storage, status rules, bad input."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from receiver_helpers import PUBLIC, TOKEN, post, sid, sign, status_params

from receiver.app import EMPTY_TWIML, INBOUND_PATHS, STATUS_PATHS, ReceiverConfig, create_app
from receiver.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def config() -> ReceiverConfig:
    return ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)


@pytest.fixture
def client(store: Store, config: ReceiverConfig, events: list[dict[str, Any]]) -> Any:
    return create_app(store, config, on_event=events.append).test_client()


def db(store: Store) -> sqlite3.Connection:
    conn = sqlite3.connect(store.path)
    conn.row_factory = sqlite3.Row
    return conn


def message(store: Store, message_sid: str) -> sqlite3.Row:
    found: sqlite3.Row = db(store).execute("SELECT * FROM messages WHERE sid = ?", (message_sid,)).fetchone()
    return found


def last_request(store: Store) -> sqlite3.Row:
    found: sqlite3.Row = db(store).execute("SELECT * FROM requests ORDER BY id DESC LIMIT 1").fetchone()
    return found


@pytest.mark.parametrize("path", STATUS_PATHS)
def test_status_callback_on_every_status_path_answers_200_empty_and_is_stored(
    client: Any, store: Store, path: str
) -> None:
    s = sid()
    resp = post(client, path, status_params(s, "delivered"))
    assert resp.status_code == 200
    assert resp.data == b""
    row = message(store, s)
    assert row["status"] == "delivered" and row["direction"] == "outbound" and row["channel"] == "sms"
    assert last_request(store)["outcome"] == "accepted"


@pytest.mark.parametrize("path", INBOUND_PATHS)
def test_inbound_on_every_inbound_path_answers_empty_twiml_as_text_xml(
    client: Any, store: Store, path: str
) -> None:
    s = sid()
    params = {
        "MessageSid": s,
        "SmsStatus": "received",
        "From": "+14155552671",
        "To": "+15005550006",
        "Body": "Hello there",
        "NumMedia": "0",
        "AccountSid": "AC" + "1" * 32,
    }
    resp = post(client, path, params)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/xml")
    assert resp.data.decode() == EMPTY_TWIML
    row = message(store, s)
    assert row["direction"] == "inbound" and row["body"] == "Hello there" and row["status"] == "received"


def test_inbound_whatsapp_with_media_keeps_profile_name_and_media(client: Any, store: Store) -> None:
    s = sid("MM")
    params = {
        "MessageSid": s,
        "SmsStatus": "received",
        "From": "whatsapp:+447700900123",
        "To": "whatsapp:+14155238886",
        "Body": "photo",
        "ProfileName": "Ana",
        "WaId": "447700900123",
        "NumMedia": "2",
        "MediaUrl0": "https://api.twilio.com/m/0",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": "https://api.twilio.com/m/1",
        "MediaContentType1": "application/pdf",
    }
    assert post(client, "/api/whatsapp/incoming", params).status_code == 200
    row = message(store, s)
    assert (row["channel"], row["profile_name"], row["num_media"]) == ("whatsapp", "Ana", 2)
    media = (
        db(store)
        .execute("SELECT idx, url, content_type FROM media WHERE message_sid = ? ORDER BY idx", (s,))
        .fetchall()
    )
    assert [tuple(m) for m in media] == [
        (0, "https://api.twilio.com/m/0", "image/jpeg"),
        (1, "https://api.twilio.com/m/1", "application/pdf"),
    ]


def test_channel_taken_from_payload(client: Any, store: Store) -> None:
    wa, mms, sms = sid(), sid("MM"), sid()
    post(
        client,
        "/twilio/status",
        status_params(
            wa, "sent", From="whatsapp:+14155238886", To="whatsapp:+15551234567", ChannelPrefix="whatsapp"
        ),
    )
    post(client, "/twilio/status", status_params(mms, "sent", NumMedia="1"))
    post(client, "/twilio/status", status_params(sms, "sent"))
    assert [message(store, x)["channel"] for x in (wa, mms, sms)] == ["whatsapp", "mms", "sms"]


def test_health(client: Any) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json["ok"] is True


# ------------------------------------------------------------------ status rules
def statuses_of(store: Store, s: str) -> list[str]:
    return [
        r[0] for r in db(store).execute("SELECT status FROM events WHERE message_sid = ? ORDER BY id", (s,))
    ]


def test_late_sent_after_delivered_keeps_delivered_and_history(client: Any, store: Store) -> None:
    s = sid()
    post(client, "/twilio/status", status_params(s, "delivered", RawDlrDoneDate="2611210533"))
    post(client, "/twilio/status", status_params(s, "sent"))
    row = message(store, s)
    assert row["status"] == "delivered"
    assert row["raw_dlr_done_date"] == "2611210533"
    assert statuses_of(store, s) == ["delivered", "sent"]


def test_read_beats_late_delivered(client: Any, store: Store) -> None:
    s = sid()
    wa = {"From": "whatsapp:+14155238886", "To": "whatsapp:+15551234567"}
    post(client, "/twilio/status", status_params(s, "read", EventType="READ", **wa))
    post(client, "/twilio/status", status_params(s, "delivered", **wa))
    assert message(store, s)["status"] == "read"
    assert statuses_of(store, s) == ["read", "delivered"]


def test_terminal_clash_rule_delivered_beats_failed_in_either_order(client: Any, store: Store) -> None:
    a, b = sid(), sid()
    post(client, "/twilio/status", status_params(a, "failed", ErrorCode="30008"))
    post(client, "/twilio/status", status_params(a, "delivered"))
    post(client, "/twilio/status", status_params(b, "delivered"))
    post(client, "/twilio/status", status_params(b, "failed", ErrorCode="30008"))
    assert message(store, a)["status"] == message(store, b)["status"] == "delivered"
    assert message(store, a)["error_code"] is None


def test_failed_keeps_error_code_and_channel_status_message(client: Any, store: Store) -> None:
    s = sid()
    post(
        client,
        "/twilio/status",
        status_params(s, "undelivered", ErrorCode="30003", ChannelStatusMessage="Unreachable handset"),
    )
    post(client, "/twilio/status", status_params(s, "sent"))
    row = message(store, s)
    assert (row["status"], row["error_code"], row["channel_status_message"]) == (
        "undelivered",
        30003,
        "Unreachable handset",
    )


def test_unknown_status_is_stored_as_it_came_and_never_replaces_a_known_one(
    client: Any, store: Store
) -> None:
    s, t = sid(), sid()
    assert post(client, "/twilio/status", status_params(s, "teleported")).status_code == 200
    assert message(store, s)["status"] == "teleported"
    assert message(store, s)["status_rank"] == 0
    post(client, "/twilio/status", status_params(t, "sent"))
    post(client, "/twilio/status", status_params(t, "teleported"))
    assert message(store, t)["status"] == "sent"
    assert statuses_of(store, t) == ["sent", "teleported"]


def test_early_callback_creates_message_then_api_knowledge_merges(client: Any, store: Store) -> None:
    s = sid()
    post(client, "/twilio/status", status_params(s, "sent", MessagingServiceSid="MG" + "2" * 32))
    row = message(store, s)
    assert (
        row["source"] == "callback"
        and row["body"] is None
        and row["messaging_service_sid"] == "MG" + "2" * 32
    )
    store.record_outbound(
        {
            "sid": s,
            "status": "queued",
            "body": "Your code is 1234",
            "price": "-0.0079",
            "price_unit": "USD",
            "to_addr": "+14155552671",
        }
    )
    row = message(store, s)
    assert row["body"] == "Your code is 1234" and row["price"] == "-0.0079"
    assert row["status"] == "sent"  # the API's initial 'queued' does not move it back


def test_unknown_fields_are_kept_in_the_raw_payload(client: Any, store: Store) -> None:
    s = sid()
    post(
        client,
        "/twilio/status",
        status_params(s, "sent", BrandNewTwilioField="42", StructuredMessage="false"),
    )
    payload = json.loads(
        db(store).execute("SELECT payload FROM events WHERE message_sid = ?", (s,)).fetchone()[0]
    )
    assert payload["BrandNewTwilioField"] == "42" and payload["StructuredMessage"] == "false"


# ------------------------------------------------------------------ duplicates
def test_same_idempotency_token_same_message_and_status_is_stored_once(
    client: Any, store: Store, events: list[dict[str, Any]]
) -> None:
    s = sid()
    headers = {"I-Twilio-Idempotency-Token": "retry-token-1"}
    first = post(client, "/twilio/status", status_params(s, "sent"), headers=headers)
    retry = post(client, "/twilio/status", status_params(s, "sent"), headers=headers)  # Twilio's retry
    assert first.status_code == retry.status_code == 200
    assert statuses_of(store, s) == ["sent"]
    assert [e["outcome"] for e in events] == ["accepted", "duplicate"]
    assert last_request(store)["outcome"] == "duplicate"


def test_reused_idempotency_token_with_another_status_or_message_is_stored(
    client: Any, store: Store, events: list[dict[str, Any]]
) -> None:
    """``twilio webhook:invoke`` sends the same token with every webhook: each distinct one is kept."""
    first, second = sid(), sid()
    headers = {"I-Twilio-Idempotency-Token": "same-token-every-time"}
    for s, status in ((first, "sent"), (first, "delivered"), (second, "sent")):
        assert post(client, "/twilio/status", status_params(s, status), headers=headers).status_code == 200
    assert statuses_of(store, first) == ["sent", "delivered"]
    assert statuses_of(store, second) == ["sent"]
    assert message(store, first)["status"] == "delivered"
    assert [e["outcome"] for e in events] == ["accepted"] * 3


def test_same_sid_status_eventtype_without_token_is_a_duplicate(client: Any, store: Store) -> None:
    s = sid()
    post(client, "/twilio/status", status_params(s, "read", EventType="READ"))
    post(client, "/twilio/status", status_params(s, "read", EventType="READ"))
    post(client, "/twilio/status", status_params(s, "delivered", EventType="DELIVERED"))
    post(client, "/twilio/status", status_params(s, "delivered"))
    assert statuses_of(store, s) == ["read", "delivered", "delivered"]
    assert message(store, s)["event_count"] == 3


# ------------------------------------------------------------------ signatures
def test_unsigned_request_is_403_with_diagnosis_and_logged(client: Any, store: Store) -> None:
    s = sid()
    resp = client.post("/twilio/status", data=status_params(s, "sent"))
    assert resp.status_code == 403
    row = last_request(store)
    assert (row["outcome"], row["http_status"]) == ("rejected", 403)
    assert "no X-Twilio-Signature header" in row["reason"]
    assert message(store, s) is None


def test_signature_over_http_when_public_url_is_https_is_diagnosed(client: Any, store: Store) -> None:
    params = status_params(sid(), "sent")
    http_url = PUBLIC.replace("https://", "http://") + "/twilio/status"
    resp = client.post("/twilio/status", data=params, headers={"X-Twilio-Signature": sign(http_url, params)})
    assert resp.status_code == 403
    assert "signature matches http:// but the public URL is https://" in last_request(store)["reason"]


def test_signed_for_public_url_behind_tunnel_validates_although_flask_sees_localhost(store: Store) -> None:
    app = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC + "/"))
    params = status_params(sid(), "sent")
    resp = app.test_client().post(
        "/twilio/status",
        data=params,
        base_url="http://127.0.0.1:5000",
        headers={
            "X-Twilio-Signature": sign(PUBLIC + "/twilio/status", params),
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "54.1.2.3",
        },
    )
    assert resp.status_code == 200


def test_wrong_token_is_rejected(client: Any, store: Store) -> None:
    resp = post(client, "/twilio/status", status_params(sid(), "sent"), token="f" * 32)
    assert resp.status_code == 403
    assert "wrong auth token" in last_request(store)["reason"]


def test_query_string_is_part_of_the_signed_url_and_fragment_is_not(client: Any) -> None:
    params = status_params(sid(), "sent")
    # Twilio was configured with .../twilio/status?tenant=a#rc=2 : it signs the URL without the fragment
    assert post(client, "/twilio/status", params, query="tenant=a").status_code == 200
    url = PUBLIC + "/twilio/status?tenant=a"
    resp = client.post(
        "/twilio/status?tenant=b", data=params, headers={"X-Twilio-Signature": sign(url, params)}
    )
    assert resp.status_code == 403


def test_no_token_configured_rejects_with_reason(store: Store) -> None:
    client = create_app(store, ReceiverConfig.with_token(None, public_url=PUBLIC)).test_client()
    resp = post(client, "/twilio/status", status_params(sid(), "sent"))
    assert resp.status_code == 403
    assert "no auth token configured" in last_request(store)["reason"]


def test_validation_off_accepts_unsigned_and_says_so_in_the_log(store: Store) -> None:
    client = create_app(store, ReceiverConfig.with_token(None, validate=False)).test_client()
    resp = client.post("/twilio/status", data=status_params(sid(), "sent"))
    assert resp.status_code == 200
    assert last_request(store)["reason"] == "signature validation is OFF"


def test_token_rotation_is_picked_up_without_restart(store: Store) -> None:
    current = {"token": TOKEN}
    client = create_app(
        store, ReceiverConfig(public_url=PUBLIC, auth_token=lambda: current["token"])
    ).test_client()
    assert post(client, "/twilio/status", status_params(sid(), "sent")).status_code == 200
    current["token"] = "e" * 32
    assert post(client, "/twilio/status", status_params(sid(), "sent")).status_code == 403
    assert post(client, "/twilio/status", status_params(sid(), "sent"), token="e" * 32).status_code == 200


def test_signed_json_body_with_bodysha256_is_accepted(client: Any, store: Store) -> None:
    import hashlib

    s = sid()
    body = json.dumps({"MessageSid": s, "MessageStatus": "delivered"})
    query = "bodySHA256=" + hashlib.sha256(body.encode()).hexdigest()
    url = PUBLIC + "/twilio/status?" + query
    resp = client.post(
        "/twilio/status?" + query,
        data=body,
        content_type="application/json",
        headers={"X-Twilio-Signature": sign(url, {})},
    )
    assert resp.status_code == 200
    assert message(store, s)["status"] == "delivered"


# ------------------------------------------------------------------ bad input
def test_missing_message_sid_is_400(client: Any, store: Store) -> None:
    params = status_params(sid(), "sent")
    del params["MessageSid"], params["SmsSid"]
    assert post(client, "/twilio/status", params).status_code == 400
    assert last_request(store)["reason"] == "missing MessageSid"


def test_missing_message_status_is_400(client: Any, store: Store) -> None:
    params = status_params(sid(), "sent")
    del params["MessageStatus"], params["SmsStatus"]
    assert post(client, "/twilio/status", params).status_code == 400
    assert last_request(store)["reason"] == "missing MessageStatus"


def test_other_content_type_is_415(client: Any, store: Store) -> None:
    resp = client.post(
        "/twilio/status", data="MessageSid=x", content_type="text/plain", headers={"X-Twilio-Signature": "x"}
    )
    assert resp.status_code == 415
    assert "expected application/x-www-form-urlencoded" in last_request(store)["reason"]


def test_json_without_bodysha256_is_415(client: Any) -> None:
    assert client.post("/twilio/status", json={"MessageSid": sid()}).status_code == 415


def test_oversized_body_is_413_and_logged(store: Store) -> None:
    client = create_app(
        store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC, max_body=1024)
    ).test_client()
    params = status_params(sid(), "sent", Body="x" * 2000)
    resp = post(client, "/twilio/status", params)
    assert resp.status_code == 413
    row = last_request(store)
    assert row["outcome"] == "rejected" and "limit" in row["reason"]


def test_undecodable_bytes_are_400(client: Any, store: Store) -> None:
    resp = client.post(
        "/twilio/status",
        data=b"MessageSid=\xff\xfe&MessageStatus=sent",
        content_type="application/x-www-form-urlencoded",
    )
    assert resp.status_code == 400
    resp = client.post(
        "/twilio/status",
        data=b"MessageSid=%ff%fe&MessageStatus=sent",
        content_type="application/x-www-form-urlencoded",
    )
    assert resp.status_code == 400
    assert "UTF-8" in last_request(store)["reason"]


def test_get_on_webhook_is_405_and_unknown_path_404(client: Any, store: Store) -> None:
    assert client.get("/twilio/status").status_code == 405
    assert client.post("/nope").status_code == 404
    assert [r[0] for r in db(store).execute("SELECT http_status FROM requests ORDER BY id")] == [405, 404]


def test_inbound_rejection_still_answers_twiml_never_plain_text(client: Any) -> None:
    resp = client.post("/twilio/inbound", data={"MessageSid": sid()})
    assert resp.status_code == 403
    assert resp.headers["Content-Type"].startswith("text/xml")


def test_non_webhook_paths_are_not_served_through_the_tunnel(client: Any, store: Store) -> None:
    assert client.get("/healthz", headers={"X-Forwarded-For": "54.1.2.3"}).status_code == 404
    assert "tunnel" in last_request(store)["reason"]


def test_bad_requests_never_cost_a_good_callback(client: Any, store: Store) -> None:
    good = sid()
    client.post("/twilio/status", data=b"\xff" * 100, content_type="application/x-www-form-urlencoded")
    client.post("/twilio/status", data={"MessageSid": good, "MessageStatus": "delivered"})  # unsigned
    assert post(client, "/twilio/status", status_params(good, "delivered")).status_code == 200
    assert message(store, good)["status"] == "delivered"


def test_request_log_redacts_authorization_and_keeps_headers(client: Any, store: Store) -> None:
    post(client, "/twilio/status", status_params(sid(), "sent"), headers={"Authorization": "Basic c2VjcmV0"})
    headers = json.loads(last_request(store)["headers"])
    assert headers["Authorization"] == "[redacted]"
    assert "X-Twilio-Signature" in headers


def test_on_event_reports_after_commit(client: Any, store: Store, events: list[dict[str, Any]]) -> None:
    s = sid()
    seen: list[str | None] = []
    app = create_app(
        store,
        ReceiverConfig.with_token(TOKEN, public_url=PUBLIC),
        on_event=lambda e: seen.append(message(store, e["message_sid"])["status"]),
    )
    post(app.test_client(), "/twilio/status", status_params(s, "delivered"))
    assert seen == ["delivered"]  # the row was readable from another connection when the event fired


def test_stats_count_requests_per_minute_and_rejections(store: Store) -> None:
    from receiver.app import ReceiverStats

    stats = ReceiverStats()
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC), stats=stats).test_client()
    post(client, "/twilio/status", status_params(sid(), "sent"))
    client.post("/twilio/status", data=status_params(sid(), "sent"))  # unsigned
    assert (stats.total, stats.rejected, stats.per_minute()) == (2, 1, 2)
    stats.recent[0] -= 120  # an old arrival drops out of the one-minute window
    assert stats.per_minute() == 1
