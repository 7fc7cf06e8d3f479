"""The request log as a table model that asks the store only for the rows on screen, off the GUI thread.

Why windowed: the ``requests`` table grows by one row per webhook, so a busy day is a million rows.
The model keeps a row count and a few cached pages (``PAGE`` rows each, read by key from a cached
neighbour: ``receiver.store.paging``) and filters in the store, never in a proxy model. A text filter is a
scan (a few hundred ms on a million rows), so counts and pages that do not answer within a few ms on the
GUI thread are read on a lane (``desktop.models.budgeted_reads``): the count grows as pages arrive, rows
show "…" until theirs does, and a newer filter supersedes what the lane was still reading.

Why a snapshot id: rows are listed newest first, so offsets move whenever a request arrives. The model
lists only ids up to ``top``; ``refresh()`` counts the matching rows above it (a range on the primary key)
and *inserts* them at row 0, so views keep their selection and scroll position instead of being reset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import QApplication, QStyle

from desktop.formatting import local_time
from desktop.models.budgeted_reads import BudgetedReads
from desktop.models.paged import PagedTableModel
from receiver.request_filter import OUTCOMES, RequestFilter
from receiver.store import Reader, StoreError
from receiver.store.base import ReadInterrupted
from receiver.store.paging import Page, PagePlan, first_page, plan_page

ModelIndex = QModelIndex | QPersistentModelIndex

PAGE = 200
PAGE_BUDGET_MS = 12.0  # a read on the GUI thread: well inside the 50 ms "no stall" goal
COUNT_BUDGET_MS = 25.0
PLACEHOLDER = "…"
GUI_SKIP_ROWS = 2_000  # a page that skips more rows than this is read on a lane at once

COL_TIME, COL_METHOD, COL_PATH, COL_OUTCOME, COL_STATUS, COL_REASON, COL_LATENCY, COL_SID = range(8)
HEADERS = ("Time", "Method", "Path", "Outcome", "HTTP", "Reason", "Latency", "Message SID")
__all__ = ["OUTCOMES", "PAGE", "PLACEHOLDER", "RequestIdRole", "RequestsModel", "outcome_icon"]
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


@dataclass(frozen=True)
class _Snapshot:
    """What one generation of the model reads: the filter, and the log up to request ``top``."""

    flt: RequestFilter
    top: int

    def count(self, r: Reader) -> int:
        try:
            return r.requests_count(self.flt, 0, self.top)
        except ReadInterrupted:
            raise
        except StoreError:
            return 0

    def page(self, r: Reader, plan: PagePlan) -> Page:
        try:
            return r.requests_page(self.flt, self.top, plan)
        except ReadInterrupted:
            raise
        except StoreError:
            return Page()


class RequestsModel(PagedTableModel):
    """Every request the receiver logged, newest first, filtered by outcome and text in the store.

    ``read`` returns the GUI thread's Reader (the controller's ``read``), so the model never holds one
    the controller has closed.

    Signals:
        countChanged(int): the number of requests matching the filter is known and changed, or became
            known after a provisional count (after a reload or a filter change).
    """

    def __init__(self, read: Callable[[], Reader], parent: Any = None, *, page_size: int = PAGE) -> None:
        super().__init__(parent, page_size=page_size)
        self._reads = BudgetedReads("requests", read, self)
        self.page_budget_ms = PAGE_BUDGET_MS  # 0: every read goes to a lane (tests use it)
        self.count_budget_ms = COUNT_BUDGET_MS
        self._snap = _Snapshot(RequestFilter(), 0)
        self._icons: dict[str, QIcon] = {}

    # ------------------------------------------------------------ filtering
    @property
    def filter(self) -> RequestFilter:
        return self._snap.flt

    def set_filter(self, outcome: str | None, text: str) -> None:
        """Show only ``outcome`` (None for all) and rows whose path, reason or SID contains ``text``."""
        flt = RequestFilter(outcome, text)  # ValueError for an unknown outcome
        if flt == self._snap.flt:
            return
        self._snap = _Snapshot(flt, self._snap.top)
        self.reload()

    def close(self) -> None:
        """Stop the lanes and wait for them."""
        self._reads.close()

    # ------------------------------------------------------------ loading
    def _top(self) -> int | None:
        """The newest id: one step down the primary key, so always asked on the GUI thread."""
        try:
            return self._reads.read().requests_top()
        except StoreError:
            return None

    def reload(self) -> None:
        """Recount from scratch (filter changed, or rows were deleted): a model reset."""
        self._generation += 1
        self._reads.supersede()
        top = self._top()
        snap = self._snap = _Snapshot(self._snap.flt, top or 0)
        first = first_page(self._page_size)
        page0 = self._reads.attempt(lambda r: snap.page(r, first), self.page_budget_ms) if top else Page()
        if page0 is not None and len(page0) < self._page_size:
            count: int | None = len(page0)  # a short first page is the whole list: no count needed
        else:
            count = self._reads.attempt(snap.count, self.count_budget_ms)
        self.beginResetModel()
        self._pages.clear()
        self._pending.clear()
        if page0 is not None:
            self._pages[0] = page0
        self._count_known = count is not None
        self._count = count if count is not None else (len(page0) if page0 is not None else 0)
        self.endResetModel()
        generation = self._generation
        if count is None:
            self._reads.submit("count", "count", snap.count, lambda n: self._on_count(generation, n))
        if page0 is None:
            self._pending.add(0)
            self._reads.submit(
                "pages", 0, lambda r: snap.page(r, first), lambda p: self._on_page(generation, 0, p)
            )
        if count is not None:
            self.countChanged.emit(count)

    def refresh(self) -> int:
        """Add the requests logged since the last look at the top; returns how many were added."""
        top = self._top()
        if top is None or top == self._snap.top:
            return 0
        if top < self._snap.top or not self._count_known:  # pruned, or still counting the old list
            self.reload()
            return 0
        flt, old_top = self._snap.flt, self._snap.top
        added = self._reads.attempt(lambda r: r.requests_count(flt, old_top, top), self.count_budget_ms)
        if added is None:  # a huge burst under a slow filter: count it all again, off the GUI thread
            self.reload()
            return 0
        self._generation += 1  # pages read for the old offsets are out of date
        self._reads.supersede()
        self._pending.clear()
        if added == 0:
            self._snap = _Snapshot(flt, top)
            return 0
        self.beginInsertRows(QModelIndex(), 0, added - 1)
        self._snap = _Snapshot(flt, top)
        self._count += added
        self._pages.clear()
        self.endInsertRows()
        self.countChanged.emit(self._count)
        return added

    def _row(self, row: int) -> dict[str, Any] | None:
        if not 0 <= row < self._count:
            return None
        page_no, offset = divmod(row, self._page_size)
        page = self._pages.get(page_no)
        if page is None:
            if page_no in self._pending:
                return None
            snap, size = self._snap, self._page_size
            plan = plan_page(page_no, size, self._pages, self._count, self._count_known)
            # a log row is wide (headers, body): skipping thousands of them never fits the GUI's budget,
            # so such a page goes straight to the lane instead of costing the budget first
            budget = self.page_budget_ms if plan.skip <= GUI_SKIP_ROWS else 0
            generation = self._generation
            page = self._reads.page(
                page_no,
                lambda r: snap.page(r, plan),
                budget,
                self._pending,
                lambda p: self._on_page(generation, page_no, p),
            )
            if page is None:
                return None
            self._store_page(page_no, page)
        else:
            self._pages.move_to_end(page_no)
        return page.rows[offset] if offset < len(page) else None

    # ------------------------------------------------------------ lookups for views
    def request_id(self, row: int) -> int | None:
        record = self._row(row)
        return int(record["id"]) if record is not None else None

    def row_of(self, request_id: int) -> int | None:
        """The row showing ``request_id`` under the current filter, or None (filtered out, unknown, or
        too slow to find on the GUI thread)."""
        snap = self._snap
        try:
            row = self._reads.attempt(
                lambda r: r.requests_position(request_id, snap.flt, snap.top), self.count_budget_ms
            )
        except StoreError:
            return None
        return row if row is not None and row < self._count else None

    # ------------------------------------------------------------ Qt model API

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
        if record is None:  # "…" while its page is being read; blank if the row went (pruned meanwhile)
            loading = index.row() // self._page_size in self._pending
            return PLACEHOLDER if loading and role == Qt.ItemDataRole.DisplayRole else None
        rid, received_at, method, path, outcome = (
            record[k] for k in ("id", "received_at", "method", "path", "outcome")
        )
        http_status, reason, latency, sid, query = (
            record[k] for k in ("http_status", "reason", "latency_ms", "message_sid", "query")
        )
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
