"""Coalesced refreshes: many "the store changed" pokes become a few repaints a second.

A lone change is shown at once (``FIRST_MS``); under a burst the views refresh at most every
``COALESCE_MS``. The embedded receiver and an attached team database both refresh through this.
"""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal

COALESCE_MS = 250  # at most ~4 refreshes a second under a burst
FIRST_MS = 15  # a lone change shows up well within 100 ms


class RefreshCoalescer(QObject):
    """``poke()`` on every change; ``due`` when the views should re-read (on this object's thread).

    Signals:
        due(): refresh what you show now.
    """

    due = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._since_flush = QElapsedTimer()
        self._since_flush.start()

    def poke(self) -> None:
        if self._timer.isActive():
            return
        elapsed = self._since_flush.elapsed()
        self._timer.start(FIRST_MS if elapsed >= COALESCE_MS else max(FIRST_MS, COALESCE_MS - elapsed))

    def stop(self) -> None:
        self._timer.stop()

    def _flush(self) -> None:
        self._since_flush.restart()
        self.due.emit()
