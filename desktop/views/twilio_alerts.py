"""Twilio's Monitor alerts about this app's webhooks (stored by reconciliation, read by
``Reader.twilio_alerts``).

A short list (newest first: when, error, the URL Twilio called, the message); the selected alert's
details below it: Twilio's text, the variables it sent and the response it saw from the webhook. A
double-click on an alert that names a message opens that message in the Messages tab.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.formatting import local_time
from receiver.store import Reader
from receiver.store.alerts_reads import StoredAlert

HEADERS = ("When", "Error", "Request URL", "Message")
SID_ROLE = Qt.ItemDataRole.UserRole


def details_text(alert: StoredAlert) -> str:
    """What the operator reads about one alert: Twilio's words, what it sent, what it got back."""
    details = alert.details
    parts = [
        f"Error {alert.error_code} ({alert.log_level or 'error'}) at {alert.date_created} UTC",
        f"{alert.request_method or ''} {alert.request_url or '(no request URL)'}".strip(),
        "",
        "Twilio says:",
        *(f"  {k}: {v}" for k, v in parse_qsl(alert.alert_text or "", keep_blank_values=True)),
    ]
    if details.get("request_variables"):
        parts += ["", "Twilio sent:"]
        parts += [f"  {k} = {v}" for k, v in parse_qsl(details["request_variables"], keep_blank_values=True)]
    parts += ["", "The response Twilio saw:"]
    if details.get("response_headers"):
        parts += [f"  {k}: {v}" for k, v in parse_qsl(details["response_headers"], keep_blank_values=True)]
    parts.append(details.get("response_body") or "  (no response body: the connection failed or timed out)")
    return "\n".join(parts)


class TwilioAlertsDialog(QDialog):
    """The stored alerts, read through ``read()`` (the GUI thread's Reader: at most 500 short rows).

    Signals: messageRequested(str) with the SID of a double-clicked alert's message."""

    messageRequested = Signal(str)

    def __init__(self, read: Callable[[], Reader], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Twilio alerts about this app's webhooks")
        self.resize(900, 560)
        self._read = read
        self.list = QTreeWidget(self)
        self.list.setHeaderLabels(list(HEADERS))
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.setColumnWidth(0, 170)
        self.list.setColumnWidth(2, 380)
        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        self.empty = QLabel(
            "No alerts stored. Reconciliation (Tools → Reconcile with Twilio…) fetches them from Twilio.",
            self,
        )
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.list)
        split.addWidget(self.details)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(split, 1)
        layout.addWidget(buttons)
        self.alerts: list[StoredAlert] = []
        self.list.currentItemChanged.connect(self._show)
        self.list.itemDoubleClicked.connect(self._open)
        self.reload()

    def reload(self) -> None:
        self.alerts = self._read().twilio_alerts()
        self.list.clear()
        for alert in self.alerts:
            item = QTreeWidgetItem(
                [
                    local_time(alert.date_created),
                    str(alert.error_code or ""),
                    alert.request_url or "",
                    alert.message_sid or "",
                ]
            )
            item.setData(0, SID_ROLE, alert.sid)
            if alert.message_sid:
                item.setToolTip(3, "Double-click to open this message")
            self.list.addTopLevelItem(item)
        self.empty.setVisible(not self.alerts)

    @Slot(QTreeWidgetItem, QTreeWidgetItem)
    def _show(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        alert = self._alert(item)
        self.details.setPlainText(details_text(alert) if alert else "")

    @Slot(QTreeWidgetItem, int)
    def _open(self, item: QTreeWidgetItem, _column: int) -> None:
        alert = self._alert(item)
        if alert and alert.message_sid:
            self.messageRequested.emit(alert.message_sid)

    def _alert(self, item: QTreeWidgetItem | None) -> StoredAlert | None:
        if item is None:
            return None
        sid = item.data(0, SID_ROLE)
        return next((a for a in self.alerts if a.sid == sid), None)
