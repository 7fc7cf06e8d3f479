"""The store: the only place that speaks SQL. See docs/ARCHITECTURE.md, "The store".

schema.py     tables, indexes and migrations (the FTS column list once)
engine.py     the writer's connection and lock, group commit, the WAL's bounds
writes.py     callbacks, Event Streams batches, the request log, REST upserts, the simulated purge
backups.py    webhook backups
writer.py     ``Store``: the engine with those writes
records.py    the values the writer takes and returns
reader.py     ``Reader``: read queries as plain values, one per thread (one *_reads.py mixin per view)
"""

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
