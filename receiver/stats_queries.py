"""The statistics panel's domain, without SQL: time ranges, the figures' dataclasses, status groups,
destination countries, quantiles. The queries are ``receiver.store.stats_reads`` (live) and
``receiver.store.stats_rollup`` (the per-hour rollup); both fill the dataclasses below.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import phonenumbers

from .statuses import DELIVERED as DELIVERED
from .statuses import FAILED as FAILED
from .statuses import OUTBOUND_FINAL

# the status groups (statuses.py): finished = every final status of an outbound message
FINISHED = OUTBOUND_FINAL

# the destination number without a channel prefix ("whatsapp:+1415…" -> "+1415…"), first five characters
# {instr}: the dialect's "position of a substring" function (receiver/store/dialect.py)
DEST_PREFIX_SQL = "COALESCE(substr(to_addr, {instr}(to_addr, ':') + 1, 5), '')"
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


def counters(status: str, n: int) -> tuple[int, int, int, int]:
    """(outbound, delivered, failed, finished) for ``n`` outbound messages in ``status``."""
    return (
        n,
        n if status in DELIVERED else 0,
        n if status in FAILED else 0,
        n if status in FINISHED else 0,
    )


def add_counters(acc: dict[str, list[int]], key: str, values: tuple[int, ...] | list[int]) -> None:
    row = acc.setdefault(key, [0, 0, 0, 0])
    for i, v in enumerate(values):
        row[i] += v


def _rows(acc: dict[str, list[int]], labels: dict[str, str]) -> list[BreakdownRow]:
    rows = [BreakdownRow(key, labels.get(key, key), o, d, f, fin) for key, (o, d, f, fin) in acc.items()]
    rows.sort(key=lambda r: (-r.outbound, r.label))
    return rows


def make_breakdowns(
    senders: dict[str, list[int]],
    services: dict[str, list[int]],
    by_prefix: dict[str, list[int]],
    examples: dict[str, str],
) -> Breakdowns:
    """The three tables from counters per sender, service and destination prefix (``counters``);
    ``examples``: one destination number per prefix, to name its country."""
    countries: dict[str, list[int]] = {}
    prefixes: dict[str, list[str]] = {}
    for prefix, values in by_prefix.items():
        region = country_of_prefix(prefix, examples.get(prefix, ""))
        prefixes.setdefault(region, []).append(prefix)
        add_counters(countries, region, values)
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
# {real}: the dialect's double-precision type.
UNIT_SQL = "UPPER(COALESCE(price_unit, ''))"
MICROS_SQL = (
    "SUM(CASE WHEN price IS NOT NULL AND price != '' "
    f"THEN CAST(ROUND(ABS(CAST(price AS {{real}})) * {PRICE_SCALE}) AS INTEGER) END)"
)


def add_spend(acc: dict[str, int], unit: str | None, micros: int | None) -> None:
    """Add one group's ``MICROS_SQL`` to ``acc`` (currency -> micro-units); unpriced groups add nothing."""
    if micros is not None:
        key = str(unit or "") or "?"
        acc[key] = acc.get(key, 0) + int(micros)


def amounts(acc: dict[str, int]) -> dict[str, Decimal]:
    return {unit: Decimal(micros) / PRICE_SCALE for unit, micros in sorted(acc.items())}


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


def period_of(
    since: str | None,
    until: str | None,
    counts: dict[str, int],
    spend: dict[str, Decimal],
    times: list[float],
) -> Period:
    """A window's headline figures from its outbound status counts, spend and delivery times (sorted)."""
    delivered = sum(counts.get(s, 0) for s in DELIVERED)
    return Period(
        since=since,
        until=until,
        outbound=sum(counts.values()),
        delivered=delivered,
        failed=sum(counts.get(s, 0) for s in FAILED),
        finished=sum(counts.get(s, 0) for s in FINISHED),
        spend=spend,
        delivery_median_s=median(times),
        delivery_p90_s=quantile(times, 0.9),
        timed=len(times),
        sampled=delivered > DELIVERY_SAMPLE,
    )


def sample_step(delivered: int) -> int:
    """Every k-th delivered message by rowid is timed once a window has more than DELIVERY_SAMPLE."""
    return max(1, math.ceil(delivered / DELIVERY_SAMPLE)) if delivered else 1


# ---------------------------------------------------------------------------------------- the panel
# key -> (label, length of the window or None for everything)
RANGES: dict[str, tuple[str, timedelta | None]] = {
    "hour": ("Last hour", timedelta(hours=1)),
    "day": ("Last 24 hours", timedelta(hours=24)),
    "week": ("Last 7 days", timedelta(days=7)),
    "all": ("All time", None),
}
CUSTOM = "custom"  # a fixed [since, until) chosen in the time-range dialog
# bucket unit -> (characters of the ISO timestamp that name the bucket, step)
UNITS: dict[str, tuple[int, timedelta]] = {
    "minute": (16, timedelta(minutes=1)),
    "hour": (13, timedelta(hours=1)),
    "day": (10, timedelta(days=1)),
}

