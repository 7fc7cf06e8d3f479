"""The one way to run work off the GUI thread (Twilio REST calls, pyngrok, slow queries, a simulation).

Like Anki's ``taskman.run_in_background``: ``TaskRunner.run`` runs ``fn`` on a plain Python thread; its
result or its exception comes back through a queued Qt signal, so ``on_done``/``on_error`` always run on
the GUI thread and may touch widgets.

Reads that need a store Reader of their own go to a ``QueryLane`` (``TaskRunner.lane``): one long-lived
thread that keeps its Reader open between jobs (opening one per job costs a connection, its pragmas and a
cold page cache: see bench/gui.py ``reader-open``), runs the newest job first and lets a newer request win:
``submit`` with a key replaces an older job with that key, ``supersede`` drops everything asked so far and
interrupts the read in progress. Nothing superseded is ever delivered.

The runner remembers its threads and lanes; ``join`` waits for them at shutdown instead of leaving a REST
call or a query running while the window goes away.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable
from typing import Any, Protocol

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
        self._lanes: list[QueryLane] = []

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def run(
        self,
        name: str,
        fn: Callable[[], Any],
        on_done: Done | None = None,
        on_error: Failed | None = None,
    ) -> threading.Thread:
        """Run ``fn()`` on a new thread; then ``on_done(result)`` or ``on_error(exc)`` on the GUI thread.
        Returns the thread, for a caller that must wait for this one job (others use ``join``)."""
        task = _Task(self, name, on_done, on_error)

        def work() -> None:
            try:
                result = fn()
            except BaseException as exc:  # every failure is reported, none kills the app
                task._finished.emit(None, exc)
                return
            task._finished.emit(result, None)

        thread = threading.Thread(target=work, name=f"bg-{name}", daemon=True)
        was_busy = self.busy
        self._tasks[task] = thread
        thread.start()
        if not was_busy:
            self.busyChanged.emit(True)
        return thread

    def _forget(self, task: _Task) -> None:
        thread = self._tasks.pop(task, None)
        if thread is not None:
            thread.join(timeout=1)  # it has emitted already: only its last instructions remain
        task.deleteLater()
        if not self._tasks:
            self.busyChanged.emit(False)

    def join(self, timeout: float = 10.0) -> None:
        """Wait for running threads (results not yet delivered stay queued) and close the lanes (their
        reads in progress are interrupted). For shutdown."""
        for lane in self._lanes:
            lane.close()
        for thread in list(self._tasks.values()):
            thread.join(timeout)
        for lane in self._lanes:
            lane.join(timeout)

    def lane(self, name: str, open_reader: Callable[[], Interruptible]) -> QueryLane:
        """A worker thread for reads, with a Reader from ``open_reader()`` opened on that thread."""
        lane = QueryLane(name, open_reader, self)
        self._lanes.append(lane)
        return lane


class Interruptible(Protocol):
    """What a lane needs of its Reader (receiver.store.Reader is one)."""

    def interrupt(self) -> None: ...

    def interruptible(self) -> contextlib.AbstractContextManager[None]: ...

    def close(self) -> None: ...


class _Query:
    def __init__(self, key: Hashable, fn: Callable[[Any], Any], on_done: Done, on_error: Failed | None):
        self.key = key
        self.fn = fn
        self.on_done = on_done
        self.on_error = on_error
        self.stale = False  # set on the GUI thread only, read there before delivering


class QueryLane(QObject):
    """One thread with its own Reader running queries newest first; superseded ones are never delivered.

    The thread starts with the first job and ends after ``idle_s`` without work (a table that never
    needs it, as on a small database, never has one); its Reader is opened on it and closed with it.
    """

    _arrived = Signal(object, object, object)  # query, result, exception: queued to the GUI thread

    def __init__(self, name: str, open_reader: Callable[[], Interruptible], parent: QObject) -> None:
        super().__init__(parent)
        self.name = name
        self.idle_s = 10.0
        self._open = open_reader
        self._cond = threading.Condition()
        self._queue: list[_Query] = []
        self._running: _Query | None = None
        self._reader: Interruptible | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._arrived.connect(self._deliver)

    def submit(
        self,
        key: Hashable,
        fn: Callable[[Any], Any],
        on_done: Done,
        on_error: Failed | None = None,
    ) -> None:
        """Run ``fn(reader)`` on the lane; ``on_done(result)`` on the GUI thread unless superseded first.
        A job already asked for with the same ``key`` is superseded (latest request wins)."""
        query = _Query(key, fn, on_done, on_error)
        with self._cond:
            if self._closed:
                return
            for old in self._queue:
                if old.key == key:
                    old.stale = True
            self._queue = [q for q in self._queue if not q.stale]
            if self._running is not None and self._running.key == key:
                self._interrupt_running()
            self._queue.append(query)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"lane-{self.name}", daemon=True)
                self._thread.start()
            self._cond.notify()

    def supersede(self) -> None:
        """Everything asked so far is out of date: drop the queue, interrupt the read in progress."""
        with self._cond:
            for query in self._queue:
                query.stale = True
            self._queue.clear()
            self._interrupt_running()

    def close(self) -> None:
        """Supersede everything and let the thread end (``join`` waits for it)."""
        with self._cond:
            self._closed = True
            self.supersede()
            self._cond.notify()

    def join(self, timeout: float = 10.0) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    @property
    def busy(self) -> bool:
        with self._cond:
            return bool(self._queue) or self._running is not None

    def _interrupt_running(self) -> None:  # with self._cond held
        if self._running is not None:
            self._running.stale = True
            if self._reader is not None:
                self._reader.interrupt()

    def _work(self) -> None:
        reader: Interruptible | None = None
        try:
            while True:
                with self._cond:
                    if not self._queue and not self._closed:
                        self._cond.wait(self.idle_s)
                    if self._closed or not self._queue:
                        self._thread = None
                        return
                    query = self._queue.pop()
                    if reader is None:
                        try:
                            reader = self._open()
                        except BaseException as exc:  # reported like the job's own failure
                            self._emit(query, None, exc)
                            continue
                    self._running, self._reader = query, reader
                try:
                    with reader.interruptible():
                        result, error = query.fn(reader), None
                except BaseException as exc:  # every failure is reported, none kills the lane
                    result, error = None, exc
                with self._cond:
                    self._running = self._reader = None
                self._emit(query, result, error)
        finally:
            if reader is not None:
                with contextlib.suppress(Exception):
                    reader.close()

    def _emit(self, query: _Query, result: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the lane's owner is gone
            self._arrived.emit(query, result, error)

    @Slot(object, object, object)
    def _deliver(self, query: _Query, result: Any, error: BaseException | None) -> None:
        if query.stale:
            return
        if error is None:
            query.on_done(result)
        elif query.on_error is not None:
            query.on_error(error)


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
