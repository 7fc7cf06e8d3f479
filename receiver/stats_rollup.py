"""Statistics rollups: per-hour (and per-day) counts of messages, kept exact by triggers on ``messages``.

A refresh of the statistics over a week or all of a million-message database cannot GROUP BY the messages
themselves in 300 ms (SQLite sorts the window's rows: 1.4 s for 7 days, 3.2 s for all time). The
triggers below keep, per hour of ``first_seen``, how many messages have each combination of the columns the
statistics group by, and what they cost; a status callback moves one count from its old cell to its new
one, and a prune or purge takes it away. A window is then read as: the messages themselves for the
partial hours at its edges (custom ranges are minute-precise), and the rollup for the whole hours between.

Tables (all ``WITHOUT ROWID``, keyed for range scans on the hour/day):

- ``stats_hourly``: hour x direction x status x channel x currency x error code -> messages, priced
  messages, spend in micro-units. The chart, statuses, channels, spend and top error codes.
- ``stats_senders_hourly``: outbound messages, hour x sender x Messaging Service x status.
- ``stats_prefix_hourly`` / ``stats_prefix_daily``: outbound messages, hour (day) x destination prefix x
  status, with one destination as the example that names the prefix's country. The bench database has
  ~800 prefixes, about one message per prefix and hour: hour cells alone would be as many as the
  messages, so whole days are read from the daily table and only the days' edge hours from the hourly one.

Counts never go below zero and cells at zero stay (a later message of the same cell reuses them); the
readers skip them. ``error_code`` NULL is stored as ``NO_ERROR`` so that it can be part of the key.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

# the destination number without a channel prefix ("whatsapp:+1415…" -> "+1415…"), first five characters
DEST_PREFIX_SQL = "IFNULL(substr(to_addr, instr(to_addr, ':') + 1, 5), '')"
# Prices are decimal strings with at most 5 places ("-0.00790"); summed as integer micro-units in SQL, so
# a million additions lose nothing to binary floating point.
PRICE_SCALE = 1_000_000
UNIT_SQL = "UPPER(IFNULL(price_unit, ''))"
PRICED_SQL = "(price IS NOT NULL AND price != '')"
# one message's cost as a positive number of micro-units (Twilio reports costs as negative prices)
ROW_MICROS_SQL = f"CAST(ROUND(ABS(CAST(price AS REAL)) * {PRICE_SCALE}) AS INTEGER)"
NO_ERROR = -1  # error_code NULL in the rollup's key (NULLs are all distinct in a primary key)
HOUR_KEY = 13  # "2026-12-01T22": characters of first_seen that name its hour
DAY_KEY = 10

_COLUMNS = ("to_addr", "price_unit", "price", "first_seen", "direction", "status", "channel", "error_code",
            "from_addr", "messaging_service_sid")  # fmt: skip


def on(expr: str, row: str) -> str:
    """``expr`` over the columns of ``messages`` as an expression over a trigger's ``new``/``old`` row."""
    return re.sub(r"\b(" + "|".join(_COLUMNS) + r")\b", rf"{row}.\1", expr)


# table -> (key columns with their value expressions over a message row, only outbound messages?)
_KEYS: dict[str, tuple[tuple[tuple[str, str], ...], bool]] = {
    "stats_hourly": (
        (
            ("hour", f"substr(first_seen, 1, {HOUR_KEY})"),
            ("direction", "direction"),
            ("status", "status"),
            ("channel", "channel"),
            ("unit", UNIT_SQL),
            ("error_code", f"IFNULL(error_code, {NO_ERROR})"),
        ),
        False,
    ),
    "stats_senders_hourly": (
        (
            ("hour", f"substr(first_seen, 1, {HOUR_KEY})"),
            ("sender", "IFNULL(from_addr, '')"),
            ("service", "IFNULL(messaging_service_sid, '')"),
            ("status", "status"),
        ),
        True,
    ),
    "stats_prefix_hourly": (
        (("hour", f"substr(first_seen, 1, {HOUR_KEY})"), ("prefix", DEST_PREFIX_SQL), ("status", "status")),
        True,
    ),
    "stats_prefix_daily": (
        (("day", f"substr(first_seen, 1, {DAY_KEY})"), ("prefix", DEST_PREFIX_SQL), ("status", "status")),
        True,
    ),
}
# value columns per table: (name, value for one message, how an insert merges it)
_SPEND = (
    ("priced", f"CASE WHEN {PRICED_SQL} THEN 1 ELSE 0 END"),
    ("micros", f"CASE WHEN {PRICED_SQL} THEN {ROW_MICROS_SQL} ELSE 0 END"),
)


