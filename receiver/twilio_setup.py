"""REST logic behind the config wizard: credentials, webhook targets, plan/apply/restore, test sends.

Qt-free on purpose: the wizard calls these functions from a worker thread and shows the results. Every
function that talks to Twilio turns failures into ``SetupError`` whose message tells the operator what
happened and what to do, because a raw ``TwilioRestException`` dump is not something an operator can act
on.

Safety rule for changes to a live account: the previous values of every target are written to the
store (``webhook_backups``) *before* the first update, so a crash mid-way still leaves enough on disk
for ``restore_all`` to put the account back. Restore only touches fields whose current value is still
what we applied; anything the operator changed since is left alone and reported.

Facts relied on are in TWILIO-FACTS.md: 1.5 (connection-override fragments), 1.7 (no per-number SMS
status callback), 2.2 (Messaging Service inbound URL wins over the number's), 4 (REST calls).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

API_BASE_ENV = "CALLBACK_MONITOR_TWILIO_API_BASE"
INBOUND_PATH = "/twilio/inbound"
FALLBACK_PATH = "/twilio/fallback"
STATUS_PATH = "/twilio/status"
KIND_NUMBER = "phone_number"
KIND_SERVICE = "messaging_service"
TargetKind = Literal["phone_number", "messaging_service"]

WHATSAPP_SANDBOX_NUMBER = "+14155238886"
WHATSAPP_SANDBOX_CONSOLE_URL = "https://console.twilio.com/us1/develop/sms/settings/whatsapp-sandbox"

_SID_RE = {prefix: re.compile(rf"{prefix}[0-9a-f]{{32}}") for prefix in ("AC", "SK", "MG", "PN")}
_HEX32_RE = re.compile(r"[0-9a-fA-F]{32}")

# Fields we may change per target kind, and the value the monitor wants for each (None = a URL).
NUMBER_FIELDS = ("sms_url", "sms_method", "sms_fallback_url", "sms_fallback_method")
SERVICE_FIELDS = (
    "inbound_request_url",
    "inbound_method",
    "fallback_url",
    "fallback_method",
    "status_callback",
)
_METHOD_FIELDS = {"sms_method", "sms_fallback_method", "inbound_method", "fallback_method"}


class SetupError(Exception):
    """A failure the wizard shows as-is: ``str(exc)`` says what happened and what to do."""

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """Account SID plus either the Auth Token or an API key (SID ``SK…`` and its secret)."""

    account_sid: str
    auth_token: str | None = None
    api_key_sid: str | None = None
    api_key_secret: str | None = None

    def __repr__(self) -> str:  # never let a secret reach a log line through repr()
        return f"Credentials(account_sid={self.account_sid!r}, api_key_sid={self.api_key_sid!r})"

    @property
    def uses_api_key(self) -> bool:
        return bool(self.api_key_sid)

    def problems(self) -> list[str]:
        """Format problems, phrased for the operator; empty when the fields look right."""
        out: list[str] = []
        sid = self.account_sid.strip()
        if not sid:
            out.append("Enter the Account SID (it starts with AC; Twilio Console → Account info).")
        elif sid.startswith("SK"):
            out.append(
                "The Account SID field holds an API key SID (SK…). Put the Account SID (AC…) there "
                "and the SK… value in the API key field."
            )
        elif not _SID_RE["AC"].fullmatch(sid):
            out.append(
                f"The Account SID must be 'AC' followed by 32 hexadecimal characters (34 in all); "
                f"got {len(sid)} characters. Copy it again from the Twilio Console."
            )
        if self.uses_api_key:
            key = (self.api_key_sid or "").strip()
            if not _SID_RE["SK"].fullmatch(key):
                out.append(
                    "The API key SID must be 'SK' followed by 32 hexadecimal characters "
                    "(Twilio Console → API keys & tokens)."
                )
            secret = self.api_key_secret or ""
            if not secret.strip():
                out.append("Enter the API key secret (shown once, when the key was created).")
            elif secret != secret.strip():
                out.append("The API key secret has leading or trailing spaces; paste it again.")
        else:
            token = self.auth_token or ""
            if not token.strip():
                out.append("Enter the Auth Token, or use an API key SID and secret instead.")
            elif token.startswith("AC") or token.startswith("SK"):
                out.append("The Auth Token field holds a SID; the Auth Token is a 32-character secret.")
            elif not _HEX32_RE.fullmatch(token.strip()):
                out.append(
                    "The Auth Token must be 32 hexadecimal characters; copy it again from the Twilio "
                    "Console (Account info → Auth Token → show)."
                )
            elif token != token.strip():
                out.append("The Auth Token has leading or trailing spaces; paste it again.")
        return out

    def validate(self) -> None:
        """Raise ``SetupError`` listing every format problem."""
        problems = self.problems()
        if problems:
            raise SetupError(" ".join(problems))


class RedirectingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """Sends every twilio-python request to ``api_base``, keeping the path and query.

    twilio-python builds absolute URLs for several hosts (api.twilio.com, messaging.twilio.com, and the
    next-page links the API returns); rewriting at the HTTP layer covers them all, so the real client
    code runs unchanged against a local fake or a recording proxy.
    """

    def __init__(self, api_base: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(api_base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SetupError(f"The Twilio API base {api_base!r} must look like http://127.0.0.1:8080.")
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path.rstrip("/")
        if self.session is not None:
            self.session.trust_env = False  # a local stand-in must not go through the system proxy

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, ""))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        response: Response = super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        return response


def make_client(creds: Credentials, api_base: str | None = None, *, timeout: float = 20.0) -> Client:
    """A twilio-python ``Client`` for ``creds``; ``api_base`` (or env ``CALLBACK_MONITOR_TWILIO_API_BASE``)
    redirects all its requests, e.g. to a fake on ``http://127.0.0.1:PORT``."""
    base = api_base or os.environ.get(API_BASE_ENV) or None
    http_client = RedirectingHttpClient(base, timeout=timeout) if base else TwilioHttpClient(timeout=timeout)
    if creds.uses_api_key:
        return Client(creds.api_key_sid, creds.api_key_secret, creds.account_sid, http_client=http_client)
    return Client(creds.account_sid, creds.auth_token, http_client=http_client)


