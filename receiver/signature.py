"""``X-Twilio-Signature`` validation against the public URL Twilio called, with a diagnosis on failure.

Twilio signs the URL it requested: behind ngrok that is ``https://abc.ngrok-free.app/twilio/status``,
while Flask sees ``http://127.0.0.1:PORT/twilio/status``. So the URL checked is always the configured
public base + the raw path and query — never ``request.url`` or the Host header. The check itself is
``twilio.request_validator.RequestValidator`` (which already tries the URL with and without its port);
we add one variant the SDK misses: Node-based senders percent-encode a ``'`` in the query (``%27``).

The secret is the auth token (HMAC-SHA1), unless the request carries ``X-Twilio-Webhooks-Signature-Settings``
(``key=<id>,algorithm=HMAC_SHA256``): then it was signed with that *shared key* (Webhooks configuration
API) and the header's algorithm, and only that key's secret is tried
(https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys).

When a check fails we try the URLs a misconfigured set-up would have used (http vs https, the local URL,
the forwarded host, a trailing slash) only to *explain* the failure; none of them is ever accepted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio import request_validator
from twilio.request_validator import RequestValidator

#: Twilio adds this header to webhooks signed with a *shared key* instead of the auth token
#: (``key=<shared key id>,algorithm=HMAC_SHA256``); without it the auth token and HMAC-SHA1 sign.
SETTINGS_HEADER = request_validator.SIGNATURE_SETTINGS_HEADER
SUPPORTED_ALGORITHMS = (request_validator.HMAC_SHA1, request_validator.HMAC_SHA256)
NO_SIGNATURE = "no X-Twilio-Signature header"  # the reason's start when a request was not signed at all
ValidatorFor = Callable[[str], RequestValidator]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # empty when ok
    signer: str = ""  # what signed an accepted request: "auth token" or "shared key <id>"


def signature_settings(header: str | None) -> tuple[str | None, str]:
    """(shared key id or None, algorithm) from an ``X-Twilio-Webhooks-Signature-Settings`` value; the
    algorithm is read by twilio's own ``get_signature_algorithm``."""
    key_id = None
    for part in (header or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip().lower() == "key" and value.strip():
            key_id = value.strip()
    return key_id, request_validator.get_signature_algorithm(header)


def public_url_for(public_base: str, path: str, query: str) -> str:
    """The URL Twilio signed: base (no fragment, no trailing slash) + path + raw query."""
    base = public_base.split("#", 1)[0].rstrip("/")
    return f"{base}{path}" + (f"?{query}" if query else "")


def _variants(url: str) -> list[str]:
    """The URL and the quote-encoded variant some of Twilio's senders sign (see module doc)."""
    out = [url]
    if "'" in url:
        out.append(url.replace("'", "%27"))
    return out


def _check(
    validator: RequestValidator, url: str, params: Any, signature: str, algorithm: str | None = None
) -> bool:
    if not isinstance(params, str):
        # fast path: the URL exactly as configured is what Twilio signs; one HMAC instead of the SDK's two
        # (validate() always computes both the with-port and the without-port variant)
        try:
            if hmac.compare_digest(validator.compute_signature(url, params, algorithm), signature):
                return True
        except (TypeError, ValueError, KeyError):
            return False
    parts = urlsplit(url)
    if "@" in parts.netloc and parts.port is not None:
        # the SDK's "without port" variant cuts a URL with credentials at the first ':' (after the user
        # name), so here the two port variants are built on the host part
        signed = {} if isinstance(params, str) else params
        userinfo, _, hostport = parts.netloc.rpartition("@")
        host = hostport.rsplit(":", 1)[0]
        for netloc in (parts.netloc, f"{userinfo}@{host}"):
            for candidate in _variants(urlunsplit(parts._replace(netloc=netloc))):
                try:
                    if hmac.compare_digest(
                        validator.compute_signature(candidate, signed, algorithm), signature
                    ):
                        return True
                except (TypeError, ValueError, KeyError):
                    return False
        return False
    for candidate in _variants(url):
        try:
            if validator.validate(candidate, params, signature, algorithm=algorithm):
                return True
        except (TypeError, ValueError, KeyError):  # e.g. a str body without bodySHA256
            return False
    return False


def _swap_scheme(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="http" if parts.scheme == "https" else "https"))


