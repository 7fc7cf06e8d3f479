"""Realistic, signed Twilio webhook traffic as a pure, seeded *plan* (the sending is in ``simulate``).

Twilio cannot reach a developer's machine in tests or offline demos, so the simulator plays Twilio: this
module builds a plan of webhook requests that looks like real SMS/MMS/WhatsApp traffic (status callbacks
with real error codes, WhatsApp read receipts, inbound replies with media and STOP opt-outs) including the
awkward parts a receiver must survive: callbacks out of order, retried duplicates that carry the same
``I-Twilio-Idempotency-Token``, legacy alias paths, and SIDs the receiver has never seen.

Planning is pure and deterministic for a seed (``generate_plan``), so tests can assert properties of the
traffic, and kept apart from sending so benchmarks can plan first and time only the sending.

Every request is signed like Twilio signs it: HMAC over the *public* URL (``public_url`` + path), which
may differ from the address the requests are actually sent to -- exactly the situation behind ngrok,
where Twilio signs ``https://abc.ngrok-free.app/...`` and the receiver listens on ``http://127.0.0.1``.

Qt-free and Flask-free: only the standard library and twilio's ``RequestValidator``.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

from .public_url import split_userinfo
from .sandbox import WHATSAPP_SANDBOX_NUMBER
from .webhook_paths import INBOUND_PATH, LEGACY_INBOUND_PATHS, LEGACY_STATUS_PATHS, STATUS_PATH

#: A fixed, obviously fake Auth Token so a demo receiver and the simulator agree without real secrets.
DEMO_AUTH_TOKEN = "deadbeefdeadbeefdeadbeefdeadbeef"


API_VERSION = "2010-04-01"

# How often each realistic wrinkle happens. Tuned so a 50-message run shows every kind of event.
_P_DUPLICATE = 0.05  # per request: a retry re-delivers the identical request
_P_OUT_OF_ORDER = 0.10  # per message: two adjacent callbacks arrive swapped
_P_LEGACY_PATH = 0.08  # per message / inbound: the URL configured is a legacy alias
_P_REPLY = 0.30  # per reached recipient: they answer
_P_MEDIA = 0.25  # per reply: it carries media
_P_STOP = 0.04  # per reached SMS recipient: they opt out

# (error code, channel status message). Codes are Twilio's; the channel texts are illustrative samples of
# what carriers and Meta report, since Twilio passes them through verbatim.
_SMS_UNDELIVERED = [
    (30003, "Unreachable destination handset"),
    (30005, "Unknown subscriber"),
    (30006, "Landline or unreachable carrier"),
    (30007, "Message filtered by carrier"),
    (30008, "Unknown error"),
]
_SMS_FAILED = [
    (21610, "Attempt to send to unsubscribed recipient"),
    (21614, "'To' number is not a valid mobile number"),
    (30034, "Message from an unregistered number"),
]
_WA_UNDELIVERED = [
    (63032, "User's number is part of an experiment"),
    (30008, "Unknown error"),
]
_WA_FAILED = [
    (63016, "Failed to send freeform message because you are outside the allowed window"),
    (63024, "Invalid message recipient"),
]

# US area code -> (city, state, zip) for the geographic fields Twilio adds to inbound SMS.
_US_AREAS = {
    "415": ("SAN FRANCISCO", "CA", "94105"),
    "650": ("PALO ALTO", "CA", "94301"),
    "212": ("NEW YORK", "NY", "10001"),
    "312": ("CHICAGO", "IL", "60601"),
    "617": ("BOSTON", "MA", "02108"),
    "206": ("SEATTLE", "WA", "98101"),
    "512": ("AUSTIN", "TX", "78701"),
}
# Country -> (E.164 prefix, number of random digits after it). US/UK use the ranges reserved for fiction.
_COUNTRIES = {
    "GB": ("+447700900", 3),
    "DE": ("+49151", 8),
    "IN": ("+9198", 8),
    "BR": ("+55119", 8),
    "MX": ("+5255", 8),
    "ES": ("+346", 8),
}
_SMS_SENDERS = ["+14155550100", "+16505550142", "+12125550187"]
_WA_SENDERS = [WHATSAPP_SANDBOX_NUMBER, "+16505550111"]
_PROFILE_NAMES = ["Ana", "Rahul Sharma", "Jürgen", "Maria Clara", "Tom 🏄", "Priya", "José Luis", "Chloe"]
_REPLY_BODIES = [
    "Thanks!",
    "ok",
    "Can I change my appointment to Friday?",
    "Who is this?",
    "Got it 👍",
    "Yes please",
    "What time does the store open tomorrow?",
    "Recibido, gracias",
]
_MEDIA_TYPES = ["image/jpeg", "image/jpeg", "image/png", "video/mp4", "audio/ogg", "application/pdf"]
_TWILIO_EGRESS = ["203.0.113.10", "203.0.113.57", "198.51.100.23"]  # documentation ranges

_BASE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class SimConfig:
    """What to simulate and where to send it.

    ``messages`` is the number of outbound messages whose life cycle is simulated; each produces one to
    four status callbacks, and some recipients reply (inbound webhooks). ``rate`` is the global request
    rate in requests/s (0 = as fast as the target answers). ``public_url`` is the base URL Twilio would
    have signed (the tunnel's); it defaults to ``target``.
    """

    target: str
    public_url: str | None = None
    auth_token: str = DEMO_AUTH_TOKEN
    messages: int = 50
    rate: float = 20.0
    seed: int | None = None
    concurrency: int = 4
    account_sid: str = ""

    def __post_init__(self) -> None:
        for name, url in (("target", self.target), ("public_url", self.public_url)):
            if url is not None and (
                urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc
            ):
                raise ValueError(f"{name} must be an http(s) URL, got {url!r}")
        if self.messages < 0:
            raise ValueError("messages must be >= 0")
        if self.rate < 0:
            raise ValueError("rate must be >= 0 (0 = unpaced)")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if not self.auth_token:
            raise ValueError("auth_token must not be empty")
        if not self.account_sid:
            # Deterministic per seed so that a seeded plan is fully reproducible.
            digest = (
                hashlib.sha256(f"callback-monitor-sim:{self.seed}".encode()).hexdigest()[:32]
                if self.seed is not None
                else secrets.token_hex(16)
            )
            self.account_sid = "AC" + digest

    @property
    def signing_base(self) -> str:
        """The base URL the signatures are computed over, without a trailing slash."""
        return (self.public_url or self.target).rstrip("/")


@dataclass(frozen=True)
class SimRequest:
    """One planned webhook POST.

    ``path`` is the route (``/twilio/status``); it is requested at target + path and signed over
    public_url + path. ``params`` keeps Twilio's field order and has unique keys. ``headers`` is complete
    (signature and idempotency token included), so a duplicate is byte-for-byte the same request.
    ``tags`` marks the wrinkles: ``duplicate``, ``out-of-order``, ``legacy-path``, ``read-receipt``,
    ``failure``, ``media``, ``opt-out``.
    """

    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    note: str
    kind: str = "status"  # "status" | "inbound"
    sid: str = ""
    tags: frozenset[str] = frozenset()

    @property
    def body(self) -> bytes:
        return urlencode(self.params).encode("ascii")


# --------------------------------------------------------------------------------------------- planning


@dataclass
class _Event:
    t: float  # simulated seconds since the start of the plan; only the resulting order matters
    seq: int
    path: str
    params: list[tuple[str, str]]
    kind: str
    sid: str
    note: str
    token: str
    tags: set[str] = field(default_factory=set)


@dataclass
class _Outbound:
    sid: str
    channel: str  # "sms" | "mms" | "whatsapp"
    from_addr: str
    to_number: str  # E.164 without the whatsapp: prefix
    country: str
    service_sid: str | None
    install_sid: str | None
    status_path: str

    @property
    def whatsapp(self) -> bool:
        return self.channel == "whatsapp"

    @property
    def to_addr(self) -> str:
        return f"whatsapp:{self.to_number}" if self.whatsapp else self.to_number


class _Planner:
    """Builds the events of a plan from one seeded RNG; every random choice goes through ``self.rng``."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.events: list[_Event] = []
        self.base = _BASE_TIME + timedelta(minutes=self.rng.randrange(0, 60 * 24 * 30))
        self.services = ["MG" + self._hex() for _ in range(2)]
        self.install_sids = {number: "XE" + self._hex() for number in _WA_SENDERS}

    # -- small helpers
    def _hex(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _token(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _digits(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def _recipient(self, whatsapp: bool) -> tuple[str, str]:
        us_weight = 0.25 if whatsapp else 0.7
        if self.rng.random() < us_weight:
            area = self.rng.choice(list(_US_AREAS))
            return f"+1{area}55501{self._digits(2)}", "US"
        country = self.rng.choice(list(_COUNTRIES))
        prefix, n = _COUNTRIES[country]
        return prefix + self._digits(n), country

    def _add(
        self, t: float, path: str, params: list[tuple[str, str]], kind: str, sid: str, note: str
    ) -> _Event:
        event = _Event(t, len(self.events), path, params, kind, sid, note, self._token())
        self.events.append(event)
        return event

    # -- outbound life cycle
    def outbound(self, start: float) -> None:
        rng = self.rng
        roll = rng.random()
        channel = "whatsapp" if roll < 0.4 else ("mms" if roll < 0.52 else "sms")
        whatsapp = channel == "whatsapp"
        to_number, country = self._recipient(whatsapp)
        sender = rng.choice(_WA_SENDERS if whatsapp else _SMS_SENDERS)
        family = "whatsapp" if whatsapp else "sms"
        msg = _Outbound(
            sid=("MM" if channel == "mms" else "SM") + self._hex(),
            channel=channel,
            from_addr=f"whatsapp:{sender}" if whatsapp else sender,
            to_number=to_number,
            country=country,
            service_sid=rng.choice(self.services) if rng.random() < 0.55 else None,
            install_sid=self.install_sids[sender] if whatsapp else None,
            status_path=LEGACY_STATUS_PATHS[family] if rng.random() < _P_LEGACY_PATH else STATUS_PATH,
        )
        outcome = rng.choices(
            ["delivered", "undelivered", "failed", "sent"],
            weights=[82, 7, 8, 3] if whatsapp else [80, 9, 6, 5],
        )[0]
        steps: list[tuple[str, float, list[tuple[str, str]], set[str]]] = []
        t = start
        # The initial status never gets a callback; with a Messaging Service it is "accepted", so the
        # move to "queued" is reported.
        if msg.service_sid and rng.random() < 0.4:
            t += rng.uniform(0.05, 0.3)
            steps.append(("queued", t, [], set()))
        if outcome == "failed":
            code, text = rng.choice(_WA_FAILED if whatsapp else _SMS_FAILED)
            t += rng.uniform(0.1, 2.0)
            steps.append(("failed", t, self._failure(code, text), {"failure"}))
        else:
            if rng.random() < 0.1:
                t += rng.uniform(0.05, 0.5)
                steps.append(("sending", t, [], set()))
            t += rng.uniform(0.2, 2.0)
            steps.append(("sent", t, [("StructuredMessage", "false")] if whatsapp else [], set()))
            if outcome == "undelivered":
                code, text = rng.choice(_WA_UNDELIVERED if whatsapp else _SMS_UNDELIVERED)
                t += rng.uniform(5, 60)
                steps.append(("undelivered", t, self._failure(code, text) + self._dlr(msg, t), {"failure"}))
            elif outcome == "delivered":
                t += rng.uniform(0.5, 5) if whatsapp else rng.uniform(1, 20)
                extra = self._dlr(msg, t)
                if whatsapp and rng.random() < 0.5:
                    extra = [("EventType", "DELIVERED")]
                steps.append(("delivered", t, extra, set()))
                if whatsapp and rng.random() < 0.6:
                    t += rng.uniform(5, 120)
                    steps.append(("read", t, [("EventType", "READ")], {"read-receipt"}))
                self._maybe_reply(msg, t)
        if len(steps) >= 2 and rng.random() < _P_OUT_OF_ORDER:
            i = rng.randrange(len(steps) - 1)
            (s1, t1, e1, g1), (s2, t2, e2, g2) = steps[i], steps[i + 1]
            steps[i], steps[i + 1] = (s1, t2, e1, g1), (s2, t1, e2, g2 | {"out-of-order"})
        for status, when, extra, tags in steps:
            event = self._add(
                when,
                msg.status_path,
                self._status_params(msg, status, extra),
                "status",
                msg.sid,
                f"{msg.sid} {channel} {status}",
            )
            event.tags |= tags
            if msg.status_path != STATUS_PATH:
                event.tags.add("legacy-path")

    def _failure(self, code: int, text: str) -> list[tuple[str, str]]:
        return [("ErrorCode", str(code)), ("ChannelStatusMessage", text)]

    def _dlr(self, msg: _Outbound, t: float) -> list[tuple[str, str]]:
        """RawDlrDoneDate: SMS/MMS only, on most delivered/undelivered callbacks, YYMMDDhhmm, no zone."""
        if msg.whatsapp or self.rng.random() < 0.1:
            return []
        return [("RawDlrDoneDate", (self.base + timedelta(seconds=t)).strftime("%y%m%d%H%M"))]

    def _status_params(
        self, msg: _Outbound, status: str, extra: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        # Field order follows payloads captured from Twilio (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status).
        params = [p for p in extra if p[0] == "EventType"]
        params += [("SmsSid", msg.sid), ("SmsStatus", status), ("MessageStatus", status)]
        if msg.whatsapp:
            params += [("ChannelToAddress", msg.to_number)]
        params += [("To", msg.to_addr)]
        if msg.whatsapp:
            params += [("ChannelPrefix", "whatsapp")]
        if msg.service_sid:
            params += [("MessagingServiceSid", msg.service_sid)]
        params += [("MessageSid", msg.sid), ("AccountSid", self.cfg.account_sid), ("From", msg.from_addr)]
        params += [("ApiVersion", API_VERSION)]
        if msg.install_sid:
            params += [("ChannelInstallSid", msg.install_sid)]
        params += [p for p in extra if p[0] != "EventType"]
        return params

    # -- inbound
    def _maybe_reply(self, msg: _Outbound, t: float) -> None:
        rng = self.rng
        stop = not msg.whatsapp and rng.random() < _P_STOP
        if not stop and rng.random() >= _P_REPLY:
            return
        media = 0 if stop or rng.random() >= _P_MEDIA else rng.choice([1, 1, 1, 2, 3])
        self.inbound(msg, t + rng.uniform(3, 180), stop=stop, media=media)

    def inbound(self, msg: _Outbound, t: float, *, stop: bool, media: int) -> None:
        rng = self.rng
        sid = ("MM" if media and not msg.whatsapp else "SM") + self._hex()
        body = "STOP" if stop else ("" if media and rng.random() < 0.5 else rng.choice(_REPLY_BODIES))
        family = "whatsapp" if msg.whatsapp else "sms"
        path = LEGACY_INBOUND_PATHS[family] if rng.random() < _P_LEGACY_PATH else INBOUND_PATH
        if msg.whatsapp:
            params = self._whatsapp_inbound(msg, sid, body, media)
        else:
            params = self._sms_inbound(msg, sid, body, media)
        if stop and msg.service_sid:
            params.append(("OptOutType", "STOP"))  # Advanced Opt-Out on a Messaging Service
        event = self._add(t, path, params, "inbound", sid, f"{sid} {family} inbound")
        event.tags |= {"media"} if media else set()
        event.tags |= {"opt-out"} if stop else set()
        event.tags |= {"legacy-path"} if path != INBOUND_PATH else set()

    def _media_params(self, sid: str, media: int) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        base = f"https://api.twilio.com/{API_VERSION}/Accounts/{self.cfg.account_sid}/Messages/{sid}/Media"
        for i in range(media):
            url = f"{base}/ME{self._hex()}"
            params += [(f"MediaContentType{i}", self.rng.choice(_MEDIA_TYPES)), (f"MediaUrl{i}", url)]
        return params

    def _sms_inbound(self, msg: _Outbound, sid: str, body: str, media: int) -> list[tuple[str, str]]:
        to_city, to_state, to_zip = _US_AREAS.get(msg.from_addr[2:5], ("", "", ""))
        if msg.country == "US":
            from_city, from_state, from_zip = _US_AREAS[msg.to_number[2:5]]
        else:
            from_city, from_state, from_zip = "", "", ""
        params = self._media_params(sid, media) + [
            ("ToCountry", "US"),
            ("ToState", to_state),
            ("SmsMessageSid", sid),
            ("NumMedia", str(media)),
            ("ToCity", to_city),
            ("FromZip", from_zip),
            ("SmsSid", sid),
            ("FromState", from_state),
            ("SmsStatus", "received"),
            ("FromCity", from_city),
            ("Body", body),
            ("FromCountry", msg.country),
            ("To", msg.from_addr),
        ]
        if msg.service_sid:
            params.append(("MessagingServiceSid", msg.service_sid))
        params += [
            ("ToZip", to_zip),
            ("NumSegments", "1"),
            ("MessageSid", sid),
            ("AccountSid", self.cfg.account_sid),
            ("From", msg.to_number),
            ("ApiVersion", API_VERSION),
        ]
        return params

    def _whatsapp_inbound(self, msg: _Outbound, sid: str, body: str, media: int) -> list[tuple[str, str]]:
        profile = self.rng.choice(_PROFILE_NAMES)
        wa_id = msg.to_number.lstrip("+")
        message_type = "text" if not media else self.rng.choice(["image", "document", "audio"])
        metadata = {"type": "whatsapp", "data": {"context": {"ProfileName": profile, "WaId": wa_id}}}
        params = self._media_params(sid, media) + [
            ("SmsMessageSid", sid),
            ("NumMedia", str(media)),
            ("ProfileName", profile),
            ("MessageType", message_type),
            ("SmsSid", sid),
            ("WaId", wa_id),
            ("SmsStatus", "received"),
            ("Body", body),
            ("To", msg.from_addr),
        ]
        if msg.service_sid:
            params.append(("MessagingServiceSid", msg.service_sid))
        params += [
            ("NumSegments", "1"),
            ("ReferralNumMedia", "0"),
            ("MessageSid", sid),
            ("AccountSid", self.cfg.account_sid),
            ("From", msg.to_addr),
            ("ApiVersion", API_VERSION),
            ("ChannelMetadata", json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))),
        ]
        return params

    # -- retries
    def add_duplicates(self) -> None:
        """Twilio retries re-deliver the identical request (same token) a little later."""
        for event in list(self.events):
            if self.rng.random() < _P_DUPLICATE:
                copy = _Event(
                    event.t + self.rng.uniform(0.5, 15),
                    len(self.events),
                    event.path,
                    list(event.params),
                    event.kind,
                    event.sid,
                    event.note + " (retry)",
                    event.token,
                    event.tags | {"duplicate"},
                )
                self.events.append(copy)


def generate_plan(cfg: SimConfig) -> list[SimRequest]:
    """The requests Twilio would send for ``cfg.messages`` outbound messages, in arrival order.

    Pure: the same config with the same seed gives the same plan, byte for byte.
    """
    planner = _Planner(cfg)
    start = 0.0
    for _ in range(cfg.messages):
        start += planner.rng.expovariate(1.0)  # messages go out about once a second
        planner.outbound(start)
    planner.add_duplicates()
    events = sorted(planner.events, key=lambda e: (e.t, e.seq))

    validator = RequestValidator(cfg.auth_token)
    base = cfg.signing_base
    proxied = cfg.public_url is not None and cfg.public_url.rstrip("/") != cfg.target.rstrip("/")
    public_host = urlsplit(base).netloc.rpartition("@")[2]
    # Credentials in the public URL (Twilio's HTTP auth form): Twilio signs the URL as configured,
    # credentials included, and sends them as Basic auth once challenged; the simulator sends them at once.
    auth = split_userinfo(base)[1]
    plan = []
    for event in events:
        params = event.params
        assert len({k for k, _ in params}) == len(params), "plan params must have unique keys"
        signature = str(validator.compute_signature(base + event.path, dict(params)))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
            "X-Home-Region": "us1",
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": event.token,
        }
        if auth is not None:
            headers["Authorization"] = auth.header()
        if proxied:  # what a TLS-terminating tunnel such as ngrok adds
            egress = _TWILIO_EGRESS[event.seq % len(_TWILIO_EGRESS)]
            headers |= {
                "X-Forwarded-For": egress,
                "X-Forwarded-Host": public_host,
                "X-Forwarded-Proto": urlsplit(base).scheme,
            }
        plan.append(
            SimRequest(event.path, params, headers, event.note, event.kind, event.sid, frozenset(event.tags))
        )
    return plan
