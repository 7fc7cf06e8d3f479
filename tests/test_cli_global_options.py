"""The CLI as an operator types it: --version, --db before or after the subcommand, the serve banner's
account of where its auth token comes from, and self-test from the source tree (``python -m desktop``, the
``callback-monitor`` program, which checks the window too)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from receiver import __version__
from receiver.simulate_plan import DEMO_AUTH_TOKEN
from receiver.store import connect
from tests.receiver_helpers import TOKEN, http_post, sid, status_params
from tests.serve_process import ServeProcess, cli_env

# what the default database would be for these tests (CALLBACK_MONITOR_HOME points at tmp_path/home)
DEFAULT_DB = Path("home") / "data" / "callbacks.db"


def _env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path, token=None)


def _cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, program: str = "receiver"
) -> subprocess.CompletedProcess[str]:
    """``python -m receiver`` (the headless command line) or ``python -m desktop`` (``callback-monitor``)."""
    return subprocess.run(
        [sys.executable, "-m", program, *args],
        capture_output=True,
        text=True,
        env=env or _env(tmp_path),
        timeout=120,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[ServeProcess]]:
    running: list[ServeProcess] = []
    yield running
    for server in running:
        server.stop()


def test_options_before_a_self_parsing_subcommand_are_refused_with_a_message(tmp_path: Path) -> None:
    result = _cli(tmp_path, "--db", str(tmp_path / "x.db"), "errors", "30003")
    assert result.returncode == 2
    assert "'errors' takes no options before it: run 'callback-monitor errors …'" in result.stderr


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = _cli(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"callback-monitor {__version__}"
    # the version is written once (receiver/__init__.py); the installed metadata is built from it
    assert metadata.version("callback-monitor") == __version__


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(("--db", "{db}", "export"), id="db-before-subcommand"),
        pytest.param(("export", "--db", "{db}"), id="db-after-subcommand"),
    ],
)
def test_export_reads_the_database_named_by_db_in_either_position(
    tmp_path: Path, served: list[ServeProcess], order: tuple[str, ...]
) -> None:
    db = tmp_path / "chosen.db"
    # fill the chosen database the way it is filled in real life: a signed callback to `serve --db`
    server = ServeProcess(
        ["serve", "--port", "0", "--db", str(db), "--demo-token"], _env(tmp_path)
    ).listening()
    served.append(server)
    message_sid = sid()
    status = http_post(
        server.url, "/twilio/status", status_params(message_sid, "delivered"), token=DEMO_AUTH_TOKEN
    )
    assert status == 200
    assert server.stop() == 0

    result = _cli(tmp_path, *(arg.format(db=db) for arg in order))
    assert result.returncode == 0, result.stderr
    assert [row["sid"] for row in json.loads(result.stdout)] == [message_sid]
    assert not (tmp_path / DEFAULT_DB).exists()


@pytest.mark.parametrize(
    "before",
    [pytest.param(True, id="db-before-subcommand"), pytest.param(False, id="db-after-subcommand")],
)
def test_serve_writes_to_the_database_named_by_db_in_either_position(
    tmp_path: Path, served: list[ServeProcess], before: bool
) -> None:
    db = tmp_path / "chosen.db"
    serve_args = ["serve", "--port", "0", "--demo-token"]
    args = ["--db", str(db), *serve_args] if before else [*serve_args, "--db", str(db)]
    server = ServeProcess(args, _env(tmp_path)).listening()
    served.append(server)
    assert f"database {db}\n" in server.banner
    message_sid = sid()
    status = http_post(
        server.url, "/twilio/status", status_params(message_sid, "delivered"), token=DEMO_AUTH_TOKEN
    )
    assert status == 200
    assert server.stop() == 0

    conn = connect(db, readonly=True)
    try:
        row = conn.execute("SELECT status FROM messages WHERE sid = ?", (message_sid,)).fetchone()
        assert row is not None and row["status"] == "delivered"
    finally:
        conn.close()
    assert not (tmp_path / DEFAULT_DB).exists()


@pytest.mark.parametrize("env_token", [None, TOKEN], ids=["no-env-token", "env-token-set"])
def test_demo_token_banner_names_the_demo_token(
    tmp_path: Path, served: list[ServeProcess], env_token: str | None
) -> None:
    env = _env(tmp_path)
    if env_token:
        env["TWILIO_AUTH_TOKEN"] = env_token
    server = ServeProcess(
        ["serve", "--port", "0", "--db", str(tmp_path / "d.db"), "--demo-token"], env
    ).listening()
    served.append(server)
    lines = server.banner.splitlines()
    demo_line = next(x for x in lines if "demo token" in x)
    assert "this computer only" in demo_line
    token_lines = [x for x in lines if "auth token from" in x]
    # the banner is true: the demo token validates (locally); the environment's token is named only when set
    params = status_params(sid(), "sent")
    assert http_post(server.url, "/twilio/status", params, token=DEMO_AUTH_TOKEN) == 200
    if env_token:
        assert token_lines and "TWILIO_AUTH_TOKEN" in token_lines[0]
        assert http_post(server.url, "/twilio/status", status_params(sid(), "sent"), token=TOKEN) == 200
    else:
        assert token_lines == [] and "keyring" not in server.banner
        assert http_post(server.url, "/twilio/status", status_params(sid(), "sent"), token=TOKEN) == 403


def test_self_test_from_the_source_tree_checks_everything_and_exits_0(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env.pop("QT_QPA_PLATFORM", None)  # self-test must pick the offscreen platform by itself
    result = _cli(tmp_path, "self-test", env=env, program="desktop")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"callback-monitor {__version__} self-test")
    checks = [line.split()[1].rstrip(":") for line in lines[1:-1]]
    assert checks == ["install", "data", "receiver", "database", "window"]
    assert all(line.startswith("  ok ") for line in lines[1:-1])
    assert lines[-1] == "self-test passed"
    assert "'offscreen' platform" in result.stdout
    # nothing of the operator's was touched: no default database, no data folder content
    assert not (tmp_path / DEFAULT_DB).exists()


def test_self_test_rejects_unknown_options(tmp_path: Path) -> None:
    result = _cli(tmp_path, "self-test", "--bogus")
    assert result.returncode == 2
    assert result.stdout.startswith("usage: callback-monitor self-test")


def test_self_test_names_the_failed_check_and_exits_1(tmp_path: Path) -> None:
    """An operator on a server asks for the real display: the window check fails, and says why."""
    env = _env(tmp_path)
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    result = _cli(tmp_path, "self-test", "--display", env=env, program="desktop")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == ["ok", "ok", "ok", "ok", "FAIL"]
    assert lines[-2].startswith("  FAIL window: callback-monitor: no display available")
    assert lines[-1] == "self-test FAILED"
