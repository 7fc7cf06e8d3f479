"""The headless CLI in subprocesses: serve (banner, free port, clean stop, kill -9 durability), export."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.simulate_plan import DEMO_AUTH_TOKEN
from tests.receiver_helpers import TOKEN, sid, status_params
from tests.serve_process import ServeProcess, cli_env, run_cli

PUBLIC = "https://cli-test.ngrok-free.app"


class Serve(ServeProcess):
    """``serve --db serve.db <args>`` in a subprocess, up to its "Listening on" line."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.db = tmp_path / "serve.db"
        argv = ["serve", "--port", "0", "--db", str(self.db), *args]
        super().__init__(argv, cli_env(tmp_path), signed_for=PUBLIC)
        self.listening()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path, "--public-url", PUBLIC)
    yield s
    s.stop(signal.SIGKILL)


def test_serve_prints_listening_and_stops_cleanly_on_sigterm(serve: Serve) -> None:
    banner = "".join(serve.banner)
    assert "signature validation: ON" in banner and f"{PUBLIC}/twilio/status" in banner
    assert serve.post("/twilio/status", status_params(sid(), "delivered")) == 200
    assert serve.stop(signal.SIGTERM) == 0
    assert "[status] SM" in serve.stderr


def test_serve_stops_cleanly_on_sigint(serve: Serve) -> None:
    assert serve.stop(signal.SIGINT) == 0


def test_serve_logs_never_contain_the_token(serve: Serve, tmp_path: Path) -> None:
    serve.post("/twilio/status", status_params(sid(), "sent"))
    serve.stop()
    everything = "".join(serve.banner) + serve.stderr
    everything += "".join(p.read_text() for p in (tmp_path / "home" / "logs").glob("*.log*"))
    assert "[status]" in everything and TOKEN not in everything


def test_no_validate_is_announced(tmp_path: Path) -> None:
    s = Serve(tmp_path, "--no-validate")
    try:
        assert "signature validation is OFF" in "".join(s.banner)
    finally:
        s.stop()


def test_kill_9_after_acknowledgement_loses_nothing(serve: Serve, tmp_path: Path) -> None:
    sids = [sid() for _ in range(60)]
    for s in sids:
        assert serve.post("/twilio/status", status_params(s, "delivered")) == 200
    assert serve.stop(signal.SIGKILL) == -signal.SIGKILL  # no clean shutdown, no flush
    out = run_cli(tmp_path, "export", "--db", str(serve.db), "--what", "messages")
    stored = {m["sid"] for m in json.loads(out.stdout)}
    assert stored == set(sids)
    # and the database opens again for writing (the lock died with the process)
    again = Serve(tmp_path, "--public-url", PUBLIC)
    assert again.post("/twilio/status", status_params(sid(), "sent")) == 200
    assert again.stop() == 0


def test_second_serve_on_same_db_is_refused(serve: Serve, tmp_path: Path) -> None:
    out = run_cli(tmp_path, "serve", "--port", "0", "--db", str(serve.db))
    assert out.returncode == 1 and "already in use" in out.stderr


def test_export_json_and_csv(serve: Serve, tmp_path: Path) -> None:
    s = sid()
    serve.post("/twilio/status", status_params(s, "undelivered", ErrorCode="30003"))
    serve.post("/twilio/status", {"MessageSid": s})  # 400, in the request log
    serve.stop()
    messages = json.loads(run_cli(tmp_path, "export", "--db", str(serve.db)).stdout)
    assert messages[0]["sid"] == s and messages[0]["status"] == "undelivered"
    assert {
        "sid",
        "direction",
        "channel",
        "from",
        "to",
        "body",
        "status",
        "error_code",
        "num_media",
        "messaging_service_sid",
        "updated_at",
    } <= set(messages[0])
    events = json.loads(run_cli(tmp_path, "export", "--db", str(serve.db), "--what", "events").stdout)
    assert {"message_sid", "status", "error_code", "event_type", "received_at"} <= set(events[0])
    assert events[0]["error_code"] == 30003
    req_csv = run_cli(
        tmp_path, "export", "--db", str(serve.db), "--what", "requests", "--format", "csv"
    ).stdout
    rows = list(csv.DictReader(io.StringIO(req_csv)))
    assert [(r["path"], r["http_status"], r["outcome"]) for r in rows] == [
        ("/twilio/status", "200", "accepted"),
        ("/twilio/status", "400", "rejected"),
    ]
    assert {"reason", "received_at"} <= set(rows[0])


