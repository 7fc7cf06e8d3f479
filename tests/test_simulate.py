"""Tests for receiver.simulate: the plan looks like Twilio traffic, is signed correctly, and is sent paced."""

from __future__ import annotations

import io
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from receiver.simulate import cli, run, send_plan
from receiver.simulate_plan import DEMO_AUTH_TOKEN, SimConfig, SimRequest, generate_plan
from receiver.webhook_paths import INBOUND_PATH, LEGACY_INBOUND_PATHS, LEGACY_STATUS_PATHS, STATUS_PATH

SEEDS = [1, 2, 3]
RANK = {"queued": 1, "sending": 2, "sent": 3, "delivered": 4, "undelivered": 4, "failed": 4, "read": 5}
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def plan_for(seed: int, messages: int = 60) -> list[SimRequest]:
    return generate_plan(SimConfig("http://127.0.0.1:9", seed=seed, messages=messages))


def p(request: SimRequest) -> dict[str, str]:
    return dict(request.params)


# ------------------------------------------------------------------------------------------ the plan


def test_plan_is_deterministic_for_a_seed() -> None:
    def snapshot(plan: list[SimRequest]) -> list[tuple[object, ...]]:
        return [(r.path, r.params, r.headers, r.note, r.tags) for r in plan]

    assert snapshot(plan_for(7)) == snapshot(plan_for(7))
    assert snapshot(plan_for(7)) != snapshot(plan_for(8))
    assert SimConfig("http://x", seed=7).account_sid == SimConfig("http://x", seed=7).account_sid
    assert re.fullmatch(r"AC[0-9a-f]{32}", SimConfig("http://x", seed=7).account_sid)


@pytest.mark.parametrize("seed", SEEDS)
def test_plan_mixes_channels_with_twilio_shaped_fields(seed: int) -> None:
    plan = plan_for(seed)
    statuses = [r for r in plan if r.kind == "status"]
    whatsapp = [r for r in statuses if p(r).get("ChannelPrefix") == "whatsapp"]
    sms = [r for r in statuses if "ChannelPrefix" not in p(r) and p(r)["MessageSid"].startswith("SM")]
    mms = [r for r in statuses if p(r)["MessageSid"].startswith("MM")]
    assert whatsapp and sms and mms
    assert any("MessagingServiceSid" in p(r) for r in statuses)
    assert any("MessagingServiceSid" not in p(r) for r in statuses)
    for request in statuses:
        params = p(request)
        assert re.fullmatch(r"(SM|MM)[0-9a-f]{32}", params["MessageSid"])
        assert params["SmsSid"] == params["MessageSid"]
        assert params["SmsStatus"] == params["MessageStatus"] in RANK
        assert params["ApiVersion"] == "2010-04-01"
        assert re.fullmatch(r"AC[0-9a-f]{32}", params["AccountSid"])
        if "MessagingServiceSid" in params:
            assert re.fullmatch(r"MG[0-9a-f]{32}", params["MessagingServiceSid"])
    for request in whatsapp:
        params = p(request)
        assert params["From"].startswith("whatsapp:+") and params["To"].startswith("whatsapp:+")
        assert params["To"] == "whatsapp:" + params["ChannelToAddress"]
        assert E164.match(params["ChannelToAddress"])
        assert re.fullmatch(r"XE[0-9a-f]{32}", params["ChannelInstallSid"])
    assert any(p(r)["From"] == "whatsapp:+14155238886" for r in whatsapp)
    for request in sms + mms:
        assert E164.match(p(request)["From"]) and E164.match(p(request)["To"])


@pytest.mark.parametrize("seed", SEEDS)
def test_failures_carry_real_error_codes_and_channel_message(seed: int) -> None:
    plan = [r for r in plan_for(seed) if r.kind == "status"]
    failures = [r for r in plan if p(r)["MessageStatus"] in ("failed", "undelivered")]
    assert {p(r)["MessageStatus"] for r in failures} == {"failed", "undelivered"}
    known = {21610, 21614, 30003, 30005, 30006, 30007, 30008, 30034, 63016, 63024, 63032}
    for request in failures:
        assert int(p(request)["ErrorCode"]) in known
        assert p(request)["ChannelStatusMessage"]
        assert "failure" in request.tags
    whatsapp_codes = {int(p(r)["ErrorCode"]) for r in failures if "ChannelPrefix" in p(r)}
    assert whatsapp_codes & {63016, 63024, 63032}
    for request in plan:
        if p(request)["MessageStatus"] not in ("failed", "undelivered"):
            assert "ErrorCode" not in p(request) and "ChannelStatusMessage" not in p(request)


