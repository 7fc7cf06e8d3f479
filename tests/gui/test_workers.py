"""TaskRunner: the one way off the GUI thread. One-shot jobs, query lanes with their own Reader (latest
request wins, superseded reads interrupted and never delivered), and joining at shutdown."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QThread

from desktop.workers import TaskRunner
from receiver.message_filter import MessageFilter
from receiver.store import Reader, open_reader
from receiver.store.base import ReadInterrupted, reading
from receiver.store_health import StoreReadError
from tests.conftest import SeedInfo

# a read that runs until interrupted (billions of rows from a recursive CTE, nothing stored)
ENDLESS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n"


def endless(started: threading.Event) -> Callable[[Reader], int]:
    def run(reader: Reader) -> int:
        started.set()
        with reading():  # the store's errors, as a Reader method raises them
            return int(reader.conn.execute(ENDLESS).fetchone()[0])

    return run


def count_messages(reader: Reader) -> int:
    return reader.messages_count(MessageFilter(), datetime.now(UTC))


class Opener:
    """Opens real Readers on the seeded database and remembers on which threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.threads: list[str] = []

    def __call__(self) -> Reader:
        self.threads.append(threading.current_thread().name)
        return open_reader(self.path)


@pytest.fixture
def runner(qapp: Any) -> Iterator[TaskRunner]:
    r = TaskRunner()
    yield r
    r.join()


def test_run_delivers_the_result_or_the_error_on_the_gui_thread(qtbot: Any, runner: TaskRunner) -> None:
    delivered: list[tuple[str, bool]] = []
    gui = QThread.currentThread()
    runner.run(
        "ok",
        lambda: threading.current_thread().name,
        on_done=lambda name: delivered.append((name, QThread.currentThread() is gui)),
    )
    qtbot.waitUntil(lambda: len(delivered) == 1, timeout=5000)
    assert delivered == [("bg-ok", True)]  # ran on its own thread, delivered on the GUI's
    errors: list[BaseException] = []
    runner.run("bad", lambda: 1 / 0, on_error=errors.append)
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=5000)
    assert isinstance(errors[0], ZeroDivisionError)


def test_a_lane_keeps_one_reader_open_across_jobs(
    qtbot: Any, runner: TaskRunner, seeded_db: SeedInfo
) -> None:
    opener = Opener(seeded_db.path)
    lane = runner.lane("t", opener)
    results: list[int] = []
    for key in range(3):
        lane.submit(key, count_messages, results.append)
        qtbot.waitUntil(lambda n=key: len(results) == n + 1, timeout=5000)
    assert results == [60, 60, 60]
    assert opener.threads == ["lane-t"]  # opened once, on the lane's own thread


def test_a_newer_request_with_the_same_key_wins_and_interrupts_the_older(
    qtbot: Any, runner: TaskRunner, seeded_db: SeedInfo
) -> None:
    lane = runner.lane("t", Opener(seeded_db.path))
    started = threading.Event()
    older: list[Any] = []
    lane.submit("count", endless(started), older.append, older.append)
    assert started.wait(5)  # the older read is running on the lane
    newer: list[int] = []
    lane.submit("count", count_messages, newer.append)
    qtbot.waitUntil(lambda: newer == [60], timeout=5000)  # would hang were the endless read not interrupted
    runner.join()  # the lane's thread ends: anything it still had to say is queued now …
    QCoreApplication.processEvents()  # … and delivered (or dropped) here
    assert older == []  # neither its result nor its interruption reached the caller


def test_supersede_drops_queued_reads_and_interrupts_the_running_one(
    qtbot: Any, runner: TaskRunner, seeded_db: SeedInfo
) -> None:
    lane = runner.lane("t", Opener(seeded_db.path))
    started = threading.Event()
    delivered: list[Any] = []
    lane.submit("a", endless(started), delivered.append, delivered.append)
    assert started.wait(5)
    lane.submit("b", count_messages, delivered.append, delivered.append)  # queued behind it
    lane.supersede()
    after: list[int] = []
    lane.submit("c", count_messages, after.append)  # what is asked after supersede still runs
    qtbot.waitUntil(lambda: after == [60], timeout=5000)
    runner.join()
    QCoreApplication.processEvents()
    assert delivered == []


def test_a_failing_read_reports_through_on_error(qtbot: Any, runner: TaskRunner, tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()  # a database without the tables
    lane = runner.lane("t", Opener(tmp_path / "empty.db"))
    results: list[int] = []
    errors: list[BaseException] = []
    lane.submit("x", count_messages, results.append, errors.append)
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=5000)
    assert isinstance(errors[0], StoreReadError) and "messages" in str(errors[0]) and results == []


def test_join_at_shutdown_interrupts_reads_and_ends_the_threads(
    qtbot: Any, qapp: Any, seeded_db: SeedInfo
) -> None:
    runner = TaskRunner()
    lane = runner.lane("t", Opener(seeded_db.path))
    started = threading.Event()
    outcome: list[Any] = []
    lane.submit("a", endless(started), outcome.append, outcome.append)
    assert started.wait(5)
    runner.join(timeout=5)
    assert not [t for t in threading.enumerate() if t.name == "lane-t"]
    assert not lane.busy


def test_time_limit_interrupts_a_slow_read(seeded_db: SeedInfo) -> None:
    reader = open_reader(seeded_db.path)
    try:
        with pytest.raises(ReadInterrupted), reader.time_limit(0.01):
            endless(threading.Event())(reader)
    finally:
        reader.close()