def explain(exc: BaseException, action: str) -> SetupError:
    """Turn a twilio/requests exception raised while doing ``action`` into an operator message."""
    if isinstance(exc, SetupError):
        return exc
    if isinstance(exc, requests.exceptions.Timeout):
        return SetupError(
            f"Twilio's API did not answer in time while {action}. Check the internet connection "
            "(and any proxy or firewall), then try again."
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return SetupError(
            f"Cannot reach Twilio's API (api.twilio.com) while {action}. Check the internet connection, "
            "proxy or firewall settings, then try again."
        )
    if isinstance(exc, TwilioServiceException):
        return _explain_code(exc.code, exc.status, exc.detail or exc.title, action)
    if isinstance(exc, TwilioRestException):
        return _explain_code(exc.code, exc.status, _strip_prefix(exc.msg), action)
    if isinstance(exc, TwilioException):
        # List paging raises a bare TwilioException("Unable to fetch page", response).
        response = next((a for a in exc.args if isinstance(a, Response)), None)
        if response is not None:
            code, detail = _error_from_body(response.text)
            return _explain_code(code or response.status_code, response.status_code, detail, action)
        return SetupError(f"Twilio client error while {action}: {exc}")
    return SetupError(f"Unexpected error while {action}: {exc!r}")


def _error_from_body(text: str) -> tuple[int | None, str]:
    try:
        body = json.loads(text)
    except ValueError:
        return None, text[:200]
    if not isinstance(body, dict):
        return None, text[:200]
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message") or body.get("detail") or "")


def _strip_prefix(msg: str) -> str:
    # twilio-python prefixes "Unable to fetch record: " etc.; the API's own text is after it.
    return msg.split(": ", 1)[1] if ": " in msg else msg


_CODE_ADVICE: dict[int, str] = {
    20003: "Twilio rejected the credentials (error 20003). Check the Account SID and Auth Token in the "
    "Twilio Console (Account info), or that the API key belongs to this account and was not deleted. "
    "A recently rotated Auth Token invalidates the old one.",
    20008: "These are Twilio test credentials (error 20008); they cannot read or change numbers. "
    "Use the live Account SID and Auth Token.",
    20429: "Twilio is rate-limiting requests from this account (error 20429). Wait a minute, then try again.",
    21211: "The 'To' number is not a valid phone number (error 21211). Use E.164 format, e.g. +14155550123, "
    "or whatsapp:+14155550123 for WhatsApp.",
    21603: "A sender is needed (error 21603): choose a From number or a Messaging Service.",
    21606: "The From number cannot send to this destination (error 21606). Pick a number on this account "
    "with SMS capability for that country, or send through a Messaging Service.",
    21609: "Twilio refused the status callback URL (error 21609). It must be a public http(s) URL "
    "without underscores in the host name.",
    21610: "The recipient has opted out by replying STOP (error 21610); they must reply START first.",
    21701: "The Messaging Service does not exist on this account (error 21701); refresh the target list.",
    63015: "That WhatsApp number has not joined your Sandbox (error 63015): send 'join <your code>' "
    "from it to +1 415 523 8886 first.",
}


def _explain_code(code: int | None, status: int | None, detail: str, action: str) -> SetupError:
    more = f" See https://www.twilio.com/docs/errors/{code}." if code else ""
    if code in _CODE_ADVICE:
        text = _CODE_ADVICE[code]
    elif status == 401:
        text = _CODE_ADVICE[20003]
    elif status == 429:
        text = _CODE_ADVICE[20429]
    elif code == 20404 or status == 404:
        text = (
            f"Twilio could not find what was asked for while {action} (error 20404: {detail}). Check the "
            "Account SID; the number or service may have been released or deleted — refresh the list."
        )
    elif status is not None and status >= 500:
        text = (
            f"Twilio's API had an internal problem (HTTP {status}) while {action}. This is on Twilio's "
            "side: try again in a few minutes, and check https://status.twilio.com if it persists."
        )
    else:
        text = f"Twilio refused {action}: {detail} (error {code})."
    return SetupError(text + more, code=code, http_status=status)


@contextmanager
def twilio_call(action: str) -> Iterator[None]:
    """Translate anything Twilio/requests raises inside the block into ``SetupError``."""
    try:
        yield
    except (TwilioException, requests.exceptions.RequestException) as exc:
        raise explain(exc, action) from exc


@dataclass(frozen=True)
class AccountInfo:
    sid: str
    friendly_name: str
    status: str  # active | suspended | closed
    type: str  # Trial | Full


def verify_credentials(client: Client, creds: Credentials) -> AccountInfo:
    """Check the format, then fetch the account (the cheapest authenticated call)."""
    creds.validate()
    with twilio_call("checking the credentials"):
        account = client.api.v2010.accounts(creds.account_sid.strip()).fetch()
    return AccountInfo(
        sid=str(account.sid),
        friendly_name=str(account.friendly_name or ""),
        status=str(account.status or ""),
        type=str(account.type or ""),
    )


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class NumberTarget:
    sid: str
    phone_number: str
    friendly_name: str
    sms_url: str | None
    sms_method: str | None
    sms_fallback_url: str | None
    sms_fallback_method: str | None
    sms_application_sid: str | None
    service_sid: str | None = None  # the Messaging Service this number belongs to, if any

    kind: TargetKind = field(default="phone_number", init=False)

    @property
    def name(self) -> str:
        if self.friendly_name in ("", self.phone_number):
            return self.phone_number
        return f"{self.phone_number} ({self.friendly_name})"

    def values(self) -> dict[str, str | None]:
        return {f: getattr(self, f) for f in NUMBER_FIELDS}


@dataclass(frozen=True)
class ServiceTarget:
    sid: str
    friendly_name: str
    inbound_request_url: str | None
    inbound_method: str | None
    fallback_url: str | None
    fallback_method: str | None
    status_callback: str | None
    use_inbound_webhook_on_number: bool
    number_sids: tuple[str, ...] = ()

    kind: TargetKind = field(default="messaging_service", init=False)

    @property
    def name(self) -> str:
        return self.friendly_name or self.sid

    def values(self) -> dict[str, str | None]:
        return {f: getattr(self, f) for f in SERVICE_FIELDS}


Target = NumberTarget | ServiceTarget


@dataclass(frozen=True)
class Targets:
    numbers: list[NumberTarget]
    services: list[ServiceTarget]

    def get(self, sid: str) -> Target | None:
        targets: list[Target] = [*self.numbers, *self.services]
        return next((t for t in targets if t.sid == sid), None)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def list_targets(client: Client) -> Targets:
    """Every phone number and Messaging Service on the account with its current webhook settings."""
    with twilio_call("listing Messaging Services"):
        services_raw = client.messaging.v1.services.list()
        members: dict[str, list[str]] = {}
        for service in services_raw:
            members[service.sid] = [
                pn.sid for pn in client.messaging.v1.services(service.sid).phone_numbers.list()
            ]
    owner = {pn_sid: mg_sid for mg_sid, pns in members.items() for pn_sid in pns}
    with twilio_call("listing phone numbers"):
        numbers_raw = client.incoming_phone_numbers.list()
    numbers = [
        NumberTarget(
            sid=str(n.sid),
            phone_number=str(n.phone_number),
            friendly_name=str(n.friendly_name or ""),
            sms_url=_opt_str(n.sms_url),
            sms_method=_opt_str(n.sms_method),
            sms_fallback_url=_opt_str(n.sms_fallback_url),
            sms_fallback_method=_opt_str(n.sms_fallback_method),
            sms_application_sid=_opt_str(n.sms_application_sid),
            service_sid=owner.get(str(n.sid)),
        )
        for n in numbers_raw
    ]
    services = [
        ServiceTarget(
            sid=str(s.sid),
            friendly_name=str(s.friendly_name or ""),
            inbound_request_url=_opt_str(s.inbound_request_url),
            inbound_method=_opt_str(s.inbound_method),
            fallback_url=_opt_str(s.fallback_url),
            fallback_method=_opt_str(s.fallback_method),
            status_callback=_opt_str(s.status_callback),
            use_inbound_webhook_on_number=bool(s.use_inbound_webhook_on_number),
            number_sids=tuple(members.get(str(s.sid), [])),
        )
        for s in services_raw
    ]
    return Targets(numbers=numbers, services=services)


def warnings(targets: Targets) -> dict[str, list[str]]:
    """Per-SID explanations of where messages and statuses will *really* go (FACTS 1.7 and 2.2)."""
    services = {s.sid: s for s in targets.services}
    out: dict[str, list[str]] = {}
    for number in targets.numbers:
        notes: list[str] = []
        service = services.get(number.service_sid or "")
        if service is not None and not service.use_inbound_webhook_on_number:
            notes.append(
                f"This number is in Messaging Service '{service.name}' ({service.sid}): incoming messages "
                "go to the service's inbound URL, not this number's SMS URL. Select the service as well "
                "(or turn on 'use inbound webhook on number' in the service)."
            )
        if number.sms_application_sid:
            notes.append(
                f"A TwiML App ({number.sms_application_sid}) is attached for SMS: it overrides this "
                "number's SMS URLs, so the new URLs take effect only after the app is detached in the "
                "Console (the wizard does not change the app, other numbers may share it)."
            )
        if service is not None:
            notes.append(
                "Phone numbers have no SMS status callback of their own: delivery statuses come from the "
                "Messaging Service's status callback (for sends through the service) or from a "
                "per-message StatusCallback."
            )
        else:
            notes.append(
                "Phone numbers have no SMS status callback of their own: delivery statuses for sends from "
                "this number reach the monitor only if the sending code passes StatusCallback (the "
                "wizard's test send does)."
            )
        out[number.sid] = notes
    for service in targets.services:
        notes = []
        if not service.status_callback:
            notes.append(
                "No delivery status callback is set on this service: Twilio sends statuses only for "
                "messages created with their own StatusCallback."
            )
        if service.use_inbound_webhook_on_number:
            notes.append(
                "'Use inbound webhook on number' is on: incoming messages go to each number's SMS URL and "
                "this service's inbound URL is ignored. Select the numbers too."
            )
        elif not service.inbound_request_url:
            notes.append(
                "No inbound request URL is set: Twilio does not forward incoming messages for this "
                "service's numbers anywhere."
            )
        out[service.sid] = notes
    return out


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Change:
    target_kind: TargetKind
    target_sid: str
    target_name: str
    field: str
    old: str | None
    new: str


_OVERRIDE_RANGES = {"ct": (100, 10000), "rt": (100, 15000), "tt": (100, 15000), "rc": (0, 5)}
_RETRY_POLICIES = {"4xx", "5xx", "ct", "rt", "all"}


def parse_overrides(fragment: str | None) -> str:
    """Validate a connection-overrides fragment (FACTS 1.5) and return it as ``#k=v&…`` (or "")."""
    text = (fragment or "").strip().removeprefix("#")
    if not text:
        return ""
    seen: dict[str, str] = {}
    for pair in text.split("&"):
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise SetupError(f"Connection override '{pair}' must look like key=value, e.g. rc=3.")
        if key in seen:
            raise SetupError(f"Connection override '{key}' is given twice.")
        if key in _OVERRIDE_RANGES:
            low, high = _OVERRIDE_RANGES[key]
            if not value.isdigit() or not low <= int(value) <= high:
                raise SetupError(f"Connection override {key} must be a whole number from {low} to {high}.")
        elif key == "rp":
            bad = [p for p in value.split(",") if p not in _RETRY_POLICIES]
            if bad:
                raise SetupError(
                    f"Retry policy rp has unknown value(s) {', '.join(bad)}; use a comma list of "
                    "4xx, 5xx, ct, rt, all."
                )
        elif key == "e":
            if not re.fullmatch(r"[a-z][a-z-]*(,[a-z][a-z-]*)*", value):
                raise SetupError("Edge override e must be a comma list of edge names, e.g. e=ashburn,dublin.")
        elif key == "sni":
            if value not in ("on", "off"):
                raise SetupError("sni must be 'on' or 'off'.")
        else:
            raise SetupError(f"Unknown connection override '{key}'; known keys: ct, rt, tt, rc, rp, e, sni.")
        seen[key] = value
    return "#" + "&".join(f"{k}={v}" for k, v in seen.items())


def validate_public_base(public_base: str) -> str:
    """Return the public base URL without a trailing slash, or explain why Twilio cannot use it."""
    base = public_base.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SetupError(
            f"The public URL must start with https:// (or http://) and name a host; got {base!r}."
        )
    if parts.query or parts.fragment:
        raise SetupError(
            "The public URL must not contain '?' or '#'; connection overrides go in their own field."
        )
    host = parts.hostname
    if "_" in host:
        raise SetupError(
            f"Twilio rejects webhook URLs with an underscore in the host name ({host}); use a host name "
            "without underscores."
        )
    unreachable = host == "localhost" or host.endswith(".localhost")
    try:
        address = ipaddress.ip_address(host)
        unreachable = unreachable or address.is_loopback or address.is_private or address.is_unspecified
        unreachable = unreachable or address.is_link_local
    except ValueError:
        pass
    if unreachable:
        raise SetupError(
            f"Twilio cannot reach {host}: it is a local or private address. Start the tunnel and use its "
            "public https URL (e.g. https://xxxx.ngrok-free.app)."
        )
    return base


def desired_values(kind: TargetKind, public_base: str, overrides: str | None = None) -> dict[str, str]:
    """The field values that route a target's webhooks to the monitor at ``public_base``."""
    base = validate_public_base(public_base)
    frag = parse_overrides(overrides)
    inbound, fallback, status = (f"{base}{p}{frag}" for p in (INBOUND_PATH, FALLBACK_PATH, STATUS_PATH))
    if kind == KIND_NUMBER:
        return {
            "sms_url": inbound,
            "sms_method": "POST",
            "sms_fallback_url": fallback,
            "sms_fallback_method": "POST",
        }
    return {
        "inbound_request_url": inbound,
        "inbound_method": "POST",
        "fallback_url": fallback,
        "fallback_method": "POST",
        "status_callback": status,
    }


def _same(field_name: str, a: str | None, b: str | None) -> bool:
    """Twilio shows an unset URL as "" (numbers) or null (services), and methods in any case."""
    a, b = a or "", b or ""
    return a.upper() == b.upper() if field_name in _METHOD_FIELDS else a == b


def plan_changes(
    targets: Targets, selected_sids: list[str], public_base: str, overrides: str | None = None
) -> list[Change]:
    """The field updates that route the selected targets to the monitor; unchanged fields are omitted."""
    changes: list[Change] = []
    for sid in selected_sids:
        target = targets.get(sid)
        if target is None:
            raise SetupError(f"{sid} is not on this account (any more); refresh the list.")
        current = target.values()
        for name, new in desired_values(target.kind, public_base, overrides).items():
            if not _same(name, current[name], new):
                changes.append(Change(target.kind, target.sid, target.name, name, current[name], new))
    return changes


# --------------------------------------------------------------------------- apply / restore


class BackupStore(Protocol):
    """The three ``Store`` methods apply/restore need (``webhook_backups`` table)."""

    def save_backups(self, account_sid: str, items: list[dict[str, Any]]) -> list[int]: ...

    def pending_backups(self, account_sid: str | None = None) -> list[dict[str, Any]]: ...

    def mark_restored(self, backup_id: int) -> None: ...


@dataclass(frozen=True)
class ApplyResult:
    backup_ids: list[int]
    changes: list[Change]

    @property
    def target_sids(self) -> list[str]:
        return list(dict.fromkeys(c.target_sid for c in self.changes))


def _fetch_values(client: Client, kind: str, sid: str) -> dict[str, str | None]:
    if kind == KIND_NUMBER:
        n = client.incoming_phone_numbers(sid).fetch()
        return {f: _opt_str(getattr(n, f)) for f in NUMBER_FIELDS}
    s = client.messaging.v1.services(sid).fetch()
    return {f: _opt_str(getattr(s, f)) for f in SERVICE_FIELDS}


def _update(client: Client, kind: str, sid: str, values: dict[str, str | None]) -> None:
    # twilio-python drops None-valued params, so an unset URL must be sent as "" to clear it.
    params = {k: ("" if v is None else v) for k, v in values.items()}
    if kind == KIND_NUMBER:
        client.incoming_phone_numbers(sid).update(**params)
    else:
        client.messaging.v1.services(sid).update(**params)


def apply_plan(client: Client, store: BackupStore, account_sid: str, changes: list[Change]) -> ApplyResult:
    """Back up, then apply ``changes``; on a failure, undo what was already changed and raise."""
    grouped: dict[str, list[Change]] = {}
    for change in changes:
        grouped.setdefault(change.target_sid, []).append(change)
    items: list[dict[str, Any]] = []
    for sid, target_changes in grouped.items():
        first = target_changes[0]
        with twilio_call(f"reading the current settings of {first.target_name}"):
            current = _fetch_values(client, first.target_kind, sid)
        items.append(
            {
                "target_kind": first.target_kind,
                "target_sid": sid,
                "target_name": first.target_name,
                # Fresh values, not the plan's: the plan may be minutes old.
                "previous": {c.field: current[c.field] for c in target_changes},
                "applied": {c.field: c.new for c in target_changes},
            }
        )
    ids = store.save_backups(account_sid, items) if items else []
    done: list[int] = []
    for index, item in enumerate(items):
        try:
            with twilio_call(f"updating {item['target_name']}"):
                _update(client, item["target_kind"], item["target_sid"], item["applied"])
        except SetupError as exc:
            problems = _roll_back(client, store, [(items[i], ids[i]) for i in done])
            for pending in ids[index:]:
                store.mark_restored(pending)  # never applied: nothing to restore later
            note = (
                " Everything already changed was put back."
                if not problems
                else (" Could not put back: " + " ".join(problems) + " Use Restore to retry.")
            )
            raise SetupError(f"{exc.message}{note}", code=exc.code, http_status=exc.http_status) from exc
        done.append(index)
    return ApplyResult(backup_ids=ids, changes=list(changes))


def _roll_back(client: Client, store: BackupStore, applied: list[tuple[dict[str, Any], int]]) -> list[str]:
    problems: list[str] = []
    for item, backup_id in reversed(applied):
        try:
            with twilio_call(f"restoring {item['target_name']}"):
                _update(client, item["target_kind"], item["target_sid"], item["previous"])
        except SetupError as exc:
            problems.append(f"{item['target_name']}: {exc.message}")
            continue
        store.mark_restored(backup_id)
    return problems


def restore_all(client: Client, store: BackupStore, account_sid: str) -> list[str]:
    """Put back every pending backup (newest first); returns one report line per target or field kept.

    A field is restored only if it still holds the value we applied. Backups whose target is gone are
    marked restored; ones that fail for another reason stay pending so a later run retries them.
    """
    report: list[str] = []
    backups = sorted(store.pending_backups(account_sid), key=lambda b: b["id"], reverse=True)
    for backup in backups:
        kind, sid, name = backup["target_kind"], backup["target_sid"], backup["target_name"]
        applied: dict[str, str | None] = backup["applied"]
        previous: dict[str, str | None] = backup["previous"]
        try:
            with twilio_call(f"reading the current settings of {name}"):
                current = _fetch_values(client, kind, sid)
        except SetupError as exc:
            if exc.http_status == 404:
                store.mark_restored(backup["id"])
                report.append(f"{name} ({sid}) no longer exists on the account; nothing to restore.")
            else:
                report.append(f"{name} ({sid}) not restored yet: {exc.message}")
            continue
        to_restore: dict[str, str | None] = {}
        for field_name, applied_value in applied.items():
            if _same(field_name, current.get(field_name), applied_value):
                to_restore[field_name] = previous.get(field_name)
            else:
                report.append(
                    f"{name}: left {field_name} as it is — it was changed since the wizard set it "
                    f"(now {current.get(field_name) or 'empty'!s})."
                )
        if to_restore:
            try:
                with twilio_call(f"restoring {name}"):
                    _update(client, kind, sid, to_restore)
            except SetupError as exc:
                report.append(f"{name} ({sid}) not restored yet: {exc.message}")
                continue
            report.append(f"Restored {name}: {', '.join(to_restore)}.")
        store.mark_restored(backup["id"])
    return report


# --------------------------------------------------------------------------- sending


def channel_of(address: str | None, num_media: int = 0) -> str:
    """'whatsapp' for ``whatsapp:+…``, any other ``prefix:`` as-is, else 'mms' with media or 'sms'."""
    if address and ":" in address and not address.startswith("+"):
        return address.split(":", 1)[0]
    return "mms" if num_media else "sms"


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def message_to_row(m: Any) -> dict[str, Any]:
    """A twilio ``MessageInstance`` as a dict with the ``messages``-table keys the store records."""
    num_media = _int_or_none(m.num_media) or 0
    direction = str(m.direction or "outbound-api")
    return {
        "sid": m.sid,
        "direction": "inbound" if direction == "inbound" else "outbound",
        "channel": channel_of(m.to if direction != "inbound" else m.from_, num_media),
        "from_addr": m.from_,
        "to_addr": m.to,
        "body": m.body,
        "status": m.status,
        "error_code": _int_or_none(m.error_code),
        "messaging_service_sid": m.messaging_service_sid,
        "account_sid": m.account_sid,
        "num_segments": _int_or_none(m.num_segments),
        "num_media": num_media,
        "price": m.price,
        "price_unit": m.price_unit,
    }


def send_message(
    client: Client,
    to: str,
    body: str,
    from_: str | None = None,
    messaging_service_sid: str | None = None,
    status_callback: str | None = None,
) -> dict[str, Any]:
    """Send a test message; the returned row carries the initial status (queued/accepted), which
    Twilio never reports by callback (FACTS 1.3)."""
    if not from_ and not messaging_service_sid:
        raise SetupError(_CODE_ADVICE[21603], code=21603)
    with twilio_call(f"sending a message to {to}"):
        message = client.messages.create(
            to=to,
            body=body,
            from_=from_,
            messaging_service_sid=messaging_service_sid,
            status_callback=status_callback,
        )
    return message_to_row(message)


def fetch_message(client: Client, sid: str) -> dict[str, Any]:
    """The current state of one message (reconciliation of missed callbacks, price, error code)."""
    with twilio_call(f"fetching message {sid}"):
        return message_to_row(client.messages(sid).fetch())


# --------------------------------------------------------------------------- WhatsApp Sandbox


@dataclass(frozen=True)
class SandboxInfo:
    inbound_url: str
    status_url: str
    steps: list[str]
    console_url: str = WHATSAPP_SANDBOX_CONSOLE_URL


def sandbox_instructions(public_base: str) -> SandboxInfo:
    """Manual steps for the WhatsApp Sandbox, whose webhook URLs no API can set (FACTS 4)."""
    base = validate_public_base(public_base)
    inbound, status = f"{base}{INBOUND_PATH}", f"{base}{STATUS_PATH}"
    steps = [
        f"Open the WhatsApp Sandbox settings in the Twilio Console: {WHATSAPP_SANDBOX_CONSOLE_URL}",
        f"In 'When a message comes in', paste {inbound} and choose POST.",
        f"In 'Status callback URL', paste {status} and choose POST.",
        "Click Save.",
        f"From each test phone, send the sandbox's 'join <code>' message to {WHATSAPP_SANDBOX_NUMBER} "
        "(only joined numbers can receive messages; a join lasts 3 days).",
        "Sandbox limits: about 1 message every 3 seconds; business-initiated messages need a template.",
    ]
    return SandboxInfo(inbound_url=inbound, status_url=status, steps=steps)


__all__ = [
    "API_BASE_ENV",
    "AccountInfo",
    "ApplyResult",
    "BackupStore",
    "Change",
    "Credentials",
    "NumberTarget",
    "RedirectingHttpClient",
    "SandboxInfo",
    "ServiceTarget",
    "SetupError",
    "Targets",
    "apply_plan",
    "channel_of",
    "desired_values",
    "explain",
    "fetch_message",
    "list_targets",
    "make_client",
    "message_to_row",
    "parse_overrides",
    "plan_changes",
    "restore_all",
    "sandbox_instructions",
    "send_message",
    "validate_public_base",
    "verify_credentials",
    "warnings",
]
