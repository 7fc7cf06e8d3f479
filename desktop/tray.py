"""Operator alerts on the desktop: a system-tray icon with notifications, and the notice in the window.

``install(window)`` creates the ``AlertMonitor`` on the window's receiver, puts Tools → Alerts… in the
menu and shows every alert it raises:

- in the window, always: the amber ``AlertNotice`` above the tabs (until dismissed) and the status bar;
- as a desktop notification from the tray icon, where the desktop has a system tray
  (``QSystemTrayIcon.isSystemTrayAvailable()``). Clicking the icon or the notification brings the window
  to the front. Without a tray (offscreen, a Linux desktop without a tray host) the in-window notice is
  all there is.

Closing the window still quits the app (the receiver lives in it): the tray icon is for notices, not for
running in the background. Its Quit closes the window, so it goes through the window's one close sequence
(restore the webhooks first, or ask).
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QApplication, QBoxLayout, QMainWindow, QMenu, QSystemTrayIcon

from desktop.alert_monitor import AlertMonitor
from desktop.alert_settings_dialog import AlertSettingsDialog, load_thresholds
from desktop.main_window import MainWindow
from desktop.views.alert_notice import AlertNotice
from receiver import paths
from receiver.alert_rules import Alert

log = logging.getLogger("callback_monitor.alerts")
NOTIFICATION_MS = 15000


class AlertTray:
    """The monitor, the tray icon (None without a system tray) and the in-window notice of one window."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.monitor = AlertMonitor(window.controller, load_thresholds(window.settings), parent=window)
        self.notice = AlertNotice(window)
        central = window.centralWidget()
        layout = central.layout() if central is not None else None
        if isinstance(layout, QBoxLayout):  # above the warning banner and the tabs
            layout.insertWidget(0, self.notice)
        self.settings_action = QAction("Alerts…", window)
        self.settings_action.setObjectName("alerts_action")
        self.settings_action.setStatusTip("When to warn: failure rate, refused requests, quiet spell")
        self.settings_action.triggered.connect(self.edit_thresholds)
        window.add_tools_action(self.settings_action)
        # the window's close, not the app's quit: restoring webhooks may have to come first
        self.quit_action = QAction("Quit Callback Monitor", window)
        self.quit_action.setObjectName("tray_quit_action")
        self.quit_action.triggered.connect(window.close)
        self.dialog: AlertSettingsDialog | None = None
        self.icon: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = self._make_icon()
        self.monitor.alertRaised.connect(self.show_alert)
        self.monitor.failed.connect(lambda text: window.status.showMessage(text, 15000))

    def _make_icon(self) -> QSystemTrayIcon:
        icon = QSystemTrayIcon(QIcon(str(paths.resource_path("icon.png"))), self.window)
        icon.setToolTip("Callback Monitor")
        menu = QMenu(self.window)
        menu.addAction("Show Callback Monitor", self.raise_window)
        menu.addAction(self.settings_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        icon.setContextMenu(menu)
        icon.activated.connect(lambda _reason: self.raise_window())
        icon.messageClicked.connect(self.raise_window)
        icon.show()
        return icon

    def start(self) -> AlertTray:
        self.monitor.start()
        return self

    def shutdown(self) -> None:
        self.monitor.stop()
        if self.icon is not None:
            self.icon.hide()

    def raise_window(self) -> None:
        window: QMainWindow = self.window
        window.showNormal()
        window.raise_()
        window.activateWindow()

    def show_alert(self, alert: Alert) -> None:
        log.warning("alert: %s: %s", alert.title, alert.text)
        self.notice.show_alert(alert)
        self.window.status.showMessage(f"{alert.title}: {alert.text}", NOTIFICATION_MS)
        if self.icon is not None:
            self.icon.showMessage(
                alert.title, alert.text, QSystemTrayIcon.MessageIcon.Warning, NOTIFICATION_MS
            )
        app = QApplication.instance()
        if isinstance(app, QApplication) and not self.window.isActiveWindow():
            QApplication.alert(self.window)  # the taskbar entry asks for attention

    def edit_thresholds(self) -> None:
        """Open the dialog (non-modal: tests and people answer it through its buttons)."""
        if self.dialog is not None:
            self.dialog.raise_()
            return
        dialog = AlertSettingsDialog(self.window.settings, self.window)
        self.dialog = dialog

        def done(result: int) -> None:
            if result:
                self.monitor.set_thresholds(dialog.thresholds)
                self.window.status.showMessage("Alert thresholds saved.", 5000)
            self.dialog = None
            dialog.deleteLater()

        dialog.finished.connect(done)
        dialog.open()


def install(window: MainWindow) -> AlertTray:
    """Alerts for ``window``'s receiver, started; Twilio's Monitor alerts that reconciliation fetches
    ("Twilio cannot reach the app") feed its rules."""
    tray = AlertTray(window).start()
    window.reconcile.alertsFetched.connect(tray.monitor.twilio_alerts)
    window.also_on_shutdown(tray.shutdown)
    return tray
