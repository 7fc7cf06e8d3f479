"""Request inspector: every HTTP request the receiver got, like ngrok's inspector but knowing Twilio.

The table is a windowed SQL model (``RequestsModel``); the detail pane reads one row by id. For a rejected
request the receiver's diagnosis (the ``reason``: missing signature, wrong public URL scheme, …) is shown
first and large, because "why did my callback bounce" is the question the operator came with.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from PySide6.QtCore import QItemSelection, Qt, QTimer, Slot
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.formatting import local_time
from desktop.models.requests_model import (
    COL_LATENCY,
    COL_METHOD,
    COL_OUTCOME,
    COL_PATH,
    COL_REASON,
    COL_SID,
    COL_STATUS,
    COL_TIME,
    OUTCOME_TEXT,
    RequestsModel,
    outcome_icon,
)
from receiver import errors
from receiver.app import reply_for
from receiver.curl import curl_command
from receiver.store import StoreError

FILTER_DELAY_MS = 250
_COLUMN_WIDTHS = {  # Reason takes the rest: at 1024 px it still gets ~170 px, the question being "why"
    COL_TIME: 140,
    COL_METHOD: 56,
    COL_PATH: 160,
    COL_OUTCOME: 100,
    COL_STATUS: 48,
    COL_LATENCY: 80,
    COL_SID: 250,
}
_OUTCOME_CHOICES = (
    ("All outcomes", None),
    ("Accepted", "accepted"),
    ("Duplicates", "duplicate"),
    ("Rejected", "rejected"),
)


def form_fields(content_type: str | None, body: str) -> list[tuple[str, str]] | None:
    """The body's fields in order (form or JSON object); None when the body is neither."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if mimetype == "application/x-www-form-urlencoded":
        return parse_qsl(body, keep_blank_values=True)
    if mimetype == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if isinstance(data, dict):
            return [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in data.items()]
    return None


def pretty_json(text: str | None) -> str:
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return text


