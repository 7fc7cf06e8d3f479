"""The window half of ``callback-monitor self-test``: open the main window on a database, then close it.

Lives in desktop/ because it is Qt; receiver/selftest.py imports it only for this check.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import (
    QEventLoop,
    QMessageLogContext,
    QSettings,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication

from desktop.app import no_display_reason, xcb_problem

TIMEOUT_MS = 15000


def _quiet_offscreen(_mode: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    """Qt's messages to stderr, minus the offscreen platform's note that it cannot size windows."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def _wait(done: Callable[[], bool], what: str) -> None:
    """Run the event loop until ``done()`` is true (checked as events arrive), or fail after TIMEOUT_MS."""
    if done():
        return
    loop = QEventLoop()
    poll = QTimer(interval=10)
    poll.timeout.connect(lambda: loop.quit() if done() else None)
    timed_out = QTimer(singleShot=True, interval=TIMEOUT_MS)
    timed_out.timeout.connect(loop.quit)
    poll.start()
    timed_out.start()
    loop.exec()
    poll.stop()
    if not done():
        raise RuntimeError(f"timed out after {TIMEOUT_MS / 1000:.0f} s waiting for {what}")
    timed_out.stop()


def open_and_close_main_window(db_path: Path, settings_file: Path) -> str:
    """Open the app's main window on ``db_path`` (settings in ``settings_file``), wait until the messages
    table shows the database's rows, close it; returns the report line."""
    problem = no_display_reason() or xcb_problem()
    if problem is not None:
        raise RuntimeError(problem)
    import keyring.backends.null

    from desktop.main_window import MainWindow
    from desktop.receiver_controller import ReceiverController
    from receiver.secrets import SecretStore

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    qInstallMessageHandler(_quiet_offscreen)
    # no keyring: the self-test must neither read the operator's secrets nor wait for a keyring prompt
    controller = ReceiverController(db_path, SecretStore(keyring.backends.null.Keyring()))  # type: ignore[no-untyped-call]
    controller.start()
    if not controller.running:
        raise RuntimeError("the window's embedded receiver did not start")
    try:
        window = MainWindow(controller, QSettings(str(settings_file), QSettings.Format.IniFormat))
        window.show()
        _wait(window.isVisible, "the main window to show")
        model = window.messages.model
        _wait(lambda: model.rowCount() >= 1, "the messages table to show the test message")
        rows = model.rowCount()
        window.close()
        _wait(lambda: not window.isVisible(), "the main window to close")
        window.deleteLater()
        app.processEvents()
    finally:
        controller.stop()
    platform = app.platformName()
    return f"window: opened on the {platform!r} platform, showed {rows} message(s), closed"
