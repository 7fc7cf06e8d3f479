"""Twilio Event Streams in the fake: Events v1 Sinks/Subscriptions, and Twilio's side of a webhook sink.

Shapes follow ``/work/shared/reference/twilio_events_v1.json``: sinks ``DG…`` with ``sink_configuration``
(an object), ``sink_type``, ``status``; subscriptions ``DF…`` with ``sink_sid``; list pages in a ``meta``
envelope (``key`` ``sinks``/``subscriptions``); ISO dates; create answers 201, delete 204. A subscription
needs an active sink (the spec: "Sink must be active for the subscription to be created"); webhook sinks
are active as soon as they exist here.

Delivery (``EventStreams.deliver``) acts as Event Streams does
(https://www.twilio.com/docs/events/event-delivery-and-duplication): a POST of a JSON
array of CloudEvents to the sink's destination with ``?bodySHA256=<hex sha256 of the body>`` appended,
``X-Twilio-Signature`` = HMAC-SHA1 (auth token) of that URL with no parameters — the JSON-webhook scheme
twilio-python's ``RequestValidator`` checks. A non-2xx answer is retried (the real retries spread over
four hours with backoff; here they follow at once, since only the sequence matters), and ``duplicate``
re-sends a batch that was already acknowledged, as at-least-once delivery may.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import twilio_http

if TYPE_CHECKING:
    from .fake_twilio import FakeTwilio

EVENTS_ORIGIN = "https://events.twilio.com"
MESSAGE_TYPE_PREFIX = "com.twilio.messaging.message."
DATASCHEMA = "https://events-schemas.twilio.com/Messaging.MessageStatus/8"


@dataclass
class EventDelivery:
    """One POST the fake made to a sink: the batch, what was signed, and the answer."""

    url: str  # as signed: the destination with bodySHA256
    body: bytes
    headers: dict[str, str]
    http_status: int
    response_body: bytes


@dataclass
class EventsState:
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[EventDelivery] = field(default_factory=list)


def _iso() -> str:
    from .fake_twilio import iso_now

    return iso_now()


def signed_url(destination: str, body: bytes) -> str:
    """The destination with ``bodySHA256`` appended: the URL Twilio signs and requests."""
    digest = hashlib.sha256(body).hexdigest()
    return destination + ("&" if "?" in destination else "?") + f"bodySHA256={digest}"


class EventStreams:
    """The Events v1 part of a ``FakeTwilio`` (``fake.events``)."""

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake
        self.state = EventsState()

    # ------------------------------------------------------------------ REST routes
    def routes(self) -> list[tuple[str, str, Callable[..., dict[str, Any]]]]:
        return [
            ("GET", r"/v1/Sinks", self._list_sinks),
            ("POST", r"/v1/Sinks", self._create_sink),
            ("GET", r"/v1/Sinks/(DG\w+)", self._get_sink),
            ("DELETE", r"/v1/Sinks/(DG\w+)", self._delete_sink),
            ("GET", r"/v1/Subscriptions", self._list_subscriptions),
            ("POST", r"/v1/Subscriptions", self._create_subscription),
            ("GET", r"/v1/Subscriptions/(DF\w+)", self._get_subscription),
            ("DELETE", r"/v1/Subscriptions/(DF\w+)", self._delete_subscription),
        ]

    def _error(self, status: int, code: int, message: str) -> Exception:
        from .fake_twilio import FakeApiError

        return FakeApiError(status, code, message)

    def _page(
        self, key: str, path: str, items: list[dict[str, Any]], query: dict[str, str]
    ) -> dict[str, Any]:
        return self.fake._page_v1(key, path, items, query, origin=EVENTS_ORIGIN)

    def _sink(self, sid: str) -> dict[str, Any]:
        if sid not in self.state.sinks:
            raise self._error(404, 20404, f"The requested resource /v1/Sinks/{sid} was not found")
        return self.state.sinks[sid]

    def _list_sinks(self, *, query: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        return self._page("sinks", path, list(self.state.sinks.values()), query)

    def _get_sink(self, sid: str, **_: Any) -> dict[str, Any]:
        return self._sink(sid)

    def _create_sink(self, *, form: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        missing = [k for k in ("Description", "SinkConfiguration", "SinkType") if not form.get(k)]
        if missing:
            raise self._error(400, 20001, f"Missing required parameter {missing[0]} in the post body")
        try:
            config = json.loads(form["SinkConfiguration"])
        except ValueError:
            raise self._error(400, 20001, "SinkConfiguration is not valid JSON") from None
        if form["SinkType"] == "webhook":
            dest = str(config.get("destination") or "")
            if urlsplit(dest).scheme not in ("http", "https") or str(
                config.get("method", "")
            ).upper() not in (
                "POST",
                "GET",
            ):
                raise self._error(
                    400, 20001, "Invalid sink configuration: destination and method are required"
                )
        sid = "DG" + secrets.token_hex(16)
        now = _iso()
        sink = {
            "date_created": now,
            "date_updated": now,
            "description": form["Description"],
            "sid": sid,
            "sink_configuration": config,
            "sink_type": form["SinkType"],
            "status": "active" if form["SinkType"] == "webhook" else "initialized",
            "url": f"{EVENTS_ORIGIN}/v1/Sinks/{sid}",
            "links": {
                "sink_test": f"{EVENTS_ORIGIN}/v1/Sinks/{sid}/Test",
                "sink_validate": f"{EVENTS_ORIGIN}/v1/Sinks/{sid}/Validate",
            },
        }
        self.state.sinks[sid] = sink
        self.fake.changes.append(("POST", path, dict(form)))
        return sink

    def _delete_sink(self, sid: str, *, path: str, **_: Any) -> dict[str, Any]:
        self._sink(sid)
        if any(s["sink_sid"] == sid for s in self.state.subscriptions.values()):
            raise self._error(400, 20001, "Sink is in use by a subscription: delete the subscription first")
        del self.state.sinks[sid]
        self.fake.changes.append(("DELETE", path, {}))
        return {}

    def _subscription(self, sid: str) -> dict[str, Any]:
        if sid not in self.state.subscriptions:
            raise self._error(404, 20404, f"The requested resource /v1/Subscriptions/{sid} was not found")
        return self.state.subscriptions[sid]

    def _list_subscriptions(self, *, query: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        items = [
            s
            for s in self.state.subscriptions.values()
            if not query.get("SinkSid") or s["sink_sid"] == query["SinkSid"]
        ]
        return self._page("subscriptions", path, items, query)

    def _get_subscription(self, sid: str, **_: Any) -> dict[str, Any]:
        return self._subscription(sid)

    def _create_subscription(self, *, form: dict[str, str], path: str, **_: Any) -> dict[str, Any]:
        types_raw = getattr(form, "lists", {}).get("Types", [])
        if not form.get("Description") or not form.get("SinkSid") or not types_raw:
            raise self._error(400, 20001, "Description, SinkSid and Types are required")
        sink = self._sink(form["SinkSid"])
        if sink["status"] != "active":
            raise self._error(400, 20001, "Sink must be active for the subscription to be created")
        try:
            types = [json.loads(t) for t in types_raw]
        except ValueError:
            raise self._error(400, 20001, "Types must be JSON objects") from None
        if not all(isinstance(t, dict) and str(t.get("type", "")).startswith("com.twilio.") for t in types):
            raise self._error(400, 20001, "Each of Types needs a 'type'")
        sid = "DF" + secrets.token_hex(16)
        now = _iso()
        sub = {
            "account_sid": self.fake.account_sid,
            "sid": sid,
            "date_created": now,
            "date_updated": now,
            "description": form["Description"],
            "sink_sid": form["SinkSid"],
            "url": f"{EVENTS_ORIGIN}/v1/Subscriptions/{sid}",
            "links": {"subscribed_events": f"{EVENTS_ORIGIN}/v1/Subscriptions/{sid}/SubscribedEvents"},
            "types": [str(t["type"]) for t in types],  # not in the resource; kept for tests to read
        }
        self.state.subscriptions[sid] = sub
        self.fake.changes.append(("POST", path, dict(form)))
        return {k: v for k, v in sub.items() if k != "types"}

    def _delete_subscription(self, sid: str, *, path: str, **_: Any) -> dict[str, Any]:
        self._subscription(sid)
        del self.state.subscriptions[sid]
        self.fake.changes.append(("DELETE", path, {}))
        return {}

    # ------------------------------------------------------------------ acting as Event Streams
    def cloudevent(self, sid: str, status: str, *, error_code: int | None = None) -> dict[str, Any]:
        """The CloudEvent Twilio sends for message ``sid`` reaching ``status`` (shape from the Messaging
        outbound-message event type page; one fresh ``id`` per event)."""
        fake = self.fake
        with fake.lock:
            message = fake.state.messages[sid]
            from_ = message["from"] or "+15005550006"
        data: dict[str, Any] = {
            "messageSid": sid,
            "timestamp": _iso(),
            "accountSid": fake.account_sid,
            "eventName": MESSAGE_TYPE_PREFIX + status,
            "apiVersion": "2010-04-01",
            "from": from_,
            "to": message["to"],
            "messageStatus": status.upper(),
            "numberOfSegments": 1,
        }
        if message.get("messaging_service_sid"):
            data["messagingServiceSid"] = message["messaging_service_sid"]
        if status in ("failed", "undelivered"):
            data["errorCode"] = error_code or 30003
        return {
            "specversion": "1.0",
            "type": MESSAGE_TYPE_PREFIX + status,
            "source": f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{sid}.json",
            "id": "EZ" + secrets.token_hex(16),
            "dataschema": DATASCHEMA,
            "datacontenttype": "application/json",
            "time": _iso(),
            "data": data,
        }

    def destination(self) -> str:
        """The webhook destination of the (one) webhook sink with a subscription."""
        with self.fake.lock:
            subscribed = {s["sink_sid"] for s in self.state.subscriptions.values()}
            for sid, sink in self.state.sinks.items():
                if sink["sink_type"] == "webhook" and sid in subscribed:
                    return str(sink["sink_configuration"]["destination"])
        raise ValueError("no webhook sink with a subscription")

    def post(
        self,
        events: Sequence[dict[str, Any]],
        *,
        url: str | None = None,
        via: twilio_http.Via = None,
        signature: str | None = None,
        auth_token: str | None = None,
        timeout: float = 5.0,
    ) -> EventDelivery:
        """POST one batch, signed as Twilio signs it (``signature`` overrides it, ``auth_token`` signs with
        another token: both for forged requests)."""
        body = json.dumps(list(events)).encode()
        target_url = signed_url(url or self.destination(), body)
        if signature is None:
            signature = twilio_http.signature(auth_token or self.fake.auth_token, target_url)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Twilio-EventStreams/1.0"}
        answer = twilio_http.post(target_url, body, headers, sig=signature, via=via, timeout=timeout)
        delivery = EventDelivery(target_url, body, answer.headers, answer.http_status, answer.body)
        with self.fake.lock:
            self.state.deliveries.append(delivery)
        return delivery

    def deliver(
        self,
        batches: Sequence[Sequence[dict[str, Any]]],
        *,
        url: str | None = None,
        via: twilio_http.Via = None,
        max_attempts: int = 5,
        duplicate: bool = False,
    ) -> list[EventDelivery]:
        """Deliver each batch at least once: retried (same body, same ids) until a 2xx or ``max_attempts``;
        ``duplicate`` sends each acknowledged batch once more. Every attempt is returned, in order."""
        attempts = []
        for batch in batches:
            for _ in range(max_attempts):
                delivery = self.post(batch, url=url, via=via)
                attempts.append(delivery)
                if 200 <= delivery.http_status < 300:
                    break
            if duplicate and 200 <= attempts[-1].http_status < 300:
                attempts.append(self.post(batch, url=url, via=via))
        return attempts
