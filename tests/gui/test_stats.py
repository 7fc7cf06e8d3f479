"""Delivery statistics: figures per time range on a database filled through the real store
(``Store.record_callback`` with ``receiver.callbacks.parse``), the table models, the throttled refresh."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QTabWidget, QToolTip, QWidget

from desktop import formatting
from desktop.formatting import range_label
from desktop.models.stats_model import RowsModel
from desktop.views import stats_view
from desktop.views.stats_view import StatsView
from receiver.callbacks import parse
from receiver.stats_queries import CUSTOM, DeliveryStats
from receiver.store import RequestRecord, open_reader
from tests import stats_seed

NOW = datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


# (minutes ago, channel, status, error code); all outbound except "received"
TRAFFIC = [
    (5, "sms", "delivered", None),
    (6, "sms", "delivered", None),
    (7, "sms", "undelivered", 30003),
    (8, "sms", "sent", None),
    (9, "whatsapp", "read", None),
    (10, "whatsapp", "failed", 63016),
    (11, "sms", "received", None),
    (12, "sms", "received", None),
    (180, "sms", "delivered", None),
    (181, "sms", "delivered", None),
    (182, "sms", "failed", 30003),
    (3 * 24 * 60, "sms", "undelivered", 30005),
    (30 * 24 * 60, "sms", "delivered", None),
]


def record(store: Any, n: int, minutes_ago: int, channel: str, status: str, code: int | None) -> None:
    prefix = "whatsapp:" if channel == "whatsapp" else ""
    items = [
        ("MessageSid", f"SM{n:032x}"),
        ("AccountSid", "AC" + "1" * 32),
        ("From", prefix + "+15005550006"),
        ("To", prefix + "+14155552671"),
    ]
    kind = "inbound" if status == "received" else "status"
    items.append(("SmsStatus" if kind == "inbound" else "MessageStatus", status))
    if code:
        items.append(("ErrorCode", str(code)))
    when = (NOW - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")
    req = RequestRecord(path=f"/twilio/{kind}", kind=kind, received_at=when)
    store.record_callback(parse(kind, items, None), req)  # type: ignore[arg-type]


@pytest.fixture
def ctl(make_controller: Any, tmp_path: Path) -> Any:
    controller = make_controller(tmp_path / "stats.db")
    for n, row in enumerate(TRAFFIC):
        record(controller.store, n, *row)
    return controller


@pytest.fixture
def view(qtbot: Any, ctl: Any) -> StatsView:
    widget = StatsView(ctl)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()  # figures are computed for a shown panel
    qtbot.waitUntil(lambda: widget.stats is not None, timeout=5000)
    return widget


def show_range(qtbot: Any, view: StatsView, key: str) -> DeliveryStats:
    with qtbot.waitSignal(
        view.statsReady, timeout=5000, check_params_cb=lambda s: s.range_key == key
    ) as blocker:
        view.set_range(key)
    result: DeliveryStats = blocker.args[0]
    return result


def rows(model: RowsModel) -> list[list[str]]:
    return [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]


@pytest.mark.parametrize(
    ("key", "outbound", "delivered", "failed", "finished", "inbound"),
    [("hour", 6, 3, 2, 5, 2), ("day", 9, 5, 3, 8, 2), ("week", 10, 5, 4, 9, 2), ("all", 11, 6, 4, 10, 2)],
)
def test_figures_per_time_range(
    qtbot: Any,
    view: StatsView,
    key: str,
    outbound: int,
    delivered: int,
    failed: int,
    finished: int,
    inbound: int,
) -> None:
    stats = show_range(qtbot, view, key)
    assert (stats.outbound, stats.delivered, stats.failed, stats.finished, stats.inbound) == (
        outbound,
        delivered,
        failed,
        finished,
        inbound,
    )
    assert view.outbound.value.text() == str(outbound)
    assert view.delivery.value.text() == f"{delivered / finished * 100:.1f} %"
    assert view.failure.value.text() == f"{failed / finished * 100:.1f} %"
    assert view.inbound.value.text() == str(inbound)
    assert view.in_flight.value.text() == str(outbound - finished)
    assert sum(b.total for b in stats.buckets) == outbound + inbound  # every message is in one bar


def test_last_hour_tables_and_chart(qtbot: Any, view: StatsView) -> None:
    stats = show_range(qtbot, view, "hour")
    assert rows(view.status_model) == [
        ["Delivered", "2", "33.3 %"],
        ["Read (WhatsApp/RCS)", "1", "16.7 %"],
        ["Sent, no receipt yet", "1", "16.7 %"],
        ["Undelivered", "1", "16.7 %"],
        ["Failed", "1", "16.7 %"],
    ]
    assert rows(view.channel_model) == [
        ["sms", "4", "66.7 %", "1", "2"],
        ["whatsapp", "2", "50.0 %", "1", "0"],
    ]
    assert rows(view.errors_model) == [
        ["30003", "1", "Unreachable handset"],
        ["63016", "1", "Outside 24-hour session window"],
    ]
    assert stats.unit == "minute" and len(stats.buckets) == 60  # one bar per minute of the last hour
    assert "per minute" in view.chart_box.title()


def test_top_error_codes_over_all_time_and_activation(qtbot: Any, view: StatsView) -> None:
    show_range(qtbot, view, "all")
    assert [r[:2] for r in rows(view.errors_model)] == [["30003", "2"], ["30005", "1"], ["63016", "1"]]
    index = view.errors_model.index(1, 0)
    with qtbot.waitSignal(view.errorCodeActivated, check_params_cb=lambda code: code == 30005):
        view.errors_table.doubleClicked.emit(index)


def test_compute_stats_on_the_shared_seeded_database(seeded_db: Any) -> None:
    reader = open_reader(seeded_db.path)
    try:
        stats = reader.delivery_stats("all")
    finally:
        reader.close()
    outbound = [m for m in seeded_db.messages if m["direction"] == "outbound"]
    assert stats.outbound == len(outbound)
    assert stats.inbound == seeded_db.count(lambda m: m["direction"] == "inbound")
    assert stats.delivered == sum(m["status"] in ("delivered", "read") for m in outbound)
    assert stats.failed == sum(m["status"] in ("failed", "undelivered") for m in outbound)
    codes = {code: n for code, n, _ in stats.top_errors}
    assert codes == {
        30003: seeded_db.count(lambda m: m["error_code"] == 30003),
        21610: seeded_db.count(lambda m: m["error_code"] == 21610),
    }
    assert {c[0] for c in stats.channels} == {"sms", "mms", "whatsapp"}
    assert stats.unit == "hour" and sum(b.total for b in stats.buckets) == len(seeded_db.messages)


def test_rows_model_passes_qtmodeltester(qtmodeltester: Any, view: StatsView) -> None:
    for model in (view.status_model, view.channel_model, view.errors_model):
        assert model.rowCount() > 0
        qtmodeltester.check(model, force_py=True)
    assert view.status_model.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None  # icon + text


def test_refresh_after_data_changed_is_throttled(
    qtbot: Any, ctl: Any, view: StatsView, monkeypatch: Any
) -> None:
    monkeypatch.setattr(stats_view, "MIN_INTERVAL_MS", 300)
    show_range(qtbot, view, "hour")
    seen: list[int] = []
    view.statsReady.connect(lambda s: seen.append(s.outbound))
    record(ctl.store, 100, 1, "sms", "delivered", None)
    for _ in range(20):  # a burst of callbacks
        ctl.dataChanged.emit()
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] == 7, timeout=5000)
    with qtbot.assertNotEmitted(view.statsReady, wait=700):  # two intervals more: no second aggregation
        pass
    assert len(seen) == 1  # twenty notifications, one aggregation


def test_a_hidden_panel_computes_nothing_until_shown(qtbot: Any, ctl: Any) -> None:
    """The statistics tab behind another tab runs no aggregation (its worker would hold the interpreter
    lock the window needs); showing it brings the figures up to date."""
    widget = StatsView(ctl)
    qtbot.addWidget(widget)
    with qtbot.assertNotEmitted(widget.statsReady, wait=300):
        ctl.notify_changed()  # new data while hidden
    assert widget.stats is None
    with qtbot.waitSignal(widget.statsReady, timeout=5000):
        widget.show()
    assert widget.stats is not None


def test_no_messages_draws_an_empty_chart(qtbot: Any, make_controller: Any, tmp_path: Path) -> None:
    empty = make_controller(tmp_path / "empty.db")
    widget = StatsView(empty)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.stats is not None, timeout=5000)
    assert widget.delivery.value.text() == "—"
    assert widget.outbound.value.text() == "0"
    widget.resize(800, 600)
    assert not widget.chart.grab().isNull()  # paints the "No messages" text without raising


# showing a top-level tooltip window on the offscreen platform logs these two harmless notices
@pytest.mark.qt_log_ignore(
    "This plugin does not support propagateSizeHints", "This plugin does not support raise"
)
def test_chart_tooltip_names_the_bucket_under_the_mouse(qtbot: Any, view: StatsView) -> None:
    stats = show_range(qtbot, view, "day")
    view.show()
    chart = view.chart
    busiest = max(range(len(stats.buckets)), key=lambda i: stats.buckets[i].total)
    plot = chart._plot_rect()
    x = plot.left() + (busiest + 0.5) * plot.width() / len(stats.buckets)
    assert chart.bucket_at(x) == stats.buckets[busiest]
    assert chart.bucket_at(plot.left() - 5) is None
    point = QPoint(int(x), int(plot.center().y()))
    QApplication.sendEvent(chart, QHelpEvent(QEvent.Type.ToolTip, point, chart.mapToGlobal(point)))
    qtbot.waitUntil(QToolTip.isVisible, timeout=2000)
    assert f"Delivered / read: {stats.buckets[busiest].delivered}" in QToolTip.text()
    QToolTip.hideText()


# ---------------------------------------------------------------- breakdowns, custom range, drill-down
def click_tab(qtbot: Any, tabs: QTabWidget, page: QWidget) -> None:
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(tabs.indexOf(page)).center())
    assert tabs.currentWidget() is page


def type_moment(qtbot: Any, edit: QWidget, moment: datetime) -> None:
    """Select the whole field and type the moment as the operator reads it (local time)."""
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(edit, moment.astimezone().strftime("%Y-%m-%d %H:%M"))


def shown_sids(window: Any, qtbot: Any) -> set[str]:
    model = window.messages.model
    qtbot.waitUntil(lambda: model.rowCount() == model.total, timeout=5000)
    rows = range(model.rowCount())
    qtbot.waitUntil(lambda: all(model.sid_at(row) is not None for row in rows), timeout=5000)
    return {str(model.sid_at(row)) for row in rows}


def test_custom_range_then_a_country_row_shows_exactly_its_messages(
    qtbot: Any, make_controller: Any, open_window: Any, tmp_path: Path
) -> None:
    controller = make_controller(tmp_path / "journey.db")
    stats_seed.seed(controller.store)
    window = open_window(controller)
    view = window.stats_view
    click_tab(qtbot, window.tabs, view)

    # "Custom range…" is the last entry of the range combo: it opens the Messages tab's range dialog
    view.range.setFocus()
    qtbot.keyClick(view.range, Qt.Key.Key_End)
    dialog = view.range_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    since, until = stats_seed.NOW - timedelta(hours=5), stats_seed.NOW - timedelta(hours=2)
    type_moment(qtbot, dialog.from_edit, since)
    type_moment(qtbot, dialog.to_edit, until)
    with qtbot.waitSignal(view.statsReady, timeout=5000, check_params_cb=lambda s: s.range_key == CUSTOM):
        qtbot.keyClick(dialog, Qt.Key.Key_Return)  # OK is the default button
    assert view.range.currentText() == range_label(iso(since), iso(until))
    assert view.outbound.value.text() == "3"  # #3, #4, #5 of the seed

    click_tab(qtbot, view.breakdowns, view.country_table)
    assert [r[:4] for r in rows(view.country_model)] == [
        ["United Kingdom (GB)", "2", "1", "1"],
        ["Germany (DE)", "1", "1", "0"],
    ]
    table = view.country_table
    where = table.visualRect(view.country_model.index(0, 0)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)  # a person's double-click:
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)  # press, release, double
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is window.messages, timeout=2000)
    uk = {stats_seed.CURRENT[2].sid, stats_seed.CURRENT[3].sid}
    qtbot.waitUntil(lambda: window.messages.model.total == len(uk), timeout=5000)
    assert shown_sids(window, qtbot) == uk
    bar = window.messages.filter_bar
    assert bar.count_label.text() == "2 messages (filtered: to United Kingdom (GB))"
    assert bar.time_range.currentText() == range_label(iso(since), iso(until))
    qtbot.mouseClick(bar.clear_button, Qt.MouseButton.LeftButton)  # the drill-down goes with the rest
    qtbot.waitUntil(
        lambda: bar.count_label.text() == f"{window.messages.model.total:,} messages", timeout=5000
    )
    assert window.messages.model.total == len(stats_seed.CURRENT) + len(stats_seed.PREVIOUS) + 2


def test_the_figures_fit_the_smallest_window(qtbot: Any, view: StatsView) -> None:
    # seven figures side by side: captions and details wrap instead of widening the window past 1024 px
    assert view.minimumSizeHint().width() <= 1000


def test_figures_compare_with_the_period_before(qtbot: Any, make_controller: Any, tmp_path: Path) -> None:
    controller = make_controller(tmp_path / "compare.db")
    stats_seed.seed(controller.store)
    widget = StatsView(controller)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.stats is not None, timeout=5000)
    # the seed is anchored at NOW (a fixed date): ask for the 24 hours before it as a custom range
    with qtbot.waitSignal(widget.statsReady, timeout=5000):
        widget.set_custom_range(stats_seed.NOW - timedelta(hours=24), stats_seed.NOW)
    assert widget.delivery.value.text() == "66.7 %"
    assert widget.delivery.detail.text() == "▲ from 50.0 % before"
    assert widget.failure.value.text() == "33.3 %"
    assert widget.failure.detail.text() == "▼ from 50.0 % before"
    assert widget.outbound.detail.text() == "▲ from 2 before"
    assert widget.latency.value.text() == "5.0 s"
    assert widget.latency.detail.text() == "p90 10.0 s · ▼ from 20.0 s before"
    assert (widget.spend.value.text(), widget.spend.detail.text()) == ("0.09 EUR", "+ 0.02 USD")
    assert rows(widget.sender_model)[0] == [stats_seed.SMS_1, "4", "3", "0", "100.0 %"]
    assert rows(widget.service_model)[1][0] == "(no Messaging Service)"


def test_a_change_the_figures_do_not_show_is_not_an_arrow() -> None:
    assert formatting.versus(4.12, 4.08, "4.1 s", "4.1 s") == "= from 4.1 s before"
    assert formatting.versus(4.3, 4.08, "4.1 s", "4.3 s") == "▲ from 4.1 s before"
    assert formatting.versus(0.5, None, "—", "50.0 %") == "previous period: —"


def test_only_the_newest_range_is_shown_when_the_operator_flips_through_ranges(
    qtbot: Any, view: StatsView
) -> None:
    shown: list[str] = []
    view.statsReady.connect(lambda s: shown.append(s.range_key))
    view.range.setFocus()
    # "Last 24 hours" is chosen; Down, Down, Up: three refreshes started before the first one ends
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Down, Qt.Key.Key_Up):
        qtbot.keyClick(view.range, key)
    assert view.range_key == "week"
    qtbot.waitUntil(lambda: not view._runner.busy, timeout=10000)  # every refresh has come back
    assert shown == ["week"]  # the superseded ones were dropped, not shown one after the other
    assert view.stats is not None and view.stats.range_key == "week"
