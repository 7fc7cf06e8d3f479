"""The SQLite schema: its migrations, applied in number order when a Store opens a database.

Every table, index and trigger is declared here once; the columns of the messages' text index
(``FTS_COLUMNS``) too, for the queries that search it. A second backend (PostgreSQL, issue #13) declares
the same tables in its own dialect; the facts both share (status ranks, dedupe keys) live in
``receiver/statuses.py`` and in the unique keys below.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

from . import stats_rollup

migrations = Migrations("callback-monitor")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["messages"].create(  # type: ignore[union-attr]
        {
            "sid": str,
            "direction": str,
            "channel": str,
            "from_addr": str,
            "to_addr": str,
            "body": str,
            "status": str,
            "status_rank": int,
            "error_code": int,
            "messaging_service_sid": str,
            "account_sid": str,
            "num_segments": int,
            "num_media": int,
            "price": str,
            "price_unit": str,
            "profile_name": str,
            "channel_status_message": str,
            "raw_dlr_done_date": str,
            "first_seen": str,
            "updated_at": str,
            "event_count": int,
            "source": str,
        },
        pk="sid",
        not_null={"direction", "channel", "status", "status_rank", "first_seen", "updated_at"},
        defaults={"num_media": 0, "event_count": 0},
    )
    for cols in (
        ["first_seen"],
        ["updated_at"],
        ["status", "first_seen"],
        ["error_code"],
        ["channel", "first_seen"],
        ["direction", "first_seen"],
        ["to_addr"],
        ["from_addr"],
    ):
        db["messages"].create_index(cols)  # type: ignore[union-attr]
    db["events"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "message_sid": str,
            "status": str,
            "error_code": int,
            "event_type": str,
            "event_key": str,
            "idempotency_token": str,
            "channel_status_message": str,
            "raw_dlr_done_date": str,
            "received_at": str,
            "request_id": int,
            "payload": str,
        },
        pk="id",
        not_null={"message_sid", "status", "event_key", "received_at", "payload"},
    )
    db["events"].create_index(["event_key"], unique=True)  # type: ignore[union-attr]
    db["events"].create_index(["idempotency_token"], unique=True)  # type: ignore[union-attr]
    db["events"].create_index(["message_sid", "id"])  # type: ignore[union-attr]
    db["media"].create(  # type: ignore[union-attr]
        {"id": int, "message_sid": str, "idx": int, "url": str, "content_type": str}, pk="id"
    )
    db["media"].create_index(["message_sid", "idx"], unique=True)  # type: ignore[union-attr]
    db["requests"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "received_at": str,
            "method": str,
            "path": str,
            "query": str,
            "remote_addr": str,
            "headers": str,
            "body": str,
            "body_size": int,
            "content_type": str,
            "kind": str,
            "outcome": str,
            "http_status": int,
            "reason": str,
            "latency_ms": float,
            "message_sid": str,
        },
        pk="id",
    )
    db["requests"].create_index(["received_at"])  # type: ignore[union-attr]
    db["requests"].create_index(["outcome", "id"])  # type: ignore[union-attr]
    db["webhook_backups"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "created_at": str,
            "account_sid": str,
            "target_kind": str,
            "target_sid": str,
            "target_name": str,
            "previous": str,
            "applied": str,
            "restored_at": str,
        },
        pk="id",
    )


@migrations()
def m002_events_error_code_index(db: sqlite_utils.Database) -> None:
    """Error lookup counts callbacks per code; without this it scans every event."""
    db["events"].create_index(["error_code"])  # type: ignore[union-attr]


@migrations()
def m003_messages_time_sid_index(db: sqlite_utils.Database) -> None:
    """The messages table's default order (newest first, SID as tie-break) straight from an index, so a
    deep page (LIMIT … OFFSET n) walks index entries instead of sorting a million rows."""
    db["messages"].create_index(["first_seen", "sid"])  # type: ignore[union-attr]


# the columns the free-text search looks in; the trigram index (m004) covers exactly these
FTS_COLUMNS = ("sid", "from_addr", "to_addr", "body", "profile_name", "messaging_service_sid")


@migrations()
def m004_messages_text_index(db: sqlite_utils.Database) -> None:
    """A trigram index for the messages table's free-text search (substring of the columns above).

    Six ``LIKE '%x%'`` scan every message to count the matches (~300 ms for a million); a phrase of
    trigrams finds them in time proportional to the matches. Contentless (``content=''``): the text is
    already in ``messages``, the index only maps trigrams (with positions: ``detail=full``, so a phrase is
    an exact substring) to ``messages.rowid``. That rowid is implicit (the key is ``sid``), and ``VACUUM``
    may renumber implicit rowids: never VACUUM this database without rebuilding the index
    (``INSERT INTO messages_fts(messages_fts) VALUES('delete-all')`` then re-insert every row).

    Write path: one index insert per new message; an update touches the index only when one of the
    indexed columns really changes (the ``WHEN`` clause), so status callbacks, which only fill empty
    columns at most, cost a trigger check and nothing more.
    """
    cols = ", ".join(FTS_COLUMNS)
    new = ", ".join(f"new.{c}" for c in FTS_COLUMNS)
    old = ", ".join(f"old.{c}" for c in FTS_COLUMNS)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in FTS_COLUMNS)
    statements = (
        f"CREATE VIRTUAL TABLE messages_fts USING fts5({cols}, tokenize='trigram', content='', detail=full)",
        f"INSERT INTO messages_fts(rowid, {cols}) SELECT rowid, {cols} FROM messages",
        f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, {cols}) VALUES (new.rowid, {new});
        END""",
        f"""CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, {cols}) VALUES ('delete', old.rowid, {old});
        END""",
        f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF {cols} ON messages WHEN {changed} BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, {cols}) VALUES ('delete', old.rowid, {old});
            INSERT INTO messages_fts(rowid, {cols}) VALUES (new.rowid, {new});
        END""",
    )
    for sql in statements:  # one by one: executescript would COMMIT the migration's transaction
        db.execute(sql)


# indexes on messages that no query uses: every status callback paid for keeping them (bench/README.md)
UNUSED_MESSAGE_INDEXES = (
    "idx_messages_first_seen",  # covered by idx_messages_first_seen_sid (m003)
    "idx_messages_updated_at",  # nothing sorts or filters on updated_at; each callback moved its entry
    "idx_messages_from_addr",  # the free-text search goes through messages_fts (m004), and
    "idx_messages_to_addr",  # LIKE '%x%' never could use these
)


@migrations()
def m005_drop_unused_message_indexes(db: sqlite_utils.Database) -> None:
    """Each index on ``messages`` is one more B-tree to update per callback: the upsert of a callback
    went from 22 to 15 µs and the commit of a batch of 16 from 32 to 17 µs per callback without the two
    first ones (single-threaded micro-benchmark, bench/README.md)."""
    for name in UNUSED_MESSAGE_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")


@migrations()
def m007_idempotency_token_not_unique(db: sqlite_utils.Database) -> None:
    """A repeated ``I-Twilio-Idempotency-Token`` is a duplicate only for the same message, status and event
    type, and the unique ``event_key`` (``sid|status|event_type``) already refuses exactly those. The
    unique index on the token alone dropped distinct callbacks that shared a token (``twilio
    webhook:invoke`` sends one token every time, so only its first webhook was stored). Nothing looks
    events up by token, so no index replaces it; rows are untouched."""
    db.execute("DROP INDEX IF EXISTS idx_events_idempotency_token")


SIMULATED_TABLES = ("requests", "events", "messages")


@migrations()
def m008_simulated_marker(db: sqlite_utils.Database) -> None:
    """``simulated = 1`` on the requests, events and messages that the public demo token validated
    (the simulator's traffic), so statistics can leave them out and the operator can purge them. A
    partial index per table finds them for the purge without costing real traffic more than the
    check of its condition."""
    for table in SIMULATED_TABLES:
        db.execute(f"ALTER TABLE {table} ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0")
        pk = "sid" if table == "messages" else "id"
        db.execute(f"CREATE INDEX idx_{table}_simulated ON {table}({pk}) WHERE simulated = 1")


@migrations()
def m009_rejected_requests_sid_index(db: sqlite_utils.Database) -> None:
    """The detail pane and the SID search list a message's rejected callbacks ("why didn't my delivered
    arrive?"). Partial: only rejected rows are indexed, so accepted callbacks, the fast path, pay nothing."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_requests_rejected_sid ON requests (message_sid) "
        "WHERE outcome = 'rejected' AND message_sid IS NOT NULL"
    )


