"""How the GUI writes times and amounts: one place, so every table and panel agrees."""

from __future__ import annotations

from datetime import datetime


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
