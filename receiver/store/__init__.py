"""The store: the only place that speaks SQL. See docs/ARCHITECTURE.md, "The store"."""

from __future__ import annotations

from ..store_health import StoreError, StoreLocked, StoreUnavailable
from .core import (
    UNUSED_MESSAGE_INDEXES,
    WAL_HARD_FACTOR,
    Outcome,
    RequestRecord,
    Store,
    StoreClosed,
    connect,
    migrations,
    utcnow,
)
from .reader import Reader, open_reader

__all__ = [
    "UNUSED_MESSAGE_INDEXES",
    "WAL_HARD_FACTOR",
    "Outcome",
    "Reader",
    "RequestRecord",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
    "connect",
    "migrations",
    "open_reader",
    "utcnow",
]
