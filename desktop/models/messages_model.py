"""The messages table: a window onto SQLite, never the whole table in Python, never a slow query on the
GUI thread.

``rowCount`` is one ``COUNT(*)`` with the same WHERE as the rows; ``data`` asks for the page of rows that
holds the requested row (pages of ``PAGE_SIZE``, a few cached), so a view of a million messages costs
the rows on screen. Sorting and filtering are SQL (see ``message_query``); a Python proxy model would cost
~10 µs a row per pass.

Keeping the GUI thread free: every query first runs on the GUI's connection with a small time budget
(a SQLite progress handler interrupts it). Most answer well inside it (small databases always do, so the
model stays synchronous there: callers and tests read the rows right after ``set_filter``). One that does
not is handed to a worker thread with its own read-only connection: a page shows "…" until its rows
arrive (``dataChanged``), and the count stays provisional (rows known so far) until the worker's
``COUNT`` arrives (rows inserted/removed at the end, then ``countChanged``). Answers for an older filter,
sort or refresh are dropped, and a worker still busy with one is interrupted.

Deep pages are read from the nearest cached page by keyset (``(key, sid) < (?, ?)``, plus a relative
``OFFSET`` when the jump skips pages), or from the end of the list when that is nearer, never with an
``OFFSET`` of a million rows when a cached page is closer.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from desktop import badges
from desktop.formatting import format_price, table_time
from desktop.models import message_query as mq
from desktop.models.message_query import MessageFilter, SortSpec
from receiver.optout import opt_out_keyword
from receiver.store import connect

try:  # receiver/errors.py is written in parallel; the table still works without titles
    from receiver.errors import short_title
except ImportError:  # pragma: no cover - only while the module is missing

    def short_title(code: int | str | None) -> str:
        return "" if code is None else str(code)


__all__ = [
    "PAGE_SIZE",
    "PLACEHOLDER",
    "ROW_ROLE",
    "SID_ROLE",
    "MessagesModel",
    "short_title",
]

PAGE_SIZE = 200
MAX_PAGES = 16
SID_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
PLACEHOLDER = "…"
PAGE_BUDGET_MS = 12.0  # a page read on the GUI thread: well inside the 50 ms "no stall" goal
COUNT_BUDGET_MS = 25.0
RESET_ROWS = 10_000  # a count that moves by more than this resets the model instead of inserting rows
SPARSE_TEXT = 20_000  # at most this many text matches: read pages through the index, else scan in order
_NUMERIC = {"segments", "price", "media", "error"}
AnyIndex = QModelIndex | QPersistentModelIndex
Row = sqlite3.Row


def _opt_out(r: sqlite3.Row) -> str | None:
    return opt_out_keyword(r["body"]) if r["direction"] == "inbound" else None


def _interrupted(exc: sqlite3.Error) -> bool:
    return "interrupt" in str(exc)


def _count(conn: sqlite3.Connection, q: _Query) -> int:
    """The count for ``q``; 0 when the database cannot answer (an interrupt is passed on)."""
    try:
        return mq.count(conn, q.flt, q.now, text_index=q.count_index)
    except sqlite3.Error as exc:
        if _interrupted(exc):
            raise
        return 0


def _read_page(conn: sqlite3.Connection, q: _Query, plan: _PagePlan) -> list[Row]:
    """One page in table order; [] when the database cannot answer (an interrupt is passed on)."""
    sql, args = mq.page_sql(
        q.flt, q.sort, q.now, text_index=q.text_index, after=plan.after, backwards=plan.backwards
    )
    try:
        rows = conn.execute(f"{sql} LIMIT ? OFFSET ?", [*args, plan.limit, plan.skip]).fetchall()
    except sqlite3.Error as exc:
        if _interrupted(exc):
            raise
        return []
    return rows[::-1] if plan.backwards else list(rows)


def _key(row: Row) -> tuple[Any, str]:
    return (row[mq.SORT_KEY], str(row["sid"]))


def _as_dict(row: Row) -> dict[str, Any]:
    """The message's columns (without the paging sort key)."""
    return {k: row[k] for k in row.keys() if k != mq.SORT_KEY}  # noqa: SIM118 - a Row iterates values


@dataclass(frozen=True)
class _Query:
    """What one generation of the model reads (a refresh, filter or sort starts a new one)."""

    flt: MessageFilter
    sort: SortSpec
    now: datetime
    text_index: bool  # rows: free text through the trigram index (few matches) rather than LIKE
    count_index: bool  # count: the index helps (few matches, or the text is the only filter)