@migrations()
def m010_reconciliation(db: sqlite_utils.Database) -> None:
    """What reconciliation with Twilio's REST API needs (receiver/reconcile.py): ``events.source``
    (NULL: a callback; ``'api'``: learned from the API, so the timeline can say so), ``sync_state``
    (a backfill's progress, so a run cut off half-way resumes), and ``twilio_alerts`` (Twilio's Monitor
    alerts about this app's webhooks, linked to the message they concern when they name one)."""
    db.execute("ALTER TABLE events ADD COLUMN source TEXT")
    db.execute(
        "CREATE TABLE sync_state (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE twilio_alerts (sid TEXT PRIMARY KEY, error_code INTEGER, log_level TEXT, "
        "alert_text TEXT, request_url TEXT, request_method TEXT, date_created TEXT, resource_sid TEXT, "
        "message_sid TEXT, fetched_at TEXT NOT NULL, details TEXT)"
    )
    db.execute("CREATE INDEX idx_twilio_alerts_date ON twilio_alerts (date_created)")
    db.execute(
        "CREATE INDEX idx_twilio_alerts_message ON twilio_alerts (message_sid) WHERE message_sid IS NOT NULL"
    )


@migrations()
def m011_cloudevent_id(db: sqlite_utils.Database) -> None:
    """Event Streams (receiver/event_streams.py) delivers at least once: a retried or duplicated CloudEvent
    carries the same ``id``, which is unique per event. Partial: status callbacks leave it NULL and pay
    nothing for the index."""
    db.execute("ALTER TABLE events ADD COLUMN cloudevent_id TEXT")
    db.execute(
        "CREATE UNIQUE INDEX idx_events_cloudevent_id ON events (cloudevent_id) "
        "WHERE cloudevent_id IS NOT NULL"
    )


@migrations()
def m014_statistics_rollup(db: sqlite_utils.Database) -> None:
    """The statistics per closed hour and day (stats_rollup.py), filled by a thread off the request path
    (stats_maintenance.py): nothing is added to a callback's transaction. Empty until its first pass; the
    queries are exact (live) meanwhile."""
    for sql in stats_rollup.SCHEMA:
        db.execute(sql)
