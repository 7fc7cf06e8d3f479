"""Error lookup: what a Twilio error code means, what to do about it, and how often it happened here.

The catalogue is ``receiver.errors`` (bundled, in our own words, always linking Twilio's page). "Refresh
from Twilio" downloads Twilio's full dictionary (``receiver.error_dictionary``) on a worker thread; once
cached, Twilio's own text is shown beside ours. The counts come from the store
(``Reader.error_code_counts``: messages whose current error code it is, and status callbacks that reported
it); they grow with the history, so they are counted on a worker thread with its own Reader.
"""

from __future__ import annotations

import html
from contextlib import closing
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop import badges, theme
from desktop.formatting import count_of
from desktop.workers import BusyLine, TaskRunner
from receiver import error_dictionary, errors
from receiver.store import open_reader

SEARCH_DELAY_MS = 150
COUNT_REFRESH_MS = 2000
CodeRole = Qt.ItemDataRole.UserRole + 1
DICTIONARY_URL_KEY = "errors/dictionary_url"  # where "Refresh from Twilio" downloads from (default: Twilio's)


def entry_html(entry: errors.ErrorEntry) -> str:
    """The entry as rich text for a QTextBrowser (colours come from the palette, not from here)."""
    e = html.escape
    level = "" if entry.log_level == "error" else f" <i>({e(entry.log_level)})</i>"
    tags = f"<p><b>Tags:</b> {e(', '.join(entry.tags))}</p>" if entry.tags else ""
    unknown = "" if entry.known else "<p><i>Not in the app's catalogue.</i></p>"
    return (
        f"<h2>{entry.code} — {e(entry.title)}{level}</h2>{unknown}"
        f"<h3>What it means</h3><p>{e(entry.cause)}</p>"
        f"<h3>What to do</h3><p>{e(entry.action)}</p>{tags}"
        f'<p><a href="{e(entry.url)}">Twilio\'s page for error {entry.code}</a> ({e(entry.url)})</p>'
        f"{twilio_html(entry.code)}"
    )


def twilio_html(code: int) -> str:
    """Twilio's own text for ``code`` from the downloaded dictionary, headed by its date; "" without one."""
    dictionary = error_dictionary.current()
    twilio = error_dictionary.entry_for(code)
    if dictionary is None or twilio is None:
        return ""
    e = html.escape
    parts = [f"<hr><h3>{e(dictionary.describe())}</h3>"]
    for heading, text in error_dictionary.sections(twilio):
        body = e(text).replace("\n", "<br>")
        parts.append(f"<p><b>{e(heading)}:</b><br>{body}</p>")
    return "".join(parts)


