"""The ``callback-monitor`` program: the desktop app without a subcommand, every subcommand otherwise.

The GUI wraps the core, never the other way round: subcommands are handed to ``receiver.cli`` (which
never imports desktop/), together with what only the desktop has, the window to open and the
self-test's window check. Nothing here imports Qt at module level, so ``callback-monitor serve`` also
runs where PySide6 is not installed (a server, a container); only opening the window needs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from receiver import cli

EXIT_NO_QT = 2


def _qt_missing(exc: ImportError) -> bool:
    return (exc.name or "").split(".")[0] == "PySide6"


def _no_qt_message(exc: ImportError) -> str:
    return (
        f"callback-monitor: the desktop app needs PySide6, which cannot be imported here ({exc}). Install "
        "it (pip install 'pyside6-essentials>=6.8,<6.12'), or run the receiver headless with "
        "`callback-monitor serve`."
    )


def open_window(store: str | None) -> int:
    """The main window (desktop/app.py) on ``store``, the string given to --store or --db: a database
    file (the embedded receiver) or a postgresql:// URL (attached to a team database); None: the last
    one shown. A clear message without Qt."""
    try:
        from desktop.app import main as window_main

        return window_main(db=store)
    except ImportError as exc:
        if not _qt_missing(exc):
            raise
        print(_no_qt_message(exc), file=sys.stderr)
        return EXIT_NO_QT


def window_check(db_path: Path, settings_file: Path) -> str:
    """self-test's window check (desktop/smoke.py); RuntimeError, which self-test reports, without Qt."""
    try:
        from desktop.smoke import open_and_close_main_window
    except ImportError as exc:
        if not _qt_missing(exc):
            raise
        raise RuntimeError(_no_qt_message(exc) + " (`self-test --no-window` leaves the window out)") from exc
    return open_and_close_main_window(db_path, settings_file)


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, open_window=open_window, window_check=window_check)
