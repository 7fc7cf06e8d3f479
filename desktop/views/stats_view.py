"""Delivery statistics: counts by status, delivery and failure rates, time from sent to delivered, spend,
breakdowns by channel, sender, Messaging Service and destination country, top error codes, a bar chart of
traffic over time, and each headline figure against the period just before.

Every breakdown row opens the Messages tab on exactly the messages it counts (double-click). The custom
range reuses the Messages tab's ``TimeRangeDialog``.

The figures come from ``Reader.delivery_stats`` (the core's statistics reads: a per-hour rollup plus live
GROUP BYs) on a worker thread (``desktop.workers.TaskRunner``) with its own Reader; a refresh started
while another runs supersedes it (only the newest result is shown).
Refreshes follow ``controller.dataChanged`` but at most once every ``MIN_INTERVAL_MS`` (longer when the
last aggregation was slow): a burst of callbacks must not turn into a burst of full-table aggregations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QElapsedTimer, QEvent, QPointF, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFont, QHelpEvent, QPainter, QPaintEvent, QPalette, QPen, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableView,
    QTabWidget,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop import badges, theme
from desktop.formatting import duration, from_iso, money, percent, range_label, timed, versus
from desktop.models.message_query import MessageFilter
from desktop.models.stats_model import RowsModel
from desktop.views.filter_bar import CUSTOM_LABEL, TimeRangeDialog
from desktop.workers import TaskRunner
from receiver.stats_queries import CUSTOM, RANGES, STATUS_GROUPS, BreakdownRow, Bucket, DeliveryStats, Period
from receiver.store import open_reader

PICK = "pick"  # item data of "Custom range…": opens the dialog
MIN_INTERVAL_MS = 2000
CLOCK_REFRESH_MS = 60_000  # "last hour" slides even when nothing arrives

# series: (label, badge kind for the colour, hatched?) — hatching makes failures visible without colour
SERIES: tuple[tuple[str, str, bool], ...] = (
    ("Delivered / read", "ok", False),
    ("Failed / undelivered", "bad", True),
    ("Other outbound (sent, queued…)", "pending", False),
    ("Inbound", "inbound", False),
)


def _values(bucket: Bucket) -> tuple[int, int, int, int]:
    return bucket.delivered, bucket.failed, bucket.other, bucket.inbound


def _nice_ceiling(value: int) -> int:
    """1, 2, 5, 10, 20, 50 … at or above ``value``: round numbers for the axis."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


