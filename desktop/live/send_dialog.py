"""Tools → Send message…: one message through the REST API, with its status callback on the monitor's
public URL, stored at once with the status the API returned (Twilio sends no callback for it)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.live.context import SetupContext
from desktop.workers import BusyLine
from receiver.send_test_message import sender_choices
from receiver.webhook_targets import Targets


class SendDialog(QDialog):
    """To, From (number, Messaging Service or the WhatsApp Sandbox, or typed), body.

    ``sent`` holds the stored row once Twilio accepted the message; the dialog then closes.
    """

    def __init__(
        self, ctx: SetupContext, targets: Targets | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.sent: dict[str, Any] | None = None
        self.setWindowTitle("Send message")
        self.to = QLineEdit()
        self.to.setPlaceholderText("+14155550123, or whatsapp:+14155550123")
        self.sender_box = QComboBox()
        self.sender_box.setEditable(True)
        line = self.sender_box.lineEdit()
        if line is not None:
            line.setPlaceholderText("+15550001234, or MG… for a Messaging Service")
        for label, data in sender_choices(targets):
            self.sender_box.addItem(label, data)
        self.body = QPlainTextEdit()
        self.body.setPlaceholderText("Message text")
        self.busy = BusyLine(self)
        form = QFormLayout()
        form.addRow("To", self.to)
        form.addRow("From", self.sender_box)
        form.addRow("Text", self.body)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button = buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.send)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.busy)
        layout.addWidget(buttons)
        self.resize(520, 300)

    def sender_value(self) -> str:
        """The chosen sender: a listed choice, or what was typed (a number, or MG… for a service)."""
        text = self.sender_box.currentText().strip()
        index = self.sender_box.findText(text)
        data = self.sender_box.itemData(index) if index >= 0 else None
        return str(data) if data else text

    def send(self) -> None:
        if self.busy.busy:
            return
        to, body, sender = self.to.text().strip(), self.body.toPlainText(), self.sender_value()
        if not to or not sender:
            self.busy.fail("Enter who to send to and who sends it (a number, a Messaging Service).")
            return
        self.busy.start(f"Sending to {to}…")
        self.send_button.setEnabled(False)
        self.ctx.runner.run(
            "send-message", lambda: self.ctx.send_and_record(to, body, sender), self._done, self._failed
        )

    def _done(self, row: dict[str, Any]) -> None:
        self.sent = row
        self.ctx.controller.notify_changed()
        self.busy.done(f"Sent {row['sid']} ({row['status']}).")
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.send_button.setEnabled(True)
        self.busy.fail(str(exc))
