"""Alerts in the window: offscreen there is no system tray, so the notice above the tabs is what the
operator sees; the thresholds dialog is driven through its widgets from the Tools menu."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox, QSpinBox, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from desktop.alert_settings_dialog import AlertSettingsDialog, load_thresholds
from desktop.tray import AlertTray, install
from tests.gui.ui import child, click_menu_item
from tests.receiver_helpers import http_post, sid, status_params


@pytest.fixture
def alerting(open_window: Callable[..., Any], controller: Any) -> Iterator[Callable[[], AlertTray]]:
    trays: list[AlertTray] = []

    def make() -> AlertTray:
        tray = install(open_window(controller))
        trays.append(tray)
        return tray

    yield make
    for tray in trays:
        tray.shutdown()


def unreachable(alert_sid: str) -> dict[str, Any]:
    return {
        "sid": alert_sid,
        "error_code": 11200,
        "log_level": "error",
        "alert_text": "Msg=Connection refused",
        "request_url": "https://abc123.ngrok-free.app/twilio/status",
        "date_created": datetime.now(UTC),
        "message_sid": sid(),
    }


def test_without_a_system_tray_twilio_alerts_show_once_in_the_window(
    alerting: Callable[[], AlertTray], qtbot: QtBot
) -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen: the fallback is all there is
    tray = alerting()
    assert tray.icon is None
    qtbot.waitUntil(lambda: not tray.monitor.runner.busy)
    assert not tray.notice.isVisible()
    batch = [unreachable("NO" + "a" * 32)]
    with qtbot.waitSignal(tray.monitor.alertRaised, timeout=10000):
        tray.monitor.twilio_alerts(batch)
    qtbot.waitUntil(tray.notice.isVisible)
    assert "Twilio cannot reach the app" in tray.notice.text.text()
    assert "Twilio cannot reach the app" in tray.window.status.currentMessage()
    with qtbot.assertNotEmitted(tray.monitor.alertRaised), qtbot.waitSignal(tray.monitor.evaluated):
        tray.monitor.twilio_alerts(batch + [unreachable("NO" + "b" * 32)])  # same episode
    assert len(tray.notice.alerts) == 1
    button = tray.notice.dismiss
    QTest.mouseClick(button, Qt.MouseButton.LeftButton, pos=button.rect().center())
    assert not tray.notice.isVisible()


def test_a_wrong_auth_token_on_the_live_receiver_shows_one_notice(
    alerting: Callable[[], AlertTray], controller: Any, tmp_settings: QSettings, qtbot: QtBot
) -> None:
    tmp_settings.setValue("alerts/rejections", 3)
    tray = alerting()
    qtbot.waitUntil(lambda: not tray.monitor.runner.busy)
    for _ in range(3):
        assert (
            http_post(controller.local_url, "/twilio/status", status_params(sid(), "sent"), token="f" * 32)
            == 403
        )
    with qtbot.waitSignal(tray.monitor.alertRaised, timeout=10000) as raised:
        tray.monitor.evaluate()
    assert raised.args[0].title == "The receiver is rejecting callbacks"
    qtbot.waitUntil(tray.notice.isVisible)
    for _ in range(3):
        http_post(controller.local_url, "/twilio/status", status_params(sid(), "sent"), token="f" * 32)
    with qtbot.assertNotEmitted(tray.monitor.alertRaised), qtbot.waitSignal(tray.monitor.evaluated):
        tray.monitor.evaluate()
    assert len(tray.notice.alerts) == 1


def _dialog(tray: AlertTray, qtbot: QtBot) -> AlertSettingsDialog:
    action = child(tray.window, type(tray.settings_action), "alerts_action")
    click_menu_item(qtbot, tray.window, "Tools", action)
    qtbot.waitUntil(lambda: tray.dialog is not None and tray.dialog.isVisible())
    assert tray.dialog is not None
    return tray.dialog


def _type_into(spin: QSpinBox, value: str) -> None:
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, value)


# a menu opened on the offscreen platform logs these two harmless notices
@pytest.mark.qt_log_ignore("This plugin does not support raise", "does not support grabbing the keyboard")
def test_thresholds_typed_in_the_dialog_are_saved_and_used(
    alerting: Callable[[], AlertTray], tmp_settings: QSettings, qtbot: QtBot
) -> None:
    tray = alerting()
    dialog = _dialog(tray, qtbot)
    _type_into(child(dialog, QSpinBox, "failure_percent"), "35")
    _type_into(child(dialog, QSpinBox, "min_messages"), "50")
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    QTest.mouseClick(save, Qt.MouseButton.LeftButton, pos=save.rect().center())
    qtbot.waitUntil(lambda: tray.dialog is None)
    saved = load_thresholds(QSettings(tmp_settings.fileName(), QSettings.Format.IniFormat))
    assert (saved.failure_percent, saved.min_messages) == (35, 50)
    assert tray.monitor.rules.thresholds == saved
    assert "saved" in tray.window.status.currentMessage()


# a menu opened on the offscreen platform logs these two harmless notices
@pytest.mark.qt_log_ignore("This plugin does not support raise", "does not support grabbing the keyboard")
def test_cancel_keeps_the_thresholds(
    alerting: Callable[[], AlertTray], tmp_settings: QSettings, qtbot: QtBot
) -> None:
    tray = alerting()
    before = tray.monitor.rules.thresholds
    dialog = _dialog(tray, qtbot)
    _type_into(child(dialog, QSpinBox, "rejections"), "99")
    cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    QTest.mouseClick(cancel, Qt.MouseButton.LeftButton, pos=cancel.rect().center())
    qtbot.waitUntil(lambda: tray.dialog is None)
    assert tray.monitor.rules.thresholds == before
    assert load_thresholds(tmp_settings) == before
