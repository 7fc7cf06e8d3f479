"""The receiver's writes in PostgreSQL's SQL: the same rows and outcomes as SQLite's store (core.py).

Deduplication and the status rank are the database's, so any number of receivers can write at once:
an event is new only if ``INSERT … ON CONFLICT DO NOTHING`` inserted it (the unique ``event_key`` and
``cloudevent_id``; a concurrent insert of the same key waits for the other transaction and then counts as
the duplicate), and a message's status moves only to a higher rank, decided inside the upsert under the
row's lock. The upsert uses ``CASE`` per column rather than ``DO UPDATE … WHERE rank is higher``: a
callback that does not advance the status still counts as an event and fills empty columns, as in SQLite.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import psycopg

from ..records import Outcome, RequestRecord, request_row
from ..writes import FILL_COLUMNS, _PreparedCallback
from .engine import Conn, Wrote

_UP = "excluded.status_rank > messages.status_rank"


def _keep_newer_or_old(column: str) -> str:
    return (
        f"{column} = CASE WHEN {_UP} THEN COALESCE(excluded.{column}, messages.{column}) "
        f"ELSE COALESCE(messages.{column}, excluded.{column}) END"
    )


_MESSAGE_COLUMNS = (
    "sid, direction, channel, from_addr, to_addr, body, status, status_rank, error_code, "
    "messaging_service_sid, account_sid, num_segments, num_media, profile_name, channel_status_message, "
    "raw_dlr_done_date, first_seen, updated_at, event_count, source"
)
_ON_CONFLICT_MESSAGE = (
    "ON CONFLICT (sid) DO UPDATE SET "
    + ", ".join(f"{c} = COALESCE(messages.{c}, excluded.{c})" for c in FILL_COLUMNS)
    + f", status = CASE WHEN {_UP} THEN excluded.status ELSE messages.status END"
    f", status_rank = GREATEST(messages.status_rank, excluded.status_rank)"
    f", error_code = CASE WHEN {_UP} THEN excluded.error_code ELSE messages.error_code END"
    f", {_keep_newer_or_old('channel_status_message')}"
    f", {_keep_newer_or_old('raw_dlr_done_date')}"
    f", num_media = CASE WHEN {_UP} THEN GREATEST(messages.num_media, excluded.num_media) "
    "ELSE messages.num_media END"
    ", updated_at = excluded.updated_at, event_count = messages.event_count + 1 "
    "RETURNING status"
)
UPSERT_MESSAGE = (
    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s) "
    + _ON_CONFLICT_MESSAGE
)
_EVENT_COLUMNS = (
    "message_sid, status, error_code, event_type, event_key, idempotency_token, channel_status_message, "
    "raw_dlr_done_date, received_at, request_id, payload"
)
# an Event Streams event: a duplicate by either unique key, its CloudEvent id or sid|status|type
INSERT_CLOUDEVENT = (
    f"INSERT INTO events ({_EVENT_COLUMNS}, cloudevent_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id"
)
INSERT_REQUEST = (
    "INSERT INTO requests (received_at, method, path, query, remote_addr, headers, body, body_size, "
    "content_type, kind, outcome, http_status, reason, latency_ms, message_sid) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)

# the types of _PreparedCallback's event and message tuples: a parameter in a SELECT list has no column
# to take its type from (a NULL error code would otherwise be text)
_EVENT_TYPES = ("text", "text", "integer", "text", "text", "text", "text", "text", "text")
_MESSAGE_TYPES = ("text",) * 7 + ("integer", "integer", "text", "text", "integer", "integer") + ("text",) * 6


def _typed(types: Sequence[str]) -> str:
    return ", ".join(f"%s::{t}" for t in types)


# A status callback in one statement (one round trip while the batch holds the database): its request
# row, its event unless that is a duplicate, and the message upsert only when the event is new.
# Returns (request id, the message's status, the event's id), the last two NULL for a duplicate.
RECORD_CALLBACK = (
    f"WITH req AS ({INSERT_REQUEST}), "
    f"ev AS (INSERT INTO events ({_EVENT_COLUMNS}) SELECT {_typed(_EVENT_TYPES)}, req.id, %s::text FROM req "
    "ON CONFLICT DO NOTHING RETURNING id), "
    f"msg AS (INSERT INTO messages ({_MESSAGE_COLUMNS}) "
    f"SELECT {_typed(_MESSAGE_TYPES[:-1])}, 1, %s::text FROM ev {_ON_CONFLICT_MESSAGE}) "
    "SELECT req.id, (SELECT status FROM msg), (SELECT id FROM ev) FROM req"
)
DUPLICATE_REASON = "already stored (duplicate delivery)"


def clean(values: Sequence[Any]) -> tuple[Any, ...]:
    """PostgreSQL's text cannot hold NUL: a ``%00`` in a form field becomes U+FFFD (as an undecodable byte
    already does), so a hostile or odd request is stored and answered instead of failing its batch."""
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v for v in values)


def insert_request(conn: Conn, wrote: Wrote, req: RequestRecord) -> int:
    """The request-log row of a request without a callback (or of an Event Streams delivery)."""
    row = conn.execute(INSERT_REQUEST, clean(request_row(req, req.headers, req.body))).fetchone()
    assert row is not None  # INSERT … RETURNING always returns the row
    wrote.request(row[0])
    return int(row[0])


def current_status(conn: Conn, sid: str) -> str | None:
    row = conn.execute("SELECT status FROM messages WHERE sid = %s", (sid,)).fetchone()
    return str(row[0]) if row else None


def upsert_message(conn: Conn, prep: _PreparedCallback) -> str:
    row = conn.execute(UPSERT_MESSAGE, clean(prep.message)).fetchone()
    assert row is not None  # the upsert always returns the row it wrote
    return str(row[0])


def apply_callback(conn: Conn, wrote: Wrote, prep: _PreparedCallback, req: RequestRecord) -> Outcome:
    cb = prep.cb
    req.message_sid = cb.sid
    req.outcome = "accepted"
    request = request_row(req, prep.headers, None)
    row = conn.execute(
        RECORD_CALLBACK, clean((*request, *prep.event, prep.payload, *prep.message))
    ).fetchone()
    assert row is not None  # the request row is always inserted
    request_id, new_status = int(row[0]), row[1]
    wrote.request(request_id)
    if new_status is None:  # duplicate: same sid|status|event_type, from this receiver or another
        conn.execute(  # no event holds its fields: the request's row keeps them
            "UPDATE requests SET outcome = 'duplicate', reason = %s, headers = %s, body = %s WHERE id = %s",
            clean((DUPLICATE_REASON, req.headers, req.body, request_id)),
        )
        return Outcome(request_id, "duplicate", cb.sid, current_status(conn, cb.sid), False, cb.error_code)
    if cb.media:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO media (message_sid, idx, url, content_type) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                [clean((cb.sid, m.idx, m.url, m.content_type)) for m in cb.media],
            )
    wrote.event(row[2])
    return Outcome(request_id, "accepted", cb.sid, str(new_status), True, cb.error_code)


def apply_event(conn: Conn, wrote: Wrote, prep: _PreparedCallback, ce_id: str, request_id: int) -> Outcome:
    """One CloudEvent of an Event Streams delivery."""
    cb = prep.cb
    inserted = conn.execute(
        INSERT_CLOUDEVENT, clean((*prep.event, request_id, prep.payload, ce_id))
    ).fetchone()
    if inserted is None:
        return Outcome(request_id, "duplicate", cb.sid, current_status(conn, cb.sid), False, cb.error_code)
    wrote.event(inserted[0])
    return Outcome(request_id, "accepted", cb.sid, upsert_message(conn, prep), True, cb.error_code)


def mark_duplicate_request(conn: Conn, request_id: int) -> None:
    conn.execute(
        "UPDATE requests SET outcome = 'duplicate', reason = %s WHERE id = %s", (DUPLICATE_REASON, request_id)
    )


@functools.lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    if "%" in sql:  # psycopg reads % as a placeholder's start: the shared SQL has none
        raise ValueError(f"a literal % in shared SQL: {sql[:80]}")
    return sql.replace("?", "%s")


class Qmark:
    """A psycopg connection taking the shared writes' ``?`` parameters (shared_writes.py's ``Db``), which
    tells the batch's ``Wrote`` when a statement changed rows."""

    __slots__ = ("conn", "wrote")

    def __init__(self, conn: Conn, wrote: Wrote) -> None:
        self.conn, self.wrote = conn, wrote

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[tuple[Any, ...]]:
        cur = self.conn.execute(_pyformat(sql), clean(parameters))
        if cur.rowcount > 0 and not sql.startswith("SELECT"):
            self.wrote.changed = True
        return cur


def event_added(db: Any, event_id: int) -> None:
    """The shared writes' hook (``Dialect.event_added``): an event a ``Qmark`` inserted."""
    db.wrote.event(event_id)
