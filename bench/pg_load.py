"""Copy a SQLite database's rows into an empty PostgreSQL database, fast, for benchmarks and tests only.

Operators move their history with ``callback-monitor migrate-store`` (idempotent, with progress); this is
the quick way to get a million generated rows (bench/make_db.py) into PostgreSQL: the schema from
receiver/store/pg/schema.py, the secondary indexes dropped, ``COPY`` in chunks (ids kept as they are),
the indexes built again once over the loaded rows, the identity sequences moved past the ids, ``ANALYZE``.
The reader parity tests (tests/pg/test_reader_parity.py) use it to put the very same rows, times and ids
in both stores.
``bench/reads.py --load-from DB`` runs it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

TABLES = ("messages", "events", "media", "requests", "webhook_backups", "sync_state", "twilio_alerts")
CHUNK = 20_000


def _text(value: Any) -> Any:
    # PostgreSQL's text cannot hold NUL: PgStore stores U+FFFD instead, and so does this copy
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def copy_sqlite(
    db: str | Path, conn: psycopg.Connection[Any], *, rebuild_indexes: bool = False
) -> dict[str, int]:
    """Copy every table of ``db`` into ``conn``'s database (migrated here if needed); rows per table.
    ``conn``: in autocommit mode (pg/connection.py's ``connect`` gives one).

    ``rebuild_indexes``: drop the secondary indexes first and build them after the copy (a big load)."""
    from receiver.store.pg.schema import apply_migrations  # after a script's path fix-up (main)

    apply_migrations(conn)
    counts: dict[str, int] = {}
    dropped: list[str] = []
    if rebuild_indexes:
        rows = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
            "AND i.tablename = ANY(%s) AND i.indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
            (list(TABLES),),
        ).fetchall()
        for name, definition in rows:
            conn.execute(f'DROP INDEX "{name}"')
            dropped.append(definition)
    source = sqlite3.connect(f"file:{Path(db).resolve()}?mode=ro", uri=True)
    try:
        for table in TABLES:
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "ORDER BY ordinal_position",
                    (table,),
                )
            ]
            names = ", ".join(columns)
            cur = source.execute(f"SELECT {names} FROM {table}")
            n = 0
            with (
                conn.transaction(),
                conn.cursor() as pg,
                pg.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                while chunk := cur.fetchmany(CHUNK):
                    for row in chunk:
                        copy.write_row([_text(v) for v in row])
                    n += len(chunk)
            counts[table] = n
            if "id" in columns:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                )
    finally:
        source.close()
    for definition in dropped:
        conn.execute(definition)
    conn.execute("ANALYZE")
    return counts
