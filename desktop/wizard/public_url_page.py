"""Page 2: the public URL Twilio will call — an ngrok tunnel started here, or the operator's own."""

from __future__ import annotations

from PySide6.QtWidgets import QButtonGroup, QLabel, QLineEdit, QRadioButton, QVBoxLayout

from desktop.wizard.base import AsyncPage, WizardState
from desktop.wizard.context import SetupContext
from desktop.wizard.own_url import OWN_URL_HELP
from desktop.wizard.tunnel_form import TunnelSettingsForm
from receiver.tunnel import TunnelError
from receiver.twilio_client import SetupError


class PublicUrlPage(AsyncPage):
    def __init__(self, ctx: SetupContext, state: WizardState) -> None:
        super().__init__(
            ctx,
            state,
            "Public URL",
            "Twilio must reach the monitor from the internet. Start an ngrok tunnel, or give the address "
            "of your own reverse proxy or tunnel.",
        )
        self.use_tunnel = QRadioButton("Start an ngrok tunnel from this app")
        self.use_own = QRadioButton("Use my own public URL")
        group = QButtonGroup(self)
        group.addButton(self.use_tunnel)
        group.addButton(self.use_own)
        self.tunnel_form = TunnelSettingsForm(ctx.settings, ctx.secrets, self)
        self.own_url = QLineEdit(str(ctx.settings.value("tunnel/own_url", "") or ""))
        self.own_url.setPlaceholderText("https://monitor.example.com")
        self.own_help = QLabel(OWN_URL_HELP, wordWrap=True)
        self.current = QLabel(wordWrap=True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.use_tunnel)
        layout.addWidget(self.tunnel_form)
        layout.addSpacing(8)
        layout.addWidget(self.use_own)
        layout.addWidget(self.own_url)
        layout.addWidget(self.own_help)
        layout.addSpacing(8)
        layout.addWidget(self.current)
        layout.addWidget(self.busy)
        layout.addStretch(1)
        (self.use_own if ctx.tunnel.mode == "own" else self.use_tunnel).setChecked(True)
        self.use_tunnel.toggled.connect(self._sync)
        ctx.tunnel.failed.connect(self._tunnel_failed)
        self._sync()

    def initializePage(self) -> None:
        self._show_current()

    def _sync(self) -> None:
        tunnel = self.use_tunnel.isChecked()
        self.tunnel_form.setEnabled(tunnel)
        self.own_url.setEnabled(not tunnel)
        self.own_help.setEnabled(not tunnel)

    def _show_current(self) -> None:
        url = self.ctx.tunnel.public_url
        self.current.setText(
            f"Twilio will call: <b>{url}</b>" if url else "No public URL yet: Next starts the tunnel."
        )

    def before_next(self) -> bool:
        if self.use_own.isChecked():
            try:
                self.ctx.tunnel.use_own_url(self.own_url.text())
            except SetupError as exc:
                self.busy.fail(exc.message)
                return False
            self.busy.clear()
            return True
        self.tunnel_form.save()
        if self.ctx.tunnel.mode == "tunnel" and self.ctx.tunnel.public_url:
            return True
        self.busy.start("Starting the ngrok tunnel…")
        self.completeChanged.emit()
        self.ctx.tunnel.start(on_done=self._tunnel_up)
        return False

    def _tunnel_up(self, url: str) -> None:
        self.busy.done(f"Tunnel up: {url}")
        self._show_current()
        self.completeChanged.emit()
        self.advance()

    def _tunnel_failed(self, error: TunnelError) -> None:
        if not self.busy.busy:
            return
        self.busy.fail(f"{error.message}\nWhat to do: {error.advice}")
        self.completeChanged.emit()
