"""Export the messages the table shows (same filter, same order) to CSV, streamed and cancelable.

The rows are read on a worker thread with its own read-only connection, 1,000 at a time, so a
million-row export neither freezes the window nor holds the rows in memory. Free-text columns written by
customers (body, profile name) are neutralised against spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from desktop.models import message_query as mq
from desktop.models.message_query import MessageFilter, SortSpec
from desktop.models.messages_model import short_title
from receiver.store import connect

CHUNK = 1000
HEADER = (
    "sid", "first_seen_utc", "updated_at_utc", "direction", "channel", "from", "to", "status", "error_code",
    "error_title", "num_segments", "num_media", "price", "price_unit", "messaging_service_sid",
    "profile_name", "body", "event_count",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_text(value: str | None) -> str:
    """Customer-written text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_row(r: sqlite3.Row) -> list[Any]:
    code = r["error_code"]
    return [
        r["sid"], r["first_seen"], r["updated_at"], r["direction"], r["channel"],
        r["from_addr"], r["to_addr"],
        r["status"], "" if code is None else code, short_title(code) if code is not None else "",
        r["num_segments"], r["num_media"], r["price"], r["price_unit"], r["messaging_service_sid"],
        _safe_text(r["profile_name"]), _safe_text(r["body"]), r["event_count"],
    ]  # fmt: skip


def export_messages(
    db_path: str | Path,
    dest: str | Path,
    flt: MessageFilter,
    sort: SortSpec,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Write the matching messages to ``dest``; returns rows written. A canceled export removes the file
    and returns -1."""
    conn = connect(db_path, readonly=True)
    dest = Path(dest)
    written = 0
    try:
        conn.execute("BEGIN")  # one snapshot: the count and the rows agree while the receiver writes
        total = mq.count(conn, flt)
        sql, args = mq.select_sql(flt, sort)
        cur = conn.execute(sql, args)
        with dest.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADER)
            while True:
                if cancel is not None and cancel.is_set():
                    break
                chunk = cur.fetchmany(CHUNK)
                if not chunk:
                    break
                writer.writerows(_csv_row(r) for r in chunk)
                written += len(chunk)
                if on_progress is not None:
                    on_progress(written, total)
    finally:
        conn.close()
    if cancel is not None and cancel.is_set():
        dest.unlink(missing_ok=True)
        return -1
    return written


class CsvExport(QObject):
    """Runs ``export_messages`` on a worker thread behind a cancelable QProgressDialog.

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
        db_path: str | Path,
        dest: str | Path,
        flt: MessageFilter,
        sort: SortSpec,
        expected: int,
    ) -> threading.Thread:
        dialog = QProgressDialog(
            f"Exporting {expected:,} messages…", "Cancel", 0, max(expected, 1), self._parent
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
                rows = export_messages(db_path, dest, flt, sort, self.progress.emit, self.cancel)
            except (OSError, sqlite3.Error) as exc:
                self.failed.emit(f"Export failed: {exc}")
                return
            self.finished.emit(rows, str(dest))

        return run_in_background("export-csv", work)

    def _on_progress(self, done: int, total: int) -> None:
        if self.dialog is not None and not self.cancel.is_set():
            self.dialog.setMaximum(max(total, 1))
            self.dialog.setValue(min(done, max(total, 1)))
