"""What the two big tables (messages, the request log) share: rows read a page at a time, a count that
may arrive after the rows, and late answers of an older filter dropped.

A subclass sets ``_page_size``, reads pages (``BudgetedReads.page``) and bumps ``_generation`` whenever
what it shows changes; the answers come back through ``_on_count`` / ``_on_page``."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Signal

from receiver.store.paging import Page

MAX_PAGES = 16  # pages kept in memory (3,200 rows of 200): what a view and its scroll-back need
RESET_ROWS = 10_000  # a count that moves by more than this resets the model instead of inserting rows
AnyIndex = QModelIndex | QPersistentModelIndex


class PagedTableModel(QAbstractTableModel):
    """Signals:
    countChanged(int): the number of rows matching the filter is known and changed, or became known
        after a provisional count."""

    countChanged = Signal(int)

    def __init__(self, parent: Any = None, *, page_size: int) -> None:
        super().__init__(parent)
        self._page_size = page_size
        self._generation = 0
        self._count = 0
        self._count_known = True
        self._pages: OrderedDict[int, Page] = OrderedDict()
        self._pending: set[int] = set()

    @property
    def count_known(self) -> bool:
        return self._count_known

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._count

    # ------------------------------------------------------------ answers from the reads
    def _on_count(self, generation: int, n: int) -> None:
        if generation == self._generation:
            self._set_count(n, known=True)

    def _on_page(self, generation: int, page_no: int, page: Page) -> None:
        if generation != self._generation:
            return
        self._pending.discard(page_no)
        self._store_page(page_no, page)
        first = page_no * self._page_size
        if not self._count_known:
            if page_no == 0 and len(page) < self._page_size:
                self._set_count(len(page), known=True)
            elif first + len(page) > self._count:
                self._set_count(first + len(page), known=False)
        last = min(first + len(page), self._count) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, self.columnCount() - 1))

    def _set_count(self, n: int, *, known: bool) -> None:
        if abs(n - self._count) > RESET_ROWS:
            # a view inserts/removes rows one header section at a time: for a provisional 200 becoming a
            # million, a reset (cached pages kept) is ~100x cheaper
            self.beginResetModel()
            self._count = n
            self._drop_pages_from(n)
            self.endResetModel()
        elif n > self._count:
            self.beginInsertRows(QModelIndex(), self._count, n - 1)
            self._count = n
            self.endInsertRows()
        elif n < self._count:
            self.beginRemoveRows(QModelIndex(), n, self._count - 1)
            self._count = n
            self._drop_pages_from(n)
            self.endRemoveRows()
        was_known, self._count_known = self._count_known, known
        if known:
            self._count_settled(n, was_known)

    def _count_settled(self, n: int, was_known: bool) -> None:
        """The count is known (again): say so."""
        self.countChanged.emit(n)

    def _drop_pages_from(self, n: int) -> None:
        for page_no in [p for p in self._pages if p * self._page_size >= n]:
            del self._pages[page_no]

    def _store_page(self, page_no: int, page: Page) -> None:
        self._pages[page_no] = page
        self._pages.move_to_end(page_no)
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
