"""The statistics' GROUP BYs per closed hour (and day), kept in three tables off the request path (m014).

Why: on a million messages a live "All time" refresh scanned every row several times (3.2 s); the panel
must refresh in 300 ms. Nothing may be added to a callback's transaction (a trigger cost ~85 µs per
callback, an extra index ~90 bytes), so the rollup is rebuilt by ``stats_maintenance`` on its own thread.

Tables (``level`` 'h': ``bucket`` is an hour, "2026-11-30T12"; 'd': a whole day, "2026-11-30"):

- ``stats_counts``: messages per (direction, status, channel, price unit), their spend in micro-units and
  their rowid span (for the delivery-time sample); the counts, channels, bars, spend.
- ``stats_breakdown``: outbound (all, delivered, failed, finished) per sender, per Messaging Service and per
  destination prefix (each its own row: their product would be as big as the messages table), with one
  destination number per prefix to name its country.
- ``stats_errors``: messages per error code.

``stats_state`` holds ``rolled_until`` (every hour before it is rolled up, the hours after it are not) and
``watermark`` (the last ``events.id`` whose message's hour is accounted for). An hour is "dirty" when a
change to one of its messages is not in its rows yet: a message named by an event after the watermark
(callbacks, Event Streams and reconciliation's status changes always append an event), or an hour logged in
``stats_dirty`` by the writers that change messages without an event (reconciliation's prices,
``record_outbound``, pruning and purging: ``touch`` / ``forget``).

A query (``plan``) takes the rollup rows of the window's whole, clean, rolled hours (whole days from the
day rows) and a live GROUP BY over ``messages`` for the rest: the partial hours at the ends, the hours after
``rolled_until`` and the dirty hours. Results are therefore exact whether the maintenance thread is up to
date, behind, or never ran (a desktop reading a database that another process serves).

PostgreSQL (team mode) keeps the same tables (``PG_SCHEMA``, its m022) and plan; its writers log dirty
hours the same way, and pg/stats.py keeps its rows (one receiver at a time, with a watermark safe against
identity values that commit out of order).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..stats_queries import DELIVERED, FAILED, FINISHED, UNIT_SQL
from .base import Connection
from .dialect import SQLITE, Dialect

HOUR = 13  # characters of an ISO timestamp that name its hour: "2026-11-30T12"
DAY = 10
_HOUR_FORMAT = "%Y-%m-%dT%H"

SCHEMA = (
    "CREATE TABLE stats_counts (level TEXT NOT NULL, bucket TEXT NOT NULL, direction TEXT NOT NULL, "
    "status TEXT NOT NULL, channel TEXT NOT NULL, unit TEXT NOT NULL, n INTEGER NOT NULL, micros INTEGER, "
    "min_rowid INTEGER NOT NULL, max_rowid INTEGER NOT NULL, "
    "PRIMARY KEY (level, bucket, direction, status, channel, unit)) WITHOUT ROWID",
    "CREATE TABLE stats_breakdown (level TEXT NOT NULL, bucket TEXT NOT NULL, dim TEXT NOT NULL, "
    "key TEXT NOT NULL, outbound INTEGER NOT NULL, delivered INTEGER NOT NULL, failed INTEGER NOT NULL, "
    "finished INTEGER NOT NULL, example TEXT, PRIMARY KEY (level, bucket, dim, key)) WITHOUT ROWID",
    "CREATE TABLE stats_errors (level TEXT NOT NULL, bucket TEXT NOT NULL, error_code INTEGER NOT NULL, "
    "n INTEGER NOT NULL, PRIMARY KEY (level, bucket, error_code)) WITHOUT ROWID",
    "CREATE TABLE stats_state (name TEXT PRIMARY KEY, value) WITHOUT ROWID",
    "CREATE TABLE stats_dirty (id INTEGER PRIMARY KEY, hour TEXT NOT NULL)",
)
# PostgreSQL's: the same columns in its types; no rowid, so the spans are NULL; ``value`` is text (a
# watermark is compared as CAST(value AS BIGINT), which both databases read the same)
_C = 'COLLATE "C"'  # hours sort byte by byte, as the first_seen strings they are cut from
PG_SCHEMA = (
    f"CREATE TABLE stats_counts (level text {_C} NOT NULL, bucket text {_C} NOT NULL, "
    "direction text NOT NULL, status text NOT NULL, channel text NOT NULL, unit text NOT NULL, "
    "n bigint NOT NULL, micros bigint, "
    "min_rowid bigint, max_rowid bigint, PRIMARY KEY (level, bucket, direction, status, channel, unit))",
    f"CREATE TABLE stats_breakdown (level text {_C} NOT NULL, bucket text {_C} NOT NULL, dim text NOT NULL, "
    "key text NOT NULL, outbound bigint NOT NULL, delivered bigint NOT NULL, failed bigint NOT NULL, "
    "finished bigint NOT NULL, example text, PRIMARY KEY (level, bucket, dim, key))",
    f"CREATE TABLE stats_errors (level text {_C} NOT NULL, bucket text {_C} NOT NULL, "
    "error_code integer NOT NULL, n bigint NOT NULL, PRIMARY KEY (level, bucket, error_code))",
    "CREATE TABLE stats_state (name text PRIMARY KEY, value text)",
    f"CREATE TABLE stats_dirty (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, hour text {_C} NOT NULL)",
)
TABLES = ("stats_counts", "stats_breakdown", "stats_errors")
DIMS = ("sender", "service", "prefix")

_IN = "CASE WHEN status IN ({}) THEN 1 ELSE 0 END".format  # PostgreSQL cannot SUM a boolean
_DELIVERED = _IN(", ".join(f"'{s}'" for s in DELIVERED))
_FAILED = _IN(", ".join(f"'{s}'" for s in FAILED))
_FINISHED = _IN(", ".join(f"'{s}'" for s in FINISHED))


# ------------------------------------------------------------------------------------------ hours
def parse_hour(hour: str) -> datetime:
    return datetime.strptime(hour, _HOUR_FORMAT).replace(tzinfo=UTC)


def hour_of(when: datetime) -> str:
    return when.astimezone(UTC).strftime(_HOUR_FORMAT)


def next_hour(hour: str) -> str:
    return hour_of(parse_hour(hour) + timedelta(hours=1))


def ceil_hour(iso: str) -> str:
    """The first hour that starts at or after the moment ``iso`` (a first_seen-style string)."""
    hour = iso[:HOUR]
    return hour if iso[HOUR:].strip(":0.") in ("", "+", "+00", "Z") else next_hour(hour)


def _ceil_day(hour: str) -> str:
    return hour[:DAY] if hour.endswith("T00") else (parse_hour(hour) + timedelta(days=1)).strftime("%Y-%m-%d")


# ------------------------------------------------------------------------------------------ state
@dataclass(frozen=True)
class State:
    rolled_until: str | None  # an hour; None: nothing rolled up yet
    watermark: int


def read_state(conn: Connection) -> State:
    values = dict(conn.execute("SELECT name, value FROM stats_state").fetchall())
    return State(values.get("rolled_until"), int(values.get("watermark") or 0))


def dirty_hours(conn: Connection, state: State) -> set[str]:
    """Rolled hours whose rows may be stale: logged ones, and those of messages with newer events."""
    if state.rolled_until is None:
        return set()
    hours = {h for (h,) in conn.execute("SELECT DISTINCT hour FROM stats_dirty")}
    hours.update(
        h
        for (h,) in conn.execute(
            f"SELECT DISTINCT substr(m.first_seen, 1, {HOUR}) FROM events e "
            "JOIN messages m ON m.sid = e.message_sid WHERE e.id > ?",
            (state.watermark,),
        )
    )
    return {h for h in hours if h < state.rolled_until}


# ------------------------------------------------------------------------------------------ writers
def touch(conn: Any, sid: str) -> None:
    """A message changed without an event (a price, a filled-in column): its hour is dirty. For writers
    off the request path only (reconciliation, ``record_outbound``); callbacks append events instead."""
    conn.execute(
        f"INSERT INTO stats_dirty (hour) SELECT substr(first_seen, 1, {HOUR}) FROM messages WHERE sid = ?",
        (sid,),
    )


def forget(conn: sqlite3.Connection, first_seen: Iterable[str]) -> None:
    """Messages first seen at these moments were deleted (pruning, purging), with their events: their hours
    are dirty, and the watermark steps back below any deleted event id that a new event could reuse (an
    INTEGER PRIMARY KEY without AUTOINCREMENT takes max(id) + 1)."""
    log_hours(conn, first_seen)
    conn.execute(
        "UPDATE stats_state SET value = MIN(value, (SELECT IFNULL(MAX(id), 0) FROM events)) "
        "WHERE name = 'watermark'"
    )


def log_hours(conn: Any, first_seen: Iterable[str]) -> None:
    """PostgreSQL's ``forget``: the hours of deleted messages are dirty. Its identity values are never
    reused, so the watermark stays. ``conn``: shared_writes' ``Db``."""
    for hour in sorted({moment[:HOUR] for moment in first_seen}):
        conn.execute("INSERT INTO stats_dirty (hour) VALUES (?)", (hour,))


