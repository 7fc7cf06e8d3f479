"""The values the writer takes and gives back: a request as the log keeps it, and what became of it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class StoreClosed(RuntimeError):
    pass


@dataclass
class RequestRecord:
    """One HTTP request as the request log keeps it."""

    path: str
    kind: str  # status | inbound | other
    method: str = "POST"
    received_at: str = field(default_factory=lambda: utcnow())
    query: str = ""
    remote_addr: str = ""
    headers: str = "{}"
    body: str = ""
    body_size: int = 0
    content_type: str = ""
    started: float = field(default_factory=time.perf_counter)  # at arrival, for latency
    outcome: str = "rejected"
    http_status: int = 0
    reason: str = ""
    message_sid: str | None = None  # on a rejected request: the SID it claims, unverified
    simulated: bool = False  # validated by the public demo token (m008)


@dataclass
class Outcome:
    request_id: int
    outcome: str  # accepted | duplicate | rejected
    message_sid: str | None
    status: str | None  # the message's current status after this request
    changed: bool
    error_code: int | None = None  # the callback's ErrorCode, for the log line
