"""Page 6: the WhatsApp Sandbox, whose webhook URLs no API can set: exact URLs to paste, with copy
buttons, and the steps in the Twilio Console (``sandbox.sandbox_instructions``)."""

from __future__ import annotations

import html

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from desktop.live.context import SetupContext
from desktop.live.wizard.base import AsyncPage, WizardState
from receiver.sandbox import sandbox_instructions
from receiver.twilio_client import SetupError


def _copy_row(edit: QLineEdit, parent: QWidget) -> QHBoxLayout:
    edit.setReadOnly(True)
    button = QPushButton("Copy", parent)
    button.clicked.connect(lambda: QGuiApplication.clipboard().setText(edit.text()))
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row


class SandboxPage(AsyncPage):
    def __init__(self, ctx: SetupContext, state: WizardState) -> None:
        super().__init__(
            ctx,
            state,
            "WhatsApp Sandbox (optional)",
            "Twilio has no API for the Sandbox's webhooks: if you test with the WhatsApp Sandbox, paste "
            "these two URLs in the Console. Skip this page otherwise. The monitor cannot put the "
            "Sandbox's previous URLs back either: note them before you paste, and restore them by hand.",
        )
        self.inbound = QLineEdit()
        self.status = QLineEdit()
        self.steps = QLabel(wordWrap=True)
        self.steps.setOpenExternalLinks(True)
        form = QFormLayout()
        form.addRow("When a message comes in", _copy_row(self.inbound, self))
        form.addRow("Status callback URL", _copy_row(self.status, self))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.steps)
        layout.addWidget(self.busy)
        layout.addStretch(1)

    def initializePage(self) -> None:
        try:
            info = sandbox_instructions(self.ctx.tunnel.public_url or "")
        except SetupError as exc:
            self.busy.fail(exc.message)
            return
        self.inbound.setText(info.inbound_url)
        self.status.setText(info.status_url)
        link = f"<a href='{info.console_url}'>Open the Sandbox settings in the Twilio Console</a>"
        steps = "".join(f"<li>{html.escape(s)}</li>" for s in info.steps[1:])
        self.steps.setText(f"{link}<ol>{steps}</ol>")