def _values(table: str) -> tuple[tuple[str, str], ...]:
    return (("n", "1"), *(_SPEND if table == "stats_hourly" else ()))


def _has_example(table: str) -> bool:
    return table.startswith("stats_prefix")


def _add_sql(table: str, row: str) -> str:
    keys, outbound_only = _KEYS[table]
    names = [k for k, _ in keys] + [v for v, _ in _values(table)]
    exprs = [on(e, row) for _, e in keys] + [on(e, row) for _, e in _values(table)]
    merge = [f"{v} = {v} + excluded.{v}" for v, _ in _values(table)]
    if _has_example(table):  # the smallest destination seen: which one names the country is arbitrary
        names.append("example")
        exprs.append(f"IFNULL({row}.to_addr, '')")
        merge.append("example = MIN(example, excluded.example)")
    # a trigger body has no IF: the condition is the statement's WHERE (which an upsert needs anyway)
    when = f"{row}.direction = 'outbound'" if outbound_only else "true"
    return (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(exprs)} WHERE {when} "
        f"ON CONFLICT DO UPDATE SET {', '.join(merge)};"
    )


def _remove_sql(table: str, row: str) -> str:
    keys, outbound_only = _KEYS[table]
    sets = ", ".join(f"{v} = {v} - {on(e, row)}" for v, e in _values(table))
    where = " AND ".join(f"{k} = {on(e, row)}" for k, e in keys)
    if outbound_only:
        where += f" AND {row}.direction = 'outbound'"
    return f"UPDATE {table} SET {sets} WHERE {where};"


def _statements(row: str, add: bool) -> str:
    return "\n".join(_add_sql(t, row) if add else _remove_sql(t, row) for t in _KEYS)


def migration_statements() -> list[str]:
    """m013: the tables, their content for the messages already stored, and the triggers."""
    out = []
    for table, (keys, outbound_only) in _KEYS.items():
        cols = [f"{k} {'INTEGER' if k == 'error_code' else 'TEXT'} NOT NULL" for k, _ in keys]
        cols += [f"{v} INTEGER NOT NULL" for v, _ in _values(table)]
        if _has_example(table):
            cols.append("example TEXT NOT NULL")
        pk = ", ".join(k for k, _ in keys)
        out.append(f"CREATE TABLE {table} ({', '.join(cols)}, PRIMARY KEY ({pk})) WITHOUT ROWID")
        names = [k for k, _ in keys] + [v for v, _ in _values(table)]
        sums = [e for _, e in keys] + [f"SUM({e})" for _, e in _values(table)]
        if _has_example(table):
            names.append("example")
            sums.append("MIN(IFNULL(to_addr, ''))")
        where = "WHERE direction = 'outbound'" if outbound_only else ""
        out.append(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(sums)} FROM messages {where} "
            f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}"
        )
    watched = ", ".join(_COLUMNS)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in _COLUMNS)
    out += [
        f"CREATE TRIGGER stats_rollup_insert AFTER INSERT ON messages BEGIN\n{_statements('new', True)}\nEND",
        f"CREATE TRIGGER stats_rollup_delete AFTER DELETE ON messages BEGIN\n"
        f"{_statements('old', False)}\nEND",
        f"CREATE TRIGGER stats_rollup_update AFTER UPDATE OF {watched} ON messages WHEN {changed} BEGIN\n"
        f"{_statements('old', False)}\n{_statements('new', True)}\nEND",
    ]
    return out


# ------------------------------------------------------------------------------------------ reading
def _boundary(key: str) -> str:
    """The first instant of an hour or day key, as ``first_seen`` strings are written (``_iso``)."""
    return key + ("T00" if len(key) == DAY_KEY else "") + ":00:00.000+00:00"


def _ceil_key(when: str, width: int) -> str:
    """The key of the first whole hour (day) starting at or after the instant ``when``."""
    key = when[:width]
    if when == _boundary(key):
        return key
    start = datetime.fromisoformat(_boundary(key))
    step = timedelta(hours=1) if width == HOUR_KEY else timedelta(days=1)
    return (start + step).isoformat(timespec="milliseconds")[:width]


