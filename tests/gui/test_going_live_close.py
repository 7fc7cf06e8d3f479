"""The one close sequence, as a person meets it: numbers the monitor re-pointed, then File → Quit, the
window's close, the tray's Quit or Ctrl+C in the terminal. With ``live/on_exit`` = ask the question offers
Restore, Keep and Cancel, answered here through its buttons; each does what it says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.live.going_live import GoingLive
from desktop.main_window import MainWindow
from desktop.tray import install as install_alerts
from receiver import secrets as keys
from receiver.store import Store
from receiver.twilio_client import make_client
from receiver.webhook_apply import apply_plan
from receiver.webhook_plan import plan_changes
from receiver.webhook_targets import list_targets
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio
from tests.gui.ui import click_menu_item

fake_twilio = fakes.fake_twilio

ORIGINAL_STATUS = "https://old.example.com/status"
MONITOR_URL = "https://monitor.ngrok.test"


def live_with_repointed_service(
    qtbot: QtBot, open_live: Callable[..., GoingLive], fake: FakeTwilio, on_exit: str
) -> tuple[GoingLive, str]:
    """A window whose monitor set a service's status callback (credentials stored), ``on_exit`` chosen."""
    service = fake.add_service("Shop notifications", status_callback=ORIGINAL_STATUS)
    api_base = fake.base_url  # where Twilio is, even after the test takes it away
    live = open_live(lambda c: make_client(c, api_base=api_base), live__on_exit=on_exit)
    secrets = live.ctx.secrets
    secrets.set(keys.TWILIO_ACCOUNT_SID, fake.account_sid)
    secrets.set(keys.TWILIO_AUTH_TOKEN, fake.auth_token)
    client = live.ctx.client()
    changes = plan_changes(list_targets(client), [service["sid"]], MONITOR_URL)
    apply_plan(client, live.ctx.store(), fake.account_sid, changes)  # what the wizard's Apply does
    live.window.show()
    qtbot.waitUntil(lambda: not live.runner.busy)
    return live, str(service["sid"])


def status_callback(fake: FakeTwilio, sid: str) -> str:
    with fake.lock:
        return str(fake.state.services[sid]["status_callback"])


def pending_after_close(db: Path) -> int:
    store = Store(db)  # opens only because the closed window's receiver let go of the database
    try:
        return len(store.pending_backups())
    finally:
        store.close()


def close_question(qtbot: QtBot, window: MainWindow) -> QMessageBox:
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox), timeout=5000)
    box = QApplication.activeModalWidget()
    assert isinstance(box, QMessageBox) and box.parent() is window
    assert box.windowTitle() == "Restore previous webhooks?"
    return box


def press(box: QMessageBox, text: str) -> None:
    found = [b for b in box.buttons() if b.text() == text]
    assert found, [b.text() for b in box.buttons()]
    button: QAbstractButton = found[0]
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def quit_from_menu(qtbot: QtBot, window: MainWindow) -> None:
    click_menu_item(qtbot, window, "File", window.quit_action)


@pytest.mark.qt_log_ignore(  # the offscreen platform cannot raise or grab for a popup menu
    "This plugin does not support raise", "This plugin does not support grabbing the keyboard"
)
def test_quit_asks_and_restore_puts_the_numbers_back_then_closes(
    qtbot: QtBot, open_live: Callable[..., GoingLive], fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    live, sid = live_with_repointed_service(qtbot, open_live, fake_twilio, "ask")
    window = live.window
    quit_from_menu(qtbot, window)
    box = close_question(qtbot, window)
    assert window.isVisible()  # nothing closes while the question is open
    press(box, "Restore and close")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=20000)
    assert status_callback(fake_twilio, sid) == ORIGINAL_STATUS
    assert not window.controller.running
    assert pending_after_close(tmp_path / "live.db") == 0


def test_keep_closes_and_leaves_the_monitors_webhooks_for_the_next_start(
    qtbot: QtBot, open_live: Callable[..., GoingLive], fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    live, sid = live_with_repointed_service(qtbot, open_live, fake_twilio, "ask")
    window = live.window
    window.close()
    press(close_question(qtbot, window), "Keep them and close")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert status_callback(fake_twilio, sid) == f"{MONITOR_URL}/twilio/status"
    assert not window.controller.running
    assert pending_after_close(tmp_path / "live.db") == 1  # the next start offers the restore


def test_cancel_keeps_the_app_running_and_the_next_close_asks_again(
    qtbot: QtBot, open_live: Callable[..., GoingLive], fake_twilio: FakeTwilio
) -> None:
    live, sid = live_with_repointed_service(qtbot, open_live, fake_twilio, "ask")
    window = live.window
    window.close()
    press(close_question(qtbot, window), "Cancel")
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=5000)
    assert window.isVisible() and window.controller.running
    assert "Still running" in window.statusBar().currentMessage()
    assert status_callback(fake_twilio, sid) == f"{MONITOR_URL}/twilio/status"
    window.close()  # changed their mind: the question again, not a silent close
    press(close_question(qtbot, window), "Restore and close")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=20000)
    assert status_callback(fake_twilio, sid) == ORIGINAL_STATUS


def test_the_trays_quit_goes_through_the_same_restore(
    qtbot: QtBot, open_live: Callable[..., GoingLive], fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    live, sid = live_with_repointed_service(qtbot, open_live, fake_twilio, "restore")
    window = live.window
    tray = install_alerts(window)
    tray.quit_action.trigger()  # the tray menu's item (offscreen has no tray to click)
    assert window.isVisible()  # restoring first, off the GUI thread
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=20000)
    assert status_callback(fake_twilio, sid) == ORIGINAL_STATUS
    assert pending_after_close(tmp_path / "live.db") == 0


def test_nothing_to_restore_closes_at_once(
    qtbot: QtBot, open_live: Callable[..., GoingLive], fake_twilio: FakeTwilio
) -> None:
    live = open_live(lambda c: make_client(c, api_base=fake_twilio.base_url), live__on_exit="ask")
    live.window.show()
    live.window.close()
    assert not live.window.isVisible()  # no question: the monitor changed nothing at Twilio
    assert not live.window.controller.running


def test_a_restore_that_fails_at_close_says_so_and_lets_the_operator_stay(
    qtbot: QtBot, open_live: Callable[..., GoingLive], fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    live, sid = live_with_repointed_service(qtbot, open_live, fake_twilio, "restore")
    window = live.window
    fake_twilio.stop()  # Twilio unreachable (offline laptop): the restore cannot happen now
    window.close()
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox), timeout=20000)
    box = QApplication.activeModalWidget()
    assert isinstance(box, QMessageBox) and box.windowTitle() == "Some webhooks were not restored"
    assert "Shop notifications" in box.text() and "not restored yet" in box.text()
    press(box, "Stay open")
    assert window.isVisible() and window.controller.running
    assert live.warning.isVisible()  # the status bar keeps saying Twilio calls a dead URL
    window.close()  # still unreachable: asked again, and this time the operator closes anyway
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox), timeout=20000)
    next_box = QApplication.activeModalWidget()
    assert isinstance(next_box, QMessageBox)
    press(next_box, "Close anyway")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert pending_after_close(tmp_path / "live.db") == 1  # kept: the next start offers the restore