def _toggle_slash(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path[:-1] if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit(parts._replace(path=path))


def validate(
    *,
    auth_token: str | None,
    public_base: str | None,
    local_base: str,
    path: str,
    query: str,
    params: Mapping[str, Any] | str,
    signature: str | None,
    headers: Mapping[str, str] | None = None,
    raw_body: bytes | None = None,
    validator: RequestValidator | None = None,
    signed_bases: Sequence[str] = (),
    settings: str | None = None,
    shared_keys: Mapping[str, str] | None = None,
    validator_for: ValidatorFor | None = None,
) -> Verdict:
    """Check one request. ``params`` is the form fields (a mapping the SDK can read: a MultiDict, or a
    dict with ``getall``), or the raw body string for a JSON webhook (then the URL must carry
    ``bodySHA256``, which is checked against ``raw_body``). ``validator``: a ``RequestValidator`` for
    ``auth_token`` kept by the caller, so it is not rebuilt for every request (``validator_for(secret)``
    does the same for shared keys). ``signed_bases``: other spellings of the public base Twilio may sign
    (the configured URL with its credentials). ``settings``: the ``X-Twilio-Webhooks-Signature-Settings``
    header; when present the request was signed with that shared key (``shared_keys``: id → secret) and
    that header's algorithm, never with the auth token."""
    if settings is not None and settings.strip():
        key_id, algorithm = signature_settings(settings)
        if algorithm.upper() not in SUPPORTED_ALGORITHMS:
            return Verdict(
                False,
                f"unsupported signature algorithm {algorithm[:40]!r} in {SETTINGS_HEADER} "
                f"(supported: {', '.join(SUPPORTED_ALGORITHMS)})",
            )
        if key_id is None:
            return Verdict(False, f"{SETTINGS_HEADER} names no shared key (key=…)")
        secret = (shared_keys or {}).get(key_id)
        if not secret:
            return Verdict(
                False,
                f"signed with shared key {key_id[:64]!r}, which is not configured here — add it "
                "(Tools → Shared signing keys…, or CALLBACK_MONITOR_SHARED_KEYS for `serve`)",
            )
        signer = f"shared key {key_id[:64]}"
        token: str | None = secret
        validator = validator_for(secret) if validator_for else RequestValidator(secret)
        wrong = f"wrong secret for shared key {key_id[:64]!r}"
    else:
        algorithm, signer, token = request_validator.HMAC_SHA1, "auth token", auth_token
        wrong = "wrong auth token (use the account's primary token)"
        if not auth_token:
            return Verdict(False, "no auth token configured: set TWILIO_AUTH_TOKEN or save it in the app")
    if not signature:
        return Verdict(False, f"{NO_SIGNATURE} (not sent by Twilio, or stripped by a proxy)")
    url = public_url_for(public_base or local_base, path, query)
    if isinstance(params, str):
        if "bodySHA256=" not in query:
            return Verdict(False, "JSON body without bodySHA256 in the URL cannot be validated")
        expected = hashlib.sha256(raw_body or b"").hexdigest()
        if f"bodySHA256={expected}" not in query:
            return Verdict(False, "bodySHA256 in the URL does not match the SHA-256 of the body")
    if validator is None:
        validator = RequestValidator(token or "")
    alg = None if algorithm == request_validator.HMAC_SHA1 else algorithm
    for base in signed_bases:  # first: the URL as configured, credentials included, is what Twilio signs
        if _check(validator, public_url_for(base, path, query), params, signature, alg):
            return Verdict(True, "", signer)
    if _check(validator, url, params, signature, alg):
        return Verdict(True, "", signer)
    return Verdict(
        False,
        diagnose(
            validator, url, public_base, local_base, path, query, params, signature, headers or {}, alg, wrong
        ),
    )


def matches(
    validator: RequestValidator,
    base: str,
    path: str,
    query: str,
    params: Mapping[str, Any] | str,
    signature: str,
) -> bool:
    """Whether ``signature`` is ``validator``'s HMAC-SHA1 for ``base + path + query`` (no diagnosis)."""
    return bool(signature) and _check(validator, public_url_for(base, path, query), params, signature)


def diagnose(
    validator: RequestValidator,
    url: str,
    public_base: str | None,
    local_base: str,
    path: str,
    query: str,
    params: Mapping[str, Any] | str,
    signature: str,
    headers: Mapping[str, str],
    algorithm: str | None = None,
    wrong: str = "wrong auth token (use the account's primary token)",
) -> str:
    """Why the signature did not match, where a likely cause can be found."""
    checks: list[tuple[str, str]] = []
    scheme = urlsplit(url).scheme
    checks.append(
        (
            _swap_scheme(url),
            f"signature matches {_swap_scheme(url).split(':')[0]}:// but the "
            f"public URL is {scheme}:// — fix the public URL's scheme",
        )
    )
    if public_base:
        local = public_url_for(local_base, path, query)
        checks.append(
            (
                local,
                "signature matches the local URL, not the public URL: the sender signed "
                f"{local_base} — set the public URL to what the sender calls",
            )
        )
    fwd_host = headers.get("X-Forwarded-Host") or (headers.get("Host") if public_base is None else None)
    if fwd_host:
        proto = headers.get("X-Forwarded-Proto", "https")
        forwarded = public_url_for(f"{proto}://{fwd_host}", path, query)
        if forwarded != url:
            hint = (
                "no public URL is configured"
                if public_base is None
                else f"the configured public URL is {public_base}"
            )
            checks.append(
                (
                    forwarded,
                    f"signature matches {proto}://{fwd_host} (the forwarded host) but "
                    f"{hint} — set the public URL to {proto}://{fwd_host}",
                )
            )
    checks.append(
        (
            _toggle_slash(url),
            "signature matches the URL with/without a trailing slash — "
            "configure the URL in Twilio exactly as the receiver's route",
        )
    )
    for candidate, explanation in checks:
        if _check(validator, candidate, params, signature, algorithm):
            return explanation
    if public_base is None and headers.get("X-Forwarded-Proto"):
        return (
            "signature does not match; the request came through a proxy "
            f"(X-Forwarded-Proto: {headers['X-Forwarded-Proto']}) but no public URL is configured"
        )
    return f"signature does not match {url} — {wrong}, or the URL Twilio called differs (query string, path)"
