"""Tools → Alerts…: the thresholds of the alert rules (receiver.alert_rules), kept in QSettings."""

from __future__ import annotations

from dataclasses import fields

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from receiver.alert_rules import Thresholds

PREFIX = "alerts/"
# field -> (label, minimum, maximum, suffix)
FIELDS: dict[str, tuple[str, int, int, str]] = {
    "window_minutes": ("Look at the last", 1, 1440, " min"),
    "failure_percent": ("Alert when failed + undelivered reach", 1, 100, " %"),
    "min_messages": ("…of at least", 1, 1_000_000, " final statuses"),
    "rejections": ("Alert after refused requests (none accepted)", 1, 1_000_000, " requests"),
    "quiet_minutes": ("Alert again after a quiet spell of", 1, 1440, " min"),
}
HELP = (
    "Callback Monitor warns (a notification, and a notice in this window) when messages fail, a new error "
    "code appears, the receiver refuses callbacks, Twilio cannot reach it, or the database stops storing. "
    "Each problem is announced once; once it has been gone for the quiet spell, it is announced again if "
    "it comes back."
)


def load_thresholds(settings: QSettings) -> Thresholds:
    """The saved thresholds; a missing or unreadable value keeps its default."""
    default = Thresholds()
    values: dict[str, int] = {}
    for f in fields(Thresholds):
        _label, low, high, _suffix = FIELDS[f.name]
        try:
            value = int(str(settings.value(PREFIX + f.name, getattr(default, f.name))))
        except ValueError:
            continue
        if low <= value <= high:
            values[f.name] = value
    return Thresholds(**values)


def save_thresholds(settings: QSettings, thresholds: Thresholds) -> None:
    for f in fields(Thresholds):
        settings.setValue(PREFIX + f.name, getattr(thresholds, f.name))
    settings.sync()


class AlertSettingsDialog(QDialog):
    """``thresholds`` holds what was saved once accepted."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alerts")
        self.settings = settings
        self.thresholds = load_thresholds(settings)
        self.spins: dict[str, QSpinBox] = {}
        form = QFormLayout()
        for name, (label, low, high, suffix) in FIELDS.items():
            spin = QSpinBox(self)
            spin.setObjectName(name)
            spin.setRange(low, high)
            spin.setSuffix(suffix)
            spin.setValue(getattr(self.thresholds, name))
            form.addRow(label, spin)
            self.spins[name] = spin
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(HELP, wordWrap=True))
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)

    def accept(self) -> None:
        for spin in self.spins.values():
            spin.interpretText()  # a value typed but not yet committed (no Enter, no focus change)
        self.thresholds = Thresholds(**{name: spin.value() for name, spin in self.spins.items()})
        save_thresholds(self.settings, self.thresholds)
        super().accept()
