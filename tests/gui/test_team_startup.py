"""Starting on a team database whose server never answers: the app says it is connecting, and the user need
not wait out the connect timeout (desktop/team_connecting.py). The server is a plain listening socket that
accepts connections and holds them without a word, as a firewalled or hung host does to libpq."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton

from desktop import app as desktop_app
from desktop.main_window import MainWindow
from desktop.team_menu import TEAM_URL_KEY
from receiver.store.pg.connection import CONNECT_TIMEOUT
from tests.gui.test_team import close_when

QUICKLY_S = 5.0  # well under the connect timeout that the old start-up waited out with nothing on screen
assert QUICKLY_S < CONNECT_TIMEOUT


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A postgresql:// URL on a server that accepts TCP connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, name="silent-server")
    thread.start()
    yield f"postgresql://cm_viewer@127.0.0.1:{listener.getsockname()[1]}/callbacks"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


class Person:
    """Every 50 ms, what a person at the screen does: click the connecting dialog's button once it shows
    (noting its text), and answer any message box (noting it). Stopped at the end of the test."""

    def __init__(self, button_text: str) -> None:
        self.button_text = button_text
        self.connecting: list[str] = []
        self.boxes: list[str] = []
        self.timer = QTimer()
        self.timer.timeout.connect(self.look)

    def look(self) -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            self.boxes.append(box.text())
            box.accept()
            return
        for dialog in QApplication.topLevelWidgets():
            if dialog.objectName() == "team_connecting" and dialog.isVisible() and not self.connecting:
                text = dialog.findChild(QLabel, "team_connecting_text")
                button = dialog.findChild(QPushButton, "team_connecting_button")
                assert text is not None and button is not None and button.text() == self.button_text
                self.connecting.append(text.text())
                QTest.mouseClick(button, Qt.MouseButton.LeftButton)

    def __enter__(self) -> Person:
        self.timer.start(50)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.timer.stop()


def test_a_remembered_team_database_that_never_answers_can_be_left_for_this_computers(
    qapp: QApplication, silent_server: str, tmp_settings: QSettings, restore_logging: None
) -> None:
    tmp_settings.setValue(TEAM_URL_KEY, silent_server)
    tmp_settings.sync()
    seen: dict[str, object] = {}
    start = time.monotonic()

    def look(window: MainWindow) -> None:
        seen["team"], seen["receiver"] = window.team, window.controller.running
        seen["after_s"] = time.monotonic() - start

    QTimer.singleShot(50, lambda: close_when(lambda w: True, look))
    with Person("Use this computer's database") as person:
        assert desktop_app.main() == 0
    port = silent_server.split(":")[-1].split("/")[0]
    assert person.connecting == [f"Connecting to the team database cm_viewer@127.0.0.1:{port}/callbacks…"]
    assert person.boxes == []  # the user chose this computer's database: no warning about it
    assert seen["team"] is None and seen["receiver"] is True
    after_s = seen["after_s"]
    assert isinstance(after_s, float) and after_s < QUICKLY_S


def test_a_store_url_that_never_answers_can_be_cancelled(
    qapp: QApplication, silent_server: str, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    start = time.monotonic()
    with Person("Cancel") as person:
        assert desktop_app.main(db=silent_server) == desktop_app.EXIT_BAD_STORE
    assert time.monotonic() - start < QUICKLY_S
    assert len(person.connecting) == 1 and person.boxes == []
    assert "stopped waiting for the team database cm_viewer@127.0.0.1:" in capsys.readouterr().err
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
