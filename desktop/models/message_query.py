"""The messages table's columns as the operator sees them (headers, tooltips), and the filter it shows.

The filter and sort are plain values from the core (``receiver.message_filter``); the store turns them into
its own queries (``receiver.store.message_sql`` for SQLite), so this module holds no SQL.
"""

from __future__ import annotations

from receiver.message_filter import (
    FAILED_STATUSES,
    SORT_COLUMNS,
    MessageFilter,
    SortSpec,
    normalise_search,
)

# Kept for the CSV export until it reads through the store's ExportReads (export engineer, #12).
from receiver.store.message_sql import count, select_sql

__all__ = [
    "COLUMNS",
    "COLUMN_IDS",
    "FAILED_STATUSES",
    "MessageFilter",
    "SortSpec",
    "count",
    "normalise_search",
    "select_sql",
]

# column id, header, tooltip. Status and error come right after the time: they are what the operator scans
# for, and must be on screen in a 1024-pixel-wide window. Profile/body/media sit after "From": they are
# shown only in the Inbound view, where who wrote what matters more than delivery.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("time", "Time", "When the first webhook for this message arrived (local time)"),
    ("status", "Status", "Current status (the highest-ranked status seen)"),
    ("error", "Error", "Twilio error code of the current status"),
    ("direction", "Direction", "outbound (sent by you) or inbound (received)"),
    ("channel", "Channel", "sms, mms, whatsapp …"),
    ("from", "From", "Sender"),
    ("profile", "Profile name", "WhatsApp profile name of the sender"),
    ("body", "Body", "Message text (inbound, or as sent through the app)"),
    ("media", "Media", "Number of media attachments"),
    ("to", "To", "Recipient"),
    ("segments", "Segments", "Number of SMS segments"),
    ("price", "Price", "Price reported by Twilio (negative = cost)"),
    ("service", "Messaging service", "Messaging Service SID"),
    ("sid", "SID", "Message SID"),
)
COLUMN_IDS = tuple(c[0] for c in COLUMNS)
if COLUMN_IDS != SORT_COLUMNS:  # pragma: no cover - caught at import by every GUI test
    raise ImportError("the table's columns and the store's sort columns disagree")
