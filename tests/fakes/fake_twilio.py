"""A fake of the parts of Twilio's REST API the app uses, plus Twilio's side of status callbacks.

Why a real HTTP server rather than mocks: the wizard code must work with the *real* twilio-python
client (paging, form encoding of ``None``/empty values, error parsing into ``TwilioRestException``).
``receiver.twilio_client.make_client(creds, api_base=fake.base_url)`` rewrites every request the client
makes (api.twilio.com, messaging.twilio.com) to this server, keeping the path.

Shapes follow the OpenAPI specs in ``/work/shared/reference`` (twilio_api_v2010.json and
twilio_messaging_v1.json): the 2010 API pages with ``first_page_uri``/``next_page_uri`` envelopes and
RFC 2822 dates, messaging v1 pages with a ``meta`` object and ISO dates, errors as
``{"code", "message", "more_info", "status"}``. Empty service URLs are ``null`` (as Twilio returns them),
empty number URLs are ``""`` (as in the spec's examples).

What tests get:

* ``state`` to seed numbers/services (``add_number``, ``add_service``, ``add_number_to_service``);
* ``changes``: every successful state change as ``(method, path, form)``; ``requests``: every request;
* ``fail_next(path_regex, status, code, message)``: the next matching request gets a Twilio error;
* ``deliver(sid, statuses, via=...)``: act as Twilio and POST signed status callbacks for a message.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from . import twilio_http
from .fake_events import EventStreams

MESSAGING_ORIGIN = "https://messaging.twilio.com"
MONITOR_ORIGIN = "https://monitor.twilio.com"
SANDBOX_WHATSAPP_FROM = "whatsapp:+14155238886"

# Form parameter -> resource field, for the fields an update may set.
NUMBER_UPDATE_FIELDS = {
    "FriendlyName": "friendly_name",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsFallbackMethod": "sms_fallback_method",
    "SmsApplicationSid": "sms_application_sid",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
}
SERVICE_UPDATE_FIELDS = {
    "FriendlyName": "friendly_name",
    "InboundRequestUrl": "inbound_request_url",
    "InboundMethod": "inbound_method",
    "FallbackUrl": "fallback_url",
    "FallbackMethod": "fallback_method",
    "StatusCallback": "status_callback",
    "UseInboundWebhookOnNumber": "use_inbound_webhook_on_number",
    "StickySender": "sticky_sender",
}
SERVICE_URL_FIELDS = {"inbound_request_url", "fallback_url", "status_callback"}
BOOL_FIELDS = {"use_inbound_webhook_on_number", "sticky_sender"}


def new_sid(prefix: str) -> str:
    """A SID in Twilio's format: two-letter prefix + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822_now() -> str:
    return format_datetime(datetime.now(UTC).replace(microsecond=0))


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeApiError(Exception):
    """Raised by a route to answer with a Twilio error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class InjectedFailure:
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    method: str | None
    remaining: int
    retry_after: str | None = None  # a Retry-After header on the error answer (429s)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    http_status: int
    auth_user: str | None


@dataclass
class Delivery:
    """One status callback the fake posted, as Twilio would have sent it."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]
    http_status: int
    response_body: bytes


@dataclass
class FakeState:
    """What the fake account holds. Tests may edit these dicts directly (under ``fake.lock``)."""

    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_numbers: dict[str, list[str]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Not part of the Message resource Twilio returns, but Twilio remembers it for callbacks.
    message_callbacks: dict[str, str | None] = field(default_factory=dict)
    # Monitor alerts, oldest first; each holds the single-fetch fields (request_variables …) too
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)


class _Form(dict[str, str]):
    """First values, plus ``lists``: every value (Events v1 repeats ``Types``)."""

    def __init__(self, lists: dict[str, list[str]]) -> None:
        super().__init__({k: v[0] for k, v in lists.items()})
        self.lists = lists


def _first_values(raw: str) -> dict[str, str]:
    """Form/query string -> dict of first values, keeping blank values (``SmsFallbackUrl=`` clears)."""
    return _Form(parse_qs(raw, keep_blank_values=True))


