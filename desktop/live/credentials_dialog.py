"""Twilio credentials: entered once, checked against the API (off the GUI thread), kept in the keyring
(or, where there is none, in the weaker file store the operator accepted, or for the session).

Two ways in: Account SID + Auth Token, or an API key (SID + secret) + Account SID. Webhook signatures
are always made with the account's *primary Auth Token*, never with an API key, so with API key
credentials the form asks for that token separately (it is what ``TWILIO_AUTH_TOKEN`` holds and what
the receiver validates with). Secrets go through ``SecretStore``; where no keyring exists they stay in
memory for this session unless the operator ticks "accept a weaker store".
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.workers import BusyLine, TaskRunner
from receiver import secrets as keys
from receiver.credentials import ClientFactory, check_credentials, load_credentials, save_credentials
from receiver.secrets import SecretStore
from receiver.twilio_client import AccountInfo, Credentials

PRIMARY_TOKEN_WHY = (
    "Twilio signs every webhook with the account's primary Auth Token, never with an API key. "
    "The monitor needs that token to check that callbacks really come from Twilio; without it every "
    "callback is rejected (unless you turn signature validation off)."
)


class CredentialsForm(QWidget):
    """The fields, the keyring note and the check; used by the dialog and by the wizard's first page.

    Signals:
        verified(object): the API accepted the credentials and they were kept; the ``AccountInfo``.
        failed(str): the check failed; the message shown to the operator.
    """

    verified = Signal(object)
    failed = Signal(str)

    def __init__(
        self, secrets: SecretStore, runner: TaskRunner, factory: ClientFactory, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.secrets = secrets
        self.runner = runner
        self.factory = factory
        self.account: AccountInfo | None = None

        self.use_token = QRadioButton("Account SID and Auth Token")
        self.use_key = QRadioButton("API key (SID and secret)")
        self.mode = QButtonGroup(self)
        self.mode.addButton(self.use_token)
        self.mode.addButton(self.use_key)
        self.account_sid = QLineEdit(placeholderText="AC… (Twilio Console → Account info)")
        self.auth_token = _secret_field("32 characters (Account info → Auth Token → show)")
        self.key_sid = QLineEdit(placeholderText="SK… (Console → API keys & tokens)")
        self.key_secret = _secret_field("shown once, when the key was created")
        self.primary_token = _secret_field("the account's primary Auth Token")
        self.primary_why = QLabel(PRIMARY_TOKEN_WHY, wordWrap=True)
        self.where = QLabel(secrets.status(), wordWrap=True)
        self.accept_weak = QCheckBox(
            "Accept a weaker store: keep them in a plain-text file only my user account can read"
        )
        self.accept_weak.setVisible(secrets.where == "session")
        self.busy = BusyLine(self)

        form = QFormLayout()
        form.addRow("Account SID", self.account_sid)
        form.addRow("Auth Token", self.auth_token)
        form.addRow("API key SID", self.key_sid)
        form.addRow("API key secret", self.key_secret)
        form.addRow("Primary Auth Token", self.primary_token)
        form.addRow("", self.primary_why)
        self._form = form
        layout = QVBoxLayout(self)
        layout.addWidget(self.use_token)
        layout.addWidget(self.use_key)
        layout.addLayout(form)
        layout.addWidget(self.where)
        layout.addWidget(self.accept_weak)
        layout.addWidget(self.busy)
        layout.addStretch(1)

        self._fill(load_credentials(secrets))
        # a known primary token stays known when switching to an API key (it still signs webhooks)
        self.primary_token.setText(secrets.get(keys.TWILIO_AUTH_TOKEN) or "")
        self.use_key.toggled.connect(self._sync_mode)
        self._sync_mode()

    def _fill(self, creds: Credentials | None) -> None:
        if creds is None:
            self.use_token.setChecked(True)
            return
        self.account_sid.setText(creds.account_sid)
        if creds.uses_api_key:
            self.use_key.setChecked(True)
            self.key_sid.setText(creds.api_key_sid or "")
            self.key_secret.setText(creds.api_key_secret or "")
        else:
            self.use_token.setChecked(True)
            self.auth_token.setText(creds.auth_token or "")

    def _sync_mode(self) -> None:
        key = self.use_key.isChecked()
        if key and not self.primary_token.text() and self.auth_token.text():
            self.primary_token.setText(self.auth_token.text())  # the token typed above is the primary one
        for widget, visible in (
            (self.auth_token, not key),
            (self.key_sid, key),
            (self.key_secret, key),
            (self.primary_token, key),
            (self.primary_why, key),
        ):
            self._form.setRowVisible(widget, visible)

    def credentials(self) -> Credentials:
        if self.use_key.isChecked():
            return Credentials(
                self.account_sid.text().strip(),
                api_key_sid=self.key_sid.text().strip(),
                api_key_secret=self.key_secret.text(),
            )
        return Credentials(self.account_sid.text().strip(), auth_token=self.auth_token.text())

    def check(self) -> None:
        """Verify against the API in the background; keep the credentials if Twilio accepts them."""
        if self.busy.busy:
            return
        creds = self.credentials()
        primary = self.primary_token.text().strip() if creds.uses_api_key else None
        problems = creds.problems()
        if problems:
            self._failed(" ".join(problems))
            return
        self.busy.start("Checking the credentials with Twilio…")
        self.runner.run(
            "verify-credentials",
            lambda: check_credentials(self.factory, creds, primary),
            lambda info: self._ok(info, creds, primary),
            lambda exc: self._failed(str(exc)),
        )

    def _ok(self, info: AccountInfo, creds: Credentials, primary: str | None) -> None:
        where = save_credentials(self.secrets, creds, primary, self.accept_weak.isChecked())
        self.account = info
        place = {
            "keyring": "saved in the system keyring",
            "weak-file": "saved in a plain-text file only you can read",
            "session": "kept for this session only (no keyring)",
        }[where]
        note = f"Connected to “{info.friendly_name}” ({info.type}, {info.status}); {place}."
        if creds.uses_api_key and not primary:
            note += " No primary Auth Token: callbacks will fail signature validation."
        self.busy.done(note)
        self.where.setText(self.secrets.status())
        self.accept_weak.setVisible(self.secrets.where == "session")
        self.verified.emit(info)

    def _failed(self, message: str) -> None:
        self.busy.fail(message)
        self.failed.emit(message)


def _secret_field(placeholder: str) -> QLineEdit:
    field = QLineEdit(placeholderText=placeholder)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


class CredentialsDialog(QDialog):
    """Tools → Twilio credentials…: the form with "Check and save"; closes once Twilio accepted them."""

    def __init__(
        self,
        secrets: SecretStore,
        runner: TaskRunner,
        factory: ClientFactory,
        parent: QWidget | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Twilio credentials")
        self.reason = QLabel(reason, wordWrap=True)
        self.reason.setVisible(bool(reason))
        self.form = CredentialsForm(secrets, runner, factory, self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save = buttons.addButton("Check and save", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.form.check)
        buttons.rejected.connect(self.reject)
        self.form.verified.connect(lambda _info: self.accept())
        layout = QVBoxLayout(self)
        layout.addWidget(self.reason)
        layout.addWidget(self.form)
        layout.addWidget(buttons)
        self.resize(600, 460)
