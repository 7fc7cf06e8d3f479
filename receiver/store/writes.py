"""The receiver's writes: callbacks, Event Streams batches, the request log.

Each is a job for the group commit (engine.py). The rows of a callback are built on the request's own
thread before it queues (``_PreparedCallback``), so the transaction that holds the database only runs
statements. Two promises live in the SQL itself, so any number of writers keep them: a duplicate is
refused by a unique key (``events.event_key``, ``events.cloudevent_id``), and a message's status never
moves back (the UPSERT takes the callback's status only ``WHEN excluded.status_rank > status_rank``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .. import statuses
from ..callbacks import Callback
from ..request_storage import accepted_headers, cap_request, payload_json
from ..store_health import StoreError
from .engine import Engine
from .records import Outcome, RequestRecord, request_row
from .shared_writes import MESSAGE_DETAILS, mark_simulated


class Writes(Engine):
    """The named writes; each runs as one job of the group commit and returns once it is committed."""

    def log_request(self, req: RequestRecord) -> Outcome:
        """Log a request that carries no callback (rejected, health…)."""

        cap_request(req)

        def job(conn: sqlite3.Connection) -> Outcome:
            return Outcome(_insert_request(conn, req), req.outcome, req.message_sid, None, False)

        try:
            result: Outcome = self.run(job)
        except StoreError:
            # these answers (4xx, /healthz) promise nothing stored: they still go out while the store
            # refuses writes (disk low, file gone; ``health`` says why), without a row (request_id 0)
            return Outcome(0, req.outcome, req.message_sid, None, False)
        return result

    def record_callback(self, cb: Callback, req: RequestRecord) -> Outcome:
        """Store a validated callback and its request-log line in one transaction."""

        cap_request(req)
        prep = _PreparedCallback(cb, req)

        def job(conn: sqlite3.Connection) -> Outcome:
            outcome = _apply_callback(conn, prep, req)
            if req.simulated:
                mark_simulated(conn, outcome)
            return outcome

        return self.run(job)

    def record_event_batch(self, events: list[tuple[Callback, str]], req: RequestRecord) -> list[Outcome]:
        """Store an Event Streams delivery (receiver/event_streams.py): its request-log line and one event
        per CloudEvent, in one transaction. An event whose CloudEvent id (or ``sid|status|type``) is
        already stored is a duplicate; the request is ``duplicate`` when every event was."""

        cap_request(req)
        preps = [(_PreparedCallback(cb, req), ce_id) for cb, ce_id in events]

        def job(conn: sqlite3.Connection) -> list[Outcome]:
            req.outcome = "accepted"
            req.message_sid = events[0][0].sid if len(events) == 1 else None
            request_id = _insert_request(conn, req)
            outcomes = []
            for prep, ce_id in preps:
                cb = prep.cb
                cur = conn.execute(_INSERT_CLOUDEVENT, (*prep.event, request_id, prep.payload, ce_id))
                if cur.rowcount == 0:
                    row = conn.execute("SELECT status FROM messages WHERE sid = ?", (cb.sid,)).fetchone()
                    status = row[0] if row else None
                    outcomes.append(Outcome(request_id, "duplicate", cb.sid, status, False, cb.error_code))
                    continue
                status = conn.execute(_UPSERT_MESSAGE, prep.message).fetchone()[0]
                outcomes.append(Outcome(request_id, "accepted", cb.sid, status, True, cb.error_code))
                if req.simulated:
                    mark_simulated(conn, outcomes[-1])
            if outcomes and all(o.outcome == "duplicate" for o in outcomes):
                req.outcome = "duplicate"
                conn.execute(
                    "UPDATE requests SET outcome = 'duplicate', reason = ? WHERE id = ?",
                    ("already stored (duplicate delivery)", request_id),
                )
            return outcomes or [Outcome(request_id, "accepted", None, None, False)]

        return self.run(job)


# -------------------------------------------------------------------- job bodies (writer thread)
_AS_RECEIVED: Any = object()


def _insert_request(
    conn: sqlite3.Connection, req: RequestRecord, *, headers: Any = _AS_RECEIVED, body: Any = _AS_RECEIVED
) -> int:
    """Insert the request's row; ``headers``/``body`` replace the received ones (an accepted callback's)."""
    cur = conn.execute(
        "INSERT INTO requests (received_at, method, path, query, remote_addr, headers, body, body_size, "
        "content_type, kind, outcome, http_status, reason, latency_ms, message_sid) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        request_row(
            req,
            req.headers if headers is _AS_RECEIVED else headers,
            req.body if body is _AS_RECEIVED else body,
        ),
    )
    return int(cur.lastrowid or 0)


FILL_COLUMNS = (*MESSAGE_DETAILS, "profile_name")  # a callback's: WhatsApp adds the profile name
_UP = "excluded.status_rank > status_rank"  # the callback's status supersedes the message's (statuses.py)
# One statement creates the message (an early callback) or merges into it. In an UPDATE every column on
# the right-hand side is the row's old value, so the order of the assignments does not matter.
_UPSERT_MESSAGE = (
    "INSERT INTO messages (sid, direction, channel, from_addr, to_addr, body, status, status_rank, "
    "error_code, messaging_service_sid, account_sid, num_segments, num_media, profile_name, "
    "channel_status_message, raw_dlr_done_date, first_seen, updated_at, event_count, source) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) "
    "ON CONFLICT(sid) DO UPDATE SET "
    + ", ".join(f"{c} = COALESCE({c}, excluded.{c})" for c in FILL_COLUMNS)
    + f", status = CASE WHEN {_UP} THEN excluded.status ELSE status END"
    f", status_rank = CASE WHEN {_UP} THEN excluded.status_rank ELSE status_rank END"
    f", error_code = CASE WHEN {_UP} THEN excluded.error_code ELSE error_code END"
    f", channel_status_message = CASE WHEN {_UP} "
    "THEN COALESCE(excluded.channel_status_message, channel_status_message) "
    "ELSE COALESCE(channel_status_message, excluded.channel_status_message) END"
    f", raw_dlr_done_date = CASE WHEN {_UP} "
    "THEN COALESCE(excluded.raw_dlr_done_date, raw_dlr_done_date) "
    "ELSE COALESCE(raw_dlr_done_date, excluded.raw_dlr_done_date) END"
    f", num_media = CASE WHEN {_UP} THEN MAX(num_media, excluded.num_media) ELSE num_media END"
    ", updated_at = excluded.updated_at, event_count = event_count + 1 "
    "RETURNING status"
)
_INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (message_sid, status, error_code, event_type, event_key, "
    "idempotency_token, channel_status_message, raw_dlr_done_date, received_at, request_id, payload) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# an Event Streams event: refused (ignored) by either unique key, its CloudEvent id or sid|status|type
_INSERT_CLOUDEVENT = (
    "INSERT OR IGNORE INTO events (message_sid, status, error_code, event_type, event_key, "
    "idempotency_token, channel_status_message, raw_dlr_done_date, received_at, request_id, payload, "
    "cloudevent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _PreparedCallback:
    """A callback's rows, built on the request's own thread before it queues for the commit: the JSON
    and the parameter tuples cost nothing inside the batch, which holds the database."""

    __slots__ = ("cb", "event", "message", "payload", "headers")

    def __init__(self, cb: Callback, req: RequestRecord) -> None:
        received_at = req.received_at
        self.cb = cb
        # stored once: the fields in the event, the headers other columns hold not in the request's row
        self.headers = accepted_headers(req.headers)
        # the event row without its request_id, which is known only inside the transaction
        self.event = (
            cb.sid,
            cb.status,
            cb.error_code,
            cb.event_type,
            cb.event_key,
            cb.idempotency_token,
            cb.channel_status_message,
            cb.raw_dlr_done_date,
            received_at,
        )
        self.message = (
            cb.sid,
            cb.direction,
            cb.channel,
            cb.from_addr,
            cb.to_addr,
            cb.body,
            cb.status,
            statuses.rank(cb.status),
            cb.error_code,
            cb.messaging_service_sid,
            cb.account_sid,
            cb.num_segments,
            cb.num_media,
            cb.profile_name,
            cb.channel_status_message,
            cb.raw_dlr_done_date,
            received_at,
            received_at,
            "inbound" if cb.kind == "inbound" else "callback",
        )
        self.payload = payload_json(cb.payload)


def _apply_callback(conn: sqlite3.Connection, prep: _PreparedCallback, req: RequestRecord) -> Outcome:
    cb = prep.cb
    req.message_sid = cb.sid
    req.outcome = "accepted"
    request_id = _insert_request(conn, req, headers=prep.headers, body=None)
    cur = conn.execute(_INSERT_EVENT, (*prep.event, request_id, prep.payload))
    if cur.rowcount == 0:  # duplicate: same sid|status|event_type (a retry, whatever its token)
        conn.execute(  # no event holds its fields: the row keeps them
            "UPDATE requests SET outcome = 'duplicate', reason = ?, headers = ?, body = ? WHERE id = ?",
            ("already stored (duplicate delivery)", req.headers, req.body, request_id),
        )
        row = conn.execute("SELECT status FROM messages WHERE sid = ?", (cb.sid,)).fetchone()
        return Outcome(request_id, "duplicate", cb.sid, row[0] if row else None, False, cb.error_code)
    new_status = conn.execute(_UPSERT_MESSAGE, prep.message).fetchone()[0]
    if cb.media:
        conn.executemany(
            "INSERT OR IGNORE INTO media (message_sid, idx, url, content_type) VALUES (?, ?, ?, ?)",
            [(cb.sid, m.idx, m.url, m.content_type) for m in cb.media],
        )
    return Outcome(request_id, "accepted", cb.sid, new_status, True, cb.error_code)
