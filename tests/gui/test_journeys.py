"""Journeys: the app driven the way an operator drives it — mouse clicks on rows, keys, dialog buttons.

Nothing here sets a selection, calls a slot or reads private state to make something happen; the tests
only read what is on screen (the table's cells, the detail pane's labels, the status bar).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QTableView, QWidget
from pytestqt.qtbot import QtBot

from desktop.main_window import MainWindow
from desktop.models import message_query as mq
from desktop.views.messages_view import MessagesView
from tests.conftest import SeedInfo
from tests.gui.ui import top_level_items

SID_COLUMN = mq.COLUMN_IDS.index("sid")


def click_row(table: QTableView, row: int, column: int = 0) -> None:
    """Left-click the cell like a person: on the viewport, at the cell's visible rectangle."""
    index = table.model().index(row, column)
    table.scrollTo(index)
    rect = table.visualRect(index)
    assert rect.isValid(), f"row {row} is not on screen"
    QTest.mouseClick(
        table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center()
    )


def sid_on_row(table: QTableView, row: int) -> str:
    return str(table.model().index(row, SID_COLUMN).data())


def title_shows(view: MessagesView, sid: str) -> Callable[[], bool]:
    """For waitUntil: the detail pane's title names ``sid``."""
    return lambda: sid in view.detail.title.text()


def focused() -> QWidget:
    """The widget with the keyboard focus (keys go there)."""
    widget = QApplication.focusWidget()
    assert widget is not None, "no widget has the focus"
    return widget


def test_clicking_rows_shows_the_clicked_message_each_time(
    qtbot: QtBot, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    view = seeded_window.messages
    table = view.table
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() == 60, timeout=5000)
    for row in (3, 7, 1, 12, 2):
        click_row(table, row)
        expected = sid_on_row(table, row)
        qtbot.waitUntil(title_shows(view, expected), timeout=2000)
        assert view.detail.stack.currentIndex() == 1


def test_clicking_rows_in_the_inbound_view_shows_the_clicked_message(
    qtbot: QtBot, seeded_window: MainWindow
) -> None:
    view = seeded_window.messages
    QTest.mouseClick(view.filter_bar.presets.button(1), Qt.MouseButton.LeftButton)  # "Inbound"
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() == 12, timeout=5000)
    for row in (4, 0, 9):
        click_row(view.table, row)
        expected = sid_on_row(view.table, row)
        qtbot.waitUntil(title_shows(view, expected), timeout=2000)
        assert "inbound" in view.detail.title.text()


def test_filtering_out_the_shown_message_empties_the_detail_pane(
    qtbot: QtBot, seeded_window: MainWindow
) -> None:
    view = seeded_window.messages
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() == 60, timeout=5000)
    click_row(view.table, 0)
    shown = sid_on_row(view.table, 0)
    qtbot.waitUntil(lambda: shown in view.detail.title.text(), timeout=2000)

    QTest.keyClick(seeded_window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(view.filter_bar.search, "no such message anywhere")
    QTest.keyClick(view.filter_bar.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.table_stack.currentWidget() is view.empty, timeout=5000)
    assert "No messages match" in view.empty_hint.text()
    assert view.detail.stack.currentWidget() is view.detail.placeholder  # not the filtered-out message


def test_failures_preset_hides_a_delivered_message_from_the_pane(
    qtbot: QtBot, seeded_window: MainWindow
) -> None:
    view = seeded_window.messages
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() == 60, timeout=5000)
    status_col = mq.COLUMN_IDS.index("status")
    row = next(r for r in range(60) if view.model.index(r, status_col).data() == "delivered")
    click_row(view.table, row)
    qtbot.waitUntil(lambda: view.detail.stack.currentIndex() == 1, timeout=2000)
    QTest.mouseClick(view.filter_bar.presets.button(2), Qt.MouseButton.LeftButton)  # "Failed / undelivered"
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() < 60, timeout=5000)
    assert view.detail.stack.currentWidget() is view.detail.placeholder


def focus_chain_from(start: QWidget, stop: QWidget, qtbot: QtBot, limit: int = 30) -> list[QWidget]:
    """Press Tab from ``start`` until ``stop`` has the focus; the widgets visited, in order."""
    start.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is start, timeout=2000)
    seen: list[QWidget] = []
    for _ in range(limit):
        QTest.keyClick(focused(), Qt.Key.Key_Tab)
        widget = focused()
        if widget is stop:
            return seen
        seen.append(widget)
    raise AssertionError(f"Tab never reached {stop!r}; visited {[w.objectName() for w in seen]}")


