"""``migrate-store``: a database file's history copied into a team database, idempotently, with progress.

The file is read through a read-only connection (the app or ``serve`` may keep running on it), a table at
a time in chunks of ``CHUNK`` rows by rowid; each chunk is merged on the server in one transaction
(pg/migrate.py says what "already there" means per table). So a second run copies nothing twice, a run
after more traffic adds only the new rows, and an interrupted run is finished by running it again.

Not copied: ``sync_state`` (the resume point of one process's backfill from Twilio's API: a wrong point
would silently skip messages, a missing one only costs a re-fetch, reconciliation being idempotent) and
SQLite's statistics rollup (a cache the file derives from its messages).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psycopg

from ..store_health import StoreError, StoreOpenError
from .engine import connect as connect_sqlite
from .pg import migrate as pg
from .pg.connection import connect
from .pg.schema import apply_migrations
from .url import PostgresTarget

CHUNK = 20_000  # rows per transaction: big enough that COPY pays, small enough to redo after a stop
PROGRESS_EVERY = 3.0  # seconds between progress lines of a table
MIGRATION_SET = "callback-monitor"  # sqlite_utils' name for the file's migrations (schema.py)


@dataclass
class TableResult:
    name: str
    rows: int = 0  # read from the file
    inserted: int = 0
    updated: int = 0

    def __str__(self) -> str:
        already = self.rows - self.inserted - self.updated
        text = f"{self.name}: {self.inserted:,} copied, {already:,} already there"
        if self.updated:
            text += f", {self.updated:,} merged into the team's row"
        return text


@dataclass
class Summary:
    source: Path
    destination: str
    tables: list[TableResult] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"migrate-store: {self.source} -> {self.destination} in {self.seconds:.1f} s"]
        return "\n".join(lines + [f"  {t}" for t in self.tables])


class _Progress:
    """A line per table every ``PROGRESS_EVERY`` seconds: rows done / total, rate."""

    def __init__(self, out: TextIO | None, name: str, total: int) -> None:
        self.out, self.name, self.total = out, name, total
        self.start = self.last = time.monotonic()
        self.shown = -1

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        due = now - self.last >= PROGRESS_EVERY or (final and done != self.shown)
        if self.out is None or not due:
            return
        self.last, self.shown = now, done
        rate = done / max(now - self.start, 1e-6)
        share = f" ({100 * done / self.total:.0f}%)" if self.total else ""
        print(
            f"{self.name}: {done:,} / {self.total:,} rows{share}, {rate:,.0f} rows/s",
            file=self.out,
            flush=True,
        )


def open_source(path: Path) -> tuple[sqlite3.Connection, str]:
    """A read-only connection to a Callback Monitor database file, and its identity (the moment its first
    migration ran: it travels with the file and no other database has it); ``StoreOpenError`` for a
    missing, unreadable or foreign file."""
    if not path.is_file():
        raise StoreOpenError(f"no database at {path}")
    try:
        conn = connect_sqlite(path, readonly=True)
        conn.row_factory = None
        row = conn.execute(
            "SELECT applied_at FROM _sqlite_migrations WHERE migration_set = ? AND name = 'm001_initial'",
            (MIGRATION_SET,),
        ).fetchone()
    except sqlite3.Error as exc:
        raise StoreOpenError(f"{path} is not a Callback Monitor database ({exc})") from None
    if row is None:
        conn.close()
        raise StoreOpenError(f"{path} is not a Callback Monitor database (no callback-monitor migrations)")
    return conn, f"sqlite:{row[0]}"


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}


def _chunks(conn: sqlite3.Connection, table: pg.Table, after: int) -> Iterator[list[tuple[Any, ...]]]:
    """The file's rows of ``table`` after rowid ``after``, in rowid order, ``CHUNK`` at a time; a column
    an older file lacks (a migration it has not had) is read as its default."""
    have = _columns(conn, table.name)
    select = ", ".join(c if c in have else ("0" if c == "simulated" else "NULL") for c in table.names)
    sql = f"SELECT rowid, {select} FROM {table.name} WHERE rowid > ? ORDER BY rowid LIMIT {CHUNK}"
    while True:
        rows = conn.execute(sql, (after,)).fetchall()
        if not rows:
            return
        after = rows[-1][0]
        yield [r[1:] for r in rows]


def _count(conn: sqlite3.Connection, table: str, after: int) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE rowid > ?", (after,)).fetchone()
    return int(row[0]) if row else 0


def migrate(source: Path, target: PostgresTarget, *, progress: TextIO | None = None) -> Summary:
    """Copy ``source``'s history into ``target``; ``StoreError`` with the operator's message if it cannot
    (what was committed stays: a rerun completes it)."""
    started = time.monotonic()
    src, origin = open_source(source)
    summary = Summary(source, target.display())
    try:
        team = connect(target, role="migrate-store")
    except StoreError:
        src.close()
        raise
    try:
        apply_migrations(team)
        pg.prepare(team)
        for table in pg.TABLES:
            summary.tables.append(_copy_table(src, team, table, origin, progress))
    except psycopg.Error as exc:
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        done = ", ".join(t.name for t in summary.tables) or "none"
        raise StoreError(
            f"cannot copy into {target.display()}: {first} (tables done: {done}; what was copied is kept: "
            "run the same command again to finish)"
        ) from None
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read {source}: {exc}; what was copied is kept") from None
    finally:
        team.close()
        src.close()
    summary.seconds = time.monotonic() - started
    return summary


def _copy_table(
    src: sqlite3.Connection, team: Any, table: pg.Table, origin: str, out: TextIO | None
) -> TableResult:
    # request-log rows are only ever appended: a rerun starts after the last one copied
    after = pg.copied_up_to(team, origin) if table.name == "requests" else 0
    result = TableResult(table.name)
    meter = _Progress(out, table.name, _count(src, table.name, after))
    for rows in _chunks(src, table, after):
        inserted, updated = pg.merge_chunk(team, table, rows, origin)
        result.rows += len(rows)
        result.inserted += inserted
        result.updated += updated
        meter.update(result.rows)
    meter.update(result.rows, final=True)
    return result
