"""Live updates on a team database: one ``NOTIFY`` per committed batch, heard by every attached desktop.

The writer (``PgStore``'s group commit) sends ``NOTIFY callback_monitor, '<payload>'`` inside each batch's
transaction, so PostgreSQL delivers it only if, and right after, the batch commits; a listener
(``LISTEN callback_monitor``) refreshes what it shows. One notification per batch, never per row: a
campaign's 300 callbacks a second arrive as a handful of notifications.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

CHANNEL = "callback_monitor"


@dataclass(frozen=True)
class Change:
    """What one committed batch wrote: the writer that wrote it and the newest ids it added (None: none)."""

    writer: str
    requests: int | None = None  # the highest requests.id the batch inserted
    events: int | None = None  # the highest events.id the batch inserted


def encode(change: Change) -> str:
    """The NOTIFY payload (well under PostgreSQL's 8000-byte limit)."""
    return json.dumps({"writer": change.writer, "requests": change.requests, "events": change.events})


def decode(payload: str) -> Change | None:
    """The change a payload describes; None for one this version does not understand (ignored)."""
    try:
        data = json.loads(payload)
        return Change(
            str(data["writer"]),
            None if data.get("requests") is None else int(data["requests"]),
            None if data.get("events") is None else int(data["events"]),
        )
    except (ValueError, TypeError, KeyError):
        return None