def test_tab_leaves_the_table_and_keeps_the_selected_message(qtbot: QtBot, seeded_window: MainWindow) -> None:
    view = seeded_window.messages
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() == 60, timeout=5000)
    click_row(view.table, 5)
    shown = sid_on_row(view.table, 5)
    qtbot.waitUntil(lambda: shown in view.detail.title.text(), timeout=2000)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is view.table, timeout=2000)
    QTest.keyClick(view.table, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is not view.table
    assert view.detail.isAncestorOf(focused())  # on to the pane beside it
    assert shown in view.detail.title.text()
    QTest.keyClick(focused(), Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.focusWidget() is view.table
    assert shown in view.detail.title.text()


def test_filter_bar_tab_order_is_the_visual_order(qtbot: QtBot, seeded_window: MainWindow) -> None:
    bar = seeded_window.messages.filter_bar
    QTest.keyClick(seeded_window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is bar.search, timeout=2000)
    visited = focus_chain_from(bar.search, seeded_window.messages.table, qtbot)
    assert visited, "Tab from the search box went straight to the table"
    # left to right on the second row: each stop is to the right of the one before
    xs = [w.mapTo(bar, w.rect().topLeft()).x() for w in visited]
    assert xs == sorted(xs), [w.objectName() or type(w).__name__ for w in visited]
    assert {"status", "channel", "direction", "time_range", "error_code", "clear"} <= {
        w.objectName() for w in visited
    }


def test_keyboard_only_triage_of_a_failed_message(qtbot: QtBot, seeded_window: MainWindow) -> None:
    """Ctrl+F, type the customer's number, Down into the results, Alt+E explains, Ctrl+1, Alt+C copies."""
    view = seeded_window.messages
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() == 60, timeout=5000)
    QTest.keyClick(seeded_window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is view.filter_bar.search, timeout=2000)
    QTest.keyClicks(view.filter_bar.search, "+14155550003")  # seeded row 3: failed, 21610
    QTest.keyClick(view.filter_bar.search, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() == 1, timeout=5000)
    assert QApplication.focusWidget() is view.table
    qtbot.waitUntil(lambda: view.detail.stack.currentIndex() == 1, timeout=2000)
    sid = sid_on_row(view.table, 0)
    assert sid in view.detail.title.text()
    assert "21610" in view.detail.explain.text()

    QTest.keyClick(view.table, Qt.Key.Key_E, Qt.KeyboardModifier.AltModifier)
    # a mnemonic "animates" the button press: the click lands a moment later
    qtbot.waitUntil(lambda: seeded_window.tabs.currentWidget() is seeded_window.error_panel, timeout=2000)
    assert "21610" in seeded_window.error_panel.entry.toPlainText()

    QTest.keyClick(seeded_window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert seeded_window.tabs.currentWidget() is view
    QApplication.clipboard().clear()
    QTest.keyClick(QApplication.focusWidget() or seeded_window, Qt.Key.Key_C, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: QApplication.clipboard().text() == sid, timeout=2000)
    assert sid in seeded_window.status.currentMessage()


def test_export_on_the_requests_tab_writes_the_request_log(
    qtbot: QtBot, seeded_window: MainWindow, tmp_path: Path
) -> None:
    dest = tmp_path / "log.csv"
    asked: list[str] = []

    def save_dialog(title: str, suggested: str) -> str:  # the operator picks ``dest`` in the dialog
        asked.append(title)
        return str(dest)

    seeded_window.choose_save_path = save_dialog
    QTest.keyClick(seeded_window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # Requests
    inspector = seeded_window.inspector
    assert seeded_window.tabs.currentWidget() is inspector
    assert seeded_window.export_action.text() == "Export requests to CSV…"  # says what it will write
    QTest.keyClicks(inspector.search, "/twilio/inbound")  # only the inbound webhooks
    qtbot.waitUntil(lambda: inspector.model.rowCount() == 12, timeout=5000)
    with qtbot.waitSignal(
        seeded_window.status.messageChanged, timeout=10000, check_params_cb=lambda t: t.startswith("Exported")
    ):
        QTest.keyClick(seeded_window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert asked == ["Export requests to CSV"]
    assert seeded_window.status.currentMessage() == f"Exported 12 requests to {dest}"
    with dest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    assert {r["path"] for r in rows} == {"/twilio/inbound"}
    assert {"outcome", "http_status", "reason", "message_sid"} <= set(rows[0])
    ids = [int(r["id"]) for r in rows]
    assert ids == sorted(ids, reverse=True)  # the tab's order: newest first


def reject(window: MainWindow, sid: str, reason: str, status: str = "delivered") -> None:
    """A callback the receiver refused, logged as it logs one: a rejected request naming ``sid``."""
    from receiver.store import RequestRecord

    body = f"MessageSid={sid}&MessageStatus={status}"
    record = RequestRecord(
        path="/twilio/status", kind="status", body=body, body_size=len(body), outcome="rejected",
        http_status=403, reason=reason, message_sid=sid,
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    store = window.controller.store
    assert store is not None
    store.log_request(record)
    window.controller.dataChanged.emit()


def test_rejected_callbacks_are_found_from_their_message(qtbot: QtBot, seeded_window: MainWindow) -> None:
    """ "Why didn't my delivered arrive?": the message's timeline names the rejected callback."""
    view = seeded_window.messages
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() == 60, timeout=5000)
    status_col = mq.COLUMN_IDS.index("status")
    row = next(r for r in range(60) if view.model.index(r, status_col).data() == "sent")
    sid = sid_on_row(view.table, row)
    reject(
        seeded_window, sid, "signature does not match (the public URL was http://, Twilio signed https://)"
    )
    click_row(view.table, row)
    qtbot.waitUntil(lambda: sid in view.detail.title.text(), timeout=2000)
    assert view.detail.rejected_note.isVisible()
    assert "1 callback naming this message was rejected" in view.detail.rejected_note.text()
    timeline = view.detail.timeline
    items = top_level_items(timeline)
    texts = [item.text(1) for item in items]
    assert "rejected (delivered)" in texts
    rejected = items[texts.index("rejected (delivered)")]
    assert "signature does not match" in rejected.text(3)


def test_searching_a_sid_that_only_has_rejected_requests_leads_to_them(
    qtbot: QtBot, seeded_window: MainWindow
) -> None:
    view = seeded_window.messages
    ghost = "SM" + "9" * 32
    reject(seeded_window, ghost, "no auth token configured")
    QTest.keyClick(seeded_window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(view.filter_bar.search, ghost)
    QTest.keyClick(view.filter_bar.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.table_stack.currentWidget() is view.empty, timeout=5000)
    assert "1 rejected request" in view.empty_hint.text()
    assert view.rejected_button.isVisible()
    QTest.mouseClick(view.rejected_button, Qt.MouseButton.LeftButton)
    inspector = seeded_window.inspector
    assert seeded_window.tabs.currentWidget() is inspector
    qtbot.waitUntil(lambda: inspector.model.rowCount() == 1, timeout=5000)
    assert inspector.model.index(0, 7).data() == ghost
    assert inspector.model.index(0, 3).data() == "Rejected"


def test_at_1024x700_status_and_error_are_on_screen_and_messages_fit(
    qtbot: QtBot, seeded_window: MainWindow
) -> None:
    seeded_window.resize(1024, 700)
    view = seeded_window.messages
    qtbot.waitUntil(lambda: view.model.count_known and view.model.rowCount() == 60, timeout=5000)
    qtbot.waitUntil(lambda: seeded_window.width() == 1024, timeout=2000)
    header = view.table.horizontalHeader()
    visible = view.table.viewport().width()
    for cid in ("time", "status", "error"):
        col = mq.COLUMN_IDS.index(cid)
        assert header.sectionViewportPosition(col) + header.sectionSize(col) <= visible, cid
    bar = seeded_window.status
    text = "Re-pointed 2 numbers and 1 messaging service to https://abc.ngrok-free.app"
    bar.showMessage(text)
    left_edge = min(
        w.geometry().x() for w in bar.findChildren(QWidget) if w.isVisible() and w.parent() is bar
    )
    assert bar.fontMetrics().horizontalAdvance(text) + 12 <= left_edge


@pytest.mark.qt_log_ignore(  # the offscreen platform cannot raise or grab for a popup menu
    "This plugin does not support raise", "This plugin does not support grabbing the keyboard"
)
def test_copy_webhook_urls_from_the_status_bar(qtbot: QtBot, window: MainWindow) -> None:
    window.controller.set_public_url("https://abc.ngrok-free.app")
    QApplication.clipboard().clear()

    def pick_inbound() -> None:  # the menu is open: choose its second line with the keyboard
        menu = QApplication.activePopupWidget()
        if menu is None:
            QTimer.singleShot(10, pick_inbound)
            return
        for key in (Qt.Key.Key_Down, Qt.Key.Key_Down, Qt.Key.Key_Return):
            QTest.keyClick(menu, key)

    QTimer.singleShot(0, pick_inbound)
    QTest.mouseClick(window.status.public, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: QApplication.clipboard().text() != "", timeout=3000)
    assert QApplication.clipboard().text() == "https://abc.ngrok-free.app/twilio/inbound"
    assert "Copied the inbound message URL" in window.status.currentMessage()
