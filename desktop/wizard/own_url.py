"""“Use my own public URL…”: for operators who run their own reverse proxy or tunnel, or when ngrok
cannot start. The URL is checked the way Twilio would judge it before it is used."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from desktop import badges
from desktop.tunnel_controller import check_own_url
from receiver.twilio_client import SetupError

OWN_URL_HELP = (
    "The https address that reaches this computer's receiver (a reverse proxy, Cloudflare Tunnel, "
    "another ngrok…). Twilio will call it followed by /twilio/inbound and /twilio/status, and "
    "signatures are checked against it, so enter it exactly as Twilio will use it."
)


class OwnUrlDialog(QDialog):
    """Asks for a public base URL; ``url`` holds the cleaned URL once accepted."""

    def __init__(self, current: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Use my own public URL")
        self.url = ""
        self.edit = QLineEdit(current)
        self.edit.setPlaceholderText("https://monitor.example.com")
        self.error = QLabel(wordWrap=True)
        badges.follow_theme(self.error, lambda: badges.tint(self.error, "error"))
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(OWN_URL_HELP, wordWrap=True))
        layout.addWidget(self.edit)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(520, 180)

    def accept(self) -> None:
        try:
            self.url = check_own_url(self.edit.text())
        except SetupError as exc:
            self.error.setText(exc.message)
            self.error.show()
            return
        super().accept()