class RequestDetail(QWidget):
    """One request: summary, the diagnosis for a rejection, form fields, headers and raw body."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("Select a request to see its details.")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setWordWrap(True)
        bold = QFont(self.summary.font())
        bold.setBold(True)
        bold.setPointSizeF(bold.pointSizeF() * 1.1)
        self.summary.setFont(bold)

        self.diagnosis_box = QGroupBox("Why it was rejected")
        self.diagnosis_icon = QLabel()
        self.diagnosis = QLabel()
        self.diagnosis.setWordWrap(True)
        self.diagnosis.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        big = QFont(self.diagnosis.font())
        big.setBold(True)
        big.setPointSizeF(big.pointSizeF() * 1.15)
        self.diagnosis.setFont(big)
        row = QHBoxLayout(self.diagnosis_box)
        row.addWidget(self.diagnosis_icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.diagnosis, 1)
        self.diagnosis_box.hide()

        self.note = QLabel()  # reason text on accepted/duplicate requests (duplicate, validation off)
        self.note.setWordWrap(True)
        self.note.hide()

        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.fields = QTableWidget(0, 2)
        self.fields.setHorizontalHeaderLabels(["Field", "Value"])
        self.fields.horizontalHeader().setStretchLastSection(True)
        self.fields.verticalHeader().hide()
        self.fields.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.fields.setWordWrap(False)
        self.fields.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.headers = QPlainTextEdit(readOnly=True)
        self.headers.setFont(mono)
        self.raw = QPlainTextEdit(readOnly=True)
        self.raw.setFont(mono)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.fields, "Form fields")
        self.tabs.addTab(self.headers, "Headers")
        self.tabs.addTab(self.raw, "Raw body")
        self.answer = QPlainTextEdit(readOnly=True)
        self.answer.setObjectName("our_answer")
        self.answer.setFont(mono)
        self.tabs.addTab(self.answer, "Our answer")

        self.action_row = QHBoxLayout()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.action_row)  # first: the buttons keep their place whatever follows
        layout.addWidget(self.summary)
        layout.addWidget(self.diagnosis_box)
        layout.addWidget(self.note)
        layout.addWidget(self.facts)
        layout.addWidget(self.tabs, 1)

    def clear(self) -> None:
        self.summary.setText("Select a request to see its details.")
        self.diagnosis_box.hide()
        self.note.hide()
        self.facts.clear()
        self.fields.setRowCount(0)
        self.headers.clear()
        self.raw.clear()
        self.answer.clear()

    def show_request(self, row: dict[str, Any]) -> None:
        outcome = row.get("outcome") or ""
        status = row.get("http_status") or 0
        self.summary.setText(
            f"{OUTCOME_TEXT.get(outcome, outcome)} — {row.get('method')} {row.get('path')}"
            f"{'?' + row['query'] if row.get('query') else ''} — answered HTTP {status}"
        )
        reason = row.get("reason") or ""
        if outcome == "rejected":
            icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            self.diagnosis_icon.setPixmap(icon.pixmap(32, 32))
            self.diagnosis.setText(reason or "(no reason recorded)")
            self.diagnosis_box.show()
            self.note.hide()
        else:
            self.diagnosis_box.hide()
            self.note.setText(f"Note: {reason}" if reason else "")
            self.note.setVisible(bool(reason))
        body = row.get("body") or ""
        size = int(row.get("body_size") or 0)
        facts = [
            f"Received {local_time(row.get('received_at'))}",
            f"from {row.get('remote_addr') or '?'}",
            f"{size:,} bytes of {row.get('content_type') or 'no Content-Type'}",
            f"latency {row.get('latency_ms') or 0:.1f} ms",
        ]
        if row.get("message_sid"):
            claimed = " (claimed by a refused request: unverified)" if outcome == "rejected" else ""
            facts.append(f"message {row['message_sid']}{claimed}")
        facts.append(f"request #{row.get('id')}")
        self.facts.setText(" · ".join(facts))
        self._fill_fields(form_fields(row.get("content_type"), body))
        self.headers.setPlainText(pretty_json(row.get("headers")))
        shown = len(body.encode("utf-8"))
        truncated = f"\n\n[only the first {shown:,} of {size:,} bytes were kept]" if size > shown else ""
        # receiver.request_storage: an accepted callback's body is rebuilt from its event's fields
        if row.get("body_rebuilt"):
            truncated = "\n\n[rebuilt from the stored fields: same fields and values, encoding may differ]"
        empty = "(deleted with its message)" if row.get("body_deleted") else "(empty body)"
        self.raw.setPlainText(body + truncated if body else empty)
        if row.get("path") == "/healthz":
            self.answer.setPlainText(f"HTTP {status}\n\n(health check: the receiver's state as JSON)")
        else:
            reply = reply_for(str(row.get("kind") or ""), int(status), reason)
            text = reply.body.decode("utf-8", "replace") or "(empty body)"
            self.answer.setPlainText(f"HTTP {reply.status}\nContent-Type: {reply.content_type}\n\n{text}")

    def _fill_fields(self, fields: list[tuple[str, str]] | None) -> None:
        self.fields.setRowCount(0)
        if fields is None:
            self.tabs.setTabText(0, "Form fields (none)")
            return
        self.tabs.setTabText(0, f"Form fields ({len(fields)})")
        self.fields.setRowCount(len(fields))
        for i, (key, value) in enumerate(fields):
            shown = value
            if key == "ErrorCode" and value.strip():
                title = errors.short_title(value)
                shown = title or value  # "30003 Unreachable handset"
            self.fields.setItem(i, 0, QTableWidgetItem(key))
            item = QTableWidgetItem(shown)
            item.setToolTip(value)
            self.fields.setItem(i, 1, item)
        self.fields.resizeColumnToContents(0)


class RequestInspector(QWidget):
    """The request log with filters, a detail pane and replay.

    Refreshes on ``controller.dataChanged`` by inserting the new rows at the top, so the selected request
    stays selected while traffic flows.
    """

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.model = RequestsModel(controller.read, self)
        self._replaying: int | None = None
        self._shown_id: int | None = None  # the request the detail pane (and a replay result) is about

        self.outcome = QComboBox()
        for label, value in _OUTCOME_CHOICES:
            icon = outcome_icon(value) if value else None
            if icon is not None:
                self.outcome.addItem(icon, label, value)
            else:
                self.outcome.addItem(label, value)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by path, reason or message SID")
        self.search.setClearButtonEnabled(True)
        self.count = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.outcome)
        top.addWidget(self.search, 1)
        top.addWidget(self.count)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        vheader = self.table.verticalHeader()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never ResizeToContents: 1M rows
        vheader.setDefaultSectionSize(self.fontMetrics().height() + 8)
        vheader.hide()
        header = self.table.horizontalHeader()
        for col, width in _COLUMN_WIDTHS.items():
            header.resizeSection(col, width)
        header.setSectionResizeMode(COL_REASON, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)

        self.detail = RequestDetail()
        self.replay_button = QPushButton("Replay to the receiver")
        self.replay_button.setToolTip(
            "Send this request again, byte for byte, to the running receiver (handy after fixing the "
            "public URL or the auth token). A stored callback comes back as a duplicate."
        )
        self.curl_button = QPushButton("Copy as curl")
        self.curl_button.setObjectName("copy_curl")
        self.curl_button.setToolTip(
            "Copy a curl command that sends this request to the local receiver again (with its "
            "X-Twilio-Signature, which is not a secret; never the auth token)"
        )
        self.curl_button.setEnabled(False)
        self.curl_button.clicked.connect(self.copy_curl)
        self.replay_result = QLabel()
        self.replay_result.setObjectName("replay_result")
        self.replay_result.setWordWrap(True)
        self.detail.action_row.addWidget(self.replay_button)
        self.detail.action_row.addWidget(self.curl_button)
        self.detail.action_row.addWidget(self.replay_result, 1)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        self.detail.setContentsMargins(6, 6, 6, 6)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(self._filter_timer.start)
        self.search.returnPressed.connect(self.apply_filter)
        self.outcome.currentIndexChanged.connect(self.apply_filter)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.replay_button.clicked.connect(self.replay_selected)
        controller.dataChanged.connect(self.refresh)
        controller.replayed.connect(self._on_replayed)
        controller.failed.connect(self._on_failed)
        for name in ("started", "stopped"):
            getattr(controller, name).connect(self._update_replay_button)

        self.model.countChanged.connect(self._update_count)  # a count that arrives from a lane
        self.model.reload()
        self._update_count()
        self._update_replay_button()

    # ------------------------------------------------------------ data
    @Slot()
    def refresh(self) -> None:
        """New requests arrived: insert them above the current ones (selection and scroll are kept)."""
        self.model.refresh()
        self._update_count()

    @Slot()
    def apply_filter(self) -> None:
        keep = self.selected_request_id()
        self._filter_timer.stop()
        self.model.set_filter(self.outcome.currentData(), self.search.text())
        self._update_count()
        if keep is not None:
            self.select_request(keep)
        if self.selected_request_id() is None:
            self.detail.clear()
            self._update_replay_button()

    def _update_count(self) -> None:
        n = self.model.rowCount()
        if not self.model.count_known:  # a lane is still counting: rows so far, never "0 requests"
            self.count.setText(f"{n:,}+ requests, counting…" if n else "counting…")
            return
        filtered = not self.model.filter.is_empty
        self.count.setText(f"{n:,} request{'s' if n != 1 else ''}{' match' if filtered else ''}")

    # ------------------------------------------------------------ selection
    def selected_request_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.request_id(rows[0].row()) if rows else None

    def select_request(self, request_id: int) -> bool:
        """Select and show ``request_id`` if the current filter shows it."""
        row = self.model.row_of(request_id)
        if row is None:
            return False
        index = self.model.index(row, 0)
        self.table.selectRow(row)
        self.table.scrollTo(index)
        return True

    @Slot(QItemSelection, QItemSelection)
    def _on_selection(self, *_: Any) -> None:
        rid = self.selected_request_id()
        if rid != self._shown_id and self._replaying is None:  # a result belongs to its request
            self.replay_result.clear()
        self._shown_id = rid
        self.curl_button.setEnabled(rid is not None)
        if rid is None:
            self.detail.clear()
        else:
            self._show(rid)
        self._update_replay_button()

    def _request(self, request_id: int) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] | None = self.controller.read().request_detail(request_id)
        except StoreError:
            return None
        return record

    def _show(self, request_id: int) -> None:
        record = self._request(request_id)
        if record is None:
            self.detail.clear()
            return
        self.detail.show_request(record)

    def curl_for(self, request_id: int) -> str:
        row = self._request(request_id)  # an accepted callback's body is rebuilt
        if row is None:
            return ""
        method, path, query, headers, body = (row[k] for k in ("method", "path", "query", "headers", "body"))
        base = (self.controller.local_url or "http://127.0.0.1:8080").rstrip("/")
        url = f"{base}{path}{'?' + query if query else ''}"
        return curl_command(method, url, headers, body or "")

    @Slot()
    def copy_curl(self) -> None:
        rid = self.selected_request_id()
        command = self.curl_for(rid) if rid is not None else ""
        if command:
            QGuiApplication.clipboard().setText(command)
            self.replay_result.setText(f"Copied request #{rid} as a curl command.")

    # ------------------------------------------------------------ replay
    @Slot()
    def _update_replay_button(self) -> None:
        running = bool(self.controller.running)
        selected = self.selected_request_id() is not None
        self.replay_button.setEnabled(running and selected and self._replaying is None)
        if not running:
            self.replay_button.setToolTip(self.controller.replay_off)

    @Slot()
    def replay_selected(self) -> None:
        rid = self.selected_request_id()
        if rid is None or not self.controller.running:
            return
        self._replaying = rid
        self.replay_result.setText(f"Replaying request #{rid}…")
        self._update_replay_button()
        self.controller.replay(rid)

    @Slot(int, str)
    def _on_replayed(self, status: int, text: str) -> None:
        rid, self._replaying = self._replaying, None
        what = f"Replay of request #{rid}" if rid is not None else "Replay"
        if status:
            self.replay_result.setText(f"{what}: {text}. The new entry is at the top of the list.")
        else:
            self.replay_result.setText(f"{what} did not reach the receiver: {text}")
        self._update_replay_button()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        """``replay`` reports "nothing to replay" through the controller's general failure signal."""
        if self._replaying is not None:
            self._replaying = None
            self.replay_result.setText(message)
            self._update_replay_button()
