"""The in-window notice of the latest alerts: an amber strip above the tabs until the operator dismisses it.

Always shown, tray or not: a desktop notification disappears after a few seconds (and there is none
without a system tray: offscreen, many Linux desktops), the strip stays until read.
"""

from __future__ import annotations

import html
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from desktop import badges, theme
from receiver.alert_rules import Alert

SHOWN = 5  # latest alerts listed; older ones are in the log file


class AlertNotice(QFrame):
    """``show_alert(alert)`` adds it (newest first) and shows the strip; Dismiss hides and clears it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alert_notice")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.icon = QLabel(self)
        self.text = QLabel(self)
        self.text.setObjectName("alert_text")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dismiss = QPushButton("Dismiss", self)
        self.dismiss.setObjectName("alert_dismiss")
        self.dismiss.clicked.connect(self.clear)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.dismiss, 0, Qt.AlignmentFlag.AlignTop)
        self.alerts: list[tuple[str, Alert]] = []
        theme.follow_theme(self, self._paint)
        self.hide()

    def _paint(self) -> None:
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Window, badges.surface_for("note"))
        self.setPalette(pal)
        self.icon.setPixmap(badges.warning_icon(20).pixmap(20, 20))

    def show_alert(self, alert: Alert) -> None:
        self.alerts.insert(0, (datetime.now().strftime("%H:%M"), alert))
        del self.alerts[SHOWN:]
        self.text.setText(
            "<br>".join(f"{at} <b>{html.escape(a.title)}</b>: {html.escape(a.text)}" for at, a in self.alerts)
        )
        self.show()

    def clear(self) -> None:
        self.alerts.clear()
        self.text.clear()
        self.hide()
