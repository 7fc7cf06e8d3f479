"""The PostgreSQL schema: the tables of SQLite's store (core.py, m001-m011, as they stand after them), with
PostgreSQL types, applied as named migrations once per database.

Same tables, same column names, same meanings, so the read queries and ``migrate-store`` map one to one
(tests/pg/test_schema.py compares the two schemas column by column). Differences, each for a reason:

- Ids are ``bigint GENERATED ALWAYS AS IDENTITY``: several receivers insert at once.
- Times stay the stored ISO-8601 UTC strings (``utcnow()``), ``COLLATE "C"``: they sort as they compare
  in SQLite, byte by byte, whatever the database's locale; the Reader contract hands them out as strings.
- Free-text search: a ``pg_trgm`` GIN index on the six columns SQLite's ``messages_fts`` covers
  (``ILIKE '%x%'`` on any of them uses it), instead of an FTS5 table and its triggers.
- ``simulated`` is a ``smallint`` 0/1, as SQLite's column, so the same predicates (``simulated = 1``) work.

Migrations run inside one transaction under an advisory lock: two receivers starting together on an empty
database apply each migration once; the second waits for the first and then finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import writers

__all__ = ["MIGRATIONS", "TEXT_COLUMNS", "apply_migrations"]

# pg_advisory_xact_lock key: "callback-monitor schema" (any constant both receivers agree on)
MIGRATION_LOCK = 0x43_4D_53_43_48_45_4D_41  # "CMSCHEMA"
# the columns the free-text search looks in: those of SQLite's messages_fts (tests/pg/test_schema.py)
TEXT_COLUMNS = ("sid", "from_addr", "to_addr", "body", "profile_name", "messaging_service_sid")

TIME = 'text COLLATE "C"'
ID = "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

_M001 = (
    f"""CREATE TABLE messages (
        sid text PRIMARY KEY,
        direction text NOT NULL,
        channel text NOT NULL,
        from_addr text,
        to_addr text,
        body text,
        status text NOT NULL,
        status_rank integer NOT NULL,
        error_code integer,
        messaging_service_sid text,
        account_sid text,
        num_segments integer,
        num_media integer DEFAULT 0,
        price text,
        price_unit text,
        profile_name text,
        channel_status_message text,
        raw_dlr_done_date text,
        first_seen {TIME} NOT NULL,
        updated_at {TIME} NOT NULL,
        event_count integer DEFAULT 0,
        source text,
        simulated smallint NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX idx_messages_status_first_seen ON messages (status, first_seen)",
    "CREATE INDEX idx_messages_error_code ON messages (error_code)",
    "CREATE INDEX idx_messages_channel_first_seen ON messages (channel, first_seen)",
    "CREATE INDEX idx_messages_direction_first_seen ON messages (direction, first_seen)",
    "CREATE INDEX idx_messages_first_seen_sid ON messages (first_seen, sid)",
    "CREATE INDEX idx_messages_simulated ON messages (sid) WHERE simulated = 1",
    f"""CREATE TABLE events (
        id {ID},
        message_sid text NOT NULL,
        status text NOT NULL,
        error_code integer,
        event_type text,
        event_key text NOT NULL,
        idempotency_token text,
        channel_status_message text,
        raw_dlr_done_date text,
        received_at {TIME} NOT NULL,
        request_id bigint,
        payload text NOT NULL,
        simulated smallint NOT NULL DEFAULT 0,
        source text,
        cloudevent_id text
    )""",
    # the two duplicate keys (sid|status|type; the CloudEvent id): INSERT … ON CONFLICT DO NOTHING
    "CREATE UNIQUE INDEX idx_events_event_key ON events (event_key)",
    "CREATE UNIQUE INDEX idx_events_cloudevent_id ON events (cloudevent_id) WHERE cloudevent_id IS NOT NULL",
    "CREATE INDEX idx_events_message_sid_id ON events (message_sid, id)",
    "CREATE INDEX idx_events_error_code ON events (error_code)",
    "CREATE INDEX idx_events_simulated ON events (id) WHERE simulated = 1",
    f"""CREATE TABLE media (
        id {ID},
        message_sid text,
        idx integer,
        url text,
        content_type text
    )""",
    "CREATE UNIQUE INDEX idx_media_message_sid_idx ON media (message_sid, idx)",
    f"""CREATE TABLE requests (
        id {ID},
        received_at {TIME},
        method text,
        path text,
        query text,
        remote_addr text,
        headers text,
        body text,
        body_size integer,
        content_type text,
        kind text,
        outcome text,
        http_status integer,
        reason text,
        latency_ms double precision,
        message_sid text,
        simulated smallint NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX idx_requests_received_at ON requests (received_at)",
    "CREATE INDEX idx_requests_outcome_id ON requests (outcome, id)",
    "CREATE INDEX idx_requests_simulated ON requests (id) WHERE simulated = 1",
    "CREATE INDEX idx_requests_rejected_sid ON requests (message_sid) "
    "WHERE outcome = 'rejected' AND message_sid IS NOT NULL",
    f"""CREATE TABLE webhook_backups (
        id {ID},
        created_at {TIME},
        account_sid text,
        target_kind text,
        target_sid text,
        target_name text,
        previous text,
        applied text,
        restored_at {TIME}
    )""",
    f"CREATE TABLE sync_state (name text PRIMARY KEY, value text NOT NULL, updated_at {TIME} NOT NULL)",
    f"""CREATE TABLE twilio_alerts (
        sid text PRIMARY KEY,
        error_code integer,
        log_level text,
        alert_text text,
        request_url text,
        request_method text,
        date_created {TIME},
        resource_sid text,
        message_sid text,
        fetched_at {TIME} NOT NULL,
        details text
    )""",
    "CREATE INDEX idx_twilio_alerts_date ON twilio_alerts (date_created)",
    "CREATE INDEX idx_twilio_alerts_message ON twilio_alerts (message_sid) WHERE message_sid IS NOT NULL",
)

_M002 = (
    # trusted since PostgreSQL 13: a database owner may create it, no superuser needed
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX idx_messages_text ON messages USING gin ("
    + ", ".join(f"{c} gin_trgm_ops" for c in TEXT_COLUMNS)
    + ")",
)

# migrate-store (receiver/store/migrate.py): which request-log row each copied row of a database file
# became (the file's identity, its id there, the id here), so a second run finds it and events point at
# the copy. A table of its own: the receivers' requests rows, and what a Reader returns of them, stay as
# in SQLite. The only table SQLite does not have.
_M021 = (
    "CREATE TABLE requests_origin (origin text NOT NULL, origin_id bigint NOT NULL, "
    "request_id bigint NOT NULL, PRIMARY KEY (origin, origin_id))",
)

#: (name, statements), applied in this order, each once per database
MIGRATIONS: Sequence[tuple[str, Sequence[str]]] = (
    ("m001_initial", _M001),
    ("m002_messages_text_index", _M002),
    ("m020_writers", writers.DDL),
    ("m021_requests_origin", _M021),
)


def apply_migrations(conn: Any) -> list[str]:
    """Apply the migrations ``conn``'s database lacks, in one transaction; the names applied.

    ``conn``: a psycopg connection in autocommit mode (or idle); it is left idle."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        # looked up first: a writer role without CREATE (docs/TEAM.md) may start on a migrated database
        row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if not (row and row[0]):
            conn.execute(
                "CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL "
                "DEFAULT now())"
            )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for name, statements in MIGRATIONS:
            if name in done:
                continue
            for sql in statements:
                conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            applied.append(name)
    return applied
