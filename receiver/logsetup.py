"""Logging: one line per request to stderr (under ``serve``) and to a rotating file in the user log folder.

Request threads only put records on a queue (``QueueHandler``); one listener thread formats and writes
them. Writing on the request threads cost a third of ``serve``'s throughput at 64 connections: every
write releases the GIL, and getting it back behind 16 busy threads takes milliseconds.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
from pathlib import Path

from . import paths

FORMAT = "%(asctime)s %(levelname)s %(message)s"
_listener: logging.handlers.QueueListener | None = None


def configure(*, to_stderr: bool, level: int = logging.INFO) -> Path:
    """Install the handlers once; returns the log file's path (shown in the banner and the GUI)."""
    global _listener
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
    handlers: list[logging.Handler] = [file_handler]
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        handlers.append(stream)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root.addHandler(logging.handlers.QueueHandler(records))
    _listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    _listener.start()
    atexit.register(stop)
    root.propagate = False
    # pyngrok logs every agent line (one per forwarded request) at INFO: keep only its warnings
    logging.getLogger("pyngrok").setLevel(logging.WARNING)
    return log_file


def stop() -> None:
    """Write out what is queued and stop the listener (idempotent)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        for handler in _listener.handlers:
            handler.close()
        _listener = None
