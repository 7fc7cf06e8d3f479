"""Wizard REST logic against the fake Twilio, through the real twilio-python client."""

from __future__ import annotations

import itertools
import socket
from typing import Any

import pytest
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from receiver.sandbox import sandbox_instructions
from receiver.sending import fetch_message, send_message
from receiver.twilio_client import (
    API_BASE_ENV,
    AccountInfo,
    Credentials,
    SetupError,
    make_client,
    verify_credentials,
)
from receiver.webhook_apply import apply_plan, restore_all
from receiver.webhook_plan import parse_overrides, plan_changes, validate_public_base
from receiver.webhook_targets import NUMBER_FIELDS, SERVICE_FIELDS, Targets, list_targets, warnings
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import CallbackSink, FakeTwilio

fake_twilio = fakes.fake_twilio  # fixtures, made visible to pytest here
callback_sink = fakes.callback_sink

PUBLIC = "https://abc.ngrok.test"


class MemoryBackupStore:
    """In-memory ``BackupStore``: the contract the real Store implements on ``webhook_backups``."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def save_backups(self, account_sid: str, items: list[dict[str, Any]]) -> list[int]:
        ids = []
        for item in items:
            row = {**item, "id": next(self._ids), "account_sid": account_sid, "created_at": "now"}
            row["restored_at"] = None
            self.rows.append(row)
            ids.append(row["id"])
        return ids

    def pending_backups(self, account_sid: str | None = None) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self.rows if r["restored_at"] is None and account_sid in (None, r["account_sid"])
        ]

    def mark_restored(self, backup_id: int) -> None:
        for row in self.rows:
            if row["id"] == backup_id:
                row["restored_at"] = "later"


def creds_for(fake: FakeTwilio) -> Credentials:
    return Credentials(fake.account_sid, fake.auth_token)


def client_for(fake: FakeTwilio) -> Client:
    return make_client(creds_for(fake), api_base=fake.base_url)


def seed(fake: FakeTwilio) -> dict[str, dict[str, Any]]:
    """A plain number with old URLs, a service with a member number, a number with a TwiML app."""
    plain = fake.add_number(
        "+15550000001",
        friendly_name="Support line",
        sms_url="https://old.example.com/sms",
        sms_method="GET",
        sms_fallback_url="",
    )
    member = fake.add_number("+15550000002")
    app = fake.add_number("+15550000003", sms_application_sid="AP" + "1" * 32)
    service = fake.add_service(
        "Alerts", inbound_request_url="https://old.example.com/in", status_callback=None
    )
    fake.add_number_to_service(service["sid"], member["sid"])
    return {"plain": plain, "member": member, "app": app, "service": service}


# --------------------------------------------------------------------------- credentials


def test_credential_format_problems_are_explained() -> None:
    assert Credentials("AC" + "a" * 32, "b" * 32).problems() == []
    assert Credentials("AC" + "a" * 32, api_key_sid="SK" + "c" * 32, api_key_secret="s3cret").problems() == []
    swapped = Credentials("SK" + "a" * 32, "b" * 32).problems()
    assert any("API key SID" in p for p in swapped)
    short = Credentials("AC123", "b" * 32).problems()
    assert any("32 hexadecimal" in p and "5 characters" in p for p in short)
    assert any("Auth Token" in p for p in Credentials("AC" + "a" * 32, "").problems())
    assert any("holds a SID" in p for p in Credentials("AC" + "a" * 32, "AC" + "a" * 30).problems())
    with pytest.raises(SetupError, match="API key SID must be"):
        Credentials("AC" + "a" * 32, api_key_sid="SKxyz", api_key_secret="s").validate()
    assert "b" * 32 not in repr(Credentials("AC" + "a" * 32, "b" * 32))


def test_verify_credentials_with_token_and_with_api_key(fake_twilio: FakeTwilio) -> None:
    info = verify_credentials(client_for(fake_twilio), creds_for(fake_twilio))
    assert info == AccountInfo(fake_twilio.account_sid, "Fake Account", "active", "Full")
    key_creds = Credentials(
        fake_twilio.account_sid,
        api_key_sid=fake_twilio.api_key_sid,
        api_key_secret=fake_twilio.api_key_secret,
    )
    key_client = make_client(key_creds, api_base=fake_twilio.base_url)
    assert verify_credentials(key_client, key_creds).sid == fake_twilio.account_sid
    assert fake_twilio.requests[-1].auth_user == fake_twilio.api_key_sid


def test_bad_credentials_give_operator_message(fake_twilio: FakeTwilio) -> None:
    bad = Credentials(fake_twilio.account_sid, "0" * 32)
    with pytest.raises(SetupError) as info:
        verify_credentials(make_client(bad, api_base=fake_twilio.base_url), bad)
    assert info.value.code == 20003 and info.value.http_status == 401
    assert "rejected the credentials" in str(info.value) and "Auth Token" in str(info.value)


def test_api_base_can_come_from_environment(fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_BASE_ENV, fake_twilio.base_url)
    client = make_client(creds_for(fake_twilio))
    assert verify_credentials(client, creds_for(fake_twilio)).sid == fake_twilio.account_sid


def test_unreachable_api_says_cannot_reach() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    creds = Credentials("AC" + "a" * 32, "b" * 32)
    client = make_client(creds, api_base=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(SetupError, match="Cannot reach Twilio's API"):
        verify_credentials(client, creds)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [(429, 20429, "rate-limiting"), (500, 20500, "internal problem \\(HTTP 500\\)")],
)
@pytest.mark.parametrize("call", ["list", "fetch"])
def test_api_errors_give_operator_message(
    fake_twilio: FakeTwilio, status: int, code: int, expected: str, call: str
) -> None:
    client = client_for(fake_twilio)
    if call == "list":  # paging errors surface differently in twilio-python than fetch errors
        fake_twilio.fail_next(r"/IncomingPhoneNumbers\.json$", status, code, "boom")
        action: Any = lambda: list_targets(client)  # noqa: E731
    else:
        fake_twilio.fail_next(rf"/Accounts/{fake_twilio.account_sid}\.json$", status, code, "boom")
        action = lambda: verify_credentials(client, creds_for(fake_twilio))  # noqa: E731
    with pytest.raises(SetupError, match=expected) as info:
        action()
    assert (info.value.http_status, info.value.code) == (status, code)
    assert f"https://www.twilio.com/docs/errors/{code}" in str(info.value)


# --------------------------------------------------------------------------- targets and plan


def test_list_targets_reports_membership_and_warnings(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    targets = list_targets(client_for(fake_twilio))
    by_sid = {n.sid: n for n in targets.numbers}
    plain, member, app = (by_sid[seeded[k]["sid"]] for k in ("plain", "member", "app"))
    (service,) = targets.services
    assert (plain.sms_url, plain.sms_method, plain.service_sid) == (
        "https://old.example.com/sms",
        "GET",
        None,
    )
    assert member.service_sid == service.sid and service.number_sids == (member.sid,)
    assert app.sms_application_sid == "AP" + "1" * 32
    assert (service.inbound_request_url, service.status_callback) == ("https://old.example.com/in", None)

    notes = warnings(targets)
    assert any("Messaging Service 'Alerts'" in n and "inbound URL" in n for n in notes[member.sid])
    assert not any("Messaging Service 'Alerts'" in n for n in notes[plain.sid])
    assert any("TwiML App" in n and "overrides" in n for n in notes[app.sid])
    assert all(
        any("no SMS status callback of their own" in n for n in notes[n_.sid]) for n_ in targets.numbers
    )
    assert any("No delivery status callback" in n for n in notes[service.sid])


def test_list_targets_follows_pages(fake_twilio: FakeTwilio) -> None:
    for i in range(60):  # the client asks for 50 per page
        fake_twilio.add_number(f"+1555100{i:04d}")
    targets = list_targets(client_for(fake_twilio))
    assert len(targets.numbers) == 60
    pages = [
        r.query.get("Page") for r in fake_twilio.requests if r.path.endswith("IncomingPhoneNumbers.json")
    ]
    assert pages == [None, "1"]


def test_plan_contents_and_no_op_fields(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    fake_twilio.state.numbers[seeded["member"]["sid"]]["sms_url"] = f"{PUBLIC}/twilio/inbound"
    targets = list_targets(client_for(fake_twilio))
    sids = [seeded["plain"]["sid"], seeded["member"]["sid"], seeded["service"]["sid"]]

    plan = plan_changes(targets, sids, PUBLIC + "/")

    got = {(c.target_sid, c.field): (c.old, c.new) for c in plan}
    plain, member, service = sids
    assert got == {
        (plain, "sms_url"): ("https://old.example.com/sms", f"{PUBLIC}/twilio/inbound"),
        (plain, "sms_method"): ("GET", "POST"),
        (plain, "sms_fallback_url"): ("", f"{PUBLIC}/twilio/fallback"),
        # member: sms_url already right, methods already POST -> only the fallback changes
        (member, "sms_fallback_url"): ("", f"{PUBLIC}/twilio/fallback"),
        (service, "inbound_request_url"): ("https://old.example.com/in", f"{PUBLIC}/twilio/inbound"),
        (service, "fallback_url"): (None, f"{PUBLIC}/twilio/fallback"),
        (service, "status_callback"): (None, f"{PUBLIC}/twilio/status"),
    }
    assert {c.target_name for c in plan if c.target_sid == plain} == {"+15550000001 (Support line)"}
    assert {c.target_kind for c in plan if c.target_sid == service} == {"messaging_service"}


def test_plan_appends_validated_connection_overrides(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    targets = list_targets(client_for(fake_twilio))
    plan = plan_changes(targets, [seeded["service"]["sid"]], PUBLIC, overrides="#rc=3&rp=ct,rt,5xx")
    assert {c.new for c in plan if c.field.endswith(("url", "callback"))} == {
        f"{PUBLIC}/twilio/inbound#rc=3&rp=ct,rt,5xx",
        f"{PUBLIC}/twilio/fallback#rc=3&rp=ct,rt,5xx",
        f"{PUBLIC}/twilio/status#rc=3&rp=ct,rt,5xx",
    }
    assert (
        parse_overrides("ct=100&tt=15000&e=ashburn,dublin&sni=off")
        == "#ct=100&tt=15000&e=ashburn,dublin&sni=off"
    )


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("rc=6", "rc must be a whole number from 0 to 5"),
        ("ct=50", "ct must be a whole number from 100 to 10000"),
        ("rt=15001", "rt must be a whole number from 100 to 15000"),
        ("rp=ct,sometimes", "unknown value"),
        ("xx=1", "Unknown connection override 'xx'"),
        ("rc=1&rc=2", "given twice"),
        ("rc", "key=value"),
    ],
)
def test_bad_connection_overrides_are_rejected(fragment: str, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        parse_overrides(fragment)


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("ftp://abc.ngrok.test", "must start with https://"),
        ("https://my_host.example.com", "underscore"),
        ("http://localhost:8080", "cannot reach localhost"),
        ("http://127.0.0.1:5000", "cannot reach 127.0.0.1"),
        ("http://192.168.1.20", "local or private"),
        ("https://abc.ngrok.test/?x=1", "must not contain"),
    ],
)
def test_unreachable_public_base_is_rejected(base: str, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        validate_public_base(base)
    with pytest.raises(SetupError, match=message):
        sandbox_instructions(base)


def test_plan_rejects_unknown_sid() -> None:
    with pytest.raises(SetupError, match="refresh the list"):
        plan_changes(Targets([], []), ["PN" + "0" * 32], PUBLIC)


# --------------------------------------------------------------------------- apply / restore


def snapshot(fake: FakeTwilio) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    keep_n, keep_s = NUMBER_FIELDS + ("sms_application_sid",), SERVICE_FIELDS
    numbers = {sid: {k: n[k] for k in keep_n} for sid, n in fake.state.numbers.items()}
    services = {sid: {k: s[k] for k in keep_s} for sid, s in fake.state.services.items()}
    return numbers, services


def test_apply_then_restore_puts_back_exact_values(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    client, store = client_for(fake_twilio), MemoryBackupStore()
    before = snapshot(fake_twilio)
    plain_sid, service_sid = seeded["plain"]["sid"], seeded["service"]["sid"]
    plan = plan_changes(list_targets(client), [plain_sid, service_sid], PUBLIC)

    result = apply_plan(client, store, fake_twilio.account_sid, plan)

    assert result.target_sids == [plain_sid, service_sid]
    assert [r["previous"] for r in store.pending_backups()] == [
        {"sms_url": "https://old.example.com/sms", "sms_method": "GET", "sms_fallback_url": ""},
        {"inbound_request_url": "https://old.example.com/in", "fallback_url": None, "status_callback": None},
    ]
    num_path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/IncomingPhoneNumbers/{plain_sid}.json"
    svc_path = f"/v1/Services/{service_sid}"
    applied_changes = [
        (
            "POST",
            num_path,
            {
                "SmsUrl": f"{PUBLIC}/twilio/inbound",
                "SmsMethod": "POST",
                "SmsFallbackUrl": f"{PUBLIC}/twilio/fallback",
            },
        ),
        (
            "POST",
            svc_path,
            {
                "InboundRequestUrl": f"{PUBLIC}/twilio/inbound",
                "FallbackUrl": f"{PUBLIC}/twilio/fallback",
                "StatusCallback": f"{PUBLIC}/twilio/status",
            },
        ),
    ]
    assert fake_twilio.changes == applied_changes
    assert fake_twilio.state.services[service_sid]["status_callback"] == f"{PUBLIC}/twilio/status"

    report = restore_all(client, store, fake_twilio.account_sid)

    assert fake_twilio.changes[2:] == [
        (
            "POST",
            svc_path,
            {"InboundRequestUrl": "https://old.example.com/in", "FallbackUrl": "", "StatusCallback": ""},
        ),
        (
            "POST",
            num_path,
            {"SmsUrl": "https://old.example.com/sms", "SmsMethod": "GET", "SmsFallbackUrl": ""},
        ),
    ]
    assert snapshot(fake_twilio) == before
    assert store.pending_backups() == []
    assert len(report) == 2 and all(line.startswith("Restored ") for line in report)
    # Idempotent: nothing pending, nothing sent.
    assert restore_all(client, store, fake_twilio.account_sid) == []
    assert len(fake_twilio.changes) == 4


def test_partial_failure_rolls_back_what_was_changed(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    client, store = client_for(fake_twilio), MemoryBackupStore()
    before = snapshot(fake_twilio)
    sids = [seeded["plain"]["sid"], seeded["member"]["sid"], seeded["service"]["sid"]]
    plan = plan_changes(list_targets(client), sids, PUBLIC)
    fake_twilio.fail_next(rf"/IncomingPhoneNumbers/{seeded['member']['sid']}\.json$", 500, method="POST")

    with pytest.raises(SetupError, match="internal problem.*Everything already changed was put back"):
        apply_plan(client, store, fake_twilio.account_sid, plan)

    assert snapshot(fake_twilio) == before
    changed_paths = [path for _, path, _ in fake_twilio.changes]
    assert len(changed_paths) == 2 and changed_paths[0] == changed_paths[1]  # plain: applied, then undone
    assert seeded["service"]["sid"] not in "".join(changed_paths)  # never reached
    assert len(store.rows) == 3 and store.pending_backups() == []


def test_restore_leaves_fields_the_operator_changed_since(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    client, store = client_for(fake_twilio), MemoryBackupStore()
    plain_sid = seeded["plain"]["sid"]
    apply_plan(
        client, store, fake_twilio.account_sid, plan_changes(list_targets(client), [plain_sid], PUBLIC)
    )
    fake_twilio.state.numbers[plain_sid]["sms_url"] = "https://operator.example.com/new"

    report = restore_all(client, store, fake_twilio.account_sid)

    number = fake_twilio.state.numbers[plain_sid]
    assert number["sms_url"] == "https://operator.example.com/new"
    assert (number["sms_method"], number["sms_fallback_url"]) == ("GET", "")
    assert fake_twilio.changes[-1][2] == {"SmsMethod": "GET", "SmsFallbackUrl": ""}
    assert any("left sms_url as it is" in line and "operator.example.com" in line for line in report)
    assert store.pending_backups() == []


def test_restore_after_crash_and_repeated_applies_returns_original(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    store = MemoryBackupStore()
    before = snapshot(fake_twilio)
    service_sid = seeded["service"]["sid"]
    first = client_for(fake_twilio)
    apply_plan(
        first, store, fake_twilio.account_sid, plan_changes(list_targets(first), [service_sid], PUBLIC)
    )
    second_url = "https://second.ngrok.test"
    apply_plan(
        first,
        store,
        fake_twilio.account_sid,
        plan_changes(list_targets(first), [service_sid], second_url),
    )
    assert len(store.pending_backups(fake_twilio.account_sid)) == 2

    after_restart = client_for(fake_twilio)  # new process: only the persisted backups remain
    restore_all(after_restart, store, fake_twilio.account_sid)

    assert snapshot(fake_twilio) == before
    assert store.pending_backups() == []


def test_restore_of_deleted_target_is_reported_and_closed(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    client, store = client_for(fake_twilio), MemoryBackupStore()
    plain_sid = seeded["plain"]["sid"]
    apply_plan(
        client, store, fake_twilio.account_sid, plan_changes(list_targets(client), [plain_sid], PUBLIC)
    )
    del fake_twilio.state.numbers[plain_sid]

    report = restore_all(client, store, fake_twilio.account_sid)

    assert report == [
        f"+15550000001 (Support line) ({plain_sid}) no longer exists on the account; nothing to restore."
    ]
    assert store.pending_backups() == []


def test_restore_failure_keeps_backup_pending(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    client, store = client_for(fake_twilio), MemoryBackupStore()
    plain_sid = seeded["plain"]["sid"]
    apply_plan(
        client, store, fake_twilio.account_sid, plan_changes(list_targets(client), [plain_sid], PUBLIC)
    )
    fake_twilio.fail_next(r"/IncomingPhoneNumbers/", 429, 20429, "Too Many Requests", method="POST")

    report = restore_all(client, store, fake_twilio.account_sid)

    assert len(report) == 1 and "not restored yet" in report[0] and "rate-limiting" in report[0]
    assert len(store.pending_backups()) == 1
    assert restore_all(client, store, fake_twilio.account_sid)[0].startswith("Restored ")


# --------------------------------------------------------------------------- sending


def test_send_message_returns_row_with_initial_status(fake_twilio: FakeTwilio) -> None:
    seeded = seed(fake_twilio)
    client = client_for(fake_twilio)

    direct = send_message(client, "+15557654321", "hello", from_="+15550000001")
    via_service = send_message(
        client, "whatsapp:+15557654321", "hi", messaging_service_sid=seeded["service"]["sid"]
    )

    assert direct == {
        "sid": direct["sid"],
        "direction": "outbound",
        "channel": "sms",
        "from_addr": "+15550000001",
        "to_addr": "+15557654321",
        "body": "hello",
        "status": "queued",
        "error_code": None,
        "messaging_service_sid": None,
        "account_sid": fake_twilio.account_sid,
        "num_segments": 1,
        "num_media": 0,
        "price": None,
        "price_unit": "USD",
    }
    assert direct["sid"].startswith("SM") and direct["sid"] in fake_twilio.state.messages
    assert (via_service["status"], via_service["channel"]) == ("accepted", "whatsapp")
    assert via_service["messaging_service_sid"] == seeded["service"]["sid"]


def test_send_message_error_gives_operator_message(fake_twilio: FakeTwilio) -> None:
    client = client_for(fake_twilio)
    with pytest.raises(SetupError, match="not a valid phone number") as info:
        send_message(client, "555", "hello", from_="+15550000001")
    assert info.value.code == 21211
    with pytest.raises(SetupError, match="choose a From number or a Messaging Service"):
        send_message(client, "+15557654321", "hello")
    fake_twilio.fail_next(r"/Messages\.json$", 400, 21610, "Attempt to send to unsubscribed recipient")
    with pytest.raises(SetupError, match="opted out"):
        send_message(client, "+15557654321", "hello", from_="+15550000001")


def test_sent_message_gets_signed_callbacks_at_its_status_callback(
    fake_twilio: FakeTwilio, callback_sink: CallbackSink
) -> None:
    client = client_for(fake_twilio)
    callback = f"{PUBLIC}/twilio/status#rc=2"
    row = send_message(client, "+15557654321", "hello", from_="+15550000001", status_callback=callback)

    fake_twilio.deliver(row["sid"], ["sent", "delivered"], via=callback_sink.resolve)

    validator = RequestValidator(fake_twilio.auth_token)
    assert [r.form["MessageStatus"] for r in callback_sink.received] == ["sent", "delivered"]
    for request in callback_sink.received:
        url = f"https://{request.headers['Host']}{request.path}"
        assert url == f"{PUBLIC}/twilio/status"
        assert validator.validate(url, request.form, request.headers["X-Twilio-Signature"])
    assert fetch_message(client, row["sid"])["status"] == "delivered"


def test_sandbox_instructions_name_both_urls() -> None:
    info = sandbox_instructions(PUBLIC + "/")
    assert (info.inbound_url, info.status_url) == (f"{PUBLIC}/twilio/inbound", f"{PUBLIC}/twilio/status")
    assert info.console_url.startswith("https://console.twilio.com/")
    text = "\n".join(info.steps)
    assert info.inbound_url in text and info.status_url in text and "+14155238886" in text
