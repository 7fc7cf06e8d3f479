"""Tools → Receiver port…: fix the local port, so a reverse proxy or a hand-started tunnel can be set
up once (by default the receiver takes any free port, a new one at every start)."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from desktop.receiver_controller import PORT_KEY, configured_port

PORT_HELP = (
    "Keep the receiver on one port so your reverse proxy or tunnel can forward to it for good: "
    "forward https://your-host/… to http://127.0.0.1:PORT. 0 lets the receiver take any free port "
    "(a different one at every start). A change takes effect at the next start; if the port is taken "
    "then, the app says so and uses a free one for that session."
)


class PortDialog(QDialog):
    """``port`` holds what was saved (0: any free port) once accepted."""

    def __init__(self, settings: QSettings, current: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Receiver port")
        self.settings = settings
        fixed = configured_port(settings)
        self.port = fixed
        self.spin = QSpinBox()
        self.spin.setRange(0, 65535)
        self.spin.setSpecialValueText("0 (any free port)")
        self.spin.setValue(fixed or current or 0)  # suggest keeping the port in use now
        now = f"Now listening on http://127.0.0.1:{current}." if current else "The receiver is not running."
        self.now = QLabel(now)
        form = QFormLayout()
        form.addRow("Port", self.spin)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(PORT_HELP, wordWrap=True))
        layout.addWidget(self.now)
        layout.addLayout(form)
        layout.addWidget(buttons)
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetMinimumSize)
        self.setMinimumWidth(520)

    def accept(self) -> None:
        self.port = self.spin.value()
        self.settings.setValue(PORT_KEY, self.port)
        self.settings.sync()
        super().accept()