@pytest.mark.parametrize("seed", SEEDS)
def test_raw_dlr_done_date_only_on_sms_final_callbacks(seed: int) -> None:
    plan = [r for r in plan_for(seed) if r.kind == "status"]
    with_dlr = [r for r in plan if "RawDlrDoneDate" in p(r)]
    assert with_dlr
    for request in with_dlr:
        assert "ChannelPrefix" not in p(request)
        assert p(request)["MessageStatus"] in ("delivered", "undelivered")
        assert re.fullmatch(
            r"\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])[0-5]\d", p(request)["RawDlrDoneDate"]
        )


@pytest.mark.parametrize("seed", SEEDS)
def test_whatsapp_read_receipts(seed: int) -> None:
    reads = [r for r in plan_for(seed) if p(r).get("MessageStatus") == "read"]
    assert reads
    for request in reads:
        assert p(request)["EventType"] == "READ"
        assert p(request)["ChannelPrefix"] == "whatsapp"
        assert "read-receipt" in request.tags


@pytest.mark.parametrize("seed", SEEDS)
def test_duplicates_are_identical_retries_and_tokens_are_otherwise_unique(seed: int) -> None:
    plan = plan_for(seed)
    duplicates = [r for r in plan if "duplicate" in r.tags]
    assert duplicates
    by_token: dict[str, list[SimRequest]] = {}
    for request in plan:
        by_token.setdefault(request.headers["I-Twilio-Idempotency-Token"], []).append(request)
    for request in duplicates:
        same = by_token[request.headers["I-Twilio-Idempotency-Token"]]
        assert len(same) == 2
        original = next(r for r in same if r is not request)
        assert plan.index(original) < plan.index(request)  # the retry comes later
        assert (original.path, original.body, original.headers) == (
            request.path,
            request.body,
            request.headers,
        )
    assert len(by_token) == len(plan) - len(duplicates)


@pytest.mark.parametrize("seed", SEEDS)
def test_some_callbacks_arrive_out_of_order(seed: int) -> None:
    plan = plan_for(seed)
    seen_rank: dict[str, int] = {}
    regressions = []
    for request in plan:
        if request.kind != "status" or "duplicate" in request.tags:
            continue
        rank = RANK[p(request)["MessageStatus"]]
        sid = p(request)["MessageSid"]
        if rank < seen_rank.get(sid, 0):
            regressions.append(sid)
        seen_rank[sid] = max(rank, seen_rank.get(sid, 0))
    assert regressions
    assert any("out-of-order" in r.tags for r in plan)


@pytest.mark.parametrize("seed", SEEDS)
def test_inbound_replies_look_like_twilio(seed: int) -> None:
    inbound = [r for r in plan_for(seed, messages=120) if r.kind == "inbound"]
    assert inbound
    outbound_sids = {p(r)["MessageSid"] for r in plan_for(seed, messages=120) if r.kind == "status"}
    for request in inbound:
        params = p(request)
        assert params["SmsStatus"] == "received"
        assert params["MessageSid"] == params["SmsMessageSid"] == params["SmsSid"]
        assert params["MessageSid"] not in outbound_sids
        num_media = int(params["NumMedia"])
        for i in range(num_media):
            assert params[f"MediaUrl{i}"].startswith("https://api.twilio.com/2010-04-01/Accounts/AC")
            assert "/" in params[f"MediaContentType{i}"]
        assert f"MediaUrl{num_media}" not in params
    whatsapp = [p(r) for r in inbound if p(r)["From"].startswith("whatsapp:")]
    sms = [p(r) for r in inbound if not p(r)["From"].startswith("whatsapp:")]
    assert whatsapp and sms
    assert all(w["ProfileName"] and w["From"] == "whatsapp:+" + w["WaId"] for w in whatsapp)
    assert all("FromCountry" in s and "FromCity" in s for s in sms)
    assert any(int(x["NumMedia"]) > 0 and x["MediaContentType0"] for x in whatsapp + sms)
    assert any(r.tags >= {"media"} for r in inbound)


