"""The filter row above the messages table: presets, free-text search, status/channel/direction/error/time.

It only *describes* a filter (``MessageFilter``); the model turns it into SQL. Typing is debounced so a
search runs once the operator pauses, not on every key. Time is a relative preset ("Last hour", which
slides with every refresh) or a fixed range picked in local time (``TimeRangeDialog``) and kept as UTC
ISO timestamps, the format ``first_seen`` is stored in, so the comparison in SQL is a plain string one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QDateTime, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import badges, theme
from desktop.formatting import from_iso, range_label, to_iso
from desktop.models.message_query import FAILED_STATUSES, MessageFilter, normalise_search
from receiver import channels, statuses

SEARCH_DEBOUNCE_MS = 250
TIME_RANGES: tuple[tuple[str, int | None], ...] = (
    ("Any time", None),
    ("Last 15 minutes", 15 * 60),
    ("Last hour", 3600),
    ("Last 24 hours", 86400),
    ("Last 7 days", 7 * 86400),
)
CUSTOM = "custom"  # item data of "Custom range…": opens the dialog
RANGE = "range"  # item data of the item that shows the chosen range ("21 Nov 10:00 – 12:00")
CUSTOM_LABEL = "Custom range…"
CHANNELS = channels.KNOWN
PRESETS = ("all", "inbound", "failures")
EDIT_FORMAT = "yyyy-MM-dd HH:mm"


def _to_qt(moment: datetime) -> QDateTime:
    return QDateTime.fromMSecsSinceEpoch(int(moment.timestamp() * 1000))  # local time


def _from_qt(value: QDateTime) -> datetime:
    return datetime.fromtimestamp(value.toMSecsSinceEpoch() / 1000, UTC)


class TimeRangeDialog(QDialog):
    """Pick a fixed time range: "From" and "To" in local time with calendar pop-ups.

    "To" is exclusive (a message first seen at exactly 12:00 is not in 10:00 – 12:00), so ranges placed
    end to end never count a message twice. A "From" that is not before "To" is refused with a message
    saying what to change; the dialog stays open.
    """

    def __init__(self, since: datetime, until: datetime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Custom time range")
        self.since: str | None = None
        self.until: str | None = None
        self.from_edit = self._edit("from", since)
        self.to_edit = self._edit("to", until)
        offset = datetime.now().astimezone().strftime("%z")
        zone = f"UTC{offset[:3]}:{offset[3:]}" if offset else "local time"
        hint = QLabel(
            f"Local time ({zone}). Shows messages first seen from “From” up to, not including, “To”.", self
        )
        hint.setWordWrap(True)
        self.error = QLabel(self)
        self.error.setObjectName("range_error")
        self.error.setWordWrap(True)
        theme.follow_theme(self.error, lambda: badges.tint(self.error, "error"))
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("&From:", self.from_edit)
        form.addRow("&To:", self.to_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(440)  # room for the wrapped hint and error lines
        self.from_edit.setFocus()

    def _edit(self, name: str, moment: datetime) -> QDateTimeEdit:
        edit = QDateTimeEdit(_to_qt(moment), self)
        edit.setObjectName(f"range_{name}")
        edit.setCalendarPopup(True)
        edit.setDisplayFormat(EDIT_FORMAT)
        edit.dateTimeChanged.connect(lambda _v: self.error.hide())
        return edit

    def set_range(self, since: datetime, until: datetime) -> None:
        self.from_edit.setDateTime(_to_qt(since))
        self.to_edit.setDateTime(_to_qt(until))

    def accept(self) -> None:
        start, end = _from_qt(self.from_edit.dateTime()), _from_qt(self.to_edit.dateTime())
        if start >= end:
            self.error.setText(
                f"This range is {'empty' if start == end else 'reversed'}: “From” must be earlier than "
                "“To”. Move “From” back or “To” forward."
            )
            self.error.show()
            return
        self.since, self.until = to_iso(start), to_iso(end)
        super().accept()


class FilterBar(QWidget):
    """Filter controls.

    Signals:
        filterChanged(object): the operator changed the filter; the new ``MessageFilter``.
    """

    filterChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._applying = False
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit)

        self.presets = QButtonGroup(self)
        self.presets.setExclusive(True)
        preset_row = QHBoxLayout()
        for pid, label, tip in (
            ("all", "All messages", "Every message, outbound and inbound"),
            ("inbound", "Inbound", "Messages customers sent you: profile name, body and media"),
            ("failures", "Failed / undelivered", "Messages with status failed or undelivered"),
        ):
            button = QToolButton(self)
            button.setText(label)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setObjectName(f"preset_{pid}")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.presets.addButton(button, PRESETS.index(pid))
            preset_row.addWidget(button)
        self.presets.button(0).setChecked(True)
        self.presets.idClicked.connect(self._preset_clicked)
        preset_row.addSpacing(12)

        self.search = QLineEdit(self)
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search number, SID, body, profile name…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self._emit_now)
        preset_row.addWidget(self.search, 1)

        self.count_label = QLabel("0 messages", self)
        self.count_label.setObjectName("count")
        self.count_label.setMinimumWidth(110)
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        preset_row.addWidget(self.count_label)

        combo_row = QHBoxLayout()
        self.status = QComboBox(self)
        self.status.setObjectName("status")
        self.status.addItem("Any status", ())
        self.status.addItem("failed or undelivered", FAILED_STATUSES)
        for st in statuses.ALL_KNOWN:
            self.status.addItem(st.replace("_", " "), (st,))
        self.channel = QComboBox(self)
        self.channel.setObjectName("channel")
        self.channel.addItem("Any channel", None)
        for ch in CHANNELS:
            self.channel.addItem(ch, ch)
        self.direction = QComboBox(self)
        self.direction.setObjectName("direction")
        for label, value in (("Any direction", None), ("outbound", "outbound"), ("inbound", "inbound")):
            self.direction.addItem(label, value)
        self.error_code = QLineEdit(self)
        self.error_code.setObjectName("error_code")
        self.error_code.setPlaceholderText("Error code")
        self.error_code.setValidator(QIntValidator(0, 99999, self))
        self.error_code.setMaximumWidth(100)
        self.error_code.setClearButtonEnabled(True)
        self.error_code.textChanged.connect(lambda _t: self._debounce.start())
        self.time_range = QComboBox(self)
        self.time_range.setObjectName("time_range")
        self.time_range.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for label, seconds in TIME_RANGES:
            self.time_range.addItem(label, seconds)
        self.time_range.addItem(CUSTOM_LABEL, CUSTOM)
        self.time_range.setItemData(
            self.time_range.count() - 1, "Pick a from and to date and time", Qt.ItemDataRole.ToolTipRole
        )
        self.range: tuple[str | None, str | None] = (None, None)  # the fixed range, UTC ISO
        self.range_dialog: TimeRangeDialog | None = None
        self.drill_down: dict[str, Any] = {}  # MessageFilter fields set by a statistics drill-down
        self._time_index = 0  # the last time item that is not "Custom range…"
        for combo in (self.status, self.channel, self.direction):
            combo.currentIndexChanged.connect(self._emit_now)
            combo_row.addWidget(combo)
        self.time_range.currentIndexChanged.connect(self._time_range_chosen)
        combo_row.addWidget(self.time_range)
        combo_row.addWidget(self.error_code)
        clear = self.clear_button = QPushButton("Clear filters", self)
        clear.setObjectName("clear")
        clear.setToolTip("Show every message again (Esc)")
        clear.clicked.connect(self.clear)
        combo_row.addWidget(clear)
        self.hide_simulated = QCheckBox("Hide simulated", self)
        self.hide_simulated.setObjectName("hide_simulated")
        self.hide_simulated.setToolTip("Leave out the messages that Simulate traffic sent (demo token)")
        self.hide_simulated.toggled.connect(lambda _on: self._emit_now())
        combo_row.addWidget(self.hide_simulated)
        combo_row.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(preset_row)
        layout.addLayout(combo_row)

    def tab_chain(self) -> list[QWidget]:
        """Focusable controls left to right, top row first: the tab order matches what the eye reads."""
        return [
            *self.presets.buttons(),
            self.search,
            self.status,
            self.channel,
            self.direction,
            self.time_range,
            self.error_code,
            self.clear_button,
        ]

    def apply_now(self) -> None:
        """Apply typed text at once (the debounce is for typing, not for leaving the box)."""
        if self._debounce.isActive():
            self._emit_now()

    # ------------------------------------------------------------------ reading / writing the filter
    def current_filter(self) -> MessageFilter:
        code = self.error_code.text().strip()
        time_data = self.time_range.currentData()
        fixed = time_data == RANGE
        return MessageFilter(
            statuses=tuple(self.status.currentData() or ()),
            channel=self.channel.currentData(),
            direction=self.direction.currentData(),
            error_code=int(code) if code.isdigit() else None,
            since_seconds=time_data if isinstance(time_data, int) else None,
            since=self.range[0] if fixed else None,
            until=self.range[1] if fixed else None,
            text=normalise_search(self.search.text()),
            hide_simulated=self.hide_simulated.isChecked(),
            **self.drill_down,
        )

    def set_filter(self, flt: MessageFilter) -> None:
        """Show ``flt`` in the controls and emit it once."""
        self._applying = True
        empty = MessageFilter()
        self.drill_down = {  # no control of its own: kept as the statistics set it, named in the count label
            k: getattr(flt, k)
            for k in ("from_addr", "service", "to_prefixes", "scope")
            if getattr(flt, k) != getattr(empty, k)
        }
        try:
            self.search.setText(flt.text)
            self.hide_simulated.setChecked(flt.hide_simulated)
            self.error_code.setText("" if flt.error_code is None else str(flt.error_code))
            _select(self.status, tuple(flt.statuses))
            _select(self.channel, flt.channel)
            _select(self.direction, flt.direction)
            if flt.since or flt.until:
                self._show_range(flt.since, flt.until)
            else:
                _select(self.time_range, flt.since_seconds)
                self.time_range.setToolTip("")
            self._time_index = self.time_range.currentIndex()
        finally:
            self._applying = False
        self._emit_now()

    def clear(self) -> None:
        self.set_filter(MessageFilter())

    def set_range(self, since: str | None, until: str | None) -> None:
        """Filter on a fixed range (UTC ISO strings; None: open-ended) and emit the filter."""
        self.set_filter(self.current_filter().with_(since=since, until=until, since_seconds=None))

    def open_range_dialog(self) -> TimeRangeDialog:
        """Ask for a range (window-modal, so the caller returns at once); accepting it filters on it.

        Starts from the range in use, else from the last hour."""
        now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        since, until = (from_iso(v) if v else None for v in self.range)
        end = until or now
        dialog = TimeRangeDialog(since or end - timedelta(hours=1), end, self)
        dialog.accepted.connect(lambda: self.set_range(dialog.since, dialog.until))
        dialog.finished.connect(dialog.deleteLater)
        self.range_dialog = dialog
        dialog.open()
        return dialog

    def preset(self) -> str:
        flt = self.current_filter()
        if flt.direction == "inbound":
            return "inbound"
        if set(flt.statuses) == set(FAILED_STATUSES):
            return "failures"
        return "all"

    def set_count(self, n: int) -> None:
        # "(filtered)": filters survive a restart, so say so wherever the count is read
        flt = self.current_filter()
        hint = "" if flt.is_empty else f" (filtered{': ' + flt.scope if flt.scope else ''})"
        self.count_label.setText(f"{n:,} message{'' if n == 1 else 's'}{hint}")

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    # ------------------------------------------------------------------ settings
    def save_state(self, settings: QSettings) -> None:
        flt = self.current_filter()
        settings.setValue("filter/text", flt.text)
        settings.setValue("filter/status", self.status.currentIndex())
        settings.setValue("filter/channel", flt.channel or "")
        settings.setValue("filter/direction", flt.direction or "")
        settings.setValue("filter/error_code", "" if flt.error_code is None else str(flt.error_code))
        preset = isinstance(self.time_range.currentData(), int)
        settings.setValue("filter/time_range", self.time_range.currentIndex() if preset else 0)
        settings.setValue("filter/since", flt.since or "")
        settings.setValue("filter/until", flt.until or "")

    def restore_state(self, settings: QSettings) -> None:
        code = str(settings.value("filter/error_code", "") or "")
        status_index = _int(settings.value("filter/status", 0))
        time_index = _int(settings.value("filter/time_range", 0))
        statuses_value = self.status.itemData(status_index) if 0 <= status_index < self.status.count() else ()
        seconds = self.time_range.itemData(time_index) if 0 <= time_index < len(TIME_RANGES) else None
        since, until = (_iso_setting(settings, f"filter/{key}") for key in ("since", "until"))
        self.set_filter(
            MessageFilter(
                statuses=tuple(statuses_value or ()),
                channel=str(settings.value("filter/channel", "") or "") or None,
                direction=str(settings.value("filter/direction", "") or "") or None,
                error_code=int(code) if code.isdigit() else None,
                since_seconds=None if since or until else seconds,
                since=since,
                until=until,
                text=str(settings.value("filter/text", "") or ""),
            )
        )

    # ------------------------------------------------------------------ internals
    def _preset_clicked(self, pid: int) -> None:
        preset = PRESETS[pid]
        base = self.current_filter()
        if preset == "inbound":
            self.set_filter(base.with_(direction="inbound", statuses=()))
        elif preset == "failures":
            self.set_filter(base.with_(direction=None, statuses=FAILED_STATUSES))
        else:
            self.set_filter(base.with_(direction=None, statuses=()))

    def _time_range_chosen(self, index: int) -> None:
        if self._applying:
            return
        if self.time_range.itemData(index) == CUSTOM:
            # keep showing (and filtering by) the previous choice until a range is accepted
            self.time_range.blockSignals(True)
            self.time_range.setCurrentIndex(self._time_index)
            self.time_range.blockSignals(False)
            self.open_range_dialog()
            return
        self._time_index = index
        if self.time_range.itemData(index) == RANGE:
            self._show_range(*self.range)  # back to the range picked earlier: its tooltip again
        else:
            self.time_range.setToolTip("")
        self._emit_now()

    def _show_range(self, since: str | None, until: str | None) -> None:
        """Select the range item (made on first use, just above "Custom range…") showing ``since–until``."""
        self.range = (since, until)
        index = self.time_range.findData(RANGE)
        if index < 0:
            index = self.time_range.count() - 1
            self.time_range.insertItem(index, "", RANGE)
        self.time_range.setItemText(index, range_label(since, until))
        start, end = (from_iso(v) if v else None for v in (since, until))
        tip = " – ".join(f"{m.astimezone():%Y-%m-%d %H:%M:%S %Z}" if m else "…" for m in (start, end))
        self.time_range.setItemData(index, f"{tip} (“To” not included)", Qt.ItemDataRole.ToolTipRole)
        self.time_range.setCurrentIndex(index)
        self.time_range.setToolTip(f"Time range: {tip}")

    def _emit_now(self) -> None:
        self._debounce.stop()
        self._emit()

    def _emit(self) -> None:
        if self._applying:
            return
        button = self.presets.button(PRESETS.index(self.preset()))
        if button is not None and not button.isChecked():
            button.setChecked(True)
        self.filterChanged.emit(self.current_filter())


def _select(combo: QComboBox, value: object) -> None:
    for i in range(combo.count()):
        data = combo.itemData(i)
        if data == value or (isinstance(data, (tuple, list)) and tuple(data) == value):
            combo.setCurrentIndex(i)
            return
    if combo.objectName() == "channel" and isinstance(value, str):
        combo.addItem(value, value)
        combo.setCurrentIndex(combo.count() - 1)
        return
    combo.setCurrentIndex(0)


def _iso_setting(settings: QSettings, key: str) -> str | None:
    text = str(settings.value(key, "") or "")
    return text if text and from_iso(text) is not None else None


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0
