"""What every read mixin of ``Reader`` (SQLite) and ``PgReader`` (PostgreSQL) may rely on."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator
from typing import Any, ClassVar, Protocol

from ..store_health import StoreError, StoreReadError
from .dialect import SQLITE, Dialect


class Cursor(Protocol):
    @property
    def description(self) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchmany(self, size: int = ..., /) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the reads use: ``sqlite3.Connection``, or pg/reader.py's adapter
    (which takes the same ``?`` placeholders)."""

    @property
    def in_transaction(self) -> bool: ...
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


class ReadsBase:
    """A read-only connection owned by one thread (SQLite in WAL mode: reads never wait for the writer;
    PostgreSQL: MVCC) and the SQL dialect it speaks."""

    conn: Connection
    dialect: ClassVar[Dialect] = SQLITE


class ReadInterrupted(StoreError):
    """A read was stopped before it finished: its time limit passed, or another thread superseded it."""


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """Turn the driver's errors into the store's (a caller never needs to import sqlite3 or psycopg)."""
    try:
        yield
    except sqlite3.Error as exc:
        if "interrupt" in str(exc):
            raise ReadInterrupted(str(exc)) from exc
        raise StoreReadError(str(exc)) from exc
    except Exception as exc:
        translated = _postgres_error(exc)
        if translated is None:
            raise
        raise translated from exc


def _postgres_error(exc: Exception) -> StoreError | None:
    """``exc`` as the store's error when it is psycopg's (only loaded when a team database is used)."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return None
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return ReadInterrupted(text)
    return StoreReadError(text)