# Outbound statuses grouped the way an operator reads them; anything else lands in "Other".
STATUS_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # (label, badge status for the icon, statuses)
    ("Delivered", "delivered", ("delivered",)),
    ("Read (WhatsApp/RCS)", "read", ("read",)),
    ("Sent, no receipt yet", "sent", ("sent",)),
    ("Queued / sending", "queued", ("scheduled", "accepted", "queued", "sending")),
    ("Partially delivered", "partially_delivered", ("partially_delivered",)),
    ("Undelivered", "undelivered", ("undelivered",)),
    ("Failed", "failed", ("failed",)),
    ("Canceled", "canceled", ("canceled",)),
)
TOP_ERRORS = 10


@dataclass(frozen=True)
class Bucket:
    """One bar of the chart: messages first seen in [start, start + unit)."""

    start: datetime  # UTC
    delivered: int = 0
    failed: int = 0
    other: int = 0  # outbound, not finished yet (or canceled / partial)
    inbound: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.other + self.inbound


@dataclass
class DeliveryStats:
    range_key: str
    since: datetime | None
    until: datetime | None = None  # custom ranges only; the others end now
    outbound: int = 0
    inbound: int = 0
    by_status: dict[str, int] = field(default_factory=dict)  # raw outbound status -> count
    delivered: int = 0
    failed: int = 0
    finished: int = 0
    channels: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    # (channel, outbound, delivered+read, failed+undelivered, inbound)
    top_errors: list[tuple[int, int, str]] = field(default_factory=list)  # (code, messages, title)
    unit: str = "hour"
    buckets: list[Bucket] = field(default_factory=list)
    elapsed_ms: float = 0.0
    breakdowns: Breakdowns = field(default_factory=Breakdowns)
    current: Period | None = None  # spend, delivery time, and the rates again for the comparison
    previous: Period | None = None  # the window of the same length just before (None for "All time")

    @property
    def delivery_rate(self) -> float | None:
        """(delivered + read) / finished outbound; None when nothing has finished."""
        return self.delivered / self.finished if self.finished else None

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None

    def status_groups(self) -> list[tuple[str, str, int]]:
        """(label, icon status, count) per group, then "Other" for statuses we do not group."""
        out = []
        grouped: set[str] = set()
        for label, icon_status, members in STATUS_GROUPS:
            out.append((label, icon_status, sum(self.by_status.get(s, 0) for s in members)))
            grouped.update(members)
        other = sum(n for s, n in self.by_status.items() if s not in grouped)
        out.append(("Other / unknown status", "", other))
        return out


def iso(when: datetime) -> str:
    """A moment as the store writes ``first_seen`` (UTC, milliseconds)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def unit_for(range_key: str, first: datetime | None, last: datetime | None) -> str:
    """The chart's bar width for a range (``first``/``last``: its ends, or the data's for "All time")."""
    if range_key == "hour":
        return "minute"
    if range_key in ("day", "week"):
        return "hour"
    if range_key == CUSTOM and first is not None and last is not None and last - first <= timedelta(hours=2):
        return "minute"
    if first is None or last is None or last - first <= timedelta(days=2):
        return "hour"
    return "day"


def floor_to(when: datetime, unit: str) -> datetime:
    when = when.astimezone(UTC)
    if unit == "minute":
        return when.replace(second=0, microsecond=0)
    if unit == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


_KEY_FORMAT = {"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}


def axis(
    stats: DeliveryStats,
    bars: dict[str, list[int]],
    now: datetime,
    first: datetime | None,
    last: datetime | None,
) -> list[Bucket]:
    """One bucket per unit over the whole range, empty ones included, so the time axis is even.
    ``bars``: bucket key (the first characters of first_seen) -> [delivered, failed, other, inbound]."""
    unit = stats.unit
    step = UNITS[unit][1]
    if stats.since is not None and stats.until is not None:  # custom: the last bar holds until - 1 ms
        start, end = floor_to(stats.since, unit), floor_to(stats.until - timedelta(milliseconds=1), unit)
    elif stats.since is not None:
        start, end = floor_to(stats.since, unit), floor_to(now, unit)
        if unit == "minute":
            start += step  # exactly 60 bars for the last hour, the current minute last
    elif first is not None and last is not None:
        start, end = floor_to(first, unit), floor_to(last, unit)
    else:
        return []
    out: list[Bucket] = []
    slot = start
    while slot <= end:
        out.append(Bucket(slot, *bars.pop(slot.strftime(_KEY_FORMAT[unit]), (0, 0, 0, 0))))
        slot += step
    for key, values in bars.items():  # clock skew: rows outside the axis still count somewhere
        out.append(Bucket(datetime.strptime(key, _KEY_FORMAT[unit]).replace(tzinfo=UTC), *values))
    out.sort(key=lambda b: b.start)
    return out
