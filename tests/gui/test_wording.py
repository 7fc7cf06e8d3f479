"""Sentences the operator reads, checked where a slip was found ("signed with the your auth token")."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktop.main_window import MainWindow


def test_simulation_summary_names_the_signing_token_in_plain_words(qtbot: QtBot, window: MainWindow) -> None:
    assert window.controller.has_token  # a real token is set, and still the demo token signs
    with qtbot.waitSignal(window.simulation.finished, timeout=20000) as blocker:
        assert window.start_simulation(messages=2, rate=0)
    summary = blocker.args[0]
    assert "signed with the public demo token" in summary and "the your" not in summary
