"""Does an operator's own public URL reach *this* receiver? Checked before webhooks are pointed at it.

A public URL that answers is not enough: a reverse proxy may forward to another machine or to an old
instance. So the check sends ``GET {base}/twilio/status?cm_probe=<nonce>`` through the public URL and
then looks for that exact request in this receiver's request log. The receiver needs no special route
for it: it logs every request it answers (this one as "GET not allowed", 405) before it replies, so by
the time the response is back the line is committed. The nonce is random, so only this check's own
request can match. Runs off the GUI thread (it blocks on the network).
"""

from __future__ import annotations

import http.client
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .store import open_reader
from .webhook_paths import STATUS_PATH

PROBE_PARAM = "cm_probe"
# Where the bytes go for a public URL: (host, port) of a stand-in edge. None: the URL's own host (https).
Resolver = Callable[[str], tuple[str, int]]


@dataclass(frozen=True)
class Reach:
    """The verdict: ``ok``, and one or two sentences for the operator (what failed, what to do)."""

    ok: bool
    message: str


def forward_hint(public_base: str, local_port: int | None) -> str:
    """Where the operator's proxy or tunnel must send Twilio's requests."""
    target = f"http://127.0.0.1:{local_port}" if local_port else "this computer's receiver"
    return f"Forward {public_base.rstrip('/')}/twilio/… to {target}."


def _get(url: str, resolve: Resolver | None, timeout: float) -> int:
    parts = urlsplit(url)
    host = parts.hostname or ""
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if resolve is not None:
        edge_host, edge_port = resolve(url)
        conn = http.client.HTTPConnection(edge_host, edge_port, timeout=timeout)
    elif parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, parts.port or 443, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", target, headers={"Host": parts.netloc, "User-Agent": "callback-monitor-probe"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def probe(
    public_base: str,
    db_path: str | Path,
    local_port: int | None,
    resolve: Resolver | None = None,
    timeout: float = 10.0,
) -> Reach:
    """Send one request through ``public_base`` and report whether this receiver logged it."""
    base = public_base.rstrip("/")
    query = f"{PROBE_PARAM}={secrets.token_hex(16)}"
    url = f"{base}{STATUS_PATH}?{query}"
    hint = forward_hint(base, local_port)
    reader = open_reader(db_path)
    try:
        before = reader.newest_request_id()
        try:
            status = _get(url, resolve, timeout)
        except ssl.SSLError as exc:
            return Reach(False, f"{base} has no valid https certificate ({exc}); Twilio will refuse it.")
        except (OSError, http.client.HTTPException, LookupError) as exc:
            return Reach(False, f"Could not reach {base}: {exc}. {hint}")
        if reader.request_logged_after(before, STATUS_PATH, query):
            return Reach(True, f"{base} reaches this receiver.")
        return Reach(
            False,
            f"{base} answered (HTTP {status}), but the request never arrived at this receiver: it goes "
            f"to another server. {hint}",
        )
    finally:
        reader.close()
