"""Helpers shared by the receiver tests: signed Twilio-like requests built with the real RequestValidator."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC = "https://abc123.ngrok-free.app"
FORM = "application/x-www-form-urlencoded"


def sid(prefix: str = "SM") -> str:
    return prefix + pysecrets.token_hex(16)


def status_params(message_sid: str, status: str, **extra: Any) -> dict[str, str]:
    params = {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": "AC" + "1" * 32,
        "From": "+15005550006",
        "To": "+14155552671",
        "ApiVersion": "2010-04-01",
    }
    params.update({k: str(v) for k, v in extra.items()})
    return params


def sign(url: str, params: dict[str, str] | Iterable[tuple[str, str]], token: str = TOKEN) -> str:
    if not isinstance(params, dict):
        from werkzeug.datastructures import MultiDict

        params = MultiDict(list(params))
    return str(RequestValidator(token).compute_signature(url, params))


def post(
    client: FlaskClient,
    path: str,
    params: dict[str, str],
    *,
    token: str = TOKEN,
    base: str = PUBLIC,
    headers: dict[str, str] | None = None,
    query: str = "",
    environ_base: dict[str, str] | None = None,
) -> TestResponse:
    """POST like Twilio through the Flask test client, signed for ``base + path``; ``environ_base``
    sets WSGI keys such as ``REMOTE_ADDR`` (the test client's peer is 127.0.0.1)."""
    url = base + path + (f"?{query}" if query else "")
    hdrs = {
        "X-Twilio-Signature": sign(url, params, token),
        "I-Twilio-Idempotency-Token": pysecrets.token_hex(8),
    }
    hdrs.update(headers or {})
    return client.post(
        path + (f"?{query}" if query else ""),
        data=urlencode(params),
        content_type=FORM,
        headers=hdrs,
        environ_base=environ_base or {},
    )


def http_post(
    base_url: str,
    path: str,
    params: dict[str, str],
    *,
    token: str | None = TOKEN,
    signed_for: str | None = None,
    idempotency_token: str | None = None,
) -> int:
    """POST a form like Twilio to a running receiver over loopback; returns the HTTP status.

    Signed with ``token`` over ``(signed_for or base_url) + path`` (the public URL Twilio would call);
    ``token=None`` sends no signature. Every request carries an idempotency token, as Twilio's do.
    """
    import http.client
    from urllib.parse import urlsplit

    headers = {
        "Content-Type": FORM,
        "I-Twilio-Idempotency-Token": idempotency_token or pysecrets.token_hex(8),
    }
    if token is not None:
        headers["X-Twilio-Signature"] = sign((signed_for or base_url) + path, params, token)
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("POST", path, body=urlencode(params), headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def request_detail(db: Path | str, request_id: int) -> dict[str, Any] | None:
    """What the inspector and replay get for one logged request (``Reader.request_detail``)."""
    from receiver.store import open_reader

    reader = open_reader(db)
    try:
        return reader.request_detail(request_id)
    finally:
        reader.close()
