"""The messages table's filter and sort, as SQL.

Shared by the table model (which reads one window of rows at a time) and the CSV export (which streams
every matching row), so "export the current view" means exactly what the table shows. Every filter is
a WHERE clause with parameters — never a Python pass over the rows — so a million-row database filters as
fast as its indexes allow.

Sort keys are expressions that are never NULL (``IFNULL``), so a row's position can be computed with a
row-value comparison ``(key, sid) < (?, ?)``; that is how the view finds the selected SID again after a
refresh without loading the rows before it, and how the table reads a deep page from a cached neighbour
(keyset paging) instead of skipping a million rows with ``OFFSET``.

Free text is a case-insensitive substring of sid, from/to, body, profile name or messaging service SID.
Two equivalent ways to ask it: six ``LIKE '%x%'`` (a scan; cheap only when matches are dense and the scan
stops after a page) or the trigram index ``messages_fts`` (migration m004): a phrase of trigrams matches
exactly the rows where one column contains the text. The index is used for ASCII text of three characters
or more (shorter text has no trigram; for non-ASCII text the tokenizer's Unicode case folding is wider
than LIKE's ASCII-only folding, so the results could differ).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from receiver.stats_queries import DEST_PREFIX_SQL

# column id, header, sort expression (never NULL), tooltip. Status and error come right after the time: they
# are what the operator scans for, and must be on screen in a 1024-pixel-wide window. Profile/body/media sit
# after "From": they are shown only in the Inbound view, where who wrote what matters more than delivery.
# Status sorts by rank, then by time (the rank prefixes the timestamp), so "failed" rows come newest first.
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("time", "Time", "first_seen", "When the first webhook for this message arrived (local time)"),
    ("status", "Status", "printf('%03d', status_rank) || first_seen",
     "Current status (the highest-ranked status seen)"),
    ("error", "Error", "IFNULL(error_code, -1)", "Twilio error code of the current status"),
    ("direction", "Direction", "direction", "outbound (sent by you) or inbound (received)"),
    ("channel", "Channel", "channel", "sms, mms, whatsapp …"),
    ("from", "From", "IFNULL(from_addr, '')", "Sender"),
    ("profile", "Profile name", "IFNULL(profile_name, '')", "WhatsApp profile name of the sender"),
    ("body", "Body", "IFNULL(body, '')", "Message text (inbound, or as sent through the app)"),
    ("media", "Media", "num_media", "Number of media attachments"),
    ("to", "To", "IFNULL(to_addr, '')", "Recipient"),
    ("segments", "Segments", "IFNULL(num_segments, -1)", "Number of SMS segments"),
    ("price", "Price", "IFNULL(CAST(price AS REAL), 1e9)", "Price reported by Twilio (negative = cost)"),
    ("service", "Messaging service", "IFNULL(messaging_service_sid, '')", "Messaging Service SID"),
    ("sid", "SID", "sid", "Message SID"),
)  # fmt: skip
COLUMN_IDS = tuple(c[0] for c in COLUMNS)
SELECT_COLUMNS = (
    "sid, direction, channel, from_addr, to_addr, body, status, status_rank, error_code, "
    "messaging_service_sid, num_segments, num_media, price, price_unit, profile_name, first_seen, "
    "updated_at, event_count, channel_status_message"
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
    hide_simulated: bool = False  # leave out what the simulator sent (messages.simulated, m008)
    # drill-downs from the statistics ("" = none recorded); kept by the filter bar until "Clear filters"
    from_addr: str | None = None
    service: str | None = None
    to_prefixes: tuple[str, ...] = ()  # destination prefixes of one country (receiver.stats_queries)
    scope: str = ""  # what those three mean, for the operator ("to United States (US)")

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


_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]+")


def normalise_search(text: str) -> str:
    """A phone number typed the way people write them ("(312) 555-0178", "+1 312.555.0178") becomes the
    digits Twilio stores ("3125550178" / "+13125550178"), which are a substring of the E.164 number. No
    country is assumed: "(312) 555-0178" finds +13125550178 because the digits are contained in it."""
    text = text.strip()
    digits = re.sub(r"\D", "", text)
    enough = len(digits) >= (8 if text.startswith("+") else 10)  # not a date (8 digits) or a short code
    if enough and len(digits) <= 15 and _PHONE_LIKE.fullmatch(text) and digits != text.lstrip("+"):
        return ("+" if text.startswith("+") else "") + digits
    return text


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


TEXT_INDEX = "messages_fts"
TEXT_COLUMNS = ("sid", "from_addr", "to_addr", "body", "profile_name", "messaging_service_sid")


def has_text_index(conn: sqlite3.Connection) -> bool:
    """Whether the database has the trigram index (migration m004)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TEXT_INDEX,)).fetchone()
    return row is not None


def text_indexable(text: str) -> bool:
    """The index answers exactly what LIKE answers for ASCII text of at least one trigram."""
    text = text.strip()
    return len(text) >= 3 and text.isascii()


def _phrase(text: str) -> str:
    return '"' + text.strip().replace('"', '""') + '"'