def test_stop_replies_carry_opt_out_type() -> None:
    inbound = [r for seed in SEEDS for r in plan_for(seed, messages=150) if r.kind == "inbound"]
    stops = [r for r in inbound if "opt-out" in r.tags]
    assert stops
    assert all(p(r)["Body"] == "STOP" for r in stops)
    assert any(p(r).get("OptOutType") == "STOP" for r in stops)
    assert all("OptOutType" not in p(r) for r in inbound if "opt-out" not in r.tags)


def test_legacy_alias_paths_are_used_occasionally() -> None:
    plan = [r for seed in SEEDS for r in plan_for(seed)]
    paths = Counter(r.path for r in plan)
    known = {STATUS_PATH, INBOUND_PATH, *LEGACY_STATUS_PATHS.values(), *LEGACY_INBOUND_PATHS.values()}
    assert set(paths) <= known
    assert paths[STATUS_PATH] > sum(paths[x] for x in LEGACY_STATUS_PATHS.values()) > 0
    assert any(paths[x] for x in LEGACY_INBOUND_PATHS.values())
    assert all(("legacy-path" in r.tags) == (r.path not in (STATUS_PATH, INBOUND_PATH)) for r in plan)


def test_every_request_has_twilio_headers() -> None:
    for request in plan_for(1):
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert request.headers["User-Agent"] == "TwilioProxy/1.1"
        assert request.headers["X-Twilio-Signature"]
        assert re.fullmatch(r"[0-9a-f-]{36}", request.headers["I-Twilio-Idempotency-Token"])


# ------------------------------------------------------------------------------------------ signatures


def wire_params(request: SimRequest) -> dict[str, str]:
    """The form fields as a receiver parses them from the bytes on the wire (blank values kept)."""
    return dict(parse_qsl(request.body.decode("ascii"), keep_blank_values=True, strict_parsing=True))


def test_signatures_validate_against_public_url_and_not_target() -> None:
    target, public = "http://127.0.0.1:8080", "https://abc.ngrok-free.app"
    plan = generate_plan(SimConfig(target, public_url=public, auth_token="0123456789abcdef" * 2, seed=5))
    validator = RequestValidator("0123456789abcdef" * 2)
    for request in plan:
        signature = request.headers["X-Twilio-Signature"]
        assert wire_params(request) == p(request)
        assert validator.validate(public + request.path, wire_params(request), signature)
        assert not validator.validate(target + request.path, wire_params(request), signature)
        assert not RequestValidator(DEMO_AUTH_TOKEN).validate(public + request.path, p(request), signature)
        assert request.headers["X-Forwarded-Proto"] == "https"
        assert request.headers["X-Forwarded-Host"] == "abc.ngrok-free.app"


def test_signatures_default_to_the_target_url() -> None:
    target = "http://127.0.0.1:8080/"
    plan = generate_plan(SimConfig(target, seed=5, messages=20))
    validator = RequestValidator(DEMO_AUTH_TOKEN)
    for request in plan:
        assert validator.validate(
            "http://127.0.0.1:8080" + request.path,
            wire_params(request),
            request.headers["X-Twilio-Signature"],
        )
        assert "X-Forwarded-Proto" not in request.headers


def test_config_rejects_nonsense() -> None:
    for kwargs in ({"messages": -1}, {"rate": -1.0}, {"concurrency": 0}, {"auth_token": ""}):
        with pytest.raises(ValueError):
            SimConfig("http://127.0.0.1:8080", **kwargs)
    with pytest.raises(ValueError):
        SimConfig("127.0.0.1:8080")
    with pytest.raises(ValueError):
        SimConfig("http://127.0.0.1:8080", public_url="ftp://x")


