"""The messages table: a window onto the store, never the whole table in Python, never a slow query on the
GUI thread.

``rowCount`` is the store's count for the filter; ``data`` asks for the page of rows that holds the
requested row (pages of ``PAGE_SIZE``, a few cached), so a view of a million messages costs the rows on
screen. Sorting and filtering are the store's (``receiver.store.message_sql``); a Python proxy model would
cost ~10 µs a row per pass.

Keeping the GUI thread free: every read first runs on the GUI's Reader within a small time limit. Most
answer well inside it (small databases always do, so the model stays synchronous there: callers and tests
read the rows right after ``set_filter``). One that does not goes to a worker lane (``desktop.workers``)
with its own Reader: a page shows "…" until its rows arrive (``dataChanged``), and the count stays
provisional (rows known so far) until the lane's count arrives (rows inserted/removed at the end, then
``countChanged``). A refresh, filter or sort supersedes what the lanes were still reading.

Deep pages are read from the nearest cached page by key (``receiver.store.paging``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from desktop import badges
from desktop.formatting import message_cell, message_tooltip, opt_out
from desktop.models import message_query as mq
from desktop.models.budgeted_reads import BudgetedReads
from desktop.models.message_query import MessageFilter, SortSpec
from desktop.models.paged import PagedTableModel
from receiver.errors import short_title
from receiver.store import Reader, StoreError
from receiver.store.base import ReadInterrupted
from receiver.store.message_sql import text_indexable
from receiver.store.paging import Page, PagePlan, first_page, plan_page

# short_title: message_detail imports it from here until it imports receiver.errors
__all__ = ["PAGE_SIZE", "PLACEHOLDER", "ROW_ROLE", "SID_ROLE", "MessagesModel", "short_title"]

PAGE_SIZE = 200
SID_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
PLACEHOLDER = "…"
PAGE_BUDGET_MS = 12.0  # a page read on the GUI thread: well inside the 50 ms "no stall" goal
COUNT_BUDGET_MS = 25.0
SPARSE_TEXT = 20_000  # at most this many text matches: read pages through the index, else scan in order
_NUMERIC = {"segments", "price", "media", "error"}
AnyIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class _Query:
    """What one generation of the model reads (a refresh, filter or sort starts a new one)."""

    flt: MessageFilter
    sort: SortSpec
    now: datetime
    text_index: bool  # rows: free text through the trigram index (few matches) rather than LIKE
    count_index: bool  # count: the index helps (few matches, or the text is the only filter)

    def count(self, r: Reader) -> int:
        """The count; 0 when the store cannot answer (an interrupt is passed on)."""
        try:
            return r.messages_count(self.flt, self.now, text_index=self.count_index)
        except ReadInterrupted:
            raise
        except StoreError:
            return 0

    def page(self, r: Reader, plan: PagePlan) -> Page:
        """One page; empty when the store cannot answer (an interrupt is passed on)."""
        try:
            return r.messages_page(self.flt, self.sort, self.now, plan, text_index=self.text_index)
        except ReadInterrupted:
            raise
        except StoreError:
            return Page()


class MessagesModel(PagedTableModel):
    """Messages matching a ``MessageFilter``, in ``SortSpec`` order, read page by page.

    ``read`` returns the GUI thread's Reader (the controller's ``read``), so the model never holds one
    the controller has closed.

    Signals:
        countChanged(int): the number of messages matching the filter is known and changed, or became
            known after a provisional count (after a refresh, a filter change or a sort).
    """

    def __init__(self, read: Callable[[], Reader], parent: Any = None) -> None:
        super().__init__(parent, page_size=PAGE_SIZE)
        self._read = read
        self.page_budget_ms = PAGE_BUDGET_MS  # 0: every read goes to a lane (tests use it)
        self.count_budget_ms = COUNT_BUDGET_MS
        self._filter = MessageFilter()
        self._sort = SortSpec()
        self._query = _Query(self._filter, self._sort, datetime.now().astimezone(), False, False)
        self._announced: int | None = None
        self._reads = BudgetedReads("messages", read, self)
        self._text_index: bool | None = None
        self._start_generation(same_list=False, reset=False)

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
        self._start_generation(same_list=False)

    def set_sort(self, spec: SortSpec) -> None:
        self._sort = spec
        self._start_generation(same_list=False)

    def refresh(self) -> None:
        """Re-read the count and drop cached pages (the view re-selects its SID afterwards)."""
        self._start_generation(same_list=True)

    def close(self) -> None:
        """Stop the lanes (they also stop by themselves when idle) and wait for them."""
        self._reads.close()

    @property
    def total(self) -> int:
        return self._count

    def position_of(self, sid: str) -> int | None:
        """The row showing ``sid`` under the current filter and sort, or None."""
        q = self._query
        try:
            row = self._read().messages_position(sid, q.flt, q.sort, q.now, text_index=q.text_index)
        except StoreError:
            return None
        return row if row is not None and row < self._count else None

    def sid_at(self, row: int) -> str | None:
        record = self._row(row)
        return str(record["sid"]) if record is not None else None

    def row_record(self, row: int) -> dict[str, Any] | None:
        record = self._row(row)
        return dict(record) if record is not None else None

    # ------------------------------------------------------------------ generations
    def _start_generation(self, *, same_list: bool, reset: bool = True) -> None:
        """New filter/sort/refresh: page 0 and the count within their budgets, the rest on a lane."""
        self._generation += 1
        self._reads.supersede()
        q = self._plan(datetime.now().astimezone())
        first = first_page(PAGE_SIZE)
        page0 = self._reads.attempt(lambda r: q.page(r, first), self.page_budget_ms)
        if page0 is not None and len(page0) < PAGE_SIZE:
            count: int | None = len(page0)  # a short first page is the whole list: no count needed
        else:
            count = self._reads.attempt(q.count, self.count_budget_ms)
        old = self._count
        if reset:
            self.beginResetModel()
        self._query = q
        self._pages.clear()
        self._pending.clear()
        if page0 is not None:
            self._pages[0] = page0
        self._count_known = count is not None
        if count is not None:
            self._count = count
        elif not same_list:
            self._count = len(page0) if page0 is not None else 0
        if reset:
            self.endResetModel()
        generation = self._generation
        if count is None:
            self._reads.submit("count", "count", q.count, lambda n: self._on_count(generation, n))
        if page0 is None:
            self._pending.add(0)
            self._reads.submit(
                "pages", 0, lambda r: q.page(r, first), lambda p: self._on_page(generation, 0, p)
            )
        if count is not None and (count != old or self._announced != count):
            self._announce(count)

    def _plan(self, now: datetime) -> _Query:
        """Whether the trigram index answers the free text: for rows only when matches are few (a scan in
        table order finds a page of dense matches sooner), for the count whenever it can."""
        flt = self._filter
        text = flt.text.strip()
        usable = bool(text) and text_indexable(text) and self._has_text_index()
        sparse = False
        if usable:
            try:
                probe = self._reads.attempt(
                    lambda r: r.messages_text_matches(text, SPARSE_TEXT + 1), self.count_budget_ms
                )
            except StoreError:
                probe = None
            sparse = probe is not None and probe <= SPARSE_TEXT
        text_only = flt.with_(text="").is_empty
        return _Query(flt, self._sort, now, sparse, usable and (sparse or text_only))

    def _has_text_index(self) -> bool:
        if not self._text_index:
            try:
                self._text_index = self._read().messages_text_index()
            except StoreError:
                self._text_index = False
        return bool(self._text_index)

    def _count_settled(self, n: int, was_known: bool) -> None:
        if not was_known or self._announced != n:  # a refresh that finds the same count says nothing
            self._announce(n)

    def _announce(self, n: int) -> None:
        self._announced = n
        self.countChanged.emit(n)

    # ------------------------------------------------------------------ paging
    def _row(self, row: int) -> dict[str, Any] | None:
        if row < 0 or row >= self._count:
            return None
        page_no, offset = divmod(row, PAGE_SIZE)
        page = self._pages.get(page_no)
        if page is None:
            if page_no in self._pending:
                return None
            q = self._query
            plan = plan_page(page_no, PAGE_SIZE, self._pages, self._count, self._count_known)
            generation = self._generation
            page = self._reads.page(
                page_no,
                lambda r: q.page(r, plan),
                self.page_budget_ms,
                self._pending,
                lambda p: self._on_page(generation, page_no, p),
            )
            if page is None:
                return None
            self._store_page(page_no, page)
        else:
            self._pages.move_to_end(page_no)
        return page.rows[offset] if offset < len(page) else None

    # ------------------------------------------------------------------ Qt model API

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
            return mq.COLUMNS[section][2]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid() or index.column() >= len(mq.COLUMNS):
            return None
        record = self._row(index.row())
        if record is None:  # "…" while its page is being read; blank if the row went (pruned meanwhile)
            loading = index.row() // PAGE_SIZE in self._pending
            return PLACEHOLDER if loading and role == Qt.ItemDataRole.DisplayRole else None
        column = mq.COLUMN_IDS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return message_cell(column, record)
        if role == SID_ROLE:
            return str(record["sid"])
        if role == ROW_ROLE:
            return dict(record)
        if role == Qt.ItemDataRole.DecorationRole and column == "status":
            return badges.icon_for(record["status"])
        if role == Qt.ItemDataRole.DecorationRole and column == "body" and opt_out(record):
            return badges.warning_icon()
        if role == Qt.ItemDataRole.ToolTipRole:
            return message_tooltip(column, record)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC and column != "error":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(mq.COLUMNS):
            return
        self.set_sort(SortSpec(mq.COLUMN_IDS[column], order == Qt.SortOrder.DescendingOrder))
