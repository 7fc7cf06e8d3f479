"""Sending a test message and reading one back, as rows the store records.

The initial status of a new message (queued/accepted) comes only in the create response: Twilio sends no
status callback for it (https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks).
"""

from __future__ import annotations

from typing import Any

from twilio.rest import Client

from .channels import channel_of
from .twilio_client import CODE_ADVICE, SetupError, twilio_call


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
    Twilio never reports by callback."""
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
