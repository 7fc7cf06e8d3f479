"""Error lookup panel: search by code and by words, the entry text and link, the per-code counts on a
seeded database, and the "Show these messages" signal."""

from __future__ import annotations

import os
from typing import Any

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest
from PySide6.QtCore import Qt

from desktop.views import error_lookup
from desktop.views.error_lookup import ErrorLookupPanel
from receiver import errors
from receiver.callbacks import parse
from receiver.store import RequestRecord


@pytest.fixture
def panel(qtbot: Any, seeded_controller: Any) -> ErrorLookupPanel:
    widget = ErrorLookupPanel(seeded_controller)
    qtbot.addWidget(widget)
    return widget


def search(qtbot: Any, panel: ErrorLookupPanel, text: str) -> list[int]:
    """Type ``text`` over whatever the box holds and press Enter, as a person does."""
    qtbot.keyClick(panel.search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    if text:
        qtbot.keyClicks(panel.search, text)
    else:
        qtbot.keyClick(panel.search, Qt.Key.Key_Delete)
    qtbot.keyClick(panel.search, Qt.Key.Key_Return)
    return panel.result_codes()


def test_empty_search_lists_the_whole_catalogue(panel: ErrorLookupPanel) -> None:
    assert panel.result_codes() == [e.code for e in errors.all_entries()]


def test_search_by_code_opens_the_entry(qtbot: Any, panel: ErrorLookupPanel) -> None:
    assert search(qtbot, panel, "30003")[0] == 30003
    assert panel.code == 30003
    text = panel.entry.toPlainText()
    assert "Unreachable handset" in text
    assert "What to do" in text
    assert "https://www.twilio.com/docs/api/errors/30003" in panel.entry.toHtml()
    assert panel.entry.openExternalLinks()


def test_search_by_words(qtbot: Any, panel: ErrorLookupPanel) -> None:
    assert 30003 in search(qtbot, panel, "unreachable handset")
    assert 21610 in search(qtbot, panel, "opted out")
    assert search(qtbot, panel, "zzqx nothing like this") == []
    assert panel.result_count.text().startswith("No error code matches")


def test_uncatalogued_code_still_gets_an_entry_with_twilio_link(qtbot: Any, panel: ErrorLookupPanel) -> None:
    assert search(qtbot, panel, "98765") == [98765]
    assert "Unknown error code 98765" in panel.entry.toPlainText()
    assert "https://www.twilio.com/docs/api/errors/98765" in panel.entry.toHtml()


def test_counts_messages_and_callbacks_with_the_code(
    qtbot: Any, panel: ErrorLookupPanel, seeded_db: Any
) -> None:
    expected = seeded_db.count(lambda m: m["error_code"] == 30003)
    assert expected > 0
    panel.show_code(30003)
    qtbot.waitUntil(lambda: panel.counts is not None, timeout=5000)
    # the seed stores the code on each message and on its final status callback
    assert panel.counts == (expected, expected)
    assert f"{expected} messages currently carry error 30003" in panel.usage.text()
    assert panel.show_button.isEnabled()
    assert panel.show_button.text() == f"Show these messages ({expected})"


def test_show_these_messages_emits_filter_by_error_code(qtbot: Any, panel: ErrorLookupPanel) -> None:
    panel.show_code(21610)
    qtbot.waitUntil(lambda: panel.show_button.isEnabled(), timeout=5000)
    with qtbot.waitSignal(panel.filterByErrorCode, timeout=2000, check_params_cb=lambda code: code == 21610):
        qtbot.mouseClick(panel.show_button, Qt.MouseButton.LeftButton)


def test_code_absent_from_the_database_cannot_be_shown(qtbot: Any, panel: ErrorLookupPanel) -> None:
    panel.show_code(30007)
    qtbot.waitUntil(lambda: panel.counts is not None, timeout=5000)
    assert panel.counts == (0, 0)
    assert "No message in this database has error 30007" in panel.usage.text()
    assert not panel.show_button.isEnabled()
    with qtbot.assertNotEmitted(panel.filterByErrorCode):
        qtbot.mouseClick(panel.show_button, Qt.MouseButton.LeftButton)


def test_counts_follow_new_callbacks(
    qtbot: Any, seeded_controller: Any, seeded_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(error_lookup, "COUNT_REFRESH_MS", 50)
    panel = ErrorLookupPanel(seeded_controller)
    qtbot.addWidget(panel)
    panel.show_code(30003)
    qtbot.waitUntil(lambda: panel.counts is not None, timeout=5000)
    before = panel.counts
    assert before is not None
    items = [("MessageSid", "SM" + "e" * 32), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")]
    req = RequestRecord(path="/twilio/status", kind="status")
    seeded_controller.store.record_callback(parse("status", items, None), req)
    seeded_controller.notify_changed()
    qtbot.waitUntil(lambda: panel.counts == (before[0] + 1, before[1] + 1), timeout=5000)


def test_warning_icons_are_not_clipped_by_an_icon_less_first_row(qtbot: Any, panel: ErrorLookupPanel) -> None:
    """Uniform item sizes take every row's height from the first row: with an icon-less first row (an
    ordinary error) the warning icons below it were cut. Every row must carry an icon and be tall enough."""
    panel.resize(900, 600)
    panel.show()
    qtbot.waitExposed(panel)
    levels = [errors.lookup(code).log_level for code in panel.result_codes()[:60]]  # type: ignore[union-attr]
    assert levels[0] == "error" and any(level != "error" for level in levels)  # the case that clipped
    icon = panel.results.iconSize()
    for i in range(60):
        item = panel.results.item(i)
        assert not item.icon().isNull(), f"row {i} has no icon: the uniform row height ignores icons"
        assert panel.results.visualItemRect(item).height() >= icon.height()


def test_typing_a_code_and_enter_shows_its_title_and_counts(
    qtbot: Any, panel: ErrorLookupPanel, seeded_db: Any
) -> None:
    """As a person uses it: type the code, press Enter, read the title and how often it was seen."""
    expected = seeded_db.count(lambda m: m["error_code"] == 30003)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.mouseClick(panel.search, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(panel.search, "30003")
    qtbot.keyClick(panel.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "30003 — Unreachable handset" in panel.entry.toPlainText(), timeout=2000)
    qtbot.waitUntil(lambda: "currently carry error 30003" in panel.usage.text(), timeout=5000)
    assert panel.usage.text().startswith(f"{expected} messages currently carry error 30003")
    assert panel.show_button.text() == f"Show these messages ({expected})"


def test_counting_without_a_database_says_to_start_the_receiver(
    qtbot: Any, make_controller: Any, tmp_path: Any
) -> None:
    controller = make_controller(tmp_path / "not-yet.db", start=False)
    panel = ErrorLookupPanel(controller)
    qtbot.addWidget(panel)
    panel.show_code(30003)
    qtbot.waitUntil(lambda: panel.usage.text() == "No database yet: start the receiver.", timeout=5000)
    assert not panel.show_button.isEnabled()


def test_the_list_and_the_entry_fill_the_panel(qtbot: Any, panel: ErrorLookupPanel) -> None:
    """At the smallest window the app is laid out for, the codes and the entry take the height; the
    download line below them (usually empty) must not keep half the panel blank."""
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.results.height() > 0.8 * panel.height()
    assert panel.refresh_state.height() < 50
