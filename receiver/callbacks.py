"""Turning a Twilio webhook form into a ``Callback``: pure functions, no I/O.

Every received field is kept in ``payload`` (fields Twilio adds tomorrow included); the named attributes
are the ones the store indexes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from .channels import channel_of

Kind = Literal["status", "inbound"]
MESSAGE_SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
STATUS_RE = re.compile(r"^[A-Za-z_]{1,40}$")
MAX_MEDIA = 20


class CallbackError(ValueError):
    """The request is well-formed HTTP but not a usable Twilio callback (answer 400)."""


@dataclass(frozen=True)
class Media:
    idx: int
    url: str
    content_type: str | None


@dataclass(frozen=True)
class Callback:
    kind: Kind
    sid: str
    status: str
    direction: str
    channel: str
    from_addr: str | None = None
    to_addr: str | None = None
    body: str | None = None
    error_code: int | None = None
    event_type: str | None = None
    messaging_service_sid: str | None = None
    account_sid: str | None = None
    num_segments: int | None = None
    num_media: int = 0
    profile_name: str | None = None
    channel_status_message: str | None = None
    raw_dlr_done_date: str | None = None
    idempotency_token: str | None = None
    media: tuple[Media, ...] = ()
    payload: dict[str, str | list[str]] = field(default_factory=dict)

    @property
    def event_key(self) -> str:
        """The fallback duplicate key Twilio recommends: SID + status (+ EventType)."""
        return f"{self.sid}|{self.status}|{self.event_type or ''}"


def payload_of(items: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """All fields as a dict; a repeated key keeps every value, as a list."""
    out: dict[str, str | list[str]] = {}
    for key, value in items:
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def _first(payload: dict[str, str | list[str]], *names: str) -> str | None:
    for name in names:
        value = payload.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None and value.strip() != "":
            return value
    return None


#: The indexed number columns hold small counts and Twilio's five-digit error codes; anything longer (a
#: value past SQLite's 64-bit INTEGER, a negative, "1_000", non-ASCII digits) is not one Twilio sends, so
#: the column is left empty and the text stays in ``payload`` as received.
_COUNT_RE = re.compile(r"[0-9]{1,9}")


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    return int(text) if _COUNT_RE.fullmatch(text) else None


def parse(kind: Kind, items: list[tuple[str, str]], idempotency_token: str | None) -> Callback:
    """Build a Callback from the form's items; raises CallbackError with the reason for a 400."""
    payload = payload_of(items)
    sid = _first(payload, "MessageSid", "SmsMessageSid", "SmsSid")
    if sid is None:
        raise CallbackError("missing MessageSid")
    sid = sid.strip()
    if not MESSAGE_SID_RE.match(sid):
        raise CallbackError(f"MessageSid {sid[:40]!r} is not a Twilio message SID")
    if kind == "status":
        status = _first(payload, "MessageStatus", "SmsStatus")
        if status is None:
            raise CallbackError("missing MessageStatus")
    else:
        status = _first(payload, "SmsStatus", "MessageStatus") or "received"
    status = status.strip().lower()
    if not STATUS_RE.match(status):
        raise CallbackError(f"MessageStatus {status[:40]!r} is not a status word")
    num_media = max(0, min(_int(_first(payload, "NumMedia")) or 0, MAX_MEDIA))
    media: list[Media] = []
    for i in range(num_media):
        url = _first(payload, f"MediaUrl{i}")
        if url:
            media.append(Media(i, url, _first(payload, f"MediaContentType{i}")))
    event_type = _first(payload, "EventType")
    token = idempotency_token.strip()[:200] if idempotency_token and idempotency_token.strip() else None
    return Callback(
        kind=kind,
        sid=sid,
        status=status,
        direction="inbound" if kind == "inbound" else "outbound",
        channel=channel_of(
            _first(payload, "From"),
            _first(payload, "To"),
            sid=sid,
            num_media=num_media,
            channel_prefix=_first(payload, "ChannelPrefix"),
        ),
        from_addr=_first(payload, "From"),
        to_addr=_first(payload, "To"),
        body=_first(payload, "Body"),
        error_code=_int(_first(payload, "ErrorCode")) or None,
        event_type=event_type.strip().upper() if event_type else None,
        messaging_service_sid=_first(payload, "MessagingServiceSid"),
        account_sid=_first(payload, "AccountSid"),
        num_segments=_int(_first(payload, "NumSegments")),
        num_media=num_media,
        profile_name=_first(payload, "ProfileName"),
        channel_status_message=_first(payload, "ChannelStatusMessage"),
        raw_dlr_done_date=_first(payload, "RawDlrDoneDate"),
        idempotency_token=token,
        media=tuple(media),
        payload=payload,
    )
