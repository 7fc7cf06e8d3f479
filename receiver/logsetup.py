"""Logging: one line per request to stderr (under ``serve``) and to a rotating file in the user log folder.

Request threads only put records on a queue; one writer thread formats them and writes them out **a batch
at a time**: everything queued since its last pass (it pauses ``PAUSE`` between passes) goes out as one
``write`` (and one flush) per destination. Under a burst that is one system call per destination for
dozens of lines instead of two per line; each of those released the GIL, and getting it back behind 16
busy request threads is what made per-line logging cost ``serve`` a fifth of its throughput
(bench/README.md: ``serve`` vs ``app``).

Every line is escaped here, whatever logged it (``escape``): a request path or header can hold CR, LF,
ESC, NUL, other control characters, Unicode line separators or bidi overrides, and written raw those
forge or hide lines in ``tail -f`` and in editors. A traceback keeps its own line breaks.
"""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import queue
import re
import sys
import threading
import time
from pathlib import Path

from . import paths

FORMAT = "%(asctime)s %(levelname)s %(message)s"
STDERR_FORMAT = "%(asctime)s %(message)s"
STDERR_DATEFMT = "%H:%M:%S"
MAX_BATCH = 1000
PAUSE = 0.05  # after each batch: lines are at most this late, and a burst costs the writer 20 wake-ups/s
_writer: BatchWriter | None = None
# C0 and C1 controls, DEL, line/paragraph separators, bidi marks/embeddings/overrides/isolates, and lone
# surrogates (which an encoder would refuse)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
_counter = threading.local()


Item = logging.LogRecord | tuple[float, str] | None


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with every character that could break or disguise a log line shown as an escape
    (``\\r``, ``\\x1b``, ``\\u2028``); the same string when there is none (the usual case: one
    regex search)."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escaped, text)


def escape_lines(text: str) -> str:
    """As ``escape``, but line breaks stay: for tracebacks, which are several lines by design."""
    return "\n".join(escape(line) for line in text.split("\n"))


def lines_on_this_thread() -> int:
    """How many request lines this thread has logged (``request_line``): lets the WSGI wrapper see whether
    the app logged the request it just answered."""
    return getattr(_counter, "n", 0)


def request_line(message: str) -> bool:
    """Queue one request line (INFO) for the writer as ``(time, text)``: no LogRecord, no handler lookup
    on the request thread. False when no writer is running (then the caller logs it the usual way)."""
    _counter.n = getattr(_counter, "n", 0) + 1
    writer = _writer
    if writer is None:
        return False
    writer.records.put((time.time(), message))
    return True


class _Stamp:
    """``logging.Formatter``'s default ``asctime`` (``2026-11-21 06:24:06,351``), the date part cached per
    second."""

    def __init__(self, datefmt: str | None) -> None:
        self.datefmt = datefmt
        self._second = -1
        self._text = ""

    def __call__(self, t: float) -> str:
        second = int(t)
        if second != self._second:
            self._second = second
            self._text = time.strftime(self.datefmt or "%Y-%m-%d %H:%M:%S", time.localtime(second))
        if self.datefmt:
            return self._text
        return f"{self._text},{int((t - second) * 1000):03d}"