class ErrorLookupPanel(QWidget):
    """Search the error catalogue, read an entry, jump to the messages that carry the code.

    Signals:
        filterByErrorCode(int): "Show these messages" was clicked; the main window filters the messages
            table by this error code.
    """

    filterByErrorCode = Signal(int)

    def __init__(
        self, controller: Any, parent: QWidget | None = None, settings: QSettings | None = None
    ) -> None:
        super().__init__(parent)
        if settings is None:
            from desktop.main_window import make_settings  # lazy: main_window imports this module

            settings = make_settings()
        self.settings = settings
        self.controller = controller
        self.code: int | None = None
        self.counts: tuple[int, int] | None = None
        self._count_tasks = TaskRunner(self)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Error code or words, e.g. 30003 or “unreachable”")
        self.search.setClearButtonEnabled(True)
        self.results = QListWidget()
        self.results.setUniformItemSizes(True)
        self.results.setIconSize(QSize(16, 16))
        blank = QPixmap(16, 16)
        blank.fill(Qt.GlobalColor.transparent)
        self._blank_icon = QIcon(blank)
        self.result_count = QLabel()
        self.result_count.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.results, 1)
        left_layout.addWidget(self.result_count)

        self.entry = QTextBrowser()
        self.entry.setOpenExternalLinks(True)
        self.entry.setPlaceholderText("Pick an error code on the left.")
        self.usage = QLabel()
        self.usage.setWordWrap(True)
        self.show_button = QPushButton("Show these messages")
        self.show_button.setEnabled(False)
        self.show_button.setToolTip("Open the Messages tab filtered to this error code.")
        usage_box = QGroupBox("In this database")
        usage_row = QHBoxLayout(usage_box)
        usage_row.addWidget(self.usage, 1)
        usage_row.addWidget(self.show_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.entry, 1)
        right_layout.addWidget(usage_box)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)

        self.source = QLabel(error_dictionary.status())
        self.source.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh from Twilio")
        self.refresh_button.setToolTip(
            "Download Twilio's full error dictionary (about 2,000 codes) and keep it for offline use; "
            "its text is then shown beside ours."
        )
        self.refresh_state = BusyLine()
        self._tasks = TaskRunner(self)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addWidget(self.refresh_button)

        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)  # without it the (empty) BusyLine below took half the panel's height
        layout.addLayout(source_row)
        layout.addWidget(self.refresh_state)
        self.refresh_button.clicked.connect(self._on_refresh_clicked)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.run_search)
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(COUNT_REFRESH_MS)
        self._count_timer.timeout.connect(self._refresh_counts)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self.run_search)
        self.results.currentItemChanged.connect(self._on_current)
        self.show_button.clicked.connect(self._on_show_clicked)
        controller.dataChanged.connect(self._on_data_changed)
        self.run_search()
        theme.follow_theme(self, self._retheme, now=False)

    def _retheme(self) -> None:
        """After a light/dark switch: redraw the list's icons and the entry (its links take palette colours
        when the HTML is laid out)."""
        self.run_search()
        entry = errors.lookup(self.code) if self.code is not None else None
        if entry is not None:
            self.entry.setHtml(entry_html(entry))

    # ------------------------------------------------------------ Twilio's dictionary
    def dictionary_url(self) -> str:
        return str(self.settings.value(DICTIONARY_URL_KEY, "") or "").strip() or error_dictionary.DEFAULT_URL

    @Slot()
    def _on_refresh_clicked(self) -> None:
        url = self.dictionary_url()
        self.refresh_button.setEnabled(False)
        self.refresh_state.start(
            f"Downloading Twilio's error dictionary from {error_dictionary.display_url(url)}…"
        )
        self._tasks.run(
            "error-dictionary",
            lambda: error_dictionary.refresh(url),
            self._on_refreshed,
            self._on_refresh_error,
        )

    def _on_refreshed(self, result: error_dictionary.RefreshResult) -> None:
        self.refresh_button.setEnabled(True)
        if result.ok:
            self.refresh_state.done(result.message)
        else:
            self.refresh_state.fail(result.message)
        self.source.setText(error_dictionary.status())
        self.run_search()  # uncatalogued codes now carry Twilio's title
        entry = errors.lookup(self.code) if self.code is not None else None
        if entry is not None:
            self.entry.setHtml(entry_html(entry))

    def _on_refresh_error(self, exc: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        self.refresh_state.fail(f"Refresh failed unexpectedly: {exc}")

    # ------------------------------------------------------------ searching
    @Slot()
    def run_search(self) -> None:
        """Fill the results list for the search box (everything when it is empty)."""
        self._search_timer.stop()
        query = self.search.text().strip()
        found = errors.search(query, limit=200) if query else errors.all_entries()
        exact = errors.parse_code(query)
        if exact is not None and all(e.code != exact for e in found):
            entry = errors.lookup(exact)  # uncatalogued code: still explain and link it
            if entry is not None and (not found or len(query) >= 5):
                found = [entry, *found]
        self._fill(found)
        if query and not found:
            self.result_count.setText(f"No error code matches “{query}”.")
        else:
            self.result_count.setText(count_of(len(found), "code"))
        if found and (exact is not None or self.results.currentRow() < 0):
            self.results.setCurrentRow(0)

    def _fill(self, entries: list[errors.ErrorEntry]) -> None:
        keep = self.code
        self.results.blockSignals(True)
        self.results.clear()
        current = -1
        for i, entry in enumerate(entries):
            item = QListWidgetItem(f"{entry.code}  {entry.title}")
            item.setData(CodeRole, entry.code)
            item.setToolTip(entry.cause)
            if entry.log_level != "error":
                item.setIcon(badges.kind_icon("partial"))
                item.setText(f"{item.text()} ({entry.log_level})")
            elif not entry.known:
                item.setIcon(badges.kind_icon("unknown"))
            else:
                # uniform item sizes take the first row's height: an icon-less first row clipped the icons
                # of the rows below, so every row carries an icon, blank when there is nothing to flag
                item.setIcon(self._blank_icon)
            self.results.addItem(item)
            if entry.code == keep:
                current = i
        self.results.blockSignals(False)
        if current >= 0:
            self.results.setCurrentRow(current)

    def result_codes(self) -> list[int]:
        return [int(self.results.item(i).data(CodeRole)) for i in range(self.results.count())]

    # ------------------------------------------------------------ one entry
    def show_code(self, code: int) -> None:
        """Open ``code``: search for it, select it, show its entry and counts."""
        self.search.blockSignals(True)
        self.search.setText(str(code))
        self.search.blockSignals(False)
        self.run_search()
        for i in range(self.results.count()):
            if self.results.item(i).data(CodeRole) == code:
                self.results.setCurrentRow(i)
                return

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_current(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        if current is None:
            return
        code = int(current.data(CodeRole))
        if code == self.code:
            return
        entry = errors.lookup(code)
        if entry is None:
            return
        self.code = code
        self.counts = None
        self.entry.setHtml(entry_html(entry))
        self.usage.setText("Counting messages with this code…")
        self.show_button.setEnabled(False)
        self.show_button.setText("Show these messages")
        self._refresh_counts()

    @Slot()
    def _refresh_counts(self) -> None:
        if self.code is None:
            return
        code = self.code
        path = self.controller.location

        def count() -> tuple[int, tuple[int, int]]:
            with closing(open_reader(path)) as reader:  # a Reader belongs to the thread that opened it
                return code, reader.error_code_counts(code)

        self._count_tasks.run("error-counts", count, self._on_counts, self._on_count_failed)

    @Slot()
    def _on_data_changed(self) -> None:
        if self.code is not None and not self._count_timer.isActive():
            self._count_timer.start()

    def _on_counts(self, result: tuple[int, tuple[int, int]]) -> None:
        code, (messages, events) = result
        if code != self.code:  # the operator moved on: an older count arrived late
            return
        self.counts = (messages, events)
        if messages == 0 and events == 0:
            self.usage.setText(f"No message in this database has error {code}.")
        else:
            self.usage.setText(
                f"{count_of(messages, 'message')} currently "
                f"{'carry' if messages != 1 else 'carries'} error {code}; "
                f"{count_of(events, 'status callback')} reported it."
            )
        self.show_button.setText(f"Show these messages ({messages:,})")
        self.show_button.setEnabled(messages > 0)

    def _on_count_failed(self, exc: BaseException) -> None:
        missing = "unable to open" in str(exc)  # SQLite's words for a file not created yet
        self.usage.setText("No database yet: start the receiver." if missing else f"Cannot count: {exc}")

    @Slot()
    def _on_show_clicked(self) -> None:
        if self.code is not None:
            self.filterByErrorCode.emit(self.code)
