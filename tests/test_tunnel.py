"""TunnelManager through the real pyngrok, driving the stand-in ngrok agent (tests/fakes/fake_ngrok.py).

Nothing here reaches the network: the agent is the fake, and the "public" URL is reached through the
fake's local edge listener (``resolve_public_url``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pyngrok import conf, installer, ngrok, process
from pyngrok.exception import PyngrokNgrokError

from receiver.tunnel import TunnelError, TunnelManager, TunnelSettings, classify_failure
from tests.fakes import ngrok_fixture
from tests.fakes.ngrok_fixture import install_fake_ngrok, pid_alive, request_public_url, resolve_public_url
from tests.waiting import wait_until

fake_ngrok = ngrok_fixture.fake_ngrok

TOKEN = "2abcDEFtok3nFor7estsOnly_9xYz"


@dataclass
class Upstream:
    """A tiny local web server standing in for the receiver; records what reaches it."""

    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(  # type: ignore[attr-defined]
            {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        reply = b'<?xml version="1.0" encoding="UTF-8"?><Response />'
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    server.daemon_threads = True
    info = Upstream(port=server.server_address[1])
    server.seen = info.seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield info
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real agent (and the fake) would pick these up; tests must not depend on the machine's env.
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.delenv("FAKE_NGROK_FAIL", raising=False)


@pytest.fixture
def make_manager(fake_ngrok: str, tmp_path: Path) -> Iterator[Callable[..., TunnelManager]]:
    managers: list[TunnelManager] = []

    def make(**overrides: Any) -> TunnelManager:
        values: dict[str, Any] = {
            "ngrok_path": fake_ngrok,
            "authtoken": TOKEN,
            "config_dir": str(tmp_path / "private"),
            "web_addr": "127.0.0.1:0",
            **overrides,
        }
        manager = TunnelManager(TunnelSettings(**values))
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.stop()


def test_start_returns_https_public_url_served_by_the_agent(
    make_manager: Callable[..., TunnelManager], upstream: Upstream
) -> None:
    manager = make_manager()
    url = manager.start(upstream.port)

    assert url.startswith("https://") and url.endswith(".ngrok.test")
    assert manager.public_url == url
    assert manager.api_url is not None and manager.api_url.startswith("http://127.0.0.1:")
    assert resolve_public_url(manager, url)[0] == "127.0.0.1"


def test_request_to_public_url_reaches_upstream_as_ngrok_forwards_it(
    make_manager: Callable[..., TunnelManager], upstream: Upstream
) -> None:
    manager = make_manager()
    url = manager.start(upstream.port)
    body = b"MessageSid=SM1&MessageStatus=delivered&Body=a+b%20c"

    status, headers, reply = request_public_url(
        manager,
        f"{url}/twilio/status?b=2&a=1+1",
        method="POST",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "sig"},
    )

    assert status == 200 and reply.endswith(b"<Response />") and headers["content-type"] == "text/xml"
    [seen] = upstream.seen
    public_host = urlsplit(url).netloc
    assert seen["method"] == "POST"
    assert seen["path"] == "/twilio/status?b=2&a=1+1"  # raw, not re-encoded or re-ordered
    assert seen["body"] == body
    assert seen["headers"]["Host"] == public_host
    assert seen["headers"]["X-Forwarded-Proto"] == "https"
    assert seen["headers"]["X-Forwarded-Host"] == public_host
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["X-Twilio-Signature"] == "sig"


def test_stop_kills_the_agent_and_deletes_the_private_config(
    make_manager: Callable[..., TunnelManager], upstream: Upstream, fake_ngrok: str, tmp_path: Path
) -> None:
    manager = make_manager()
    url = manager.start(upstream.port)
    pid = manager.agent_pid
    assert pid is not None and pid_alive(pid)
    edge = resolve_public_url(manager, url)
    [config_file] = (tmp_path / "private").glob("*/ngrok.yml")

    manager.stop()

    assert not pid_alive(pid)
    assert not process.is_process_running(fake_ngrok)
    assert not config_file.parent.exists()
    assert manager.public_url is None and manager.api_url is None and manager.agent_pid is None
    with pytest.raises(OSError):
        socket.create_connection(edge, timeout=1).close()
    manager.stop()  # idempotent


def test_authtoken_only_in_a_private_config_file(
    make_manager: Callable[..., TunnelManager], upstream: Upstream, tmp_path: Path
) -> None:
    manager = make_manager()
    manager.start(upstream.port)
    [config_file] = (tmp_path / "private").glob("*/ngrok.yml")
    pid = manager.agent_pid

    assert TOKEN in config_file.read_text()
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700
    assert TOKEN.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()  # not visible in `ps`


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) any attempt by pyngrok to download or install ngrok."""
    calls: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"pyngrok tried to {name}")

        return record

    monkeypatch.setattr(installer, "install_ngrok", refuse("install ngrok"))
    monkeypatch.setattr(installer, "_download_file", refuse("download"))
    monkeypatch.setattr(installer, "urlopen", refuse("open a URL"))
    return calls