def test_export_without_database_says_so(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "export", "--db", str(tmp_path / "missing.db"))
    assert out.returncode == 1 and "no database" in out.stderr


def test_errors_subcommand_prints_entry(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "errors", "21610")
    assert out.returncode == 0 and "https://www.twilio.com/docs/api/errors/21610" in out.stdout


def test_headless_path_never_imports_qt(tmp_path: Path) -> None:
    code = (
        "import sys, desktop.cli, receiver.cli, receiver.app, receiver.server, receiver.store, "
        "receiver.simulate;"
        "print(any(m.startswith('PySide6') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(tmp_path))
    assert out.stdout.strip() == "False", out.stderr


def test_simulate_subcommand_against_serve_with_demo_token(tmp_path: Path) -> None:
    s = Serve(tmp_path, "--demo-token")
    try:
        out = run_cli(
            tmp_path,
            "simulate",
            "--target",
            f"http://127.0.0.1:{s.port}",
            "--messages",
            "5",
            "--rate",
            "0",
            "--seed",
            "7",
            "--auth-token",
            DEMO_AUTH_TOKEN,
        )
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        s.stop()
    exported = json.loads(run_cli(tmp_path, "export", "--db", str(s.db)).stdout)
    assert len([m for m in exported if m["direction"] == "outbound"]) == 5


def test_serve_takes_shared_keys_from_the_environment_never_printing_a_secret(tmp_path: Path) -> None:
    from urllib.parse import urlencode

    from twilio.request_validator import HMAC_SHA256, SIGNATURE_SETTINGS_HEADER, RequestValidator

    secret = "shared-secret-from-env-0123"
    os.environ["CALLBACK_MONITOR_SHARED_KEYS"] = f"webhooks_sharedkey_a:{secret},webhooks_sharedkey_b:other"
    try:
        s = Serve(tmp_path, "--public-url", PUBLIC)
    finally:
        del os.environ["CALLBACK_MONITOR_SHARED_KEYS"]
    try:
        params = status_params(sid(), "delivered")
        url = PUBLIC + "/twilio/status"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": RequestValidator(secret).compute_signature(
                url, params, algorithm=HMAC_SHA256
            ),
            SIGNATURE_SETTINGS_HEADER: "key=webhooks_sharedkey_a,algorithm=HMAC_SHA256",
        }
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        conn.request("POST", "/twilio/status", body=urlencode(params), headers=headers)
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        s.stop()
    banner = "".join(s.banner) + s.stderr
    assert "webhooks_sharedkey_a, webhooks_sharedkey_b" in banner and secret not in banner


def test_serve_refuses_malformed_shared_keys_without_echoing_them(tmp_path: Path) -> None:
    env = cli_env(tmp_path) | {"CALLBACK_MONITOR_SHARED_KEYS": "webhooks_sharedkey_a:ok,only-a-secret-here"}
    out = subprocess.run(
        [sys.executable, "-m", "receiver", "serve", "--port", "0", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 1 and "entry 2 is not key_id:secret" in out.stderr
    assert "only-a-secret-here" not in out.stderr + out.stdout


def test_serve_demo_token_is_announced_as_local_only(tmp_path: Path) -> None:
    s = Serve(tmp_path, "--demo-token")
    try:
        assert "demo token: accepted from this computer only" in "".join(s.banner)
    finally:
        s.stop()


def test_serve_never_prints_or_logs_the_public_urls_password(tmp_path: Path) -> None:
    password = "pa55-w0rd-in-url"
    s = Serve(tmp_path, "--public-url", f"https://twilio:{password}@cli-test.ngrok-free.app")
    try:
        # Twilio's first try carries no credentials: challenged, and nothing echoed
        assert s.post("/twilio/status", status_params(sid(), "sent")) == 401
    finally:
        s.stop()
    everything = "".join(s.banner) + s.stderr
    assert "HTTP Basic auth: required" in everything and f"{PUBLIC}/twilio/status" in everything
    everything += "".join(p.read_text() for p in (tmp_path / "home" / "logs").glob("*.log*"))
    assert password not in everything
