"""desktop.app.main: display checks before Qt, refusing a locked database, and a clean shutdown."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop import app as desktop_app
from desktop.export_csv import export_messages
from desktop.main_window import MainWindow
from desktop.models.message_query import MessageFilter, SortSpec
from receiver.store import Store
from tests.conftest import SeedInfo

REPO = Path(__file__).resolve().parents[2]
RECEIVER_THREADS = ("receiver-waitress", "simulate", "export-csv")

LDD_SAMPLE = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibEGL.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
"""


def test_no_display_prints_one_line_pointing_to_serve() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from desktop.app import main; sys.exit(main())"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "callback-monitor serve" in lines[0] and "no display" in lines[0]
    assert "PySide6" not in proc.stderr and proc.stdout == ""


def test_display_checks_respect_platform_and_env() -> None:
    assert desktop_app.no_display_reason({}, "linux") is not None
    assert desktop_app.no_display_reason({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert desktop_app.no_display_reason({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert desktop_app.no_display_reason({}, "darwin") is None
    assert desktop_app.xcb_problem({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, "linux") is None
    assert desktop_app.xcb_problem({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert desktop_app.xcb_problem({"DISPLAY": ":0"}, "win32") is None


def test_missing_xcb_libraries_are_named_with_the_apt_command() -> None:
    missing = desktop_app.parse_ldd_missing(LDD_SAMPLE)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libEGL.so.1"]
    assert desktop_app.packages_for(missing + ["libxcb-cursor.so.0"]) == [
        "libxcb-icccm4",
        "libxcb-keysyms1",
        "libegl1",
        "libxcb-cursor0",
    ]
    message = desktop_app.xcb_message(missing)
    assert "libxcb-icccm.so.4" in message
    assert "sudo apt-get install -y libxcb-icccm4 libxcb-keysyms1 libegl1" in message


def test_xcb_check_reports_what_ldd_says_on_this_machine() -> None:
    plugin = desktop_app._xcb_plugin()
    assert plugin is not None
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10).stdout
    found = desktop_app.missing_xcb_libraries()
    assert set(desktop_app.parse_ldd_missing(out)) <= set(found)
    problem = desktop_app.xcb_problem({"DISPLAY": ":0"}, "linux")
    assert (problem is None) == (not found)


def test_main_opens_window_and_stops_receiver_with_no_thread_left(
    qapp: Any, tmp_path: Path, restore_logging: None
) -> None:
    db = tmp_path / "main.db"
    seen: dict[str, Any] = {}

    def close_window() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen["windows"] = len(windows)
        for w in windows:
            seen["url"] = w.controller.local_url
            seen["threads"] = {t.name for t in threading.enumerate()}
            w.close()

    QTimer.singleShot(300, close_window)
    assert desktop_app.main(db=str(db)) == 0
    assert seen["windows"] == 1 and seen["url"].startswith("http://127.0.0.1:")
    assert "receiver-waitress" in seen["threads"]
    assert not [t.name for t in threading.enumerate() if t.name in RECEIVER_THREADS]
    Store(db).close()  # the lock was released


def test_ctrl_c_in_the_terminal_closes_the_app_through_its_close(
    qapp: Any, tmp_path: Path, restore_logging: None
) -> None:
    """SIGINT (Ctrl+C) and SIGTERM close the window as its Quit does, so the close sequence runs."""
    db = tmp_path / "sigint.db"
    seen: dict[str, object] = {}

    def interrupt() -> None:
        seen["open"] = any(
            isinstance(w, MainWindow) and w.isVisible() for w in QApplication.topLevelWidgets()
        )
        os.kill(os.getpid(), signal.SIGINT)

    def too_late() -> None:  # the old app ignored it (a KeyboardInterrupt inside a slot): end the test
        seen["forced"] = True
        for w in QApplication.topLevelWidgets():
            if isinstance(w, MainWindow):
                w.close()

    before = signal.getsignal(signal.SIGINT)
    QTimer.singleShot(300, interrupt)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(too_late)
    guard.start(10000)
    assert desktop_app.main(db=str(db)) == 0
    guard.stop()
    assert seen.get("open") is True and "forced" not in seen
    assert signal.getsignal(signal.SIGINT) is before  # pytest's own Ctrl+C handling is back
    assert not [t.name for t in threading.enumerate() if t.name == "receiver-waitress"]
    Store(db).close()  # the receiver let go of the database


def test_second_instance_on_same_database_is_refused(
    qapp: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    db = tmp_path / "locked.db"
    holder = Store(db)
    boxes: list[str] = []

    def dismiss() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            boxes.append(box.text())
            box.accept()
        else:
            QTimer.singleShot(50, dismiss)

    QTimer.singleShot(50, dismiss)
    try:
        assert desktop_app.main(db=str(db)) == desktop_app.EXIT_LOCKED
    finally:
        holder.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already running" in err[0] and "will not open" in err[0]
    assert boxes and "already running" in boxes[0]
    assert not [t.name for t in threading.enumerate() if t.name == "receiver-waitress"]


def test_export_writes_the_filtered_view_in_view_order(
    qtbot: QtBot, seeded_controller: Any, open_window: Any, seeded_db: SeedInfo, tmp_path: Path
) -> None:
    win = open_window(seeded_controller, show=False)
    win.messages.filter_bar.set_filter(MessageFilter(channel="sms"))
    dest = tmp_path / "out.csv"
    with qtbot.waitSignal(
        win.status.messageChanged, timeout=10000, check_params_cb=lambda text: text.startswith("Exported")
    ):
        assert win.export_csv(dest)
    with dest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == seeded_db.count(lambda m: m["channel"] == "sms") == win.messages.model.total
    assert {r["channel"] for r in rows} == {"sms"}
    assert [r["sid"] for r in rows] == [win.messages.model.sid_at(i) for i in range(len(rows))]
    assert win.export is None


def test_export_neutralises_formulas_and_cancel_removes_the_file(seeded_db: SeedInfo, tmp_path: Path) -> None:
    from receiver.store import Store as WriterStore

    store = WriterStore(seeded_db.path)
    store.run(
        lambda c: c.execute("UPDATE messages SET body = '=HYPERLINK(\"http://x\")' WHERE direction='inbound'")
    )
    store.close()
    dest = tmp_path / "inbound.csv"
    progress: list[tuple[int, int]] = []
    n = export_messages(
        seeded_db.path,
        dest,
        MessageFilter(direction="inbound"),
        SortSpec(),
        lambda d, t: progress.append((d, t)),
    )
    with dest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert n == len(rows) == progress[-1][1] > 0
    assert all(r["body"].startswith("'=HYPERLINK") for r in rows)
    assert rows[0]["from"].startswith("+") or rows[0]["from"].startswith("whatsapp:")  # numbers untouched
    cancel = threading.Event()
    cancel.set()
    assert export_messages(seeded_db.path, dest, MessageFilter(), SortSpec(), cancel=cancel) == -1
    assert not dest.exists()
