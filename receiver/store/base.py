"""What every read mixin of ``Reader`` may rely on."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from ..store_health import StoreError, StoreReadError


class ReadsBase:
    """A read-only connection owned by one thread (WAL: reads never wait for the writer)."""

    conn: sqlite3.Connection


class ReadInterrupted(StoreError):
    """A read was stopped before it finished: its time limit passed, or another thread superseded it."""


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """Turn the driver's errors into the store's (a caller never needs to import sqlite3)."""
    try:
        yield
    except sqlite3.Error as exc:
        if "interrupt" in str(exc):
            raise ReadInterrupted(str(exc)) from exc
        raise StoreReadError(str(exc)) from exc
