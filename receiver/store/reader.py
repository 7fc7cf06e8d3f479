"""Read queries for the views: a ``Reader`` per thread, on a read-only connection.

The desktop asks a Reader for plain Python values (dataclasses, tuples, dicts) and never sees SQL, a cursor
or a connection. Each view's queries are a mixin in a module of their own; a second backend (PostgreSQL)
provides a Reader with the same public methods (docs/ARCHITECTURE.md, "The store")."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .alerts_reads import AlertsReads
from .detail_reads import DetailReads
from .engine import connect
from .errors_reads import ErrorsReads
from .export_reads import ExportReads
from .messages_reads import MessagesReads
from .requests_reads import RequestsReads
from .stats_reads import StatsReads


class Reader(MessagesReads, RequestsReads, DetailReads, ErrorsReads, StatsReads, AlertsReads, ExportReads):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()


def open_reader(path: str | Path) -> Reader:
    """A Reader for the calling thread (SQLite connections must stay on the thread that opened them)."""
    return Reader(connect(path, readonly=True))
