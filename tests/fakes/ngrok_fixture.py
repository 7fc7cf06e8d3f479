"""Pytest helpers for the stand-in ngrok agent (``fake_ngrok.py``).

pyngrok runs ``ngrok_path`` as a program, so :func:`install_fake_ngrok` writes a tiny executable
``ngrok`` shell wrapper that ``exec``s this interpreter on ``fake_ngrok.py`` (``exec`` keeps one process,
so pyngrok's kill reaches the fake itself). Tests then give that path to pyngrok / ``TunnelManager``.

Public URLs like ``https://3f2a9c1d-77aa.ngrok.test`` don't resolve; :func:`resolve_public_url` asks the
agent API which local "edge" listener stands in for a public host, and :func:`request_public_url` sends a
request through it with the public ``Host``, as Twilio's request would arrive through ngrok.

Usage in a test module::

    from tests.fakes.ngrok_fixture import fake_ngrok, request_public_url  # noqa: F401  (fixture)
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import stat
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

FAKE_NGROK_SCRIPT = Path(__file__).with_name("fake_ngrok.py")


class _HasApiUrl(Protocol):
    @property
    def api_url(self) -> str | None: ...


def install_fake_ngrok(directory: Path) -> Path:
    """Write an executable ``ngrok`` in ``directory`` that runs the stand-in agent; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "ngrok"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# Stand-in ngrok agent for tests (tests/fakes/fake_ngrok.py).\n"
        f'exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_NGROK_SCRIPT))} "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return wrapper


@pytest.fixture
def fake_ngrok(tmp_path: Path) -> Iterator[str]:
    """Path of a stand-in ``ngrok`` binary; any pyngrok process started from it is killed afterwards.

    pyngrok keeps module-level state keyed by ``ngrok_path`` (``process._current_processes``,
    ``ngrok._current_tunnels``), so teardown kills whatever is left under this path.
    """
    from pyngrok import conf, ngrok

    path = install_fake_ngrok(tmp_path / "ngrok-bin")
    yield str(path)
    ngrok.kill(conf.PyngrokConfig(ngrok_path=str(path)))


def _api_base(api_url_or_agent: str | _HasApiUrl) -> str:
    api_url = api_url_or_agent if isinstance(api_url_or_agent, str) else api_url_or_agent.api_url
    if not api_url:
        raise LookupError("the ngrok agent has no API URL (not running?)")
    return api_url.rstrip("/")


def resolve_public_url(api_url_or_agent: str | _HasApiUrl, public_url: str) -> tuple[str, int]:
    """Return ``(host, port)`` of the local edge standing in for ``public_url``'s host.

    ``api_url_or_agent`` is the agent API URL (``http://127.0.0.1:NNNN``) or anything with an
    ``api_url`` attribute (pyngrok's ``NgrokProcess``, ``receiver.tunnel.TunnelManager``).
    """
    wanted = urlsplit(public_url).hostname
    with urlopen(f"{_api_base(api_url_or_agent)}/api/tunnels", timeout=5) as response:
        tunnels: list[dict[str, Any]] = json.load(response)["tunnels"]
    for tunnel in tunnels:
        if urlsplit(tunnel["public_url"]).hostname == wanted:
            host, _, port = str(tunnel["fake_edge"]).rpartition(":")
            return host, int(port)
    raise LookupError(f"no tunnel of the agent serves {public_url}")


def request_public_url(
    api_url_or_agent: str | _HasApiUrl,
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    """Send a request to a public tunnel URL (path and query kept byte for byte) through the fake edge.

    Returns ``(status, headers, body)``; header names are lower-cased.
    """
    parts = urlsplit(url)
    host, port = resolve_public_url(api_url_or_agent, url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def reconnect_agent(api_url_or_agent: str | _HasApiUrl) -> None:
    """Make the agent simulate a session reconnect (new random URLs) through its fake API hook.

    Sending ``SIGUSR1`` to the agent process does the same; this variant needs no process id.
    """
    conn_url = f"{_api_base(api_url_or_agent)}/api/_fake/reconnect"
    parts = urlsplit(conn_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=5)
    try:
        conn.request("POST", parts.path, body=b"")
        conn.getresponse().read()
    finally:
        conn.close()


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (a reaped child no longer does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
