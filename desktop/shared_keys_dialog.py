"""Shared signing keys (Twilio's Webhooks configuration API): key id + secret, kept in the keyring.

A webhook whose URL matches a Webhook Rule with a signing Setting is signed with that Setting's shared key
(HMAC-SHA256) instead of the auth token, and names the key in ``X-Twilio-Webhooks-Signature-Settings``.
The receiver checks it with the secret saved here; a request naming a key that is not listed is refused
with that diagnosis. Secrets are never shown again once saved: the list shows key ids only.
"""

from __future__ import annotations

import re

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.receiver_controller import ReceiverController
from receiver.secrets import get_shared_keys, set_shared_keys

KEY_ID_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")
WHY = (
    "Twilio signs webhooks with a shared key instead of your auth token when a Webhook Rule "
    "(Webhooks configuration API, public beta) matches their URL. Add each key's id and secret here; "
    "webhooks without a shared-key header are still checked with the auth token."
)


class SharedKeysDialog(QDialog):
    """Add and remove shared keys; Save writes them to the keyring and tells the receiver."""

    def __init__(self, controller: ReceiverController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Shared signing keys")
        self.setObjectName("shared_keys_dialog")
        self.controller = controller
        self.keys: dict[str, str] = get_shared_keys(controller.secrets)
        self.saved_where: str | None = None  # after Save: "keyring", "weak-file" or "session"

        why = QLabel(WHY, self)
        why.setWordWrap(True)
        self.list = QListWidget(self)
        self.list.setObjectName("shared_keys_list")
        self.remove_button = QPushButton("Remove selected", self)
        self.remove_button.setObjectName("remove_key")
        self.remove_button.clicked.connect(self._remove)

        self.key_id = QLineEdit(self)
        self.key_id.setObjectName("key_id")
        self.key_id.setPlaceholderText("e.g. webhooks_sharedkey_…")
        self.secret = QLineEdit(self)
        self.secret.setObjectName("key_secret")
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.add_button = QPushButton("Add key", self)
        self.add_button.setObjectName("add_key")
        self.add_button.clicked.connect(self._add)
        self.message = QLabel(self)
        self.message.setObjectName("shared_keys_message")
        self.message.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Key id:", self.key_id)
        form.addRow("Secret:", self.secret)
        add_row = QHBoxLayout()
        add_row.addStretch(1)
        add_row.addWidget(self.add_button)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(why)
        layout.addWidget(QLabel("Keys (secrets are not shown):", self))
        layout.addWidget(self.list)
        layout.addWidget(self.remove_button)
        layout.addLayout(form)
        layout.addLayout(add_row)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.resize(520, 420)
        self._refresh()

    def _refresh(self) -> None:
        self.list.clear()
        self.list.addItems(sorted(self.keys))
        self.remove_button.setEnabled(bool(self.keys))

    def _add(self) -> None:
        key_id, secret = self.key_id.text().strip(), self.secret.text().strip()
        if not KEY_ID_RE.match(key_id):
            self.message.setText(
                "Enter the key id as Twilio shows it (letters, digits, '_', '-', '.'), then its secret."
            )
            self.key_id.setFocus()
            return
        if not secret:
            self.message.setText(f"Enter the secret of {key_id}: it is what the signature is checked with.")
            self.secret.setFocus()
            return
        replaced = key_id in self.keys
        self.keys[key_id] = secret
        self.key_id.clear()
        self.secret.clear()
        self.message.setText(f"{key_id} {'replaced' if replaced else 'added'}: press Save to keep it.")
        self._refresh()

    def _remove(self) -> None:
        for item in self.list.selectedItems():
            self.keys.pop(item.text(), None)
        self.message.setText("Removed: press Save to keep the change.")
        self._refresh()

    def _save(self) -> None:
        if self.key_id.text().strip() or self.secret.text().strip():
            self._add()  # typed but not added yet: the operator meant it
            if self.key_id.text().strip() or self.secret.text().strip():
                return  # the message says what is missing
        where = set_shared_keys(self.controller.secrets, self.keys)
        self.controller.set_shared_keys(self.keys)
        self.saved_where = where
        self.accept()
