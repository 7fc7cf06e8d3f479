"""Logging: one line per request to stderr (under ``serve``) and to a rotating file in the user log folder.

Request threads only put records on a queue; one writer thread formats them and writes them out **a batch
at a time**: everything queued since its last pass (it pauses ``PAUSE`` between passes) goes out as one
``write`` (and one flush) per destination. Under a burst that is one system call per destination for
dozens of lines instead of two per line; each of those released the GIL, and getting it back behind 16
busy request threads is what made per-line logging cost ``serve`` a fifth of its throughput
(bench/README.md: ``serve`` vs ``app``).
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
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
_SIMPLE = (str, int, float, type(None))
_writer: BatchWriter | None = None


class _Enqueue(logging.handlers.QueueHandler):
    """Puts the record itself on the queue when it holds nothing that could change before it is written
    (the request lines: strings and numbers). ``QueueHandler.prepare`` formats and copies every record on
    the request thread, which is the writer's job."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        args = record.args
        if record.exc_info is None and (
            not args or (isinstance(args, tuple) and all(isinstance(a, _SIMPLE) for a in args))
        ):
            return record
        prepared: logging.LogRecord = super().prepare(record)
        return prepared


Item = logging.LogRecord | tuple[float, str] | None


def request_line(message: str) -> bool:
    """Queue one request line (INFO) for the writer as ``(time, text)``: no LogRecord, no handler lookup
    on the request thread. False when no writer is running (then the caller logs it the usual way)."""
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
    """Drains the queue on its own thread and writes each batch with one call per handler.

    File handlers are written to directly (rotating when the batch would pass ``maxBytes``, as
    ``RotatingFileHandler`` does per record); any other handler gets its records one by one."""

    def __init__(self, records: queue.SimpleQueue[Item], handlers: list[logging.Handler]):
        self.records = records
        self.handlers = handlers
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
                if isinstance(handler, logging.StreamHandler):
                    self._write_stream(handler, [self._format(handler, r) for r in mine])
                else:  # pragma: no cover - every handler installed here is a stream handler
                    for item in mine:
                        handler.handle(item if isinstance(item, logging.LogRecord) else _record(item))
            except Exception:  # pragma: no cover - a full disk must not stop the receiver
                handler.handleError(_record((time.time(), "log write failed")))

    def _format(self, handler: logging.Handler, item: logging.LogRecord | tuple[float, str]) -> str:
        """One line; a ``(time, text)`` request line is formatted here as the handler's format would."""
        if isinstance(item, logging.LogRecord):
            return handler.format(item)
        stamp = getattr(handler, "_cm_stamp", None)
        fmt = handler.formatter._fmt if handler.formatter is not None else None
        if stamp is None or fmt not in (FORMAT, STDERR_FORMAT):
            return handler.format(_record(item))
        t, text = item
        return f"{stamp(t)} INFO {text}" if fmt == FORMAT else f"{stamp(t)} {text}"

    @staticmethod
    def _write_stream(handler: logging.StreamHandler, formatted: list[str]) -> None:  # type: ignore[type-arg]
        lines = [line + handler.terminator for line in formatted]
        with handler.lock or threading.Lock():
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
    file_handler._cm_stamp = _Stamp(None)  # type: ignore[attr-defined]
    handlers: list[logging.Handler] = [file_handler]
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(STDERR_FORMAT, datefmt=STDERR_DATEFMT))
        stream._cm_stamp = _Stamp(STDERR_DATEFMT)  # type: ignore[attr-defined]
        handlers.append(stream)
    records: queue.SimpleQueue[Item] = queue.SimpleQueue()
    root.addHandler(_Enqueue(records))
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
    if _writer is not None:
        _writer.stop()
        for handler in _writer.handlers:
            handler.close()
        _writer = None
