"""The filter row above the messages table: presets, free-text search, status/channel/direction/error/time.

It only *describes* a filter (``MessageFilter``); the model turns it into SQL. Typing is debounced so a
search runs once the operator pauses, not on every key.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.models.message_query import FAILED_STATUSES, MessageFilter
from receiver import statuses

SEARCH_DEBOUNCE_MS = 250
TIME_RANGES: tuple[tuple[str, int | None], ...] = (
    ("Any time", None),
    ("Last 15 minutes", 15 * 60),
    ("Last hour", 3600),
    ("Last 24 hours", 86400),
    ("Last 7 days", 7 * 86400),
)
CHANNELS = ("sms", "mms", "whatsapp", "rcs", "messenger")
PRESETS = ("all", "inbound", "failures")


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
        for label, seconds in TIME_RANGES:
            self.time_range.addItem(label, seconds)
        for combo in (self.status, self.channel, self.direction, self.time_range):
            combo.currentIndexChanged.connect(self._emit_now)
            combo_row.addWidget(combo)
        combo_row.addWidget(self.error_code)
        clear = QPushButton("Clear filters", self)
        clear.setObjectName("clear")
        clear.setToolTip("Show every message again (Esc)")
        clear.clicked.connect(self.clear)
        combo_row.addWidget(clear)
        combo_row.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(preset_row)
        layout.addLayout(combo_row)

    # ------------------------------------------------------------------ reading / writing the filter
    def current_filter(self) -> MessageFilter:
        code = self.error_code.text().strip()
        return MessageFilter(
            statuses=tuple(self.status.currentData() or ()),
            channel=self.channel.currentData(),
            direction=self.direction.currentData(),
            error_code=int(code) if code.isdigit() else None,
            since_seconds=self.time_range.currentData(),
            text=self.search.text().strip(),
        )

    def set_filter(self, flt: MessageFilter) -> None:
        """Show ``flt`` in the controls and emit it once."""
        self._applying = True
        try:
            self.search.setText(flt.text)
            self.error_code.setText("" if flt.error_code is None else str(flt.error_code))
            _select(self.status, tuple(flt.statuses))
            _select(self.channel, flt.channel)
            _select(self.direction, flt.direction)
            _select(self.time_range, flt.since_seconds)
        finally:
            self._applying = False
        self._emit_now()

    def clear(self) -> None:
        self.set_filter(MessageFilter())

    def preset(self) -> str:
        flt = self.current_filter()
        if flt.direction == "inbound":
            return "inbound"
        if set(flt.statuses) == set(FAILED_STATUSES):
            return "failures"
        return "all"

    def set_count(self, n: int) -> None:
        self.count_label.setText(f"{n:,} message{'' if n == 1 else 's'}")

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
        settings.setValue("filter/time_range", self.time_range.currentIndex())

    def restore_state(self, settings: QSettings) -> None:
        code = str(settings.value("filter/error_code", "") or "")
        status_index = _int(settings.value("filter/status", 0))
        time_index = _int(settings.value("filter/time_range", 0))
        statuses_value = self.status.itemData(status_index) if 0 <= status_index < self.status.count() else ()
        seconds = self.time_range.itemData(time_index) if 0 <= time_index < self.time_range.count() else None
        self.set_filter(
            MessageFilter(
                statuses=tuple(statuses_value or ()),
                channel=str(settings.value("filter/channel", "") or "") or None,
                direction=str(settings.value("filter/direction", "") or "") or None,
                error_code=int(code) if code.isdigit() else None,
                since_seconds=seconds,
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


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0
