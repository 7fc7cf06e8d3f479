"""The receiver: every Twilio webhook validated, stored, and only then acknowledged.

Contracts (see TWILIO-FACTS.md §1–2): status callbacks get ``200`` with an empty body (not 204: waitress
closes the keep-alive connection after every 204, which costs the tunnel a new TCP connection per
callback — bench/README.md measures it); inbound messages get
``200 text/xml`` empty TwiML — never plain text, which Twilio would text back to the customer. Every request,
good or bad, leaves one line in the request log (SQLite) and one in the text log.

Shape: ``create_app`` returns a Flask app. Requests to a webhook path (``WEBHOOK_PATHS``) are answered by
``_Receiver`` straight from the WSGI environ, in front of Flask's routing: that path is the one Twilio
hammers, and Flask's request/response machinery cost more CPU per callback than the validation and the
SQL together (bench/README.md). Every other path (``/healthz``, unknown paths) goes through Flask, whose
catch-all view hands the same environ to the same ``_Receiver.handle``, so both kinds of request are
checked, logged and answered by one piece of code.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_plus

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from . import logsetup, signature
from .callbacks import CallbackError, Kind, parse
from .store import Outcome, RequestRecord, Store, utcnow

STATUS_PATHS = ("/twilio/status", "/api/webhooks/status", "/api/whatsapp/status-callback")
INBOUND_PATHS = ("/twilio/inbound", "/twilio/fallback", "/api/webhooks/inbound-sms", "/api/whatsapp/incoming")
WEBHOOK_PATHS = STATUS_PATHS + INBOUND_PATHS
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
DEFAULT_MAX_BODY = 64 * 1024
LOGGED_BODY_CAP = 8 * 1024
MAX_FORM_FIELDS = 2000
REDACTED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
FORM = "application/x-www-form-urlencoded"
_KINDS: dict[str, Kind] = {**dict.fromkeys(STATUS_PATHS, "status"), **dict.fromkeys(INBOUND_PATHS, "inbound")}
_PROXY_KEYS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")
_TWIML = EMPTY_TWIML.encode()

log = logging.getLogger("callback_monitor.requests")
EventSink = Callable[[dict[str, Any]], None]
StartResponse = Callable[..., Any]


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


@dataclass
class Answer:
    """What goes back to the sender: status, body, content type."""

    status: int
    body: bytes
    content_type: str

    def headers(self) -> list[tuple[str, str]]:
        return [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]


class _Params(dict[str, list[str]]):
    """Form fields for ``RequestValidator.compute_signature``: it asks ``params.getall(name)`` first (and
    falls back through two AttributeErrors per field for anything else)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def _unquote(text: str) -> str:
    return unquote_plus(text, errors="strict") if "%" in text or "+" in text else text


