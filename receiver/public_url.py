"""The public URL Twilio calls, and the HTTP credentials it may carry.

Twilio's documented way to password-protect a webhook is credentials in the URL
(``https://user:pass@host/...``, twilio.com/docs/usage/security#http-authentication): Twilio first
sends the request without an ``Authorization`` header and, after a ``401`` with ``WWW-Authenticate``,
sends it again with the credentials. The password is a secret like the auth token: it is split off once,
here, and only the clean base (scheme, host, port, path) is ever shown, stored, logged or echoed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit


@dataclass(frozen=True)
class BasicAuth:
    """The credentials from the public URL. ``repr`` never shows the password."""

    username: str
    password: str
    userinfo: str = ""  # as written in the URL (percent-encoding kept): part of the URL Twilio signs

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='***')"

    def matches(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries these credentials (Basic scheme)."""
        if not authorization:
            return False
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        # both compared in constant time, and both always compared
        ok_user = hmac.compare_digest(user.encode(), self.username.encode())
        ok_password = hmac.compare_digest(password.encode(), self.password.encode())
        return bool(sep) and ok_user and ok_password

    def header(self) -> str:
        """The ``Authorization`` header value a client sends with these credentials."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def split_userinfo(url: str | None) -> tuple[str | None, BasicAuth | None]:
    """``url`` without its ``user:password@`` part (and without a fragment or trailing slash), and the
    credentials it carried. ``(None, None)`` for an empty URL."""
    if not url:
        return None, None
    parts = urlsplit(url.strip())
    auth = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        auth = BasicAuth(unquote(user), unquote(password), userinfo)
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")).rstrip("/")
    return clean, auth


def with_userinfo(url: str, auth: BasicAuth) -> str:
    """``url`` with the credentials back in its authority: one of the two URLs Twilio may sign."""
    parts = urlsplit(url)
    userinfo = auth.userinfo or f"{auth.username}:{auth.password}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
