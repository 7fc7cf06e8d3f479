"""Who writes a team database: each receiver (``serve --store postgresql://…``) registers itself in
``writers`` when it opens and touches ``last_seen`` from a heartbeat (never inside a callback's
transaction), so an attached desktop's status bar can say which receivers write what it shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HEARTBEAT_SECONDS = 10  # how often a running receiver touches its row
ACTIVE_SECONDS = 45  # a writer not seen for this long is shown as gone

DDL = (
    """CREATE TABLE writers (
        id text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        version text NOT NULL,
        listen text,
        started_at text COLLATE "C" NOT NULL,
        last_seen text COLLATE "C" NOT NULL,
        stopped_at text COLLATE "C"
    )""",
)


@dataclass(frozen=True)
class WriterInfo:
    id: str
    host: str
    pid: int
    version: str
    listen: str | None  # where it listens (host:port), as it reported it
    started_at: str
    last_seen: str
    stopped_at: str | None


def recent_writers(conn: Any, since: str) -> list[WriterInfo]:
    """Writers seen at or after ``since`` (an ISO UTC string), the most recently seen first."""
    rows = conn.execute(
        "SELECT id, host, pid, version, listen, started_at, last_seen, stopped_at FROM writers "
        "WHERE last_seen >= %s ORDER BY last_seen DESC",
        (since,),
    ).fetchall()
    return [WriterInfo(*tuple(r)) for r in rows]
