"""Statistics that explain failures: breakdowns, delivery time, spend, all as SQL aggregates (no Qt).

Every function takes a connection and a time window ``[since, until)`` of ``messages.first_seen`` (UTC ISO
strings, either end open) and returns a few rows: nothing here pulls a row per message into Python except
the delivery-time sample, which is one float per delivered message of the window.

Destination country: a million distinct numbers cannot each be parsed on every refresh, so SQL groups the
outbound messages by the first five characters of the E.164 destination (``+`` and four digits, any
``whatsapp:`` style channel prefix removed). Those five characters always contain the whole country
calling code, and for the North American Numbering Plan (+1) the area code, which is what decides the
country there (US, CA, JM, …), and for +7 the digit that tells Kazakhstan from Russia. Each prefix is
then named once with ``phonenumbers`` (Google's libphonenumber metadata) from one number of the group, and
cached. Territories that share a calling code with a bigger country and are told apart only deeper
(Guernsey, Jersey and the Isle of Man within +44, Åland within +358, Vatican City within +39, …) are
counted with that calling code's main country (GB, FI, IT): five characters cannot tell them apart, and
naming a whole prefix after whichever number came first would be worse. The drill-down filters on the same
prefixes, so a country row opens exactly the messages it counted.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

import phonenumbers

DELIVERED = ("delivered", "read")
FAILED = ("failed", "undelivered")
FINISHED = ("delivered", "read", "partially_delivered", "undelivered", "failed", "canceled")

# the destination number without a channel prefix ("whatsapp:+1415…" -> "+1415…"), first five characters
DEST_PREFIX_SQL = "IFNULL(substr(to_addr, instr(to_addr, ':') + 1, 5), '')"
PREFIX_LENGTH = 5
# Prices are decimal strings with at most 5 places ("-0.00790"); summed as integer micro-units in SQL, so
# a million additions lose nothing to binary floating point.
PRICE_SCALE = 1_000_000
UNKNOWN_COUNTRY = "??"
# delivered messages timed per window at most (see delivery_seconds): the p90 of 5,000 is within about half
# a percentile rank of the exact one (standard error sqrt(0.9 * 0.1 / 5000) = 0.42 points)
DELIVERY_SAMPLE = 5_000
# calling codes shared by several countries that the prefix tells apart: +1 by area code, +7 by one digit
DECIDED_BY_PREFIX = frozenset({1, 7})


def window_sql(since: str | None, until: str | None, *, hint: bool = True) -> tuple[str, list[Any]]:
    """``(condition, args)`` on first_seen for ``[since, until)``; ``"1"`` when both ends are open.

    ``hint``: the callers group by other columns, and without the unary ``+`` on those SQLite may pick an
    index matching the GROUP BY and scan everything; windowed queries should use the first_seen index."""
    parts, args = [], []
    if since is not None:
        parts.append("first_seen >= ?")
        args.append(since)
    if until is not None:
        parts.append("first_seen < ?")
        args.append(until)
    return (" AND ".join(parts) or "1"), args


@dataclass(frozen=True)
class BreakdownRow:
    """Outbound messages of one sender / service / country in the window."""

    key: str  # what the drill-down filters on ("" = none recorded); for countries the region code
    label: str
    outbound: int = 0
    delivered: int = 0
    failed: int = 0
    finished: int = 0
    prefixes: tuple[str, ...] = ()  # countries only: the destination prefixes counted in this row

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.finished if self.finished else None


@dataclass
class Breakdowns:
    senders: list[BreakdownRow] = field(default_factory=list)
    services: list[BreakdownRow] = field(default_factory=list)
    countries: list[BreakdownRow] = field(default_factory=list)


def _add(acc: dict[str, list[int]], key: str, status: str, n: int) -> None:
    row = acc.setdefault(key, [0, 0, 0, 0])  # outbound, delivered, failed, finished
    row[0] += n
    if status in DELIVERED:
        row[1] += n
    elif status in FAILED:
        row[2] += n
    if status in FINISHED:
        row[3] += n


def _rows(acc: dict[str, list[int]], labels: dict[str, str]) -> list[BreakdownRow]:
    rows = [BreakdownRow(key, labels.get(key, key), o, d, f, fin) for key, (o, d, f, fin) in acc.items()]
    rows.sort(key=lambda r: (-r.outbound, r.label))
    return rows


def breakdowns(conn: sqlite3.Connection, since: str | None, until: str | None) -> Breakdowns:
    """Outbound messages by sender, by Messaging Service and by destination country, in one pass."""
    where, args = window_sql(since, until)
    plus = "+" if args else ""
    senders: dict[str, list[int]] = {}
    services: dict[str, list[int]] = {}
    by_prefix: dict[str, list[int]] = {}
    examples: dict[str, str] = {}
    for sender, service, prefix, status, example, n in conn.execute(
        f"SELECT IFNULL(from_addr, ''), IFNULL(messaging_service_sid, ''), {DEST_PREFIX_SQL} AS prefix, "
        f"status, MIN(to_addr), COUNT(*) FROM messages WHERE {plus}direction = 'outbound' AND {where} "
        f"GROUP BY {plus}from_addr, {plus}messaging_service_sid, prefix, {plus}status",
        args,
    ):
        _add(senders, sender, status, n)
        _add(services, service, status, n)
        _add(by_prefix, prefix, status, n)
        examples.setdefault(prefix, example or "")
    countries: dict[str, list[int]] = {}
    prefixes: dict[str, list[str]] = {}
    for prefix, values in by_prefix.items():
        region = country_of_prefix(prefix, examples[prefix])
        prefixes.setdefault(region, []).append(prefix)
        acc = countries.setdefault(region, [0, 0, 0, 0])
        for i, v in enumerate(values):
            acc[i] += v
    return Breakdowns(
        senders=_rows(senders, {"": "(no sender recorded)"}),
        services=_rows(services, {"": "(no Messaging Service)"}),
        countries=[
            BreakdownRow(
                r.key, country_label(r.key), r.outbound, r.delivered, r.failed, r.finished,
                tuple(sorted(prefixes[r.key])),
            )
            for r in _rows(countries, {})
        ],
    )  # fmt: skip


_PREFIX_REGIONS: dict[str, str] = {}
_PREFIX_CACHE_LIMIT = 50_000  # "+" and four digits make 10,000; the rest is garbage in to_addr


def country_of_prefix(prefix: str, example: str) -> str:
    """ISO region code ("US") for a destination prefix, named from ``example`` (a number starting with
    it); ``UNKNOWN_COUNTRY`` when it is not a phone number (empty, a short code, garbage). Cached per
    prefix: the first example decides, so a prefix lands in the same country on every refresh."""
    region = _PREFIX_REGIONS.get(prefix)
    if region is None:
        if len(_PREFIX_REGIONS) >= _PREFIX_CACHE_LIMIT:
            _PREFIX_REGIONS.clear()
        region = _PREFIX_REGIONS[prefix] = _region_of(example)
    return region


def _region_of(example: str) -> str:
    number = example.split(":", 1)[-1] if ":" in example else example
    if not number.startswith("+"):
        return UNKNOWN_COUNTRY
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return UNKNOWN_COUNTRY
    code = parsed.country_code or 0
    main = phonenumbers.region_code_for_country_code(code)
    region = phonenumbers.region_code_for_number(parsed) if code in DECIDED_BY_PREFIX else None
    # a shared calling code told apart deeper than the prefix, or not a valid number (a test number, say):
    # the calling code's main country
    region = region or main
    return region if region and region != "ZZ" else UNKNOWN_COUNTRY


@lru_cache(maxsize=512)
def country_label(region: str) -> str:
    """ "United States (US)"; "Unknown" for numbers that could not be placed."""
    if region == UNKNOWN_COUNTRY:
        return "Unknown (not a phone number)"
    # imported here, on the statistics' worker thread: its data takes ~0.4 s to load, too long for app start
    from phonenumbers import geocoder

    example = phonenumbers.example_number(region)
    name = geocoder.country_name_for_number(example, "en") if example is not None else ""
    return f"{name} ({region})" if name else region


@dataclass(frozen=True)
class Period:
    """The headline figures of one window (the current one, or the one before it for comparison)."""

    since: str | None
    until: str | None
    outbound: int = 0
    delivered: int = 0
    failed: int = 0
    finished: int = 0
    spend: dict[str, Decimal] = field(default_factory=dict)  # currency -> absolute amount
    delivery_median_s: float | None = None
    delivery_p90_s: float | None = None
    timed: int = 0  # delivered messages with both a "sent" and a "delivered" callback (or of the sample)
    sampled: bool = False  # more than DELIVERY_SAMPLE delivered: the times are from a sample

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.finished if self.finished else None

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None


# Spend columns, for any GROUP BY over messages that adds ``UNIT_SQL`` to its keys: the cost as a positive
# number of micro-units (Twilio reports costs as negative prices, "-0.00790" USD); NULL when not priced yet.
UNIT_SQL = "UPPER(IFNULL(price_unit, ''))"
MICROS_SQL = (
    "SUM(CASE WHEN price IS NOT NULL AND price != '' "
    f"THEN CAST(ROUND(ABS(CAST(price AS REAL)) * {PRICE_SCALE}) AS INTEGER) END)"
)


def add_spend(acc: dict[str, int], unit: str | None, micros: int | None) -> None:
    """Add one group's ``MICROS_SQL`` to ``acc`` (currency -> micro-units); unpriced groups add nothing."""
    if micros is not None:
        key = str(unit or "") or "?"
        acc[key] = acc.get(key, 0) + int(micros)


