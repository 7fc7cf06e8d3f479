"""The store: the only place that speaks SQL. See docs/ARCHITECTURE.md, "The store".

Two backends behind one set of methods: SQLite (this package, the embedded default) and PostgreSQL (pg/,
team mode, imported only when a postgresql:// store is named).

url.py            one way to name a store: a database file or a postgresql:// URL (--store / --db)
tables.py         the tables both databases hold, declared once (PostgreSQL's schema is generated from it)
schema.py         SQLite's tables, indexes and migrations (the FTS column list once)
protocol.py       ``WriterStore``: what a writer offers, whichever database it writes
group_commit.py   many request threads, one transaction per batch (both backends)
engine.py         SQLite's writer connection and lock, the WAL's bounds
writes.py         callbacks, Event Streams batches, the request log (SQLite's SQL)
shared_writes.py  the writes off the callback path, written once: backups.py, pruning.py,
                  reconcile_writes.py, app_writes.py
writer.py         ``Store``: SQLite's engine with those writes
records.py        the values the writers take and return
dialect.py        what differs between the SQL the Readers send to SQLite and to PostgreSQL
reader.py         ``Reader``: read queries as plain values, one per thread (one *_reads.py mixin per view)
stats_rollup.py   the statistics' per-hour summary; stats_maintenance.py keeps it current
migrate.py        migrate-store: a file's history copied into a team database
pg/               ``PgStore`` (writer), ``PgReader``, schema, live updates (NOTIFY/LISTEN), who writes"""

from __future__ import annotations

from ..store_health import StoreError, StoreLocked, StoreReadError, StoreUnavailable
from .engine import WAL_HARD_FACTOR, connect
from .export_reads import Selection
from .reader import Reader, open_reader
from .records import Outcome, RequestRecord, StoreClosed, utcnow
from .schema import FTS_COLUMNS, UNUSED_MESSAGE_INDEXES, migrations
from .writer import Store

__all__ = [
    "FTS_COLUMNS",
    "UNUSED_MESSAGE_INDEXES",
    "WAL_HARD_FACTOR",
    "Outcome",
    "Reader",
    "RequestRecord",
    "Selection",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreLocked",
    "StoreReadError",
    "StoreUnavailable",
    "connect",
    "migrations",
    "open_reader",
    "utcnow",
]