class BatchWriter:
    """Drains the queue on its own thread and writes each batch with one call per handler (a
    ``RotatingFileHandler`` still rotates before the line that would take it past ``maxBytes``).

    The queue holds ``LogRecord``s (any logger under ``callback_monitor``, through a ``QueueHandler``) and
    ``(time, text)`` request lines (``request_line``), which are formatted here as the handler's
    formatter would, from a time stamp cached per second."""

    def __init__(self, records: queue.SimpleQueue[Item], handlers: list[logging.StreamHandler]):  # type: ignore[type-arg]
        self.records = records
        self.handlers = handlers
        # request lines: the formatters installed by configure() are known, so their output is built here
        self._quick: dict[int, tuple[_Stamp, str]] = {}
        for handler in handlers:
            formatter = handler.formatter
            if formatter is not None and formatter._fmt in (FORMAT, STDERR_FORMAT):
                level = " INFO" if formatter._fmt == FORMAT else ""
                self._quick[id(handler)] = (_Stamp(formatter.datefmt), level)
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write out everything queued so far, then end the thread."""
        self.records.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        done = False
        while not done:
            batch: list[logging.LogRecord | tuple[float, str]] = []
            item = self.records.get()
            while True:
                if item is None:
                    done = True
                    break
                batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self.records.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            if not done:
                # let lines gather: waking for every line put the writer in the queue for the GIL
                # behind the request threads once per request
                time.sleep(PAUSE)

    def _write(self, batch: list[logging.LogRecord | tuple[float, str]]) -> None:
        for handler in self.handlers:
            mine = [
                r
                for r in batch
                if (r.levelno if isinstance(r, logging.LogRecord) else logging.INFO) >= handler.level
            ]
            if not mine:
                continue
            try:
                self._write_stream(handler, [self._format(handler, r) for r in mine])
            except Exception:  # pragma: no cover - a full disk must not stop the receiver
                handler.handleError(_record((time.time(), "log write failed")))

    def _format(self, handler: logging.Handler, item: logging.LogRecord | tuple[float, str]) -> str:
        """One line, escaped; a ``(time, text)`` request line is formatted here as the handler's format
        would."""
        if isinstance(item, logging.LogRecord):
            return handler.format(_escaped_record(item))
        quick = self._quick.get(id(handler))
        if quick is None:
            return handler.format(_escaped_record(_record(item)))
        stamp, level = quick
        return f"{stamp(item[0])}{level} {escape(item[1])}"

    @staticmethod
    def _write_stream(handler: logging.StreamHandler, formatted: list[str]) -> None:  # type: ignore[type-arg]
        lines = [line + handler.terminator for line in formatted]
        handler.acquire()
        try:
            if not isinstance(handler, logging.handlers.RotatingFileHandler) or handler.maxBytes <= 0:
                handler.stream.write("".join(lines))
                handler.stream.flush()
                return
            # as RotatingFileHandler does per line: a line that would take the file past maxBytes starts
            # a new file; lines in between go out in one write
            if handler.stream is None:
                handler.stream = handler._open()
            size = handler.stream.tell()
            chunk: list[str] = []
            for line in lines:
                if (chunk or size) and size + len(line) >= handler.maxBytes:
                    handler.stream.write("".join(chunk))
                    chunk = []
                    handler.doRollover()
                    size = handler.stream.tell()
                chunk.append(line)
                size += len(line)
            handler.stream.write("".join(chunk))
            handler.stream.flush()
        finally:
            handler.release()


def _escaped_record(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its message escaped, and its traceback and stack escaped line by line; the record
    itself is left alone (every handler formats it)."""
    message = record.getMessage()
    safe = escape(message)
    exc_text = record.exc_text
    if record.exc_info and not exc_text:
        exc_text = _TRACEBACKS.formatException(record.exc_info)
    if safe is message and not record.args and not exc_text and not record.stack_info:
        return record
    copied = copy.copy(record)
    copied.msg, copied.args = safe, None
    copied.exc_info = None
    copied.exc_text = escape_lines(exc_text) if exc_text else None
    copied.stack_info = escape_lines(record.stack_info) if record.stack_info else None
    return copied


class _KeepTraceback(logging.handlers.QueueHandler):
    """A ``QueueHandler`` that formats the message (so later changes to its arguments do not show) but
    keeps the traceback apart from it, so the writer escapes the message and leaves the traceback's
    line breaks alone."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        copied = copy.copy(record)
        copied.msg, copied.args = record.getMessage(), None
        if record.exc_info:
            copied.exc_text = record.exc_text or _TRACEBACKS.formatException(record.exc_info)
        copied.exc_info = None
        return copied


_TRACEBACKS = logging.Formatter()


def _record(item: tuple[float, str]) -> logging.LogRecord:
    record = logging.LogRecord("callback_monitor.requests", logging.INFO, __file__, 0, item[1], None, None)
    record.created = item[0]
    record.msecs = (item[0] - int(item[0])) * 1000
    return record


def configure(*, to_stderr: bool, level: int = logging.INFO) -> Path:
    """Install the handlers once; returns the log file's path (shown in the banner and the GUI)."""
    global _writer
    stop()
    root = logging.getLogger("callback_monitor")
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    log_file = paths.log_dir() / "callback-monitor.log"
    file_handler = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(FORMAT))
    handlers: list[logging.StreamHandler] = [file_handler]  # type: ignore[type-arg]
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(STDERR_FORMAT, datefmt=STDERR_DATEFMT))
        handlers.append(stream)
    records: queue.SimpleQueue[Item] = queue.SimpleQueue()
    root.addHandler(_KeepTraceback(records))
    # waitress's own warnings and errors (socket errors, a failed task) go to the same log, escaped
    server_log = logging.getLogger("waitress")
    for handler in [h for h in server_log.handlers if isinstance(h, _KeepTraceback)]:
        server_log.removeHandler(handler)
    server_log.addHandler(_KeepTraceback(records))
    server_log.setLevel(logging.WARNING)
    server_log.propagate = False
    _writer = BatchWriter(records, handlers)
    _writer.start()
    atexit.register(stop)
    root.propagate = False
    # pyngrok logs every agent line (one per forwarded request) at INFO: keep only its warnings
    logging.getLogger("pyngrok").setLevel(logging.WARNING)
    return log_file


def stop() -> None:
    """Write out what is queued and stop the writer (idempotent)."""
    global _writer
    server_log = logging.getLogger("waitress")
    for ours in [h for h in server_log.handlers if isinstance(h, _KeepTraceback)]:
        server_log.removeHandler(ours)
    server_log.propagate = True
    if _writer is not None:
        _writer.stop()
        for handler in _writer.handlers:
            handler.close()
        _writer = None
