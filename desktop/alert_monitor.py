"""Evaluate the alert rules (receiver.alert_rules) every few seconds, off the GUI thread.

A timer on the GUI thread starts one evaluation at a time through ``TaskRunner``: the feed reads what
arrived since the last look on its own read-only connection and the rules say which alerts start an
episode; those come back on the GUI thread as ``alertRaised``. A tick while the previous evaluation still
runs (a big backlog at start) is skipped, never queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.receiver_controller import ReceiverController
from desktop.workers import TaskRunner
from receiver.alert_feed import AlertFeed
from receiver.alert_rules import Alert, AlertRules, Thresholds
from receiver.store import StoreError, open_reader

EVALUATE_MS = 5000


class AlertMonitor(QObject):
    """The rules, their feed and the timer.

    Signals:
        alertRaised(object): an ``Alert`` whose episode just started; on the GUI thread.
        evaluated(): one evaluation finished (alerts or not); for tests and a "last checked" display.
        failed(str): an evaluation failed (the database unreadable…); the next tick tries again.
    """

    alertRaised = Signal(object)
    evaluated = Signal()
    failed = Signal(str)

    def __init__(
        self,
        controller: ReceiverController,
        thresholds: Thresholds | None = None,
        *,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.rules = AlertRules(thresholds)
        self.clock = clock
        self.runner = TaskRunner(self)
        self._feed = AlertFeed(lambda: open_reader(controller.db_path))
        self._timer = QTimer(self)
        self._timer.setInterval(EVALUATE_MS)
        self._timer.timeout.connect(self.evaluate)
        self._error: str | None = None
        self._again = False  # asked while an evaluation ran: run once more when it is delivered

    def start(self) -> None:
        self._timer.start()
        self.evaluate()

    def stop(self) -> None:
        self._timer.stop()
        self.runner.join()
        self._feed.close()

    def set_thresholds(self, thresholds: Thresholds) -> None:
        """New thresholds apply from the next evaluation (episodes in progress continue)."""
        self.rules.thresholds = thresholds

    def twilio_alerts(self, alerts: Iterable[Mapping[str, Any]]) -> None:
        """Twilio Monitor alerts about the app's webhooks (the reconciliation's ``alertsFetched``): dicts
        with sid, error_code, log_level, alert_text, request_url, date_created, message_sid. Checked at
        once, so "Twilio cannot reach the app" shows as soon as Twilio says so."""
        self.rules.twilio_alerts(list(alerts), self.clock())
        self.evaluate()

    def evaluate(self) -> None:
        """Start one evaluation now unless one is running (the running one reads the same rows)."""
        if self.runner.busy:
            self._again = True
            return
        if not self.controller.db_path.exists():
            return
        controller, rules, feed, now = self.controller, self.rules, self._feed, self.clock()

        def work() -> tuple[list[Alert], str | None]:
            error = None
            try:
                feed.poll(rules, now)
            except StoreError as exc:  # the file gone or damaged: the store's health still counts
                error = str(exc)
                feed.close()  # reopened at the next look
            return rules.evaluate(now, controller.store_problems()), error

        self.runner.run("alerts", work, on_done=self._deliver, on_error=self._failed)

    def _deliver(self, result: tuple[list[Alert], str | None]) -> None:
        alerts, error = result
        for alert in alerts:
            self.alertRaised.emit(alert)
        if error != self._error and error is not None:  # said once, not every 5 s
            self.failed.emit(f"Checking for alerts cannot read the database: {error}")
        self._error = error
        self._finish()

    def _failed(self, exc: BaseException) -> None:
        self.failed.emit(f"Checking for alerts failed: {exc}")
        self._finish()

    def _finish(self) -> None:
        self.evaluated.emit()
        if self._again:
            self._again = False
            QTimer.singleShot(0, self.evaluate)  # after the runner has forgotten the finished task
