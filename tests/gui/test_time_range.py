"""The filter bar's custom time range against the seeded database (60 messages, one a minute from BASE)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from desktop.formatting import range_label
from desktop.main_window import MainWindow
from desktop.views.filter_bar import CUSTOM_LABEL, FilterBar, TimeRangeDialog
from tests.conftest import BASE, SeedInfo, iso


def local_qt(moment: datetime) -> QDateTime:
    """What the operator sees in the pickers: the moment in local time."""
    return QDateTime.fromMSecsSinceEpoch(int(moment.timestamp() * 1000))


def shown_sids(window: MainWindow, qtbot: QtBot, since: str | None, until: str | None) -> list[str]:
    """Every SID the table shows once the model runs the filter (rows may load asynchronously)."""
    model = window.messages.model
    qtbot.waitUntil(lambda: (model.filter.since, model.filter.until) == (since, until), timeout=5000)
    qtbot.waitUntil(lambda: model.rowCount() == model.total, timeout=5000)
    rows = range(model.rowCount())
    qtbot.waitUntil(lambda: all(model.sid_at(row) is not None for row in rows), timeout=5000)
    return [str(model.sid_at(row)) for row in rows]


def open_dialog_by_keyboard(bar: FilterBar, qtbot: QtBot) -> TimeRangeDialog:
    """Tab to the time combo and press End: its last entry is "Custom range…", which opens the dialog."""
    bar.time_range.setFocus()
    QTest.keyClick(bar.time_range, Qt.Key.Key_End)
    dialog = bar.range_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    return dialog


def test_choosing_a_range_shows_exactly_the_messages_first_seen_in_it(
    qtbot: QtBot, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    bar = seeded_window.messages.filter_bar
    assert bar.time_range.itemText(bar.time_range.count() - 1) == CUSTOM_LABEL
    dialog = open_dialog_by_keyboard(bar, qtbot)
    assert bar.time_range.currentText() == "Any time"  # nothing applied while the dialog is open
    start, end = BASE + timedelta(minutes=10), BASE + timedelta(minutes=20)
    dialog.from_edit.setDateTime(local_qt(start))
    dialog.to_edit.setDateTime(local_qt(end))
    QTest.keyClick(dialog, Qt.Key.Key_Return)  # OK is the default button

    sids = shown_sids(seeded_window, qtbot, iso(start), iso(end))
    expected = [m["sid"] for m in seeded_db.messages if iso(start) <= m["first_seen"] < iso(end)]
    assert len(expected) == 10  # minutes 10…19: "To" is exclusive
    assert sorted(sids) == sorted(expected)
    a, b = start.astimezone(), end.astimezone()
    assert bar.time_range.currentText() == range_label(iso(start), iso(end))
    assert f"{a:%H:%M} – {b:%H:%M}" in bar.time_range.currentText()
    assert bar.time_range.currentText().startswith(f"{a.day} Mar")
    assert f"{a:%Y-%m-%d %H:%M}" in bar.time_range.toolTip()
    assert seeded_window.messages.filter_bar.count_label.text() == "10 messages (filtered)"


def test_reversed_or_empty_range_is_refused_with_what_to_do(
    qtbot: QtBot, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    bar = seeded_window.messages.filter_bar
    dialog = bar.open_range_dialog()
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    later, earlier = BASE + timedelta(minutes=30), BASE + timedelta(minutes=5)
    dialog.from_edit.setDateTime(local_qt(later))
    dialog.to_edit.setDateTime(local_qt(earlier))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.isVisible()  # refused: the dialog stays open
    assert not dialog.error.isHidden()
    assert "“From” must be earlier than “To”" in dialog.error.text()
    assert "reversed" in dialog.error.text() and "Move “From” back" in dialog.error.text()
    assert bar.current_filter().since is None and bar.current_filter().until is None
    assert bar.time_range.currentText() == "Any time"

    dialog.to_edit.setDateTime(local_qt(later))  # same moment both ends: empty, refused too
    assert dialog.error.isHidden()  # editing clears the old complaint
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.isVisible() and "empty" in dialog.error.text()

    dialog.from_edit.setDateTime(local_qt(earlier))  # fixed: applied
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert not dialog.isVisible()
    assert len(shown_sids(seeded_window, qtbot, iso(earlier), iso(later))) == 25


def test_range_is_remembered_across_a_restart(
    qtbot: QtBot, seeded_controller: Any, open_window: Any, seeded_db: SeedInfo
) -> None:
    win = open_window(seeded_controller, show=False)
    start, end = iso(BASE + timedelta(minutes=40)), iso(BASE + timedelta(minutes=45))
    win.messages.filter_bar.set_range(start, end)
    label = win.messages.filter_bar.time_range.currentText()
    win.close()
    again = open_window(seeded_controller, show=False)
    bar = again.messages.filter_bar
    assert (bar.current_filter().since, bar.current_filter().until) == (start, end)
    assert bar.current_filter().since_seconds is None
    assert bar.time_range.currentText() == label
    assert len(shown_sids(again, qtbot, start, end)) == 5


def test_presets_clear_and_cancel_leave_the_range_consistent(qtbot: QtBot, seeded_window: MainWindow) -> None:
    bar = seeded_window.messages.filter_bar
    start, end = iso(BASE), iso(BASE + timedelta(minutes=3))
    bar.set_range(start, end)
    range_index = bar.time_range.currentIndex()
    bar.time_range.setCurrentIndex(2)  # "Last hour": relative again, the fixed range is dropped
    flt = bar.current_filter()
    assert flt.since_seconds == 3600 and flt.since is None and flt.until is None
    bar.time_range.setCurrentIndex(range_index)  # the picked range stays in the list
    assert (bar.current_filter().since, bar.current_filter().until) == (start, end)

    dialog = bar.open_range_dialog()  # opens on the range in use; Cancel changes nothing
    assert dialog.from_edit.dateTime() == local_qt(BASE)
    dialog.reject()
    assert (bar.current_filter().since, bar.current_filter().until) == (start, end)

    bar.clear()
    assert bar.current_filter().since is None and bar.time_range.currentText() == "Any time"
    assert len(shown_sids(seeded_window, qtbot, None, None)) == 60


def test_range_label_reads_naturally() -> None:
    start = BASE.replace(year=2025) + timedelta(hours=1)
    end = start + timedelta(days=2)
    a, b = start.astimezone(), end.astimezone()
    now = BASE
    label = range_label(iso(start), iso(end), now=now)
    assert label == f"{a.day} Mar 2025 {a:%H:%M} – {b.day} Mar 2025 {b:%H:%M}"  # not this year: with year
    assert range_label(iso(start), None, now=now).startswith("From ")
    assert range_label(None, iso(end), now=now).startswith("Until ")
