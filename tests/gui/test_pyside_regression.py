"""Guards against a PySide6 bug that would crash the app under real traffic.

PySide6 6.12.0's ``Signal.emit()`` returns ``True`` without taking a reference: every emit drops one
reference to the ``True`` singleton, and after a few thousand signals (one per callback) CPython 3.11
aborts with "bool_dealloc: deallocating True or False". pyproject.toml excludes that version; this test
fails if an install picks it up again.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject, Signal
from pytestqt.qtbot import QtBot


class _Emitter(QObject):
    event = Signal(object)  # type: ignore[assignment]  # shadows QObject.event(), as the app's did


def test_emitting_signals_does_not_leak_references_to_true(qtbot: QtBot) -> None:
    emitter = _Emitter()
    received: list[object] = []
    emitter.event.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(500):
        emitter.event.emit({"changed": True, "n": i})
    received.clear()
    assert sys.getrefcount(True) - before > -10


def test_cross_thread_emits_like_the_receiver_does(qtbot: QtBot) -> None:
    emitter = _Emitter()
    received: list[object] = []
    emitter.event.connect(received.append)
    before = sys.getrefcount(True)

    def waitress_like_thread() -> None:
        for i in range(500):
            emitter.event.emit({"changed": True, "n": i})

    worker = threading.Thread(target=waitress_like_thread)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(received) == 500)
    received.clear()
    assert sys.getrefcount(True) - before > -10
