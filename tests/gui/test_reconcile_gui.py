"""Reconciliation from the app, as an operator meets it: it runs by itself once the receiver is up, and
Tools → Reconcile with Twilio… shows progress and its Cancel button stops a pass that waits on Twilio.
The real twilio-python client talks to the fake Twilio (``CALLBACK_MONITOR_TWILIO_API_BASE``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.reconcile_controller import AUTO_KEY
from receiver.secrets import TWILIO_ACCOUNT_SID, TWILIO_API_KEY_SECRET, TWILIO_API_KEY_SID
from receiver.twilio_client import API_BASE_ENV
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio
from tests.gui.ui import click_menu_item

fake_twilio = fakes.fake_twilio  # fixture, made visible to pytest here

pytestmark = pytest.mark.qt_log_ignore(
    "This plugin does not support raise", "This plugin does not support grabbing the keyboard"
)
LONG_AGO = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="milliseconds")


@pytest.fixture
def live_window(
    fake_twilio: FakeTwilio,
    make_controller: Callable[..., Any],
    open_window: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> Callable[[], Any]:
    """``live_window(stuck=sid)``: a window whose receiver runs and whose keyring holds an API key of the
    fake account; ``stuck`` is a message the app sent two hours ago and heard nothing about since."""
    monkeypatch.setenv(API_BASE_ENV, fake_twilio.base_url)

    def make(stuck: str | None = None) -> Any:
        ctl = make_controller(tmp_path / "recon.db")
        ctl.secrets.set(TWILIO_ACCOUNT_SID, fake_twilio.account_sid)
        ctl.secrets.set(TWILIO_API_KEY_SID, fake_twilio.api_key_sid)
        ctl.secrets.set(TWILIO_API_KEY_SECRET, fake_twilio.api_key_secret)
        if stuck:
            ctl.store.record_outbound({"sid": stuck, "status": "sent", "to_addr": "+14155550100"})
            ctl.store.run(
                lambda c: c.execute("UPDATE messages SET updated_at = ? WHERE sid = ?", (LONG_AGO, stuck))
            )
        return open_window(ctl)

    return make


def status_of(win: Any, sid: str) -> str:
    conn = sqlite3.connect(win.controller.db_path)
    try:
        return str(conn.execute("SELECT status FROM messages WHERE sid = ?", (sid,)).fetchone()[0])
    finally:
        conn.close()


def test_a_pass_runs_by_itself_once_the_app_is_up(
    qtbot: QtBot, fake_twilio: FakeTwilio, live_window: Callable[..., Any]
) -> None:
    m = fake_twilio.add_message(status="delivered", price="-0.0079")
    win = live_window(stuck=m["sid"])
    with qtbot.waitSignal(win.reconcile.finished, timeout=15000):
        pass
    assert status_of(win, m["sid"]) == "delivered"
    assert "Reconciled with Twilio" in win.status.currentMessage()


def test_the_menu_action_shows_progress_and_its_cancel_button_stops_the_pass(
    qtbot: QtBot, fake_twilio: FakeTwilio, live_window: Callable[..., Any], tmp_settings: QSettings
) -> None:
    tmp_settings.setValue(AUTO_KEY, "false")  # only the operator's click starts a pass here
    m = fake_twilio.add_message(status="delivered")
    # Twilio rate-limits the fetch and asks for a minute's patience: the pass waits, the operator cancels
    fake_twilio.fail_next(r"/Messages/", 429, 20429, "Too Many Requests", retry_after="60", times=5)
    win = live_window(stuck=m["sid"])

    click_menu_item(qtbot, win, "Tools", win.reconcile.action)
    qtbot.waitUntil(lambda: win.reconcile.dialog is not None and win.reconcile.dialog.isVisible())
    dialog = win.reconcile.dialog
    assert not dialog.cancel_button.isEnabled()
    QTest.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: dialog.status.text() == "Stuck messages: 0 of 1", timeout=10000)
    assert dialog.bar.isVisible() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: any(r.http_status == 429 for r in fake_twilio.requests), timeout=10000)
    QTest.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: dialog.status.text().startswith("Cancelled"), timeout=5000)
    assert not dialog.bar.isVisible() and dialog.start_button.isEnabled()
    assert status_of(win, m["sid"]) == "sent"


def test_alerts_are_listed_with_the_response_twilio_saw_and_open_their_message(
    qtbot: QtBot, fake_twilio: FakeTwilio, live_window: Callable[..., Any], tmp_settings: QSettings
) -> None:
    tmp_settings.setValue(AUTO_KEY, "false")
    m = fake_twilio.add_message(status="delivered", price="-0.0079")
    fake_twilio.add_alert(
        11200,
        request_url="https://abc.ngrok-free.app/twilio/status",
        request_variables=f"MessageSid={m['sid']}&MessageStatus=delivered",
        response_body="<html>502 Bad Gateway</html>",
    )
    win = live_window(stuck=m["sid"])
    click_menu_item(qtbot, win, "Tools", win.reconcile.action)
    qtbot.waitUntil(lambda: win.reconcile.dialog is not None and win.reconcile.dialog.isVisible())
    with qtbot.waitSignal(win.reconcile.alertsFetched, timeout=10000) as fetched:
        QTest.mouseClick(win.reconcile.dialog.start_button, Qt.MouseButton.LeftButton)
    assert [a["message_sid"] for a in fetched.args[0]] == [m["sid"]]
    win.reconcile.dialog.close()

    # the message's timeline says where its delivered came from
    table = win.messages.table
    qtbot.waitUntil(lambda: win.messages.model.rowCount() == 1, timeout=5000)
    rect = table.visualRect(table.model().index(0, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    timeline = win.messages.detail.timeline
    qtbot.waitUntil(lambda: timeline.topLevelItemCount() > 0, timeout=5000)
    texts = [
        (timeline.topLevelItem(i).text(1), timeline.topLevelItem(i).text(3))
        for i in range(timeline.topLevelItemCount())
    ]
    assert ("delivered (API)", "from the API (reconciliation)") in texts

    click_menu_item(qtbot, win, "Tools", win.reconcile.alerts_action)
    qtbot.waitUntil(
        lambda: win.reconcile.alerts_dialog is not None and win.reconcile.alerts_dialog.isVisible()
    )
    alerts = win.reconcile.alerts_dialog
    assert alerts.list.topLevelItemCount() == 1
    item = alerts.list.topLevelItem(0)
    rect = alerts.list.visualItemRect(item)
    QTest.mouseClick(alerts.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert "502 Bad Gateway" in alerts.details.toPlainText()
    assert "https://abc.ngrok-free.app/twilio/status" in alerts.details.toPlainText()
    QTest.mouseDClick(alerts.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: win.messages.filter_bar.search.text() == m["sid"], timeout=3000)
    assert win.tabs.currentWidget() is win.messages


def test_the_interval_typed_in_the_dialog_is_kept_and_reschedules_the_passes(
    qtbot: QtBot, live_window: Callable[..., Any], tmp_settings: QSettings
) -> None:
    tmp_settings.setValue(AUTO_KEY, "false")
    win = live_window()
    assert win.reconcile.interval.interval() == 15 * 60_000
    click_menu_item(qtbot, win, "Tools", win.reconcile.action)
    qtbot.waitUntil(lambda: win.reconcile.dialog is not None and win.reconcile.dialog.isVisible())
    spin = win.reconcile.dialog.every
    spin.setFocus()
    QTest.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(spin, "5")
    assert win.reconcile.interval.interval() == 5 * 60_000 and win.reconcile.interval.isActive()
    assert int(tmp_settings.value("reconcile/interval_minutes")) == 5
    QTest.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(spin, "0")
    assert not win.reconcile.interval.isActive()


def test_a_pass_runs_when_the_machine_wakes(
    qtbot: QtBot,
    fake_twilio: FakeTwilio,
    live_window: Callable[..., Any],
    tmp_settings: QSettings,
    tmp_path: Any,
) -> None:
    """After a suspend the wall clock is hours ahead of the monotonic clock: the next look starts a pass.
    The window's own passes are off; a controller with clocks the test moves and no pass at start is the
    only one that can run."""
    from desktop.reconcile_controller import ReconcileController
    from receiver.reconcile import WakeDetector

    tmp_settings.setValue(AUTO_KEY, "false")
    m = fake_twilio.add_message(status="delivered")
    win = live_window(stuck=m["sid"])
    own = QSettings(str(tmp_path / "wake.ini"), QSettings.Format.IniFormat)
    own.setValue("reconcile/interval_minutes", 0)
    wall, mono = [1_000_000.0], [500.0]
    detector = WakeDetector(wall=lambda: wall[0], mono=lambda: mono[0])
    ctl = ReconcileController(win.controller, own, win, wake=detector, wake_check_ms=20, start_delay_ms=None)
    ticks: list[bool] = []
    ctl.wake_timer.timeout.connect(lambda: ticks.append(ctl.running))
    qtbot.waitUntil(lambda: len(ticks) >= 3, timeout=5000)  # three looks at the clocks, no jump
    assert not any(ticks) and status_of(win, m["sid"]) == "sent"
    wall[0] += 8 * 3600  # slept the night
    mono[0] += 1
    with qtbot.waitSignal(ctl.finished, timeout=10000):
        pass
    assert status_of(win, m["sid"]) == "delivered"


def test_a_twilio_alert_found_by_reconciliation_is_announced_in_the_window(
    qtbot: QtBot, fake_twilio: FakeTwilio, live_window: Callable[..., Any], tmp_settings: QSettings
) -> None:
    """Twilio reports 11200 (it could not reach the app): the pass that fetches it raises the operator
    alert, because the app wires reconciliation's alerts into the alert rules."""
    from desktop.tray import install as install_alerts

    tmp_settings.setValue(AUTO_KEY, "false")
    fake_twilio.add_alert(
        11200,
        request_url="https://abc.ngrok-free.app/twilio/status",
        response_body="<html>502 Bad Gateway</html>",
    )
    win = live_window()
    tray = install_alerts(win)
    try:
        assert not tray.notice.isVisible()
        click_menu_item(qtbot, win, "Tools", win.reconcile.action)
        qtbot.waitUntil(lambda: win.reconcile.dialog is not None and win.reconcile.dialog.isVisible())
        QTest.mouseClick(win.reconcile.dialog.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(tray.notice.isVisible, timeout=15000)
        assert "Twilio cannot reach the app" in tray.notice.text.text()
    finally:
        tray.shutdown()
