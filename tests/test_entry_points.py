"""Entry points split the dangerzone way: the core (receiver/) never imports the GUI, and the headless
commands work in an install where PySide6 cannot be imported at all.

The "no Qt" runs use a fresh interpreter with a meta-path hook that makes every ``import PySide6…`` fail,
as on a server where only the core's dependencies are installed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.receiver_helpers import TOKEN, http_post, sid, status_params

ROOT = Path(__file__).resolve().parents[1]

# Run in the child before anything else: PySide6 and its submodules are not importable.
NO_QT = """
import sys

class _NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, _NoQt())
"""


def _package_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, module) for every import in a file, relative ones resolved against ``package``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.append((node.lineno, module))
    return found


def test_no_module_of_the_core_imports_the_gui_or_qt() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / "receiver").rglob("*.py"))
        for line, module in _imports(path, _package_of(path))
        if module.split(".")[0] in ("desktop", "PySide6", "shiboken6")
    ]
    assert offenders == []


def test_the_import_scan_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The scan above must find an import inside a function (the old ``cli.py`` had one) and resolve
    ``from .. import`` forms; otherwise its empty list would prove nothing."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from desktop.app import main\n    from ..store import core\n")
    assert _imports(probe, "receiver.store") == [(2, "desktop.app"), (3, "receiver.store")]
    assert _package_of(ROOT / "receiver" / "store" / "core.py") == "receiver.store"


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CALLBACK_MONITOR_HOME": str(tmp_path / "home"),
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    return env


def _no_qt(entry: str, args: list[str]) -> list[str]:
    """A command line running ``entry`` (``receiver.cli`` or ``desktop.cli``) with PySide6 blocked."""
    code = NO_QT + f"from {entry} import main\nsys.exit(main({args!r}))\n"
    return [sys.executable, "-c", code]


def _run(tmp_path: Path, cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path), timeout=120, cwd=tmp_path)


def test_the_blocking_hook_really_blocks_qt(tmp_path: Path) -> None:
    code = NO_QT + "import PySide6.QtCore\n"
    result = _run(tmp_path, [sys.executable, "-c", code])
    assert result.returncode == 1 and "blocked by the test" in result.stderr


@pytest.mark.parametrize("entry", ["receiver.cli", "desktop.cli"])
def test_errors_works_without_qt(tmp_path: Path, entry: str) -> None:
    result = _run(tmp_path, _no_qt(entry, ["errors", "30003"]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("30003  Unreachable handset")


@pytest.mark.parametrize("entry", ["receiver.cli", "desktop.cli"])
def test_serve_stores_a_signed_callback_without_qt(tmp_path: Path, entry: str) -> None:
    db = tmp_path / "noqt.db"
    proc = subprocess.Popen(
        _no_qt(entry, ["serve", "--port", "0", "--db", str(db)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            match = re.match(r"Listening on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1)
                break
        assert url is not None, proc.stderr.read() if proc.stderr else ""
        message = sid()
        assert http_post(url, "/twilio/status", status_params(message, "delivered")) == 200
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    exported = _run(tmp_path, _no_qt(entry, ["export", "--db", str(db)]))
    assert exported.returncode == 0, exported.stderr
    assert [(m["sid"], m["status"]) for m in json.loads(exported.stdout)] == [(message, "delivered")]


def test_the_app_without_qt_says_what_to_install_and_what_runs_headless(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"QT_QPA_PLATFORM": "offscreen"}  # past the display check, to the Qt import
    result = subprocess.run(
        _no_qt("desktop.cli", []), capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "the desktop app needs PySide6" in result.stderr and "callback-monitor serve" in result.stderr
    assert "Traceback" not in result.stderr


def test_self_test_without_qt_names_the_window_check_and_no_window_passes(tmp_path: Path) -> None:
    failed = _run(tmp_path, _no_qt("desktop.cli", ["self-test"]))
    assert failed.returncode == 1
    assert "  FAIL window: callback-monitor: the desktop app needs PySide6" in failed.stdout
    assert "--no-window" in failed.stdout

    passed = _run(tmp_path, _no_qt("desktop.cli", ["self-test", "--no-window"]))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "  skip window: not checked (--no-window)" in passed.stdout


def test_headless_self_test_checks_all_but_the_window_and_says_so(tmp_path: Path) -> None:
    result = _run(tmp_path, _no_qt("receiver.cli", ["self-test"]))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == ["ok", "ok", "ok", "ok", "skip"]
    assert "`callback-monitor self-test` checks it" in lines[-2]
    assert lines[-1] == "self-test passed"


def test_the_headless_command_line_without_a_subcommand_asks_for_one(tmp_path: Path) -> None:
    result = _run(tmp_path, [sys.executable, "-m", "receiver"])
    assert result.returncode == 2
    assert "name a subcommand" in result.stderr and "usage: callback-monitor" in result.stderr
    assert not (tmp_path / "home" / "data" / "callbacks.db").exists()


def test_the_installed_script_is_the_desktop_entry() -> None:
    """``callback-monitor`` (pyproject) and the PyInstaller build both start at desktop/cli.py."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"callback-monitor": "desktop.cli:main"}
    assert 'ROOT / "desktop" / "__main__.py"' in (ROOT / "build.spec").read_text(encoding="utf-8")
