"""Reconciliation with Twilio from the app: when it runs, off the GUI thread, with progress and cancel.

The pass itself is Qt-free (receiver/reconcile.py). This module decides *when*: at start (once the
receiver runs), after the machine wakes (the wall clock jumped past the monotonic clock), every N
minutes (``reconcile/interval_minutes``, 0 turns it off), and on demand (Tools → Reconcile with
Twilio…). A pass writes through the running receiver's Store (group commit), so callbacks never wait
for it; with the receiver stopped, or without stored credentials, it does not run (the dialog says why).

Signals other parts connect to: ``alertsFetched(list)`` with each pass's newly stored Monitor alerts
(dicts as in ``twilio_alerts``), ``finished(str)`` and ``failed(str)`` with the text for the operator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDate, QObject, QSettings, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.receiver_controller import ReceiverController
from desktop.workers import TaskRunner
from receiver import reconcile
from receiver.credentials import load_credentials
from receiver.twilio_client import Credentials, make_client

if TYPE_CHECKING:
    from desktop.main_window import MainWindow

AUTO_KEY = "reconcile/automatic"  # false: passes only on demand (no start, wake or interval passes)
INTERVAL_KEY = "reconcile/interval_minutes"
STUCK_AFTER_KEY = "reconcile/stuck_after_minutes"
DEFAULT_INTERVAL = 15  # minutes
DEFAULT_STUCK_AFTER = reconcile.DEFAULT_STUCK_AFTER.total_seconds() / 60
WAKE_CHECK_MS = 30_000
START_DELAY_MS = 3_000  # let the window settle (and the tunnel come up) before the first pass

ClientFactory = Callable[[Credentials], Any]


def _minutes(settings: QSettings, key: str, default: float) -> float:
    try:
        value = float(str(settings.value(key, default)))
    except ValueError:
        return default
    return max(0.0, value)


class ReconcileController(QObject):
    """Runs reconciliation passes, one at a time.

    Signals:
        runningChanged(bool): a pass started / ended.
        progress(str, int, int): what is being done, done, total (0: unknown).
        finished(str): a pass ended (the report line, or "Cancelled").
        failed(str): a pass stopped on an error the operator should read.
        alertsFetched(list): the Monitor alerts this pass stored (new ones only).
    """

    runningChanged = Signal(bool)
    progress = Signal(str, int, int)
    finished = Signal(str)
    failed = Signal(str)
    alertsFetched = Signal(list)

    def __init__(
        self,
        receiver: ReceiverController,
        settings: QSettings,
        parent: QObject | None = None,
        *,
        client_factory: ClientFactory = make_client,
        wake: reconcile.WakeDetector | None = None,
        wake_check_ms: int = WAKE_CHECK_MS,
        start_delay_ms: int | None = START_DELAY_MS,
    ) -> None:
        super().__init__(parent)
        self.receiver, self.settings, self.client_factory = receiver, settings, client_factory
        self.runner = TaskRunner(self)
        self._cancel: threading.Event | None = None
        self.last_report: reconcile.Report | None = None
        self.dialog: ReconcileDialog | None = None  # the menu's dialog, kept while the window lives
        self.alerts_dialog: QDialog | None = None
        self.action: QAction | None = None
        self.alerts_action: QAction | None = None
        self.interval = QTimer(self)
        self.interval.timeout.connect(self.run_automatically)
        self.apply_interval()
        self._wake = wake or reconcile.WakeDetector()
        self.wake_timer = QTimer(self)
        self.wake_timer.timeout.connect(self._check_wake)
        self.wake_timer.start(wake_check_ms)
        if start_delay_ms is not None:  # None: no pass at start (a second controller, tests)
            delay = start_delay_ms
            receiver.started.connect(lambda _url: QTimer.singleShot(delay, self.run_automatically))
            if receiver.store is not None:  # already started: the first pass follows shortly
                QTimer.singleShot(delay, self.run_automatically)

    def apply_interval(self) -> None:
        """(Re)start the every-N-minutes timer from the settings; 0 minutes stops it."""
        minutes = _minutes(self.settings, INTERVAL_KEY, DEFAULT_INTERVAL)
        self.interval.stop()
        if minutes:
            self.interval.start(int(minutes * 60_000))

    @property
    def running(self) -> bool:
        return self._cancel is not None

    def why_not(self) -> str | None:
        """Why a pass cannot run now, phrased as what to do; None when it can."""
        if self.receiver.store is None:
            return "Start the receiver first: reconciliation writes through it."
        if load_credentials(self.receiver.secrets) is None:
            return "Save the Twilio credentials first (Going live → Twilio credentials…)."
        return None

    @Slot()
    def run_automatically(self) -> None:
        """A scheduled pass: quietly skipped when one runs, it cannot run, or the operator turned them off."""
        automatic = str(self.settings.value(AUTO_KEY, "true")).lower() not in ("false", "0", "no")
        if automatic and not self.running and self.why_not() is None:
            self.start()

    @Slot()
    def _check_wake(self) -> None:
        if self._wake.woke():
            self.run_automatically()

    def start(self, since: datetime | None = None) -> bool:
        """Start a pass (with a backfill since ``since``); False, with ``failed`` emitted, if it cannot."""
        if self.running:
            return False
        reason = self.why_not()
        store, creds = self.receiver.store, load_credentials(self.receiver.secrets)
        if reason is not None or store is None or creds is None:
            self.failed.emit(reason or "Reconciliation cannot run now.")
            return False
        cancel = self._cancel = threading.Event()
        public = self.receiver.config.public_url
        settings = reconcile.Settings(
            stuck_after=timedelta(minutes=_minutes(self.settings, STUCK_AFTER_KEY, DEFAULT_STUCK_AFTER)),
            webhook_prefixes=(public,) if public else (),
        )
        factory = self.client_factory

        def work() -> reconcile.Report:
            client = factory(creds)
            pass_ = reconcile.Reconciler(
                store, client, creds.account_sid.strip(), settings, progress=self.progress.emit, cancel=cancel
            )
            return pass_.run(since)

        self.runningChanged.emit(True)
        self.runner.run("reconcile", work, self._done, self._error)
        return True

    @Slot()
    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _end(self) -> None:
        self._cancel = None
        self.runningChanged.emit(False)

    def _done(self, report: reconcile.Report) -> None:
        self.last_report = report
        self._end()
        if report.alerts:
            self.alertsFetched.emit(list(report.alerts))
        if report.updated or report.backfill_new:
            self.receiver.dataChanged.emit()
        self.finished.emit(f"Reconciled with Twilio: {report}")

    def _error(self, exc: BaseException) -> None:
        self._end()
        if isinstance(exc, reconcile.Cancelled):
            self.receiver.dataChanged.emit()  # what was committed before the cancel shows
            self.finished.emit("Cancelled: what was fetched until then is kept.")
            return
        self.failed.emit(f"Reconciliation with Twilio stopped: {exc}")

    def shutdown(self) -> None:
        self.cancel()
        self.interval.stop()
        self.wake_timer.stop()
        self.runner.join()


class ReconcileDialog(QDialog):
    """Start a pass by hand (optionally with a backfill since a date), watch it, cancel it."""

    def __init__(self, controller: ReconcileController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reconcile with Twilio")
        self.controller = controller
        intro = QLabel(
            "Fetches from Twilio's API the messages with no news for a while, the prices Twilio adds "
            "after the final status, and Twilio's alerts about this app's webhooks.",
            self,
        )
        intro.setWordWrap(True)
        self.backfill = QCheckBox("Also fetch every message sent since", self)
        self.since = QDateEdit(QDate.currentDate().addDays(-1), self)
        self.since.setCalendarPopup(True)
        self.since.setMaximumDate(QDate.currentDate())
        self.since.setEnabled(False)
        self.backfill.toggled.connect(self.since.setEnabled)
        row = QHBoxLayout()
        row.addWidget(self.backfill)
        row.addWidget(self.since, 1)
        settings = controller.settings
        self.every = QSpinBox(self)
        self.every.setRange(0, 24 * 60)
        self.every.setSuffix(" min")
        self.every.setSpecialValueText("never")
        self.every.setValue(int(_minutes(settings, INTERVAL_KEY, DEFAULT_INTERVAL)))
        self.stuck_after = QSpinBox(self)
        self.stuck_after.setRange(1, 7 * 24 * 60)
        self.stuck_after.setSuffix(" min")
        self.stuck_after.setValue(int(_minutes(settings, STUCK_AFTER_KEY, DEFAULT_STUCK_AFTER)))
        form = QFormLayout()
        form.addRow("Check automatically every", self.every)
        form.addRow("A message is stuck after", self.stuck_after)
        self.every.valueChanged.connect(self._save_interval)
        self.stuck_after.valueChanged.connect(lambda v: settings.setValue(STUCK_AFTER_KEY, v))
        self.bar = QProgressBar(self)
        self.bar.hide()
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox(self)
        self.start_button = QPushButton("Start", self)
        self.cancel_button = QPushButton("Cancel run", self)
        self.cancel_button.setEnabled(False)
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.start_button.clicked.connect(self._start)
        self.cancel_button.clicked.connect(controller.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        controller.runningChanged.connect(self._running)
        controller.progress.connect(self._progress)
        controller.finished.connect(self.status.setText)
        controller.failed.connect(self.status.setText)
        self._running(controller.running)
        reason = controller.why_not()
        if reason:
            self.status.setText(reason)

    def _save_interval(self, minutes: int) -> None:
        self.controller.settings.setValue(INTERVAL_KEY, minutes)
        self.controller.apply_interval()

    def _start(self) -> None:
        since = None
        if self.backfill.isChecked():
            day = self.since.date()
            since = datetime(day.year(), day.month(), day.day(), tzinfo=UTC)
        self.controller.start(since)

    @Slot(bool)
    def _running(self, on: bool) -> None:
        self.start_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)
        self.bar.setVisible(on)
        if on:
            self.bar.setRange(0, 0)
            self.status.setText("Asking Twilio…")

    @Slot(str, int, int)
    def _progress(self, what: str, done: int, total: int) -> None:
        if total:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
            self.status.setText(f"{what.capitalize()}: {done} of {total}")
        else:
            self.bar.setRange(0, 0)
            self.status.setText(f"{what.capitalize()}: {done} so far")


def install(window: MainWindow, *, client_factory: ClientFactory = make_client) -> ReconcileController:
    """Give ``window`` its reconciliation: the controller, and Tools menu entries for the dialog
    (``controller.action``) and the alerts list (``controller.alerts_action``)."""
    from desktop.models.message_query import MessageFilter
    from desktop.views.twilio_alerts import TwilioAlertsDialog

    controller = ReconcileController(
        window.controller, window.settings, window, client_factory=client_factory
    )

    def open_dialog() -> None:
        if controller.dialog is None:
            controller.dialog = ReconcileDialog(controller, window)
        controller.dialog.show()
        controller.dialog.raise_()

    def open_alerts() -> None:
        dialog = TwilioAlertsDialog(window.controller.read, window)
        dialog.messageRequested.connect(lambda sid: window.show_messages(MessageFilter(text=sid)))
        controller.alerts_dialog = dialog
        dialog.show()

    controller.action = QAction("Reconcile with Twilio…", window)
    controller.action.triggered.connect(open_dialog)
    controller.alerts_action = QAction("Twilio alerts…", window)
    controller.alerts_action.triggered.connect(open_alerts)
    window.add_tools_action(controller.action)
    window.add_tools_action(controller.alerts_action)
    controller.finished.connect(lambda text: window.status.showMessage(text, 10000))
    controller.failed.connect(lambda text: window.status.showMessage(text, 15000))
    window.controller.stopped.connect(controller.cancel)  # its store closes: the pass ends
    return controller
