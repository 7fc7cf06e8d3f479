"""Rejected requests that name a message: "why didn't my delivered arrive?" answered from the message.

The receiver keeps the MessageSid of a rejected callback (unverified: a forged request can name any SID,
so these rows are shown as claims, never applied to the message). The queries are the Reader's
(``rejections_of``, ``rejection_count``: store/detail_reads.py, on the partial index of migration m009).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Rejection:
    request_id: int
    received_at: str
    http_status: int
    reason: str
    status: str  # the MessageStatus the request claimed ("" when it had none)


def claimed_status(body: str) -> str:
    """What the request said happened (a form body; JSON or garbage bodies claim nothing)."""
    fields = parse_qs(body, keep_blank_values=True)
    values = fields.get("MessageStatus") or fields.get("SmsStatus")
    return values[0] if values else ""
