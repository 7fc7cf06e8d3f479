"""Twilio Event Streams: message events delivered to a webhook sink, parsed into the store's callbacks.

Why a second channel: Twilio never re-sends a status callback, while Event Streams retries a delivery for
up to four hours (exponential backoff with jitter) — a laptop that slept still gets its ``delivered``.
The price is *at-least-once*: an event may arrive twice and in any order
(https://www.twilio.com/docs/events/event-delivery-and-duplication).

Wire format (Twilio's "Webhook Quickstart" and the Messaging event-type pages,
https://www.twilio.com/docs/events/webhook-quickstart, …/events/event-types/messaging/outbound-message):
a POST whose body is a JSON **array of CloudEvents** (``specversion``, ``type``, ``source``, ``id``,
``dataschema``, ``datacontenttype``, ``time``, ``data``). Outbound message events have types
``com.twilio.messaging.message.<status>`` and ``data`` with ``messageSid``, ``accountSid``, ``from``,
``to``, ``messageStatus`` (QUEUED, SENT, DELIVERED, UNDELIVERED, FAILED, READ), ``errorCode``,
``messagingServiceSid``, ``body``, ``numberOfSegments``, ``rawDlrDoneDate`` …

Signature: ``X-Twilio-Signature``, computed like every Twilio JSON webhook
(https://www.twilio.com/docs/usage/webhooks/webhooks-security#validating-signatures-from-twilio): the
sink URL carries ``?bodySHA256=<hex SHA-256 of the raw body>`` and the HMAC-SHA1 (auth token) is over that
URL with no parameters — Twilio's "How to Validate Twilio Event Streams Webhooks" guides (Go, Rust: the
signature "in combination with your account's Auth Token, the body of the webhook, and the request URL")
and twilio-python's ``RequestValidator.validate(url, raw_body_str, signature)``, which is what the
receiver runs. Duplicates are recognised by the CloudEvent ``id`` (Twilio: "deduplicate by id"), stored in
``events.cloudevent_id`` (m011, unique).

Qt-free and I/O-free: ``parse_batch`` turns a body into ``(Callback, cloudevent id)`` pairs or raises
``BatchError`` (answered 400 — a malformed batch is not retried into success by Twilio either).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .callbacks import MESSAGE_SID_RE, STATUS_RE, Callback

MESSAGE_TYPE_PREFIX = "com.twilio.messaging.message."
#: The outbound message events the wizard subscribes to: each is one of the store's statuses.
MESSAGE_EVENT_STATUSES = ("queued", "sent", "delivered", "undelivered", "failed", "read")
MESSAGE_EVENT_TYPES = tuple(MESSAGE_TYPE_PREFIX + s for s in MESSAGE_EVENT_STATUSES)
#: At most this many CloudEvents in one request (the body limit bounds it too); the sink is created with
#: ``batch_events`` off, so Twilio sends one event per request and a batch of several is a test or a
#: future change of that setting.
MAX_EVENTS = 500
MAX_ID = 200  # CloudEvent ids Twilio sends are 34-character SIDs; anything longer is not Twilio's


class BatchError(ValueError):
    """The body is not an Event Streams batch this receiver can store (answer 400)."""


@dataclass(frozen=True)
class ParsedBatch:
    """The message events of a batch (with their CloudEvent ids) and how many other events it held."""

    events: tuple[tuple[Callback, str], ...]
    ignored: int  # event types that are not outbound message statuses (kept only in the request log)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _small_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**9 else None
    text = _text(value)
    return int(text) if text and text.isascii() and text.isdigit() and len(text) <= 9 else None


def _channel(from_addr: str | None, to_addr: str | None, sid: str) -> str:
    for addr in (from_addr, to_addr):
        if addr and ":" in addr:
            scheme = addr.split(":", 1)[0].lower()
            if scheme.isalpha():
                return scheme
    return "mms" if sid.startswith("MM") else "sms"


def event_to_callback(event: dict[str, Any]) -> Callback | None:
    """One CloudEvent → the status callback it is equivalent to; None for a type that is not an outbound
    message status (another product's event). Raises BatchError for a message event missing its SID or
    status."""
    etype = _text(event.get("type")) or ""
    if not etype.startswith(MESSAGE_TYPE_PREFIX):
        return None
    data = event.get("data")
    if not isinstance(data, dict):
        raise BatchError(f"event {etype!r} has no data object")
    sid = _text(data.get("messageSid")) or ""
    if not MESSAGE_SID_RE.match(sid):
        raise BatchError(f"event {etype!r}: messageSid {sid[:40]!r} is not a Twilio message SID")
    # the type names the status; messageStatus says the same in capitals (kept in the payload)
    status = etype[len(MESSAGE_TYPE_PREFIX) :].lower()
    if not STATUS_RE.match(status):
        status = (_text(data.get("messageStatus")) or "").lower()
    if not STATUS_RE.match(status):
        raise BatchError(f"event {etype[:80]!r} names no message status")
    from_addr, to_addr = _text(data.get("from")), _text(data.get("to"))
    payload: dict[str, str | list[str]] = {
        str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()
    }
    payload["cloudevent.type"] = etype
    return Callback(
        kind="status",
        sid=sid,
        status=status,
        direction="outbound",
        channel=_channel(from_addr, to_addr, sid),
        from_addr=from_addr,
        to_addr=to_addr,
        body=_text(data.get("body")),
        error_code=_small_int(data.get("errorCode")) or None,
        event_type=etype,
        messaging_service_sid=_text(data.get("messagingServiceSid")),
        account_sid=_text(data.get("accountSid")),
        num_segments=_small_int(data.get("numberOfSegments")),
        raw_dlr_done_date=_text(data.get("rawDlrDoneDate")),
        payload=payload,
    )


def parse_batch(text: str) -> ParsedBatch:
    """The body of an Event Streams delivery → its message events. A body that is one CloudEvent object
    (not an array) is accepted as a batch of one."""
    try:
        data = json.loads(text)
    except ValueError:
        raise BatchError("body is not valid JSON") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise BatchError("body is not a JSON array of CloudEvents")
    if len(data) > MAX_EVENTS:
        raise BatchError(f"{len(data)} events in one request (at most {MAX_EVENTS})")
    events: list[tuple[Callback, str]] = []
    ignored = 0
    seen: set[str] = set()
    for i, event in enumerate(data):
        if not isinstance(event, dict):
            raise BatchError(f"item {i} is not a CloudEvent object")
        ce_id = _text(event.get("id"))
        if ce_id is None or len(ce_id) > MAX_ID:
            raise BatchError(f"item {i} has no usable CloudEvent id")
        cb = event_to_callback(event)
        if cb is None:
            ignored += 1
        elif ce_id not in seen:  # the same event twice in one batch: stored once
            seen.add(ce_id)
            events.append((cb, ce_id))
    return ParsedBatch(tuple(events), ignored)
