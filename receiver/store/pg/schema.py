"""The PostgreSQL schema: the tables of SQLite's store as receiver/store/tables.py declares them once
(SQLite's migrations m001-… arrive at the same list), with PostgreSQL types, applied as named migrations
once per database.

Same tables, same column names, same meanings, so the read queries and ``migrate-store`` map one to one
(tests/pg/test_schema.py compares the two schemas column by column). Differences, each for a reason:

- Ids are ``bigint GENERATED ALWAYS AS IDENTITY``: several receivers insert at once.
- Times stay the stored ISO-8601 UTC strings (``utcnow()``), ``COLLATE "C"``: they sort as they compare
  in SQLite, byte by byte, whatever the database's locale; the Reader contract hands them out as strings.
- Free-text search: a ``pg_trgm`` GIN index on the six columns SQLite's ``messages_fts`` covers
  (``ILIKE '%x%'`` on any of them uses it), instead of an FTS5 table and its triggers.
- ``simulated`` is a ``smallint`` 0/1, as SQLite's column, so the same predicates (``simulated = 1``) work.

Migrations run inside one transaction under an advisory lock: two receivers starting together on an empty
database apply each migration once; the second waits for the first and then finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import stats_rollup
from ..tables import TABLES, postgresql_ddl
from . import writers

__all__ = ["MIGRATIONS", "TEXT_COLUMNS", "apply_migrations"]

# pg_advisory_xact_lock key: "callback-monitor schema" (any constant both receivers agree on)
MIGRATION_LOCK = 0x43_4D_53_43_48_45_4D_41  # "CMSCHEMA"
# the columns the free-text search looks in: those of SQLite's messages_fts (tests/pg/test_schema.py)
TEXT_COLUMNS = ("sid", "from_addr", "to_addr", "body", "profile_name", "messaging_service_sid")


# the tables both databases hold, as receiver/store/tables.py declares them
_M001 = tuple(statement for table in TABLES for statement in postgresql_ddl(table))

_M002 = (
    # trusted since PostgreSQL 13: a database owner may create it, no superuser needed
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX idx_messages_text ON messages USING gin ("
    + ", ".join(f"{c} gin_trgm_ops" for c in TEXT_COLUMNS)
    + ")",
)

# migrate-store (receiver/store/migrate.py): which request-log row each copied row of a database file
# became (the file's identity, its id there, the id here), so a second run finds it and events point at
# the copy. A table of its own: the receivers' requests rows, and what a Reader returns of them, stay as
# in SQLite, which has no such table (a file's rows come from its own receiver).
_M021 = (
    "CREATE TABLE requests_origin (origin text NOT NULL, origin_id bigint NOT NULL, "
    "request_id bigint NOT NULL, PRIMARY KEY (origin, origin_id))",
)

# the statistics' delivery-time sample (stats_reads.py): a window's delivered outbound SIDs, read from the
# index alone, without a heap lookup per candidate to check direction and status (a week's refresh 120 -> 70
# ms per period on a million messages). status is indexed already, so its updates were never HOT: the cost
# is one more entry per message that reaches delivered or read.
_M023 = (
    "CREATE INDEX idx_messages_delivered_sample ON messages (first_seen, sid) "
    "WHERE direction = 'outbound' AND status IN ('delivered', 'read')",
)

#: (name, statements), applied in this order, each once per database
MIGRATIONS: Sequence[tuple[str, Sequence[str]]] = (
    ("m001_initial", _M001),
    ("m002_messages_text_index", _M002),
    ("m020_writers", writers.DDL),
    ("m021_requests_origin", _M021),
    # the statistics per closed hour and day (stats_rollup.py), kept by pg/stats.py off the request path
    ("m022_stats_rollup", stats_rollup.PG_SCHEMA),
    ("m023_delivered_sample_index", _M023),
)


def apply_migrations(conn: Any) -> list[str]:
    """Apply the migrations ``conn``'s database lacks, in one transaction; the names applied.

    ``conn``: a psycopg connection in autocommit mode (or idle); it is left idle."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        # looked up first: a writer role without CREATE (docs/TEAM.md) may start on a migrated database
        row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if not (row and row[0]):
            conn.execute(
                "CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL "
                "DEFAULT now())"
            )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for name, statements in MIGRATIONS:
            if name in done:
                continue
            for sql in statements:
                conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            applied.append(name)
    return applied