def test_missing_binary_is_reported_without_download(tmp_path: Path, no_download: list[str]) -> None:
    missing = tmp_path / "nowhere" / "ngrok"
    manager = TunnelManager(
        TunnelSettings(ngrok_path=str(missing), authtoken=TOKEN, config_dir=str(tmp_path))
    )

    with pytest.raises(TunnelError) as caught:
        manager.start(8080)

    assert caught.value.kind == "no_binary"
    assert "not found" in caught.value.message and str(missing) in caught.value.message
    assert "network" not in caught.value.message  # a missing program is not a network problem
    advice = caught.value.advice
    assert advice.startswith("Install ngrok from https://ngrok.com/download")
    assert "Tools → Tunnel settings… → ngrok program" in advice  # a menu item that exists
    assert "Tools → Use my own public URL…" in advice
    assert no_download == []
    assert list(tmp_path.iterdir()) == []  # nothing written either
    assert manager.public_url is None


def test_no_binary_anywhere_when_no_path_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_download: list[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(conf, "DEFAULT_NGROK_PATH", str(tmp_path / "default" / "ngrok"))
    manager = TunnelManager(TunnelSettings(authtoken=TOKEN, config_dir=str(tmp_path / "private")))

    with pytest.raises(TunnelError) as caught:
        manager.start(8080)

    assert caught.value.kind == "no_binary"
    assert no_download == []


def test_binary_found_on_path_when_none_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: Upstream, no_download: list[str]
) -> None:
    bin_dir = tmp_path / "bin"
    path = str(install_fake_ngrok(bin_dir))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    manager = TunnelManager(
        TunnelSettings(authtoken=TOKEN, config_dir=str(tmp_path / "private"), web_addr="127.0.0.1:0")
    )
    try:
        assert manager.start(upstream.port).startswith("https://")
        assert process.is_process_running(path)
    finally:
        manager.stop()
    assert no_download == []


def test_binary_that_will_not_run_is_reported(tmp_path: Path, no_download: list[str]) -> None:
    broken = tmp_path / "ngrok"
    broken.write_bytes(b"\x7fELF not really a program")
    broken.chmod(0o755)
    manager = TunnelManager(
        TunnelSettings(ngrok_path=str(broken), authtoken=TOKEN, config_dir=str(tmp_path / "private"))
    )

    with pytest.raises(TunnelError) as caught:
        manager.start(8080)

    assert caught.value.kind == "other" and "could not open the tunnel" in caught.value.message
    assert list((tmp_path / "private").iterdir()) == []
    assert no_download == []


def test_no_authtoken_is_reported_before_starting_ngrok(
    make_manager: Callable[..., TunnelManager], fake_ngrok: str
) -> None:
    manager = make_manager(authtoken="  ")

    with pytest.raises(TunnelError) as caught:
        manager.start(8080)

    assert caught.value.kind == "no_authtoken"
    assert caught.value.code == "ERR_NGROK_4018"
    assert "authtoken" in caught.value.advice
    assert not process.is_process_running(fake_ngrok)


def test_agent_refusing_without_authtoken_classifies_as_no_authtoken(fake_ngrok: str, tmp_path: Path) -> None:
    # What the agent itself says (ERR_NGROK_4018) when its config has no authtoken.
    config_path = tmp_path / "ngrok.yml"
    config_path.write_text('version: "3"\nagent:\n  web_addr: 127.0.0.1:0\n')
    config = conf.PyngrokConfig(ngrok_path=fake_ngrok, config_path=str(config_path))

    with pytest.raises(PyngrokNgrokError) as caught:
        ngrok.connect("http://127.0.0.1:9", "http", pyngrok_config=config)

    error = classify_failure(caught.value)
    assert error.kind == "no_authtoken" and error.code == "ERR_NGROK_4018"
    assert not process.is_process_running(fake_ngrok)


