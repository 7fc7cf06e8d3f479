"""At start, the team database is checked before any window opens: this shows that it is being waited for.

A server that neither answers nor refuses (a firewalled host, one that accepts TCP and stays silent) makes
the check wait the whole connect timeout; with nothing on screen the operator would think the app did not
start and launch it again. So the check runs off the GUI thread (``TaskRunner``) and, if it is still running
after ``SHOW_AFTER_MS``, a small dialog names the database and offers not to wait: "Use this computer's
database" for one remembered from last time, "Cancel" for one given on the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QEventLoop, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.workers import TaskRunner
from receiver.store.pg.connection import CONNECT_TIMEOUT
from receiver.store.url import PostgresTarget

# A check on the LAN answers in tens of milliseconds: a dialog shown for that long is only a flicker.
# 300 ms is still well under the second after which a start with nothing on screen looks like a failure.
SHOW_AFTER_MS = 300
USE_LOCAL = "Use this computer's database"
CANCEL = "Cancel"


class ConnectingDialog(QDialog):
    """ "Connecting to the team database …" with a busy bar; its one button (or Escape) stops waiting."""

    def __init__(self, target: PostgresTarget, button_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("team_connecting")
        self.setWindowTitle("Callback Monitor")
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.text = QLabel(f"Connecting to the team database {target.address}…", self)
        self.text.setObjectName("team_connecting_text")
        note = QLabel(f"A server that does not answer is given up on after {CONNECT_TIMEOUT} seconds.", self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # busy: how long the server takes is unknown
        self.bar.setTextVisible(False)
        self.bar.setMinimumWidth(400)
        buttons = QDialogButtonBox(self)
        self.button: QPushButton = buttons.addButton(button_text, QDialogButtonBox.ButtonRole.RejectRole)
        self.button.setObjectName("team_connecting_button")
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(note)
        layout.addWidget(self.bar)
        layout.addWidget(buttons)
        # no fixed minimum on the dialog itself and no word wrap: the layout then makes it as wide as the
        # database's name, however long (a wrapping label would let Qt cap the width and cut the name)


@dataclass(frozen=True)
class Checked:
    """How the start-up check ended: ``gave_up`` (the user stopped waiting) or ``reason`` (None: it works)."""

    gave_up: bool
    reason: str | None = None


def check_at_start(target: PostgresTarget, problem: Callable[[], str | None], button_text: str) -> Checked:
    """Run ``problem()`` (why ``target`` cannot be shown, or None) off the GUI thread, waiting for it in a
    local event loop; the connecting dialog shows if it takes longer than ``SHOW_AFTER_MS``.

    When the user stops waiting, the check is left running on its daemon thread and its result ignored:
    joining it would hold the window (or the exit) for the connect timeout the user just declined. Its
    runner belongs to the application so that the late result still has somewhere to arrive."""
    app = QCoreApplication.instance()
    assert isinstance(app, QApplication)
    runner = TaskRunner(app)
    dialog = ConnectingDialog(target, button_text)
    loop = QEventLoop()
    outcome: list[Checked] = []

    def finish(checked: Checked) -> None:
        if not outcome:  # the first of the check and the user wins; the other is ignored
            outcome.append(checked)
            loop.quit()

    def arrived(checked: Checked) -> None:
        runner.deleteLater()
        finish(checked)

    show = QTimer(dialog)
    show.setSingleShot(True)
    show.timeout.connect(dialog.show)
    dialog.rejected.connect(lambda: finish(Checked(gave_up=True)))
    runner.run(
        "team-check",
        problem,
        on_done=lambda reason: arrived(Checked(gave_up=False, reason=reason)),
        on_error=lambda exc: arrived(Checked(gave_up=False, reason=str(exc))),
    )
    show.start(SHOW_AFTER_MS)
    # hiding the only window there is must not count as the app's last window closing
    quit_on_close = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    try:
        loop.exec()
    finally:
        show.stop()
        dialog.hide()
        app.setQuitOnLastWindowClosed(quit_on_close)
    return outcome[0] if outcome else Checked(gave_up=True)  # the loop was ended from outside
