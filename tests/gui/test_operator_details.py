"""The small things an operator meets, each driven through the window: keys, clicks, dialog buttons."""

from __future__ import annotations

import re
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.main_window import MainWindow
from desktop.models import message_query as mq
from tests.conftest import SeedInfo
from tests.gui.test_journeys import click_row, sid_on_row
from tests.gui.test_messages_view import post_signed
from tests.gui.ui import click_menu_item


def double_click(viewport: Any, pos: QPoint) -> None:
    """A person's double-click: the first click lands (and selects), the second one is the double."""
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
    QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=pos)


def wait_rows(qtbot: QtBot, window: MainWindow, n: int | None = None) -> None:
    model = window.messages.model
    qtbot.waitUntil(lambda: model.count_known and (n is None or model.rowCount() == n), timeout=5000)


def test_title_names_the_database_once_and_about_shows_version_and_logs(seeded_window: MainWindow) -> None:
    # the platform appends the application display name: the window's own title must not repeat it
    assert seeded_window.windowTitle() == seeded_window.controller.db_path.name
    from receiver.paths import log_dir

    text = seeded_window.about_text()
    assert re.search(r"Callback Monitor \d+\.\d+", text)
    assert str(log_dir()) in text


def test_empty_state_names_a_menu_item_that_exists(open_live: Any) -> None:
    live = open_live(lambda _creds: None)
    window = live.window
    hint = window.messages.empty_hint.text()
    named = re.search(r"Tools ▸ ([^<]+)</b>", hint)
    assert named is not None, hint
    items = [a.text().replace("&", "") for a in window.tools_menu.actions()]
    assert named.group(1) in items