def parse_form(text: str) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` → items, as ``urllib.parse.parse_qsl(keep_blank_values=True)``
    does (``&`` only, empty parts skipped, ``+`` is a space), but without decoding fields that hold
    nothing to decode — most of a Twilio callback. Raises UnicodeDecodeError / ValueError like parse_qsl."""
    if not text:
        return []
    parts = text.split("&")
    if len(parts) > MAX_FORM_FIELDS:
        raise ValueError(f"more than {MAX_FORM_FIELDS} fields")
    items = []
    for part in parts:
        if not part:
            continue
        name, _, value = part.partition("=")
        items.append((_unquote(name), _unquote(value)))
    return items


class _Incoming:
    """The parts of a WSGI request the receiver reads, taken straight from the environ."""

    __slots__ = ("environ", "method", "path", "query", "headers")

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        raw_path = str(environ.get("PATH_INFO") or "")
        if not raw_path.isascii():  # WSGI hands over latin-1; undo it as Werkzeug does
            raw_path = raw_path.encode("latin-1", "replace").decode("utf-8", "replace")
        self.path = "/" + raw_path.lstrip("/")
        self.query = str(environ.get("QUERY_STRING") or "")
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                    headers[key[5:].replace("_", "-").title()] = value
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                headers[key.replace("_", "-").title()] = value
        self.headers = headers

    @property
    def came_through_proxy(self) -> bool:
        return any(k in self.environ for k in _PROXY_KEYS)

    @property
    def remote(self) -> str:
        remote = str(self.environ.get("REMOTE_ADDR") or "")
        forwarded = self.environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded:
            return f"{forwarded.split(',')[0].strip()} via {remote}"
        return remote

    @property
    def local_base(self) -> str:
        env = self.environ
        host = env.get("HTTP_HOST") or f"{env.get('SERVER_NAME', '127.0.0.1')}:{env.get('SERVER_PORT', '80')}"
        return f"{env.get('wsgi.url_scheme', 'http')}://{host}"

    @property
    def content_length(self) -> int | None:
        try:
            return max(0, int(self.environ.get("CONTENT_LENGTH") or ""))
        except ValueError:
            return None

    @property
    def mimetype(self) -> str:
        return str(self.environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()

    def headers_json(self) -> str:
        return json.dumps(
            {k: ("[redacted]" if k.lower() in REDACTED_HEADERS else v) for k, v in self.headers.items()},
            ensure_ascii=False,
        )

    def read_body(self, limit: int) -> bytes:
        length = self.content_length
        if length is not None and length > limit:
            raise _Reject(413, f"body of {length} bytes is over the {limit}-byte limit")
        stream = self.environ.get("wsgi.input")
        if stream is None:
            return b""
        if length is None:  # no Content-Length: only a chunked (terminated) body can be read safely
            if not self.environ.get("wsgi.input_terminated"):
                return b""
            data = stream.read(limit + 1)
            if len(data) > limit:
                raise _Reject(413, f"body is over the {limit}-byte limit")
            return bytes(data)
        return bytes(stream.read(length)) if length else b""


class _Receiver:
    """Checks, stores and answers one request; shared by the WSGI fast path and Flask's catch-all."""

    def __init__(self, store: Store, cfg: ReceiverConfig, on_event: EventSink | None, stats: ReceiverStats):
        self.store = store
        self.cfg = cfg
        self.on_event = on_event
        self.stats = stats
        self._validators: dict[str, RequestValidator] = {}

    def validator(self, token: str) -> RequestValidator:
        found = self._validators.get(token)
        if found is None:
            if len(self._validators) > 8:  # tokens rotate rarely; never grow without bound
                self._validators.clear()
            found = self._validators[token] = RequestValidator(token)
        return found

    def record(self, req: RequestRecord, outcome: Outcome | None) -> Outcome:
        if outcome is None:
            outcome = self.store.log_request(req)
        self.stats.count(outcome.outcome)
        _log_line(req, outcome)
        if self.on_event is not None:
            try:
                self.on_event(
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

    @staticmethod
    def reply(kind: Kind | None, status: int, reason: str = "") -> Answer:
        if kind == "inbound":
            # TwiML even on errors: a plain-text body is what Twilio texts back to the customer.
            return Answer(status, _TWIML, "text/xml; charset=utf-8")
        body = (reason + "\n").encode() if reason and status != 200 else b""
        return Answer(status, body, "text/plain; charset=utf-8")

    def handle(self, environ: dict[str, Any]) -> Answer:
        started = time.perf_counter()
        inc = _Incoming(environ)
        cfg = self.cfg
        path = inc.path
        kind = _KINDS.get(path)
        req = RequestRecord(
            received_at=utcnow(),
            method=inc.method,
            path=path,
            query=inc.query,
            remote_addr=inc.remote,
            headers=inc.headers_json(),
            body="",
            body_size=inc.content_length or 0,
            content_type=inc.headers.get("Content-Type", ""),
            kind=kind or "other",
            started=started,
        )
        try:
            if kind is None:
                if path == "/healthz" and inc.method in ("GET", "HEAD") and not inc.came_through_proxy:
                    req.outcome, req.http_status = "accepted", 200
                    self.record(req, None)
                    health = {"ok": True, "validate": cfg.validate, "public_url": cfg.public_url}
                    return Answer(200, json.dumps(health).encode(), "application/json")
                via = " (only webhook paths are served through the tunnel)" if inc.came_through_proxy else ""
                raise _Reject(404, "not a webhook path" + via)
            if inc.method != "POST":
                raise _Reject(405, f"{inc.method} not allowed: Twilio webhooks here are POST")
            body = inc.read_body(cfg.max_body)
            req.body_size = len(body)
            req.body = body[:LOGGED_BODY_CAP].decode("utf-8", "replace")
            items, params = _parse_body(inc, body, req.query)
            if cfg.validate:
                token = cfg.auth_token()
                verdict = signature.validate(
                    auth_token=token,
                    public_base=cfg.public_url,
                    local_base=inc.local_base,
                    path=path,
                    query=req.query,
                    params=params,
                    signature=environ.get("HTTP_X_TWILIO_SIGNATURE"),
                    headers=inc.headers,
                    raw_body=body,
                    validator=self.validator(token) if token else None,
                )
                if not verdict.ok:
                    raise _Reject(403, verdict.reason)
            try:
                cb = parse(kind, items, environ.get("HTTP_I_TWILIO_IDEMPOTENCY_TOKEN"))
            except CallbackError as exc:
                raise _Reject(400, str(exc)) from None
        except _Reject as rej:
            req.outcome, req.http_status, req.reason = "rejected", rej.status, rej.reason
            if not cfg.validate and req.reason and rej.status != 403:
                req.reason += " (signature validation is OFF)"
            self.record(req, None)
            return self.reply(kind, rej.status, rej.reason)
        req.http_status = 200
        if not cfg.validate:
            req.reason = "signature validation is OFF"
        outcome = self.store.record_callback(cb, req)
        self.record(req, outcome)
        return self.reply(kind, req.http_status)

    def wsgi(self, flask_wsgi: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> Any:
        """The WSGI entry: webhook paths answered here, everything else passed to Flask."""

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            if environ.get("PATH_INFO") not in _KINDS:
                return flask_wsgi(environ, start_response)
            answer = self.handle(environ)
            start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", answer.headers())
            return [answer.body]

        return app


def create_app(
    store: Store,
    config: ReceiverConfig | None = None,
    on_event: EventSink | None = None,
    stats: ReceiverStats | None = None,
) -> Flask:
    """The receiver as a Flask app. ``on_event(dict)`` is called after each request's commit."""
    cfg = config or ReceiverConfig()
    counters = stats or ReceiverStats()
    receiver = _Receiver(store, cfg, on_event, counters)
    app = Flask("callback_monitor.receiver")
    app.config["RECEIVER_CONFIG"] = cfg
    app.config["RECEIVER_STATS"] = counters
    app.url_map.strict_slashes = False

    @app.route(
        "/", defaults={"_path": ""}, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    )
    @app.route("/<path:_path>", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
    def dispatch(_path: str) -> Response:
        answer = receiver.handle(request.environ)
        return Response(answer.body, status=answer.status, content_type=answer.content_type)

    app.wsgi_app = receiver.wsgi(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _parse_body(inc: _Incoming, body: bytes, query: str) -> tuple[list[tuple[str, str]], _Params | str]:
    """Form items (for storage) and what the signature check needs (the fields, or the raw JSON text)."""
    mimetype = inc.mimetype
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
        got = inc.headers.get("Content-Type") or "none"
        raise _Reject(415, f"Content-Type {got[:80]!r}: expected {FORM}")
    try:
        items = parse_form(text)
    except UnicodeDecodeError:
        raise _Reject(400, "form field is not valid UTF-8 after percent-decoding") from None
    except ValueError as exc:
        raise _Reject(400, f"malformed form body: {exc}") from None
    params = _Params()
    for key, value in items:
        params.setdefault(key, []).append(value)
    return items, params


def _log_line(req: RequestRecord, outcome: Outcome) -> None:
    """``[status] SM… delivered (30003) 200 3 ms`` — never a secret (no body, no headers)."""
    if not log.isEnabledFor(logging.INFO):
        return
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
    line = f"[{req.kind}] {what} {status}{detail} {req.http_status} {latency:.0f} ms"
    if not logsetup.request_line(line):  # no writer running (tests, embedding without logsetup)
        log.info(line)


def reply_for(kind: str, status: int, reason: str = "") -> Answer:
    """What the receiver answered a logged request (``kind`` as stored: status | inbound | other), for
    the request inspector; /healthz answers are not webhook replies and are not reproduced."""
    stored: Kind | None = "inbound" if kind == "inbound" else "status" if kind == "status" else None
    return _Receiver.reply(stored, status, reason)
