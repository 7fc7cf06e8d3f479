"""SQLite's schema, after every migration it has (receiver/store/schema.py), is exactly the declared list
of tables both databases hold (receiver/store/tables.py), from which PostgreSQL's is generated: a column,
key or index added to SQLite's migrations and not to the list (or the other way round) fails here."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

from receiver.store import Store
from receiver.store.tables import SQLITE_TYPES, TABLES, Table

# sqlite_utils' bookkeeping, the full-text index and the statistics rollup: SQLite's own (tables.py)
SQLITE_ONLY = ("_sqlite_migrations", "messages_fts", "stats_", "sqlite_")

Columns = list[tuple[str, str, int, str | None, int]]
Indexes = dict[str, tuple[tuple[str, ...], bool, str | None]]


def declared(table: Table) -> tuple[Columns, Indexes]:
    columns = [
        (c.name, SQLITE_TYPES[c.kind], int(c.not_null), None if c.default is None else str(c.default),
         int(c.primary_key))
        for c in table.columns
    ]  # fmt: skip
    return columns, {i.name: (i.columns, i.unique, i.where) for i in table.indexes}


def stored(conn: sqlite3.Connection, table: str) -> tuple[Columns, Indexes]:
    columns = [(r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(f"PRAGMA table_info({table})")]
    indexes: Indexes = {}
    for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
        if origin == "pk":  # a TEXT PRIMARY KEY's own index
            continue
        cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})"))
        where = None
        if partial:
            (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
            where = " ".join(re.split(r"\sWHERE\s", sql, maxsplit=1)[1].split())
        indexes[name] = (cols, bool(unique), where)
    return columns, indexes


def test_sqlites_migrated_schema_is_the_declared_list(tmp_path: Path) -> None:
    Store(tmp_path / "s.db", maintain_stats=False).close()
    with closing(sqlite3.connect(tmp_path / "s.db")) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {n for n in names if not n.startswith(SQLITE_ONLY)} == {t.name for t in TABLES}
        for table in TABLES:
            assert stored(conn, table.name) == declared(table), table.name
