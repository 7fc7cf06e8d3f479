"""The fake Twilio must look like Twilio where the app depends on it: shapes, auth, errors, callbacks.

Shapes are checked against the OpenAPI specs in ../shared/reference, so the fake cannot drift into
field names the real API does not have.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
from twilio.request_validator import RequestValidator

from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import CallbackSink, FakeTwilio

# Fixtures, made visible to pytest in this module.
fake_twilio = fakes.fake_twilio
callback_sink = fakes.callback_sink

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"


@cache
def spec(name: str) -> dict[str, Any]:
    return json.loads((REFERENCE / name).read_text())  # type: ignore[no-any-return]


def schema_props(spec_name: str, schema: str) -> set[str]:
    return set(spec(spec_name)["components"]["schemas"][schema]["properties"])


def list_envelope_props(spec_name: str, path: str) -> set[str]:
    op = spec(spec_name)["paths"][path]["get"]
    return set(op["responses"]["200"]["content"]["application/json"]["schema"]["properties"])


def get(fake: FakeTwilio, path: str, auth: tuple[str, str] | None = None, **params: Any) -> requests.Response:
    return requests.get(
        fake.base_url + path, params=params, auth=auth or (fake.account_sid, fake.auth_token), timeout=5
    )


def post(fake: FakeTwilio, path: str, data: dict[str, str]) -> requests.Response:
    return requests.post(fake.base_url + path, data=data, auth=(fake.account_sid, fake.auth_token), timeout=5)


def test_bad_credentials_get_401_with_twilio_error_body(fake_twilio: FakeTwilio) -> None:
    r = get(
        fake_twilio,
        f"/2010-04-01/Accounts/{fake_twilio.account_sid}.json",
        auth=(fake_twilio.account_sid, "x"),
    )
    assert r.status_code == 401
    assert r.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert "Basic" in r.headers["WWW-Authenticate"]


def test_api_key_and_auth_token_both_authenticate(fake_twilio: FakeTwilio) -> None:
    path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}.json"
    with_key = get(fake_twilio, path, auth=(fake_twilio.api_key_sid, fake_twilio.api_key_secret))
    with_token = get(fake_twilio, path)
    assert with_key.status_code == with_token.status_code == 200
    assert set(with_key.json()) <= schema_props("twilio_api_v2010.json", "api.v2010.account")
    assert with_key.json()["sid"] == fake_twilio.account_sid
    assert fake_twilio.requests[0].auth_user == fake_twilio.api_key_sid


def test_number_list_pages_with_2010_envelope(fake_twilio: FakeTwilio) -> None:
    for i in range(3):
        fake_twilio.add_number(f"+1555000000{i}")
    path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/IncomingPhoneNumbers.json"
    first = get(fake_twilio, path, PageSize=2).json()
    assert set(first) == list_envelope_props(
        "twilio_api_v2010.json", "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"
    )
    assert (first["page"], first["page_size"], len(first["incoming_phone_numbers"])) == (0, 2, 2)
    assert first["next_page_uri"].startswith(path) and "Page=1" in first["next_page_uri"]
    number_props = schema_props("twilio_api_v2010.json", "api.v2010.account.incoming_phone_number")
    assert set(first["incoming_phone_numbers"][0]) <= number_props
    second = requests.get(
        fake_twilio.base_url + first["next_page_uri"],
        auth=(fake_twilio.account_sid, fake_twilio.auth_token),
        timeout=5,
    ).json()
    assert [n["phone_number"] for n in second["incoming_phone_numbers"]] == ["+15550000002"]
    assert second["next_page_uri"] is None


def test_services_and_members_use_v1_meta_envelope(fake_twilio: FakeTwilio) -> None:
    service = fake_twilio.add_service("Main")
    number = fake_twilio.add_number("+15550000001")
    fake_twilio.add_number_to_service(service["sid"], number["sid"])
    services = get(fake_twilio, "/v1/Services").json()
    assert services["meta"]["key"] == "services" and services["meta"]["next_page_url"] is None
    assert set(services["services"][0]) <= schema_props("twilio_messaging_v1.json", "messaging.v1.service")
    members = get(fake_twilio, f"/v1/Services/{service['sid']}/PhoneNumbers").json()
    assert members["meta"]["key"] == "phone_numbers"
    assert [m["sid"] for m in members["phone_numbers"]] == [number["sid"]]
    assert set(members["phone_numbers"][0]) <= schema_props(
        "twilio_messaging_v1.json", "messaging.v1.service.phone_number"
    )


def test_updates_are_recorded_and_cleared_service_urls_become_null(fake_twilio: FakeTwilio) -> None:
    service = fake_twilio.add_service("Main", fallback_url="https://old.example.com/fb")
    number = fake_twilio.add_number("+15550000001")
    num_path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/IncomingPhoneNumbers/{number['sid']}.json"
    assert post(fake_twilio, num_path, {"SmsUrl": "https://x.example.com/in", "SmsFallbackUrl": ""}).ok
    svc_path = f"/v1/Services/{service['sid']}"
    updated = post(fake_twilio, svc_path, {"FallbackUrl": "", "UseInboundWebhookOnNumber": "true"}).json()
    assert updated["fallback_url"] is None and updated["use_inbound_webhook_on_number"] is True
    assert fake_twilio.state.numbers[number["sid"]]["sms_url"] == "https://x.example.com/in"
    assert fake_twilio.changes == [
        ("POST", num_path, {"SmsUrl": "https://x.example.com/in", "SmsFallbackUrl": ""}),
        ("POST", svc_path, {"FallbackUrl": "", "UseInboundWebhookOnNumber": "true"}),
    ]


def test_fail_next_answers_once_with_the_given_error(fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next(r"/Services$", 429, 20429, "Too Many Requests")
    first = get(fake_twilio, "/v1/Services")
    second = get(fake_twilio, "/v1/Services")
    assert first.status_code == 429
    assert first.json()["code"] == 20429 and first.json()["status"] == 429
    assert second.status_code == 200


def test_message_create_initial_status_and_validation(fake_twilio: FakeTwilio) -> None:
    service = fake_twilio.add_service("Main")
    path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    direct = post(fake_twilio, path, {"To": "+15550001111", "From": "+15550002222", "Body": "a"})
    via_service = post(
        fake_twilio, path, {"To": "+15550001111", "MessagingServiceSid": service["sid"], "Body": "b"}
    )
    bad_to = post(fake_twilio, path, {"To": "12", "From": "+15550002222", "Body": "c"})
    no_sender = post(fake_twilio, path, {"To": "+15550001111", "Body": "d"})
    assert (direct.status_code, direct.json()["status"]) == (201, "queued")
    assert via_service.json()["status"] == "accepted"
    assert via_service.json()["messaging_service_sid"] == service["sid"]
    assert set(direct.json()) <= schema_props("twilio_api_v2010.json", "api.v2010.account.message")
    assert (bad_to.status_code, bad_to.json()["code"]) == (400, 21211)
    assert no_sender.json()["code"] == 21603
    fetched = get(
        fake_twilio, f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages/{direct.json()['sid']}.json"
    )
    assert fetched.json()["body"] == "a"


def test_deliver_signs_over_public_url_without_fragment(
    fake_twilio: FakeTwilio, callback_sink: CallbackSink
) -> None:
    public = "https://abc.ngrok.test/twilio/status?tag=x1#rc=3&rp=ct,rt"
    path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    sid = post(
        fake_twilio,
        path,
        {"To": "+15550001111", "From": "+15550002222", "Body": "a", "StatusCallback": public},
    )
    sid = sid.json()["sid"]

    deliveries = fake_twilio.deliver(sid, ["sent", "delivered"], via=callback_sink.resolve)

    assert [d.http_status for d in deliveries] == [204, 204]
    got = callback_sink.received
    assert [r.form["MessageStatus"] for r in got] == ["sent", "delivered"]
    validator = RequestValidator(fake_twilio.auth_token)
    for request in got:
        assert request.path == "/twilio/status?tag=x1"
        assert request.headers["Host"] == "abc.ngrok.test"
        url = f"https://{request.headers['Host']}{request.path}"
        assert validator.validate(url, request.form, request.headers["X-Twilio-Signature"])
        assert not validator.validate(public, request.form, request.headers["X-Twilio-Signature"])
        assert request.form["MessageSid"] == request.form["SmsSid"] == sid
    assert got[0].headers["I-Twilio-Idempotency-Token"] != got[1].headers["I-Twilio-Idempotency-Token"]
    assert "RawDlrDoneDate" in got[1].form and "RawDlrDoneDate" not in got[0].form
    fetched = get(fake_twilio, f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages/{sid}.json").json()
    assert fetched["status"] == "delivered" and fetched["price"] is not None


def test_deliver_falls_back_to_service_callback_and_reports_errors(
    fake_twilio: FakeTwilio, callback_sink: CallbackSink
) -> None:
    service = fake_twilio.add_service("Main", status_callback="https://svc.example.test/twilio/status")
    member = fake_twilio.add_number("+15550009999")
    fake_twilio.add_number_to_service(service["sid"], member["sid"])
    path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    sid = post(fake_twilio, path, {"To": "+15550001111", "MessagingServiceSid": service["sid"], "Body": "b"})
    sid = sid.json()["sid"]

    fake_twilio.deliver(sid, ["undelivered"], via=f"127.0.0.1:{callback_sink.port}", error_code=30005)

    (request,) = callback_sink.received
    assert request.headers["Host"] == "svc.example.test"
    assert request.form["MessagingServiceSid"] == service["sid"]
    assert request.form["From"] == "+15550009999"
    assert request.form["ErrorCode"] == "30005"
    assert RequestValidator(fake_twilio.auth_token).validate(
        "https://svc.example.test/twilio/status", request.form, request.headers["X-Twilio-Signature"]
    )


def test_credentials_in_a_callback_url_go_as_basic_auth_and_stay_out_of_the_host(
    fake_twilio: FakeTwilio, callback_sink: CallbackSink
) -> None:
    """Twilio sends a webhook URL's ``user:password@`` as HTTP Basic auth (form and JSON webhooks alike:
    one sending helper, tests/fakes/twilio_http.py)."""
    public = "https://twilio:pa55word@abc.ngrok.test/twilio/status"
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "sent"}

    delivery = fake_twilio.post_callback(public, params, via=callback_sink.resolve)

    assert delivery.http_status == 204
    (request,) = callback_sink.received
    assert request.headers["Host"] == "abc.ngrok.test"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"twilio:pa55word").decode()
    assert RequestValidator(fake_twilio.auth_token).validate(
        public, params, request.headers["X-Twilio-Signature"]
    )


def test_deliver_without_any_callback_url_is_an_error(fake_twilio: FakeTwilio) -> None:
    path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    sid = post(fake_twilio, path, {"To": "+15550001111", "From": "+15550002222", "Body": "a"}).json()["sid"]
    with pytest.raises(ValueError, match="no status callback URL"):
        fake_twilio.deliver(sid)
