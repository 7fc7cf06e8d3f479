"""Rejected requests that name a message: "why didn't my delivered arrive?" answered from the message.

The receiver keeps the MessageSid of a rejected callback (unverified: a forged request can name any SID,
so these rows are shown as claims, never applied to the message). Queries use the partial index of
migration m009 (``outcome = 'rejected' AND message_sid IS NOT NULL``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from urllib.parse import parse_qs

WHERE_SID = "message_sid = ? AND outcome = 'rejected' AND message_sid IS NOT NULL"


@dataclass(frozen=True)
class Rejection:
    request_id: int
    received_at: str
    http_status: int
    reason: str
    status: str  # the MessageStatus the request claimed ("" when it had none)


def for_sid(conn: sqlite3.Connection, sid: str, limit: int = 50) -> list[Rejection]:
    """The latest ``limit`` rejected requests naming ``sid``, oldest first."""
    rows = conn.execute(
        f"SELECT id, received_at, http_status, reason, body FROM requests WHERE {WHERE_SID} "
        "ORDER BY id DESC LIMIT ?",
        (sid, limit),
    ).fetchall()
    return [
        Rejection(int(r[0]), str(r[1]), int(r[2] or 0), str(r[3] or ""), _claimed_status(r[4] or ""))
        for r in reversed(rows)
    ]


def count_for_sid(conn: sqlite3.Connection, sid: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM requests WHERE {WHERE_SID}", (sid,)).fetchone()[0])


def _claimed_status(body: str) -> str:
    """What the request said happened (a form body; JSON or garbage bodies claim nothing)."""
    fields = parse_qs(body, keep_blank_values=True)
    values = fields.get("MessageStatus") or fields.get("SmsStatus")
    return values[0] if values else ""
