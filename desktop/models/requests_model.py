"""The request log as a table model that asks SQLite only for the rows on screen.

Why windowed: the ``requests`` table grows by one row per webhook, so a busy day is a million rows.
The model keeps a row count and a few cached pages (``PAGE`` rows each, fetched with LIMIT/OFFSET on
the primary key) and filters in SQL, never in a proxy model.

Why a snapshot id: rows are listed newest first, so offsets move whenever a request arrives. The model
lists only ids up to ``_top_id``; ``refresh()`` counts the matching rows above it (a cheap range on the
primary key) and *inserts* them at row 0, so views keep their selection and scroll position instead of
being reset.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import QApplication, QStyle

from desktop.formatting import local_time

ModelIndex = QModelIndex | QPersistentModelIndex

PAGE = 200
MAX_PAGES = 16  # pages kept in memory (3,200 rows): what a view and its scroll-back need

COL_TIME, COL_METHOD, COL_PATH, COL_OUTCOME, COL_STATUS, COL_REASON, COL_LATENCY, COL_SID = range(8)
HEADERS = ("Time", "Method", "Path", "Outcome", "HTTP", "Reason", "Latency", "Message SID")
_SELECT = "SELECT id, received_at, method, path, outcome, http_status, reason, latency_ms, message_sid, query"

OUTCOMES = ("accepted", "duplicate", "rejected")
OUTCOME_TEXT = {"accepted": "Accepted", "duplicate": "Duplicate", "rejected": "Rejected"}
OUTCOME_HELP = {
    "accepted": "Validated and stored",
    "duplicate": "A repeat delivery of a callback already stored (answered 2xx, not stored again)",
    "rejected": "Refused: not stored as a callback; the reason column says why",
}
_ICONS = {
    "accepted": QStyle.StandardPixmap.SP_DialogApplyButton,
    "duplicate": QStyle.StandardPixmap.SP_BrowserReload,
    "rejected": QStyle.StandardPixmap.SP_MessageBoxCritical,
}

RequestIdRole = Qt.ItemDataRole.UserRole + 1


def outcome_icon(outcome: str) -> QIcon:
    app = QApplication.instance()
    pixmap = _ICONS.get(outcome)
    if pixmap is None or not isinstance(app, QApplication):
        return QIcon()
    return app.style().standardIcon(pixmap)


class RequestsModel(QAbstractTableModel):
    """Every request the receiver logged, newest first, filtered by outcome and text in SQL.

    ``connection`` is a callable returning the GUI thread's read connection (the controller's
    ``reader``), so the model never holds a connection the controller has closed.
    """

    def __init__(
        self, connection: Callable[[], sqlite3.Connection], parent: Any = None, *, page_size: int = PAGE
    ) -> None:
        super().__init__(parent)
        self._connection = connection
        self._page_size = page_size
        self._outcome: str | None = None
        self._text = ""
        self._top_id = 0
        self._count = 0
        self._pages: OrderedDict[int, list[sqlite3.Row | tuple[Any, ...]]] = OrderedDict()
        self._icons: dict[str, QIcon] = {}

    # ------------------------------------------------------------ filtering
    @property
    def outcome_filter(self) -> str | None:
        return self._outcome

    @property
    def text_filter(self) -> str:
        return self._text

    def set_filter(self, outcome: str | None, text: str) -> None:
        """Show only ``outcome`` (None for all) and rows whose path, reason or SID contains ``text``."""
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        text = text.strip()
        if (outcome, text) == (self._outcome, self._text):
            return
        self._outcome, self._text = outcome, text
        self.reload()

    def where(self) -> tuple[str, list[Any]]:
        """The current filter as an SQL condition on ``requests`` and its parameters (for exports)."""
        clauses: list[str] = []
        args: list[Any] = []
        if self._outcome is not None:
            clauses.append("outcome = ?")
            args.append(self._outcome)
        if self._text:
            pattern = "%" + self._text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append(
                "(path LIKE ? ESCAPE '\\' OR reason LIKE ? ESCAPE '\\' OR message_sid LIKE ? ESCAPE '\\')"
            )
            args += [pattern, pattern, pattern]
        return (" AND ".join(clauses) if clauses else "1"), args

    # ------------------------------------------------------------ loading
    def _max_id(self) -> int:
        row = self._connection().execute("SELECT MAX(id) FROM requests").fetchone()
        return int(row[0] or 0)

    def _count_between(self, low: int, high: int) -> int:
        where, args = self.where()
        sql = f"SELECT COUNT(*) FROM requests WHERE id > ? AND id <= ? AND {where}"
        row = self._connection().execute(sql, [low, high, *args]).fetchone()
        return int(row[0])

    def reload(self) -> None:
        """Recount from scratch (filter changed, or rows were deleted): a model reset."""
        self.beginResetModel()
        self._pages.clear()
        try:
            self._top_id = self._max_id()
            self._count = self._count_between(0, self._top_id)
        except sqlite3.Error:
            self._top_id, self._count = 0, 0
        self.endResetModel()

    def refresh(self) -> int:
        """Add the requests logged since the last look at the top; returns how many were added."""
        try:
            top = self._max_id()
        except sqlite3.Error:
            return 0
        if top < self._top_id:  # the log was cleared or pruned: offsets are meaningless now
            self.reload()
            return 0
        if top == self._top_id:
            return 0
        added = self._count_between(self._top_id, top)
        if added == 0:
            self._top_id = top
            return 0
        self.beginInsertRows(QModelIndex(), 0, added - 1)
        self._top_id = top
        self._count += added
        self._pages.clear()
        self.endInsertRows()
        return added

    def _page(self, number: int) -> list[sqlite3.Row | tuple[Any, ...]]:
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page
        where, args = self.where()
        try:
            page = list(
                self._connection().execute(
                    f"{_SELECT} FROM requests WHERE id <= ? AND {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                    [self._top_id, *args, self._page_size, number * self._page_size],
                )
            )
        except sqlite3.Error:
            page = []
        self._pages[number] = page
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

    def _row(self, row: int) -> sqlite3.Row | tuple[Any, ...] | None:
        if not 0 <= row < self._count:
            return None
        page = self._page(row // self._page_size)
        offset = row % self._page_size
        return page[offset] if offset < len(page) else None

    # ------------------------------------------------------------ lookups for views
    def request_id(self, row: int) -> int | None:
        record = self._row(row)
        return int(record[0]) if record is not None else None

    def row_of(self, request_id: int) -> int | None:
        """The row showing ``request_id`` under the current filter, or None (filtered out / unknown)."""
        if not 0 < request_id <= self._top_id:
            return None
        where, args = self.where()
        conn = self._connection()
        hit = conn.execute(f"SELECT 1 FROM requests WHERE id = ? AND {where}", [request_id, *args]).fetchone()
        if hit is None:
            return None
        return self._count_between(request_id, self._top_id)

    # ------------------------------------------------------------ Qt model API
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(HEADERS):
            return HEADERS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        record = self._row(index.row())
        if record is None:
            return None
        rid, received_at, method, path, outcome, http_status, reason, latency, sid, query = tuple(record)
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_TIME:  # with the date: a log is read across days
                return local_time(received_at)
            if col == COL_METHOD:
                return method
            if col == COL_PATH:
                return f"{path}?{query}" if query else path
            if col == COL_OUTCOME:
                return OUTCOME_TEXT.get(outcome, outcome)
            if col == COL_STATUS:
                return str(http_status) if http_status else ""
            if col == COL_REASON:
                return reason or ""
            if col == COL_LATENCY:
                return f"{latency:.1f} ms" if latency is not None else ""
            if col == COL_SID:
                return sid or ""
            return None
        if role == RequestIdRole:
            return int(rid)
        if role == Qt.ItemDataRole.DecorationRole and col == COL_OUTCOME:
            icon = self._icons.get(outcome)
            if icon is None:
                icon = self._icons[outcome] = outcome_icon(outcome)
            return icon
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_TIME:
                return received_at
            if col == COL_OUTCOME:
                return OUTCOME_HELP.get(outcome)
            if col == COL_REASON and reason:
                return reason
            return None
        if role == Qt.ItemDataRole.FontRole and col == COL_OUTCOME and outcome == "rejected":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_STATUS, COL_LATENCY):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
