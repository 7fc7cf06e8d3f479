"""Talking to Twilio's REST API at all: credentials, the client, and operator-readable errors.

The plumbing every Twilio call needs, kept out of the modules that do one job each (webhook_targets,
webhook_apply, sending, event_streams_setup, reconcile). Every failure is turned into ``SetupError``
whose message tells the operator what happened and what to do, because a raw ``TwilioRestException``
dump is not something an operator can act on.

``make_client`` honours ``CALLBACK_MONITOR_TWILIO_API_BASE`` (``RedirectingHttpClient``) so the real
twilio-python code runs unchanged against a local fake; Twilio's API is unreachable in tests.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

API_BASE_ENV = "CALLBACK_MONITOR_TWILIO_API_BASE"

_SID_RE = {prefix: re.compile(rf"{prefix}[0-9a-f]{{32}}") for prefix in ("AC", "SK", "MG", "PN")}
_HEX32_RE = re.compile(r"[0-9a-fA-F]{32}")


class SetupError(Exception):
    """A failure the wizard shows as-is: ``str(exc)`` says what happened and what to do."""

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """Account SID plus either the Auth Token or an API key (SID ``SK…`` and its secret)."""

    account_sid: str
    auth_token: str | None = None
    api_key_sid: str | None = None
    api_key_secret: str | None = None

    def __repr__(self) -> str:  # never let a secret reach a log line through repr()
        return f"Credentials(account_sid={self.account_sid!r}, api_key_sid={self.api_key_sid!r})"

    @property
    def uses_api_key(self) -> bool:
        return bool(self.api_key_sid)

    def problems(self) -> list[str]:
        """Format problems, phrased for the operator; empty when the fields look right."""
        out: list[str] = []
        sid = self.account_sid.strip()
        if not sid:
            out.append("Enter the Account SID (it starts with AC; Twilio Console → Account info).")
        elif sid.startswith("SK"):
            out.append(
                "The Account SID field holds an API key SID (SK…). Put the Account SID (AC…) there "
                "and the SK… value in the API key field."
            )
        elif not _SID_RE["AC"].fullmatch(sid):
            out.append(
                f"The Account SID must be 'AC' followed by 32 hexadecimal characters (34 in all); "
                f"got {len(sid)} characters. Copy it again from the Twilio Console."
            )
        if self.uses_api_key:
            key = (self.api_key_sid or "").strip()
            if not _SID_RE["SK"].fullmatch(key):
                out.append(
                    "The API key SID must be 'SK' followed by 32 hexadecimal characters "
                    "(Twilio Console → API keys & tokens)."
                )
            secret = self.api_key_secret or ""
            if not secret.strip():
                out.append("Enter the API key secret (shown once, when the key was created).")
            elif secret != secret.strip():
                out.append("The API key secret has leading or trailing spaces; paste it again.")
        else:
            token = self.auth_token or ""
            if not token.strip():
                out.append("Enter the Auth Token, or use an API key SID and secret instead.")
            elif token.startswith("AC") or token.startswith("SK"):
                out.append("The Auth Token field holds a SID; the Auth Token is a 32-character secret.")
            elif not _HEX32_RE.fullmatch(token.strip()):
                out.append(
                    "The Auth Token must be 32 hexadecimal characters; copy it again from the Twilio "
                    "Console (Account info → Auth Token → show)."
                )
            elif token != token.strip():
                out.append("The Auth Token has leading or trailing spaces; paste it again.")
        return out

    def validate(self) -> None:
        """Raise ``SetupError`` listing every format problem."""
        problems = self.problems()
        if problems:
            raise SetupError(" ".join(problems))


class RedirectingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """Sends every twilio-python request to ``api_base``, keeping the path and query.

    twilio-python builds absolute URLs for several hosts (api.twilio.com, messaging.twilio.com, and the
    next-page links the API returns); rewriting at the HTTP layer covers them all, so the real client
    code runs unchanged against a local fake or a recording proxy.
    """

    def __init__(self, api_base: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(api_base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SetupError(f"The Twilio API base {api_base!r} must look like http://127.0.0.1:8080.")
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path.rstrip("/")
        if self.session is not None:
            self.session.trust_env = False  # a local stand-in must not go through the system proxy

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, ""))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        response: Response = super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        return response


def make_client(creds: Credentials, api_base: str | None = None, *, timeout: float = 20.0) -> Client:
    """A twilio-python ``Client`` for ``creds``; ``api_base`` (or env ``CALLBACK_MONITOR_TWILIO_API_BASE``)
    redirects all its requests, e.g. to a fake on ``http://127.0.0.1:PORT``."""
    base = api_base or os.environ.get(API_BASE_ENV) or None
    http_client = RedirectingHttpClient(base, timeout=timeout) if base else TwilioHttpClient(timeout=timeout)
    if creds.uses_api_key:
        return Client(creds.api_key_sid, creds.api_key_secret, creds.account_sid, http_client=http_client)
    return Client(creds.account_sid, creds.auth_token, http_client=http_client)


