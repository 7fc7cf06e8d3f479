"""Run slow work (Twilio REST calls, pyngrok) off the GUI thread and get the result back on it.

Like Anki's ``taskman.run_in_background``: ``fn`` runs on a plain Python thread; its result or its
exception comes back through a queued Qt signal, so ``on_done``/``on_error`` always run on the GUI
thread and may touch widgets. The runner remembers its threads so the app (and tests) can wait for
them at shutdown instead of leaving a REST call running while the window goes away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from desktop import badges, theme

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


class _Task(QObject):
    """One job. Emitting its signals from the worker thread queues them to this object's (GUI) thread."""

    _finished = Signal(object, object)  # result, exception

    def __init__(self, runner: TaskRunner, name: str, on_done: Done | None, on_error: Failed | None) -> None:
        super().__init__(runner)
        self.name = name
        self._runner = runner
        self._on_done = on_done
        self._on_error = on_error
        self._finished.connect(self._deliver)

    @Slot(object, object)
    def _deliver(self, result: Any, error: BaseException | None) -> None:
        try:
            if error is not None:
                if self._on_error is not None:
                    self._on_error(error)
            elif self._on_done is not None:
                self._on_done(result)
        finally:
            self._runner._forget(self)


class TaskRunner(QObject):
    """Starts background jobs and reports when none is running.

    Signals:
        busyChanged(bool): the first job started, or the last one was delivered.
    """

    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[_Task, threading.Thread] = {}

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def run(
        self,
        name: str,
        fn: Callable[[], Any],
        on_done: Done | None = None,
        on_error: Failed | None = None,
    ) -> None:
        """Run ``fn()`` on a new thread; then ``on_done(result)`` or ``on_error(exc)`` on the GUI thread."""
        task = _Task(self, name, on_done, on_error)

        def work() -> None:
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - every failure is reported, none kills the app
                task._finished.emit(None, exc)
                return
            task._finished.emit(result, None)

        thread = threading.Thread(target=work, name=f"bg-{name}", daemon=True)
        was_busy = self.busy
        self._tasks[task] = thread
        thread.start()
        if not was_busy:
            self.busyChanged.emit(True)

    def _forget(self, task: _Task) -> None:
        thread = self._tasks.pop(task, None)
        if thread is not None:
            thread.join(timeout=1)  # it has emitted already: only its last instructions remain
        task.deleteLater()
        if not self._tasks:
            self.busyChanged.emit(False)

    def join(self, timeout: float = 10.0) -> None:
        """Wait for running threads (results not yet delivered stay queued). For shutdown."""
        for thread in list(self._tasks.values()):
            thread.join(timeout)


class BusyLine(QWidget):
    """A busy indicator plus the last error, for any form that waits on a background job.

    ``start(text)`` shows an indeterminate bar and the text; ``fail(text)`` shows the error in red
    (selectable, so the operator can copy it into a support ticket); ``done(text)`` a quiet note in green.
    The reds and greens have light and dark variants (``badges.colour_for``), swapped when the theme does.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)
        self.bar.setMaximumWidth(120)
        self.bar.setTextVisible(False)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        self.kind: str | None = None  # "error", "success" or None: what colours the text
        self.clear()
        theme.follow_theme(self.label, lambda: badges.tint(self.label, self.kind))

    @property
    def busy(self) -> bool:
        return not self.bar.isHidden()

    def text(self) -> str:
        return self.label.text()

    def clear(self) -> None:
        self.bar.hide()
        self.label.clear()
        self.label.hide()

    def start(self, text: str) -> None:
        self.bar.show()
        self._show(text, None)

    def fail(self, text: str) -> None:
        self.bar.hide()
        self._show(text, "error")

    def done(self, text: str) -> None:
        self.bar.hide()
        self._show(text, "success")

    def _show(self, text: str, kind: str | None) -> None:
        self.kind = kind
        badges.tint(self.label, kind)
        self.label.setText(text)
        self.label.show()
