"""Page 7: send one real message with its status callback on the public URL and watch the
callbacks arrive here, live. Proves the whole path: Twilio → tunnel → receiver → database → GUI."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
)

from desktop.wizard.base import AsyncPage, Job, WizardState
from desktop.wizard.context import SetupContext
from receiver import errors
from receiver.sandbox import WHATSAPP_SANDBOX_NUMBER
from receiver.sending import send_message
from receiver.webhook_paths import STATUS_PATH
from receiver.webhook_targets import Targets

NO_STATUS_AFTER_S = 30  # Twilio posts "sent" within seconds; after this long something is in the way
SANDBOX_FROM = f"whatsapp:{WHATSAPP_SANDBOX_NUMBER}"


def sender_choices(targets: Targets | None) -> list[tuple[str, str]]:
    """(label, sender) for every way to send: Messaging Services (MG…), numbers, the Sandbox."""
    out: list[tuple[str, str]] = []
    for service in targets.services if targets else []:
        out.append((f"Messaging Service {service.name}", service.sid))
    for number in targets.numbers if targets else []:
        out.append((f"Number {number.name}", number.phone_number))
    out.append(("WhatsApp Sandbox (+1 415 523 8886)", SANDBOX_FROM))
    return out


def send_and_record(ctx: SetupContext, to: str, body: str, sender: str) -> dict[str, Any]:
    """Send (background thread), then store the message with the status the API returned.

    ``sender`` is a Messaging Service SID (MG…) or a From address (+1…, whatsapp:+1…)."""
    service = sender.startswith("MG")
    base = ctx.tunnel.public_url or ctx.controller.webhook_base
    row = send_message(
        ctx.client(),
        to=to,
        body=body,
        from_=None if service else sender,
        messaging_service_sid=sender if service else None,
        status_callback=f"{base}{STATUS_PATH}",
    )
    ctx.store().record_outbound(row)
    return row


class SendTestPage(AsyncPage):
    def __init__(self, ctx: SetupContext, state: WizardState) -> None:
        super().__init__(
            ctx,
            state,
            "Send a test message",
            "Send one message to a phone you have at hand. Its delivery statuses should appear below "
            "within seconds; if they don't, the path from Twilio to this computer is broken.",
        )
        self.to = QLineEdit()
        self.to.setPlaceholderText("+14155550123, or whatsapp:+14155550123")
        self.sender_box = QComboBox()
        self.body = QLineEdit("Test message from Callback Monitor")
        self.send = QPushButton("Send test message")
        self.send.clicked.connect(self.send_now)
        self.sid = QLabel(wordWrap=True)
        self.sid.setObjectName("sent_line")
        self.waiting = QLabel(wordWrap=True)  # still waiting, or what to check when nothing comes
        self.waiting.setObjectName("waiting_line")
        self.events = QListWidget()
        self.events.setWordWrap(True)
        self._clock = QElapsedTimer()
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._show_waiting)
        form = QFormLayout()
        form.addRow("To", self.to)
        form.addRow("From", self.sender_box)
        form.addRow("Text", self.body)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.send)
        layout.addWidget(self.busy)
        layout.addWidget(self.sid)
        layout.addWidget(self.waiting)
        layout.addWidget(QLabel("Statuses received for it:"))
        layout.addWidget(self.events, 1)
        ctx.controller.dataChanged.connect(self.refresh)

    def initializePage(self) -> None:
        self.sender_box.clear()
        for label, data in sender_choices(self.state.targets):
            self.sender_box.addItem(label, data)

    def send_now(self) -> None:
        to, body = self.to.text().strip(), self.body.text()
        if not to:
            self.busy.fail("Enter the phone number to send to (E.164, e.g. +14155550123).")
            return
        sender = self.sender_box.currentData()
        # a new attempt: nothing about the previous message may stay on screen as if it were this one
        self.state.sent_sid = None
        self._tick.stop()
        self.sid.clear()
        self.waiting.clear()
        self.events.clear()
        self.run_job(
            Job(f"Sending to {to}…", lambda: send_and_record(self.ctx, to, body, sender), self._sent)
        )

    def _sent(self, row: dict[str, Any]) -> None:
        self.state.sent_sid = str(row["sid"])
        self.sid.setText(f"Sent {row['sid']}: Twilio accepted it as “{row['status']}”.")
        self._clock.start()
        self._tick.start()
        self._show_waiting()
        self.ctx.controller.notify_changed()
        self.refresh()

    def _show_waiting(self) -> None:
        if self.events.count():
            self._tick.stop()
            self.waiting.clear()
            return
        seconds = self._clock.elapsed() // 1000
        if seconds < NO_STATUS_AFTER_S:
            self.waiting.setText(f"Waiting for the first status callback… ({seconds} s)")
            return
        self._tick.stop()
        base = self.ctx.tunnel.public_url or "(no public URL)"
        self.waiting.setText(
            f"No status callback after {NO_STATUS_AFTER_S} s. Check: that {base} still reaches this "
            "computer (the status bar shows the tunnel); the Requests tab, where a rejected callback "
            "(403: signature) shows up; and Twilio Console → Monitor → Logs → Errors for error 11200 "
            "(Twilio could not reach the URL)."
        )

    def statuses(self) -> list[str]:
        return [self.events.item(i).text().split(" ", 1)[0] for i in range(self.events.count())]

    def refresh(self) -> None:
        """Show every status callback stored for the test message (a cheap indexed query)."""
        sid = self.state.sent_sid
        if not sid or self.ctx.controller.store is None:
            return
        rows = (
            self.ctx.controller.reader()
            .execute(
                "SELECT status, error_code, received_at FROM events WHERE message_sid = ? ORDER BY id",
                (sid,),
            )
            .fetchall()
        )
        self.events.clear()
        for status, error_code, received_at in rows:
            entry = errors.lookup(error_code)
            error = f" (error {entry.code}: {entry.title})" if entry else ""
            self.events.addItem(f"{status}{error}  — received {received_at[11:19]} UTC")
            if entry:
                item = self.events.item(self.events.count() - 1)
                item.setToolTip(f"{entry.cause}\n\nWhat to do: {entry.action}\n{entry.url}")
        if rows:
            self._show_waiting()