# a menu opened on the offscreen platform logs these two harmless notices
@pytest.mark.qt_log_ignore("This plugin does not support raise", "does not support grabbing the keyboard")
def test_turning_validation_off_asks_and_cancel_keeps_it_on(qtbot: QtBot, window: MainWindow) -> None:
    click_menu_item(qtbot, window, "Tools", window.validate_action)  # unchecks it
    box = window.validation_box
    assert box is not None and box.isVisible()
    QTest.mouseClick(box.button(box.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.validation_box is None, timeout=2000)
    assert window.controller.config.validate is True
    assert window.validate_action.isChecked()


def test_show_these_messages_drops_an_incompatible_preset(qtbot: QtBot, seeded_window: MainWindow) -> None:
    view = seeded_window.messages
    wait_rows(qtbot, seeded_window, 60)
    QTest.mouseClick(view.filter_bar.presets.button(1), Qt.MouseButton.LeftButton)  # Inbound
    wait_rows(qtbot, seeded_window, 12)
    QTest.keyClick(seeded_window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)  # Error lookup
    panel = seeded_window.error_panel
    panel.search.setFocus()
    QTest.keyClicks(panel.search, "30003")
    QTest.keyClick(panel.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.show_button.isEnabled(), timeout=5000)
    QTest.mouseClick(panel.show_button, Qt.MouseButton.LeftButton)
    assert seeded_window.tabs.currentWidget() is view
    wait_rows(qtbot, seeded_window)
    error_col = mq.COLUMN_IDS.index("error")
    assert view.model.rowCount() > 0
    assert all(
        view.model.index(r, error_col).data().startswith("30003") for r in range(view.model.rowCount())
    )


def test_search_finds_a_number_written_with_punctuation(qtbot: QtBot, seeded_window: MainWindow) -> None:
    view = seeded_window.messages
    wait_rows(qtbot, seeded_window, 60)
    QTest.keyClick(seeded_window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(view.filter_bar.search, "(415) 555-0002")
    QTest.keyClick(view.filter_bar.search, Qt.Key.Key_Return)
    wait_rows(qtbot, seeded_window, 1)
    assert view.model.index(0, mq.COLUMN_IDS.index("to")).data() == "+14155550002"


def test_esc_clears_the_filters_and_ctrl_z_puts_them_back(qtbot: QtBot, seeded_window: MainWindow) -> None:
    view = seeded_window.messages
    wait_rows(qtbot, seeded_window, 60)
    QTest.mouseClick(view.filter_bar.presets.button(2), Qt.MouseButton.LeftButton)  # Failed / undelivered
    wait_rows(qtbot, seeded_window)
    failed = view.model.rowCount()
    assert failed < 60
    click_row(view.table, 0)
    QTest.keyClick(view.table, Qt.Key.Key_Escape)
    wait_rows(qtbot, seeded_window, 60)
    assert "Ctrl+Z" in seeded_window.status.currentMessage()
    QTest.keyClick(view.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    wait_rows(qtbot, seeded_window, failed)
    assert view.filter_bar.preset() == "failures"


def test_filters_kept_from_last_time_are_announced(
    qtbot: QtBot, seeded_controller: Any, open_window: Any, tmp_settings: QSettings
) -> None:
    first = open_window(seeded_controller)
    QTest.mouseClick(first.messages.filter_bar.presets.button(1), Qt.MouseButton.LeftButton)  # Inbound
    first.close()  # saves the filters
    second = open_window(seeded_controller)
    wait_rows(qtbot, second, 12)
    assert second.messages.filter_bar.count_label.text() == "12 messages (filtered)"


def test_a_stop_reply_is_flagged_as_an_opt_out(qtbot: QtBot, window: MainWindow) -> None:
    sid = "SM" + "5" * 32
    params = {
        "MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "1" * 32, "From": "+13125550178",
        "To": "+14155550100", "Body": " stop ", "NumMedia": "0", "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }  # fmt: skip
    assert post_signed(window.controller.local_url, "/twilio/inbound", params) == 200
    wait_rows(qtbot, window, 1)
    body_col = mq.COLUMN_IDS.index("body")
    QTest.mouseClick(window.messages.filter_bar.presets.button(1), Qt.MouseButton.LeftButton)  # Inbound
    wait_rows(qtbot, window, 1)
    assert "Opt-out (STOP)" in window.messages.model.index(0, body_col).data(Qt.ItemDataRole.ToolTipRole)
    click_row(window.messages.table, 0)
    qtbot.waitUntil(lambda: sid in window.messages.detail.title.text(), timeout=2000)
    assert "Opt-out (STOP)" in window.messages.detail.facts.text()


def test_a_message_sent_through_the_api_starts_with_accepted(qtbot: QtBot, window: MainWindow) -> None:
    sid = "SM" + "6" * 32
    store = window.controller.store
    assert store is not None
    store.record_outbound(
        {"sid": sid, "status": "accepted", "to_addr": "+13125550178", "from_addr": "+14155550100",
         "body": "hello", "num_segments": 0, "channel": "sms", "direction": "outbound"}
    )  # fmt: skip
    window.controller.dataChanged.emit()
    wait_rows(qtbot, window, 1)
    click_row(window.messages.table, 0)
    detail = window.messages.detail
    qtbot.waitUntil(lambda: sid in detail.title.text(), timeout=2000)
    assert "Segments" not in detail.facts.text()
    first = detail.timeline.topLevelItem(0)
    assert first is not None and first.text(1) == "accepted (API)"


def test_sorting_by_status_orders_each_status_newest_first(
    qtbot: QtBot, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    view = seeded_window.messages
    wait_rows(qtbot, seeded_window, 60)
    header = view.table.horizontalHeader()
    col = mq.COLUMN_IDS.index("status")
    x = header.sectionViewportPosition(col) + header.sectionSize(col) // 2
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    wait_rows(qtbot, seeded_window, 60)
    first_seen = {m["sid"]: m["first_seen"] for m in seeded_db.messages}
    status = {m["sid"]: m["status"] for m in seeded_db.messages}
    rows = [sid_on_row(view.table, r) for r in range(60)]
    for st in {status[s] for s in rows}:
        times = [first_seen[s] for s in rows if status[s] == st]
        assert times == sorted(times, reverse=header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder), st


def test_statistics_rows_drill_down_to_their_messages(
    qtbot: QtBot, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    QTest.keyClick(seeded_window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)  # Statistics
    stats = seeded_window.stats_view
    assert seeded_window.tabs.currentWidget() is stats
    with qtbot.waitSignal(stats.statsReady, timeout=5000, check_params_cb=lambda s: s.range_key == "all"):
        # "Last 24 hours" -> "Last 7 days" -> "All time" (the seeded traffic is months old); the last
        # entry is "Custom range…", which opens a dialog
        QTest.keyClick(stats.range, Qt.Key.Key_Down)
        QTest.keyClick(stats.range, Qt.Key.Key_Down)
    model = stats.status_model
    row = next(r for r in range(model.rowCount()) if model.index(r, 0).data() == "Failed")
    rect = stats.status_table.visualRect(model.index(row, 0))
    double_click(stats.status_table.viewport(), rect.center())
    assert seeded_window.tabs.currentWidget() is seeded_window.messages
    failed = seeded_db.count(lambda m: m["status"] == "failed")
    wait_rows(qtbot, seeded_window, failed)
    status_col = mq.COLUMN_IDS.index("status")
    assert {seeded_window.messages.model.index(r, status_col).data() for r in range(failed)} == {"failed"}

    QTest.keyClick(seeded_window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    channels = stats.channel_model
    row = next(r for r in range(channels.rowCount()) if channels.index(r, 0).data() == "whatsapp")
    rect = stats.channel_table.visualRect(channels.index(row, 0))
    double_click(stats.channel_table.viewport(), rect.center())
    wait_rows(qtbot, seeded_window, seeded_db.count(lambda m: m["channel"] == "whatsapp"))


def test_advanced_opt_out_type_flags_a_reply_that_is_not_a_keyword(qtbot: QtBot, window: MainWindow) -> None:
    sid = "SM" + "3" * 32
    params = {
        "MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "1" * 32, "From": "+13125550178",
        "To": "+14155550100", "Body": "please stop texting me", "NumMedia": "0", "SmsStatus": "received",
        "OptOutType": "STOP", "ApiVersion": "2010-04-01",
    }  # fmt: skip
    assert post_signed(window.controller.local_url, "/twilio/inbound", params) == 200
    wait_rows(qtbot, window, 1)
    click_row(window.messages.table, 0)
    qtbot.waitUntil(lambda: sid in window.messages.detail.title.text(), timeout=2000)
    assert "Opt-out (STOP)" in window.messages.detail.facts.text()