# ------------------------------------------------------------------------------------------ plan
Segment = tuple[str | None, str | None]  # [lo, hi) of first_seen; None: open


@dataclass
class Plan:
    """Where a window's figures come from: rollup ranges ``(level, first bucket, end bucket)`` and live
    first_seen segments."""

    rolled: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    live: list[Segment] = field(default_factory=list)


@dataclass(frozen=True)
class Coverage:
    """What the rollup covers in one snapshot: every hour before ``rolled_until`` except ``dirty``."""

    rolled_until: str | None
    dirty: frozenset[str]


def coverage(conn: Connection) -> Coverage:
    state = read_state(conn)
    return Coverage(state.rolled_until, frozenset(dirty_hours(conn, state)))


def plan(
    conn: Connection,
    since: str | None,
    until: str | None,
    *,
    days: bool = True,
    hours: bool = True,
    known: Coverage | None = None,
) -> Plan:
    """How to answer ``[since, until)`` exactly. ``days``/``hours``: which rollup levels may be used (bars
    per hour cannot come from day rows; bars per minute from neither). ``known``: the ``coverage`` of the
    read transaction that also reads the rows (state, dirty hours and rows must be one snapshot)."""
    if not hours:
        return Plan(live=[(since, until)])
    cover = known if known is not None else coverage(conn)
    rolled_until = cover.rolled_until
    if rolled_until is None:
        return Plan(live=[(since, until)])
    start = ceil_hour(since) if since is not None else None
    end = min(until[:HOUR], rolled_until) if until is not None else rolled_until
    if start is not None and start >= end:
        return Plan(live=[(since, until)])
    out = Plan()
    if since is not None and start is not None and since < start:
        out.live.append((since, start))
    cursor = start
    runs: list[Segment] = []
    for hour in sorted(h for h in cover.dirty if (start is None or h >= start) and h < end):
        if cursor is None or cursor < hour:
            runs.append((cursor, hour))
        out.live.append((hour, next_hour(hour)))
        cursor = next_hour(hour)
    if cursor is None or cursor < end:
        runs.append((cursor, end))
    if until is None or end < until:
        out.live.append((end, until))
    for lo, hi in runs:
        assert hi is not None
        first_day = _ceil_day(lo) if lo is not None else None
        last_day = hi[:DAY]
        if days and (first_day is None or first_day < last_day):
            if lo is not None and first_day is not None and lo < first_day + "T00":
                out.rolled.append(("h", lo, first_day + "T00"))
            out.rolled.append(("d", first_day, last_day))
            if last_day + "T00" < hi:
                out.rolled.append(("h", last_day + "T00", hi))
        else:
            out.rolled.append(("h", lo, hi))
    out.live = _merged(out.live)
    return out