# ------------------------------------------------------------------------------------------ sending


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class Recorder:
    url: str
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A tiny keep-alive HTTP server on a free loopback port that records every POST."""
    state: list[Recorder] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = (
            True  # header and body go in separate writes: avoid 40 ms delayed-ACK stalls
        )

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state[0].lock:
                state[0].requests.append(
                    Received(self.path, dict(self.headers.items()), body, self.client_address[1])
                )
            if self.path in (STATUS_PATH, *LEGACY_STATUS_PATHS.values()):
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                twiml = b'<?xml version="1.0" encoding="UTF-8"?><Response />'
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(twiml)))
                self.end_headers()
                self.wfile.write(twiml)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.append(Recorder(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_run_delivers_every_planned_request_with_its_headers(recorder: Recorder) -> None:
    cfg = SimConfig(recorder.url, seed=11, messages=40, rate=0, concurrency=4)
    plan = generate_plan(cfg)
    result = run(cfg)
    assert result.failed == 0 and result.errors == [] and not result.stopped
    assert result.sent == result.planned == len(plan) == len(recorder.requests)
    n_inbound = sum(r.kind == "inbound" for r in plan)
    assert result.by_status == {200: n_inbound, 204: len(plan) - n_inbound}
    assert result.messages == 40 and result.inbound == n_inbound
    assert Counter((r.path, r.body) for r in recorder.requests) == Counter((r.path, r.body) for r in plan)
    validator = RequestValidator(DEMO_AUTH_TOKEN)
    for got in recorder.requests:
        assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert got.headers["User-Agent"] == "TwilioProxy/1.1"
        assert got.headers["I-Twilio-Idempotency-Token"]
        params = dict(parse_qsl(got.body.decode(), keep_blank_values=True))
        assert validator.validate(recorder.url + got.path, params, got.headers["X-Twilio-Signature"])
    # keep-alive: all requests travelled over at most `concurrency` connections
    assert len({r.client_port for r in recorder.requests}) <= 4


def test_run_sends_under_a_target_base_path(recorder: Recorder) -> None:
    """A target with a path prefix is requested under it, while the signature uses public_url + path."""
    plan = generate_plan(
        SimConfig(recorder.url + "/prefix", public_url="https://pub.example", seed=2, messages=3)
    )
    result = send_plan(recorder.url + "/prefix", plan, concurrency=1)
    assert result.sent == len(plan)
    assert [r.path for r in recorder.requests] == ["/prefix" + r.path for r in plan]


def test_run_honours_the_rate_as_an_upper_bound(recorder: Recorder) -> None:
    cfg = SimConfig(recorder.url, seed=4, messages=8, rate=50.0, concurrency=4)
    n = len(generate_plan(cfg))
    assert n >= 15
    result = run(cfg)
    assert result.sent == n
    # n requests at 50/s need at least (n - 1) / 50 s: the first goes at once, each next one 20 ms later.
    assert result.elapsed_s >= 0.95 * (n - 1) / 50.0
    assert (n - 1) / result.elapsed_s <= 50.0 * 1.05


def test_progress_is_reported_for_every_request(recorder: Recorder) -> None:
    calls: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:
            calls.append((done, total))

    result = run(SimConfig(recorder.url, seed=6, messages=10, rate=0), on_progress=progress)
    assert sorted(calls) == [(i, result.planned) for i in range(1, result.planned + 1)]


def test_stop_event_halts_the_run(recorder: Recorder) -> None:
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 5:
            stop.set()

    result = run(SimConfig(recorder.url, seed=1, messages=500, rate=20.0, concurrency=2), progress, stop)
    assert result.stopped
    assert 5 <= result.sent <= 5 + 2  # requests already in flight may finish
    assert result.sent < result.planned


@pytest.mark.timeout(30)
def test_stop_wakes_a_sender_waiting_for_its_slot(recorder: Recorder) -> None:
    """At one request a minute the second sender waits a minute for its slot: the stop must end that
    wait, not let it run out (a run that waited would outlast this test's timeout)."""
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        stop.set()

    cfg = SimConfig(recorder.url, seed=1, messages=5, rate=1 / 60, concurrency=2)
    result = run(cfg, progress, stop)
    assert result.stopped and result.sent == 1


def test_stop_set_before_start_sends_nothing(recorder: Recorder) -> None:
    stop = threading.Event()
    stop.set()
    result = run(SimConfig(recorder.url, seed=1, messages=5), stop=stop)
    assert result.sent == 0 and recorder.requests == [] and result.stopped


def test_unreachable_target_is_reported_not_raised() -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(SimConfig(f"http://127.0.0.1:{port}", seed=1, messages=3, rate=0))
    assert result.sent == 0 and result.failed == result.planned > 0
    assert result.errors and "ConnectionRefusedError" in result.errors[0]


# ------------------------------------------------------------------------------------------ CLI


def test_cli_never_signs_with_the_real_token_from_the_environment(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated traffic signed with the operator's real token would pass for real traffic (issue #9)."""
    token = "f" * 32
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", token)
    out = io.StringIO()
    code = cli(["--target", recorder.url, "--messages", "5", "--rate", "0", "--seed", "3"], out)
    assert code == 0
    assert "demo token" in out.getvalue() and token not in out.getvalue()
    got = recorder.requests[0]
    params = dict(parse_qsl(got.body.decode(), keep_blank_values=True))
    url = recorder.url + got.path
    assert RequestValidator(DEMO_AUTH_TOKEN).validate(url, params, got.headers["X-Twilio-Signature"])
    assert not RequestValidator(token).validate(url, params, got.headers["X-Twilio-Signature"])


def test_cli_prefers_the_flag_then_falls_back_to_the_demo_token(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "e" * 32)
    out = io.StringIO()
    assert (
        cli(["--target", recorder.url, "--auth-token", "a" * 32, "--messages", "1", "--rate", "0"], out) == 0
    )
    assert "--auth-token" in out.getvalue() and "a" * 32 not in out.getvalue()

    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    out = io.StringIO()
    assert cli(["--target", recorder.url, "--messages", "1", "--rate", "0"], out) == 0
    assert "demo token" in out.getvalue() and DEMO_AUTH_TOKEN not in out.getvalue()
    assert "Sent " in out.getvalue()


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert cli(["--target", "not-a-url"], out) == 2
    assert "error" in out.getvalue()
    assert cli([], io.StringIO()) == 2  # --target is required
    capsys.readouterr()


# ------------------------------------------------------------------------------------------ end to end


@pytest.fixture
def receiver_url(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The real receiver (create_app + Store + waitress) validating against a tunnel-style public URL."""
    from receiver.app import ReceiverConfig, create_app
    from receiver.server import ReceiverServer
    from receiver.store import Store

    db = tmp_path / "callbacks.db"
    store = Store(db)
    config = ReceiverConfig.with_token(E2E_TOKEN, public_url=E2E_PUBLIC)
    server = ReceiverServer(create_app(store, config), threads=8)
    server.start()
    try:
        yield server.url, db
    finally:
        server.stop()
        store.close()


E2E_TOKEN = "0123456789abcdef0123456789abcdef"
E2E_PUBLIC = "https://abc.ngrok-free.app"


def test_receiver_accepts_every_simulated_callback(receiver_url: tuple[str, Path]) -> None:
    from receiver import statuses
    from receiver.store import connect

    url, db = receiver_url
    cfg = SimConfig(url, public_url=E2E_PUBLIC, auth_token=E2E_TOKEN, seed=21, messages=60, rate=0)
    plan = generate_plan(cfg)
    result = run(cfg)
    sum(r.kind == "inbound" for r in plan)
    assert result.errors == [] and result.sent == len(plan)
    assert result.by_status == {200: len(plan)}

    duplicates = sum("duplicate" in r.tags for r in plan)
    assert duplicates > 0
    conn = connect(db, readonly=True)
    try:
        outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM requests GROUP BY outcome").fetchall())
        assert outcomes == {"accepted": len(plan) - duplicates, "duplicate": duplicates}
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == len(plan) - duplicates
        stored = dict(conn.execute("SELECT sid, status FROM messages").fetchall())
        media = conn.execute("SELECT COUNT(*) FROM media").fetchone()[0]
    finally:
        conn.close()
    expected: dict[str, str] = {}
    for request in plan:
        status = p(request).get("MessageStatus") or p(request)["SmsStatus"]
        if request.sid not in expected or statuses.rank(status) > statuses.rank(expected[request.sid]):
            expected[request.sid] = status
    assert stored == expected  # out-of-order callbacks never moved a message back
    assert media == sum(
        int(p(r)["NumMedia"]) for r in plan if r.kind == "inbound" and "duplicate" not in r.tags
    )


def test_receiver_rejects_traffic_signed_for_another_public_url(receiver_url: tuple[str, Path]) -> None:
    url, _db = receiver_url
    cfg = SimConfig(url, public_url="https://other.example", auth_token=E2E_TOKEN, seed=2, messages=3, rate=0)
    result = run(cfg)
    assert set(result.by_status) == {403} and result.sent == result.planned