def text_match_count(conn: sqlite3.Connection, text: str, limit: int | None = None) -> int:
    """How many messages contain ``text`` (from the index; ``limit`` caps the work: "more than N?")."""
    sql = f"SELECT rowid FROM {TEXT_INDEX} WHERE {TEXT_INDEX} MATCH ?"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return int(conn.execute(f"SELECT COUNT(*) FROM ({sql})", (_phrase(text),)).fetchone()[0])


def where_clause(
    flt: MessageFilter, now: datetime | None = None, *, text_index: bool = False
) -> tuple[str, list[Any]]:
    """``("WHERE …", params)`` for ``flt``; ``("", [])`` when nothing is filtered.

    ``text_index``: answer the free text from ``messages_fts`` (only for ``text_indexable`` text, and the
    caller checked ``has_text_index``); the rows are the same, the cost is proportional to the matches
    instead of a scan.
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
        parts.append("IFNULL(from_addr, '') = ?")
        args.append(flt.from_addr)
    if flt.service is not None:
        parts.append("IFNULL(messaging_service_sid, '') = ?")
        args.append(flt.service)
    if flt.to_prefixes:
        parts.append(f"{DEST_PREFIX_SQL} IN ({', '.join('?' for _ in flt.to_prefixes)})")
        args.extend(flt.to_prefixes)
    text = flt.text.strip()
    if text and text_index and text_indexable(text):
        parts.append(f"rowid IN (SELECT rowid FROM {TEXT_INDEX} WHERE {TEXT_INDEX} MATCH ?)")
        args.append(_phrase(text))
    elif text:
        like = f"%{_escape_like(text)}%"
        parts.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in TEXT_COLUMNS) + ")")
        args.extend([like] * len(TEXT_COLUMNS))
    return ("WHERE " + " AND ".join(parts), args) if parts else ("", args)


def order_clause(sort: SortSpec) -> str:
    direction = "DESC" if sort.descending else "ASC"
    return f"ORDER BY {sort.expression} {direction}, sid {direction}"


def count(
    conn: sqlite3.Connection, flt: MessageFilter, now: datetime | None = None, *, text_index: bool = False
) -> int:
    """Messages matching ``flt``; with ``text_index`` and only free text, counted in the index alone."""
    if text_index and flt.text.strip() and text_indexable(flt.text) and flt.with_(text="").is_empty:
        return text_match_count(conn, flt.text)
    where, args = where_clause(flt, now, text_index=text_index)
    return int(conn.execute(f"SELECT COUNT(*) FROM messages {where}", args).fetchone()[0])


def select_sql(
    flt: MessageFilter, sort: SortSpec, now: datetime | None = None, *, text_index: bool = False
) -> tuple[str, list[Any]]:
    """The full ordered SELECT for ``flt`` (callers add LIMIT/OFFSET or stream it)."""
    where, args = where_clause(flt, now, text_index=text_index)
    return f"SELECT {SELECT_COLUMNS} FROM messages {where} {order_clause(sort)}", args


SORT_KEY = "sort_key"


def page_sql(
    flt: MessageFilter,
    sort: SortSpec,
    now: datetime | None = None,
    *,
    text_index: bool = False,
    after: tuple[Any, str] | None = None,
    backwards: bool = False,
) -> tuple[str, list[Any]]:
    """A SELECT for one page (the caller adds ``LIMIT ? OFFSET ?``), with the sort key as ``sort_key``.

    ``after=(key, sid)`` starts right after that row in table order (keyset paging: the index seeks to
    it instead of skipping ``OFFSET`` rows); with ``backwards`` the rows before it come nearest first
    (the caller reverses them).
    """
    where, args = where_clause(flt, now, text_index=text_index)
    descending = sort.descending != backwards
    if after is not None:
        op = "<" if descending else ">"
        where += f" {'AND' if where else 'WHERE'} ({sort.expression}, sid) {op} (?, ?)"
        args = [*args, after[0], after[1]]
    order = order_clause(SortSpec(sort.column, descending))
    return f"SELECT {SELECT_COLUMNS}, {sort.expression} AS {SORT_KEY} FROM messages {where} {order}", args


def position_of(
    conn: sqlite3.Connection,
    sid: str,
    flt: MessageFilter,
    sort: SortSpec,
    now: datetime | None = None,
    *,
    text_index: bool = False,
) -> int | None:
    """The 0-based row of ``sid`` in the filtered, sorted list; None when it does not match the filter."""
    where, args = where_clause(flt, now, text_index=text_index)
    match = conn.execute(
        f"SELECT {sort.expression} FROM messages {where} {'AND' if where else 'WHERE'} sid = ?", [*args, sid]
    ).fetchone()
    if match is None:
        return None
    op = ">" if sort.descending else "<"
    cond = f"({sort.expression}, sid) {op} (?, ?)"
    sql = f"SELECT COUNT(*) FROM messages {where} {'AND' if where else 'WHERE'} {cond}"
    return int(conn.execute(sql, [*args, match[0], sid]).fetchone()[0])
