"""migrate-store's writes on the team database: each chunk of a table is staged with ``COPY`` into a
temporary table, then merged with one ``INSERT … SELECT … ON CONFLICT``, in one transaction.

A chunk either lands whole or not at all, and merging it twice changes nothing, so a run that stops
anywhere (a killed process, a lost connection) is finished by running it again. What makes a row
"already there":

- messages: the SID. The laptop's row is merged as the receivers merge a callback: a status moves only to
  a higher rank, empty columns are filled, ``first_seen``/``updated_at`` widen; ``event_count`` counts the
  events the team database holds for it (events added here add to it).
- events: their unique keys (``event_key``, ``cloudevent_id``): a callback both stores received is one
  event. ``request_id`` points at the copied request-log row.
- requests: no natural key, so ``requests_origin`` (m021) records which row each copied one became
  (the file's identity and its id there -> the id here).
- media by (message, index), Twilio alerts by SID, webhook backups by (time, target).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.errors

from ..writes import FILL_COLUMNS
from .engine import Conn
from .writes import _UP, _keep_newer_or_old, clean

CHUNK_ATTEMPTS = 4  # a chunk that deadlocked with a live receiver runs again
_RETRY = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


@dataclass(frozen=True)
class Table:
    """One table's copy: the columns read from the file (staged in this order, with their types) and the
    statement that merges a staged chunk, returning one row per row it wrote (``inserted`` true for a
    new row, false for an existing one it updated)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    merge: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    """``"a text, b integer"`` as ((a, text), (b, integer))."""
    return tuple((p.split()[0], p.split(None, 1)[1]) for p in (x.strip() for x in spec.split(",")))


_REQUEST_COLUMNS = _cols(
    "id bigint, received_at text, method text, path text, query text, remote_addr text, headers text, "
    "body text, body_size integer, content_type text, kind text, outcome text, http_status integer, "
    "reason text, latency_ms double precision, message_sid text, simulated smallint"
)
_MESSAGE_COLUMNS = _cols(
    "sid text, direction text, channel text, from_addr text, to_addr text, body text, status text, "
    "status_rank integer, error_code integer, messaging_service_sid text, account_sid text, "
    "num_segments integer, num_media integer, price text, price_unit text, profile_name text, "
    "channel_status_message text, raw_dlr_done_date text, first_seen text, updated_at text, source text, "
    "simulated smallint"
)
_EVENT_COLUMNS = _cols(
    "id bigint, message_sid text, status text, error_code integer, event_type text, event_key text, "
    "idempotency_token text, channel_status_message text, raw_dlr_done_date text, received_at text, "
    "request_id bigint, payload text, simulated smallint, source text, cloudevent_id text"
)
_MEDIA_COLUMNS = _cols("message_sid text, idx integer, url text, content_type text")
_ALERT_COLUMNS = _cols(
    "sid text, error_code integer, log_level text, alert_text text, request_url text, request_method text, "
    "date_created text, resource_sid text, message_sid text, fetched_at text, details text"
)
_BACKUP_COLUMNS = _cols(
    "created_at text, account_sid text, target_kind text, target_sid text, target_name text, previous text, "
    "applied text, restored_at text"
)


