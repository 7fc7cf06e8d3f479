"""``callback-monitor serve --store postgresql://…``: the same receiver on a team database, its password
from the environment or the keyring and never from (or echoed in) the command line."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from receiver import secrets
from receiver.store import StoreError
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget, StoreURLError, parse
from tests.conftest import MemoryKeyring
from tests.pg.cluster import PASSWORD
from tests.receiver_helpers import PUBLIC, http_post, sid, status_params
from tests.serve_process import cli_env as env_for


class PgServe:
    """A ``serve`` process on a team database; ``stop()`` sends SIGTERM and collects its output."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "receiver",
                "serve",
                "--port",
                "0",
                "--store",
                url,
                "--public-url",
                PUBLIC,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env_for(tmp_path),  # PGPASSWORD comes from the session's environment (tests/pg/conftest.py)
        )
        self.out: list[str] = []
        self.stderr = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)
            m = re.match(r"Listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return
        self.stop()
        raise AssertionError("serve exited: " + "".join(self.out) + self.stderr)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rest, self.stderr = self.proc.communicate(timeout=30)
        self.out.append(rest)
        return self.proc.returncode


@pytest.fixture
def two_serves(tmp_path: Path, pg_url: str) -> Iterator[list[PgServe]]:
    started: list[PgServe] = []
    try:
        for n in range(2):
            started.append(PgServe(tmp_path / str(n), pg_url))
        yield started
    finally:
        for s in started:
            if s.proc.poll() is None:
                s.proc.kill()
                s.proc.communicate(timeout=30)


def test_two_serve_processes_on_one_team_database_store_a_retried_callback_once(
    two_serves: list[PgServe], pg_url: str
) -> None:
    message = sid()
    codes = [
        http_post(
            f"http://127.0.0.1:{s.port}", "/twilio/status", status_params(message, st), signed_for=PUBLIC
        )
        for st in ("delivered", "sent")
        for s in two_serves
    ]
    exits = [s.stop() for s in two_serves]

    assert codes == [200] * 4 and exits == [0, 0]
    with psycopg.connect(pg_url) as conn:
        events = sorted(r[0] for r in conn.execute("SELECT status FROM events"))
        status = conn.execute("SELECT status FROM messages").fetchall()
    assert events == ["delivered", "sent"] and status == [("delivered",)]
    for s in two_serves:
        output = "".join(s.out) + s.stderr
        assert f"database {pg_url}" in output  # which store this receiver writes
        assert PASSWORD not in output and "Traceback" not in output


def test_a_password_in_the_store_url_is_refused_without_echoing_it(tmp_path: Path, pg_url: str) -> None:
    secret = "s3cret-in-argv"
    with_password = pg_url.replace("cm_admin@", f"cm_admin:{secret}@")
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "serve", "--port", "0", "--store", with_password],
        capture_output=True,
        text=True,
        env=env_for(tmp_path),
        timeout=60,
    )
    assert done.returncode == 1
    assert "PGPASSWORD" in done.stderr and "keyring" in done.stderr
    assert secret not in done.stdout + done.stderr


def test_the_password_can_come_from_the_keyring(
    pg_target: PostgresTarget, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")  # no ~/.pgpass of the developer's either
    with pytest.raises(StoreError) as refused:
        PgStore(pg_target)
    assert pg_target.url in str(refused.value)  # says which database refused

    memory_keyring.set_password(secrets.SERVICE, pg_target.keyring_name, PASSWORD)
    store = PgStore(pg_target)
    store.close()


def test_a_sqlite_path_and_a_postgresql_url_name_their_backends(tmp_path: Path) -> None:
    assert parse(str(tmp_path / "x.db")).display() == str(tmp_path / "x.db")
    target = parse("postgresql://writer@db.example:6543/callbacks?sslmode=verify-full")
    assert isinstance(target, PostgresTarget)
    assert (target.user, target.host, target.port, target.dbname) == (
        "writer",
        "db.example",
        6543,
        "callbacks",
    )
    assert target.keyring_name == "postgresql-password:writer@db.example:6543/callbacks"
    with pytest.raises(StoreURLError):
        parse("mysql://writer@db.example/callbacks")
    for secret_in_url in ("postgresql://w:pw@db/callbacks", "postgresql://w@db/callbacks?password=pw"):
        with pytest.raises(StoreURLError, match="PGPASSWORD"):
            parse(secret_in_url)
