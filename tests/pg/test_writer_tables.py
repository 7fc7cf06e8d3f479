"""PostgreSQL's schema after every migration is the declared list (receiver/store/tables.py) it was
generated from, plus only its own tables: a later migration (m021…) that changes a shared table without
the list fails here, as tests/test_tables.py fails for SQLite."""

from __future__ import annotations

import psycopg

from receiver.store import stats_rollup
from receiver.store.pg.store import PgStore
from receiver.store.tables import POSTGRESQL_TYPES, TABLES
from receiver.store.url import PostgresTarget

# the statistics rollup is declared with its queries (stats_rollup.SCHEMA / PG_SCHEMA, m014 / m022);
# requests_origin: migrate-store's map of copied request-log rows (m021)
POSTGRESQL_ONLY = {
    "schema_migrations",
    "writers",
    "requests_origin",
    *(sql.split()[2] for sql in stats_rollup.PG_SCHEMA),
}
# the trigram index (m002) instead of SQLite's FTS table; the delivery-time sample's (m023; SQLite's
# samples by rowid)
POSTGRESQL_ONLY_INDEXES = {"idx_messages_text", "idx_messages_delivered_sample"}


def test_postgresqls_migrated_schema_is_the_declared_list(pg_target: PostgresTarget) -> None:
    PgStore(pg_target).close()
    with psycopg.connect(pg_target.url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables - POSTGRESQL_ONLY == {t.name for t in TABLES}
        for table in TABLES:
            columns = conn.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity = 'a', "
                "coalesce(c.collname = 'C', false), pg_get_expr(d.adbin, d.adrelid) "
                "FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation "
                "AND a.attcollation <> 100 "  # the default collation
                "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (table.name,),
            ).fetchall()
            expected = []
            for c in table.columns:
                kind = POSTGRESQL_TYPES[c.kind]
                base = kind.split(" COLLATE")[0].split(" GENERATED")[0]
                default = None if c.default is None else str(c.default)
                expected.append(
                    (c.name, base, c.not_null or c.primary_key, c.kind == "id", c.kind == "time", default)
                )
            assert columns == expected, table.name
            keys = conn.execute(
                "SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass "
                "AND i.indisprimary",
                (table.name,),
            ).fetchone()
            assert keys is not None and keys[0] == [c.name for c in table.columns if c.primary_key]
            indexes = conn.execute(
                "SELECT c.relname, i.indisunique, i.indpred IS NOT NULL, "
                "array(SELECT pg_get_indexdef(i.indexrelid, k, true) "
                "FROM generate_series(1, i.indnkeyatts) k) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
                (table.name,),
            ).fetchall()
            got = {name: (tuple(cols), unique, partial) for name, unique, partial, cols in indexes}
            for name in POSTGRESQL_ONLY_INDEXES:
                got.pop(name, None)
            assert got == {i.name: (i.columns, i.unique, i.where is not None) for i in table.indexes}, (
                table.name
            )
