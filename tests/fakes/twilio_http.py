"""Twilio's side of one webhook request, written once for form webhooks and Event Streams sinks.

``X-Twilio-Signature`` comes from twilio-python's own ``RequestValidator`` (HMAC-SHA1 with the auth token
over the URL, then the sorted form parameters; a JSON webhook signs the URL alone, its body bound through
``bodySHA256``). Credentials in the URL are sent as HTTP Basic auth and kept out of the Host header, as
Twilio does for a webhook URL with ``user:password@``.
"""

from __future__ import annotations

import base64
import http.client
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from twilio.request_validator import RequestValidator

# where a request really goes: a resolver ``url -> (host, port)``, a "host:port" string, or None (the URL's)
Via = Callable[[str], tuple[str, int]] | str | None


def signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for ``url`` (and form ``params``, none for JSON)."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params or {})))


def resolve(parts: SplitResult, via: Via) -> tuple[str, int]:
    """The (host, port) to connect to for ``parts``; ``via`` overrides the URL's own host."""
    if callable(via):
        return via(parts.geturl())
    if isinstance(via, str):
        target = urlsplit(via if "//" in via else f"http://{via}")
        return target.hostname or "127.0.0.1", target.port or 80
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


@dataclass
class Answer:
    headers: dict[str, str]  # what was sent
    http_status: int
    body: bytes


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    sig: str,
    via: Via = None,
    timeout: float = 5.0,
) -> Answer:
    """POST ``body`` to ``url`` (through ``via``) with ``headers``, the signature ``sig``, the Host of the
    URL and Basic auth from its userinfo; returns what was sent and the answer."""
    parts = urlsplit(url)
    host, port = resolve(parts, via)
    sent = {"Host": parts.netloc.rpartition("@")[2], **headers, "X-Twilio-Signature": sig}
    if parts.username is not None:
        basic = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        sent["Authorization"] = f"Basic {basic}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", target, body=body, headers=sent)
        response = conn.getresponse()
        return Answer(sent, response.status, response.read())
    finally:
        conn.close()
