"""PostgreSQL's schema beside SQLite's: same tables and columns, migrations once, trigram text search."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import psycopg
import pytest

from receiver.store import Store
from receiver.store.pg.schema import MIGRATIONS, TEXT_COLUMNS
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget, parse
from tests.pg.cluster import Cluster

# sqlite_utils' bookkeeping; FTS5 (pg_trgm instead)
SQLITE_ONLY = ("_sqlite_migrations", "messages_fts")
FAMILY = {
    "": "text",  # SQLite's untyped stats_state.value (an hour or an id): PostgreSQL's text
    "TEXT": "text",
    "INTEGER": "integer",
    "REAL": "float",
    "FLOAT": "float",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "double precision": "float",
}


def sqlite_columns(path: Path) -> dict[str, dict[str, str]]:
    conn = sqlite3.connect(path)
    tables = [
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not r[0].startswith(SQLITE_ONLY)
    ]
    found = {t: {c[1]: FAMILY[c[2]] for c in conn.execute(f"PRAGMA table_info({t})")} for t in tables}
    conn.close()
    return found


def pg_columns(url: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    with psycopg.connect(url) as conn:
        for table, column, kind in conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' "
            "AND table_name NOT IN ('schema_migrations', 'writers', 'requests_origin')"
        ):  # requests_origin: where migrate-store's copies came from (m021), nothing a file needs
            found.setdefault(str(table), {})[str(column)] = FAMILY.get(str(kind), str(kind))
    return found


def test_every_sqlite_table_and_column_exists_in_postgresql_with_the_same_kind(
    tmp_path: Path, pg_target: PostgresTarget
) -> None:
    Store(tmp_path / "local.db").close()
    PgStore(pg_target).close()
    assert pg_columns(pg_target.url) == sqlite_columns(tmp_path / "local.db")


def test_text_search_covers_the_columns_of_sqlites_text_index(tmp_path: Path) -> None:
    Store(tmp_path / "local.db").close()
    conn = sqlite3.connect(tmp_path / "local.db")
    fts = tuple(c[1] for c in conn.execute("PRAGMA table_info(messages_fts)"))
    conn.close()
    assert fts == TEXT_COLUMNS


def test_receivers_starting_together_apply_each_migration_once(pg_target: PostgresTarget) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []
    stores: list[PgStore] = []

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PgStore(pg_target))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    assert errors == []
    with psycopg.connect(pg_target.url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]


@pytest.fixture(scope="module")
def searchable(pg_cluster: Cluster) -> Iterator[str]:
    """A database of 5,000 messages with distinct text in every searchable column, analysed."""
    from tests.pg.conftest import fresh_database

    name = fresh_database(pg_cluster)
    url = pg_cluster.url(name)
    PgStore(cast(PostgresTarget, parse(url))).close()
    values = ", ".join(f"substr(md5('{c}' || n), 1, 16)" for c in TEXT_COLUMNS)
    index = next(sql for sql in dict(MIGRATIONS)["m002_messages_text_index"] if "idx_messages_text" in sql)
    with psycopg.connect(url) as conn:
        conn.execute("DROP INDEX idx_messages_text")  # built once after the rows: much faster
        conn.execute(
            f"INSERT INTO messages ({', '.join(TEXT_COLUMNS)}, direction, channel, status, status_rank, "
            f"first_seen, updated_at) SELECT {values}, 'outbound', 'sms', 'sent', 3, n::text, n::text "
            "FROM generate_series(1, 5000) AS n"
        )
        conn.execute(index)
        conn.execute("ANALYZE messages")
    yield url
    pg_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_free_text_search_goes_through_the_trigram_index(searchable: str) -> None:
    """The messages table's search: a substring of any of the six columns, case-insensitive."""
    with psycopg.connect(searchable) as conn:
        # at this size reading the table is cheaper (the index wins past ~100,000 rows): the question
        # here is whether the index can answer the search at all
        conn.execute("SET enable_seqscan = off")
        row = conn.execute("SELECT body, substr(body, 5, 7) FROM messages LIMIT 1").fetchone()
        assert row is not None
        body, fragment = row
        where = " OR ".join(f"{c} ILIKE %(q)s" for c in TEXT_COLUMNS)
        query = f"SELECT body FROM messages WHERE {where}"
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, {"q": f"%{fragment}%"}))
        found = [r[0] for r in conn.execute(query, {"q": f"%{fragment.upper()}%"})]
    assert "Bitmap Index Scan on idx_messages_text" in plan
    assert "Seq Scan" not in plan
    assert "idx_messages_first_seen" not in plan
    assert body in found
