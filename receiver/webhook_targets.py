"""The account's webhook targets: its phone numbers and Messaging Services with their current webhook
settings, and where messages and statuses really go given Twilio's precedence rules.

- A number in a Messaging Service gets its incoming messages at the service's inbound URL unless the
  service's "use inbound webhook on number" is on
  (https://www.twilio.com/docs/messaging/services, "Integration": inbound settings).
- A phone number has no SMS status callback of its own (``IncomingPhoneNumber.status_callback`` is the
  voice one): statuses come from the per-message ``StatusCallback`` or the service's
  (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from twilio.rest import Client

from .twilio_client import twilio_call

KIND_NUMBER = "phone_number"
TargetKind = Literal["phone_number", "messaging_service"]

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


def opt_str(value: Any) -> str | None:
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
            sms_url=opt_str(n.sms_url),
            sms_method=opt_str(n.sms_method),
            sms_fallback_url=opt_str(n.sms_fallback_url),
            sms_fallback_method=opt_str(n.sms_fallback_method),
            sms_application_sid=opt_str(n.sms_application_sid),
            service_sid=owner.get(str(n.sid)),
        )
        for n in numbers_raw
    ]
    services = [
        ServiceTarget(
            sid=str(s.sid),
            friendly_name=str(s.friendly_name or ""),
            inbound_request_url=opt_str(s.inbound_request_url),
            inbound_method=opt_str(s.inbound_method),
            fallback_url=opt_str(s.fallback_url),
            fallback_method=opt_str(s.fallback_method),
            status_callback=opt_str(s.status_callback),
            use_inbound_webhook_on_number=bool(s.use_inbound_webhook_on_number),
            number_sids=tuple(members.get(str(s.sid), [])),
        )
        for s in services_raw
    ]
    return Targets(numbers=numbers, services=services)


def warnings(targets: Targets) -> dict[str, list[str]]:
    """Per-SID explanations of where messages and statuses will *really* go (see the module docstring)."""
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
