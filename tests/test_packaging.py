"""The built artefacts, used the way an operator gets them: the wheel installed into a fresh virtual
environment, and the PyInstaller folder. Each runs ``--version``, ``errors 30003`` and ``self-test``.

Marked ``packaging``: ``make test`` leaves them out; CI (.ci/run) builds the wheel and the folder, then runs
them with ``CALLBACK_MONITOR_WHEEL`` and ``CALLBACK_MONITOR_FROZEN`` pointing at what it built. Without
those variables the fixtures build the artefacts themselves (slow: a minute or two each), so
``make test-packaging`` works on its own and nothing here is ever skipped.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver import __version__

# the suite's 120 s per test also bounds fixture set-up, and installing the wheel's dependencies (Qt) into
# a fresh environment takes longer on a busy machine; each subprocess here has its own timeout
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("receiver", "desktop")


def _run(args: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a built program the way an operator would: no display, own home folder, not from the repo."""
    env = dict(os.environ)
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "PYTHONPATH", "TWILIO_AUTH_TOKEN"):
        env.pop(name, None)
    env["CALLBACK_MONITOR_HOME"] = str(cwd / "home")
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _check(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


# ----------------------------------------------------------------------------------------------- wheel
@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("CALLBACK_MONITOR_WHEEL")
    if given:
        path = Path(given).resolve()
        assert path.is_file(), f"CALLBACK_MONITOR_WHEEL={given} is not a file"
        return path
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)]
    subprocess.run(cmd, check=True, timeout=600)
    (path,) = out.glob("callback_monitor-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the wheel (and its dependencies) installed: its bin folder."""
    folder = tmp_path_factory.mktemp("venv")
    venv.create(folder / "env", with_pip=True)
    bindir = folder / "env" / ("Scripts" if sys.platform == "win32" else "bin")
    subprocess.run(
        [bindir / "python", "-m", "pip", "install", "--quiet", str(wheel)], check=True, timeout=900
    )
    yield bindir


def _source_files() -> set[str]:
    """What the wheel must hold: every module of both packages, and resources/ as receiver/resources/."""
    expected = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    expected |= {
        f"receiver/resources/{path.relative_to(ROOT / 'resources').as_posix()}"
        for path in (ROOT / "resources").rglob("*")
        if path.is_file()
    }
    return expected


def test_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    print("\n".join(sorted(names)))  # the wheel's file list, in the test log
    assert "receiver/resources/error_codes.json" in names
    assert "receiver/resources/icon.png" in names
    missing = _source_files() - names
    assert not missing, f"in the source tree but not in the wheel (add to pyproject's packages?): {missing}"
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {*PACKAGES, f"callback_monitor-{__version__}.dist-info"}


def test_installed_wheel_runs_version_errors_and_self_test(installed: Path, tmp_path: Path) -> None:
    program = installed / "callback-monitor"
    assert _check(_run([program, "--version"], tmp_path)).strip() == f"callback-monitor {__version__}"

    errors = _check(_run([program, "errors", "30003"], tmp_path))
    assert errors.startswith("30003  Unreachable handset")

    report = _check(_run([program, "self-test"], tmp_path))
    print(report)
    assert report.rstrip().endswith("self-test passed")
    # the data came from the installed package, not from a source tree
    data_line = next(line for line in report.splitlines() if "data files:" in line)
    assert f"site-packages{os.sep}receiver{os.sep}resources" in data_line
    assert "'offscreen' platform" in report


def _wheel_claiming(name: str, top_level: str, folder: Path) -> Path:
    """A minimal, valid wheel of another distribution that installs the package ``top_level``: what an
    unrelated PyPI project with the same top-level name does to a shared environment."""
    dist = f"{name.replace('-', '_')}-1.0"
    files = {
        f"{top_level}/__init__.py": b'"""Not Callback Monitor."""\n',
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}.dist-info/top_level.txt": f"{top_level}\n".encode(),
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    record.append(f"{dist}.dist-info/RECORD,,")
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in files.items():
            zf.writestr(member, data)
        zf.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def test_another_distribution_installing_desktop_is_named_at_start(
    installed: Path, wheel: Path, tmp_path: Path
) -> None:
    other = _wheel_claiming("desktop-lookalike", "desktop", tmp_path)
    pip: list[str | Path] = [installed / "python", "-m", "pip", "--quiet"]
    _check(_run([*pip, "install", "--no-deps", other], tmp_path))
    try:
        result = _run([installed / "callback-monitor", "errors", "30003"], tmp_path)
        assert result.returncode == 1
        assert "'desktop' is also installed by: desktop-lookalike" in result.stderr
        assert "virtual environment" in result.stderr
    finally:
        # leave the environment as the other tests expect it (uninstalling the other one deletes our
        # desktop/__init__.py too, which is exactly why the clash is worth reporting)
        _check(_run([*pip, "uninstall", "--yes", "desktop-lookalike"], tmp_path))
        _check(_run([*pip, "install", "--force-reinstall", "--no-deps", wheel], tmp_path))


# ---------------------------------------------------------------------------------------------- frozen
@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PyInstaller-built program (``make package``), or one built now into a temporary folder."""
    given = os.environ.get("CALLBACK_MONITOR_FROZEN")
    if given:
        path = Path(given).resolve()
        assert path.is_file(), f"CALLBACK_MONITOR_FROZEN={given} is not a file"
        return path
    out = tmp_path_factory.mktemp("frozen")
    pyinstaller = Path(sys.executable).parent / "pyinstaller"
    assert pyinstaller.exists(), "PyInstaller is not installed here: pip install -e '.[build]'"
    cmd = [pyinstaller, "--noconfirm", "--log-level", "WARN", "--distpath", out / "dist"]
    subprocess.run(
        [*map(str, cmd), "--workpath", str(out / "build"), str(ROOT / "build.spec")], check=True, timeout=1800
    )
    return out / "dist" / "callback-monitor" / "callback-monitor"


def test_frozen_program_runs_version_errors_and_self_test(frozen: Path, tmp_path: Path) -> None:
    assert _check(_run([frozen, "--version"], tmp_path)).strip() == f"callback-monitor {__version__}"

    errors = _check(_run([frozen, "errors", "30003"], tmp_path))
    assert errors.startswith("30003  Unreachable handset")

    report = _check(_run([frozen, "self-test"], tmp_path))
    print(report)
    assert report.rstrip().endswith("self-test passed")
    assert "frozen build" in report.splitlines()[0]
    data_line = next(line for line in report.splitlines() if "data files:" in line)
    assert str(frozen.parent) in data_line and f"receiver{os.sep}resources" in data_line
    assert "'offscreen' platform" in report


class FrozenServe:
    """``serve`` run from the built folder up to its "Listening on" line; ``stop()`` sends SIGTERM and
    returns the exit status (its stderr in ``err``)."""

    def __init__(self, frozen: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        import re

        full = dict(os.environ, CALLBACK_MONITOR_HOME=str(tmp_path / "home"), **(env or {}))
        full.pop("DISPLAY", None)
        self.proc = subprocess.Popen(
            [str(frozen), "serve", "--port", "0", *args],
            cwd=tmp_path,
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.banner, self.port, self.err = "", 0, ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.banner += line
            m = re.match(r"Listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return
        self.stop()
        raise AssertionError(f"serve exited: {self.banner}{self.err}")

    def stop(self) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, self.err = self.proc.communicate(timeout=30)
        return self.proc.returncode


def test_frozen_program_serves_headless(frozen: Path, tmp_path: Path) -> None:
    """``serve`` from the built folder: banner, a free port, and a clean stop on SIGTERM."""
    server = FrozenServe(frozen, tmp_path, "--demo-token", "--db", str(tmp_path / "f.db"))
    assert "demo token" in server.banner
    assert server.stop() == 0, server.err


def test_frozen_program_serves_a_team_database(frozen: Path, tmp_path: Path) -> None:
    """``serve --store postgresql://…`` from the built folder (psycopg and its bundled libpq inside it)
    against a real server: a signed callback gets its 200 only once stored, then a clean stop."""
    import psycopg

    from tests.pg.cluster import PASSWORD, Cluster
    from tests.receiver_helpers import TOKEN, http_post, sid, status_params

    cluster = Cluster()
    try:
        cluster.start()
        cluster.admin("CREATE DATABASE frozen")
        env = {"PGPASSWORD": PASSWORD, "TWILIO_AUTH_TOKEN": TOKEN}
        server = FrozenServe(frozen, tmp_path, "--store", cluster.url("frozen"), env=env)
        try:
            assert "PostgreSQL, database 'frozen'" in server.banner and PASSWORD not in server.banner
            message = sid()
            url = f"http://127.0.0.1:{server.port}"
            assert http_post(url, "/twilio/status", status_params(message, "delivered")) == 200
        finally:
            assert server.stop() == 0, server.err
        with psycopg.connect(cluster.url("frozen"), password=PASSWORD) as conn:
            row = conn.execute("SELECT status FROM messages WHERE sid = %s", (message,)).fetchone()
        assert row == ("delivered",)
    finally:
        cluster.destroy()
