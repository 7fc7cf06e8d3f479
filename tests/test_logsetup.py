"""The log writer: every line reaches the file (and stderr) in order, in batches, rotating by size."""

from __future__ import annotations

import logging
import logging.handlers
import queue
from pathlib import Path

import pytest

from receiver import logsetup


def _writer(tmp_path: Path, max_bytes: int) -> tuple[logging.Logger, logsetup.BatchWriter, Path]:
    path = tmp_path / "test.log"
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=50, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    records: queue.SimpleQueue[logsetup.Item] = queue.SimpleQueue()
    logger = logging.getLogger(f"cm-test-{tmp_path.name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.handlers.QueueHandler(records))
    writer = logsetup.BatchWriter(records, [handler])
    writer.start()
    return logger, writer, path


def _finish(writer: logsetup.BatchWriter) -> None:
    writer.stop()
    for handler in writer.handlers:
        handler.close()


def _lines(path: Path) -> list[str]:
    files = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:])) + [path]
    return [line for f in files for line in f.read_text(encoding="utf-8").splitlines()]


def test_every_line_is_written_in_order_once_stopped(tmp_path: Path) -> None:
    logger, writer, path = _writer(tmp_path, max_bytes=0)
    for i in range(3000):  # more than one batch
        logger.info("[status] SM%032d delivered %d ms", i, i % 7)
    _finish(writer)
    lines = _lines(path)
    assert lines == [f"INFO [status] SM{i:032d} delivered {i % 7} ms" for i in range(3000)]


def test_the_file_rotates_by_size_and_loses_no_line(tmp_path: Path) -> None:
    logger, writer, path = _writer(tmp_path, max_bytes=4096)
    for i in range(2000):
        logger.info("line %d %s", i, "x" * 40)
    _finish(writer)
    assert len(list(tmp_path.glob("test.log.*"))) > 5  # rotated many times
    assert all(p.stat().st_size <= 4096 + 60 for p in tmp_path.glob("test.log*"))
    assert _lines(path) == [f"INFO line {i} {'x' * 40}" for i in range(2000)]


def test_records_with_mutable_arguments_are_formatted_when_logged(tmp_path: Path) -> None:
    """A record is only passed as it is when its arguments cannot change before the writer gets to it."""
    logger, writer, path = _writer(tmp_path, max_bytes=0)
    items = ["before"]
    logger.info("items: %s", items)
    items.append("after")
    _finish(writer)
    assert _lines(path) == ["INFO items: ['before']"]


def test_configure_writes_request_lines_to_stderr_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLBACK_MONITOR_HOME", str(tmp_path / "home"))
    log_file = logsetup.configure(to_stderr=True)
    try:
        logging.getLogger("callback_monitor.requests").info("[status] %s %s", "SM" + "1" * 32, "delivered")
    finally:
        logsetup.stop()
    assert "[status] SM" + "1" * 32 + " delivered" in capsys.readouterr().err
    assert "INFO [status] SM" + "1" * 32 + " delivered" in log_file.read_text(encoding="utf-8")


def test_request_lines_skip_logging_but_read_like_its_lines_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    monkeypatch.setenv("CALLBACK_MONITOR_HOME", str(tmp_path / "home"))
    log_file = logsetup.configure(to_stderr=True)
    try:
        logging.getLogger("callback_monitor.x").warning("before %s", 1)
        assert logsetup.request_line("[status] SM1 delivered 200 3 ms 100%")
        logging.getLogger("callback_monitor.x").info("after")
    finally:
        logsetup.stop()
    assert not logsetup.request_line("nobody writes this")  # no writer: the caller logs it itself
    file_lines = log_file.read_text(encoding="utf-8").splitlines()[-3:]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" WARNING before 1", file_lines[0])
    assert re.fullmatch(stamp + r" INFO \[status\] SM1 delivered 200 3 ms 100%", file_lines[1])
    assert re.fullmatch(stamp + r" INFO after", file_lines[2])
    err = capsys.readouterr().err.splitlines()[-3:]
    assert re.fullmatch(r"\d\d:\d\d:\d\d \[status\] SM1 delivered 200 3 ms 100%", err[1])
    assert err[0].endswith(" before 1") and err[2].endswith(" after")


def test_every_line_is_escaped_but_a_traceback_keeps_its_line_breaks(tmp_path: Path) -> None:
    """Whatever logged it: a message with CR, LF, ESC, NUL, a C1 control, U+2028 and a bidi override is
    one visible line; the traceback of an exception logged with it still reads as a traceback."""
    path = tmp_path / "test.log"
    handler = logging.handlers.RotatingFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(logsetup.FORMAT))
    records: queue.SimpleQueue[logsetup.Item] = queue.SimpleQueue()
    logger = logging.getLogger(f"cm-escape-{tmp_path.name}")
    logger.propagate = False
    logger.addHandler(logsetup._KeepTraceback(records))
    writer = logsetup.BatchWriter(records, [handler])
    writer.start()
    hostile = "/a\rFAKE\nINFO x\x1b[2K\x00\x85\u2028\u202e"
    logger.warning("path %s", hostile)
    try:
        raise ValueError("bad value\rforged")
    except ValueError:
        logger.exception("failed on %s", hostile)
    records.put((0.0, "[other] " + hostile + " 404 1 ms"))  # a request line, as request_line queues it
    _finish(writer)
    text = path.read_text(encoding="utf-8")
    assert not any(c in text for c in "\r\x1b\x00\x85\u2028\u202e")
    lines = text.splitlines()
    escaped = "/a\\rFAKE\\nINFO x\\x1b[2K\\x00\\x85\\u2028\\u202e"
    assert lines[0].endswith(f"WARNING path {escaped}")
    assert lines[1].endswith(f"ERROR failed on {escaped}")
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[-2] == "ValueError: bad value\\rforged"
    assert lines[-1].endswith(f"INFO [other] {escaped} 404 1 ms")
    assert len(lines) == lines.index("ValueError: bad value\\rforged") + 2  # nothing else split off
