"""The Requests tab as an operator uses it: click rows, replay, copy as curl, read our answer."""

from __future__ import annotations

import re
import shlex
import subprocess
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.main_window import MainWindow
from desktop.models.requests_model import COL_OUTCOME, COL_PATH, COL_TIME
from tests.conftest import TEST_AUTH_TOKEN
from tests.gui.test_journeys import click_row
from tests.receiver_helpers import http_post, status_params


def open_requests(qtbot: QtBot, window: MainWindow) -> Any:
    QTest.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.inspector
    return window.inspector


def row_with(inspector: Any, col: int, text: str) -> int:
    model = inspector.model
    return next(r for r in range(model.rowCount()) if model.index(r, col).data() == text)


def test_time_has_the_date_and_path_has_the_query(qtbot: QtBot, window: MainWindow) -> None:
    sid = "SM" + "7" * 32
    assert http_post(window.controller.local_url, "/twilio/status?tenant=7", status_params(sid, "sent"),
                     token=TEST_AUTH_TOKEN) == 200  # fmt: skip
    inspector = open_requests(qtbot, window)
    qtbot.waitUntil(lambda: inspector.model.rowCount() == 1, timeout=5000)
    assert inspector.model.index(0, COL_PATH).data() == "/twilio/status?tenant=7"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", inspector.model.index(0, COL_TIME).data())


def test_replay_button_stays_put_and_old_results_go_away(qtbot: QtBot, seeded_window: MainWindow) -> None:
    inspector = open_requests(qtbot, seeded_window)
    table = inspector.table
    accepted = row_with(inspector, COL_OUTCOME, "Accepted")
    rejected = row_with(inspector, COL_OUTCOME, "Rejected")
    click_row(table, accepted)
    qtbot.waitUntil(lambda: inspector.replay_button.isEnabled(), timeout=2000)
    before = inspector.replay_button.mapTo(inspector, QPoint(0, 0))
    click_row(table, rejected)
    qtbot.waitUntil(lambda: inspector.detail.diagnosis_box.isVisible(), timeout=2000)
    assert inspector.replay_button.mapTo(inspector, QPoint(0, 0)) == before

    with qtbot.waitSignal(seeded_window.controller.replayed, timeout=10000):
        QTest.mouseClick(inspector.replay_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Replay of request" in inspector.replay_result.text(), timeout=5000)
    click_row(table, row_with(inspector, COL_OUTCOME, "Accepted"))
    qtbot.waitUntil(lambda: not inspector.detail.diagnosis_box.isVisible(), timeout=2000)
    assert inspector.replay_result.text() == ""  # not the other request's result


def test_our_answer_is_shown_for_a_rejected_request(qtbot: QtBot, window: MainWindow) -> None:
    sid = "SM" + "8" * 32
    assert http_post(window.controller.local_url, "/twilio/status", status_params(sid, "sent"),
                     token="f" * 32) == 403  # fmt: skip
    inspector = open_requests(qtbot, window)
    qtbot.waitUntil(lambda: inspector.model.rowCount() == 1, timeout=5000)
    click_row(inspector.table, 0)
    qtbot.waitUntil(lambda: inspector.detail.diagnosis_box.isVisible(), timeout=2000)
    answer = inspector.detail.answer.toPlainText()
    assert answer.startswith("HTTP 403")
    assert inspector.detail.diagnosis.text() in answer  # the reason we gave is what we sent


def test_copy_as_curl_resends_the_request_without_secrets(qtbot: QtBot, window: MainWindow) -> None:
    sid = "SM" + "4" * 32
    base = window.controller.local_url
    assert http_post(base, "/twilio/status", status_params(sid, "delivered"), token=TEST_AUTH_TOKEN) == 200
    inspector = open_requests(qtbot, window)
    qtbot.waitUntil(lambda: inspector.model.rowCount() == 1, timeout=5000)
    click_row(inspector.table, 0)
    QApplication.clipboard().clear()
    QTest.mouseClick(inspector.curl_button, Qt.MouseButton.LeftButton)
    command = QApplication.clipboard().text()
    assert command.startswith("curl ") and "X-Twilio-Signature" in command
    assert TEST_AUTH_TOKEN not in command
    out = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("HTTP/1.1 200"), out.stdout + out.stderr
    qtbot.waitUntil(lambda: inspector.model.rowCount() == 2, timeout=5000)
    assert inspector.model.index(0, COL_OUTCOME).data() == "Duplicate"  # signed and accepted again
