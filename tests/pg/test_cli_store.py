"""``--store`` names a team database the same way on every subcommand: serve's start-up lines say what a
team database means, options about a database file are refused with the reason, and the desktop's window
is handed the store as the user named it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from receiver import cli
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio
from tests.pg.test_serve import PgServe
from tests.pg.test_writes import run, traffic
from tests.serve_process import cli_env, run_cli

fake_twilio = fakes.fake_twilio  # fixture, made visible to pytest here


def test_serve_on_a_team_database_names_it_and_has_no_disk_line(tmp_path: Path, pg_url: str) -> None:
    server = PgServe(tmp_path, pg_url)
    assert server.stop() == 0
    banner = "".join(server.out)
    dbname = pg_url.rsplit("/", 1)[1]
    assert f"team database {pg_url}\n" in banner
    assert f"PostgreSQL, database '{dbname}' on 127.0.0.1:" in banner and " as cm_admin;" in banner
    assert "synchronous_commit=on" in banner and "request log kept 7 days" in banner
    assert "disk:" not in banner and "synchronous=NORMAL" not in banner


@pytest.mark.parametrize(
    ("option", "why"),
    [
        (["--synchronous", "FULL"], "always commits with synchronous_commit=on"),
        (["--min-free-mb", "1024"], "the team database's disk is the server's"),
        (["--min-free-mb", "0"], "the team database's disk is the server's"),  # given, though 0
        (["--fresh-if-damaged"], "repaired on its server"),
    ],
)
def test_serve_refuses_a_file_only_option_for_a_team_database(
    tmp_path: Path, pg_url: str, option: list[str], why: str
) -> None:
    out = run_cli(tmp_path, "serve", "--port", "0", "--store", pg_url, *option)
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert out.stderr.startswith(f"error: {option[0]} is for a database file, not a team database: ")
    assert why in out.stderr


def test_store_and_db_together_are_refused(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "export", "--store", str(tmp_path / "a.db"), "--db", str(tmp_path / "b.db"))
    assert out.returncode == 2 and "give the store once" in out.stderr


def test_store_before_the_subcommand_names_the_file(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "--store", str(tmp_path / "missing.db"), "export")
    assert out.returncode == 1 and f"no database at {tmp_path / 'missing.db'}" in out.stderr


def test_the_window_gets_the_store_as_the_user_named_it() -> None:
    opened: list[str | None] = []

    def window(store: str | None) -> int:
        opened.append(store)
        return 0

    url = "postgresql://cm_viewer@db.internal:5432/callbacks?sslmode=verify-full"
    assert cli.main(["--store", url], open_window=window) == 0
    assert cli.main(["--db", "x.db"], open_window=window) == 0
    assert cli.main([], open_window=window) == 0
    assert opened == [url, "x.db", None]


def test_serve_announces_where_it_listens_in_the_writers_list(tmp_path: Path, pg_url: str) -> None:
    server = PgServe(tmp_path, pg_url)
    try:
        with psycopg.connect(pg_url) as conn:
            listens = [r[0] for r in conn.execute("SELECT listen FROM writers WHERE stopped_at IS NULL")]
    finally:
        assert server.stop() == 0
    assert listens == [f"127.0.0.1:{server.port}"]


def test_prune_on_a_team_database_deletes_old_messages_with_their_events(
    tmp_path: Path, pg_target: PostgresTarget
) -> None:
    with PgStore(pg_target) as team:
        run(team, traffic())
    out = run_cli(tmp_path, "prune", "--store", pg_target.url, "--before", "2100-01-01")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{pg_target.url}: deleted ") and "4 messages with" in out.stdout
    with psycopg.connect(pg_target.url) as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM events)"
        ).fetchone()
    assert left == (0, 0)


def test_reconcile_backfills_a_team_database(fake_twilio: FakeTwilio, tmp_path: Path, pg_url: str) -> None:
    known = fake_twilio.add_message(status="delivered")
    env = cli_env(tmp_path, token=None) | {
        "CALLBACK_MONITOR_TWILIO_API_BASE": fake_twilio.base_url,
        "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "TWILIO_API_KEY": fake_twilio.api_key_sid,
        "TWILIO_API_SECRET": fake_twilio.api_key_secret,
    }
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    out = run_cli(tmp_path, "reconcile", "--store", pg_url, "--since", since, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{pg_url}: ") and "1 new" in out.stdout
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT status, source FROM messages WHERE sid = %s", (known["sid"],)).fetchone()
    assert row == ("delivered", "reconcile")
