"""The tables both databases hold, declared once: columns, their kinds, keys and indexes.

PostgreSQL's first migration is generated from this list (pg/schema.py). SQLite's schema is its history
(schema.py's migrations m001-…, which stay as they ran on every operator's file); tests/test_tables.py
checks that SQLite's schema after all of them is exactly this list, and tests/pg/test_schema.py that
PostgreSQL's is, so a column or an index added to one database and not to the other fails a test.

Tables only one database has are not here: SQLite's full-text index (``messages_fts``) and statistics
rollup (``stats_*``); PostgreSQL's ``writers`` (pg/writers.py) and its trigram index (pg/schema.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# text; integer; real; time: an ISO-8601 UTC string (records.utcnow), compared byte by byte; flag: 0/1;
# id: the row's own growing integer key; ref: another table's id
Kind = Literal["text", "integer", "real", "time", "flag", "id", "ref"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "text"
    not_null: bool = False
    default: int | None = None
    primary_key: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None  # a partial index's condition, in SQL both databases read the same


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    indexes: tuple[Index, ...] = ()


def _text(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n) for n in names)


ID = Column("id", "id", primary_key=True)
SIMULATED = Column("simulated", "flag", not_null=True, default=0)  # validated by the demo token (m008)

TABLES: tuple[Table, ...] = (
    Table(
        "messages",
        (
            Column("sid", primary_key=True),
            Column("direction", not_null=True),
            Column("channel", not_null=True),
            *_text("from_addr", "to_addr", "body"),
            Column("status", not_null=True),
            Column("status_rank", "integer", not_null=True),
            Column("error_code", "integer"),
            *_text("messaging_service_sid", "account_sid"),
            Column("num_segments", "integer"),
            Column("num_media", "integer", default=0),
            *_text("price", "price_unit", "profile_name", "channel_status_message", "raw_dlr_done_date"),
            Column("first_seen", "time", not_null=True),
            Column("updated_at", "time", not_null=True),
            Column("event_count", "integer", default=0),
            Column("source"),
            SIMULATED,
        ),
        (
            Index("idx_messages_status_first_seen", ("status", "first_seen")),
            Index("idx_messages_error_code", ("error_code",)),
            Index("idx_messages_channel_first_seen", ("channel", "first_seen")),
            Index("idx_messages_direction_first_seen", ("direction", "first_seen")),
            Index("idx_messages_first_seen_sid", ("first_seen", "sid")),
            Index("idx_messages_simulated", ("sid",), where="simulated = 1"),
        ),
    ),
    Table(
        "events",
        (
            ID,
            Column("message_sid", not_null=True),
            Column("status", not_null=True),
            Column("error_code", "integer"),
            Column("event_type"),
            Column("event_key", not_null=True),
            *_text("idempotency_token", "channel_status_message", "raw_dlr_done_date"),
            Column("received_at", "time", not_null=True),
            Column("request_id", "ref"),
            Column("payload", not_null=True),
            SIMULATED,
            *_text("source", "cloudevent_id"),
        ),
        (
            # the two duplicate keys (sid|status|type; the CloudEvent id): INSERT … ON CONFLICT DO NOTHING
            Index("idx_events_event_key", ("event_key",), unique=True),
            Index(
                "idx_events_cloudevent_id", ("cloudevent_id",), unique=True, where="cloudevent_id IS NOT NULL"
            ),
            Index("idx_events_message_sid_id", ("message_sid", "id")),
            Index("idx_events_error_code", ("error_code",)),
            Index("idx_events_simulated", ("id",), where="simulated = 1"),
        ),
    ),
    Table(
        "media",
        (ID, Column("message_sid"), Column("idx", "integer"), *_text("url", "content_type")),
        (Index("idx_media_message_sid_idx", ("message_sid", "idx"), unique=True),),
    ),
    Table(
        "requests",
        (
            ID,
            Column("received_at", "time"),
            *_text("method", "path", "query", "remote_addr", "headers", "body"),
            Column("body_size", "integer"),
            *_text("content_type", "kind", "outcome"),
            Column("http_status", "integer"),
            Column("reason"),
            Column("latency_ms", "real"),
            Column("message_sid"),
            SIMULATED,
        ),
        (
            Index("idx_requests_received_at", ("received_at",)),
            Index("idx_requests_outcome_id", ("outcome", "id")),
            Index("idx_requests_simulated", ("id",), where="simulated = 1"),
            Index(
                "idx_requests_rejected_sid",
                ("message_sid",),
                where="outcome = 'rejected' AND message_sid IS NOT NULL",
            ),
        ),
    ),
    Table(
        "webhook_backups",
        (
            ID,
            Column("created_at", "time"),
            *_text("account_sid", "target_kind", "target_sid", "target_name", "previous", "applied"),
            Column("restored_at", "time"),
        ),
    ),
    Table(
        "sync_state",
        (
            Column("name", primary_key=True),
            Column("value", not_null=True),
            Column("updated_at", "time", not_null=True),
        ),
    ),
    Table(
        "twilio_alerts",
        (
            Column("sid", primary_key=True),
            Column("error_code", "integer"),
            *_text("log_level", "alert_text", "request_url", "request_method"),
            Column("date_created", "time"),
            *_text("resource_sid", "message_sid"),
            Column("fetched_at", "time", not_null=True),
            Column("details"),
        ),
        (
            Index("idx_twilio_alerts_date", ("date_created",)),
            Index("idx_twilio_alerts_message", ("message_sid",), where="message_sid IS NOT NULL"),
        ),
    ),
)

# how SQLite declares each kind (PRAGMA table_info's type): its schema is checked against these
SQLITE_TYPES: dict[Kind, str] = {
    "text": "TEXT", "integer": "INTEGER", "real": "REAL", "time": "TEXT", "flag": "INTEGER", "id": "INTEGER",
    "ref": "INTEGER",
}  # fmt: skip
# PostgreSQL's: times sort as they compare in SQLite, byte by byte, whatever the database's locale; ids
# are generated by the server, several receivers inserting at once
POSTGRESQL_TYPES: dict[Kind, str] = {
    "text": "text", "integer": "integer", "real": "double precision", "time": 'text COLLATE "C"',
    "flag": "smallint", "id": "bigint GENERATED ALWAYS AS IDENTITY", "ref": "bigint",
}  # fmt: skip


def postgresql_ddl(table: Table) -> list[str]:
    """The ``CREATE TABLE`` and ``CREATE INDEX`` statements of ``table`` in PostgreSQL."""
    columns = []
    for c in table.columns:
        column = f"{c.name} {POSTGRESQL_TYPES[c.kind]}"
        if c.primary_key:
            column += " PRIMARY KEY"
        if c.not_null:
            column += " NOT NULL"
        if c.default is not None:
            column += f" DEFAULT {int(c.default)}"
        columns.append(column)
    statements = [f"CREATE TABLE {table.name} ({', '.join(columns)})"]
    for index in table.indexes:
        sql = f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {index.name} ON {table.name} "
        sql += f"({', '.join(index.columns)})"
        if index.where:
            sql += f" WHERE {index.where}"
        statements.append(sql)
    return statements
