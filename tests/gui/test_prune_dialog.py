"""Tools > Storage and retention…, driven as a person does: the menu, the spin box typed into, the check box
and the buttons clicked, the confirmation answered through its own buttons."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from receiver.callbacks import parse
from receiver.retention import iso
from receiver.store import RequestRecord, Store
from tests.receiver_helpers import sid, status_params

# the offscreen platform cannot raise windows or grab the keyboard for a popup menu; harmless there
pytestmark = pytest.mark.qt_log_ignore(
    "This plugin does not support raise", "This plugin does not support grabbing the keyboard"
)


def _ago(days: float) -> str:
    return iso(datetime.now(UTC) - timedelta(days=days))


@pytest.fixture
def old_and_new(tmp_path: Path) -> tuple[Path, str, str]:
    """A database with a message (and its request rows) from 200 days ago, a rejected request from 25
    days ago, and a message from today."""
    db = tmp_path / "prune.db"
    old, new = sid(), sid()
    with Store(db) as store:
        for message, when in ((old, _ago(200)), (new, _ago(0))):
            cb = parse("status", list(status_params(message, "sent").items()), sid("tok"))
            store.record_callback(cb, RequestRecord(path="/twilio/status", kind="status", received_at=when))
        store.log_request(RequestRecord(path="/junk", kind="other", received_at=_ago(25), http_status=404))
    return db, old, new


def _count(db: Path, sql: str, *args: Any) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql, args).fetchone()[0])
    finally:
        conn.close()


def _open_from_menu(qtbot: Any, window: Any) -> Any:
    bar = window.menuBar()
    menu = window.tools_menu
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(menu.menuAction()).center())
    qtbot.waitUntil(menu.isVisible)
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(window.prune_action).center())
    qtbot.waitUntil(lambda: window.prune_dialog is not None and window.prune_dialog.isVisible())
    return window.prune_dialog


def _type_into(spin: Any, text: str) -> None:
    QTest.mouseClick(spin, Qt.MouseButton.LeftButton, pos=QPoint(5, spin.height() // 2))
    QTest.keySequence(spin, QKeySequence.StandardKey.SelectAll)
    QTest.keyClicks(spin, text)
    QTest.keyClick(spin, Qt.Key.Key_Tab)


def _click(widget: Any) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=widget.rect().center())


def _check_box(box: Any) -> None:
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def _answer(qtbot: Any, dialog: Any, button: QMessageBox.StandardButton) -> None:
    qtbot.waitUntil(lambda: dialog.confirm is not None and dialog.confirm.isVisible())
    _click(dialog.confirm.button(button))


def test_pruning_from_the_menu_deletes_old_messages_after_confirmation(
    qtbot: Any,
    make_controller: Callable[..., Any],
    open_window: Callable[..., Any],
    old_and_new: tuple[Path, str, str],
    tmp_settings: Any,
) -> None:
    db, old, new = old_and_new
    window = open_window(make_controller(db))
    dialog = _open_from_menu(qtbot, window)
    _type_into(dialog.rejected_days, "20")  # the default (30) would keep it
    _check_box(dialog.delete_messages)  # default date: 90 days ago
    assert dialog.before.isEnabled()
    _click(dialog.prune_button)
    _answer(qtbot, dialog, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: "Pruned" in dialog.busy.text(), timeout=10_000)

    assert _count(db, "SELECT COUNT(*) FROM messages WHERE sid = ?", old) == 0
    assert _count(db, "SELECT COUNT(*) FROM events WHERE message_sid = ?", old) == 0
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE sid = ?", new) == 1
    assert _count(db, "SELECT COUNT(*) FROM requests WHERE outcome = 'rejected'") == 0  # 25 days > 20
    assert _count(db, "SELECT COUNT(*) FROM requests WHERE message_sid = ?", old) == 0  # 200 days > 7
    assert "1 messages" in window.status.currentMessage()
    assert int(str(tmp_settings.value("retention/rejected_days"))) == 20
    assert window.controller.retention.rejected_days == 20  # the automatic passes use it from now on


def test_cancelling_the_confirmation_deletes_nothing(
    qtbot: Any,
    make_controller: Callable[..., Any],
    open_window: Callable[..., Any],
    old_and_new: tuple[Path, str, str],
) -> None:
    db, old, _new = old_and_new
    window = open_window(make_controller(db))
    dialog = _open_from_menu(qtbot, window)
    _check_box(dialog.delete_messages)
    _click(dialog.prune_button)
    _answer(qtbot, dialog, QMessageBox.StandardButton.Cancel)
    qtbot.waitUntil(lambda: dialog.confirm is None)
    assert not dialog.runner.busy and not dialog.busy.text()
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE sid = ?", old) == 1
    assert _count(db, "SELECT COUNT(*) FROM events WHERE message_sid = ?", old) == 1
    assert _count(db, "SELECT COUNT(*) FROM requests WHERE outcome = 'rejected'") == 1


def test_the_durability_choice_is_saved_and_used_at_the_next_start(
    qtbot: Any,
    make_controller: Callable[..., Any],
    open_window: Callable[..., Any],
    tmp_path: Path,
    tmp_settings: Any,
) -> None:
    from desktop.prune_dialog import load_synchronous
    from desktop.receiver_controller import ReceiverController

    window = open_window(make_controller(tmp_path / "a.db"))
    dialog = _open_from_menu(qtbot, window)
    _check_box(dialog.full_sync)
    assert load_synchronous(tmp_settings) == "FULL"
    # what desktop/app.py does at the next start
    later = ReceiverController(tmp_path / "b.db")
    later.synchronous = load_synchronous(tmp_settings)
    later.start()
    try:
        assert later.store is not None
        assert later.store.run(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]) == 2
    finally:
        later.stop()
