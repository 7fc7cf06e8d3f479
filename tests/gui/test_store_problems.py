"""The window when its database cannot take callbacks: a damaged file at start (the operator decides,
through the dialog's buttons), an unusable path (one message), a disk almost full (the status bar says so)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from desktop import app as desktop_app
from desktop import store_problems
from desktop.main_window import MainWindow
from receiver.store import Store
from tests.receiver_helpers import PUBLIC, http_post, sid, status_params
from tests.store_damage import damaged_db


def answer_dialog(button_text: str, seen: list[str], then: Callable[[], None] | None = None) -> None:
    """When a message box is up, click its button labelled ``button_text`` as a person would."""

    def look() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            windows = [
                w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
            ]
            for w in windows:  # opened without asking: record it and end main() so the test fails, not hangs
                seen.append("the window opened without a message")
                w.close()
            if not windows:
                QTimer.singleShot(50, look)
            return
        seen.append(box.text())
        button = next(b for b in box.findChildren(QPushButton) if b.text().replace("&", "") == button_text)
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
        if then is not None:
            QTimer.singleShot(300, then)

    QTimer.singleShot(50, look)


def close_windows(seen: dict[str, Any]) -> Callable[[], None]:
    def close() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen["windows"] = len(windows)
        for w in windows:
            w.close()

    return close


def test_damaged_database_and_quit_changes_nothing(
    qapp: Any, tmp_path: Path, capsys: Any, restore_logging: None
) -> None:
    db = damaged_db(tmp_path)
    before = db.read_bytes()
    boxes: list[str] = []
    answer_dialog(store_problems.QUIT, boxes)
    assert desktop_app.main(db=str(db)) == store_problems.EXIT_STORE
    assert boxes and "is damaged" in boxes[0]
    assert db.read_bytes() == before and not list(tmp_path.glob("*.damaged-*"))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is damaged" in err[0] and "Traceback" not in err[0]
    assert not [t.name for t in threading.enumerate() if t.name == "receiver-waitress"]


def test_damaged_database_kept_aside_when_the_operator_agrees(
    qapp: Any, tmp_path: Path, restore_logging: None
) -> None:
    db = damaged_db(tmp_path)
    before = db.read_bytes()
    boxes: list[str] = []
    seen: dict[str, Any] = {}
    answer_dialog(store_problems.KEEP_ASIDE, boxes, then=close_windows(seen))
    assert desktop_app.main(db=str(db)) == 0
    assert seen["windows"] == 1
    kept = [p for p in tmp_path.glob("damaged.db.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0].read_bytes() == before
    with Store(db) as fresh:  # a sound, empty database in its place
        assert fresh.run(lambda c: c.execute("SELECT count(*) FROM messages").fetchone()[0]) == 0


def test_a_folder_as_database_gets_one_message_not_a_traceback(
    qapp: Any, tmp_path: Path, capsys: Any, restore_logging: None
) -> None:
    boxes: list[str] = []
    answer_dialog("OK", boxes)
    assert desktop_app.main(db=str(tmp_path)) == store_problems.EXIT_STORE
    assert boxes and "must name a file" in boxes[0]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must name a file" in err[0]


def test_status_bar_says_callbacks_are_refused_while_the_disk_is_almost_full(
    qtbot: QtBot, make_controller: Callable[..., Any], open_window: Callable[..., Any], tmp_path: Path
) -> None:
    ctl = make_controller(tmp_path / "c.db", start=False)
    ctl.min_free_bytes = (
        shutil.disk_usage(tmp_path).free + 2**40
    )  # the operator's threshold, above what is free
    ctl.start()
    ctl.set_public_url(PUBLIC)
    win = open_window(ctl)
    label = win.statusBar().findChild(QLabel, "store_health")
    assert http_post(ctl.local_url, "/twilio/status", status_params(sid(), "sent"), signed_for=PUBLIC) == 503
    qtbot.waitUntil(lambda: label.isVisible() and "disk almost full" in label.text(), timeout=5000)
    assert "503" in label.text() and "--min-free-mb" in label.toolTip()


def test_unwritable_home_gets_one_message_not_a_traceback(
    qapp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, restore_logging: None
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    if os.geteuid() == 0:  # root ignores permission bits: make the folder immutable instead
        if subprocess.run(["chattr", "+i", str(home)], capture_output=True).returncode != 0:
            pytest.skip("cannot make a folder unwritable here")
    else:
        home.chmod(0o555)
    monkeypatch.setenv("CALLBACK_MONITOR_HOME", str(home))
    boxes: list[str] = []
    answer_dialog("OK", boxes)
    try:
        assert desktop_app.main() == store_problems.EXIT_STORE
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(home)], check=True)
        home.chmod(0o755)
    assert boxes and "Cannot create its folders" in boxes[0]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Cannot create its folders" in err[0]
