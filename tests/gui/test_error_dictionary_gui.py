"""The operator refreshes the error catalogue from Twilio in the Error lookup tab, then reads codes.

Driven as a person: the tab and the button are clicked, the code typed, the result row clicked. Twilio's
real dictionary file is served by a local HTTP server (its answer held back until the test has seen the
"downloading" state); offline is a refused connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.views.error_lookup import DICTIONARY_URL_KEY
from tests.fakes.static_http import refused_url, serve

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "twilio-error-codes.json"
PATH = "/twilio-error-codes.json"


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
def dictionary_url(gate: threading.Event) -> Iterator[str]:
    with serve({PATH: REFERENCE.read_bytes()}, gate=gate) as base:
        yield base + PATH


def open_error_tab(qtbot: QtBot, window: Any) -> Any:
    tabs = window.tabs
    index = tabs.indexOf(window.error_panel)
    QTest.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton, pos=tabs.tabBar().tabRect(index).center())
    qtbot.waitUntil(lambda: tabs.currentWidget() is window.error_panel, timeout=3000)
    return window.error_panel


def click_refresh(panel: Any) -> None:
    button = panel.refresh_button
    QTest.mouseClick(button, Qt.MouseButton.LeftButton, pos=button.rect().center())


def look_up(qtbot: QtBot, panel: Any, code: int) -> str:
    """Type the code in the search box, click its row, return the entry's text."""
    panel.search.setFocus()
    QTest.keyClick(panel.search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(panel.search, str(code))
    qtbot.waitUntil(lambda: panel.result_codes()[:1] == [code], timeout=3000)
    results = panel.results
    rect = results.visualItemRect(results.item(0))
    QTest.mouseClick(results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: panel.code == code, timeout=3000)
    return str(panel.entry.toPlainText())


def test_refresh_from_twilio_then_a_lookup_shows_twilios_entry_beside_ours(
    qtbot: QtBot, seeded_window: Any, tmp_settings: Any, dictionary_url: str, gate: threading.Event
) -> None:
    tmp_settings.setValue(DICTIONARY_URL_KEY, dictionary_url)
    tmp_settings.sync()
    panel = open_error_tab(qtbot, seeded_window)
    assert "Built-in catalogue only" in panel.source.text()
    assert "Twilio's message" not in look_up(qtbot, panel, 30003)

    click_refresh(panel)
    assert panel.refresh_state.busy and not panel.refresh_button.isEnabled()  # the answer is held back
    assert panel.refresh_state.text().startswith(
        "Downloading Twilio's error dictionary from http://127.0.0.1:"
    )
    gate.set()
    qtbot.waitUntil(lambda: not panel.refresh_state.busy, timeout=30000)
    assert panel.refresh_state.text().startswith("Updated: Twilio's dictionary from ")
    assert panel.refresh_state.kind == "success" and panel.refresh_button.isEnabled()
    assert "(1,953 codes)" in panel.source.text()

    text = look_up(qtbot, panel, 30003)
    assert "Unreachable handset" in text and "What to do" in text  # our words, first
    assert "Twilio's dictionary from" in text
    assert "Unreachable destination handset" in text and "Possible causes" in text
    # a code outside our catalogue now carries Twilio's title and explanation
    text = look_up(qtbot, panel, 22225)
    assert "From Bundle to Replace Items does not exist" in text
    assert "FromBundleSid" in text


def test_refresh_offline_says_so_and_the_built_in_catalogue_stays(
    qtbot: QtBot, seeded_window: Any, tmp_settings: Any
) -> None:
    tmp_settings.setValue(DICTIONARY_URL_KEY, refused_url())
    tmp_settings.sync()
    panel = open_error_tab(qtbot, seeded_window)
    click_refresh(panel)
    qtbot.waitUntil(lambda: not panel.refresh_state.busy, timeout=30000)
    message = panel.refresh_state.text()
    assert message.startswith("Could not reach http://127.0.0.1:")
    assert "keeping the built-in catalogue" in message
    assert panel.refresh_state.kind == "error" and panel.refresh_button.isEnabled()
    text = look_up(qtbot, panel, 30003)
    assert "Unreachable handset" in text and "Twilio's message" not in text


def test_message_detail_shows_twilios_wording_after_a_refresh(
    qtbot: QtBot, seeded_window: Any, tmp_settings: Any, dictionary_url: str, gate: threading.Event
) -> None:
    gate.set()
    tmp_settings.setValue(DICTIONARY_URL_KEY, dictionary_url)
    tmp_settings.sync()
    panel = open_error_tab(qtbot, seeded_window)
    click_refresh(panel)
    qtbot.waitUntil(lambda: not panel.refresh_state.busy, timeout=30000)
    assert panel.refresh_state.kind == "success", panel.refresh_state.text()

    tabs = seeded_window.tabs
    view = seeded_window.messages
    QTest.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton, pos=tabs.tabBar().tabRect(0).center())
    model = view.model
    qtbot.waitUntil(lambda: model.rowCount() > 0, timeout=5000)
    row = next(
        r
        for r in range(model.rowCount())
        if "30003" in str(model.index(r, 0).siblingAtColumn(_error_column(model)).data())
    )
    rect = view.table.visualRect(model.index(row, 1))
    QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: view.detail.sid == model.sid_at(row), timeout=3000)
    assert "Error <b>30003 Unreachable handset</b>" in view.detail.status_text.text()
    assert "Twilio: “Unreachable destination handset”" in view.detail.status_text.text()


def _error_column(model: Any) -> int:
    for column in range(model.columnCount()):
        if str(model.headerData(column, Qt.Orientation.Horizontal)).lower().startswith("error"):
            return column
    raise AssertionError("no Error column")
