"""Twilio's alerts (stored by reconciliation) and the operator alert feed (receiver/alert_feed.py).

The feed's queries walk a primary key (``events.id``, ``requests.id``) from a cursor the caller keeps, or
look one error code up in ``idx_events_error_code`` (m002): each look costs what arrived since the
previous one, never the size of the database (tests/test_alerts.py checks the query plans).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from .base import ReadsBase

FeedTable = Literal["events", "requests"]
_FEED_TABLES: tuple[FeedTable, ...] = ("events", "requests")


@dataclass(frozen=True)
class StoredAlert:
    """One of Twilio's Monitor alerts as reconciliation stored it (times: Twilio's, as UTC ISO strings)."""

    sid: str
    error_code: int | None
    log_level: str | None
    alert_text: str | None  # Twilio's form-encoded text ("Msg=…&url=…")
    request_url: str | None
    request_method: str | None
    date_created: str | None
    resource_sid: str | None
    message_sid: str | None  # the message the alert concerns, when it names one
    fetched_at: str
    # request_variables, response_headers, response_body (Twilio's form-encoded texts)
    details: dict[str, str] = field(default_factory=dict)


class FeedEvent(NamedTuple):
    id: int
    status: str
    error_code: int | None
    received_at: str
    simulated: bool


class FeedRequest(NamedTuple):
    id: int
    outcome: str
    http_status: int | None
    reason: str | None
    received_at: str
    simulated: bool


class AlertsReads(ReadsBase):
    def twilio_alerts(self, limit: int = 500) -> list[StoredAlert]:
        """The stored alerts, newest first."""
        rows = self.conn.execute(
            "SELECT sid, error_code, log_level, alert_text, request_url, request_method, date_created, "
            "resource_sid, message_sid, fetched_at, details FROM twilio_alerts "
            "ORDER BY date_created DESC, sid LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            StoredAlert(
                sid=r[0], error_code=r[1], log_level=r[2], alert_text=r[3], request_url=r[4],
                request_method=r[5], date_created=r[6], resource_sid=r[7], message_sid=r[8], fetched_at=r[9],
                details=json.loads(r[10]) if r[10] else {},
            )
            for r in rows
        ]  # fmt: skip

    # ------------------------------------------------------------------ the alert feed
    def feed_newest_id(self, table: FeedTable) -> int:
        """The newest row id of ``table`` (0 when empty)."""
        return int(self.conn.execute(f"SELECT max(id) FROM {_table(table)}").fetchone()[0] or 0)

    def feed_times_before(self, table: FeedTable, before: int, limit: int) -> list[tuple[int, str]]:
        """(id, received_at) of up to ``limit`` rows older than id ``before``, newest first."""
        sql = f"SELECT id, received_at FROM {_table(table)} WHERE id < ? ORDER BY id DESC LIMIT ?"
        rows = self.conn.execute(sql, (before, limit)).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def feed_events(self, after: int, upto: int, limit: int) -> list[FeedEvent]:
        """Events with ``after < id <= upto``, oldest first, at most ``limit``."""
        rows = self.conn.execute(
            "SELECT id, status, error_code, received_at, simulated FROM events "
            "WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
            (after, upto, limit),
        ).fetchall()
        return [FeedEvent(int(r[0]), str(r[1]), r[2], str(r[3]), bool(r[4])) for r in rows]

    def feed_requests(self, after: int, upto: int, limit: int) -> list[FeedRequest]:
        """Logged requests with ``after < id <= upto``, oldest first, at most ``limit``."""
        rows = self.conn.execute(
            "SELECT id, outcome, http_status, reason, received_at, simulated FROM requests "
            "WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
            (after, upto, limit),
        ).fetchall()
        return [FeedRequest(int(r[0]), str(r[1]), r[2], r[3], str(r[4]), bool(r[5])) for r in rows]

    def error_code_seen_before(self, code: int, event_id: int) -> bool:
        """Whether a real (not simulated) event older than ``event_id`` reported ``code``."""
        row = self.conn.execute(
            "SELECT 1 FROM events WHERE error_code = ? AND id < ? AND simulated = 0 LIMIT 1", (code, event_id)
        ).fetchone()
        return row is not None


def _table(table: FeedTable) -> str:
    if table not in _FEED_TABLES:  # a table name cannot be a bound parameter: only these two are spliced
        raise ValueError(f"not a feed table: {table!r}")
    return table
