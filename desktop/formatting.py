"""How the GUI writes times and amounts: one place, so every table and panel agrees."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from desktop import badges
from receiver.errors import short_title
from receiver.optout import opt_out_keyword


def local_time(iso: str | None) -> str:
    """``2026-03-02T09:00:01.123+00:00`` -> local ``2026-03-02 10:00:01.123`` (milliseconds: callbacks
    for one message often arrive within the same second, and their order matters)."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    except ValueError:
        return iso


def table_time(iso: str | None) -> str:
    """Compact local time for a table: ``10:00:01.123`` today, with the date on other days."""
    full = local_time(iso)
    today = datetime.now().astimezone().strftime("%Y-%m-%d ")
    return full[len(today) :] if full.startswith(today) else full


def format_price(price: str | None, unit: str | None) -> str:
    if price in (None, ""):
        return ""
    return f"{price} {unit or ''}".strip()


def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """``1 message``, ``1,234 messages`` (``plural`` for nouns that do not just take an s)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


# ---------------------------------------------------------------- the messages table's cells
_MESSAGE_FIELDS = {
    "from": "from_addr",
    "to": "to_addr",
    "service": "messaging_service_sid",
    "profile": "profile_name",
}


def opt_out(message: Mapping[str, Any]) -> str | None:
    """The opt-out keyword an inbound message's body is (STOP, …), else None."""
    return opt_out_keyword(message["body"]) if message["direction"] == "inbound" else None


def message_cell(column: str, m: Mapping[str, Any]) -> str:
    """What the messages table shows in ``column`` for the message ``m`` (a row from the store)."""
    if column == "time":
        return table_time(m["first_seen"])
    if column == "status":
        return badges.badge_for(m["status"]).text
    if column == "error":
        return short_title(m["error_code"]) if m["error_code"] is not None else ""
    if column == "segments":
        return "" if m["num_segments"] is None else str(m["num_segments"])
    if column == "price":
        return format_price(m["price"], m["price_unit"])
    if column == "media":
        return str(m["num_media"] or 0) if m["direction"] == "inbound" or m["num_media"] else ""
    if column == "body":
        return (m["body"] or "").replace("\n", " ⏎ ")[:200]
    value = m[_MESSAGE_FIELDS.get(column, column)]
    return "" if value is None else str(value)


def message_tooltip(column: str, m: Mapping[str, Any]) -> str | None:
    if column == "status":
        return badges.badge_for(m["status"]).tooltip
    if column == "time":
        return f"first seen {m['first_seen']} (UTC), updated {m['updated_at']}, {m['event_count']} events"
    if column == "error" and m["error_code"] is not None:
        return f"{short_title(m['error_code'])} — select the message and press “Explain error”"
    if column == "body" and m["body"]:
        keyword = opt_out(m)
        if keyword:
            return f"Opt-out ({keyword}): Twilio refuses further messages to this sender (error 21610)"
        return str(m["body"])
    return None
