"""Page 2: the public URL Twilio will call — an ngrok tunnel started here, or the operator's own."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QButtonGroup, QCheckBox, QLabel, QRadioButton, QVBoxLayout

from desktop.live.context import SetupContext
from desktop.live.own_url import OWN_URL_HELP, ReplacingLineEdit, forward_text
from desktop.live.tunnel_form import TunnelSettingsForm
from desktop.live.wizard.base import AsyncPage, Job, WizardState
from receiver.own_url import check_own_url
from receiver.reachability import Reach
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
        self.own_url = ReplacingLineEdit(str(ctx.settings.value("tunnel/own_url", "") or ""))
        self.own_url.setPlaceholderText("https://monitor.example.com")
        self.own_url.textEdited.connect(lambda _t: self._url_edited())
        self.own_help = QLabel(OWN_URL_HELP, wordWrap=True)
        self.forward = QLabel(wordWrap=True)
        self.own_anyway = QCheckBox("Use it although it was not confirmed to reach this receiver")
        self.own_anyway.hide()
        self.current = QLabel(wordWrap=True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.use_tunnel)
        layout.addWidget(self.tunnel_form)
        layout.addSpacing(8)
        layout.addWidget(self.use_own)
        layout.addWidget(self.own_url)
        layout.addWidget(self.own_help)
        layout.addWidget(self.forward)
        layout.addWidget(self.own_anyway)
        layout.addSpacing(8)
        layout.addWidget(self.current)
        layout.addWidget(self.busy)
        layout.addStretch(1)
        (self.use_own if ctx.tunnel.mode == "own" else self.use_tunnel).setChecked(True)
        self.use_tunnel.toggled.connect(self._sync)
        ctx.tunnel.failed.connect(self._tunnel_failed)
        self._sync()

    def initializePage(self) -> None:
        self.forward.setText(forward_text(self.ctx.controller.port))
        self._show_current()

    def _sync(self) -> None:
        tunnel = self.use_tunnel.isChecked()
        self.tunnel_form.setEnabled(tunnel)
        self.own_url.setEnabled(not tunnel)
        self.own_help.setEnabled(not tunnel)
        self.forward.setEnabled(not tunnel)
        self._show_current()

    def _url_edited(self) -> None:
        self.own_anyway.setChecked(False)
        self.own_anyway.hide()

    def _show_current(self) -> None:
        """What Next will do with the option that is ticked now (never the other one's story)."""
        tunnel = self.ctx.tunnel
        if self.use_own.isChecked():
            if tunnel.mode == "own" and tunnel.public_url:
                text = f"Twilio will call: <b>{tunnel.public_url}</b>"
            else:
                text = "Next checks that the URL above reaches this receiver, then uses it."
        elif tunnel.mode == "tunnel" and tunnel.public_url:
            text = f"Twilio will call the tunnel: <b>{tunnel.public_url}</b>"
        else:
            text = "No tunnel yet: Next starts it."
        self.current.setText(text)

    def before_next(self) -> bool | Job:
        if self.use_own.isChecked():
            try:
                url = check_own_url(self.own_url.text())
            except SetupError as exc:
                self.busy.fail(exc.message)
                return False
            probe = self.ctx.probe
            if probe is None or self.own_anyway.isChecked():
                self.ctx.tunnel.use_own_url(url)
                self.busy.clear()
                return True
            return Job(f"Checking that {url} reaches this receiver…", lambda: probe(url), self._reached(url))
        self.tunnel_form.save()
        if self.ctx.tunnel.mode == "tunnel" and self.ctx.tunnel.public_url:
            return True
        self.busy.start("Starting the ngrok tunnel…")
        self.completeChanged.emit()
        self.ctx.tunnel.start(on_done=self._tunnel_up)
        return False

    def _reached(self, url: str) -> Callable[[Reach], None]:
        def done(reach: Reach) -> None:
            if not reach.ok:
                self.own_anyway.show()
                raise SetupError(reach.message)  # shown on the page; the wizard stays here
            self.ctx.tunnel.use_own_url(url)
            self._show_current()

        return done

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
