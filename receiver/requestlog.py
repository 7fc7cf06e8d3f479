"""Request-log lines for requests the receiver's app never answered itself: refused by the HTTP server
(bad framing, too large, too slow, too many connections) or failed with an exception.

The same shape as the app's lines (app.py ``_log_line``): ``[kind] what status REJECTED: reason code N ms``.
"""

from __future__ import annotations

import logging
import time

from . import logsetup

log = logging.getLogger("callback_monitor.requests")


def wsgi_text(text: str) -> str:
    """A path as WSGI and waitress hand it over (bytes as latin-1) back to the UTF-8 text the client
    sent, as Werkzeug does."""
    return text if text.isascii() else text.encode("latin-1", "replace").decode("utf-8", "replace")


def refused(kind: str, what: str, http_status: int, reason: str, started: float | None) -> None:
    """One line for a request answered (or dropped) with ``http_status``; ``started`` is a
    ``time.perf_counter()`` value, None when unknown. ``what`` may hold anything a client sent: the log
    writer escapes it."""
    if not log.isEnabledFor(logging.INFO):
        return
    latency = 0.0 if started is None else (time.perf_counter() - started) * 1000.0
    detail = f" REJECTED: {reason}" if http_status >= 400 else ""
    # no message status here, hence the two spaces the app's lines have when they have none either
    line = f"[{kind}] {what or '-'} {detail} {http_status} {latency:.0f} ms"
    if not logsetup.request_line(line):
        log.info(line)
