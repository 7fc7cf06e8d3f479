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


def request_row(req: RequestRecord, headers: str | None, body: str | None) -> tuple[object, ...]:
    """The values of a ``requests`` row in the columns' order (both stores' INSERT), its latency now."""
    latency = round((time.perf_counter() - req.started) * 1000.0, 3)
    return (
        req.received_at, req.method, req.path, req.query, req.remote_addr, headers, body, req.body_size,
        req.content_type, req.kind, req.outcome, req.http_status, req.reason, latency, req.message_sid,
    )  # fmt: skip


@dataclass
class Outcome:
    request_id: int
    outcome: str  # accepted | duplicate | rejected
    message_sid: str | None
    status: str | None  # the message's current status after this request
    changed: bool
    error_code: int | None = None  # the callback's ErrorCode, for the log line
