"""migrate-store: a laptop's database file copied into a team database, against a real server. Twice is
once; a rerun after more traffic copies only the new rows; a later status already in the team database
is kept; a run that fails half-way is completed by the next one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from receiver.store import Store, StoreError
from receiver.store import migrate as migration
from receiver.store.pg import migrate as pg_migrate
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget
from tests.pg.test_writes import rows_pg, rows_sqlite, run, traffic, without_nul
from tests.receiver_helpers import sid, status_params


def laptop(path: Path, requests: list[tuple[str, dict[str, str], bool]]) -> Path:
    with Store(path) as store:
        run(store, requests)
    return path


def copied(summary: migration.Summary) -> dict[str, int]:
    return {t.name: t.inserted for t in summary.tables}


def test_migrating_twice_stores_everything_once(tmp_path: Path, pg_target: PostgresTarget) -> None:
    db = laptop(tmp_path / "laptop.db", traffic())
    first = migration.migrate(db, pg_target)
    expected = rows_sqlite(db)
    assert rows_pg(pg_target.url) == {t: without_nul(rows) for t, rows in expected.items()}
    assert copied(first)["events"] == len(expected["events"]) > 0
    second = migration.migrate(db, pg_target)
    assert set(copied(second).values()) == {0}
    assert all(t.updated == 0 for t in second.tables)
    assert rows_pg(pg_target.url) == {t: without_nul(rows) for t, rows in expected.items()}


def test_a_run_after_more_traffic_copies_only_the_new_rows(tmp_path: Path, pg_target: PostgresTarget) -> None:
    db = laptop(tmp_path / "laptop.db", traffic())
    migration.migrate(db, pg_target)
    before = rows_sqlite(db)
    laptop(db, traffic())  # more callbacks on the laptop after the first copy
    after = rows_sqlite(db)
    again = copied(migration.migrate(db, pg_target))
    assert again["requests"] == len(after["requests"]) - len(before["requests"])
    assert again["events"] == len(after["events"]) - len(before["events"])
    assert again["messages"] == len(after["messages"]) - len(before["messages"])
    assert rows_pg(pg_target.url) == {t: without_nul(rows) for t, rows in after.items()}


def _message(url: str, message: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status, event_count, (SELECT array_agg(status ORDER BY status) FROM events "
            "WHERE message_sid = %s) FROM messages WHERE sid = %s",
            (message, message),
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_a_later_status_in_the_team_database_is_not_moved_back(
    tmp_path: Path, pg_target: PostgresTarget
) -> None:
    message = sid()
    with PgStore(pg_target) as team:  # the team's receivers already have it read
        run(team, [("/twilio/status", status_params(message, "read"), True)])
    db = laptop(
        tmp_path / "laptop.db",
        [
            ("/twilio/status", status_params(message, "sent"), True),
            ("/twilio/status", status_params(message, "delivered"), True),
        ],
    )
    migration.migrate(db, pg_target)
    assert _message(pg_target.url, message) == ("read", 3, ["delivered", "read", "sent"])
    again = migration.migrate(db, pg_target)  # and again: nothing counted or merged twice
    assert {t.name: (t.inserted, t.updated) for t in again.tables}["messages"] == (0, 0)
    assert _message(pg_target.url, message) == ("read", 3, ["delivered", "read", "sent"])


def test_a_laptops_later_status_moves_the_team_row_forward(tmp_path: Path, pg_target: PostgresTarget) -> None:
    message = sid()
    with PgStore(pg_target) as team:
        run(team, [("/twilio/status", status_params(message, "sent"), True)])
    db = laptop(tmp_path / "laptop.db", [("/twilio/status", status_params(message, "delivered"), True)])
    migration.migrate(db, pg_target)
    assert _message(pg_target.url, message) == ("delivered", 2, ["delivered", "sent"])


def test_a_run_that_fails_half_way_is_completed_once_by_the_next(
    tmp_path: Path, pg_target: PostgresTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = laptop(tmp_path / "laptop.db", traffic() + traffic())
    expected = rows_sqlite(db)
    monkeypatch.setattr(migration, "CHUNK", 3)  # many chunks out of a small file
    real = pg_migrate.merge_chunk
    calls = 0

    def failing(conn: Any, table: pg_migrate.Table, rows: Sequence[Sequence[Any]], origin: str) -> Any:
        nonlocal calls
        if table.name == "events":
            calls += 1
            if calls == 3:  # the server goes away in the middle of the events
                raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real(conn, table, rows, origin)

    monkeypatch.setattr(pg_migrate, "merge_chunk", failing)
    with pytest.raises(StoreError, match="run the same command again"):
        migration.migrate(db, pg_target)
    partial = rows_pg(pg_target.url)
    assert 0 < len(partial["events"]) < len(expected["events"])
    migration.migrate(db, pg_target)
    assert rows_pg(pg_target.url) == {t: without_nul(rows) for t, rows in expected.items()}


def test_the_file_is_copied_while_a_receiver_keeps_writing_to_it(
    tmp_path: Path, pg_target: PostgresTarget
) -> None:
    db = tmp_path / "laptop.db"
    with Store(db) as running:  # the app holds the file (its writer lock) during the copy
        run(running, traffic())
        summary = migration.migrate(db, pg_target)
        run(running, [("/twilio/status", status_params(sid(), "sent"), True)])
    assert copied(summary)["messages"] == 4
