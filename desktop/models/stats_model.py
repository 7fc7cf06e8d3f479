"""Delivery statistics computed in SQL, a background runner for slow queries, and a small table model.

``compute_stats`` is plain Python over a sqlite3 connection (no Qt), so it runs on a worker thread with
its own read-only connection and can be tested directly. Every figure is a GROUP BY in SQLite: on a
million-message database the GUI must never pull rows into Python to count them.

Time windows use ``messages.first_seen`` (when the app first heard of the message), which is indexed
together with ``direction``, ``status`` and ``channel``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal, Slot

from receiver import errors, stats_queries
from receiver.stats_queries import Breakdowns, Period
from receiver.store import connect

ModelIndex = QModelIndex | QPersistentModelIndex

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
DELIVERED = stats_queries.DELIVERED
FAILED = stats_queries.FAILED
FINISHED = stats_queries.FINISHED
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


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def _unit_for(range_key: str, first: datetime | None, last: datetime | None) -> str:
    if range_key == "hour":
        return "minute"
    if range_key in ("day", "week"):
        return "hour"
    if range_key == CUSTOM and first is not None and last is not None and last - first <= timedelta(hours=2):
        return "minute"
    if first is None or last is None or last - first <= timedelta(days=2):
        return "hour"
    return "day"


def _floor(when: datetime, unit: str) -> datetime:
    when = when.astimezone(UTC)
    if unit == "minute":
        return when.replace(second=0, microsecond=0)
    if unit == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def _parse_bucket(key: str, unit: str) -> datetime:
    return datetime.strptime(key, _KEY_FORMAT[unit]).replace(tzinfo=UTC)


def compute_stats(
    conn: sqlite3.Connection,
    range_key: str,
    now: datetime | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DeliveryStats:
    """Every figure of the statistics panel for one time range (``since``/``until`` for ``CUSTOM``).

    One GROUP BY (time bucket, direction, status, channel) pass over the window gives a few hundred or
    thousand groups from which the counts, rates, channels and bars are summed; a second query ranks the
    error codes. In windowed queries the unary ``+`` keeps SQLite on the ``first_seen`` index (without
    it, it prefers an index that matches the GROUP BY and scans the whole table: 300 ms instead of 1 ms
    for the last hour of a million-message database).
    """
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
        lo = conn.execute("SELECT MIN(first_seen) FROM messages").fetchone()[0]
        hi = conn.execute("SELECT MAX(first_seen) FROM messages").fetchone()[0]
        if lo is None:
            stats.elapsed_ms = (time.perf_counter() - started) * 1000
            return stats
        first, last = datetime.fromisoformat(lo), datetime.fromisoformat(hi)
    lo, hi = (_iso(since) if since else None), (_iso(until) if until else None)
    where, args = stats_queries.window_sql(lo, hi)
    plus = "+" if args else ""
    stats.unit = _unit_for(range_key, first, last)
    width = UNITS[stats.unit][0]

    bars: dict[str, list[int]] = {}  # bucket -> [delivered, failed, other, inbound]
    channels: dict[str, list[int]] = {}  # channel -> [outbound, delivered, failed, inbound]
    micros: dict[str, int] = {}  # currency -> spend in micro-units
    for bucket, direction, status, channel, unit, count, cost in conn.execute(
        f"SELECT substr(first_seen, 1, {width}) AS bucket, direction, status, channel, "
        f"{stats_queries.UNIT_SQL} AS unit, COUNT(*), {stats_queries.MICROS_SQL} FROM messages "
        f"WHERE {where} GROUP BY bucket, {plus}direction, {plus}status, {plus}channel, unit",
        args,
    ):
        stats_queries.add_spend(micros, unit, cost)
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
    stats.top_errors = [
        (int(code), int(n), _error_title(int(code)))
        for code, n in conn.execute(
            f"SELECT error_code, COUNT(*) FROM messages WHERE {plus}error_code IS NOT NULL AND {where} "
            f"GROUP BY {plus}error_code ORDER BY COUNT(*) DESC, error_code LIMIT {TOP_ERRORS}",
            args,
        )
    ]
    stats.buckets = _axis(stats, bars, now, first, last)
    stats.breakdowns = stats_queries.breakdowns(conn, lo, hi)
    stats.current = stats_queries.period(conn, lo, hi, (stats.by_status, stats_queries.amounts(micros)))
    if since is not None and window is not None:
        stats.previous = stats_queries.period(conn, _iso(since - window), lo)
    stats.elapsed_ms = (time.perf_counter() - started) * 1000
    return stats


def _error_title(code: int) -> str:
    entry = errors.lookup(code)
    return entry.title if entry is not None else ""


_KEY_FORMAT = {"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}


def _axis(
    stats: DeliveryStats,
    bars: dict[str, list[int]],
    now: datetime,
    first: datetime | None,
    last: datetime | None,
) -> list[Bucket]:
    """One bucket per unit over the whole range, empty ones included, so the time axis is even."""
    unit = stats.unit
    step = UNITS[unit][1]
    if stats.since is not None and stats.until is not None:  # custom: the last bar holds until - 1 ms
        start, end = _floor(stats.since, unit), _floor(stats.until - timedelta(milliseconds=1), unit)
    elif stats.since is not None:
        start, end = _floor(stats.since, unit), _floor(now, unit)
        if unit == "minute":
            start += step  # exactly 60 bars for the last hour, the current minute last
    elif first is not None and last is not None:
        start, end = _floor(first, unit), _floor(last, unit)
    else:
        return []
    out: list[Bucket] = []
    slot = start
    while slot <= end:
        out.append(Bucket(slot, *bars.pop(slot.strftime(_KEY_FORMAT[unit]), (0, 0, 0, 0))))
        slot += step
    for key, values in bars.items():  # clock skew: rows outside the axis still count somewhere
        out.append(Bucket(_parse_bucket(key, unit), *values))
    out.sort(key=lambda b: b.start)
    return out


class QueryRunner(QObject):
    """Run ``fn(connection)`` on a background thread with its own read-only connection.

    The controller's ``run_in_background`` owns the thread (it is joined when the receiver stops). Only
    the newest run's result is delivered: a run started while another is in flight supersedes it.

    Signals:
        finished(object): the newest run's return value, on the GUI thread.
        failed(str): the newest run raised; the message.
    """

    finished = Signal(object)
    failed = Signal(str)
    _done = Signal(int, object, str)

    def __init__(self, controller: Any, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._name = name
        self._generation = 0
        self._running = 0
        self._done.connect(self._on_done)

    @property
    def busy(self) -> bool:
        return self._running > 0

    def run(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self._generation += 1
        generation = self._generation
        path = self._controller.db_path
        done = self._done

        def work() -> None:
            result: Any = None
            message = ""
            try:
                conn = connect(path, readonly=True)
                try:
                    result = fn(conn)
                finally:
                    conn.close()
            except Exception as exc:  # reported to the GUI, never raised on a bare thread
                message = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(RuntimeError):  # the panel was closed while we worked
                done.emit(generation, result, message)

        self._running += 1
        self._controller.run_in_background(self._name, work)

    @Slot(int, object, str)
    def _on_done(self, generation: int, result: Any, message: str) -> None:
        self._running -= 1
        if generation != self._generation:
            return
        if message:
            self.failed.emit(message)
        else:
            self.finished.emit(result)


class RowsModel(QAbstractTableModel):
    """A read-only table of a few precomputed rows (statistics tables: tens of rows, never more).

    ``icons`` (optional) gives a decoration for column 0 of each row; cells of the ``right`` columns
    (counts, percentages) are right-aligned. Ints are shown with thousands separators, so identifiers
    such as error codes should be passed as strings.
    """

    def __init__(
        self, headers: Sequence[str], parent: QObject | None = None, *, right: Sequence[int] = ()
    ) -> None:
        super().__init__(parent)
        self._headers = tuple(headers)
        self._right = frozenset(right)
        self._rows: list[tuple[Any, ...]] = []
        self._icons: list[Any] = []
        self._tips: list[str | None] = []

    def set_rows(
        self,
        rows: Sequence[Sequence[Any]],
        icons: Sequence[Any] | None = None,
        tips: Sequence[str | None] | None = None,
    ) -> None:
        self.beginResetModel()
        self._rows = [tuple(r) for r in rows]
        self._icons = list(icons) if icons is not None else []
        self._tips = list(tips) if tips is not None else []
        self.endResetModel()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._headers):
            return self._headers[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        row, col = index.row(), index.column()
        if not (0 <= row < len(self._rows) and 0 <= col < len(self._headers)):
            return None
        value = self._rows[row][col]
        if role == Qt.ItemDataRole.DisplayRole:
            if isinstance(value, int) and not isinstance(value, bool):
                return f"{value:,}"
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.DecorationRole and col == 0 and row < len(self._icons):
            return self._icons[row]
        if role == Qt.ItemDataRole.ToolTipRole and row < len(self._tips):
            return self._tips[row]
        if role == Qt.ItemDataRole.TextAlignmentRole and col in self._right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"
