"""Reads for a table model that never stall the GUI thread: within a time limit there, else on a lane.

Most reads answer well inside a few milliseconds (small databases always do, so a model stays
synchronous there and tests read rows right after a filter change). One that does not is interrupted and
handed to a ``QueryLane`` with a Reader of its own; its answer comes back on the GUI thread unless a
newer request superseded it first.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from PySide6.QtCore import QCoreApplication, QObject

from desktop.workers import QueryLane, TaskRunner
from receiver.store import Reader, StoreError
from receiver.store.base import ReadInterrupted

T = TypeVar("T")


class BudgetedReads(QObject):
    def __init__(self, name: str, read: Callable[[], Reader], parent: QObject) -> None:
        super().__init__(parent)
        self.name = name
        self.read = read  # the GUI thread's Reader
        self._runner = TaskRunner(self)
        self._lanes: dict[str, QueryLane] = {}
        self._opener: Callable[[], Reader] | None = None
        app = QCoreApplication.instance()
        if app is not None:  # a lane mid-read when the app quits is interrupted and joined, not abandoned
            app.aboutToQuit.connect(self.close)
        self._asked = False  # whether the Reader was asked for an opener (None: it has none)

    def attempt(self, fn: Callable[[Reader], T], budget_ms: float) -> T | None:
        """``fn(reader)`` on the GUI Reader if it finishes within ``budget_ms``, else None (hand it to a
        lane). Without a store another thread could open, it runs without a limit."""
        reader = self.read()
        if self.opener() is None:
            return fn(reader)
        if budget_ms <= 0:
            return None
        try:
            with reader.time_limit(budget_ms / 1000):
                return fn(reader)
        except ReadInterrupted:
            return None

    def page(
        self,
        key: int,
        fn: Callable[[Reader], T],
        budget_ms: float,
        pending: set[int],
        done: Callable[[T], None],
    ) -> T | None:
        """A table's page: ``fn`` within ``budget_ms`` on the GUI Reader, else None, the page noted in
        ``pending`` and read on the "pages" lane (``done(page)`` on the GUI thread unless superseded)."""
        page = self.attempt(fn, budget_ms)
        if page is None:
            pending.add(key)
            self.submit("pages", key, fn, done)
        return page

    def opener(self) -> Callable[[], Reader] | None:
        if not self._asked:
            self._asked = True
            try:
                self._opener = self.read().opener()
            except StoreError:
                self._opener = None
        return self._opener

    def submit(self, lane: str, key: Hashable, fn: Callable[[Reader], T], done: Callable[[T], None]) -> None:
        """``fn`` on the lane named ``lane``; ``done(result)`` on the GUI thread unless superseded."""
        opener = self.opener()
        if opener is None:  # pragma: no cover - attempt never gives up without an opener
            return
        if lane not in self._lanes:
            self._lanes[lane] = self._runner.lane(f"{self.name}-{lane}", opener)
        self._lanes[lane].submit(key, fn, done)

    def supersede(self) -> None:
        """Everything the lanes were asked is out of date."""
        for lane in self._lanes.values():
            lane.supersede()

    def close(self) -> None:
        """Stop the lanes and wait for them (they also stop by themselves when idle)."""
        self._runner.join()