def _parse_when(text: str) -> datetime:
    """A filter date as Twilio accepts it: YYYY-MM-DD or ISO 8601 with a time (UTC when no zone)."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _parse_bool(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


class FakeTwilio:
    """Threaded HTTP server answering Twilio REST calls for one account."""

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        friendly_name: str = "Fake Account",
    ) -> None:
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.friendly_name = friendly_name
        self.api_key_sid = new_sid("SK")
        self.api_key_secret = secrets.token_urlsafe(24)[:32]
        self.api_keys: dict[str, str] = {self.api_key_sid: self.api_key_secret}
        self.state = FakeState()
        self.changes: list[tuple[str, str, dict[str, str]]] = []
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[Delivery] = []
        self.lock = threading.RLock()
        self._failures: list[InjectedFailure] = []
        self.events = EventStreams(self)  # Events v1 and Event Streams delivery (fake_events.py)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeTwilio:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeTwilio not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ seeding
    def add_number(self, phone_number: str, **fields: Any) -> dict[str, Any]:
        """Add an IncomingPhoneNumber; ``fields`` override defaults (e.g. ``sms_url=...``)."""
        sid = fields.pop("sid", None) or new_sid("PN")
        now = rfc2822_now()
        number: dict[str, Any] = {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": "2010-04-01",
            "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "date_created": now,
            "date_updated": now,
            "emergency_status": "Inactive",
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "friendly_name": phone_number,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": phone_number,
            "sid": sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": "",
            "status_callback": "",
            "status_callback_method": "POST",
            "trunk_sid": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}.json",
            "voice_application_sid": "",
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": None,
            "voice_method": "POST",
            "voice_url": None,
            "bundle_sid": None,
            "voice_receive_mode": "voice",
            "status": "in-use",
            "type": "local",
        }
        number.update(fields)
        with self.lock:
            self.state.numbers[sid] = number
        return number

    def add_service(self, friendly_name: str, **fields: Any) -> dict[str, Any]:
        """Add a Messaging Service; ``fields`` override defaults (e.g. ``status_callback=...``)."""
        sid = fields.pop("sid", None) or new_sid("MG")
        now = iso_now()
        url = f"{MESSAGING_ORIGIN}/v1/Services/{sid}"
        service: dict[str, Any] = {
            "account_sid": self.account_sid,
            "friendly_name": friendly_name,
            "sid": sid,
            "date_created": now,
            "date_updated": now,
            "sticky_sender": True,
            "mms_converter": True,
            "smart_encoding": True,
            "fallback_to_long_code": True,
            "area_code_geomatch": True,
            "validity_period": 14400,
            "scan_message_content": "inherit",
            "synchronous_validation": True,
            "inbound_request_url": None,
            "inbound_method": "POST",
            "fallback_url": None,
            "fallback_method": "POST",
            "status_callback": None,
            "usecase": "undeclared",
            "us_app_to_person_registered": False,
            "use_inbound_webhook_on_number": False,
            "links": {
                "phone_numbers": f"{url}/PhoneNumbers",
                "short_codes": f"{url}/ShortCodes",
                "alpha_senders": f"{url}/AlphaSenders",
                "messages": f"{url}/Messages",
                "channel_senders": f"{url}/ChannelSenders",
            },
            "url": url,
        }
        service.update(fields)
        with self.lock:
            self.state.services[sid] = service
            self.state.service_numbers.setdefault(sid, [])
        return service

    def add_number_to_service(self, service_sid: str, number_sid: str) -> None:
        with self.lock:
            members = self.state.service_numbers.setdefault(service_sid, [])
            if number_sid not in members:
                members.append(number_sid)

    # ------------------------------------------------------------------ failures
    def fail_next(
        self,
        path_regex: str,
        status: int = 500,
        code: int | None = None,
        message: str = "Internal Server Error",
        *,
        method: str | None = None,
        times: int = 1,
        retry_after: str | None = None,
    ) -> None:
        """The next ``times`` requests whose path matches (``re.search``) get this error instead."""
        with self.lock:
            self._failures.append(
                InjectedFailure(
                    re.compile(path_regex),
                    status,
                    code or status,
                    message,
                    method and method.upper(),
                    times,
                    retry_after,
                )
            )

    def _take_failure(self, method: str, path: str) -> InjectedFailure | None:
        with self.lock:
            for failure in self._failures:
                if failure.method not in (None, method) or not failure.pattern.search(path):
                    continue
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    # ------------------------------------------------------------------ auth
    def _authenticate(self, header: str | None) -> str | None:
        """Return the Basic-auth username when it is the account SID + token or an API key + secret."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if user == self.account_sid and password == self.auth_token:
            return user
        if user in self.api_keys and password == self.api_keys[user]:
            return user
        return None

    # ------------------------------------------------------------------ routing
    def handle(self, method: str, path: str, query: dict[str, str], form: dict[str, str]) -> dict[str, Any]:
        """Dispatch one authenticated request; returns the JSON body (raises FakeApiError)."""
        acct = re.escape(self.account_sid)
        routes: list[tuple[str, str, Callable[..., dict[str, Any]]]] = [
            ("GET", r"/2010-04-01/Accounts/(AC\w+)\.json", self._get_account),
            ("GET", rf"/2010-04-01/Accounts/{acct}/IncomingPhoneNumbers\.json", self._list_numbers),
            ("GET", rf"/2010-04-01/Accounts/{acct}/IncomingPhoneNumbers/(PN\w+)\.json", self._get_number),
            ("POST", rf"/2010-04-01/Accounts/{acct}/IncomingPhoneNumbers/(PN\w+)\.json", self._update_number),
            ("GET", rf"/2010-04-01/Accounts/{acct}/Messages\.json", self._list_messages),
            ("POST", rf"/2010-04-01/Accounts/{acct}/Messages\.json", self._create_message),
            ("GET", rf"/2010-04-01/Accounts/{acct}/Messages/((?:SM|MM)\w+)\.json", self._get_message),
            ("POST", rf"/2010-04-01/Accounts/{acct}/Messages/((?:SM|MM)\w+)\.json", self._update_message),
            ("GET", r"/v1/Alerts", self._list_alerts),
            ("GET", r"/v1/Alerts/(NO\w+)", self._get_alert),
            ("GET", r"/v1/Services", self._list_services),
            ("GET", r"/v1/Services/(MG\w+)", self._get_service),
            ("POST", r"/v1/Services/(MG\w+)", self._update_service),
            ("GET", r"/v1/Services/(MG\w+)/PhoneNumbers", self._list_service_numbers),
            ("POST", r"/v1/Services/(MG\w+)/PhoneNumbers", self._add_service_number),
            *self.events.routes(),
        ]
        for route_method, pattern, func in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                with self.lock:
                    return func(*match.groups(), query=query, form=form, path=path)
        raise FakeApiError(404, 20404, f"The requested resource {path} was not found")

    # 2010 API -------------------------------------------------------------
    def _page_2010(
        self, key: str, path: str, items: list[dict[str, Any]], query: dict[str, str]
    ) -> dict[str, Any]:
        page_size = max(1, min(1000, int(query.get("PageSize", "50"))))
        page = int(query.get("Page", "0"))
        chunk = items[page * page_size : (page + 1) * page_size]
        filters = {k: v for k, v in query.items() if k not in ("PageSize", "Page", "PageToken")}

        def uri(p: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': page_size, 'Page': p})}"

        has_next = (page + 1) * page_size < len(items)
        return {
            key: chunk,
            "end": page * page_size + max(len(chunk) - 1, 0),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": page * page_size,
            "uri": uri(page),
        }

    def _get_account(self, sid: str, **_: Any) -> dict[str, Any]:
        if sid != self.account_sid:
            raise FakeApiError(
                404, 20404, f"The requested resource /2010-04-01/Accounts/{sid}.json was not found"
            )
        base = f"/2010-04-01/Accounts/{sid}"
        return {
            "auth_token": self.auth_token,
            "date_created": "Thu, 30 Jul 2015 20:00:00 +0000",
            "date_updated": "Thu, 30 Jul 2015 20:00:00 +0000",
            "friendly_name": self.friendly_name,
            "owner_account_sid": sid,
            "sid": sid,
            "status": "active",
            "subresource_uris": {
                "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
                "messages": f"{base}/Messages.json",
            },
            "type": "Full",
            "uri": f"{base}.json",
        }

    def _number(self, sid: str) -> dict[str, Any]:
        if sid not in self.state.numbers:
            raise FakeApiError(404, 20404, f"The requested resource IncomingPhoneNumbers/{sid} was not found")
        return self.state.numbers[sid]

    def _list_numbers(self, *, query: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        numbers = list(self.state.numbers.values())
        if "PhoneNumber" in query:
            numbers = [n for n in numbers if query["PhoneNumber"] in n["phone_number"]]
        if "FriendlyName" in query:
            numbers = [n for n in numbers if n["friendly_name"] == query["FriendlyName"]]
        return self._page_2010("incoming_phone_numbers", path, numbers, query)

    def _get_number(self, sid: str, **_: Any) -> dict[str, Any]:
        return self._number(sid)

    def _update_number(self, sid: str, *, form: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        number = self._number(sid)
        for param, value in form.items():
            if param in NUMBER_UPDATE_FIELDS:
                number[NUMBER_UPDATE_FIELDS[param]] = value
        number["date_updated"] = rfc2822_now()
        self.changes.append(("POST", path, dict(form)))
        return number

    def _message(self, sid: str) -> dict[str, Any]:
        if sid not in self.state.messages:
            raise FakeApiError(404, 20404, f"The requested resource Messages/{sid} was not found")
        return self.state.messages[sid]

    def _list_messages(self, *, query: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        messages = list(reversed(self.state.messages.values()))  # newest first, as Twilio lists them
        if "To" in query:
            messages = [m for m in messages if m["to"] == query["To"]]
        if "From" in query:
            messages = [m for m in messages if m["from"] == query["From"]]
        if "DateSent>" in query:  # on or after that day or instant (twilio-python sends ISO 8601)
            after = _parse_when(query["DateSent>"])
            messages = [
                m for m in messages if m["date_sent"] and parsedate_to_datetime(m["date_sent"]) >= after
            ]
        return self._page_2010("messages", path, messages, query)

    def add_message(self, **fields: Any) -> dict[str, Any]:
        """Seed a Message resource as the 2010 API returns it (``date_sent`` a datetime or RFC 2822)."""
        sid = fields.pop("sid", None) or new_sid("SM")
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        sent = fields.pop("date_sent", datetime.now(UTC))
        if isinstance(sent, datetime):
            sent = format_datetime(sent.astimezone(UTC).replace(microsecond=0))
        message: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": "hello",
            "date_created": sent,
            "date_sent": sent,
            "date_updated": sent,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": "+15005550006",
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "messaging_service_sid": None,
            "sid": sid,
            "status": "delivered",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": "+14155550100",
            "uri": f"{base}.json",
            **fields,
        }
        with self.lock:
            self.state.messages[sid] = message
        return message

    def set_message(self, sid: str, **fields: Any) -> None:
        """Twilio's side moves on (a status, a price that appears minutes after the final status)."""
        with self.lock:
            self.state.messages[sid].update(fields, date_updated=rfc2822_now())

    def _get_message(self, sid: str, **_: Any) -> dict[str, Any]:
        return self._message(sid)

    def _update_message(self, sid: str, *, form: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        message = self._message(sid)
        if "Body" in form:
            message["body"] = form["Body"]
        if "Status" in form:
            message["status"] = form["Status"]
        message["date_updated"] = rfc2822_now()
        self.changes.append(("POST", path, dict(form)))
        return message

    def _create_message(self, *, form: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        to = form.get("To", "")
        if not to:
            raise FakeApiError(400, 21604, "A 'To' phone number is required.")
        if not re.fullmatch(r"(?:whatsapp:|messenger:)?\+[1-9]\d{6,14}", to):
            raise FakeApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            raise FakeApiError(400, 21602, "Message body is required.")
        service_sid = form.get("MessagingServiceSid") or None
        from_ = form.get("From") or None
        if not (service_sid or from_):
            raise FakeApiError(
                400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"
            )
        if service_sid and service_sid not in self.state.services:
            raise FakeApiError(400, 21701, f"The Messaging Service Sid {service_sid} is invalid.")
        callback = form.get("StatusCallback") or None
        if callback and "_" in (urlsplit(callback).hostname or "_"):
            raise FakeApiError(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        prefix = "MM" if form.get("MediaUrl") else "SM"
        sid = new_sid(prefix)
        now = rfc2822_now()
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        message: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "num_media": "1" if form.get("MediaUrl") else "0",
            "num_segments": "0" if service_sid else "1",
            "price": None,
            "price_unit": "USD",
            "messaging_service_sid": service_sid,
            "sid": sid,
            "status": "accepted" if service_sid else "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": to,
            "uri": f"{base}.json",
        }
        self.state.messages[sid] = message
        self.state.message_callbacks[sid] = callback
        self.changes.append(("POST", path, dict(form)))
        return message

    # monitor v1 ------------------------------------------------------------
    _ALERT_DETAIL_FIELDS = ("request_variables", "response_body", "response_headers", "request_headers")

    def add_alert(self, error_code: str | int, **fields: Any) -> dict[str, Any]:
        """Seed a Monitor alert; the single-fetch fields (request_variables, response_body …) are kept
        but left out of the list, as Twilio does."""
        sid = fields.pop("sid", None) or new_sid("NO")
        created = fields.pop("date_created", datetime.now(UTC))
        if isinstance(created, datetime):
            created = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        alert: dict[str, Any] = {
            "account_sid": self.account_sid,
            "alert_text": f"Msg=Twilio was unable to fetch content&errorCode={error_code}",
            "api_version": "2010-04-01",
            "date_created": created,
            "date_generated": created,
            "date_updated": created,
            "error_code": str(error_code),
            "log_level": "error",
            "more_info": f"https://www.twilio.com/docs/errors/{error_code}",
            "request_method": "POST",
            "request_url": None,
            "request_variables": None,
            "resource_sid": None,
            "response_body": None,
            "response_headers": None,
            "request_headers": None,
            "sid": sid,
            "url": f"{MONITOR_ORIGIN}/v1/Alerts/{sid}",
            "service_sid": None,
            **fields,
        }
        with self.lock:
            self.state.alerts[sid] = alert
        return alert

    def _list_alerts(self, *, query: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        alerts = list(reversed(self.state.alerts.values()))  # newest first
        if "StartDate" in query:
            start = _parse_when(query["StartDate"])
            alerts = [a for a in alerts if _parse_when(a["date_created"]) >= start]
        listed = [{k: v for k, v in a.items() if k not in self._ALERT_DETAIL_FIELDS} for a in alerts]
        return self._page_v1("alerts", path, listed, query, origin=MONITOR_ORIGIN)

    def _get_alert(self, sid: str, **_: Any) -> dict[str, Any]:
        if sid not in self.state.alerts:
            raise FakeApiError(404, 20404, f"The requested resource /v1/Alerts/{sid} was not found")
        return self.state.alerts[sid]

    # messaging v1 ----------------------------------------------------------
    def _page_v1(
        self,
        key: str,
        path: str,
        items: list[dict[str, Any]],
        query: dict[str, str],
        origin: str = MESSAGING_ORIGIN,
    ) -> dict[str, Any]:
        """A page in the v1 APIs' ``meta`` envelope (Messaging, Events, Monitor), links on ``origin``."""
        page_size = max(1, min(1000, int(query.get("PageSize", "50"))))
        page = int(query.get("Page", "0"))
        chunk = items[page * page_size : (page + 1) * page_size]

        def url(p: int) -> str:
            return f"{origin}{path}?PageSize={page_size}&Page={p}"

        has_next = (page + 1) * page_size < len(items)
        return {
            "meta": {
                "page": page,
                "page_size": page_size,
                "first_page_url": url(0),
                "previous_page_url": url(page - 1) if page > 0 else None,
                "next_page_url": url(page + 1) if has_next else None,
                "key": key,
                "url": url(page),
            },
            key: chunk,
        }

    def _service(self, sid: str) -> dict[str, Any]:
        if sid not in self.state.services:
            raise FakeApiError(404, 20404, f"The requested resource /Services/{sid} was not found")
        return self.state.services[sid]

    def _list_services(self, *, query: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        return self._page_v1("services", path, list(self.state.services.values()), query)

    def _get_service(self, sid: str, **_: Any) -> dict[str, Any]:
        return self._service(sid)

    def _update_service(self, sid: str, *, form: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        service = self._service(sid)
        for param, value in form.items():
            name = SERVICE_UPDATE_FIELDS.get(param)
            if name is None:
                continue
            if name in BOOL_FIELDS:
                service[name] = _parse_bool(value)
            elif name in SERVICE_URL_FIELDS:
                service[name] = value or None  # Twilio stores a cleared URL as null
            else:
                service[name] = value
        service["date_updated"] = iso_now()
        self.changes.append(("POST", path, dict(form)))
        return service

    def _service_number(self, service_sid: str, number_sid: str) -> dict[str, Any]:
        number = self.state.numbers.get(number_sid, {})
        return {
            "account_sid": self.account_sid,
            "service_sid": service_sid,
            "sid": number_sid,
            "date_created": iso_now(),
            "date_updated": iso_now(),
            "phone_number": number.get("phone_number"),
            "country_code": "US",
            "capabilities": ["SMS", "MMS", "Voice"],
            "url": f"{MESSAGING_ORIGIN}/v1/Services/{service_sid}/PhoneNumbers/{number_sid}",
        }

    def _list_service_numbers(
        self, sid: str, *, query: dict[str, str], path: str, **_: Any
    ) -> dict[str, Any]:
        self._service(sid)
        items = [self._service_number(sid, pn) for pn in self.state.service_numbers.get(sid, [])]
        return self._page_v1("phone_numbers", path, items, query)

    def _add_service_number(self, sid: str, *, form: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        self._service(sid)
        number_sid = form.get("PhoneNumberSid", "")
        self._number(number_sid)
        for members in self.state.service_numbers.values():
            if number_sid in members:
                raise FakeApiError(409, 21710, "Phone Number is already in a Messaging Service")
        self.state.service_numbers.setdefault(sid, []).append(number_sid)
        self.changes.append(("POST", path, dict(form)))
        return self._service_number(sid, number_sid)

    # ------------------------------------------------------------------ acting as Twilio
    def callback_url_for(self, sid: str) -> str | None:
        """Where Twilio would send status callbacks: per-message URL, else the service's
        (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status)."""
        with self.lock:
            message = self._message(sid)
            url = self.state.message_callbacks.get(sid)
            if not url and message["messaging_service_sid"]:
                url = self.state.services[message["messaging_service_sid"]].get("status_callback")
            return url or None

    def status_params(self, sid: str, status: str, error_code: int | None = None) -> dict[str, str]:
        """The form fields of a status callback for ``sid`` at ``status`` (shapes from
        https://www.twilio.com/docs/messaging/guides/track-outbound-message-status)."""
        with self.lock:
            message = self._message(sid)
            from_ = message["from"] or self._service_sender(message["messaging_service_sid"], message["to"])
            message["from"] = from_
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": from_,
            "To": message["to"],
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if message["messaging_service_sid"]:
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if message["to"].startswith("whatsapp:"):
            params.update(
                ChannelPrefix="whatsapp",
                ChannelToAddress=message["to"].removeprefix("whatsapp:"),
                ChannelInstallSid="XE" + "0" * 32,
                StructuredMessage="false",
            )
            if status == "read":
                params["EventType"] = "READ"
        elif status in ("delivered", "undelivered"):
            params["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
        if status in ("failed", "undelivered"):
            params["ErrorCode"] = str(error_code or 30003)
        return params

    def _service_sender(self, service_sid: str | None, to: str) -> str:
        if to.startswith("whatsapp:"):
            return SANDBOX_WHATSAPP_FROM
        members = self.state.service_numbers.get(service_sid or "", [])
        if members and members[0] in self.state.numbers:
            return str(self.state.numbers[members[0]]["phone_number"])
        return "+15005550006"

    def deliver(
        self,
        sid: str,
        statuses: Sequence[str] = ("sent", "delivered"),
        via: twilio_http.Via = None,
        *,
        error_code: int | None = None,
        url: str | None = None,
        timeout: float = 5.0,
    ) -> list[Delivery]:
        """POST one signed status callback per status to the message's StatusCallback URL.

        ``via`` decides where the bytes go: a ``resolve(url) -> (host, port)`` callable or a
        ``"host:port"``/``"http://host:port"`` string (a stand-in tunnel), else the URL's own host. The
        request keeps the public URL's path/query and Host header, and is signed over the public URL
        minus any ``#…`` connection-override fragment, exactly as Twilio signs it. The message's
        status in ``state`` follows, so a later fetch agrees with the callbacks.
        """
        target_url = url or self.callback_url_for(sid)
        if not target_url:
            raise ValueError(f"message {sid} has no status callback URL (per message or service)")
        results = []
        for status in statuses:
            params = self.status_params(sid, status, error_code)
            with self.lock:
                message = self.state.messages[sid]
                message["status"] = status
                if status in ("failed", "undelivered"):
                    message["error_code"] = error_code or 30003
                if status in ("sent", "delivered", "undelivered", "read"):
                    message["price"] = "-0.00790"
                    message["date_sent"] = message["date_sent"] or rfc2822_now()
            results.append(self.post_callback(target_url, params, via=via, timeout=timeout))
        return results

    def post_callback(
        self,
        url: str,
        params: dict[str, str],
        via: twilio_http.Via = None,
        *,
        idempotency_token: str | None = None,
        signature: str | None = None,
        timeout: float = 5.0,
    ) -> Delivery:
        """Send one form-encoded webhook like Twilio does (also usable for inbound-message webhooks).

        Pass the ``idempotency_token`` of an earlier delivery to simulate a Twilio retry, or a
        ``signature`` to send a deliberately wrong one.
        """
        signed_url = url.split("#", 1)[0]
        sig = signature or twilio_http.signature(self.auth_token, signed_url, params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": idempotency_token or secrets.token_hex(16),
            "X-Home-Region": "us1",
        }
        answer = twilio_http.post(
            signed_url, urlencode(params).encode(), headers, sig=sig, via=via, timeout=timeout
        )
        delivery = Delivery(url, params, answer.headers, answer.http_status, answer.body)
        with self.lock:
            self.deliveries.append(delivery)
        return delivery


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTwilio

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = _first_values(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        form = _first_values(self.rfile.read(length).decode()) if length else {}
        user = self.fake._authenticate(self.headers.get("Authorization"))
        status, payload = 200, {}
        retry_after: str | None = None
        try:
            if user is None:
                raise FakeApiError(401, 20003, "Authenticate")
            failure = self.fake._take_failure(method, parts.path)
            if failure is not None:
                retry_after = failure.retry_after
                raise FakeApiError(failure.status, failure.code, failure.message)
            payload = self.fake.handle(method, parts.path, query, form)
            created = ("/Messages.json", "/PhoneNumbers", "/Sinks", "/Subscriptions")
            if method == "POST" and parts.path.endswith(created):
                status = 201
            if method == "DELETE":
                status = 204
        except FakeApiError as exc:
            status, payload = exc.status, error_body(exc.status, exc.code, exc.message)
        with self.fake.lock:
            self.fake.requests.append(RecordedRequest(method, parts.path, query, form, status, user))
        body = b"" if status == 204 else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(body)


@dataclass
class SinkRequest:
    method: str
    path: str  # raw request target, with the query string
    headers: dict[str, str]
    form: dict[str, str]


class CallbackSink:
    """A tiny webhook receiver that records what arrives and answers 204 (a stand-in receiving end).

    It does no validation itself, so tests check signatures with ``RequestValidator`` explicitly.
    """

    def __init__(self) -> None:
        self.received: list[SinkRequest] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = _first_values(self.rfile.read(length).decode())
                sink.received.append(SinkRequest("POST", self.path, dict(self.headers.items()), form))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="callback-sink",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def resolve(self, url: str) -> tuple[str, int]:
        """Usable as ``deliver(..., via=sink.resolve)``: every public URL lands here."""
        return "127.0.0.1", self.port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A started FakeTwilio for one test, stopped afterwards."""
    fake = FakeTwilio().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def callback_sink() -> Iterator[CallbackSink]:
    """A started CallbackSink for one test, closed afterwards."""
    sink = CallbackSink()
    try:
        yield sink
    finally:
        sink.close()
