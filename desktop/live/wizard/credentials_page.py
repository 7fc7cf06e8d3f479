"""Page 1: Twilio credentials, checked against the API before the wizard moves on."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout

from desktop.live.context import SetupContext
from desktop.live.credentials_dialog import CredentialsForm
from desktop.live.wizard.base import AsyncPage, WizardState
from receiver.twilio_client import AccountInfo


class CredentialsPage(AsyncPage):
    def __init__(self, ctx: SetupContext, state: WizardState) -> None:
        super().__init__(
            ctx,
            state,
            "Twilio credentials",
            "The monitor reads and changes your numbers' webhook settings with these. They are checked "
            "with Twilio before they are kept.",
        )
        self.form = CredentialsForm(ctx.secrets, ctx.runner, ctx.client_factory, self)
        self.form.verified.connect(self._verified)
        self.form.failed.connect(lambda _m: self.completeChanged.emit())
        self._checked: object = None
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)

    def isComplete(self) -> bool:
        return not self.form.busy.busy

    def before_next(self) -> bool:
        if self.state.account is not None and self._checked == self._snapshot():
            return True
        self.form.check()
        self.completeChanged.emit()
        return False

    def _snapshot(self) -> object:
        return (self.form.credentials(), self.form.primary_token.text())

    def _verified(self, info: AccountInfo) -> None:
        self.state.account = info
        self._checked = self._snapshot()
        self.completeChanged.emit()
        self.advance()
