"""What one request may store in the request log, and how a stored request is read back whole.

Two jobs, both about the ``requests`` row, kept together because one undoes the other:

* **Caps, whoever sent the request.** Path, query, each header, all headers together, the body and the
  few other caller-controlled texts are cut to fixed sizes before the row is written, and a cut value
  says so (``…[cut: 262144 bytes]``). Without them one unsigned request could store ~256 KB, and one
  client grew the database by 82 MB/s.
* **Each fact once.** An accepted callback's fields are already in its event (``events.payload``), and
  its Content-Type, Content-Length and idempotency token in columns. Its row therefore stores no body
  and only the other headers (about 1.9 KB → 1.3 KB per callback at rest, bench/soak.py).
  ``whole_request`` puts them back for the inspector and for replay (``Reader.request_detail``).
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import urlencode

MAX_PATH = 1024  # characters
MAX_QUERY = 2048
MAX_HEADER = 1024  # one header's value
MAX_HEADERS = 8 * 1024  # all headers of a request, as stored (JSON)
MAX_BODY = 8 * 1024  # what is kept of a body (its size is kept in body_size)
MAX_SHORT = 256  # method, remote address, Content-Type
MAX_REASON = 2048
CUT_MARK = "…[cut: {} bytes]"
HEADERS_CUT_KEY = "[cut]"  # names the headers left out when all of them are over MAX_HEADERS

# headers of an accepted callback whose value another column already holds
IMPLIED_HEADERS = ("Content-Type", "Content-Length", "I-Twilio-Idempotency-Token")
_COMPACT = (",", ":")


class _Record(Protocol):
    path: str
    query: str
    method: str
    remote_addr: str
    headers: str
    body: str
    content_type: str
    reason: str


def cut(text: str, limit: int) -> str:
    """``text`` if it fits, else its start and a mark saying how many bytes it had (UTF-8)."""
    if len(text) <= limit:
        return text
    return text[:limit] + CUT_MARK.format(len(text.encode("utf-8", "replace")))


def cap_headers(headers_json: str) -> str:
    """Headers JSON with each value at most ``MAX_HEADER`` characters and all of them at most about
    ``MAX_HEADERS``; the names left out are listed under ``"[cut]"``. Usual requests pass untouched."""
    if len(headers_json) <= MAX_HEADER:
        return headers_json  # no value can be longer than the whole
    try:
        headers = json.loads(headers_json)
    except ValueError:
        return cut(headers_json, MAX_HEADERS)
    if not isinstance(headers, dict):
        return cut(headers_json, MAX_HEADERS)
    kept: dict[str, str] = {}
    left_out: list[str] = []
    used = 2
    for name, value in headers.items():
        name, value = cut(str(name), MAX_SHORT), cut(str(value), MAX_HEADER)
        size = len(name) + len(value) + 6
        if used + size > MAX_HEADERS:
            left_out.append(name)
            continue
        kept[name] = value
        used += size
    if left_out:
        kept[HEADERS_CUT_KEY] = cut(", ".join(left_out), MAX_HEADER)
    return json.dumps(kept, ensure_ascii=False, separators=_COMPACT)


def cap_request(req: _Record) -> None:
    """Cut every caller-controlled text of ``req`` to its cap (in place)."""
    req.path = cut(req.path, MAX_PATH)
    req.query = cut(req.query, MAX_QUERY)
    req.method = cut(req.method, MAX_SHORT)
    req.remote_addr = cut(req.remote_addr, MAX_SHORT)
    req.content_type = cut(req.content_type, MAX_SHORT)
    req.reason = cut(req.reason, MAX_REASON)
    req.body = cut(req.body, MAX_BODY)
    req.headers = cap_headers(req.headers)


def accepted_headers(headers_json: str) -> str:
    """The headers an accepted callback's row keeps: those no other column holds, compact JSON."""
    try:
        headers = json.loads(headers_json)
    except ValueError:
        return headers_json
    if not isinstance(headers, dict):
        return headers_json
    for name in IMPLIED_HEADERS:
        headers.pop(name, None)
    return json.dumps(headers, ensure_ascii=False, separators=_COMPACT)


def payload_json(payload: dict[str, Any]) -> str:
    """An event's payload as stored: compact JSON, fields in the order they came."""
    return json.dumps(payload, ensure_ascii=False, separators=_COMPACT)


def event_holds_body(row: dict[str, Any]) -> bool:
    """Whether a stored ``requests`` row is an accepted callback's whose fields are in its event."""
    return row.get("outcome") == "accepted" and row.get("body") is None and bool(row.get("message_sid"))


def whole_request(row: dict[str, Any], event: tuple[str, str | None] | None) -> dict[str, Any]:
    """A ``requests`` row (as dict) with what ``accepted_headers`` and the store left out put back: the
    body rebuilt from ``event`` (its event's payload and idempotency token, None when it has none), the
    implied headers from their columns.

    ``body_rebuilt`` is True when the body shown is rebuilt: the same fields and values, in the same
    order, but not necessarily byte for byte what was sent (percent-encoding may differ).
    ``body_deleted`` is True when the event that held the fields was pruned with its message."""
    row["body_rebuilt"] = row["body_deleted"] = False
    if not event_holds_body(row):
        return row
    if event is None:
        row["body_deleted"] = True
        return row
    payload, token = event[0], event[1]
    try:
        fields = json.loads(payload)
    except ValueError:
        fields = {}
    items = [(k, item) for k, v in fields.items() for item in (v if isinstance(v, list) else [v])]
    row["body"] = (
        urlencode(items) if (row.get("content_type") or "").startswith("application/x-www") else payload
    )
    row["body_rebuilt"] = True
    try:
        headers = json.loads(row.get("headers") or "{}")
    except ValueError:
        return row
    if isinstance(headers, dict):
        if row.get("content_type"):
            headers.setdefault("Content-Type", row["content_type"])
        headers.setdefault("Content-Length", str(row.get("body_size") or 0))
        if token:
            headers.setdefault("I-Twilio-Idempotency-Token", token)
        row["headers"] = json.dumps(headers, ensure_ascii=False)
    return row