def _merged(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for lo, hi in segments:
        if out and out[-1][1] is not None and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


# ------------------------------------------------------------------------------------------ queries
def live_where(lo: str | None, hi: str | None) -> tuple[str, list[Any]]:
    parts, args = [], []
    if lo is not None:
        parts.append("first_seen >= ?")
        args.append(lo)
    if hi is not None:
        parts.append("first_seen < ?")
        args.append(hi)
    return (" AND ".join(parts) or "TRUE"), args


def _rolled_where(level: str, lo: str | None, hi: str | None) -> tuple[str, list[Any]]:
    parts, args = ["level = ?"], [level]
    if lo is not None:
        parts.append("bucket >= ?")
        args.append(lo)
    if hi is not None:
        parts.append("bucket < ?")
        args.append(hi)
    return " AND ".join(parts), args


def _SUM(column: str) -> str:  # PostgreSQL's SUM of a bigint is a numeric (a Decimal)
    return f"CAST(SUM({column}) AS BIGINT)"


# Each reader yields the same tuples live and rolled, so callers add them up without knowing the source.
# ``width``: characters of first_seen (or of the bucket) that name a bar; 0 when the caller needs none.
# In live queries ``d.plain`` (SQLite's unary ``+``) keeps SQLite on the first_seen index (otherwise it may
# pick an index matching the GROUP BY and scan the whole table). ``d``: the database's dialect (the rollup
# rows read the same in both). A PostgreSQL table has no rowid: its spans are NULL.
def counts(conn: Connection, p: Plan, width: int = 0, d: Dialect = SQLITE) -> Iterator[tuple[Any, ...]]:
    """(bar, direction, status, channel, unit, n, micros or None, min rowid, max rowid)"""
    span = "MIN(rowid), MAX(rowid)" if d.has_rowid else "NULL, NULL"
    for lo, hi in p.live:
        where, args = live_where(lo, hi)
        yield from conn.execute(
            f"SELECT substr(first_seen, 1, {width}) AS bar, direction, status, channel, {UNIT_SQL} AS unit, "
            f"COUNT(*), {d.micros}, {span} FROM messages WHERE {where} "
            f"GROUP BY bar, {d.plain('direction')}, {d.plain('status')}, {d.plain('channel')}, unit",
            args,
        )
    for level, lo, hi in p.rolled:
        where, args = _rolled_where(level, lo, hi)
        yield from conn.execute(
            f"SELECT substr(bucket, 1, {width}) AS bar, direction, status, channel, unit, {_SUM('n')}, "
            f"{_SUM('micros')}, MIN(min_rowid), MAX(max_rowid) FROM stats_counts WHERE {where} "
            "GROUP BY bar, direction, status, channel, unit",
            args,
        )


def errors(conn: Connection, p: Plan, width: int = 0, d: Dialect = SQLITE) -> Iterator[tuple[Any, ...]]:
    """(bar, error code, messages)"""
    code = d.plain("error_code")
    for lo, hi in p.live:
        where, args = live_where(lo, hi)
        yield from conn.execute(
            f"SELECT substr(first_seen, 1, {width}) AS bar, error_code, COUNT(*) FROM messages "
            f"WHERE {code} IS NOT NULL AND {where} GROUP BY bar, {code}",
            args,
        )
    for level, lo, hi in p.rolled:
        where, args = _rolled_where(level, lo, hi)
        yield from conn.execute(
            f"SELECT substr(bucket, 1, {width}) AS bar, error_code, {_SUM('n')} FROM stats_errors "
            f"WHERE {where} GROUP BY bar, error_code",
            args,
        )


def breakdown(conn: Connection, p: Plan, width: int = 0, d: Dialect = SQLITE) -> Iterator[tuple[Any, ...]]:
    """(bar, dim, key, outbound, delivered, failed, finished, example) for outbound messages, one row per
    sender, per Messaging Service and per destination prefix (``DIMS``)."""
    for lo, hi in p.live:
        where, args = live_where(lo, hi)
        keys = (
            ("sender", "COALESCE(from_addr, '')", "NULL", d.plain("from_addr")),
            ("service", "COALESCE(messaging_service_sid, '')", "NULL", d.plain("messaging_service_sid")),
            ("prefix", d.dest_prefix, "MIN(to_addr)", "key"),
        )
        for dim, key, example, group in keys:
            yield from conn.execute(
                f"SELECT substr(first_seen, 1, {width}) AS bar, '{dim}' AS dim, {key} AS key, COUNT(*), "
                f"SUM({_DELIVERED}), SUM({_FAILED}), SUM({_FINISHED}), {example} FROM messages "
                f"WHERE {d.plain('direction')} = 'outbound' AND {where} GROUP BY bar, {group}",
                args,
            )
    for level, lo, hi in p.rolled:
        where, args = _rolled_where(level, lo, hi)
        yield from conn.execute(
            f"SELECT substr(bucket, 1, {width}) AS bar, dim, key, {_SUM('outbound')}, {_SUM('delivered')}, "
            f"{_SUM('failed')}, {_SUM('finished')}, MIN(example) FROM stats_breakdown WHERE {where} "
            "GROUP BY bar, dim, key",
            args,
        )


# ------------------------------------------------------------------------------------------ rolling up
READERS = {"stats_counts": counts, "stats_breakdown": breakdown, "stats_errors": errors}


def hour_rows(conn: Any, lo: str, hi: str, d: Dialect = SQLITE) -> dict[str, list[tuple[Any, ...]]]:
    """The rollup rows of the hours in ``[lo, hi)``, per table, computed live (on a read connection)."""
    live = Plan(live=[(lo, hi)])
    return {table: [("h", *row) for row in read(conn, live, HOUR, d)] for table, read in READERS.items()}


def write_hours(
    conn: Any, hours: list[tuple[str, str]], rows: dict[str, list[tuple[Any, ...]]], until: str
) -> None:
    """Replace the rows of the hour ranges ``hours`` with ``rows`` (from ``hour_rows``), then the day rows of
    the days they touch that end at or before ``until`` (the rolled-up boundary after this write)."""
    for table in TABLES:
        for lo, hi in hours:
            conn.execute(f"DELETE FROM {table} WHERE level = 'h' AND bucket >= ? AND bucket < ?", (lo, hi))
        width = len(rows[table][0]) if rows[table] else 0
        if width:
            marks = ", ".join("?" * width)
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[table])
    days: set[str] = set()
    for lo, hi in hours:
        moment, last = parse_hour(lo), parse_hour(hi) - timedelta(hours=1)
        while moment.strftime("%Y-%m-%d") <= last.strftime("%Y-%m-%d"):
            days.add(moment.strftime("%Y-%m-%d"))
            moment += timedelta(days=1)
    for day in sorted(days):
        end = (datetime.strptime(day, "%Y-%m-%d") + timedelta(days=1)).strftime("%Y-%m-%d")
        if end + "T00" > until:
            continue
        _roll_day(conn, day, end)


_DAY_SQL = {
    "stats_counts": (
        "direction, status, channel, unit",
        "SUM(n), SUM(micros), MIN(min_rowid), MAX(max_rowid)",
    ),
    "stats_breakdown": (
        "dim, key",
        "SUM(outbound), SUM(delivered), SUM(failed), SUM(finished), MIN(example)",
    ),
    "stats_errors": ("error_code", "SUM(n)"),
}


def _roll_day(conn: Any, day: str, end: str) -> None:
    for table, (keys, sums) in _DAY_SQL.items():
        conn.execute(f"DELETE FROM {table} WHERE level = 'd' AND bucket = ?", (day,))
        conn.execute(
            f"INSERT INTO {table} SELECT 'd', ?, {keys}, {sums} FROM {table} "
            f"WHERE level = 'h' AND bucket >= ? AND bucket < ? GROUP BY {keys}",
            (day, day, end),
        )


def set_state(conn: Any, name: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO stats_state (name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (name, value),
    )
