"""One message in full: its status timeline, every raw callback payload, and inbound content.

Reads only the selected message's rows through the GUI thread's Reader (``Reader.message``, ``events_of``,
``media_of``, ``rejections_of``: each seeks one SID through an index).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import badges, theme
from desktop.formatting import count_of, format_price, local_time
from receiver import channels, error_dictionary, rejections
from receiver.errors import short_title
from receiver.optout import opt_out_keyword
from receiver.reconcile import API_SOURCE
from receiver.store import Reader
from receiver.store.detail_reads import EventRecord, MessageRecord

PLACEHOLDER = "Select a message to see its status history and raw callbacks."
TIMELINE_HEADERS = ("Received", "Status", "Error", "Channel status message", "RawDlrDoneDate", "EventType")


class MessageDetail(QWidget):
    """The detail pane beside the messages table.

    Signals:
        errorCodeRequested(int): "Explain error" was clicked for the shown message's error code.
        notice(str): a short confirmation for the status bar ("Copied SM… to the clipboard").
        requestsRequested(str): show the request log filtered to this SID (its rejected callbacks).
    """

    errorCodeRequested = Signal(int)
    notice = Signal(str)
    requestsRequested = Signal(str)

    def __init__(self, read: Callable[[], Reader], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._read = read
        self.sid: str | None = None
        self.error_code: int | None = None

        self.stack = QStackedWidget(self)
        self.placeholder = QLabel(PLACEHOLDER, self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setEnabled(False)
        self.stack.addWidget(self.placeholder)

        page = QWidget(self)
        self.title = QLabel(page)
        self.title.setObjectName("detail_title")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)
        self.status_icon = QLabel(page)
        self.status_text = QLabel(page)
        self.status_text.setObjectName("detail_status")
        # "&": Alt+E / Alt+C work from anywhere in the Messages tab (mnemonics of visible buttons only)
        self.explain = QPushButton(page)
        self.explain.setObjectName("explain_error")
        self.explain.setToolTip("Open this error code in the Error lookup tab: cause and what to do (Alt+E)")
        self.explain.clicked.connect(self._explain)
        self.copy_sid = QPushButton("&Copy SID", page)
        self.copy_sid.setObjectName("copy_sid")
        self.copy_sid.setToolTip("Copy this message's SID to the clipboard (Alt+C)")
        self.copy_sid.clicked.connect(self._copy_sid)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status_icon, 0, Qt.AlignmentFlag.AlignTop)
        status_row.addWidget(self.status_text, 1)
        button_row = QHBoxLayout()  # own row: beside the status text they squeezed it to a narrow column
        button_row.addWidget(self.explain)
        button_row.addWidget(self.copy_sid)
        button_row.addStretch(1)

        self.facts = QLabel(page)
        self.facts.setObjectName("detail_facts")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.facts.setOpenExternalLinks(True)

        self.rejected_note = QLabel(page)
        self.rejected_note.setObjectName("rejected_note")
        self.rejected_note.setWordWrap(True)
        self.rejected_note.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.rejected_note.linkActivated.connect(lambda _link: self.requestsRequested.emit(self.sid or ""))
        self.rejected_note.hide()

        self.timeline = QTreeWidget(page)
        self.timeline.setObjectName("timeline")
        self.timeline.setRootIsDecorated(False)
        self.timeline.setHeaderLabels(list(TIMELINE_HEADERS))
        self.timeline.setUniformRowHeights(True)
        self.timeline.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.timeline.setColumnWidth(0, 185)
        self.timeline.setColumnWidth(1, 110)
        self.timeline.setColumnWidth(2, 200)

        self.raw = QPlainTextEdit(page)
        self.raw.setObjectName("raw_payloads")
        self.raw.setReadOnly(True)
        self.raw.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.raw.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        self.splitter = QSplitter(Qt.Orientation.Vertical, page)
        self.splitter.addWidget(self.timeline)
        self.splitter.addWidget(self.raw)
        self.splitter.setSizes([160, 240])

        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(status_row)
        layout.addLayout(button_row)
        layout.addWidget(self.facts)
        layout.addWidget(self.rejected_note)
        layout.addWidget(QLabel("Status timeline (every callback for this message, in arrival order):", page))
        layout.addWidget(self.splitter, 1)
        self.stack.addWidget(page)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 0, 0, 0)
        outer.addWidget(self.stack)
        theme.follow_theme(self, self.reload)  # status icons are drawn in the theme's colours

    # ------------------------------------------------------------------ public
    def tab_chain(self) -> list[QWidget]:
        """The pane's focusable widgets in visual order, for the view's tab order."""
        return [self.explain, self.copy_sid, self.timeline, self.raw]

    def show_sid(self, sid: str | None) -> None:
        """Show ``sid`` (None: the placeholder)."""
        self.sid = sid
        self.reload()

    def reload(self) -> None:
        self.placeholder.setText(PLACEHOLDER)
        message = None
        if self.sid is not None:
            try:
                message = self._read().message(self.sid)
            except Exception as exc:  # any backend's failure (file gone, connection lost): say so, keep going
                self.placeholder.setText(f"Cannot read message {self.sid}: {exc}")
        if message is None:
            self.error_code = None
            self.stack.setCurrentIndex(0)
            return
        self.stack.setCurrentIndex(1)
        self._fill(message)

    # ------------------------------------------------------------------ internals
    def _fill(self, m: MessageRecord) -> None:
        inbound = m.direction == "inbound"
        arrow = "from" if inbound else "to"
        peer = m.from_addr if inbound else m.to_addr
        self.title.setText(
            f"<b>{html.escape(m.sid)}</b><br>{html.escape(m.direction)} {html.escape(m.channel)} "
            f"{arrow} <b>{html.escape(peer or '?')}</b>"
        )
        badge = badges.badge_for(m.status)
        self.status_icon.setPixmap(badges.icon_for(m.status).pixmap(16, 16))
        code = m.error_code
        self.error_code = code
        status = f"<b>{html.escape(badge.text)}</b> — {html.escape(badge.tooltip)}"
        if m.simulated:
            status = f"<b>SIMULATED</b> (Simulate traffic, demo token: not from Twilio)<br>{status}"
        if code is not None:
            status += f"<br>Error <b>{html.escape(short_title(code))}</b>"
            twilio = error_dictionary.entry_for(code)
            if twilio is not None and not short_title(code).endswith(twilio.message):
                status += f" — Twilio: “{html.escape(twilio.message)}”"
        self.status_text.setText(status)
        self.status_text.setWordWrap(True)
        self.explain.setVisible(code is not None)
        self.explain.setText(f"&Explain error {code}" if code is not None else "")

        reader = self._read()
        events = reader.events_of(m.sid)
        facts: list[tuple[str, object]] = [
            ("From", m.from_addr),
            ("To", m.to_addr),
            ("First seen", local_time(m.first_seen)),
            ("Updated", local_time(m.updated_at)),
            ("Segments", m.num_segments),
            ("Price", format_price(m.price, m.price_unit)),
            ("Messaging service", m.messaging_service_sid),
            ("Channel status", m.channel_status_message),
        ]
        if inbound and (m.profile_name or m.channel == channels.WHATSAPP):
            facts.insert(0, ("Profile name", m.profile_name or "(none sent)"))
        if m.source == "api" and not m.num_segments:  # Twilio answers a send with 0 segments until counted
            facts = [(k, v) for k, v in facts if k != "Segments"]
        lines = [f"{k}: <b>{html.escape(str(v))}</b>" for k, v in facts if v not in (None, "")]
        keyword = _opt_out(m, events) if inbound else None
        if keyword:
            lines.insert(
                0,
                f"⛔ <b>Opt-out ({html.escape(keyword)})</b>: this sender asked to stop. Twilio refuses "
                "further messages to them (error 21610) until they reply START.",
            )
        if inbound or m.body:
            body = html.escape(m.body or "(empty)").replace("\n", "<br>")
            lines.append(f"Body:<blockquote style='margin:2px 12px'>{body}</blockquote>")
        media = reader.media_of(m.sid)
        if media:
            links = ", ".join(
                f"<a href='{html.escape(item.url, quote=True)}'>"
                f"media {item.idx} ({html.escape(item.content_type or '?')})</a>"
                for item in media
            )
            lines.append(f"Media: {links}")
        self.facts.setText("<br>".join(lines))
        self._fill_events(events, reader.rejections_of(m.sid))
        if m.source == "api":
            self._add_api_accepted(m)

    def _add_api_accepted(self, m: MessageRecord) -> None:
        """A message sent through the app starts with Twilio's answer to the send (no callback says so)."""
        item = QTreeWidgetItem([local_time(m.first_seen), "accepted (API)", "", "", "", ""])
        item.setIcon(1, badges.icon_for("accepted"))
        item.setToolTip(1, "Twilio accepted the send request; the status callbacks follow")
        self.timeline.insertTopLevelItem(0, item)

    def _fill_events(self, events: list[EventRecord], rejected: list[rejections.Rejection]) -> None:
        self.timeline.clear()
        raw_parts = []
        self._show_rejections(rejected)
        entries: list[tuple[str, QTreeWidgetItem]] = []
        for e in events:
            code = e.error_code
            item = QTreeWidgetItem(
                [
                    local_time(e.received_at),
                    badges.badge_for(e.status).text,
                    short_title(code) if code is not None else "",
                    e.channel_status_message or "",
                    e.raw_dlr_done_date or "",
                    e.event_type or "",
                ]
            )
            item.setIcon(1, badges.icon_for(e.status))
            item.setToolTip(0, f"{e.received_at} (UTC)")
            if e.source == API_SOURCE:  # learned by reconciliation (receiver/reconcile.py), no callback
                item.setText(1, f"{item.text(1)} (API)")
                item.setText(3, "from the API (reconciliation)")
                item.setToolTip(1, "No callback brought this status: Twilio's API reported it when asked")
            entries.append((e.received_at, item))
            try:
                pretty = json.dumps(json.loads(e.payload), indent=2, ensure_ascii=False, sort_keys=True)
            except (TypeError, ValueError):
                pretty = str(e.payload)
            raw_parts.append(f"// {e.received_at}  {e.status}\n{pretty}")
        for rej in rejected:
            claimed = f" ({rej.status})" if rej.status else ""
            item = QTreeWidgetItem(
                [
                    local_time(rej.received_at),
                    f"rejected{claimed}",
                    f"HTTP {rej.http_status}",
                    rej.reason,
                    "",
                    "",
                ]
            )
            item.setIcon(1, badges.warning_icon())
            item.setToolTip(1, "This callback was refused and not applied; the Requests tab has the request")
            item.setToolTip(0, f"{rej.received_at} (UTC)")
            item.setToolTip(3, rej.reason)
            entries.append((rej.received_at, item))
        entries.sort(key=lambda e: e[0])  # one arrival order for accepted and rejected callbacks
        self.timeline.addTopLevelItems([item for _when, item in entries])
        if not events:
            raw_parts.append("// no callbacks stored for this message (created through the REST API)")
        self.raw.setPlainText("\n\n".join(raw_parts))

    def _show_rejections(self, rejected: list[rejections.Rejection]) -> None:
        if not rejected:
            self.rejected_note.hide()
            return
        n = len(rejected)
        latest = rejected[-1]
        self.rejected_note.setText(
            f"⚠ <b>{count_of(n, 'callback')} naming this message {'were' if n != 1 else 'was'} "
            f"rejected</b> and not applied (latest: HTTP {latest.http_status}, "
            f"{html.escape(latest.reason or 'no reason recorded')}). "
            "<a href='requests'>Show in the Requests tab</a>"
        )
        self.rejected_note.show()

    def _copy_sid(self) -> None:
        if self.sid:
            QGuiApplication.clipboard().setText(self.sid)
            self.notice.emit(f"Copied {self.sid} to the clipboard")

    def _explain(self) -> None:
        if self.error_code is not None:
            self.errorCodeRequested.emit(self.error_code)


def _opt_out(m: MessageRecord, events: list[EventRecord]) -> str | None:
    """The opt-out keyword of an inbound message (Twilio's OptOutType from any of its callbacks wins)."""
    kind = None
    for event in events:
        try:
            kind = kind or json.loads(event.payload).get("OptOutType")
        except (TypeError, ValueError, AttributeError):
            continue
    return opt_out_keyword(m.body, kind)
