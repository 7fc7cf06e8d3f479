"""Tools > Storage and retention…: the retention rules (kept in the settings), an explicit prune of old
messages with their events, and the durability level (docs/DURABILITY.md).

The rules apply to the embedded receiver at once (its ``Pruner`` reads them at each pass); "Prune now"
runs one pass off the GUI thread (``TaskRunner``) through the receiver's own store, in the same small
batches as the automatic passes, so callbacks keep flowing meanwhile. Deleting messages asks first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QDate, QSettings, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.receiver_controller import ReceiverController
from desktop.workers import BusyLine, TaskRunner
from receiver import retention
from receiver.retention import PruneResult, Retention
from receiver.store import Store

ACCEPTED_KEY = "retention/accepted_days"
REJECTED_KEY = "retention/rejected_days"
SYNCHRONOUS_KEY = "storage/synchronous"
DEFAULT_MESSAGES_DAYS = 90
MAX_DAYS = 3650


def load_retention(settings: QSettings) -> Retention:
    """The retention rules saved in the settings (the defaults when none were)."""

    def days(key: str, default: float | None) -> float | None:
        value = settings.value(key)
        if value is None:
            return default
        try:
            return float(str(value))
        except ValueError:
            return default

    return Retention.from_days(
        days(ACCEPTED_KEY, retention.DEFAULT.accepted_days),
        days(REJECTED_KEY, retention.DEFAULT.rejected_days),
    )


def load_synchronous(settings: QSettings) -> str:
    """The durability level saved in the settings: "FULL" or the default "NORMAL"."""
    return "FULL" if str(settings.value(SYNCHRONOUS_KEY, "NORMAL")).upper() == "FULL" else "NORMAL"


def _days_box(value: float | None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(0, MAX_DAYS)
    box.setSuffix(" days")
    box.setSpecialValueText("forever")  # shown for 0
    box.setValue(int(value) if value is not None else 0)
    return box


class PruneDialog(QDialog):
    """Signals:
    pruned(str): a prune finished; what it deleted, for the status bar.
    """

    pruned = Signal(str)

    def __init__(
        self, controller: ReceiverController, settings: QSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Storage and retention")
        self.controller = controller
        self.settings = settings
        self.runner = TaskRunner(self)
        rules = load_retention(settings)

        intro = QLabel(
            "The request log keeps the HTTP side of every request (headers, timing, why it was refused). "
            "Old rows are deleted automatically while the receiver runs. Messages and their status "
            "history are kept until you delete them here."
        )
        intro.setWordWrap(True)
        self.accepted_days = _days_box(rules.accepted_days)
        self.accepted_days.setObjectName("accepted_days")
        self.rejected_days = _days_box(rules.rejected_days)
        self.rejected_days.setObjectName("rejected_days")
        self.delete_messages = QCheckBox("Also delete messages first seen before:")
        self.delete_messages.setObjectName("delete_messages")
        self.before = QDateEdit(QDate.currentDate().addDays(-DEFAULT_MESSAGES_DAYS))
        self.before.setObjectName("before")
        self.before.setCalendarPopup(True)
        self.before.setDisplayFormat("yyyy-MM-dd")
        self.before.setEnabled(False)
        self.delete_messages.toggled.connect(self.before.setEnabled)

        form = QFormLayout()
        form.addRow("Keep requests of stored callbacks:", self.accepted_days)
        form.addRow("Keep rejected requests:", self.rejected_days)
        form.addRow(self.delete_messages, self.before)
        self.full_sync = QCheckBox(
            "Flush every commit to the disk (synchronous=FULL): acknowledged callbacks also survive a "
            "power loss, at a cost in speed. Applies from the next start."
        )
        self.full_sync.setObjectName("full_sync")
        self.full_sync.setChecked(load_synchronous(settings) == "FULL")
        self.full_sync.toggled.connect(self._save_synchronous)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.prune_button: QPushButton = self.buttons.addButton(
            "Prune now", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.prune_button.setObjectName("prune_button")
        self.prune_button.clicked.connect(self._prune_clicked)
        self.buttons.rejected.connect(self.reject)
        self.busy = BusyLine(self)
        self.confirm: QMessageBox | None = None

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.full_sync)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)

    # ------------------------------------------------------------ rules
    def rules(self) -> Retention:
        return Retention.from_days(self.accepted_days.value(), self.rejected_days.value())

    def messages_before(self) -> str | None:
        """Start of the chosen day (UTC), in the store's time format; None when messages are kept."""
        if not self.delete_messages.isChecked():
            return None
        day = self.before.date()
        return retention.iso(datetime(day.year(), day.month(), day.day(), tzinfo=UTC))

    def _save(self) -> None:
        self.settings.setValue(ACCEPTED_KEY, self.accepted_days.value())
        self.settings.setValue(REJECTED_KEY, self.rejected_days.value())
        self.settings.sync()
        self.controller.retention = self.rules()

    def _save_synchronous(self, full: bool) -> None:
        self.settings.setValue(SYNCHRONOUS_KEY, "FULL" if full else "NORMAL")
        self.settings.sync()

    # ------------------------------------------------------------ pruning
    def _prune_clicked(self) -> None:
        self._save()
        before = self.messages_before()
        if before is None:
            self._start(None)
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Delete old messages",
            f"Delete every message first seen before {self.before.date().toString('yyyy-MM-dd')}, with its "
            "status history? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda answer: self._confirmed(answer, before))
        self.confirm = box
        box.open()

    def _confirmed(self, answer: int, before: str) -> None:
        self.confirm = None
        if answer == QMessageBox.StandardButton.Yes:
            self._start(before)

    def _start(self, messages_before: str | None) -> None:
        rules = self.rules()
        store = self.controller.store
        db_path = self.controller.db_path

        def work() -> PruneResult:
            if store is not None:  # the running receiver's writer: pruning shares its group commit
                return retention.prune(store, rules, messages_before=messages_before)
            with Store(db_path) as own:
                return retention.prune(own, rules, messages_before=messages_before)

        self.prune_button.setEnabled(False)
        self.busy.start("Pruning…")
        self.runner.run("prune", work, self._done, self._failed)

    def _done(self, result: Any) -> None:
        self.prune_button.setEnabled(True)
        text = f"Pruned: {result}."
        self.busy.done(text)
        self.controller.notify_changed()
        self.pruned.emit(text)

    def _failed(self, error: BaseException) -> None:
        self.prune_button.setEnabled(True)
        self.busy.fail(
            f"Pruning stopped: {error}. What it deleted before stays deleted, nothing else changed. "
            "Try again, or close the app and run `callback-monitor prune`."
        )
