"""The statistics panel's figures (receiver.stats_queries' dataclasses), from the rollup where it covers the
window and live GROUP BYs for the rest (stats_rollup.plan): exact either way, fast when the rollup is kept."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from .. import errors
from ..stats_queries import (
    CUSTOM,
    DELIVERED,
    FAILED,
    FINISHED,
    RANGES,
    TOP_ERRORS,
    UNITS,
    Breakdowns,
    DeliveryStats,
    Period,
    add_counters,
    add_spend,
    amounts,
    axis,
    iso,
    make_breakdowns,
    period_of,
    sample_step,
    unit_for,
)
from . import stats_rollup as rollup
from .base import ReadsBase

Span = tuple[int, int] | None  # the smallest and largest messages.rowid of a window


class StatsReads(ReadsBase):
    # False: every figure from live GROUP BYs (benchmarks and tests compare the two ways)
    use_rollup: bool = True

    _coverage: rollup.Coverage | None = None  # the rollup's, for the read transaction under way
    _rollup_tables: bool | None = None  # whether the database has them (looked up once per Reader)

    def _rollup_kept(self) -> bool:
        """SQLite's Store migrates every file it opens (m014); a team database may have been migrated by
        receivers older than m022: then every figure is live."""
        if self._rollup_tables is None:
            if self.dialect.name == "postgresql":
                row = self.conn.execute("SELECT to_regclass('stats_state') IS NOT NULL").fetchone()
                self._rollup_tables = bool(row and row[0])
            else:
                self._rollup_tables = True
        return self._rollup_tables

    def _plan(
        self, since: str | None, until: str | None, *, days: bool = True, hours: bool = True
    ) -> rollup.Plan:
        if self._coverage is None and self.use_rollup:
            self._coverage = (
                rollup.coverage(self.conn) if self._rollup_kept() else rollup.Coverage(None, frozenset())
            )
        return rollup.plan(
            self.conn, since, until, days=days, hours=hours and self.use_rollup, known=self._coverage
        )

    def delivery_stats(
        self,
        range_key: str,
        now: datetime | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> DeliveryStats:
        """Every figure of the statistics panel for one time range (``since``/``until`` for ``CUSTOM``),
        read in one snapshot."""
        with _snapshot(self):
            return self._delivery_stats(range_key, now, since, until)

    def _delivery_stats(
        self, range_key: str, now: datetime | None, since: datetime | None, until: datetime | None
    ) -> DeliveryStats:
        started = time.perf_counter()
        now = now or datetime.now(UTC)
        if range_key == CUSTOM:
            if since is None or until is None or since >= until:
                raise ValueError("a custom range needs since < until")
            window: timedelta | None = until - since
        else:
            window = RANGES[range_key][1]
            since = now - window if window is not None else None
            until = None
        stats = DeliveryStats(range_key=range_key, since=since, until=until)
        first = last = None
        if range_key == CUSTOM:
            first, last = since, until
        elif since is None:
            # two statements: SQLite answers a lone MIN or MAX from the index, both together by a scan
            lo = self.conn.execute("SELECT MIN(first_seen) FROM messages").fetchone()[0]
            hi = self.conn.execute("SELECT MAX(first_seen) FROM messages").fetchone()[0]
            if lo is None:
                stats.elapsed_ms = (time.perf_counter() - started) * 1000
                return stats
            first, last = datetime.fromisoformat(lo), datetime.fromisoformat(hi)
        lo, hi = (iso(since) if since else None), (iso(until) if until else None)
        stats.unit = unit_for(range_key, first, last)
        width = UNITS[stats.unit][0]
        # bars per hour come from hour rows only, bars per minute from no rollup at all
        bars_plan = self._plan(lo, hi, days=stats.unit == "day", hours=stats.unit != "minute")

        bars: dict[str, list[int]] = {}  # bucket -> [delivered, failed, other, inbound]
        channels: dict[str, list[int]] = {}  # channel -> [outbound, delivered, failed, inbound]
        micros: dict[str, int] = {}  # currency -> spend in micro-units
        span: list[int] = []
        for bucket, direction, status, channel, unit, count, cost, low, high in rollup.counts(
            self.conn, bars_plan, width, self.dialect
        ):
            add_spend(micros, unit, cost)
            if low is not None:  # None: a table without rowids (PostgreSQL)
                span += [low, high]
            bar = bars.setdefault(bucket, [0, 0, 0, 0])
            per_channel = channels.setdefault(str(channel), [0, 0, 0, 0])
            if direction == "inbound":
                stats.inbound += count
                bar[3] += count
                per_channel[3] += count
                continue
            # anything else is outbound (the store normalises the API's outbound-api / outbound-reply)
            stats.outbound += count
            stats.by_status[status] = stats.by_status.get(status, 0) + count
            per_channel[0] += count
            if status in DELIVERED:
                bar[0] += count
                per_channel[1] += count
            elif status in FAILED:
                bar[1] += count
                per_channel[2] += count
            else:
                bar[2] += count
        stats.delivered = sum(stats.by_status.get(s, 0) for s in DELIVERED)
        stats.failed = sum(stats.by_status.get(s, 0) for s in FAILED)
        stats.finished = sum(stats.by_status.get(s, 0) for s in FINISHED)
        stats.channels = sorted(
            ((ch, *values) for ch, values in channels.items()),  # type: ignore[misc]
            key=lambda row: (-(row[1] + row[4]), row[0]),
        )
        whole = self._plan(lo, hi)
        codes: dict[int, int] = {}
        for _, code, n in rollup.errors(self.conn, whole, d=self.dialect):
            codes[int(code)] = codes.get(int(code), 0) + int(n)
        ranked = sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ERRORS]
        stats.top_errors = [(code, n, _error_title(code)) for code, n in ranked]
        stats.buckets = axis(stats, bars, now, first, last)
        stats.breakdowns = self._breakdowns(whole)
        window_span = (min(span), max(span)) if span else None
        times = self._delivery_seconds(lo, hi, delivered=stats.delivered, span=window_span)
        stats.current = period_of(lo, hi, stats.by_status, amounts(micros), times)
        if since is not None and window is not None:
            stats.previous = self._period(iso(since - window), lo)
        stats.elapsed_ms = (time.perf_counter() - started) * 1000
        return stats

    def breakdowns(self, since: str | None, until: str | None) -> Breakdowns:
        """Outbound messages of ``[since, until)`` by sender, by Messaging Service and by destination
        country."""
        with _snapshot(self):
            return self._breakdowns(self._plan(since, until))

    def _breakdowns(self, p: rollup.Plan) -> Breakdowns:
        acc: dict[str, dict[str, list[int]]] = {dim: {} for dim in rollup.DIMS}
        examples: dict[str, str] = {}
        for _, dim, key, *values, example in rollup.breakdown(self.conn, p, d=self.dialect):
            add_counters(acc[dim], key, values)
            if dim == "prefix" and example is not None and (key not in examples or example < examples[key]):
                examples[key] = example
        return make_breakdowns(acc["sender"], acc["service"], acc["prefix"], examples)

    def period(self, since: str | None, until: str | None) -> Period:
        """Headline figures of ``[since, until)``: outbound counts, spend, sent -> delivered times."""
        with _snapshot(self):
            return self._period(since, until)

    def _period(self, since: str | None, until: str | None) -> Period:
        counts: dict[str, int] = {}
        micros: dict[str, int] = {}
        span: list[int] = []
        for _, direction, status, _, unit, n, cost, low, high in rollup.counts(
            self.conn, self._plan(since, until), d=self.dialect
        ):
            if direction != "inbound":
                counts[str(status)] = counts.get(str(status), 0) + int(n)
            add_spend(micros, unit, cost)
            if low is not None:
                span += [low, high]
        delivered = sum(counts.get(s, 0) for s in DELIVERED)
        window_span = (min(span), max(span)) if span else None
        times = self._delivery_seconds(since, until, delivered=delivered, span=window_span)
        return period_of(since, until, counts, amounts(micros), times)

    def spend(self, since: str | None, until: str | None) -> dict[str, Decimal]:
        """What the window's messages cost, per currency, as positive amounts (unpriced ones left out)."""
        return self.period(since, until).spend

    def _delivery_seconds(
        self, since: str | None, until: str | None, *, delivered: int, span: Span
    ) -> list[float]:
        """Messages missing either callback are left out. Above ``DELIVERY_SAMPLE`` delivered messages only
        those whose rowid is a multiple of k are timed (rowids follow arrival, not delivery time, so the
        sample is a fair one): the candidates are the multiples of k within the window's rowid ``span``,
        each looked up by rowid, so the cost follows the sample, not the window (one event seek each).
        PostgreSQL has no rowid: there the window's delivered outbound sids are read from a partial index
        alone (pg/schema.py m023) and one in k is kept by a hash of the sid (fair too: a SID says nothing
        of the delivery time); the cost is one index range plus the sample (``TABLESAMPLE`` read one page in
        k of the whole table, whatever the window: 0.5 s for a day of a million messages)."""
        where, args = rollup.live_where(since, until)
        step = sample_step(delivered)
        d = self.dialect
        outbound = f"{d.plain('m.direction')} = 'outbound' AND {d.plain('m.status')} IN ('delivered', 'read')"
        # one pass over each message's few events (the (message_sid, id) index) finds both callbacks
        times = (
            "SELECT MIN(CASE WHEN e.status = 'sent' THEN e.received_at END) AS s, "
            "MIN(CASE WHEN e.status = 'delivered' THEN e.received_at END) AS d FROM "
        )
        # "+": grouping by the bare rowid makes SQLite walk the whole table in rowid order (3.5 s, not 18 ms)
        key = d.plain("m.rowid") if d.has_rowid else "m.sid"
        events = f"JOIN events e ON e.message_sid = m.sid WHERE {outbound} AND {where} GROUP BY {key}"
        if step > 1 and d.has_rowid and span is not None:
            low = -(-span[0] // step) * step  # the first multiple of step in the span
            source = (
                "WITH RECURSIVE k(r) AS (SELECT ? UNION ALL SELECT r + ? FROM k WHERE r + ? <= ?) "
                f"{times} k JOIN messages m ON m.rowid = k.r {events}"
            )
            args = [low, step, step, span[1], *args]
        elif step > 1 and not d.has_rowid:
            # the window's delivered outbound sids from their partial index alone (pg/schema.py m023), one
            # in k by a hash of the sid; MATERIALIZED: merged into the outer scan, the filter would wait for
            # every row's heap fetch
            source = (
                f"WITH k AS MATERIALIZED (SELECT m.sid FROM messages m WHERE {outbound} AND {where} "
                f"AND hashtext(m.sid) % ? = 0) "
                f"{times} k JOIN events e ON e.message_sid = k.sid GROUP BY k.sid"
            )
            args = [*args, step]
        else:
            source = f"{times} messages m {events}"
        secs = d.seconds_between.format(a="s", b="d")
        sql = (
            f"SELECT {secs} AS secs FROM ({source}) AS timed "
            "WHERE s IS NOT NULL AND d IS NOT NULL ORDER BY secs"
        )
        return [max(0.0, float(v)) for (v,) in self.conn.execute(sql, args)]


class _snapshot:
    """One read transaction around a refresh: the rollup's state, its rows and the live rows agree (the
    maintenance thread may commit in between otherwise). Nested uses join the outer one."""

    def __init__(self, reads: StatsReads) -> None:
        self.reads = reads
        self.conn = reads.conn
        self.mine = False

    def __enter__(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute(self.reads.dialect.begin_snapshot)
            self.mine = True

    def __exit__(self, *exc: object) -> None:
        if self.mine:
            self.reads._coverage = None  # the next snapshot may see a newer rollup
            self.conn.execute("COMMIT")


def _error_title(code: int) -> str:
    entry = errors.lookup(code)
    return entry.title if entry is not None else ""
