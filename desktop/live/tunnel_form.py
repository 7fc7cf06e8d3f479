"""ngrok settings: the path to a local binary, region, reserved domain (QSettings) and the authtoken
(keyring). Used by the wizard's public-URL page and by Tools → Tunnel settings…."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from receiver.secrets import NGROK_AUTHTOKEN, SecretStore

REGIONS = (
    ("", "Nearest (ngrok picks)"),
    ("us", "United States"),
    ("eu", "Europe"),
    ("ap", "Asia/Pacific"),
    ("au", "Australia"),
    ("sa", "South America"),
    ("jp", "Japan"),
    ("in", "India"),
)


class TunnelSettingsForm(QWidget):
    """Edits the tunnel settings; ``save()`` writes them (the authtoken to the keyring only)."""

    def __init__(self, settings: QSettings, secrets: SecretStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.secrets = secrets
        self.ngrok_path = QLineEdit(str(settings.value("tunnel/ngrok_path", "") or ""))
        self.ngrok_path.setPlaceholderText("empty: ngrok on the PATH")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.ngrok_path, 1)
        path_row.addWidget(browse)
        self.region = QComboBox()
        for code, label in REGIONS:
            self.region.addItem(label, code)
        self.region.setCurrentIndex(
            max(0, self.region.findData(str(settings.value("tunnel/region", "") or "")))
        )
        self.domain = QLineEdit(str(settings.value("tunnel/domain", "") or ""))
        self.domain.setPlaceholderText("optional, e.g. my-name.ngrok-free.app (keeps the URL stable)")
        self.authtoken = QLineEdit(secrets.get(NGROK_AUTHTOKEN) or "")
        self.authtoken.setEchoMode(QLineEdit.EchoMode.Password)
        self.authtoken.setPlaceholderText("from dashboard.ngrok.com → Your Authtoken")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("ngrok program", path_row)
        form.addRow("Region", self.region)
        form.addRow("Reserved domain", self.domain)
        form.addRow("ngrok authtoken", self.authtoken)
        self.where = QLabel(f"The authtoken is never written to the settings file. {secrets.status()}")
        self.where.setWordWrap(True)
        form.addRow("", self.where)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Where is the ngrok program?")
        if path:
            self.ngrok_path.setText(path)

    def save(self) -> None:
        self.settings.setValue("tunnel/ngrok_path", self.ngrok_path.text().strip())
        self.settings.setValue("tunnel/region", self.region.currentData() or "")
        self.settings.setValue("tunnel/domain", self.domain.text().strip())
        token = self.authtoken.text().strip()
        if token:
            self.secrets.set(NGROK_AUTHTOKEN, token)
        else:
            self.secrets.delete(NGROK_AUTHTOKEN)


class TunnelSettingsDialog(QDialog):
    """Tools → Tunnel settings…"""

    def __init__(self, settings: QSettings, secrets: SecretStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tunnel settings")
        self.form = TunnelSettingsForm(settings, secrets, self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(buttons)
        # wrapped labels need their height for the width: let the layout size the dialog
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetMinimumSize)
        self.setMinimumWidth(560)

    def accept(self) -> None:
        self.form.save()
        super().accept()
