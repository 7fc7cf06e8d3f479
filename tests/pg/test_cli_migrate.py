"""``callback-monitor migrate-store`` as an operator types it: progress on stderr, a summary, and one
clear line (exit 1 or 2, nothing written) for each mistake."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from receiver.store import Store
from tests.pg.cluster import Cluster, free_port
from tests.pg.test_writes import run, traffic
from tests.serve_process import cli_env, run_cli


@pytest.fixture
def laptop_db(tmp_path: Path) -> Path:
    path = tmp_path / "laptop.db"
    with Store(path) as store:
        run(store, traffic())
    return path


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]


def test_migrate_store_reports_progress_and_a_summary_then_nothing_new(
    tmp_path: Path, laptop_db: Path, pg_url: str
) -> None:
    out = run_cli(tmp_path, "migrate-store", "--from", str(laptop_db), "--to", pg_url)
    assert out.returncode == 0, out.stderr
    assert "messages: 4 / 4 rows (100%)" in out.stderr and "rows/s" in out.stderr
    assert "messages: 4 copied, 0 already there" in out.stdout
    events = int(re.search(r"events: (\d+) copied, 0 already there", out.stdout).group(1))  # type: ignore[union-attr]
    again = run_cli(tmp_path, "migrate-store", "--from", str(laptop_db), "--store", pg_url)
    assert again.returncode == 0, again.stderr
    assert "messages: 0 copied, 4 already there" in again.stdout
    assert f"events: 0 copied, {events} already there" in again.stdout and events > 0


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("missing.db", "no database at"),
        ("notes.txt", "is not a Callback Monitor database"),
        ("other.db", "is not a Callback Monitor database"),
    ],
)
def test_a_wrong_source_is_one_line_and_writes_nothing(
    tmp_path: Path, pg_url: str, source: str, says: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE messages (sid TEXT)")
    other.close()
    out = run_cli(tmp_path, "migrate-store", "--from", str(tmp_path / source), "--to", pg_url)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: ") and says in out.stderr
    assert _tables(pg_url) == []


def test_an_unreachable_server_is_one_line(tmp_path: Path, laptop_db: Path) -> None:
    url = f"postgresql://cm_admin@127.0.0.1:{free_port()}/callbacks"
    out = run_cli(tmp_path, "migrate-store", "--from", str(laptop_db), "--to", url)
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert out.stderr.startswith(f"error: cannot use the team database {url}")


def test_a_role_without_permission_is_one_line(tmp_path: Path, laptop_db: Path, pg_cluster: Cluster) -> None:
    """A viewer (SELECT only) is refused by the server: the message says so, and nothing is written."""
    from tests.pg.conftest import fresh_database

    name = fresh_database(pg_cluster)
    try:
        pg_cluster.admin("DROP ROLE IF EXISTS cm_m_viewer")
        pg_cluster.admin("CREATE ROLE cm_m_viewer LOGIN PASSWORD 'test-only-password'")
        # PostgreSQL 15: no CREATE on schema public for PUBLIC, so this role cannot make the tables
        pg_cluster.admin(f"GRANT CONNECT ON DATABASE {name} TO cm_m_viewer")
        out = run_cli(
            tmp_path, "migrate-store", "--from", str(laptop_db), "--to", pg_cluster.url(name, "cm_m_viewer")
        )
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert "permission denied" in out.stderr
        assert _tables(pg_cluster.url(name)) == []
    finally:
        pg_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pg_cluster.admin("DROP ROLE IF EXISTS cm_m_viewer")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--to", "postgresql://u:secret@127.0.0.1/db"], "carries a password"),
        (["--to", "elsewhere.db"], "--to takes a team database's postgresql:// URL"),
        ([], "name the team database"),
    ],
)
def test_a_wrong_destination_is_a_usage_error(
    tmp_path: Path, laptop_db: Path, args: list[str], says: str
) -> None:
    out = run_cli(tmp_path, "migrate-store", "--from", str(laptop_db), *args)
    assert out.returncode == 2 and says in out.stderr
    assert "secret" not in out.stderr + out.stdout


@pytest.mark.parametrize("what", ["messages", "events", "requests"])
def test_export_from_the_team_database_after_migrate_matches_the_files(
    tmp_path: Path, laptop_db: Path, pg_url: str, what: str
) -> None:
    """The same ``export`` names either store with --store: after migrate-store into an empty team
    database, both give the same records (PostgreSQL's text holds no NUL: U+FFFD stands for it)."""
    assert run_cli(tmp_path, "migrate-store", "--from", str(laptop_db), "--to", pg_url).returncode == 0
    local = run_cli(tmp_path, "export", "--store", str(laptop_db), "--what", what)
    team = run_cli(tmp_path, "export", "--store", pg_url, "--what", what)
    assert team.returncode == 0, team.stderr
    assert json.loads(team.stdout) == json.loads(local.stdout.replace("\\u0000", "\ufffd"))
    assert len(json.loads(team.stdout)) > 0


BENCH = Path(__file__).resolve().parents[2] / "bench"
COUNTED = ("messages", "events", "requests")
MISCOUNTED = (
    "SELECT count(*) FROM messages m "
    "WHERE event_count <> (SELECT count(*) FROM events e WHERE e.message_sid = m.sid)"
)


def test_a_killed_run_is_finished_once_by_the_next(tmp_path: Path, pg_url: str) -> None:
    """SIGKILL while the events are being copied; the same command again completes the copy, every row
    once and every message's event count equal to its events."""
    db = tmp_path / "laptop.db"
    make_db = [sys.executable, str(BENCH / "make_db.py"), "--messages", "20000", "--events", "60000"]
    subprocess.run([*make_db, "--requests", "5000", "--out", str(db)], check=True, timeout=300)
    command = [sys.executable, "-m", "receiver", "migrate-store", "--from", str(db), "--to", pg_url]
    proc = subprocess.Popen(
        command, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("messages: 20,000 / 20,000 rows"):  # messages done: events are next
            break
    proc.kill()
    proc.communicate(timeout=30)
    out = run_cli(tmp_path, "migrate-store", "--from", str(db), "--to", pg_url)
    assert out.returncode == 0, out.stderr
    resumed = re.search(r"events: ([\d,]+) copied", out.stdout)
    assert resumed is not None and int(resumed.group(1).replace(",", "")) > 0  # the kill left events to do
    source = sqlite3.connect(db)
    expected = [source.execute(f"SELECT count(*) FROM {t}").fetchone() for t in COUNTED]
    source.close()
    with psycopg.connect(pg_url) as conn:
        got = [conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in COUNTED]
        miscounted = conn.execute(MISCOUNTED).fetchone()
    assert got == expected
    assert miscounted == (0,)