@dataclass(frozen=True)
class _PagePlan:
    """How to read one page: ``skip`` rows after ``after`` (or after the start/end of the list)."""

    after: tuple[Any, str] | None
    backwards: bool
    skip: int
    limit: int


@dataclass
class _Job:
    generation: int
    key: tuple[Any, ...]  # ("count",) or ("page", page_no): a newer job with the same key replaces it
    run: Callable[[sqlite3.Connection], Any]
    queued: float = field(default_factory=time.perf_counter)


class _Worker:
    """One daemon thread with its own read-only connection; newest job first, stale jobs dropped.

    Started on the first job, it ends after ``IDLE_S`` without work (a model that never needs it, as on a
    small database, never has a thread). ``deliver`` is called on the worker thread.
    """

    IDLE_S = 10.0

    def __init__(self, path: str, name: str, deliver: Callable[[_Job, Any], None]) -> None:
        self._path = path
        self._name = name
        self._deliver = deliver
        self._cond = threading.Condition()
        self._jobs: list[_Job] = []
        self._generation = 0
        self._running: _Job | None = None
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, job: _Job) -> None:
        with self._cond:
            if self._closed:
                return
            self._jobs = [j for j in self._jobs if j.key != job.key and j.generation >= self._generation]
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def cancel_older(self, generation: int) -> None:
        """Drop queued jobs of older generations and interrupt one that is running."""
        with self._cond:
            self._generation = generation
            self._jobs = [j for j in self._jobs if j.generation >= generation]
            if self._running is not None and self._running.generation < generation and self._conn:
                self._conn.interrupt()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._jobs.clear()
            if self._running is not None and self._conn is not None:
                self._conn.interrupt()
            self._cond.notify()

    def _run(self) -> None:
        try:
            conn = connect(self._path, readonly=True)
        except sqlite3.Error:
            with self._cond:
                self._thread = None
                self._jobs.clear()
            return
        try:
            while True:
                with self._cond:
                    if not self._jobs and not self._closed:
                        self._cond.wait(self.IDLE_S)
                    if self._closed or not self._jobs:
                        self._thread = None
                        return
                    job = self._jobs.pop()
                    self._running, self._conn = job, conn
                try:
                    result, ok = job.run(conn), True
                except sqlite3.Error:  # interrupted (stale) or failed: nothing to show
                    result, ok = None, False
                with self._cond:
                    self._running = self._conn = None
                    current = job.generation >= self._generation and not self._closed
                if ok and current:
                    self._deliver(job, result)
        finally:
            conn.close()


