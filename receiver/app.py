"""The Flask receiver: every Twilio webhook validated, stored, and only then acknowledged.

Contracts (see TWILIO-FACTS.md §1–2): status callbacks get ``200`` with an empty body (not 204: waitress
closes the keep-alive connection after every 204, which costs the tunnel a new TCP connection per
callback — bench/README.md measures it); inbound messages get
``200 text/xml`` empty TwiML — never plain text, which Twilio would text back to the customer. Every request,
good or bad, leaves one line in the request log (SQLite) and one in the text log.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, request
from werkzeug.datastructures import MultiDict

from . import signature
from .callbacks import CallbackError, Kind, parse
from .store import Outcome, RequestRecord, Store, utcnow

STATUS_PATHS = ("/twilio/status", "/api/webhooks/status", "/api/whatsapp/status-callback")
INBOUND_PATHS = ("/twilio/inbound", "/twilio/fallback", "/api/webhooks/inbound-sms", "/api/whatsapp/incoming")
WEBHOOK_PATHS = STATUS_PATHS + INBOUND_PATHS
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
DEFAULT_MAX_BODY = 64 * 1024
LOGGED_BODY_CAP = 8 * 1024
REDACTED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
FORM = "application/x-www-form-urlencoded"

log = logging.getLogger("callback_monitor.requests")
EventSink = Callable[[dict[str, Any]], None]


@dataclass
class ReceiverConfig:
    """Settings read on every request, so the GUI can change them while the server runs
    (e.g. a new tunnel URL, or a token rotated in the keyring)."""

    public_url: str | None = None
    validate: bool = True
    auth_token: Callable[[], str | None] = field(default=lambda: None)
    max_body: int = DEFAULT_MAX_BODY

    @staticmethod
    def with_token(token: str | None, **kwargs: Any) -> ReceiverConfig:
        return ReceiverConfig(auth_token=lambda: token, **kwargs)


@dataclass
class ReceiverStats:
    """Counters the GUI's status bar shows (requests per minute, rejected since start).

    ``recent`` holds the arrival times of the last minute, oldest first: O(1) per request.
    """

    total: int = 0
    rejected: int = 0
    recent: deque[float] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _trim(self, now: float) -> None:
        while self.recent and self.recent[0] < now - 60:
            self.recent.popleft()

    def count(self, outcome: str) -> None:
        now = time.monotonic()
        with self.lock:
            self.total += 1
            if outcome == "rejected":
                self.rejected += 1
            self.recent.append(now)
            self._trim(now)

    def per_minute(self) -> int:
        with self.lock:
            self._trim(time.monotonic())
            return len(self.recent)


class _Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _kind_of(path: str) -> Kind | None:
    if path in STATUS_PATHS:
        return "status"
    if path in INBOUND_PATHS:
        return "inbound"
    return None


def _came_through_proxy() -> bool:
    return any(h in request.headers for h in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"))


def create_app(
    store: Store,
    config: ReceiverConfig | None = None,
    on_event: EventSink | None = None,
    stats: ReceiverStats | None = None,
) -> Flask:
    """The receiver as a Flask app. ``on_event(dict)`` is called after each request's commit."""
    cfg = config or ReceiverConfig()
    counters = stats or ReceiverStats()
    app = Flask("callback_monitor.receiver")
    app.config["RECEIVER_CONFIG"] = cfg
    app.config["RECEIVER_STATS"] = counters
    app.url_map.strict_slashes = False

    def record(req: RequestRecord, outcome: Outcome | None) -> Outcome:
        if outcome is None:
            outcome = store.log_request(req)
        counters.count(outcome.outcome)
        _log_line(req, outcome)
        if on_event is not None:
            try:
                on_event(
                    {
                        "request_id": outcome.request_id,
                        "outcome": outcome.outcome,
                        "http_status": req.http_status,
                        "kind": req.kind,
                        "path": req.path,
                        "message_sid": outcome.message_sid,
                        "status": outcome.status,
                        "changed": outcome.changed,
                    }
                )
            except Exception:  # a listener's bug must never fail a callback that is already stored
                logging.getLogger("callback_monitor").exception("on_event listener failed")
        return outcome

    def reply(kind: Kind | None, status: int, reason: str = "") -> Response:
        if kind == "inbound":
            # TwiML even on errors: a plain-text body is what Twilio texts back to the customer.
            return Response(EMPTY_TWIML, status=status, content_type="text/xml; charset=utf-8")
        if status == 200:
            return Response(b"", status=200, content_type="text/plain; charset=utf-8")
        return Response(
            reason + "\n" if reason else "", status=status, content_type="text/plain; charset=utf-8"
        )

    @app.route(
        "/", defaults={"_path": ""}, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    )
    @app.route("/<path:_path>", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
    def dispatch(_path: str) -> Response:
        started = time.perf_counter()
        path = request.path
        kind = _kind_of(path)
        body = b""
        req = RequestRecord(
            received_at=utcnow(),
            method=request.method,
            path=path,
            query=request.query_string.decode("latin-1"),
            remote_addr=_remote(),
            headers=_headers_json(),
            body="",
            body_size=request.content_length or 0,
            content_type=request.headers.get("Content-Type", ""),
            kind=kind or "other",
            started=started,
        )
        try:
            if kind is None:
                if path == "/healthz" and request.method in ("GET", "HEAD") and not _came_through_proxy():
                    req.outcome, req.http_status = "accepted", 200
                    record(req, None)
                    return Response(
                        json.dumps({"ok": True, "validate": cfg.validate, "public_url": cfg.public_url}),
                        content_type="application/json",
                    )
                raise _Reject(
                    404,
                    "not a webhook path"
                    + (
                        " (only webhook paths are served through the tunnel)" if _came_through_proxy() else ""
                    ),
                )
            if request.method != "POST":
                raise _Reject(405, f"{request.method} not allowed: Twilio webhooks here are POST")
            body = _read_body(cfg.max_body)
            req.body_size = len(body)
            req.body = body[:LOGGED_BODY_CAP].decode("utf-8", "replace")
            items, params = _parse_body(body, req.query)
            if cfg.validate:
                verdict = signature.validate(
                    auth_token=cfg.auth_token(),
                    public_base=cfg.public_url,
                    local_base=f"{request.scheme}://{request.host}",
                    path=path,
                    query=req.query,
                    params=params,
                    signature=request.headers.get("X-Twilio-Signature"),
                    headers=dict(request.headers.items()),
                    raw_body=body,
                )
                if not verdict.ok:
                    raise _Reject(403, verdict.reason)
            try:
                cb = parse(kind, items, request.headers.get("I-Twilio-Idempotency-Token"))
            except CallbackError as exc:
                raise _Reject(400, str(exc)) from None
        except _Reject as rej:
            req.outcome, req.http_status, req.reason = "rejected", rej.status, rej.reason
            if not cfg.validate and req.reason and rej.status != 403:
                req.reason += " (signature validation is OFF)"
            record(req, None)
            return reply(kind, rej.status, rej.reason)
        req.http_status = 200
        if not cfg.validate:
            req.reason = "signature validation is OFF"
        outcome = store.record_callback(cb, req)
        record(req, outcome)
        return reply(kind, req.http_status)

    return app


def _remote() -> str:
    remote = request.remote_addr or ""
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        return f"{forwarded.split(',')[0].strip()} via {remote}"
    return remote


def _headers_json() -> str:
    return json.dumps(
        {k: ("[redacted]" if k.lower() in REDACTED_HEADERS else v) for k, v in request.headers.items()},
        ensure_ascii=False,
    )


def _read_body(limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise _Reject(413, f"body of {length} bytes is over the {limit}-byte limit")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise _Reject(413, f"body is over the {limit}-byte limit")
    return bytes(data)


def _parse_body(body: bytes, query: str) -> tuple[list[tuple[str, str]], MultiDict[str, str] | str]:
    """Form items (for storage) and what the signature check needs (MultiDict, or the raw JSON text)."""
    mimetype = request.mimetype
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Reject(400, "body is not valid UTF-8") from None
    if mimetype == "application/json":
        if "bodySHA256=" not in query:
            raise _Reject(415, "JSON body without bodySHA256: Twilio sends form data here")
        try:
            data = json.loads(text)
        except ValueError:
            raise _Reject(400, "body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _Reject(400, "JSON body is not an object")
        items = [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in data.items()]
        return items, text
    if mimetype != FORM:
        got = request.headers.get("Content-Type") or "none"
        raise _Reject(415, f"Content-Type {got[:80]!r}: expected {FORM}")
    try:
        items = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=2000
        )
    except UnicodeDecodeError:
        raise _Reject(400, "form field is not valid UTF-8 after percent-decoding") from None
    except ValueError as exc:
        raise _Reject(400, f"malformed form body: {exc}") from None
    return items, MultiDict(items)


def _log_line(req: RequestRecord, outcome: Outcome) -> None:
    """``[status] SM… delivered (30003) 200 3 ms`` — never a secret (no body, no headers)."""
    latency = (time.perf_counter() - req.started) * 1000.0
    what = outcome.message_sid or req.path
    detail = ""
    if outcome.outcome == "rejected":
        detail = f" REJECTED: {req.reason}"
    elif outcome.outcome == "duplicate":
        detail = " duplicate"
    status = outcome.status or ""
    if outcome.error_code:
        status += f" ({outcome.error_code})"
    log.info("[%s] %s %s%s %d %.0f ms", req.kind, what, status, detail, req.http_status, latency)