def _list(columns: Iterable[str], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{c}" for c in columns)


_REQ = [c for c, _ in _REQUEST_COLUMNS if c != "id"]
# ids drawn from the identity's own sequence, so the same statement can record which copy is which; a
# second run at once (the same file) fails on requests_origin's key and is rolled back, never doubled
_MERGE_REQUESTS = (
    "WITH src AS (SELECT nextval(pg_get_serial_sequence('requests', 'id')) AS new_id, s.* "
    "FROM stage_requests s WHERE NOT EXISTS (SELECT 1 FROM requests_origin o "
    "WHERE o.origin = %(origin)s AND o.origin_id = s.id) ORDER BY s.id), "
    f"ins AS (INSERT INTO requests (id, {_list(_REQ)}) OVERRIDING SYSTEM VALUE "
    f"SELECT new_id, {_list(_REQ)} FROM src), "
    "org AS (INSERT INTO requests_origin (origin, origin_id, request_id) "
    "SELECT %(origin)s, id, new_id FROM src) "
    "SELECT true FROM src"
)

# the laptop's message merged as a callback is (pg/writes.py): only a higher rank moves the status
_MSG = [c for c, _ in _MESSAGE_COLUMNS]
_FILLED = (*FILL_COLUMNS, "price", "price_unit")  # a callback's, and the price the API adds
_CHANGES = " OR ".join(
    (
        _UP,
        "excluded.first_seen < messages.first_seen",
        "excluded.updated_at > messages.updated_at",
        "excluded.simulated < messages.simulated",
        *(f"(messages.{c} IS NULL AND excluded.{c} IS NOT NULL)" for c in _FILLED),
    )
)
_MERGE_MESSAGES = (
    f"INSERT INTO messages ({_list(_MSG)}, event_count) "
    f"SELECT {_list(_MSG, 's.')}, "
    "(SELECT count(*) FROM events e WHERE e.message_sid = s.sid) FROM stage_messages s ORDER BY s.sid "
    "ON CONFLICT (sid) DO UPDATE SET "
    + ", ".join(f"{c} = COALESCE(messages.{c}, excluded.{c})" for c in _FILLED)
    + f", status = CASE WHEN {_UP} THEN excluded.status ELSE messages.status END"
    ", status_rank = GREATEST(messages.status_rank, excluded.status_rank)"
    f", error_code = CASE WHEN {_UP} THEN excluded.error_code ELSE messages.error_code END"
    f", {_keep_newer_or_old('channel_status_message')}"
    f", {_keep_newer_or_old('raw_dlr_done_date')}"
    f", num_media = CASE WHEN {_UP} THEN GREATEST(messages.num_media, excluded.num_media) "
    "ELSE messages.num_media END"
    ", first_seen = LEAST(messages.first_seen, excluded.first_seen)"
    ", updated_at = GREATEST(messages.updated_at, excluded.updated_at)"
    ", simulated = LEAST(messages.simulated, excluded.simulated)"
    f" WHERE {_CHANGES} RETURNING (xmax = 0)"
)

# new events count on their message (as a receiver's upsert does); a message not there yet counts its
# events when it is inserted (above), so the order of the two never loses a count
_EV = [c for c, _ in _EVENT_COLUMNS if c not in ("id", "request_id")]
_MERGE_EVENTS = (
    f"WITH ins AS (INSERT INTO events ({_list(_EV)}, request_id) "
    f"SELECT {_list(_EV, 's.')}, r.request_id FROM stage_events s "
    "LEFT JOIN requests_origin r ON r.origin = %(origin)s AND r.origin_id = s.request_id ORDER BY s.id "
    "ON CONFLICT DO NOTHING RETURNING message_sid), "
    "counted AS (SELECT message_sid, count(*) AS n FROM ins GROUP BY message_sid), "
    "bumped AS (UPDATE messages m SET event_count = m.event_count + c.n FROM counted c "
    "WHERE m.sid = c.message_sid RETURNING 1) "
    "SELECT true FROM ins"
)
_MEDIA = [c for c, _ in _MEDIA_COLUMNS]
_MERGE_MEDIA = (
    f"INSERT INTO media ({_list(_MEDIA)}) SELECT {_list(_MEDIA)} FROM stage_media "
    "ON CONFLICT DO NOTHING RETURNING true"
)
_ALERT = [c for c, _ in _ALERT_COLUMNS]
_MERGE_ALERTS = (
    f"INSERT INTO twilio_alerts ({_list(_ALERT)}) SELECT {_list(_ALERT)} FROM stage_twilio_alerts "
    "ON CONFLICT (sid) DO NOTHING RETURNING true"
)
_BACKUP = [c for c, _ in _BACKUP_COLUMNS]
_MERGE_BACKUPS = (
    f"INSERT INTO webhook_backups ({_list(_BACKUP)}) SELECT {_list(_BACKUP, 's.')} "
    "FROM stage_webhook_backups s WHERE NOT EXISTS (SELECT 1 FROM webhook_backups w "
    "WHERE w.created_at IS NOT DISTINCT FROM s.created_at AND w.target_kind IS NOT DISTINCT FROM "
    "s.target_kind AND w.target_sid IS NOT DISTINCT FROM s.target_sid) RETURNING true"
)

#: in this order: events need their requests (request_id) copied first
TABLES = (
    Table("requests", _REQUEST_COLUMNS, _MERGE_REQUESTS),
    Table("messages", _MESSAGE_COLUMNS, _MERGE_MESSAGES),
    Table("events", _EVENT_COLUMNS, _MERGE_EVENTS),
    Table("media", _MEDIA_COLUMNS, _MERGE_MEDIA),
    Table("twilio_alerts", _ALERT_COLUMNS, _MERGE_ALERTS),
    Table("webhook_backups", _BACKUP_COLUMNS, _MERGE_BACKUPS),
)


def prepare(conn: Conn) -> None:
    """The staging tables of this session (emptied at each commit)."""
    for table in TABLES:
        types = ", ".join(f"{c} {t}" for c, t in table.columns)
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS stage_{table.name} ({types}) ON COMMIT DELETE ROWS")


def copied_up_to(conn: Conn, origin: str) -> int:
    """The highest request id of ``origin`` already copied (chunks commit in id order): a rerun starts
    after it."""
    row = conn.execute("SELECT max(origin_id) FROM requests_origin WHERE origin = %s", (origin,)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def merge_chunk(conn: Conn, table: Table, rows: Sequence[Sequence[Any]], origin: str) -> tuple[int, int]:
    """Stage ``rows`` and merge them in one transaction; (inserted, updated). A deadlock with a live
    receiver runs the chunk again (it was rolled back whole)."""
    for attempt in range(CHUNK_ATTEMPTS):
        try:
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY stage_{table.name} ({_list(table.names)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(clean(row))
                cur.execute(table.merge, {"origin": origin})
                written = [r[0] for r in cur.fetchall()]
            inserted = sum(1 for w in written if w)
            return inserted, len(written) - inserted
        except _RETRY:
            if attempt == CHUNK_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
