"""The receiver: every Twilio webhook validated, stored, and only then acknowledged.

Contracts (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status and
https://www.twilio.com/docs/messaging/guides/webhook-request): status callbacks get ``200`` with an empty
body (not 204: waitress closes the keep-alive connection after every 204, which costs the tunnel a new
TCP connection per callback — bench/README.md measures it); inbound messages get ``200 text/xml`` empty
TwiML — never plain text, which Twilio would text back to the customer. Every request,
good or bad, leaves one line in the request log (SQLite) and one in the text log.

Shape: ``create_app`` returns a Flask app. Requests to a webhook path (receiver/webhook_paths.py) are
answered by ``_Receiver`` straight from the WSGI environ, in front of Flask's routing: that path is the one
Twilio hammers, and Flask's request/response machinery cost more CPU per callback than the validation and the
SQL together (bench/README.md). Every other path (``/healthz``, unknown paths) goes through Flask, whose
catch-all view hands the same environ to the same ``_Receiver.handle``, so both kinds of request are
checked, logged and answered by one piece of code.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from . import event_streams, logsetup, requestlog, signature
from .callbacks import MESSAGE_SID_RE, CallbackError, Kind, parse
from .public_url import BasicAuth, split_userinfo, with_userinfo
from .request_storage import MAX_BODY as MAX_STORED_BODY
from .simulate_plan import DEMO_AUTH_TOKEN
from .store import Outcome, RequestRecord, StoreError, utcnow
from .store.protocol import WriterStore
from .webhook_paths import EVENTS_PATHS, INBOUND_PATHS, STATUS_PATHS

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
DEFAULT_MAX_BODY = 64 * 1024
MAX_FORM_FIELDS = 2000
FORM = "application/x-www-form-urlencoded"
_KINDS: dict[str, Kind] = {
    **dict.fromkeys(STATUS_PATHS + EVENTS_PATHS, "status"),
    **dict.fromkeys(INBOUND_PATHS, "inbound"),
}
_TWIML = EMPTY_TWIML.encode()

# Stored headers: a header whose name says it carries a credential is kept as "[redacted]". Twilio's own
# headers are kept: the signature and the idempotency token are bound to this one request (replay needs
# them) and the signature settings name a key id, not its secret.
_CREDENTIAL_WORDS = frozenset(
    {"authorization", "auth", "cookie", "token", "secret", "password", "passwd", "key", "apikey",
     "session", "credential", "credentials", "jwt", "bearer", "sig"}
)  # fmt: skip
_KEPT_HEADERS = frozenset(
    {"x-twilio-signature", "x-twilio-webhooks-signature-settings", "i-twilio-idempotency-token"}
)


@functools.lru_cache(maxsize=512)  # the same few header names on every request
def redacted(name: str) -> bool:
    """Whether a request header of this name is stored as ``[redacted]``."""
    lower = name.lower()
    if lower in _KEPT_HEADERS:
        return False
    return lower == "set-cookie" or any(w in _CREDENTIAL_WORDS for w in re.split(r"[-_.]", lower))


# Any of these announces a proxy or a tunnel in front of us (ngrok adds X-Forwarded-*; others use the
# standard Forwarded, Via, X-Real-IP or a CDN's own header): such a request is never "local".
_PROXY_HEADERS = frozenset(
    {"HTTP_FORWARDED", "HTTP_VIA", "HTTP_X_REAL_IP", "HTTP_CF_CONNECTING_IP", "HTTP_TRUE_CLIENT_IP",
     "HTTP_X_CLIENT_IP", "HTTP_CLIENT_IP", "HTTP_X_CLUSTER_CLIENT_IP", "HTTP_FASTLY_CLIENT_IP",
     "HTTP_X_PROXYUSER_IP", "HTTP_X_ORIGINATING_IP", "HTTP_X_HOST", "HTTP_X_PROXY_ID"}
)  # fmt: skip
_PROXY_PREFIXES = (
    "HTTP_X_FORWARDED", "HTTP_X_ORIGINAL", "HTTP_NGROK", "HTTP_X_NGROK", "HTTP_CF_",
    "HTTP_X_AMZN", "HTTP_X_ENVOY", "HTTP_X_AZURE", "HTTP_X_APPENGINE", "HTTP_FLY_",
)  # fmt: skip

log = logging.getLogger("callback_monitor.requests")
EventSink = Callable[[dict[str, Any]], None]
StartResponse = Callable[..., Any]


@dataclass
class ReceiverConfig:
    """Settings read on every request, so the GUI can change them while the server runs
    (e.g. a new tunnel URL, or a token rotated in the keyring).

    ``public_url`` may be given as ``https://user:password@host``: on assignment the credentials move to
    ``basic_auth`` (never shown, stored or logged) and ``public_url`` keeps the clean base. ``allow_demo``
    says whether the operator has asked for simulation (the public demo token is then accepted from this
    computer only); ``shared_keys`` returns the shared signing keys (id → secret).
    """

    basic_auth: BasicAuth | None = field(default=None, init=False, repr=False)  # set with public_url
    public_url: str | None = None
    validate: bool = True
    auth_token: Callable[[], str | None] = field(default=lambda: None)
    max_body: int = DEFAULT_MAX_BODY
    allow_demo: Callable[[], bool] = field(default=lambda: False)
    shared_keys: Callable[[], Mapping[str, str]] = field(default=lambda: {})

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "public_url":
            value, auth = split_userinfo(value)
            object.__setattr__(self, "basic_auth", auth)
        object.__setattr__(self, name, value)

    @property
    def signed_bases(self) -> tuple[str, ...]:
        """The public base as configured, credentials included: that is the URL Twilio signs (twilio-node's
        validation vectors, ../shared/reference/signature_vectors.json); the clean base is tried after."""
        if self.public_url and self.basic_auth is not None:
            return (with_userinfo(self.public_url, self.basic_auth),)
        return ()

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


_CHALLENGE = (("WWW-Authenticate", 'Basic realm="Callback Monitor"'),)


@dataclass
class Answer:
    """What goes back to the sender: status, body, content type (and a 401's challenge)."""

    status: int
    body: bytes
    content_type: str
    extra: tuple[tuple[str, str], ...] = ()

    def headers(self) -> list[tuple[str, str]]:
        return [("Content-Type", self.content_type), ("Content-Length", str(len(self.body))), *self.extra]


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
        # The path as the client sent it: waitress decodes %2F and merges leading slashes in PATH_INFO,
        # so "/twilio%2fstatus" and "//twilio/status" would look like the webhook there.
        raw_path = _sent_path(environ)
        if not raw_path.isascii():  # WSGI hands over latin-1; undo it as Werkzeug does
            raw_path = raw_path.encode("latin-1", "replace").decode("utf-8", "replace")
        self.path = raw_path if raw_path.startswith("/") else "/" + raw_path
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
        env = self.environ
        return any(k in env for k in _PROXY_HEADERS) or any(k.startswith(_PROXY_PREFIXES) for k in env)

    @property
    def is_local(self) -> bool:
        """Sent from this computer straight to us: a loopback peer and no header announcing a proxy."""
        try:
            peer = ipaddress.ip_address(str(self.environ.get("REMOTE_ADDR") or "").split("%", 1)[0])
        except ValueError:
            return False
        mapped = getattr(peer, "ipv4_mapped", None)
        return (mapped or peer).is_loopback and not self.came_through_proxy

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
            {k: ("[redacted]" if redacted(k) else v) for k, v in self.headers.items()},
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

    def __init__(
        self, store: WriterStore, cfg: ReceiverConfig, on_event: EventSink | None, stats: ReceiverStats
    ):
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
    def reply(kind: Kind | None, status: int, reason: str = "", *, local: bool = True) -> Answer:
        extra = _CHALLENGE if status == 401 else ()
        if kind == "inbound":
            # TwiML even on errors: a plain-text body is what Twilio texts back to the customer.
            return Answer(status, _TWIML, "text/xml; charset=utf-8", extra)
        if status in (401, 403) and not local:
            # the diagnosis names the URL and what the signature matched: for the log and the request
            # inspector, not for whoever is probing the tunnel
            reason = HTTPStatus(status).phrase
        body = (reason + "\n").encode() if reason and status != 200 else b""
        return Answer(status, body, "text/plain; charset=utf-8", extra)

    def check_signature(
        self, inc: _Incoming, params: _Params | str, body: bytes, query: str
    ) -> signature.Verdict:
        """The auth token (or the shared key the request names); failing those, the public demo token,
        which counts only for a local, un-proxied request while the operator has asked for simulation."""
        cfg, env = self.cfg, inc.environ
        settings = env.get("HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS")
        token = cfg.auth_token()
        if token == DEMO_AUTH_TOKEN:  # published in the source: never a real token, whoever set it
            token = None
        sig = env.get("HTTP_X_TWILIO_SIGNATURE")
        verdict = signature.validate(
            auth_token=token,
            public_base=cfg.public_url,
            local_base=inc.local_base,
            path=inc.path,
            query=query,
            params=params,
            signature=sig,
            headers=inc.headers,
            raw_body=body,
            validator=self.validator(token) if token else None,
            signed_bases=cfg.signed_bases,
            settings=settings,
            shared_keys=cfg.shared_keys() if settings else None,
            validator_for=self.validator,
        )
        if verdict.ok or settings or not sig or not self.demo_signed(inc, params, query, sig):
            return verdict
        if not inc.is_local:
            return signature.Verdict(
                False,
                "signed with the public demo token, which is accepted only from this computer, "
                "never through a tunnel or proxy",
            )
        if not cfg.allow_demo():
            return signature.Verdict(
                False,
                "signed with the public demo token, but no simulation is running "
                "(Tools → Simulate traffic in the app, or `serve --demo-token`)",
            )
        return signature.Verdict(True, "", "demo token")

    def demo_signed(self, inc: _Incoming, params: _Params | str, query: str, sig: str) -> bool:
        """Whether ``sig`` is the public demo token's signature for this request (local or public URL)."""
        cfg = self.cfg
        bases = [inc.local_base, *([cfg.public_url] if cfg.public_url else [])]
        if cfg.basic_auth is not None:  # signed like Twilio signs: the URL with its credentials
            bases += [with_userinfo(base, cfg.basic_auth) for base in bases]
        demo = self.validator(DEMO_AUTH_TOKEN)
        return any(signature.matches(demo, base, inc.path, query, params, sig) for base in bases)

    def handle(self, environ: dict[str, Any]) -> Answer:
        started = time.perf_counter()
        inc = _Incoming(environ)
        cfg = self.cfg
        path = inc.path
        kind = _KINDS.get(path)
        items: list[tuple[str, str]] = []
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
                if path == "/healthz" and inc.method in ("GET", "HEAD") and inc.is_local:
                    return self.healthz(req)
                via = (
                    ""
                    if inc.is_local
                    else " (only webhook paths are served through a tunnel or proxy, or to another computer)"
                )
                raise _Reject(404, "not a webhook path" + via)
            if inc.method != "POST":
                raise _Reject(405, f"{inc.method} not allowed: Twilio webhooks here are POST")
            body = inc.read_body(cfg.max_body)
            req.body_size = len(body)
            req.body = body[:MAX_STORED_BODY].decode("utf-8", "replace")
            if path in EVENTS_PATHS:
                return self.handle_events(inc, req, body)  # its refusals raise _Reject, answered below
            items, params = _parse_body(inc, body, req.query)
            self.authenticate(inc, req, params, body)
            if not cfg.validate and cfg.allow_demo() and inc.is_local:
                # validation off: still keep simulated traffic apart
                sig = str(environ.get("HTTP_X_TWILIO_SIGNATURE") or "")
                req.simulated = bool(sig) and self.demo_signed(inc, params, req.query, sig)
            try:
                cb = parse(kind, items, environ.get("HTTP_I_TWILIO_IDEMPOTENCY_TOKEN"))
            except CallbackError as exc:
                raise _Reject(400, str(exc)) from None
        except _Reject as rej:
            req.outcome, req.http_status, req.reason = "rejected", rej.status, rej.reason
            if not cfg.validate and req.reason and rej.status != 403:
                req.reason += " (signature validation is OFF)"
            req.message_sid = _claimed_sid(items)
            self.record(req, None)
            return self.reply(kind, rej.status, rej.reason, local=inc.is_local)
        req.http_status = 200
        if not cfg.validate:
            req.reason = "signature validation is OFF"
        try:
            outcome = self.store.record_callback(cb, req)
        except STORE_FAILURES as exc:  # not durable in the operator's database: never a 2xx
            req.message_sid = cb.sid
            self.refuse_unstored(req, f"not stored: {_store_reason(exc)}")
            return self.reply(kind, 503, req.reason)
        self.record(req, outcome)
        return self.reply(kind, req.http_status)

    def authenticate(self, inc: _Incoming, req: RequestRecord, signed: _Params | str, body: bytes) -> None:
        """HTTP Basic auth when the public URL carries credentials, then the signature (``signed``: the form
        fields, or a JSON body's text); refusals raise ``_Reject``. Marks demo-token traffic simulated."""
        cfg = self.cfg
        if cfg.basic_auth is not None and not cfg.basic_auth.matches(inc.environ.get("HTTP_AUTHORIZATION")):
            # Twilio's documented first attempt: no credentials until a 401 challenges it
            raise _Reject(401, "no or wrong HTTP credentials for the public URL's user:password")
        if cfg.validate:
            verdict = self.check_signature(inc, signed, body, req.query)
            if not verdict.ok:
                raise _Reject(403, verdict.reason)
            req.simulated = verdict.signer == "demo token"

    def handle_events(self, inc: _Incoming, req: RequestRecord, body: bytes) -> Answer:
        """An Event Streams delivery: checked like a JSON webhook (bodySHA256 + X-Twilio-Signature), then
        every message event in it stored in one commit before the 200, so a failure makes Twilio retry."""
        cfg = self.cfg
        if inc.mimetype != "application/json":
            got = inc.headers.get("Content-Type") or "none"
            raise _Reject(415, f"Content-Type {got[:80]!r}: Event Streams sends application/json")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject(400, "body is not valid UTF-8") from None
        self.authenticate(inc, req, text, body)
        try:
            batch = event_streams.parse_batch(text)
        except event_streams.BatchError as exc:
            raise _Reject(400, str(exc)) from None
        req.http_status = 200
        notes = [] if cfg.validate else ["signature validation is OFF"]
        if batch.ignored:
            notes.append(f"{batch.ignored} event(s) of other types not stored")
        req.reason = "; ".join(notes)
        if not batch.events:
            req.outcome = "accepted"
            self.record(req, None)
            return self.reply("status", 200)
        try:
            outcomes = self.store.record_event_batch(list(batch.events), req)
        except STORE_FAILURES as exc:  # not durable: a 503, and Event Streams delivers it again later
            self.refuse_unstored(req, f"not stored: {_store_reason(exc)}")
            return self.reply("status", 503, req.reason)
        for outcome in outcomes:  # one log line and one GUI event per message event
            self.record(req, outcome)
        return self.reply("status", 200)

    def refuse_unstored(self, req: RequestRecord, reason: str) -> None:
        """A 503 for a request the store could not take: its row if the store still takes one, and
        always its text log line."""
        req.outcome, req.http_status, req.reason = "rejected", 503, reason
        try:
            self.record(req, None)
        except STORE_FAILURES:
            self.stats.count("rejected")
            _log_line(req, Outcome(0, "rejected", req.message_sid, None, False))

    def healthz(self, req: RequestRecord) -> Answer:
        """``ok`` false and 503 (for a monitoring probe) when callbacks would not be stored, with why;
        the health request's own log row is the write probe."""
        problems = self.store.health.problems()
        if not problems:
            req.outcome, req.http_status = "accepted", 200
            if self.record(req, None).request_id == 0:  # its own log row was refused
                problems = self.store.health.problems() or ["the database cannot be written"]
        if problems:
            self.refuse_unstored(req, "; ".join(problems))
        health = self.store.health
        body = {
            "ok": not problems,
            "problems": problems,
            "store": {
                "path": str(self.store.path),
                "free_bytes": health.free,
                "min_free_bytes": health.min_free_bytes,
            },
            "validate": self.cfg.validate,
            "public_url": self.cfg.public_url,
        }
        return Answer(req.http_status, json.dumps(body).encode(), "application/json")

    def wsgi(self, flask_wsgi: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> Any:
        """The WSGI entry: webhook paths answered here, everything else passed to Flask."""

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            kind = _KINDS.get(environ.get("PATH_INFO") or "")
            if kind is None:
                return flask_wsgi(environ, start_response)
            started = time.perf_counter()
            try:
                answer = self.handle(environ)
            except Exception:
                if kind != "inbound":
                    raise  # the server's guard (wsgi_guard.py) answers and logs it
                # the inbound webhook promises TwiML whatever happens (plain text is texted back), also
                # when the app runs without our server's guard
                logging.getLogger("callback_monitor").exception("inbound webhook failed")
                requestlog.refused(kind, environ.get("PATH_INFO") or "", 500, "internal error", started)
                answer = self.reply(kind, 500)
            start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", answer.headers())
            return [answer.body]

        return app


def create_app(
    store: WriterStore,
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
        return Response(
            answer.body, status=answer.status, content_type=answer.content_type, headers=list(answer.extra)
        )

    app.wsgi_app = receiver.wsgi(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _sent_path(environ: dict[str, Any]) -> str:
    """The request target's path as sent (``REQUEST_URI``, waitress and Werkzeug), else ``PATH_INFO``."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not raw:
        return str(environ.get("PATH_INFO") or "")
    target = str(raw).split("?", 1)[0]
    if not target.startswith("/"):  # absolute form, "POST http://host/twilio/status HTTP/1.1"
        target = urlsplit(target).path
    return target


def _claimed_sid(items: list[tuple[str, str]]) -> str | None:
    """The MessageSid a refused request claims (unverified), so its message can find it."""
    for name in ("MessageSid", "SmsMessageSid", "SmsSid"):
        for key, value in items:
            if key == name and MESSAGE_SID_RE.match(value.strip()):
                return value.strip()
    return None


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


STORE_FAILURES = (StoreError, TimeoutError)  # the stores raise no driver error (a bug is a 500)


def _store_reason(exc: BaseException) -> str:
    if isinstance(exc, StoreError):
        return str(exc)
    return "the database writer did not answer in time"


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
