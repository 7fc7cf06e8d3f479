"""A logged request as a ``curl`` command line, to resend it from a terminal.

Only the headers that change how the receiver answers are kept: Content-Type and X-Twilio-Signature
(plus Twilio's idempotency token). The signature is included on purpose: it is not a secret — an HMAC
of this exact URL and body, useless for anything else, and Twilio sends it in clear on every request —
and without it the receiver would reject the replay. Nothing that is a secret is ever in the command:
the auth token is not stored with requests, and Authorization/Cookie headers are redacted when logged
and skipped here anyway.
"""

from __future__ import annotations

import json
import shlex

KEPT_HEADERS = ("content-type", "x-twilio-signature", "i-twilio-idempotency-token")


def curl_command(method: str, url: str, headers_json: str | None, body: str) -> str:
    try:
        headers = json.loads(headers_json or "{}")
    except ValueError:
        headers = {}
    parts = ["curl", "-sS", "-i", "-X", method or "POST", shlex.quote(url)]
    for name, value in headers.items() if isinstance(headers, dict) else []:
        if str(name).lower() in KEPT_HEADERS:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if body:
        parts += ["--data-binary", shlex.quote(body)]
    return " ".join(parts)
