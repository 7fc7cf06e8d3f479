"""The receiver's request rules, tried the way they were broken (issue #8): credentials in the public URL,
diagnoses sent to strangers, numbers past 64 bits, path look-alikes, proxies hiding behind other headers, the
public demo token, shared-key signatures, and rejected requests that lose their Message SID."""

from __future__ import annotations

import http.client
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from twilio.request_validator import HMAC_SHA256, SIGNATURE_SETTINGS_HEADER, RequestValidator

from receiver.app import EMPTY_TWIML, ReceiverConfig, create_app
from receiver.server import ReceiverServer
from receiver.simulate_plan import DEMO_AUTH_TOKEN
from receiver.store import Store
from tests.receiver_helpers import FORM, PUBLIC, TOKEN, post, request_detail, sid, sign, status_params


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "rules.db") as s:
        yield s


def rows(store: Store, sql: str, *args: Any) -> list[sqlite3.Row]:
    conn = sqlite3.connect(store.path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def last_request(store: Store) -> sqlite3.Row:
    return rows(store, "SELECT * FROM requests ORDER BY id DESC LIMIT 1")[0]


REMOTE = {"REMOTE_ADDR": "203.0.113.9"}  # a caller on another computer


# ------------------------------------------------------------------- numbers past SQLite's INTEGER


@pytest.mark.parametrize(
    "field", ["ErrorCode", "NumSegments", "NumMedia"], ids=["ErrorCode", "NumSegments", "NumMedia"]
)
@pytest.mark.parametrize("value", [str(2**63), str(2**64 + 5), "-9223372036854775809", "9" * 400])
def test_out_of_range_numbers_on_a_status_callback_are_stored_not_a_500(
    store: Store, field: str, value: str
) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    s = sid()
    resp = post(client, "/twilio/status", status_params(s, "undelivered", **{field: value}))
    assert resp.status_code == 200
    msg = rows(store, "SELECT error_code, num_segments, num_media FROM messages WHERE sid = ?", s)[0]
    assert (msg["error_code"], msg["num_segments"], msg["num_media"]) == (None, None, 0)
    payload = json.loads(rows(store, "SELECT payload FROM events WHERE message_sid = ?", s)[0]["payload"])
    assert payload[field] == value  # what Twilio sent is kept as text


def test_out_of_range_numbers_on_an_inbound_message_still_answer_twiml(store: Store) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    s = sid()
    params = {
        "MessageSid": s,
        "SmsStatus": "received",
        "From": "+15005550006",
        "To": "+14155552671",
        "Body": "hi",
        "NumMedia": str(2**63),
        "NumSegments": str(2**63),
        "ErrorCode": str(2**63),
    }
    resp = post(client, "/twilio/inbound", params)
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/xml") and resp.data.decode() == EMPTY_TWIML
    assert rows(store, "SELECT body FROM messages WHERE sid = ?", s)[0]["body"] == "hi"


# ------------------------------------------------------------------- diagnoses and credentials


def test_a_403_to_a_remote_caller_says_only_forbidden_while_the_log_keeps_the_diagnosis(store: Store) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    resp = post(client, "/twilio/status", status_params(sid(), "sent"), token="f" * 32, environ_base=REMOTE)
    assert resp.status_code == 403
    assert resp.data == b"Forbidden\n"
    assert (
        "signature does not match https://abc123.ngrok-free.app/twilio/status"
        in last_request(store)["reason"]
    )


def test_a_403_through_the_tunnel_says_only_forbidden(store: Store) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    headers = {"X-Forwarded-For": "54.1.2.3", "X-Forwarded-Proto": "https"}
    resp = post(client, "/twilio/status", status_params(sid(), "sent"), token="f" * 32, headers=headers)
    assert resp.status_code == 403 and resp.data == b"Forbidden\n"


def test_a_local_caller_still_reads_the_diagnosis(store: Store) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    resp = post(client, "/twilio/status", status_params(sid(), "sent"), token="f" * 32)
    assert resp.status_code == 403 and b"wrong auth token" in resp.data


USER, PASSWORD = "twilio", "pa55-w0rd-s3cret"
CRED_PUBLIC = f"https://{USER}:{PASSWORD}@abc123.ngrok-free.app"


def _basic(user: str = USER, password: str = PASSWORD) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_public_url_credentials_are_never_shown_and_are_required_as_basic_auth(store: Store) -> None:
    config = ReceiverConfig.with_token(TOKEN, public_url=CRED_PUBLIC)
    assert config.public_url == "https://abc123.ngrok-free.app" and PASSWORD not in repr(config)
    client = create_app(store, config).test_client()
    s = sid()
    params = status_params(s, "delivered")
    # Twilio signs the URL as configured, credentials included (twilio-node's validation vectors)
    signed = {"X-Twilio-Signature": sign(CRED_PUBLIC + "/twilio/status", params)}
    tunnel = {"X-Forwarded-For": "54.1.2.3", "X-Forwarded-Proto": "https"}

    first = client.post("/twilio/status", data=urlencode(params), content_type=FORM, headers=signed | tunnel)
    assert first.status_code == 401  # Twilio's first attempt carries no credentials
    assert first.headers["WWW-Authenticate"].startswith("Basic ")
    wrong = signed | tunnel | {"Authorization": _basic(password="guess")}
    assert (
        client.post("/twilio/status", data=urlencode(params), content_type=FORM, headers=wrong).status_code
        == 401
    )
    good = signed | tunnel | {"Authorization": _basic()}
    assert (
        client.post("/twilio/status", data=urlencode(params), content_type=FORM, headers=good).status_code
        == 200
    )
    assert rows(store, "SELECT status FROM messages WHERE sid = ?", s)[0]["status"] == "delivered"


def _everything_in(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_public_url_password_reaches_no_answer_health_log_database_or_export(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The way it was found: ``serve --public-url https://user:pass@host``, a forged callback from
    outside, /healthz, then every file the receiver wrote and the CLI export."""
    import logging

    from receiver import cli

    caplog.set_level(logging.INFO)
    data = tmp_path / "data"
    data.mkdir()
    with Store(data / "s.db") as store:
        app = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=CRED_PUBLIC))
        server = ReceiverServer(app)
        server.start()
        try:
            answers = []
            for extra in ({}, {"Authorization": _basic()}):
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                headers = {"Content-Type": FORM, "X-Twilio-Signature": "bad", "X-Forwarded-For": "54.1.2.3"}
                conn.request(
                    "POST", "/twilio/status", urlencode(status_params(sid(), "sent")), headers | extra
                )
                resp = conn.getresponse()
                answers.append((resp.status, resp.read() + str(resp.headers).encode()))
                conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            health = resp.read()
            conn.close()
        finally:
            server.stop()
    assert [code for code, _ in answers] == [401, 403]
    assert json.loads(health)["public_url"] == "https://abc123.ngrok-free.app"
    out = tmp_path / "export.csv"
    with out.open("w") as fh:
        for what in ("requests", "messages", "events"):
            assert (
                cli.export(
                    cli._parser().parse_args(
                        ["export", "--db", str(data / "s.db"), "--what", what, "--format", "csv"]
                    ),
                    fh,
                )
                == 0
            )
    secret = PASSWORD.encode()
    assert all(secret not in body for _, body in answers)
    assert secret not in health
    assert secret not in _everything_in(data)  # database, WAL, lock file
    assert secret not in out.read_bytes()
    assert PASSWORD not in caplog.text
    assert "signature does not match https://abc123.ngrok-free.app" in caplog.text  # the diagnosis is logged


@pytest.mark.parametrize(
    "header",
    ["X-Api-Key", "X-Auth-Token", "Cookie", "Set-Cookie", "Proxy-Authorization", "X-Client-Secret",
     "Authorization", "X-Session-Id", "Api_Key"],
)  # fmt: skip
def test_credential_headers_are_stored_redacted(store: Store, header: str) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    post(client, "/twilio/status", status_params(sid(), "sent"), headers={header: "hunter2-value"})
    raw = last_request(store)
    assert "hunter2-value" not in raw["headers"]
    # the idempotency token lives in the event row and is put back for the inspector and replay
    full = request_detail(store.path, raw["id"])
    assert full is not None
    stored = json.loads(full["headers"])
    assert stored["X-Twilio-Signature"] != "[redacted]"  # replay needs Twilio's own headers
    assert stored["I-Twilio-Idempotency-Token"] != "[redacted]"


# ------------------------------------------------------------------- exact webhook paths


@pytest.fixture
def server(store: Store) -> Iterator[ReceiverServer]:
    srv = ReceiverServer(create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)))
    srv.start()
    yield srv
    srv.stop()


def raw_post(port: int, target: str, params: dict[str, str], headers: dict[str, str] | None = None) -> int:
    """POST ``target`` exactly as written (http.client sends it unchanged), signed for the real webhook."""
    hdrs = {"Content-Type": FORM, "X-Twilio-Signature": sign(PUBLIC + "/twilio/status", params)}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", target, body=urlencode(params), headers=hdrs | (headers or {}))
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.mark.parametrize(
    "target",
    ["//twilio/status", "///twilio/status", "/twilio%2fstatus", "/twilio%2Fstatus", "/%74wilio/status",
     "/twilio/status/", "/Twilio/Status", "/TWILIO/STATUS", "http://127.0.0.1//twilio/status"],
)  # fmt: skip
def test_only_the_exact_webhook_path_is_the_webhook(
    server: ReceiverServer, store: Store, target: str
) -> None:
    s = sid()
    assert raw_post(server.port, target, status_params(s, "delivered")) == 404
    assert rows(store, "SELECT * FROM messages WHERE sid = ?", s) == []
    assert last_request(store)["path"] == target.removeprefix("http://127.0.0.1")  # stored as sent


def test_the_exact_path_still_works_in_both_request_forms(server: ReceiverServer) -> None:
    assert raw_post(server.port, "/twilio/status", status_params(sid(), "sent")) == 200
    assert (
        raw_post(server.port, f"http://127.0.0.1:{server.port}/twilio/status", status_params(sid(), "sent"))
        == 200
    )


# ------------------------------------------------------------------- local-only routes


@pytest.mark.parametrize(
    "headers",
    [{"Forwarded": "for=54.1.2.3;proto=https"}, {"X-Real-IP": "54.1.2.3"}, {"Via": "1.1 ngrok"},
     {"CF-Connecting-IP": "54.1.2.3"}, {"True-Client-IP": "54.1.2.3"},
     {"X-Original-Forwarded-For": "54.1.2.3"}, {"X-Forwarded-Host": "abc.ngrok-free.app"},
     {"X-Client-IP": "54.1.2.3"}, {"Ngrok-Trace-Id": "abc"}],
    ids=lambda h: next(iter(h)),
)  # fmt: skip
def test_healthz_is_refused_whichever_header_announces_a_proxy(store: Store, headers: dict[str, str]) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    assert client.get("/healthz", headers=headers).status_code == 404
    assert client.get("/healthz").status_code == 200  # from this computer, straight


def test_healthz_is_refused_to_another_computer(store: Store) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    assert client.get("/healthz", environ_base=REMOTE).status_code == 404
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


# ------------------------------------------------------------------- the public demo token


class Simulation:
    asked = False


@pytest.fixture
def demo_client(store: Store) -> tuple[Any, type[Simulation]]:
    sim = Simulation
    sim.asked = False
    config = ReceiverConfig.with_token(TOKEN, public_url=PUBLIC, allow_demo=lambda: sim.asked)
    return create_app(store, config).test_client(), sim


LOCAL = "http://localhost"  # the Flask test client's Host: what a local simulator signs


def test_demo_token_is_refused_when_no_simulation_was_asked(store: Store, demo_client: Any) -> None:
    client, _sim = demo_client
    resp = post(
        client, "/twilio/status", status_params(sid(), "delivered"), token=DEMO_AUTH_TOKEN, base=LOCAL
    )
    assert resp.status_code == 403
    assert "demo token" in last_request(store)["reason"] and "no simulation" in last_request(store)["reason"]


def test_demo_token_is_accepted_locally_while_simulating_and_marked(store: Store, demo_client: Any) -> None:
    client, sim = demo_client
    sim.asked = True
    s = sid()
    resp = post(client, "/twilio/status", status_params(s, "delivered"), token=DEMO_AUTH_TOKEN, base=LOCAL)
    assert resp.status_code == 200
    assert rows(store, "SELECT simulated FROM messages WHERE sid = ?", s)[0][0] == 1
    assert rows(store, "SELECT simulated FROM events WHERE message_sid = ?", s)[0][0] == 1
    assert last_request(store)["simulated"] == 1
    real = sid()
    assert post(client, "/twilio/status", status_params(real, "delivered")).status_code == 200
    assert rows(store, "SELECT simulated FROM messages WHERE sid = ?", real)[0][0] == 0


def test_demo_token_through_the_tunnel_is_refused_even_while_simulating(
    store: Store, demo_client: Any
) -> None:
    client, sim = demo_client
    sim.asked = True
    s = sid()
    tunnel = {
        "X-Forwarded-For": "54.1.2.3",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "abc123.ngrok-free.app",
    }
    resp = post(
        client, "/twilio/status", status_params(s, "delivered"), token=DEMO_AUTH_TOKEN, headers=tunnel
    )
    assert resp.status_code == 403 and resp.data == b"Forbidden\n"
    assert "only from this computer" in last_request(store)["reason"]
    assert rows(store, "SELECT * FROM messages WHERE sid = ?", s) == []


def test_demo_token_from_another_computer_is_refused(store: Store, demo_client: Any) -> None:
    client, sim = demo_client
    sim.asked = True
    resp = post(
        client,
        "/twilio/status",
        status_params(sid(), "sent"),
        token=DEMO_AUTH_TOKEN,
        base=LOCAL,
        environ_base=REMOTE,
    )
    assert resp.status_code == 403


# ------------------------------------------------------------------- shared-key signatures

KEY_ID, KEY_SECRET = "webhooks_sharedkey_0123456789abcdef", "shared-secret-value-0123456789"


@pytest.fixture
def keyed_client(store: Store) -> Any:
    config = ReceiverConfig.with_token(TOKEN, public_url=PUBLIC, shared_keys=lambda: {KEY_ID: KEY_SECRET})
    return create_app(store, config).test_client()


def shared_key_post(client: Any, params: dict[str, str], key_id: str = KEY_ID, secret: str = KEY_SECRET,
                    algorithm: str = HMAC_SHA256) -> Any:  # fmt: skip
    url = PUBLIC + "/twilio/status"
    headers = {
        "X-Twilio-Signature": RequestValidator(secret).compute_signature(url, params, algorithm=HMAC_SHA256),
        SIGNATURE_SETTINGS_HEADER: f"key={key_id},algorithm={algorithm}",
    }
    return client.post("/twilio/status", data=urlencode(params), content_type=FORM, headers=headers)


def test_a_shared_key_hmac_sha256_signature_is_accepted(store: Store, keyed_client: Any) -> None:
    s = sid()
    params = status_params(s, "delivered")
    resp = shared_key_post(keyed_client, params)
    assert resp.status_code == 200
    # twilio's own validator agrees with what we accepted
    header = last_request(store)["headers"]
    sig = json.loads(header)["X-Twilio-Signature"]
    assert RequestValidator(KEY_SECRET).validate(
        PUBLIC + "/twilio/status", params, sig, algorithm=HMAC_SHA256
    )
    assert rows(store, "SELECT status FROM messages WHERE sid = ?", s)[0]["status"] == "delivered"


def test_an_unknown_shared_key_id_is_refused_with_that_diagnosis(store: Store, keyed_client: Any) -> None:
    resp = shared_key_post(keyed_client, status_params(sid(), "sent"), key_id="webhooks_sharedkey_unknown")
    assert resp.status_code == 403
    reason = last_request(store)["reason"]
    assert "webhooks_sharedkey_unknown" in reason and "not configured" in reason
    assert "auth token" not in reason


def test_a_wrong_shared_key_secret_is_named_as_such(store: Store, keyed_client: Any) -> None:
    resp = shared_key_post(keyed_client, status_params(sid(), "sent"), secret="not-the-secret")
    assert resp.status_code == 403
    assert f"wrong secret for shared key '{KEY_ID}'" in last_request(store)["reason"]


def test_an_unsupported_signature_algorithm_is_refused(store: Store, keyed_client: Any) -> None:
    resp = shared_key_post(keyed_client, status_params(sid(), "sent"), algorithm="HMAC_MD5")
    assert resp.status_code == 403
    assert "unsupported signature algorithm 'HMAC_MD5'" in last_request(store)["reason"]


def test_the_auth_token_still_works_without_the_settings_header(keyed_client: Any) -> None:
    assert post(keyed_client, "/twilio/status", status_params(sid(), "sent")).status_code == 200


def test_the_auth_token_does_not_stand_in_for_a_shared_key(keyed_client: Any) -> None:
    """A request naming a shared key must be signed with that key: the auth token's HMAC does not count."""
    params = status_params(sid(), "sent")
    headers = {
        "X-Twilio-Signature": sign(PUBLIC + "/twilio/status", params),
        SIGNATURE_SETTINGS_HEADER: f"key={KEY_ID},algorithm=HMAC_SHA1",
    }
    resp = keyed_client.post("/twilio/status", data=urlencode(params), content_type=FORM, headers=headers)
    assert resp.status_code == 403


# ------------------------------------------------------------------- refused requests keep their SID


def test_a_rejected_callback_keeps_the_message_sid_it_claims(store: Store) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    s = sid()
    assert post(client, "/twilio/status", status_params(s, "delivered"), token="f" * 32).status_code == 403
    row = last_request(store)
    assert (row["outcome"], row["message_sid"]) == ("rejected", s)
    assert rows(store, "SELECT * FROM messages WHERE sid = ?", s) == []  # unverified: not a message


def test_a_rejected_request_with_a_bogus_sid_claims_none(store: Store) -> None:
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    params = status_params(sid(), "sent") | {
        "MessageSid": "SM' OR 1=1 --",
        "SmsSid": "x",
        "SmsMessageSid": "y",
    }
    assert post(client, "/twilio/status", params, token="f" * 32).status_code == 403
    assert last_request(store)["message_sid"] is None


def test_an_inbound_webhook_answers_twiml_even_when_the_store_fails(tmp_path: Path) -> None:
    store = Store(tmp_path / "closed.db")
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    store.close()  # every write now fails
    params = {"MessageSid": sid(), "SmsStatus": "received", "From": "+15005550006", "To": "+14155552671"}
    resp = post(client, "/twilio/inbound", params)
    assert resp.status_code == 500
    assert resp.content_type.startswith("text/xml") and resp.data.decode() == EMPTY_TWIML


def test_the_demo_token_set_as_the_auth_token_still_counts_only_locally_while_simulating(
    store: Store,
) -> None:
    """The demo token is published in the source: configured as "the" auth token it must not open the
    tunnel (the old ``serve --demo-token`` did exactly that)."""
    client = create_app(store, ReceiverConfig.with_token(DEMO_AUTH_TOKEN, public_url=PUBLIC)).test_client()
    tunnel = {"X-Forwarded-For": "54.1.2.3", "X-Forwarded-Proto": "https"}
    resp = post(client, "/twilio/status", status_params(sid(), "sent"), token=DEMO_AUTH_TOKEN, headers=tunnel)
    assert resp.status_code == 403


def test_with_validation_off_simulated_traffic_is_still_marked(store: Store) -> None:
    config = ReceiverConfig.with_token(TOKEN, public_url=PUBLIC, validate=False, allow_demo=lambda: True)
    client = create_app(store, config).test_client()
    simulated, real = sid(), sid()
    post(client, "/twilio/status", status_params(simulated, "sent"), token=DEMO_AUTH_TOKEN, base=LOCAL)
    post(client, "/twilio/status", status_params(real, "sent"))
    marks = {r["sid"]: r["simulated"] for r in rows(store, "SELECT sid, simulated FROM messages")}
    assert marks == {simulated: 1, real: 0}