def amounts(acc: dict[str, int]) -> dict[str, Decimal]:
    return {unit: Decimal(micros) / PRICE_SCALE for unit, micros in sorted(acc.items())}


def counts_and_spend(
    conn: sqlite3.Connection, since: str | None, until: str | None
) -> tuple[dict[str, int], dict[str, Decimal]]:
    """Outbound messages per status, and what all messages of the window cost per currency: one pass."""
    where, args = window_sql(since, until)
    plus = "+" if args else ""
    counts: dict[str, int] = {}
    micros: dict[str, int] = {}
    for direction, status, unit, n, cost in conn.execute(
        f"SELECT direction, status, {UNIT_SQL}, COUNT(*), {MICROS_SQL} FROM messages WHERE {where} "
        f"GROUP BY {plus}direction, {plus}status, 3",
        args,
    ):
        if direction != "inbound":  # the store normalises outbound-api / outbound-reply to outbound
            counts[str(status)] = counts.get(str(status), 0) + int(n)
        add_spend(micros, unit, cost)
    return counts, amounts(micros)


def spend(conn: sqlite3.Connection, since: str | None, until: str | None) -> dict[str, Decimal]:
    """What the window's messages cost, per currency, as positive amounts. Messages without a price yet
    are left out."""
    return counts_and_spend(conn, since, until)[1]