def test_session_limit(
    make_manager: Callable[..., TunnelManager],
    fake_ngrok: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("FAKE_NGROK_FAIL", "108")
    manager = make_manager()

    with pytest.raises(TunnelError) as caught:
        manager.start(8080)

    assert caught.value.kind == "session_limit"
    assert caught.value.code == "ERR_NGROK_108"
    assert "one agent" in caught.value.message and "dashboard.ngrok.com/agents" in caught.value.advice
    assert not process.is_process_running(fake_ngrok)
    assert list((tmp_path / "private").iterdir()) == []  # private folder removed after the failure
    assert manager.public_url is None


def test_rejected_authtoken_is_masked_in_errors_and_logs(
    make_manager: Callable[..., TunnelManager], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "bad-token-d41d8cd98f00b204e9800998ecf8427e"
    manager = make_manager(authtoken=secret)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(TunnelError) as caught:
        manager.start(8080)

    assert caught.value.kind == "bad_authtoken" and caught.value.code == "ERR_NGROK_107"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "ERR_NGROK_107" in caplog.text  # ngrok's error line was logged (it quotes the token) ...
    assert "Your authtoken: ********" in caplog.text
    assert secret not in caplog.text  # ... masked
    assert secret not in f"{caught.value.message} {caught.value.advice}"


def test_unreachable_ngrok_servers(
    make_manager: Callable[..., TunnelManager], fake_ngrok: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NGROK_FAIL", "offline")
    manager = make_manager(startup_timeout=1)

    with pytest.raises(TunnelError) as caught:
        manager.start(8080)

    assert caught.value.kind == "other"
    assert "could not reach its servers" in caught.value.message
    assert not process.is_process_running(fake_ngrok)


def test_check_url_detects_new_url_after_reconnect(
    make_manager: Callable[..., TunnelManager], upstream: Upstream
) -> None:
    manager = make_manager()
    old = manager.start(upstream.port)
    assert manager.check_url() is None  # unchanged
    pid = manager.agent_pid
    assert pid is not None

    os.kill(pid, signal.SIGUSR1)  # the stand-in agent's "session reconnected"
    new = wait_until(manager.check_url)
    assert new is not None

    assert new != old and new.startswith("https://")
    assert manager.public_url == new
    assert manager.check_url() is None
    status, _, _ = request_public_url(manager, f"{new}/twilio/inbound", method="POST", body=b"a=1")
    assert status == 200 and upstream.seen[-1]["headers"]["Host"] == urlsplit(new).netloc


def test_reserved_domain_is_requested_and_survives_reconnect(
    make_manager: Callable[..., TunnelManager], upstream: Upstream
) -> None:
    manager = make_manager(domain="https://monitor-test.ngrok.test/")
    url = manager.start(upstream.port)
    assert url == "https://monitor-test.ngrok.test"

    ngrok_fixture.reconnect_agent(manager)  # the agent answers once it has reconnected

    assert manager.check_url() is None
    assert manager.public_url == url


def test_check_url_reports_a_dead_agent(
    make_manager: Callable[..., TunnelManager], upstream: Upstream
) -> None:
    manager = make_manager()
    manager.start(upstream.port)
    pid = manager.agent_pid
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not manager.agent_pid)

    with pytest.raises(TunnelError) as caught:
        manager.check_url()
    assert caught.value.kind == "other" and "stopped" in caught.value.message
    assert manager.public_url is None


def test_restart_replaces_the_previous_agent(
    make_manager: Callable[..., TunnelManager], upstream: Upstream
) -> None:
    manager = make_manager()
    manager.start(upstream.port)
    first_pid = manager.agent_pid
    assert first_pid is not None

    manager.start(upstream.port)

    assert not pid_alive(first_pid)
    assert manager.agent_pid not in (None, first_pid)


# ---- the stand-in itself, as pyngrok uses it outside TunnelManager


def test_fake_answers_version_like_ngrok(fake_ngrok: str, no_download: list[str]) -> None:
    ngrok_version, _ = ngrok.get_version(conf.PyngrokConfig(ngrok_path=fake_ngrok, config_path=os.devnull))
    assert ngrok_version.startswith("3.")
    assert no_download == []


def test_fake_serves_the_v2_tunnels_api(fake_ngrok: str, tmp_path: Path, upstream: Upstream) -> None:
    config_path = tmp_path / "ngrok.yml"
    config_path.write_text(f'version: "3"\nagent:\n  authtoken: {TOKEN}\n  web_addr: 127.0.0.1:0\n')
    config = conf.PyngrokConfig(ngrok_path=fake_ngrok, config_path=str(config_path))
    config.config_version = "2"

    tunnel = ngrok.connect(f"127.0.0.1:{upstream.port}", "http", bind_tls=True, pyngrok_config=config)
    assert tunnel.public_url is not None and tunnel.public_url.startswith("https://")
    assert tunnel.proto == "https" and tunnel.config["addr"] == f"http://127.0.0.1:{upstream.port}"
    assert [t.public_url for t in ngrok.get_tunnels(config)] == [tunnel.public_url]

    status, _, _ = request_public_url(tunnel.api_url or "", f"{tunnel.public_url}/x")
    tunnel.refresh_metrics()
    assert status == 200 and tunnel.metrics["http"]["count"] == 1

    ngrok.disconnect(tunnel.public_url, config)
    assert ngrok.get_tunnels(config) == []
