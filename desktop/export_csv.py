"""Export what a tab shows (same filter, same order) to CSV, streamed and cancelable, off the GUI thread.

The worker thread opens its own Reader, which reads 1,000 rows at a time and writes the file
(receiver/store/export_reads.py, receiver/export.py: the code path ``callback-monitor export`` uses too),
so a million-row export neither freezes the window nor holds the rows in memory. This module adds the
view's filter and sort, and the progress dialog.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from desktop.workers import TaskRunner
from receiver.message_filter import MessageFilter, SortSpec
from receiver.request_filter import RequestFilter
from receiver.store import StoreError, open_reader
from receiver.store.url import PostgresTarget

Progress = Callable[[int, int], None]
ExportJob = Callable[[Progress, threading.Event], int]


def export_messages(
    db_path: str | Path | PostgresTarget,
    dest: str | Path,
    flt: MessageFilter,
    sort: SortSpec,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Write the messages matching ``flt`` in ``sort`` order to ``dest``; returns rows written, -1 when
    canceled (the file is removed)."""
    with closing(open_reader(db_path)) as reader:
        return reader.export_messages(dest, flt, sort, on_progress=on_progress, cancel=cancel)


def export_requests(
    db_path: str | Path | PostgresTarget,
    dest: str | Path,
    flt: RequestFilter,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Write the request-log rows matching ``flt`` (the inspector's filter), newest first like the tab."""
    with closing(open_reader(db_path)) as reader:
        return reader.export_requests(dest, flt, on_progress=on_progress, cancel=cancel)


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
        tasks: TaskRunner,
        job: ExportJob,
        dest: str | Path,
        expected: int,
        what: str = "messages",
    ) -> threading.Thread:
        """Run ``job(progress, cancel)`` (e.g. a partial of ``export_messages``) on a ``tasks`` thread."""
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
            except (OSError, StoreError) as exc:
                self.failed.emit(f"Export failed: {exc}")
                return
            self.finished.emit(rows, str(dest))

        return tasks.run("export-csv", work)

    def _on_progress(self, done: int, total: int) -> None:
        if self.dialog is not None and not self.cancel.is_set():
            self.dialog.setMaximum(max(total, 1))
            self.dialog.setValue(min(done, max(total, 1)))
