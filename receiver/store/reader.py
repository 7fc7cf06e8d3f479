"""Read queries for the views: a ``Reader`` per thread, on a read-only connection.

The desktop asks a Reader for plain Python values (dataclasses, tuples, dicts) and never sees SQL, a cursor
or a connection. Each view's queries are a mixin in a module of their own; a second backend (PostgreSQL)
provides a Reader with the same public methods (docs/ARCHITECTURE.md, "The store")."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..store_health import StoreReadError
from .alerts_reads import AlertsReads
from .base import reading
from .detail_reads import DetailReads
from .engine import connect
from .errors_reads import ErrorsReads
from .export_reads import ExportReads
from .messages_reads import MessagesReads
from .reconcile_reads import ReconcileReads
from .requests_reads import RequestsReads
from .stats_reads import StatsReads
from .url import PostgresTarget, SqliteTarget, parse

if TYPE_CHECKING:
    from .pg.writers import WriterInfo


class Reader(
    MessagesReads,
    RequestsReads,
    DetailReads,
    ErrorsReads,
    StatsReads,
    AlertsReads,
    ExportReads,
    ReconcileReads,
):
    """The read interface, on a SQLite database (pg/reader.py's ``PgReader`` is one on a team database:
    the same methods, its own connection, budgets and dialect)."""

    conn: sqlite3.Connection

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._stop = False

    def close(self) -> None:
        self.conn.close()

    # How the desktop keeps a read off its GUI thread: try it within a time limit, else hand it to a
    # worker thread with a Reader of its own, which a newer request may interrupt (desktop/workers.py).
    def interrupt(self) -> None:
        """Stop the read running in an ``interruptible()`` block on this Reader (callable from any
        thread): it raises ReadInterrupted, even if it had not started its statement yet."""
        self._stop = True
        self.conn.interrupt()

    @contextlib.contextmanager
    def interruptible(self, seconds: float = float("inf")) -> Iterator[None]:
        """Reads inside the block raise ReadInterrupted on ``interrupt()`` or once ``seconds`` passed."""
        deadline = time.perf_counter() + seconds
        self._stop = False
        # A flag, not only sqlite3_interrupt, because an interrupt that comes before the statement starts
        # would be lost. Checked every few thousand VM steps against a deadline; without one, rarely: each
        # check takes the GIL, which a worker's long read would otherwise fight the GUI thread for.
        steps = 2_000 if seconds != float("inf") else 500_000
        self.conn.set_progress_handler(lambda: self._stop or time.perf_counter() > deadline, steps)
        try:
            yield
        finally:
            self.conn.set_progress_handler(None, 0)

    def time_limit(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        """Reads inside the block raise ReadInterrupted once ``seconds`` have passed."""
        return self.interruptible(seconds)

    def writers(self) -> list[WriterInfo]:
        """Who writes this store: [] for SQLite, which only its own process writes (a team database
        lists its receivers, pg/writers.py)."""
        return []

    def opener(self) -> Callable[[], Reader]:
        """How another thread opens a Reader on the same store (call the result on that thread);
        StoreReadError when there is none to open (an in-memory database)."""
        with reading():
            rows = self.conn.execute("PRAGMA database_list").fetchall()
        path = next((str(r[2]) for r in rows if r[1] == "main"), "")
        if not path:
            raise StoreReadError("this store has no file another thread could open")
        return lambda: Reader(connect(path, readonly=True))


def open_reader(store: str | Path | SqliteTarget | PostgresTarget) -> Reader:
    """A Reader for the calling thread (SQLite connections must stay on the thread that opened them):
    ``store`` is a database file, a team database (``PostgresTarget`` or a ``postgresql://`` URL), or
    either named as ``--store`` names it (receiver/store/url.py)."""
    target = parse(store) if isinstance(store, str) else store
    if isinstance(target, PostgresTarget):
        from .pg.reader import PgReader

        return PgReader.open(target)
    return Reader(connect(target.path if isinstance(target, SqliteTarget) else target, readonly=True))
