"""A ``MessageFilter`` and ``SortSpec`` as SQL: the messages table's WHERE, ORDER BY and keyset pages, in
either backend's dialect (receiver/store/dialect.py; SQLite's when none is given).

Shared by the table's reads (``messages_reads``), the CSV export and the statistics drill-downs, so
"export the current view" means exactly what the table shows. Every filter is a WHERE clause with
parameters, never a Python pass over the rows.

Sort keys are expressions that are never NULL (``COALESCE``), so a row's position can be computed with a
row-value comparison ``(key, sid) < (?, ?)``: that is how the view finds the selected SID again after a
refresh without loading the rows before it, and how a deep page is read from a cached neighbour (keyset
paging) instead of skipping a million rows with ``OFFSET``.

Free text is a case-insensitive substring of sid, from/to, body, profile name or messaging service SID.
Two equivalent ways to ask it: ``LIKE '%x%'`` on each column (a scan; cheap only when matches are dense
and the scan stops after a page) or the trigram index ``messages_fts`` (migration m004): a phrase of
trigrams matches exactly the rows where one column contains the text. The index is used for ASCII text of
three characters or more (shorter text has no trigram; for non-ASCII text the tokenizer's Unicode case
folding is wider than LIKE's ASCII-only folding, so the results could differ). PostgreSQL has no separate
text table: its ``ILIKE`` on each column is answered by the ``pg_trgm`` GIN index (pg/schema.py), so
``text_index`` changes nothing there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..message_filter import MessageFilter, SortSpec
from . import like
from .base import Connection
from .dialect import SQLITE, Dialect
from .schema import FTS_COLUMNS as TEXT_COLUMNS  # the indexed columns are the searched columns


def sort_expressions(dialect: Dialect = SQLITE) -> dict[str, str]:
    """Each sortable column's key. Status sorts by rank, then by time (the rank prefixes the timestamp), so
    "failed" rows come newest first."""
    return {
        "time": "first_seen",
        "status": dialect.status_key,
        "error": "COALESCE(error_code, -1)",
        "direction": "direction",
        "channel": "channel",
        "from": "COALESCE(from_addr, '')",
        "profile": "COALESCE(profile_name, '')",
        "body": "COALESCE(body, '')",
        "media": "num_media",
        "to": "COALESCE(to_addr, '')",
        "segments": "COALESCE(num_segments, -1)",
        "price": f"COALESCE(CAST(price AS {dialect.real}), 1e9)",
        "service": "COALESCE(messaging_service_sid, '')",
        "sid": "sid",
    }


SELECT_COLUMNS = (
    "sid, direction, channel, from_addr, to_addr, body, status, status_rank, error_code, "
    "messaging_service_sid, num_segments, num_media, price, price_unit, profile_name, first_seen, "
    "updated_at, event_count, channel_status_message"
)
SORT_KEY = "sort_key"
TEXT_INDEX = "messages_fts"
__all__ = ["TEXT_COLUMNS", "count", "page_sql", "position_of", "select_sql", "where_clause"]


def sort_expression(sort: SortSpec, dialect: Dialect = SQLITE) -> str:
    return sort_expressions(dialect).get(sort.column, "first_seen")


def has_text_index(conn: Connection, dialect: Dialect = SQLITE) -> bool:
    """Whether the database has the trigram index (SQLite: migration m004; PostgreSQL: pg/schema.py m002)."""
    if dialect.text_index:
        row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TEXT_INDEX,)).fetchone()
    else:
        row = conn.execute("SELECT 1 WHERE to_regclass('idx_messages_text') IS NOT NULL").fetchone()
    return row is not None


def text_indexable(text: str) -> bool:
    """The index answers exactly what LIKE answers for ASCII text of at least one trigram."""
    text = text.strip()
    return len(text) >= 3 and text.isascii()


def _phrase(text: str) -> str:
    return '"' + text.strip().replace('"', '""') + '"'


def text_match_count(conn: Connection, text: str, limit: int | None = None, dialect: Dialect = SQLITE) -> int:
    """How many messages contain ``text`` (from the index; ``limit`` caps the work: "more than N?")."""
    if dialect.text_index:
        sql, args = f"SELECT rowid FROM {TEXT_INDEX} WHERE {TEXT_INDEX} MATCH ?", [_phrase(text)]
    else:
        where, args = where_clause(MessageFilter(text=text), dialect=dialect)
        sql = f"SELECT 1 FROM messages {where}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return int(conn.execute(f"SELECT COUNT(*) FROM ({sql}) AS matches", args).fetchone()[0])


def where_clause(
    flt: MessageFilter, now: datetime | None = None, *, text_index: bool = False, dialect: Dialect = SQLITE
) -> tuple[str, list[Any]]:
    """``("WHERE …", params)`` for ``flt``; ``("", [])`` when nothing is filtered.

    ``text_index``: answer the free text from ``messages_fts`` (only for ``text_indexable`` text, and the
    caller checked ``has_text_index``); the rows are the same, the cost is proportional to the matches
    instead of a scan. Without a separate text table (PostgreSQL) it changes nothing.
    """
    parts: list[str] = []
    args: list[Any] = []
    if flt.statuses:
        parts.append(f"status IN ({', '.join('?' for _ in flt.statuses)})")
        args.extend(flt.statuses)
    if flt.channel:
        parts.append("channel = ?")
        args.append(flt.channel)
    if flt.direction:
        parts.append("direction = ?")
        args.append(flt.direction)
    if flt.error_code is not None:
        parts.append("error_code = ?")
        args.append(flt.error_code)
    since = flt.since
    if flt.since_seconds:
        moment = (now or datetime.now(UTC)) - timedelta(seconds=flt.since_seconds)
        relative = moment.isoformat(timespec="milliseconds")
        since = max(since, relative) if since else relative
    if since:
        parts.append("first_seen >= ?")
        args.append(since)
    if flt.until:
        parts.append("first_seen < ?")
        args.append(flt.until)
    if flt.hide_simulated:
        parts.append("simulated = 0")
    if flt.from_addr is not None:
        parts.append("COALESCE(from_addr, '') = ?")
        args.append(flt.from_addr)
    if flt.service is not None:
        parts.append("COALESCE(messaging_service_sid, '') = ?")
        args.append(flt.service)
    if flt.to_prefixes:
        parts.append(f"{dialect.dest_prefix} IN ({', '.join('?' for _ in flt.to_prefixes)})")
        args.extend(flt.to_prefixes)
    text = flt.text.strip()
    if text and text_index and dialect.text_index and text_indexable(text):
        parts.append(f"rowid IN (SELECT rowid FROM {TEXT_INDEX} WHERE {TEXT_INDEX} MATCH ?)")
        args.append(_phrase(text))
    elif text:
        op = dialect.like_for(text)
        parts.append("(" + " OR ".join(f"{c} {op} ? {like.ESCAPE}" for c in TEXT_COLUMNS) + ")")
        args.extend([like.contains(text)] * len(TEXT_COLUMNS))
    return ("WHERE " + " AND ".join(parts), args) if parts else ("", args)


def order_clause(sort: SortSpec, dialect: Dialect = SQLITE) -> str:
    direction = "DESC" if sort.descending else "ASC"
    return f"ORDER BY {sort_expression(sort, dialect)} {direction}, sid {direction}"


def count(
    conn: Connection,
    flt: MessageFilter,
    now: datetime | None = None,
    *,
    text_index: bool = False,
    dialect: Dialect = SQLITE,
) -> int:
    """Messages matching ``flt``; with ``text_index`` and only free text, counted in the index alone."""
    if (
        text_index
        and dialect.text_index
        and flt.text.strip()
        and text_indexable(flt.text)
        and flt.with_(text="").is_empty
    ):
        return text_match_count(conn, flt.text)
    where, args = where_clause(flt, now, text_index=text_index, dialect=dialect)
    return int(conn.execute(f"SELECT COUNT(*) FROM messages {where}", args).fetchone()[0])


def select_sql(
    flt: MessageFilter,
    sort: SortSpec,
    now: datetime | None = None,
    *,
    text_index: bool = False,
    dialect: Dialect = SQLITE,
) -> tuple[str, list[Any]]:
    """The full ordered SELECT for ``flt`` (callers add LIMIT/OFFSET or stream it)."""
    where, args = where_clause(flt, now, text_index=text_index, dialect=dialect)
    return f"SELECT {SELECT_COLUMNS} FROM messages {where} {order_clause(sort, dialect)}", args


def page_sql(
    flt: MessageFilter,
    sort: SortSpec,
    now: datetime | None = None,
    *,
    text_index: bool = False,
    after: tuple[Any, str] | None = None,
    backwards: bool = False,
    dialect: Dialect = SQLITE,
) -> tuple[str, list[Any]]:
    """A SELECT for one page (the caller adds ``LIMIT ? OFFSET ?``), with the sort key as ``sort_key``.

    ``after=(key, sid)`` starts right after that row in table order (keyset paging: the index seeks to
    it instead of skipping ``OFFSET`` rows); with ``backwards`` the rows before it come nearest first
    (the caller reverses them).
    """
    where, args = where_clause(flt, now, text_index=text_index, dialect=dialect)
    descending = sort.descending != backwards
    expression = sort_expression(sort, dialect)
    if after is not None:
        op = "<" if descending else ">"
        where += f" {'AND' if where else 'WHERE'} ({expression}, sid) {op} (?, ?)"
        args = [*args, after[0], after[1]]
    order = order_clause(SortSpec(sort.column, descending), dialect)
    return f"SELECT {SELECT_COLUMNS}, {expression} AS {SORT_KEY} FROM messages {where} {order}", args


def position_of(
    conn: Connection,
    sid: str,
    flt: MessageFilter,
    sort: SortSpec,
    now: datetime | None = None,
    *,
    text_index: bool = False,
    dialect: Dialect = SQLITE,
) -> int | None:
    """The 0-based row of ``sid`` in the filtered, sorted list; None when it does not match the filter."""
    where, args = where_clause(flt, now, text_index=text_index, dialect=dialect)
    expression = sort_expression(sort, dialect)
    match = conn.execute(
        f"SELECT {expression} FROM messages {where} {'AND' if where else 'WHERE'} sid = ?", [*args, sid]
    ).fetchone()
    if match is None:
        return None
    op = ">" if sort.descending else "<"
    cond = f"({expression}, sid) {op} (?, ?)"
    sql = f"SELECT COUNT(*) FROM messages {where} {'AND' if where else 'WHERE'} {cond}"
    return int(conn.execute(sql, [*args, match[0], sid]).fetchone()[0])
