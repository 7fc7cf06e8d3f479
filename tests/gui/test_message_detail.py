"""The detail pane as an operator uses it: find a message, click it, read its timeline, follow "Explain
error" to the error lookup and back to the messages carrying that code, copy the SID with Alt+C.

Everything is driven through clicks and keys on the seeded database (tests/conftest.py)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop.main_window import MainWindow
from tests.conftest import SeedInfo


def open_message(qtbot: Any, window: MainWindow, sid: str) -> None:
    """Type the SID into the search box, wait for the one row, click it."""
    view = window.messages
    qtbot.mouseClick(view.filter_bar.search, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(view.filter_bar.search, sid)
    qtbot.keyClick(view.filter_bar.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.model.rowCount() == 1 and view.model.sid_at(0) == sid, timeout=5000)
    rect = view.table.visualRect(view.model.index(0, 1))
    QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: view.detail.sid == sid, timeout=3000)


def test_a_failed_message_explains_its_error_and_leads_to_the_messages_with_it(
    qtbot: Any, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    failed = seeded_db.messages[2]  # undelivered with 30003, three callbacks
    open_message(qtbot, seeded_window, failed["sid"])
    detail = seeded_window.messages.detail

    assert failed["sid"] in detail.title.text() and "outbound sms to" in detail.title.text()
    items = [detail.timeline.topLevelItem(i) for i in range(detail.timeline.topLevelItemCount())]
    timeline = [(item.text(1), item.text(2)) for item in items if item is not None]
    assert timeline[-1][0] == "undelivered" and timeline[-1][1].startswith("30003 ")
    assert '"ErrorCode": "30003"' in detail.raw.toPlainText()

    QTest.mouseClick(detail.explain, Qt.MouseButton.LeftButton)
    panel = seeded_window.error_panel
    qtbot.waitUntil(lambda: seeded_window.tabs.currentWidget() is panel, timeout=3000)
    assert "30003 — Unreachable handset" in panel.entry.toPlainText()
    expected = seeded_db.count(lambda m: m["error_code"] == 30003)
    qtbot.waitUntil(lambda: panel.show_button.text() == f"Show these messages ({expected})", timeout=5000)

    QTest.mouseClick(panel.show_button, Qt.MouseButton.LeftButton)
    view = seeded_window.messages
    qtbot.waitUntil(lambda: seeded_window.tabs.currentWidget() is view, timeout=3000)
    qtbot.waitUntil(lambda: view.model.rowCount() == expected, timeout=5000)
    assert view.filter_bar.current_filter().error_code == 30003


def test_an_inbound_whatsapp_message_shows_its_sender_body_and_media(
    qtbot: Any, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    inbound = seeded_db.messages[9]  # inbound WhatsApp with one media item
    open_message(qtbot, seeded_window, inbound["sid"])
    detail = seeded_window.messages.detail

    assert "inbound whatsapp from" in detail.title.text()
    facts = detail.facts.text()
    assert "Profile name: <b>Person 9</b>" in facts
    assert "reply number 9" in facts
    assert "<a href=" in facts and "media 0 (" in facts
    assert not detail.explain.isVisible()

    with qtbot.waitSignal(detail.notice, timeout=2000) as notice:
        qtbot.keyClick(detail, Qt.Key.Key_C, Qt.KeyboardModifier.AltModifier)
    assert QApplication.clipboard().text() == inbound["sid"]
    assert notice.args == [f"Copied {inbound['sid']} to the clipboard"]
