"""The WSGI wrapper between waitress and the receiver's app: every request leaves a request-log line and an
exception never reaches the client.

* The app logs the requests it handles itself. Flask answers some on its own (a path its routes cannot
  match, such as one holding a newline; a method they do not list, such as TRACE) and those left no line:
  here, a request answered without a line from the app (counted per thread by ``logsetup``) gets one.
* An exception from the app is answered 500 (TwiML on an inbound webhook path, which Twilio would otherwise
  text back to the customer), with the traceback in the log and nothing of it in the answer.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import logsetup, requestlog
from .app import EMPTY_TWIML
from .webhook_paths import EVENTS_PATHS, INBOUND_PATHS, STATUS_PATHS

log = logging.getLogger("callback_monitor.server")
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_KIND = {**dict.fromkeys(STATUS_PATHS + EVENTS_PATHS, "status"), **dict.fromkeys(INBOUND_PATHS, "inbound")}


def guarded(app: WsgiApp) -> WsgiApp:
    def wrapper(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        lines_before = logsetup.lines_on_this_thread()
        status: list[str] = []

        def start(head: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [head]
            return start_response(head, headers, exc_info)

        path = requestlog.wsgi_text(str(environ.get("PATH_INFO") or ""))
        try:
            result = app(environ, start)
            try:  # the receiver's answers are small: read them here, where a failure can still be a 500
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as exc:
            kind = _KIND.get(path, "other")
            log.error("request %s %s failed", environ.get("REQUEST_METHOD"), path, exc_info=True)
            reason = f"internal error ({type(exc).__name__}, traceback in the log file)"
            requestlog.refused(kind, path, 500, reason, started)
            if kind == "inbound":
                answer, content_type = EMPTY_TWIML.encode(), "text/xml; charset=utf-8"
            else:
                answer, content_type = b"internal error\n", "text/plain; charset=utf-8"
            start(
                "500 Internal Server Error",
                [("Content-Type", content_type), ("Content-Length", str(len(answer)))],
                sys.exc_info(),
            )
            return [answer]
        if logsetup.lines_on_this_thread() == lines_before and status:
            code = int(status[0].split(" ", 1)[0])
            reason = status[0].split(" ", 1)[-1] + " (answered by Flask, not the receiver)"
            what = f"{environ.get('REQUEST_METHOD')} {path}"
            requestlog.refused(_KIND.get(path, "other"), what, code, reason, started)
        return [body]

    return wrapper
