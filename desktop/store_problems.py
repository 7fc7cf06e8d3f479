"""What the window says when its database cannot be opened at start (store_health.py decides what is wrong).

A damaged database is only kept aside (renamed with a timestamp) and a new one started when the operator
says so with the dialog's button; every other failure is one message and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from desktop.receiver_controller import ReceiverController
from receiver.store_health import StoreDamaged, StoreError, keep_aside

EXIT_STORE = 4
KEEP_ASIDE = "Keep it aside and start a new database"
QUIT = "Quit"


def ask_keep_aside(exc: StoreDamaged) -> bool:
    """True when the operator chose to keep the damaged file aside and start afresh."""
    box = QMessageBox(QMessageBox.Icon.Critical, "The database is damaged", str(exc))
    box.setObjectName("damaged_database")
    fresh = box.addButton(KEEP_ASIDE, QMessageBox.ButtonRole.AcceptRole)
    quit_button = box.addButton(QUIT, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(quit_button)
    box.setEscapeButton(quit_button)
    box.exec()
    return box.clickedButton() is fresh


def report(title: str, text: str) -> int:
    print(f"callback-monitor: {text}", file=sys.stderr)
    QMessageBox.critical(None, title, text)
    return EXIT_STORE


def recover(exc: StoreError, db_path: Path, controller: ReceiverController) -> int | None:
    """After ``controller.start()`` raised ``exc``: None when the receiver runs after all (a damaged file
    kept aside with the operator's agreement), else the exit code once the operator has been told."""
    if not isinstance(exc, StoreDamaged):
        return report("Callback Monitor cannot open its database", str(exc))
    if not ask_keep_aside(exc):
        print(f"callback-monitor: {exc}", file=sys.stderr)
        return EXIT_STORE
    try:
        kept = keep_aside(db_path)
        controller.start()
    except StoreError as again:
        return report("Callback Monitor cannot open its database", str(again))
    print(
        f"callback-monitor: the damaged database was kept aside as {kept}; a new one was started.",
        file=sys.stderr,
    )
    return None
