"""File → Connect to a team database…: the URL, the password, Connect.

The connection is tried off the GUI thread (``TaskRunner``); each way it can fail has its own sentence
(receiver/store/pg/attach.py). Only once it works is the password kept, in the keyring under the role's
entry (``PostgresTarget.keyring_name``), and the URL (which holds no secret) in the settings.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.workers import TaskRunner
from receiver.secrets import SecretStore
from receiver.store.pg.attach import check
from receiver.store.url import PostgresTarget, StoreURLError, parse

WHY = (
    "Show a team database: the messages that your team's receivers (callback-monitor serve --store …) "
    "write to PostgreSQL, live. This desktop only reads it; the password is kept in this computer's "
    "keyring, never in a file."
)
EXAMPLE = "postgresql://cm_viewer@db.example.com/callbacks?sslmode=verify-full"


class ConnectTeamDialog(QDialog):
    """Ask for a team database and check it; ``connected(url)`` once it works (then the dialog closes).

    Signals:
        connected(str): the URL of a database this desktop can show (its password, if typed, is kept).
    """

    connected = Signal(str)

    def __init__(self, secrets: SecretStore, url: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to a team database")
        self.setObjectName("team_dialog")
        self.secrets = secrets
        self.tasks = TaskRunner(self)
        why = QLabel(WHY, self)
        why.setWordWrap(True)
        self.url = QLineEdit(url, self)
        self.url.setObjectName("team_url")
        self.url.setPlaceholderText(EXAMPLE)
        self.url.setMinimumWidth(460)
        self.password = QLineEdit(self)
        self.password.setObjectName("team_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(
            "kept in the keyring (empty: the saved one, PGPASSWORD or ~/.pgpass)"
        )
        self.message = QLabel(self)
        self.message.setObjectName("team_message")
        self.message.setWordWrap(True)
        self.message.hide()
        form = QFormLayout()
        form.addRow("Database URL:", self.url)
        form.addRow("Password:", self.password)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.connect_button = self.buttons.addButton("Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        self.connect_button.setObjectName("team_connect")
        self.connect_button.setDefault(True)
        self.buttons.accepted.connect(self.try_connect)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(why)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def say(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def try_connect(self) -> None:
        """Check the URL now and the database off the GUI thread; Connect stays off meanwhile."""
        try:
            target = parse(self.url.text().strip())
        except StoreURLError as exc:
            self.say(f"This URL cannot be used: {exc}.")
            return
        if not isinstance(target, PostgresTarget):
            self.say(f"Give a postgresql:// URL, for example {EXAMPLE}")
            return
        typed = self.password.text()
        password = typed or self.secrets.get(target.keyring_name)
        self.connect_button.setEnabled(False)
        self.say(f"Connecting to {target.host}:{target.port}…")

        def works(_: None) -> None:
            self.connect_button.setEnabled(True)
            if not self.isVisible():  # canceled while connecting
                return
            if typed:
                self.secrets.set(target.keyring_name, typed)
            self.connected.emit(target.url)
            self.accept()

        def fails(exc: BaseException) -> None:
            self.connect_button.setEnabled(True)
            self.say(str(exc))

        self.tasks.run("team-check", lambda: check(target, password), on_done=works, on_error=fails)
