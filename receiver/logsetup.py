"""Logging: one line per request to stderr (under ``serve``) and to a rotating file in the user log folder."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from . import paths

FORMAT = "%(asctime)s %(levelname)s %(message)s"


def configure(*, to_stderr: bool, level: int = logging.INFO) -> logging.Handler:
    """Install the handlers once; returns the file handler (its path is shown in the GUI)."""
    root = logging.getLogger("callback_monitor")
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    file_handler = logging.handlers.RotatingFileHandler(
        paths.log_dir() / "callback-monitor.log", maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(file_handler)
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        root.addHandler(stream)
    root.propagate = False
    # pyngrok logs every agent line (one per forwarded request) at INFO: keep only its warnings
    logging.getLogger("pyngrok").setLevel(logging.WARNING)
    return file_handler