class BarChart(QWidget):
    """Stacked bars per time bucket, drawn with QPainter in palette colours (light and dark themes)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._buckets: list[Bucket] = []
        self._unit = "hour"
        self.setMinimumHeight(180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_data(self, buckets: list[Bucket], unit: str) -> None:
        self._buckets, self._unit = list(buckets), unit
        self.update()

    def _label(self, bucket: Bucket, *, long: bool = False) -> str:
        local = bucket.start.astimezone()
        if self._unit == "day":
            return local.strftime("%Y-%m-%d" if long else "%m-%d")
        if long:
            return local.strftime("%Y-%m-%d %H:%M")
        return local.strftime("%H:%M")

    def _plot_rect(self) -> QRectF:
        fm = self.fontMetrics()
        left = fm.horizontalAdvance("000000") + 8
        top = fm.height() + 12  # legend
        bottom = fm.height() + 8  # x labels
        return QRectF(left, top, max(10, self.width() - left - 10), max(10, self.height() - top - bottom))

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.Text)
        grid = pal.color(QPalette.ColorRole.Mid)
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        fm = self.fontMetrics()
        self._paint_legend(p, fm.height(), text)
        plot = self._plot_rect()
        peak = max((b.total for b in self._buckets), default=0)
        if not self._buckets or peak == 0:
            p.setPen(text)
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "No messages in this time range.")
            p.end()
            return
        top_value = _nice_ceiling(peak)
        # grid lines and y labels at 0, ½ and the top
        for fraction in (0.0, 0.5, 1.0):
            y = plot.bottom() - fraction * plot.height()
            p.setPen(QPen(grid, 1, Qt.PenStyle.DotLine if fraction else Qt.PenStyle.SolidLine))
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.setPen(text)
            value = top_value * fraction
            label = f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
            p.drawText(
                QRectF(0, y - fm.height() / 2, plot.left() - 6, fm.height()),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
        n = len(self._buckets)
        slot = plot.width() / n
        gap = 1.0 if slot > 4 else 0.0
        for i, bucket in enumerate(self._buckets):
            x = plot.left() + i * slot
            y = plot.bottom()
            for (_, kind, hatched), value in zip(SERIES, _values(bucket), strict=True):
                if value <= 0:
                    continue
                h = value / top_value * plot.height()
                rect = QRectF(x + gap / 2, y - h, max(1.0, slot - gap), h)
                colour = badges.colour_for(kind)
                p.fillRect(rect, colour)
                if hatched:
                    p.fillRect(rect, QBrush(pal.color(QPalette.ColorRole.Base), Qt.BrushStyle.BDiagPattern))
                y -= h
        # x labels: as many as fit without overlapping
        p.setPen(text)
        label_w = fm.horizontalAdvance("0000-00-00") + 8
        every = max(1, int(label_w / slot) + 1)
        for i in range(0, n, every):
            x = plot.left() + i * slot
            p.drawText(
                QRectF(x, plot.bottom() + 4, label_w, fm.height()),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
                self._label(self._buckets[i]),
            )
        p.end()

    def _paint_legend(self, p: QPainter, height: int, text: QColor) -> None:
        x = 8.0
        fm = self.fontMetrics()
        base = self.palette().color(QPalette.ColorRole.Base)
        for label, kind, hatched in SERIES:
            swatch = QRectF(x, 4, height, height)
            p.fillRect(swatch, badges.colour_for(kind))
            if hatched:
                p.fillRect(swatch, QBrush(base, Qt.BrushStyle.BDiagPattern))
            p.setPen(text)
            p.drawText(QPointF(x + height + 4, 4 + fm.ascent()), label)
            x += height + 4 + fm.horizontalAdvance(label) + 16

    def bucket_at(self, x: float) -> Bucket | None:
        plot = self._plot_rect()
        if not self._buckets or not plot.left() <= x < plot.right():
            return None
        i = int((x - plot.left()) / (plot.width() / len(self._buckets)))
        return self._buckets[i] if 0 <= i < len(self._buckets) else None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            bucket = self.bucket_at(event.pos().x())
            if bucket is None:
                QToolTip.hideText()
            else:
                lines = [f"{self._label(bucket, long=True)} ({self._unit})"]
                lines += [f"{label}: {v:,}" for (label, _, _), v in zip(SERIES, _values(bucket), strict=True)]
                QToolTip.showText(event.globalPos(), "\n".join(lines), self)
            return True
        return super().event(event)


class _Figure(QFrame):
    """A caption and a big number."""

    def __init__(self, caption: str, tip: str) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(tip)
        self.value = QLabel("—")
        font = QFont(self.value.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.value.setFont(font)
        self.detail = QLabel()
        self.detail.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.caption = QLabel(caption)
        for label in (self.caption, self.detail):  # seven figures must fit side by side in 1024 pixels
            label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)
        layout.addStretch(1)

    def set(self, value: str, detail: str = "") -> None:
        self.value.setText(value)
        self.detail.setText(detail)


def _table(model: RowsModel, stretch: int = 0) -> QTableView:
    """A small read-only table (tens of rows, so sizing columns to their contents is cheap)."""
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # numbers always fit
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)  # the text column takes the rest
    view.setWordWrap(False)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return view


BREAKDOWN_HEADERS = ("Outbound", "Delivered", "Failed", "Delivery rate")


class StatsView(QWidget):
    """Delivery statistics for a chosen time range.

    Signals:
        errorCodeActivated(int): the operator double-clicked a top error code (open it in Error lookup).
        statsReady(object): a new ``DeliveryStats`` is shown (tests and the status bar may listen).
        messagesRequested(object): the operator double-clicked a breakdown row (status, channel, sender,
            Messaging Service, country); a ``MessageFilter`` for the messages behind it (same time range).
    """

    errorCodeActivated = Signal(int)
    statsReady = Signal(object)
    messagesRequested = Signal(object)

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.stats: DeliveryStats | None = None
        self.custom: tuple[datetime, datetime] | None = None  # the custom range, UTC
        self.range_dialog: TimeRangeDialog | None = None
        self._status_rows: list[tuple[str, ...]] = []  # the statuses behind each "By status" row
        self._channel_rows: list[str] = []
        self._breakdown_rows: dict[str, list[BreakdownRow]] = {}
        self._dirty = False
        self._range_index = 0  # the last range item that is not "Custom range…"
        self._since_run = QElapsedTimer()
        self._runner = TaskRunner(self)
        self._generation = 0  # of the newest refresh: an older one's result is dropped

        self.range = QComboBox()
        self.range.setObjectName("stats_range")
        self.range.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for key, (label, _) in RANGES.items():
            self.range.addItem(label, key)
        self.range.addItem(CUSTOM_LABEL, PICK)
        self.range.setItemData(
            self.range.count() - 1, "Pick a from and to date and time", Qt.ItemDataRole.ToolTipRole
        )
        self.range.setCurrentIndex(list(RANGES).index("day"))
        self._range_index = self.range.currentIndex()
        self.updated = QLabel()
        self.updated.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.refresh_button = QPushButton("Refresh")
        top = QHBoxLayout()
        top.addWidget(QLabel("Time range:"))
        top.addWidget(self.range)
        top.addStretch(1)
        top.addWidget(self.updated)
        top.addWidget(self.refresh_button)

        self.outbound = _Figure("Sent by you (outbound)", "Outbound messages first seen in this time range.")
        self.delivery = _Figure(
            "Delivery rate", "Delivered + read, out of outbound messages with a final status."
        )
        self.failure = _Figure(
            "Failure rate", "Failed + undelivered, out of outbound messages with a final status."
        )
        self.in_flight = _Figure(
            "Still in flight", "Outbound messages without a final status yet (queued, sent…)."
        )
        self.inbound = _Figure("Received (inbound)", "Inbound messages first seen in this time range.")
        self.latency = _Figure(
            "Sent → delivered (median)",
            "Time from the first “sent” callback to the first “delivered” one, over delivered messages that "
            "had both; the p90 is the time 90 % of them were delivered within.",
        )
        self.spend = _Figure(
            "Spend",
            "Sum of the prices Twilio reported for the messages of this range, per currency (messages "
            "without a price yet are not counted).",
        )
        figures = QHBoxLayout()
        for fig in (self.outbound, self.delivery, self.failure, self.latency, self.spend, self.in_flight):
            figures.addWidget(fig)
        figures.addWidget(self.inbound)

        self.chart = BarChart()
        self.chart_box = QGroupBox("Messages over time")
        QVBoxLayout(self.chart_box).addWidget(self.chart)

        self.status_model = RowsModel(("Outbound status", "Messages", "Share"), self, right=(1, 2))
        self.channel_model = RowsModel(
            ("Channel", "Outbound", "Delivered", "Failed", "Inbound"), self, right=(1, 2, 3, 4)
        )
        self.sender_model = RowsModel(("Sender", *BREAKDOWN_HEADERS), self, right=(1, 2, 3, 4))
        self.service_model = RowsModel(("Messaging Service", *BREAKDOWN_HEADERS), self, right=(1, 2, 3, 4))
        self.country_model = RowsModel(("Destination country", *BREAKDOWN_HEADERS), self, right=(1, 2, 3, 4))
        self.errors_model = RowsModel(("Error code", "Messages", "Meaning"), self, right=(1,))
        self.status_table = _table(self.status_model)
        self.channel_table = _table(self.channel_model)
        self.sender_table = _table(self.sender_model)
        self.service_table = _table(self.service_model)
        self.country_table = _table(self.country_model)
        self.errors_table = _table(self.errors_model, stretch=2)
        self.errors_table.setToolTip("Double-click a code to open it in Error lookup.")
        self.breakdowns = QTabWidget()
        self.breakdowns.setObjectName("breakdowns")
        for title, table in (
            ("By status", self.status_table),
            ("By channel", self.channel_table),
            ("By sender", self.sender_table),
            ("By Messaging Service", self.service_table),
            ("By country", self.country_table),
        ):
            table.setToolTip("Double-click a row to see these messages.")
            self.breakdowns.addTab(table, title)
        errors_box = QGroupBox("Top error codes")
        QVBoxLayout(errors_box).addWidget(self.errors_table)
        tables = QGridLayout()
        tables.addWidget(self.breakdowns, 0, 0)
        tables.addWidget(errors_box, 0, 1)
        tables.setColumnStretch(0, 3)
        tables.setColumnStretch(1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(figures)
        layout.addWidget(self.chart_box, 3)
        layout.addLayout(tables, 3)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh_now)
        self._clock = QTimer(self)
        self._clock.setInterval(CLOCK_REFRESH_MS)
        self._clock.timeout.connect(self.schedule_refresh)
        self._clock.start()
        self.range.currentIndexChanged.connect(self._range_chosen)
        self.refresh_button.clicked.connect(self.refresh_now)
        self.errors_table.doubleClicked.connect(self._on_error_activated)
        self.status_table.doubleClicked.connect(self._on_status_activated)
        self.channel_table.doubleClicked.connect(self._on_channel_activated)
        self.sender_table.doubleClicked.connect(lambda i: self._on_breakdown_activated("senders", i))
        self.service_table.doubleClicked.connect(lambda i: self._on_breakdown_activated("services", i))
        self.country_table.doubleClicked.connect(lambda i: self._on_breakdown_activated("countries", i))
        controller.dataChanged.connect(self.schedule_refresh)
        theme.follow_theme(self, self._repaint_icons)
        # computed when first shown, and kept fresh only while shown: a hidden tab's aggregation holds the
        # interpreter lock on its worker thread for much of its run, which stalls the window's own work
        # (a filter change in the Messages tab waited 300-600 ms for it on the 1M-message bench DB)
        self._stale = True

    def _repaint_icons(self) -> None:
        """After a light/dark switch: the status table's icons were drawn in the old theme's colours."""
        if self.stats is not None:
            self.show_stats(self.stats)

    @property
    def range_key(self) -> str:
        data = self.range.currentData()
        return CUSTOM if data == CUSTOM else str(data)

    def set_range(self, key: str) -> None:
        """Show ``key`` (a key of RANGES), recomputing even if it is already the chosen range."""
        index = list(RANGES).index(key)
        if index == self.range.currentIndex():
            self.refresh_now()
        else:
            self.range.setCurrentIndex(index)

    def set_custom_range(self, since: datetime, until: datetime) -> None:
        """Show the fixed range ``[since, until)`` (the dialog's answer), in the combo just above
        "Custom range…", and recompute."""
        self.custom = (since.astimezone(UTC), until.astimezone(UTC))
        index = self.range.findData(CUSTOM)
        if index < 0:
            index = self.range.count() - 1
            self.range.insertItem(index, "", CUSTOM)
        self.range.setItemText(index, range_label(self.custom[0].isoformat(), self.custom[1].isoformat()))
        self._range_index = index
        self.range.blockSignals(True)
        self.range.setCurrentIndex(index)
        self.range.blockSignals(False)
        self.refresh_now()

    def open_range_dialog(self) -> TimeRangeDialog:
        """Ask for a range (window-modal; the caller returns at once), starting from the range shown."""
        now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        if self.custom is not None:
            since, until = self.custom
        else:
            window = RANGES[self.range_key][1] or timedelta(days=7)
            since, until = now - window, now
        dialog = TimeRangeDialog(since, until, self)

        def accepted() -> None:
            start, end = (from_iso(v) if v else None for v in (dialog.since, dialog.until))
            if start is not None and end is not None:
                self.set_custom_range(start, end)

        dialog.accepted.connect(accepted)
        dialog.finished.connect(dialog.deleteLater)
        self.range_dialog = dialog
        dialog.open()
        return dialog

    @Slot(int)
    def _range_chosen(self, index: int) -> None:
        if self.range.itemData(index) == PICK:
            # keep showing (and counting) the previous choice until a range is accepted
            self.range.blockSignals(True)
            self.range.setCurrentIndex(self._range_index)
            self.range.blockSignals(False)
            self.open_range_dialog()
            return
        self._range_index = index
        self.refresh_now()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh_now()

    # ------------------------------------------------------------ refreshing
    @Slot()
    def schedule_refresh(self) -> None:
        """Refresh soon, but not more often than every MIN_INTERVAL_MS, and never two queries at once;
        while hidden, only remember that the figures are stale (refreshed when the tab is shown)."""
        if not self.isVisible():
            self._stale = True
            return
        if self._runner.busy:
            self._dirty = True
            return
        if self._timer.isActive():
            return
        # a slow aggregation ("All time" on a big database) gets proportionally rarer refreshes
        interval = max(MIN_INTERVAL_MS, int(4 * self.stats.elapsed_ms) if self.stats is not None else 0)
        waited = self._since_run.elapsed() if self._since_run.isValid() else interval
        self._timer.start(max(0, interval - waited))

    @Slot()
    def refresh_now(self) -> None:
        self._timer.stop()
        self._dirty = False
        self._stale = False
        self._since_run.restart()
        key = self.range_key
        self.updated.setText("Updating…")
        since = until = None
        if key == CUSTOM and self.custom is not None:
            since, until = self.custom
        path = self.controller.location
        self._generation += 1
        generation = self._generation

        def work() -> DeliveryStats:
            reader = open_reader(path)
            try:
                return reader.delivery_stats(key, since=since, until=until)
            finally:
                reader.close()

        self._runner.run(
            "stats",
            work,
            lambda stats: self._on_stats(generation, stats),
            lambda exc: self._on_failed(generation, f"{type(exc).__name__}: {exc}"),
        )

    def _on_stats(self, generation: int, stats: DeliveryStats) -> None:
        if generation != self._generation:
            return  # superseded by a newer refresh (another range was chosen meanwhile)
        self.show_stats(stats)
        if self._dirty:
            self._dirty = False
            self.schedule_refresh()

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.updated.setText(
            f"No statistics yet ({message})"
            if "unable to open" not in message
            else "No database yet: start the receiver."
        )
        if self._dirty:
            self._dirty = False
            self.schedule_refresh()

    # ------------------------------------------------------------ showing
    def show_stats(self, stats: DeliveryStats) -> None:
        self.stats = stats
        in_flight = stats.outbound - stats.finished
        cur, prev = stats.current, stats.previous
        self.outbound.set(f"{stats.outbound:,}", f"{stats.finished:,} with a final status")
        self.delivery.set(percent(stats.delivery_rate), f"{stats.delivered:,} delivered or read")
        self.failure.set(percent(stats.failure_rate), f"{stats.failed:,} failed or undelivered")
        self.in_flight.set(f"{in_flight:,}", "no final status yet")
        self.inbound.set(f"{stats.inbound:,}", "")
        self.latency.set(
            duration(cur.delivery_median_s if cur else None),
            f"p90 {duration(cur.delivery_p90_s if cur else None)} · {timed(cur)}",
        )
        amount, others = money(cur.spend if cur else {})
        self.spend.set(amount, others or "costs, as absolute amounts")
        if prev is not None:
            self._compare(stats, prev)

        groups = [g for g in stats.status_groups() if g[2] > 0] or stats.status_groups()[:1]
        members = {label: statuses for label, _icon, statuses in STATUS_GROUPS}
        self._status_rows = [members.get(label, ()) for label, _, _ in groups]  # () : "Other", no drill-down
        self._channel_rows = [channel for channel, *_ in stats.channels]
        total = stats.outbound
        self.status_model.set_rows(
            [(label, n, percent(n / total) if total else "—") for label, _, n in groups],
            icons=[
                badges.icon_for(icon_status) if icon_status else badges.icon_for("?")
                for _, icon_status, _ in groups
            ],
        )
        self.channel_model.set_rows(
            [
                (channel, out, percent(d / (d + f)) if d + f else "—", f, inbound)
                for channel, out, d, f, inbound in stats.channels
            ],
            tips=[
                "Delivery rate here: delivered or read, out of delivered + failed + undelivered."
                for _ in stats.channels
            ],
        )
        parts = stats.breakdowns
        self._breakdown_rows = {
            "senders": parts.senders,
            "services": parts.services,
            "countries": parts.countries,
        }
        for model, part in (
            (self.sender_model, parts.senders),
            (self.service_model, parts.services),
            (self.country_model, parts.countries),
        ):
            model.set_rows(
                [(r.label, r.outbound, r.delivered, r.failed, percent(r.delivery_rate)) for r in part]
            )
        self.errors_model.set_rows(
            [(str(code), n, title) for code, n, title in stats.top_errors],
            tips=[f"{code} {title}: double-click for the explanation" for code, _, title in stats.top_errors],
        )
        unit = {"minute": "per minute", "hour": "per hour", "day": "per day"}[stats.unit]
        self.chart_box.setTitle(f"Messages over time ({unit}, by when first seen)")
        self.chart.set_data(stats.buckets, stats.unit)
        self.updated.setText(f"Updated {datetime.now().strftime('%H:%M:%S')} · {stats.elapsed_ms:.0f} ms")
        self.statsReady.emit(stats)

    def _compare(self, stats: DeliveryStats, prev: Period) -> None:
        """Each headline figure's detail line says how it moved since the period of the same length before."""
        cur = stats.current
        self.outbound.set(
            f"{stats.outbound:,}",
            versus(stats.outbound, prev.outbound, f"{prev.outbound:,}", f"{stats.outbound:,}"),
        )
        self.delivery.set(
            percent(stats.delivery_rate),
            versus(
                stats.delivery_rate,
                prev.delivery_rate,
                percent(prev.delivery_rate),
                percent(stats.delivery_rate),
            ),
        )
        self.failure.set(
            percent(stats.failure_rate),
            versus(
                stats.failure_rate, prev.failure_rate, percent(prev.failure_rate), percent(stats.failure_rate)
            ),
        )
        if cur is not None:
            self.latency.set(
                duration(cur.delivery_median_s),
                f"p90 {duration(cur.delivery_p90_s)} · "
                + versus(
                    cur.delivery_median_s,
                    prev.delivery_median_s,
                    duration(prev.delivery_median_s),
                    duration(cur.delivery_median_s),
                ),
            )
        tip = "Compared with " + range_label(prev.since, prev.until)
        for fig in (self.outbound, self.delivery, self.failure, self.latency):
            fig.detail.setToolTip(tip)

    def _range_filter(self) -> MessageFilter:
        if self.range_key == CUSTOM and self.custom is not None:
            since, until = self.custom
            return MessageFilter(
                since=since.isoformat(timespec="milliseconds"), until=until.isoformat(timespec="milliseconds")
            )
        window = RANGES[self.range_key][1]
        return MessageFilter(since_seconds=int(window.total_seconds()) if window is not None else None)

    @Slot()
    def _on_status_activated(self, index: Any) -> None:
        rows = self._status_rows
        if 0 <= index.row() < len(rows) and rows[index.row()]:
            flt = self._range_filter().with_(direction="outbound", statuses=tuple(rows[index.row()]))
            self.messagesRequested.emit(flt)

    @Slot()
    def _on_channel_activated(self, index: Any) -> None:
        rows = self._channel_rows
        if 0 <= index.row() < len(rows):
            self.messagesRequested.emit(self._range_filter().with_(channel=rows[index.row()]))

    def _on_breakdown_activated(self, part: str, index: Any) -> None:
        rows = self._breakdown_rows.get(part, [])
        if not 0 <= index.row() < len(rows):
            return
        row = rows[index.row()]
        flt = self._range_filter().with_(direction="outbound")
        if part == "senders":
            flt = flt.with_(from_addr=row.key, scope=f"sender {row.label}")
        elif part == "services":
            flt = flt.with_(service=row.key, scope=f"Messaging Service {row.label}")
        else:
            flt = flt.with_(to_prefixes=row.prefixes, scope=f"to {row.label}")
        self.messagesRequested.emit(flt)

    @Slot()
    def _on_error_activated(self, index: Any) -> None:
        code = self.errors_model.index(index.row(), 0).data(Qt.ItemDataRole.UserRole)
        if isinstance(code, str) and code.isdigit():
            self.errorCodeActivated.emit(int(code))