Span = tuple[str | None, str | None]  # [lo, hi) of first_seen strings or of rollup keys; None = open


def split(lo: str | None, hi: str | None, width: int = HOUR_KEY) -> tuple[list[Span], Span | None]:
    """``[lo, hi)`` as (edge windows to read from the messages, the whole hours/days between as a key
    range, or None when the window holds no whole one)."""
    k_lo = _ceil_key(lo, width) if lo is not None else None
    k_hi = hi[:width] if hi is not None else None
    if k_lo is not None and k_hi is not None and k_lo >= k_hi:
        return [(lo, hi)], None
    edges: list[Span] = []
    if k_lo is not None and lo != _boundary(k_lo):
        edges.append((lo, _boundary(k_lo)))
    if k_hi is not None and hi != _boundary(k_hi):
        edges.append((_boundary(k_hi), hi))
    return edges, (k_lo, k_hi)


def _key_where(column: str, span: Span) -> tuple[str, list[Any]]:
    parts, args = [], []
    if span[0] is not None:
        parts.append(f"{column} >= ?")
        args.append(span[0])
    if span[1] is not None:
        parts.append(f"{column} < ?")
        args.append(span[1])
    return " AND ".join(parts) or "1", args


def main_groups(conn: sqlite3.Connection, span: Span, width: int) -> Iterator[tuple[Any, ...]]:
    """(bucket, direction, status, channel, unit, messages, micros or None) of the whole hours ``span``,
    as the messages' own GROUP BY gives them; ``width`` <= 13 characters of first_seen name a bucket."""
    where, args = _key_where("hour", span)
    yield from conn.execute(
        f"SELECT substr(hour, 1, {width}) AS bucket, direction, status, channel, unit, SUM(n), "
        f"CASE WHEN SUM(priced) > 0 THEN SUM(micros) END FROM stats_hourly WHERE {where} "
        "GROUP BY bucket, direction, status, channel, unit HAVING SUM(n) > 0",
        args,
    )


def error_counts(conn: sqlite3.Connection, span: Span) -> Iterator[tuple[int, int]]:
    """(error code, messages) of the whole hours ``span``."""
    where, args = _key_where("hour", span)
    yield from conn.execute(
        f"SELECT error_code, SUM(n) FROM stats_hourly WHERE error_code != {NO_ERROR} AND {where} "
        "GROUP BY error_code HAVING SUM(n) > 0",
        args,
    )


def sender_groups(conn: sqlite3.Connection, span: Span) -> Iterator[tuple[str, str, str, int]]:
    """(sender, Messaging Service, status, outbound messages) of the whole hours ``span``."""
    where, args = _key_where("hour", span)
    yield from conn.execute(
        f"SELECT sender, service, status, SUM(n) FROM stats_senders_hourly WHERE {where} "
        "GROUP BY sender, service, status HAVING SUM(n) > 0",
        args,
    )


def prefix_groups(conn: sqlite3.Connection, span: Span) -> Iterator[tuple[str, str, str, int]]:
    """(prefix, status, an example destination, outbound messages) of the whole hours ``span``: whole
    days from the daily table, the hours around them from the hourly one."""
    hour_lo = span[0]
    day_lo = _ceil_key(_boundary(hour_lo), DAY_KEY) if hour_lo is not None else None
    day_hi = span[1][:DAY_KEY] if span[1] is not None else None
    parts: list[tuple[str, Span]] = []
    if day_lo is not None and day_hi is not None and day_lo >= day_hi:
        parts.append(("stats_prefix_hourly", span))
    else:
        if day_lo is not None:
            parts.append(("stats_prefix_hourly", (hour_lo, day_lo + "T00")))
        parts.append(("stats_prefix_daily", (day_lo, day_hi)))
        if day_hi is not None:
            parts.append(("stats_prefix_hourly", (day_hi + "T00", span[1])))
    for table, keys in parts:
        column = "day" if table.endswith("daily") else "hour"
        where, args = _key_where(column, keys)
        yield from conn.execute(
            f"SELECT prefix, status, MIN(example), SUM(n) FROM {table} WHERE {where} "
            "GROUP BY prefix, status HAVING SUM(n) > 0",
            args,
        )
