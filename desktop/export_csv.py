"""Export what a tab shows (same filter, same order) to CSV, streamed and cancelable, off the GUI thread.

The rows are read on a worker thread with its own read-only connection, 1,000 at a time, so a
million-row export neither freezes the window nor holds the rows in memory. Columns and cell writing
(spreadsheet formulas neutralised) come from ``receiver.export``, the code path ``callback-monitor
export`` uses too: the app adds only the filter and sort of the view.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from desktop.models import message_query as mq
from desktop.models.message_query import MessageFilter, SortSpec
from receiver import export as exports
from receiver.store import connect

Progress = Callable[[int, int], None]
ExportJob = Callable[[Progress, threading.Event], int]


def export_messages(
    db_path: str | Path,
    dest: str | Path,
    flt: MessageFilter,
    sort: SortSpec,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Write the messages matching ``flt`` in ``sort`` order to ``dest``; returns rows written, -1 when
    canceled (the file is removed)."""
    conn = connect(db_path, readonly=True)
    try:
        conn.execute("BEGIN")  # one snapshot: the count and the rows agree while the receiver writes
        total = mq.count(conn, flt)
        sql, args = mq.select_sql(flt, sort)
        return exports.export_to_file(
            conn, dest, exports.MESSAGES, sql, args, total=total, on_progress=on_progress, cancel=cancel
        )
    finally:
        conn.close()


def export_requests(
    db_path: str | Path,
    dest: str | Path,
    where: str = "1",
    args: Sequence[Any] = (),
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Write the request-log rows matching ``where`` (the inspector's filter), newest first like the tab."""
    conn = connect(db_path, readonly=True)
    try:
        conn.execute("BEGIN")
        total = int(conn.execute(f"SELECT COUNT(*) FROM requests WHERE {where}", list(args)).fetchone()[0])
        sql, sql_args = exports.requests_sql(where, args, newest_first=True)
        return exports.export_to_file(
            conn, dest, exports.REQUESTS, sql, sql_args, total=total, on_progress=on_progress, cancel=cancel
        )
    finally:
        conn.close()


class CsvExport(QObject):
    """Runs an export job on a worker thread behind a cancelable QProgressDialog.

    Signals:
        progress(int, int): rows written, rows to write (queued to the GUI thread).
        finished(int, str): rows written (-1 when canceled) and the destination path.
        failed(str): the reason the export failed.
    """

    progress = Signal(int, int)
    finished = Signal(int, str)
    failed = Signal(str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self.cancel = threading.Event()
        self.dialog: QProgressDialog | None = None

    def start(
        self,
        run_in_background: Callable[[str, Any], threading.Thread],
        job: ExportJob,
        dest: str | Path,
        expected: int,
        what: str = "messages",
    ) -> threading.Thread:
        """Run ``job(progress, cancel)`` (e.g. a partial of ``export_messages``) on a worker thread."""
        dialog = QProgressDialog(
            f"Exporting {expected:,} {what}…", "Cancel", 0, max(expected, 1), self._parent
        )
        dialog.setObjectName("export_progress")
        dialog.setWindowTitle("Export to CSV")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(400)  # small exports finish before the dialog would even show
        dialog.canceled.connect(self.cancel.set)
        self.dialog = dialog
        self.progress.connect(self._on_progress)
        self.finished.connect(lambda *_: dialog.reset())
        self.failed.connect(lambda *_: dialog.reset())

        def work() -> None:
            try:
                rows = job(self.progress.emit, self.cancel)
            except (OSError, sqlite3.Error) as exc:
                self.failed.emit(f"Export failed: {exc}")
                return
            self.finished.emit(rows, str(dest))

        return run_in_background("export-csv", work)

    def _on_progress(self, done: int, total: int) -> None:
        if self.dialog is not None and not self.cancel.is_set():
            self.dialog.setMaximum(max(total, 1))
            self.dialog.setValue(min(done, max(total, 1)))
