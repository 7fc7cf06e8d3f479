"""The messages table's filter and sort, as SQL.

Shared by the table model (which reads one window of rows at a time) and the CSV export (which streams
every matching row), so "export the current view" means exactly what the table shows. Every filter is
a WHERE clause with parameters — never a Python pass over the rows — so a million-row database filters as
fast as its indexes allow.

Sort keys are expressions that are never NULL (``IFNULL``), so a row's position can be computed with a
row-value comparison ``(key, sid) < (?, ?)``; that is how the view finds the selected SID again after a
refresh without loading the rows before it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

# column id, header, sort expression (never NULL), tooltip. Profile/body/media sit right after "From": they
# are shown only in the Inbound view, where who wrote what matters more than delivery columns.
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("time", "Time", "first_seen", "When the first webhook for this message arrived (local time)"),
    ("direction", "Direction", "direction", "outbound (sent by you) or inbound (received)"),
    ("channel", "Channel", "channel", "sms, mms, whatsapp …"),
    ("from", "From", "IFNULL(from_addr, '')", "Sender"),
    ("profile", "Profile name", "IFNULL(profile_name, '')", "WhatsApp profile name of the sender"),
    ("body", "Body", "IFNULL(body, '')", "Message text (inbound, or as sent through the app)"),
    ("media", "Media", "num_media", "Number of media attachments"),
    ("to", "To", "IFNULL(to_addr, '')", "Recipient"),
    ("status", "Status", "status_rank", "Current status (the highest-ranked status seen)"),
    ("error", "Error", "IFNULL(error_code, -1)", "Twilio error code of the current status"),
    ("segments", "Segments", "IFNULL(num_segments, -1)", "Number of SMS segments"),
    ("price", "Price", "IFNULL(CAST(price AS REAL), 1e9)", "Price reported by Twilio (negative = cost)"),
    ("service", "Messaging service", "IFNULL(messaging_service_sid, '')", "Messaging Service SID"),
    ("sid", "SID", "sid", "Message SID"),
)
COLUMN_IDS = tuple(c[0] for c in COLUMNS)
SELECT_COLUMNS = (
    "sid, direction, channel, from_addr, to_addr, body, status, status_rank, error_code, "
    "messaging_service_sid, num_segments, num_media, price, price_unit, profile_name, first_seen, "
    "updated_at, event_count"
)
FAILED_STATUSES = ("failed", "undelivered")


@dataclass(frozen=True)
class MessageFilter:
    """What the operator filters on; empty/None means "any".

    ``since_seconds`` is relative ("last hour") and is turned into a timestamp each time the query runs,
    so a refresh moves the window; ``since``/``until`` are absolute UTC ISO strings.
    """

    statuses: tuple[str, ...] = ()
    channel: str | None = None
    direction: str | None = None
    error_code: int | None = None
    since_seconds: int | None = None
    since: str | None = None
    until: str | None = None
    text: str = ""

    def cleared(self) -> MessageFilter:
        return MessageFilter()

    def with_(self, **changes: Any) -> MessageFilter:
        return replace(self, **changes)

    @property
    def is_empty(self) -> bool:
        return self == MessageFilter()


@dataclass(frozen=True)
class SortSpec:
    column: str = "time"
    descending: bool = True

    @property
    def expression(self) -> str:
        for cid, _header, expr, _tip in COLUMNS:
            if cid == self.column:
                return expr
        return "first_seen"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def where_clause(flt: MessageFilter, now: datetime | None = None) -> tuple[str, list[Any]]:
    """``("WHERE …", params)`` for ``flt``; ``("", [])`` when nothing is filtered."""
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
    text = flt.text.strip()
    if text:
        like = f"%{_escape_like(text)}%"
        cols = ("sid", "from_addr", "to_addr", "body", "profile_name", "messaging_service_sid")
        parts.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in cols) + ")")
        args.extend([like] * len(cols))
    return ("WHERE " + " AND ".join(parts), args) if parts else ("", args)


def order_clause(sort: SortSpec) -> str:
    direction = "DESC" if sort.descending else "ASC"
    return f"ORDER BY {sort.expression} {direction}, sid {direction}"


def count(conn: sqlite3.Connection, flt: MessageFilter, now: datetime | None = None) -> int:
    where, args = where_clause(flt, now)
    return int(conn.execute(f"SELECT COUNT(*) FROM messages {where}", args).fetchone()[0])


def select_sql(flt: MessageFilter, sort: SortSpec, now: datetime | None = None) -> tuple[str, list[Any]]:
    """The full ordered SELECT for ``flt`` (callers add LIMIT/OFFSET or stream it)."""
    where, args = where_clause(flt, now)
    return f"SELECT {SELECT_COLUMNS} FROM messages {where} {order_clause(sort)}", args


def position_of(
    conn: sqlite3.Connection, sid: str, flt: MessageFilter, sort: SortSpec, now: datetime | None = None
) -> int | None:
    """The 0-based row of ``sid`` in the filtered, sorted list; None when it does not match the filter."""
    where, args = where_clause(flt, now)
    match = conn.execute(
        f"SELECT {sort.expression} FROM messages {where} {'AND' if where else 'WHERE'} sid = ?", [*args, sid]
    ).fetchone()
    if match is None:
        return None
    op = ">" if sort.descending else "<"
    cond = f"({sort.expression}, sid) {op} (?, ?)"
    sql = f"SELECT COUNT(*) FROM messages {where} {'AND' if where else 'WHERE'} {cond}"
    return int(conn.execute(sql, [*args, match[0], sid]).fetchone()[0])