class MessagesModel(QAbstractTableModel):
    """Messages matching a ``MessageFilter``, in ``SortSpec`` order, read page by page.

    Signals:
        countChanged(int): the number of messages matching the filter is known and changed, or became
            known after a provisional count (after a refresh, a filter change or a sort).
    """

    countChanged = Signal(int)
    _arrived = Signal(object, object)  # (job, result) from a worker thread, queued to the GUI thread

    def __init__(self, reader: Callable[[], sqlite3.Connection], parent: Any = None) -> None:
        super().__init__(parent)
        self._reader = reader
        self.page_budget_ms = PAGE_BUDGET_MS  # 0: every read goes to the worker (tests use it)
        self.count_budget_ms = COUNT_BUDGET_MS
        self._filter = MessageFilter()
        self._sort = SortSpec()
        self._query = _Query(self._filter, self._sort, datetime.now().astimezone(), False, False)
        self._generation = 0
        self._count = 0
        self._count_known = True
        self._announced: int | None = None
        self._pages: OrderedDict[int, list[Row]] = OrderedDict()
        self._pending: set[int] = set()
        self._workers: dict[str, _Worker] = {}
        self._path: str | None = None
        self._text_index: bool | None = None
        self._arrived.connect(self._on_arrived)
        self._start_generation(same_list=False, reset=False)

    # ------------------------------------------------------------------ state
    @property
    def filter(self) -> MessageFilter:
        return self._filter

    @property
    def sort_spec(self) -> SortSpec:
        return self._sort

    @property
    def count_known(self) -> bool:
        """False while the count is provisional (the worker is still counting)."""
        return self._count_known

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
        """Stop the worker threads (they also stop by themselves when idle)."""
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()

    @property
    def total(self) -> int:
        return self._count

    def position_of(self, sid: str) -> int | None:
        """The row showing ``sid`` under the current filter and sort (one indexed COUNT), or None."""
        q = self._query
        try:
            row = mq.position_of(self._reader(), sid, q.flt, q.sort, q.now, text_index=q.text_index)
        except sqlite3.Error:
            return None
        return row if row is not None and row < self._count else None

    def sid_at(self, row: int) -> str | None:
        record = self._row(row)
        return str(record["sid"]) if record is not None else None

    def row_record(self, row: int) -> dict[str, Any] | None:
        record = self._row(row)
        return _as_dict(record) if record is not None else None

    # ------------------------------------------------------------------ generations
    def _start_generation(self, *, same_list: bool, reset: bool = True) -> None:
        """New filter/sort/refresh: page 0 and the count within their budgets, the rest on a worker."""
        self._generation += 1
        for worker in self._workers.values():
            worker.cancel_older(self._generation)
        q = self._plan(datetime.now().astimezone())
        first_plan = _PagePlan(None, False, 0, PAGE_SIZE)
        page0 = self._attempt(lambda c: _read_page(c, q, first_plan), self.page_budget_ms)
        if page0 is not None and len(page0) < PAGE_SIZE:
            count: int | None = len(page0)  # a short first page is the whole list: no COUNT needed
        else:
            count = self._attempt(lambda c: _count(c, q), self.count_budget_ms)
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
        if count is None:
            self._submit("count", ("count",), lambda c: _count(c, q))
        if page0 is None:
            self._pending.add(0)
            self._submit("pages", ("page", 0), lambda c: _read_page(c, q, first_plan))
        if count is not None and (count != old or self._announced != count):
            self._announce(count)

    def _plan(self, now: datetime) -> _Query:
        """Whether the trigram index answers the free text: for rows only when matches are few (a scan in
        table order finds a page of dense matches sooner), for the count whenever it can."""
        flt = self._filter
        text = flt.text.strip()
        usable = bool(text) and mq.text_indexable(text) and self._has_text_index()
        sparse = False
        if usable:
            probe = self._attempt(
                lambda c: mq.text_match_count(c, text, SPARSE_TEXT + 1), self.count_budget_ms
            )
            sparse = probe is not None and probe <= SPARSE_TEXT
        text_only = flt.with_(text="").is_empty
        return _Query(flt, self._sort, now, sparse, usable and (sparse or text_only))

    def _has_text_index(self) -> bool:
        if not self._text_index:
            try:
                self._text_index = mq.has_text_index(self._reader())
            except sqlite3.Error:
                self._text_index = False
        return bool(self._text_index)

    def _attempt(self, fn: Callable[[sqlite3.Connection], Any], budget_ms: float) -> Any:
        """``fn(conn)`` on the GUI connection if it finishes within ``budget_ms``, else None (the caller
        hands it to a worker). Without a file to open a worker on, it runs unbudgeted."""
        conn = self._reader()
        if self._db_path() is None:
            budget_ms = float("inf")
        if budget_ms <= 0:
            return None
        deadline = time.perf_counter() + budget_ms / 1000
        if budget_ms != float("inf"):
            conn.set_progress_handler(lambda: time.perf_counter() > deadline, 2000)
        try:
            return fn(conn)
        except sqlite3.OperationalError as exc:
            if _interrupted(exc):
                return None
            raise
        finally:
            conn.set_progress_handler(None, 0)

    def _db_path(self) -> str | None:
        if self._path is None:
            try:
                rows = self._reader().execute("PRAGMA database_list").fetchall()
                self._path = next((str(r[2]) for r in rows if r[1] == "main"), "")
            except sqlite3.Error:
                self._path = ""
        return self._path or None

    def _submit(self, worker: str, key: tuple[Any, ...], run: Callable[[sqlite3.Connection], Any]) -> None:
        path = self._db_path()
        if path is None:  # pragma: no cover - _attempt never gives up without a path
            return
        if worker not in self._workers:
            self._workers[worker] = _Worker(path, f"messages-{worker}", self._deliver)
        self._workers[worker].submit(_Job(self._generation, key, run))

    def _deliver(self, job: _Job, result: Any) -> None:
        try:  # worker thread: Qt queues the signal to the model's (GUI) thread
            self._arrived.emit(job, result)
        except RuntimeError:  # the model is gone
            pass

    def _on_arrived(self, job: _Job, result: Any) -> None:
        if job.generation != self._generation:
            return
        if job.key[0] == "count":
            self._set_count(int(result), known=True)
            return
        page_no = int(job.key[1])
        rows: list[Row] = result
        self._pending.discard(page_no)
        self._store_page(page_no, rows)
        first = page_no * PAGE_SIZE
        if not self._count_known:
            if page_no == 0 and len(rows) < PAGE_SIZE:
                self._set_count(len(rows), known=True)
            elif first + len(rows) > self._count:
                self._set_count(first + len(rows), known=False)
        last = min(first + len(rows), self._count) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(mq.COLUMNS) - 1))

    def _set_count(self, n: int, *, known: bool) -> None:
        if abs(n - self._count) > RESET_ROWS:
            # a view inserts/removes rows one header section at a time: for a provisional 200 becoming a
            # million, a reset (cached pages kept) is ~100x cheaper
            self.beginResetModel()
            self._count = n
            for page_no in [p for p in self._pages if p * PAGE_SIZE >= n]:
                del self._pages[page_no]
            self.endResetModel()
        elif n > self._count:
            self.beginInsertRows(QModelIndex(), self._count, n - 1)
            self._count = n
            self.endInsertRows()
        elif n < self._count:
            self.beginRemoveRows(QModelIndex(), n, self._count - 1)
            self._count = n
            for page_no in [p for p in self._pages if p * PAGE_SIZE >= n]:
                del self._pages[page_no]
            self.endRemoveRows()
        was_known, self._count_known = self._count_known, known
        if known and (not was_known or self._announced != n):
            self._announce(n)

    def _announce(self, n: int) -> None:
        self._announced = n
        self.countChanged.emit(n)

    # ------------------------------------------------------------------ paging
    def _row(self, row: int) -> Row | None:
        if row < 0 or row >= self._count:
            return None
        page_no, offset = divmod(row, PAGE_SIZE)
        page = self._pages.get(page_no)
        if page is None:
            if page_no in self._pending:
                return None
            q, plan = self._query, self._page_plan(page_no)
            page = self._attempt(lambda c: _read_page(c, q, plan), self.page_budget_ms)
            if page is None:
                self._pending.add(page_no)
                self._submit("pages", ("page", page_no), lambda c: _read_page(c, q, plan))
                return None
            self._store_page(page_no, page)
        else:
            self._pages.move_to_end(page_no)
        return page[offset] if offset < len(page) else None

    def _store_page(self, page_no: int, rows: list[Row]) -> None:
        self._pages[page_no] = rows
        self._pages.move_to_end(page_no)
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)

    def _page_plan(self, page_no: int) -> _PagePlan:
        """The cheapest way to page ``page_no``: the fewest rows skipped, from the top, from a cached page
        above or below it (keyset), or from the end of the list."""
        start = page_no * PAGE_SIZE
        end = min(start + PAGE_SIZE, self._count)
        best = _PagePlan(None, False, start, PAGE_SIZE)
        for p, rows in self._pages.items():
            if p < page_no and len(rows) == PAGE_SIZE and start - (p + 1) * PAGE_SIZE < best.skip:
                best = _PagePlan(_key(rows[-1]), False, start - (p + 1) * PAGE_SIZE, PAGE_SIZE)
            elif p > page_no and rows and p * PAGE_SIZE - end < best.skip:
                best = _PagePlan(_key(rows[0]), True, p * PAGE_SIZE - end, end - start)
        if self._count_known and self._count - end < best.skip:
            best = _PagePlan(None, True, self._count - end, end - start)
        return best

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
        if record is None:  # still being read by the worker: a placeholder until dataChanged
            return PLACEHOLDER if role == Qt.ItemDataRole.DisplayRole else None
        column = mq.COLUMN_IDS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(column, record)
        if role == SID_ROLE:
            return str(record["sid"])
        if role == ROW_ROLE:
            return _as_dict(record)
        if role == Qt.ItemDataRole.DecorationRole and column == "status":
            return badges.icon_for(record["status"])
        if role == Qt.ItemDataRole.DecorationRole and column == "body" and _opt_out(record):
            return badges.warning_icon()
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
            keyword = _opt_out(r)
            if keyword:
                return f"Opt-out ({keyword}): Twilio refuses further messages to this sender (error 21610)"
            return str(r["body"])
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(mq.COLUMNS):
            return
        self.set_sort(SortSpec(mq.COLUMN_IDS[column], order == Qt.SortOrder.DescendingOrder))