def explain(exc: BaseException, action: str) -> SetupError:
    """Turn a twilio/requests exception raised while doing ``action`` into an operator message."""
    if isinstance(exc, SetupError):
        return exc
    if isinstance(exc, requests.exceptions.Timeout):
        return SetupError(
            f"Twilio's API did not answer in time while {action}. Check the internet connection "
            "(and any proxy or firewall), then try again."
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return SetupError(
            f"Cannot reach Twilio's API (api.twilio.com) while {action}. Check the internet connection, "
            "proxy or firewall settings, then try again."
        )
    if isinstance(exc, TwilioServiceException):
        return _explain_code(exc.code, exc.status, exc.detail or exc.title, action)
    if isinstance(exc, TwilioRestException):
        return _explain_code(exc.code, exc.status, _strip_prefix(exc.msg), action)
    if isinstance(exc, TwilioException):
        # List paging raises a bare TwilioException("Unable to fetch page", response).
        response = next((a for a in exc.args if isinstance(a, Response)), None)
        if response is not None:
            code, detail = _error_from_body(response.text)
            return _explain_code(code or response.status_code, response.status_code, detail, action)
        return SetupError(f"Twilio client error while {action}: {exc}")
    return SetupError(f"Unexpected error while {action}: {exc!r}")


def _error_from_body(text: str) -> tuple[int | None, str]:
    try:
        body = json.loads(text)
    except ValueError:
        return None, text[:200]
    if not isinstance(body, dict):
        return None, text[:200]
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message") or body.get("detail") or "")


def _strip_prefix(msg: str) -> str:
    # twilio-python prefixes "Unable to fetch record: " etc.; the API's own text is after it.
    return msg.split(": ", 1)[1] if ": " in msg else msg


CODE_ADVICE: dict[int, str] = {
    20003: "Twilio rejected the credentials (error 20003). Check the Account SID and Auth Token in the "
    "Twilio Console (Account info), or that the API key belongs to this account and was not deleted. "
    "A recently rotated Auth Token invalidates the old one.",
    20008: "These are Twilio test credentials (error 20008); they cannot read or change numbers. "
    "Use the live Account SID and Auth Token.",
    20429: "Twilio is rate-limiting requests from this account (error 20429). Wait a minute, then try again.",
    21211: "The 'To' number is not a valid phone number (error 21211). Use E.164 format, e.g. +14155550123, "
    "or whatsapp:+14155550123 for WhatsApp.",
    21603: "A sender is needed (error 21603): choose a From number or a Messaging Service.",
    21606: "The From number cannot send to this destination (error 21606). Pick a number on this account "
    "with SMS capability for that country, or send through a Messaging Service.",
    21609: "Twilio refused the status callback URL (error 21609). It must be a public http(s) URL "
    "without underscores in the host name.",
    21610: "The recipient has opted out by replying STOP (error 21610); they must reply START first.",
    21701: "The Messaging Service does not exist on this account (error 21701); refresh the target list.",
    63015: "That WhatsApp number has not joined your Sandbox (error 63015): send 'join <your code>' "
    "from it to +1 415 523 8886 first.",
}


def _explain_code(code: int | None, status: int | None, detail: str, action: str) -> SetupError:
    more = f" See https://www.twilio.com/docs/errors/{code}." if code else ""
    if code in CODE_ADVICE:
        text = CODE_ADVICE[code]
    elif status == 401:
        text = CODE_ADVICE[20003]
    elif status == 429:
        text = CODE_ADVICE[20429]
    elif code == 20404 or status == 404:
        text = (
            f"Twilio could not find what was asked for while {action} (error 20404: {detail}). Check the "
            "Account SID; the number or service may have been released or deleted — refresh the list."
        )
    elif status is not None and status >= 500:
        text = (
            f"Twilio's API had an internal problem (HTTP {status}) while {action}. This is on Twilio's "
            "side: try again in a few minutes, and check https://status.twilio.com if it persists."
        )
    else:
        text = f"Twilio refused {action}: {detail} (error {code})."
    return SetupError(text + more, code=code, http_status=status)


@contextmanager
def twilio_call(action: str) -> Iterator[None]:
    """Translate anything Twilio/requests raises inside the block into ``SetupError``."""
    try:
        yield
    except (TwilioException, requests.exceptions.RequestException) as exc:
        raise explain(exc, action) from exc


@dataclass(frozen=True)
class AccountInfo:
    sid: str
    friendly_name: str
    status: str  # active | suspended | closed
    type: str  # Trial | Full


def verify_credentials(client: Client, creds: Credentials) -> AccountInfo:
    """Check the format, then fetch the account (the cheapest authenticated call)."""
    creds.validate()
    with twilio_call("checking the credentials"):
        account = client.api.v2010.accounts(creds.account_sid.strip()).fetch()
    return AccountInfo(
        sid=str(account.sid),
        friendly_name=str(account.friendly_name or ""),
        status=str(account.status or ""),
        type=str(account.type or ""),
    )


__all__ = [
    "API_BASE_ENV",
    "CODE_ADVICE",
    "AccountInfo",
    "Credentials",
    "RedirectingHttpClient",
    "SetupError",
    "explain",
    "make_client",
    "twilio_call",
    "verify_credentials",
]
