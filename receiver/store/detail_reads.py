"""One message: its row, its timeline of events, its media, the rejected requests that named it.

Every query seeks one SID through an index (``messages`` primary key, the events' and media's
``message_sid`` indexes, m009's partial index of rejected requests), so it may run on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import rejections
from .base import Connection, ReadsBase


@dataclass(frozen=True)
class MessageRecord:
    """A stored message as the views show it (times are the stored UTC ISO strings)."""

    sid: str
    direction: str  # "inbound" or "outbound"
    channel: str  # receiver/channels.py
    from_addr: str | None
    to_addr: str | None
    body: str | None
    status: str
    error_code: int | None
    messaging_service_sid: str | None
    account_sid: str | None
    num_segments: int | None
    num_media: int | None
    price: str | None
    price_unit: str | None
    profile_name: str | None
    channel_status_message: str | None
    raw_dlr_done_date: str | None
    first_seen: str
    updated_at: str
    event_count: int
    source: str  # "callback", "inbound" (a webhook created it) or "api" (sent or found through the REST API)
    simulated: bool


@dataclass(frozen=True)
class EventRecord:
    """One applied callback (or a status learned from the API), in arrival order."""

    received_at: str
    status: str
    error_code: int | None
    channel_status_message: str | None
    raw_dlr_done_date: str | None
    event_type: str | None
    source: str | None  # receiver.reconcile.API_SOURCE: learned from the API, no callback
    payload: str  # the callback's parameters as stored (JSON text), shown raw to the operator


@dataclass(frozen=True)
class MediaRecord:
    idx: int
    url: str
    content_type: str | None


_MESSAGE_COLUMNS = ", ".join(MessageRecord.__dataclass_fields__)
_EVENT_COLUMNS = ", ".join(EventRecord.__dataclass_fields__)


class DetailReads(ReadsBase):
    def message(self, sid: str) -> MessageRecord | None:
        """The stored message ``sid``; None when no message has that SID."""
        row = self.conn.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE sid = ?", (sid,)).fetchone()
        if row is None:
            return None
        values = dict(zip(MessageRecord.__dataclass_fields__, tuple(row), strict=True))
        values["simulated"] = bool(values["simulated"])
        values["event_count"] = int(values["event_count"] or 0)
        return MessageRecord(**values)

    def events_of(self, sid: str) -> list[EventRecord]:
        """Every stored event of ``sid``, in arrival order."""
        rows = self.conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE message_sid = ? ORDER BY id", (sid,)
        ).fetchall()
        return [EventRecord(*tuple(r)) for r in rows]

    def media_of(self, sid: str) -> list[MediaRecord]:
        rows = self.conn.execute(
            "SELECT idx, url, content_type FROM media WHERE message_sid = ? ORDER BY idx", (sid,)
        ).fetchall()
        return [MediaRecord(int(r[0]), str(r[1]), r[2]) for r in rows]

    def rejections_of(self, sid: str, limit: int = 50) -> list[rejections.Rejection]:
        """The latest ``limit`` rejected requests that named ``sid`` (unverified claims), oldest first."""
        rows = self.conn.execute(
            f"SELECT id, received_at, http_status, reason, body FROM requests WHERE {REJECTED_BY_SID} "
            "ORDER BY id DESC LIMIT ?",
            (sid, limit),
        ).fetchall()
        return [
            rejections.Rejection(
                int(r[0]), str(r[1]), int(r[2] or 0), str(r[3] or ""), rejections.claimed_status(r[4] or "")
            )
            for r in reversed(rows)
        ]

    def rejection_count(self, sid: str) -> int:
        """How many rejected requests named ``sid``."""
        return count_rejected(self.conn, sid)


# the partial index of m009 (``outcome = 'rejected' AND message_sid IS NOT NULL``) serves these
REJECTED_BY_SID = "message_sid = ? AND outcome = 'rejected' AND message_sid IS NOT NULL"


def count_rejected(conn: Connection, sid: str) -> int:
    """How many rejected requests named ``sid`` (the detail's and the request log's question)."""
    return int(conn.execute(f"SELECT COUNT(*) FROM requests WHERE {REJECTED_BY_SID}", (sid,)).fetchone()[0])
