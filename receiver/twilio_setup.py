"""REST logic behind the config wizard: webhook targets, plan/apply/restore, test sends, Sandbox steps.

Qt-free on purpose: the wizard calls these functions from a worker thread and shows the results. Every
call to Twilio goes through ``twilio_client.twilio_call``, so failures surface as ``SetupError`` messages
an operator can act on. The credential/client names the wizard uses as ``ts.X`` are re-exported here
(see ``__all__``) so callers keep one import.

Safety rule for changes to a live account: the previous values of every target are written to the
store (``webhook_backups``) *before* the first update, so a crash mid-way still leaves enough on disk
for ``restore_all`` to put the account back. Restore only touches fields whose current value is still
what we applied; anything the operator changed since is left alone and reported.

Facts relied on are in TWILIO-FACTS.md: 1.5 (connection-override fragments), 1.7 (no per-number SMS
status callback), 2.2 (Messaging Service inbound URL wins over the number's), 4 (REST calls).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from twilio.rest import Client

from . import event_streams_setup
from .channels import channel_of
from .twilio_client import (
    API_BASE_ENV,
    CODE_ADVICE,
    AccountInfo,
    Credentials,
    SetupError,
    make_client,
    twilio_call,
    verify_credentials,
)

INBOUND_PATH = "/twilio/inbound"
FALLBACK_PATH = "/twilio/fallback"
STATUS_PATH = "/twilio/status"
KIND_NUMBER = "phone_number"
KIND_SERVICE = "messaging_service"
TargetKind = Literal["phone_number", "messaging_service"]

WHATSAPP_SANDBOX_NUMBER = "+14155238886"
WHATSAPP_SANDBOX_CONSOLE_URL = "https://console.twilio.com/us1/develop/sms/settings/whatsapp-sandbox"

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


def apply_event_streams(client: Client, store: BackupStore, account_sid: str, public_base: str) -> str:
    """Subscribe a webhook sink at the public URL to message events (receiver/event_streams_setup.py)."""
    return event_streams_setup.apply(client, store, account_sid, validate_public_base(public_base))


def repoint_event_streams(
    client: Client, store: BackupStore, account_sid: str, public_base: str
) -> list[str]:
    """Move the monitor's Event Streams sink (if it made one) to a new public URL."""
    return event_streams_setup.repoint(client, store, account_sid, validate_public_base(public_base))


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
        if kind == event_streams_setup.KIND_EVENT_STREAM:  # a sink + subscription we created: delete them
            report += event_streams_setup.restore(client, store, backup)
            continue
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
        "channel": channel_of(m.from_, m.to, sid=str(m.sid), num_media=num_media),
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
        raise SetupError(CODE_ADVICE[21603], code=21603)
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


# Includes the names re-exported from twilio_client that callers reach as ``twilio_setup.X``.
__all__ = [
    "API_BASE_ENV",
    "AccountInfo",
    "ApplyResult",
    "BackupStore",
    "Change",
    "Credentials",
    "NumberTarget",
    "SandboxInfo",
    "ServiceTarget",
    "SetupError",
    "Targets",
    "apply_plan",
    "desired_values",
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
