"""The Messages tab: filter bar, the windowed messages table, and the detail pane in a splitter.

Refreshes keep the operator's place: the selected SID is found again with one indexed COUNT (its position
under the current sort) and re-selected; if the table was scrolled to the top it stays there (new rows
appear, newest first), otherwise the row that was at the top stays at the top.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, QPoint, QSettings, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.models import message_query as mq
from desktop.models.message_query import MessageFilter
from desktop.models.messages_model import MessagesModel
from desktop.views.filter_bar import FilterBar
from desktop.views.message_detail import MessageDetail
from receiver.store import Reader, StoreError

DEFAULT_WIDTHS = {
    "time": 110, "direction": 72, "channel": 78, "from": 150, "to": 150, "status": 105, "error": 200,
    "segments": 70, "price": 95, "service": 130, "profile": 130, "body": 260, "media": 55, "sid": 275,
}  # fmt: skip
SID_PATTERN = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")  # SM…, MM…: what a message SID looks like
HEADER_KEY = (
    "messages/header_v2"  # v2: status and error moved next to the time (a v1 state would scramble them)
)
INBOUND_COLUMNS = {"profile", "body", "media"}
OUTBOUND_ONLY_COLUMNS = {"segments", "price", "service", "error", "direction"}


class MessagesView(QWidget):
    """Messages tab.

    Signals:
        errorCodeRequested(int): open this error code in the Error lookup tab.
        simulateRequested(): the empty-state "Simulate traffic" button was clicked.
        currentSidChanged(str): the selected message changed ("" when none).
        requestsForSid(str): show the request log filtered to this message SID (its rejected callbacks).
    """

    errorCodeRequested = Signal(int)
    simulateRequested = Signal()
    currentSidChanged = Signal(str)
    requestsForSid = Signal(str)

    def __init__(self, read: Callable[[], Reader], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._restoring = False
        self._time_sized = False
        self._read = read
        self.model = MessagesModel(read, self)
        self.filter_bar = FilterBar(self)
        self.filter_bar.filterChanged.connect(self.set_filter)

        self.table = QTableView(self)
        self.table.setObjectName("messages_table")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # rows, not cells, are what the operator picks: Tab leaves the table, arrows move the selection
        self.table.setTabKeyNavigation(False)
        vheader = self.table.verticalHeader()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never ResizeToContents: quadratic
        vheader.setDefaultSectionSize(self.fontMetrics().height() + 8)
        vheader.hide()
        header = self.table.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        for i, cid in enumerate(mq.COLUMN_IDS):
            self.table.setColumnWidth(i, DEFAULT_WIDTHS.get(cid, 100))
        header.setSortIndicator(mq.COLUMN_IDS.index("time"), Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        # The pane follows the *selection*: a mouse press moves the current index before it selects,
        # so reading the selection on currentRowChanged showed the previously selected message.
        self.table.selectionModel().selectionChanged.connect(self._current_changed)
        self.model.modelReset.connect(self._update_count)
        self.model.countChanged.connect(self._update_count)  # a count that arrives from the worker
        # a row selected while its page was still being read: show it once the page arrives
        self.model.dataChanged.connect(self._selected_row_loaded)

        self.empty = QWidget(self)
        # what an empty, unfiltered table says instead of "Simulate traffic" (a window attached to a
        # team database has no receiver to simulate with)
        self.viewer_hint: str | None = None
        self.empty_hint = QLabel(self.empty)
        self.empty_hint.setObjectName("empty_hint")
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.simulate_button = QPushButton("Simulate traffic", self.empty)
        self.simulate_button.setObjectName("empty_simulate")
        self.simulate_button.clicked.connect(self.simulateRequested)
        self.clear_button = QPushButton("Clear filters", self.empty)
        self.clear_button.clicked.connect(self.filter_bar.clear)
        self.rejected_button = QPushButton("Show the rejected requests", self.empty)
        self.rejected_button.setObjectName("show_rejected")
        self.rejected_button.clicked.connect(
            lambda: self.requestsForSid.emit(self.filter_bar.search.text().strip())
        )
        self.rejected_button.hide()
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.rejected_button)
        buttons.addWidget(self.simulate_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        empty_layout = QVBoxLayout(self.empty)
        empty_layout.addStretch(1)
        empty_layout.addWidget(self.empty_hint)
        empty_layout.addLayout(buttons)
        empty_layout.addStretch(2)

        self.table_stack = QStackedWidget(self)
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty)

        self.detail = MessageDetail(read, self)  # the GUI thread's Reader
        self.detail.errorCodeRequested.connect(self.errorCodeRequested)
        self.detail.requestsRequested.connect(self.requestsForSid)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("messages_splitter")
        self.splitter.addWidget(self.table_stack)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([880, 520])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.splitter, 1)
        chain = [*self.filter_bar.tab_chain(), self.table, *self.detail.tab_chain()]
        for first, second in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(first, second)
        self.filter_bar.search.installEventFilter(self)
        self._apply_column_preset()
        self._update_count()

    # ------------------------------------------------------------------ filter / refresh
    def set_filter(self, flt: MessageFilter) -> None:
        sid = self.selected_sid()
        self.model.set_filter(flt)
        self._apply_column_preset()
        if sid is not None:
            self.select_sid(sid)
        self._sync_detail()
        self._update_count()

    def resize_time_column(self) -> None:
        """Fit the time column to what is shown (time only today, with the date otherwise)."""
        sample = self.model.index(0, 0).data() if self.model.total else ""
        width = self.fontMetrics().horizontalAdvance(sample or "00:00:00.000") + 24
        self.table.setColumnWidth(0, max(width, 90))

    def refresh(self) -> None:
        """Re-read the table (on ``controller.dataChanged``) keeping selection and scroll position."""
        sid = self.selected_sid()
        bar = self.table.verticalScrollBar()
        at_top = bar.value() == bar.minimum()
        anchor_sid = self.model.sid_at(self.table.rowAt(0)) if not at_top else None
        self._restoring = True
        try:
            self.model.refresh()
            if sid is not None:
                self._select_row(self.model.position_of(sid), scroll=False)
            if at_top:
                self.table.scrollToTop()
            elif anchor_sid is not None:
                row = self.model.position_of(anchor_sid)
                if row is not None:
                    self.table.scrollTo(self.model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtTop)
        finally:
            self._restoring = False
        self._sync_detail()
        self._update_count()

    def selected_sid(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.sid_at(rows[0].row()) if rows else None

    def select_sid(self, sid: str) -> bool:
        """Select ``sid`` if it matches the current filter; returns whether it was found."""
        row = self.model.position_of(sid)
        self._select_row(row, scroll=True)
        return row is not None

    def focus_search(self) -> None:
        self.filter_bar.focus_search()

    def focus_table(self) -> None:
        """Move the keyboard into the table, selecting the first row when nothing is selected."""
        if self.table_stack.currentWidget() is not self.table:
            return
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)
        if self.selected_sid() is None and self.model.rowCount():
            self._select_row(0, scroll=True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        # Down in the search box goes to the results, as in a browser's address bar
        if (
            watched is self.filter_bar.search
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Down
        ):
            self.filter_bar.apply_now()
            self.focus_table()
            return True
        return super().eventFilter(watched, event)

    def clear_filters(self) -> None:
        self.filter_bar.clear()

    # ------------------------------------------------------------------ settings
    def save_state(self, settings: QSettings) -> None:
        settings.setValue(HEADER_KEY, self.table.horizontalHeader().saveState())
        settings.setValue("messages/splitter", self.splitter.saveState())
        settings.setValue("messages/detail_splitter", self.detail.splitter.saveState())
        self.filter_bar.save_state(settings)

    def restore_state(self, settings: QSettings) -> None:
        header = settings.value(HEADER_KEY)
        if header is not None:
            self.table.horizontalHeader().restoreState(header)
            self._time_sized = True
        splitter = settings.value("messages/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        detail = settings.value("messages/detail_splitter")
        if detail is not None:
            self.detail.splitter.restoreState(detail)
        self.filter_bar.restore_state(settings)
        self._apply_column_preset()

    # ------------------------------------------------------------------ internals
    def _select_row(self, row: int | None, *, scroll: bool) -> None:
        selection = self.table.selectionModel()
        if row is None:
            selection.clearSelection()
            return
        index = self.model.index(row, 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        selection.setCurrentIndex(index, flags)
        if scroll:
            self.table.scrollTo(index)

    def _current_changed(self) -> None:
        if self._restoring:
            return
        sid = self.selected_sid()
        self.detail.show_sid(sid)
        self.currentSidChanged.emit(sid or "")

    def _selected_row_loaded(self) -> None:
        if not self._restoring and self.detail.sid is None and self.selected_sid() is not None:
            self._current_changed()

    def _sync_detail(self) -> None:
        """After a filter change or refresh: the pane shows the selected message, or nothing when the
        filter removed it (a model reset drops the selection without a selectionChanged signal)."""
        sid = self.selected_sid()
        if sid != self.detail.sid:
            self.detail.show_sid(sid)
            self.currentSidChanged.emit(sid or "")
        else:
            self.detail.reload()

    def _apply_column_preset(self) -> None:
        """Inbound shows who wrote and what (profile, body, media); other views show delivery columns."""
        inbound = self.filter_bar.preset() == "inbound"
        for i, cid in enumerate(mq.COLUMN_IDS):
            if cid in INBOUND_COLUMNS:
                self.table.setColumnHidden(i, not inbound)
            elif cid in OUTBOUND_ONLY_COLUMNS:
                self.table.setColumnHidden(i, inbound)

    def show_as_viewer(self, hint: str) -> None:
        """An attached window's table: ``hint`` (no "Simulate traffic") when nothing is stored yet."""
        self.viewer_hint = hint
        self._update_count()

    def _update_count(self) -> None:
        total = self.model.total
        if total and not self._time_sized:  # first rows: fit the time column once, then it is the user's
            self._time_sized = True
            self.resize_time_column()
        self.filter_bar.set_count(total)
        if not self.model.count_known:  # the worker is still counting: rows so far, never "no messages"
            self.filter_bar.count_label.setText(f"{total:,}+ messages, counting…" if total else "counting…")
            self.table_stack.setCurrentIndex(0)
            return
        filtered = not self.filter_bar.current_filter().is_empty
        if total:
            self.table_stack.setCurrentIndex(0)
            return
        rejected = 0
        if filtered:
            self.empty_hint.setText("No messages match these filters.")
            sid = self.filter_bar.current_filter().text
            if SID_PATTERN.fullmatch(sid):
                try:
                    rejected = self._read().rejected_requests_for_sid(sid)
                except StoreError:
                    rejected = 0
            if rejected:
                self.empty_hint.setText(
                    f"<h3>No stored message has the SID {sid}</h3>"
                    f"<p>but <b>{rejected} rejected request{'s' if rejected != 1 else ''}</b> named it: "
                    f"the receiver refused {'them' if rejected != 1 else 'it'}, so nothing was stored. "
                    "The request log says why (signature, public URL, auth token…).</p>"
                )
        elif self.viewer_hint is not None:
            self.empty_hint.setText(self.viewer_hint)
        else:
            self.empty_hint.setText(
                "<h3>No messages yet</h3>"
                "<p>Callbacks appear here as soon as Twilio (or the simulator) posts them to the "
                "receiver.</p>"
                "<p>Try it now: <b>Simulate traffic</b> sends realistic signed SMS/WhatsApp callbacks to the "
                "embedded receiver.<br>To receive real traffic, run <b>Tools ▸ Set up Twilio webhooks…</b> "
                "(tunnel + webhook URLs).</p>"
            )
        self.simulate_button.setVisible(not filtered and self.viewer_hint is None)
        self.clear_button.setVisible(filtered)
        self.rejected_button.setVisible(rejected > 0)
        self.table_stack.setCurrentIndex(1)

    def _header_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        for i, (_cid, title, _tip) in enumerate(mq.COLUMNS):
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(not self.table.isColumnHidden(i))
            action.toggled.connect(lambda on, col=i: self.table.setColumnHidden(col, not on))
        menu.exec(self.table.horizontalHeader().mapToGlobal(pos))
