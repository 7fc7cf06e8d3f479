"""How the GUI writes times and amounts: one place, so every table and panel agrees."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from desktop import badges
from receiver.errors import short_title
from receiver.optout import opt_out_keyword
from receiver.stats_queries import Period


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


# ---------------------------------------------------------------- statistics and time ranges
def to_iso(moment: datetime) -> str:
    """UTC ISO with milliseconds, like ``first_seen`` (``2026-11-21T05:33:16.123+00:00``)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def from_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _day(moment: datetime, now: datetime) -> str:
    year = "" if moment.year == now.year else f" {moment.year}"
    return f"{moment.day} {moment.strftime('%b')}{year}"


def range_label(since: str | None, until: str | None, now: datetime | None = None) -> str:
    """A range as the operator reads it, in local time: "21 Nov 10:00 – 12:00", "21 Nov 23:00 – 22 Nov
    01:00", "From 2 Mar 2025 09:00"; the year only when it is not this year's."""
    local_now = (now or datetime.now(UTC)).astimezone()
    start = from_iso(since) if since else None
    end = from_iso(until) if until else None
    a = start.astimezone() if start is not None else None
    b = end.astimezone() if end is not None else None
    if a is not None and b is not None:
        tail = f"{b:%H:%M}" if a.date() == b.date() else f"{_day(b, local_now)} {b:%H:%M}"
        return f"{_day(a, local_now)} {a:%H:%M} – {tail}"
    if a is not None:
        return f"From {_day(a, local_now)} {a:%H:%M}"
    if b is not None:
        return f"Until {_day(b, local_now)} {b:%H:%M}"
    return "Any time"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def duration(seconds: float | None) -> str:
    """ "4.2 s", "3 min 5 s", "2 h 10 min"; "—" when nothing was timed."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def timed(period: Period | None) -> str:
    """How many delivered messages the delivery time is measured on ("4 timed", "5,000 sampled")."""
    if period is None:
        return "0 timed"
    return f"{period.timed:,} {'sampled' if period.sampled else 'timed'}"


def money(amounts: dict[str, Decimal]) -> tuple[str, str]:
    """("12.35 USD", "+ 0.40 EUR"): the largest amount, then the other currencies (never added together);
    ("—", "") when nothing was priced yet."""
    if not amounts:
        return "—", ""
    shown = [
        f"{amount:,.2f} {unit}" for unit, amount in sorted(amounts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return shown[0], " · ".join(f"+ {s}" for s in shown[1:])


def versus(now: float | None, before: float | None, shown: str, shown_now: str = "") -> str:
    """ "▲ from 96.4 %": how a figure moved since the previous period (▲ up, ▼ down, = the same as far as
    the figures show: "4.1 s" twice is not a rise)."""
    if now is None or before is None:
        return "previous period: —" if before is None else f"previous period: {shown}"
    arrow = "=" if shown == shown_now else "▲" if now > before else "▼" if now < before else "="
    return f"{arrow} from {shown} before"
