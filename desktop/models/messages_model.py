"""The messages table: a window onto SQLite, never the whole table in Python.

``rowCount`` is one ``COUNT(*)`` with the same WHERE as the rows; ``data`` asks for the page of rows that
holds the requested row (``LIMIT/OFFSET``, pages cached, a few kept), so a view of a million messages costs
the rows on screen. Sorting and filtering are SQL (see ``message_query``); a Python proxy model would cost
~10 µs a row per pass.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from desktop import badges
from desktop.models import message_query as mq
from desktop.models.message_query import MessageFilter, SortSpec

try:  # receiver/errors.py is written in parallel; the table still works without titles
    from receiver.errors import short_title
except ImportError:  # pragma: no cover - only while the module is missing

    def short_title(code: int | str | None) -> str:
        return "" if code is None else str(code)


__all__ = ["PAGE_SIZE", "ROW_ROLE", "SID_ROLE", "MessagesModel", "format_price", "local_time", "short_title"]

PAGE_SIZE = 200
MAX_PAGES = 16
SID_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
_NUMERIC = {"segments", "price", "media", "error"}
AnyIndex = QModelIndex | QPersistentModelIndex


def local_time(iso: str | None) -> str:
    """``2026-03-02T09:00:01.123+00:00`` -> local ``2026-03-02 10:00:01.123`` (milliseconds: callbacks
    for one message often arrive within the same second, and their order matters)."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    except ValueError:
        return iso


def table_time(iso: str | None) -> str:
    """Compact local time for the table: ``10:00:01.123`` today, with the date on other days."""
    full = local_time(iso)
    today = datetime.now().astimezone().strftime("%Y-%m-%d ")
    return full[len(today) :] if full.startswith(today) else full


def format_price(price: str | None, unit: str | None) -> str:
    if price in (None, ""):
        return ""
    return f"{price} {unit or ''}".strip()


class MessagesModel(QAbstractTableModel):
    """Messages matching a ``MessageFilter``, in ``SortSpec`` order, read page by page.

    Signals:
        countChanged(int): the number of messages matching the filter changed (after a refresh,
            a filter change or a sort).
    """

    countChanged = Signal(int)

    def __init__(self, reader: Callable[[], sqlite3.Connection], parent: Any = None) -> None:
        super().__init__(parent)
        self._reader = reader
        self._filter = MessageFilter()
        self._sort = SortSpec()
        self._count = 0
        self._pages: OrderedDict[int, list[sqlite3.Row]] = OrderedDict()
        self._now: datetime | None = None
        self._recount()

    # ------------------------------------------------------------------ state
    @property
    def filter(self) -> MessageFilter:
        return self._filter

    @property
    def sort_spec(self) -> SortSpec:
        return self._sort

    def set_filter(self, flt: MessageFilter) -> None:
        if flt == self._filter:
            return
        self._filter = flt
        self.refresh()

    def set_sort(self, spec: SortSpec) -> None:
        self._sort = spec
        self.refresh()

    def refresh(self) -> None:
        """Re-read the count and drop cached pages (the view re-selects its SID afterwards)."""
        old = self._count
        self.beginResetModel()
        self._pages.clear()
        self._recount()
        self.endResetModel()
        if self._count != old:
            self.countChanged.emit(self._count)

    def _recount(self) -> None:
        self._now = datetime.now().astimezone()
        try:
            self._count = mq.count(self._reader(), self._filter, self._now)
        except sqlite3.Error:
            self._count = 0

    @property
    def total(self) -> int:
        return self._count

    def position_of(self, sid: str) -> int | None:
        """The row showing ``sid`` under the current filter and sort (one indexed COUNT), or None."""
        try:
            row = mq.position_of(self._reader(), sid, self._filter, self._sort, self._now)
        except sqlite3.Error:
            return None
        return row if row is not None and row < self._count else None

    def sid_at(self, row: int) -> str | None:
        record = self._row(row)
        return str(record["sid"]) if record is not None else None

    def row_record(self, row: int) -> dict[str, Any] | None:
        record = self._row(row)
        return dict(record) if record is not None else None

    # ------------------------------------------------------------------ paging
    def _row(self, row: int) -> sqlite3.Row | None:
        if row < 0 or row >= self._count:
            return None
        page_no, offset = divmod(row, PAGE_SIZE)
        page = self._pages.get(page_no)
        if page is None:
            page = self._fetch(page_no)
            self._pages[page_no] = page
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        return page[offset] if offset < len(page) else None

    def _fetch(self, page_no: int) -> list[sqlite3.Row]:
        sql, args = mq.select_sql(self._filter, self._sort, self._now)
        try:
            cur = self._reader().execute(f"{sql} LIMIT ? OFFSET ?", [*args, PAGE_SIZE, page_no * PAGE_SIZE])
            return list(cur.fetchall())
        except sqlite3.Error:
            return []

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(mq.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(mq.COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return mq.COLUMNS[section][1]
        if role == Qt.ItemDataRole.ToolTipRole:
            return mq.COLUMNS[section][3]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid() or index.column() >= len(mq.COLUMNS):
            return None
        record = self._row(index.row())
        if record is None:
            return None
        column = mq.COLUMN_IDS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(column, record)
        if role == SID_ROLE:
            return str(record["sid"])
        if role == ROW_ROLE:
            return dict(record)
        if role == Qt.ItemDataRole.DecorationRole and column == "status":
            return badges.icon_for(record["status"])
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(column, record)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC and column != "error":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(column: str, r: sqlite3.Row) -> str:
        if column == "time":
            return table_time(r["first_seen"])
        if column == "status":
            return badges.badge_for(r["status"]).text
        if column == "error":
            return short_title(r["error_code"]) if r["error_code"] is not None else ""
        if column == "segments":
            return "" if r["num_segments"] is None else str(r["num_segments"])
        if column == "price":
            return format_price(r["price"], r["price_unit"])
        if column == "media":
            return str(r["num_media"] or 0) if r["direction"] == "inbound" or r["num_media"] else ""
        if column == "body":
            return (r["body"] or "").replace("\n", " ⏎ ")[:200]
        key = {
            "from": "from_addr",
            "to": "to_addr",
            "service": "messaging_service_sid",
            "profile": "profile_name",
        }
        value = r[key.get(column, column)]
        return "" if value is None else str(value)

    @staticmethod
    def _tooltip(column: str, r: sqlite3.Row) -> str | None:
        if column == "status":
            return badges.badge_for(r["status"]).tooltip
        if column == "time":
            return f"first seen {r['first_seen']} (UTC), updated {r['updated_at']}, {r['event_count']} events"
        if column == "error" and r["error_code"] is not None:
            return f"{short_title(r['error_code'])} — select the message and press “Explain error”"
        if column == "body" and r["body"]:
            return str(r["body"])
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(mq.COLUMNS):
            return
        self.set_sort(SortSpec(mq.COLUMN_IDS[column], order == Qt.SortOrder.DescendingOrder))