def delivery_seconds(
    conn: sqlite3.Connection, since: str | None, until: str | None, *, delivered: int | None = None
) -> list[float]:
    """Seconds from the first "sent" callback to the first "delivered" one, per delivered (or read)
    outbound message of the window, sorted. Messages missing either callback are left out.

    ``delivered`` (how many delivered/read messages the window has, when known): above
    ``DELIVERY_SAMPLE`` only every k-th message by rowid is timed (two index seeks each, so a million
    would take seconds); rowids follow arrival, not delivery time, so the sample is a fair one."""
    where, args = window_sql(since, until)
    plus = "+" if args else ""
    step = max(1, math.ceil(delivered / DELIVERY_SAMPLE)) if delivered else 1
    if step > 1:
        where += f" AND m.rowid % {step} = 0"
    first = "(SELECT MIN(received_at) FROM events e WHERE e.message_sid = m.sid AND e.status = '{}')"
    sql = (
        # julianday's doubles blur the milliseconds (5 s comes out 5.000013 s): round to the timestamps' ms
        "SELECT ROUND((julianday(d) - julianday(s)) * 86400000.0) / 1000.0 AS secs FROM ("
        f" SELECT {first.format('sent')} AS s, {first.format('delivered')} AS d"
        f" FROM messages m WHERE {plus}m.direction = 'outbound' AND {plus}m.status IN ('delivered', 'read')"
        f" AND {where}) WHERE s IS NOT NULL AND d IS NOT NULL ORDER BY secs"
    )
    return [max(0.0, float(v)) for (v,) in conn.execute(sql, args)]


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank quantile (the smallest value with at least ``q`` of the values at or below it): the
    p90 is a delivery time that 90 % of the messages actually had, not an interpolation."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def median(sorted_values: list[float]) -> float | None:
    n = len(sorted_values)
    if not n:
        return None
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2


def period(
    conn: sqlite3.Connection,
    since: str | None,
    until: str | None,
    known: tuple[dict[str, int], dict[str, Decimal]] | None = None,
) -> Period:
    """Headline figures of ``[since, until)``; ``known``: (outbound status -> n, spend) when the caller's
    own pass over the window already has them."""
    counts, cost = counts_and_spend(conn, since, until) if known is None else known
    delivered = sum(counts.get(s, 0) for s in DELIVERED)
    times = delivery_seconds(conn, since, until, delivered=delivered)
    return Period(
        since=since,
        until=until,
        outbound=sum(counts.values()),
        delivered=sum(counts.get(s, 0) for s in DELIVERED),
        failed=sum(counts.get(s, 0) for s in FAILED),
        finished=sum(counts.get(s, 0) for s in FINISHED),
        spend=cost,
        delivery_median_s=median(times),
        delivery_p90_s=quantile(times, 0.9),
        timed=len(times),
        sampled=delivered > DELIVERY_SAMPLE,
    )
