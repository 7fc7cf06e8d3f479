"""What every read mixin of ``Reader`` may rely on."""

from __future__ import annotations

import sqlite3


class ReadsBase:
    """A read-only connection owned by one thread (WAL: reads never wait for the writer)."""

    conn: sqlite3.Connection
