"""A stand-in for the ngrok v3 agent binary, for tests (there is no network, so the real one can't run).

pyngrok starts it exactly as it starts the real agent::

    ngrok start --none --log stdout --config <path> [--authtoken T] [--region R]

and then reads its stdout and talks to its local agent API, so the code under test (``receiver.tunnel``
and pyngrok itself) runs unchanged. What it imitates, and why:

* **Log lines** in ngrok's logfmt shape (``t=… lvl=info msg="starting web service" obj=web
  addr=127.0.0.1:4040``). pyngrok's startup loop waits for ``starting web service`` (takes the API
  address from ``addr=``), ``client session established`` and ``tunnel session started``, and treats a
  ``lvl=eror``/``lvl=crit`` line's ``err=`` as the startup error.
* **Authentication failures** as the real agent reports them and then exits 1: no authtoken anywhere
  -> ERR_NGROK_4018; an authtoken starting with ``bad`` -> ERR_NGROK_107 (invalid token; like ngrok, the
  message quotes the token); one starting with ``limited``, or env ``FAKE_NGROK_FAIL=108``
  -> ERR_NGROK_108 (one agent session per free account). ``FAKE_NGROK_FAIL`` may name any of
  4018/105/107/108; ``FAKE_NGROK_FAIL=offline`` makes it retry an unreachable server forever, logging
  ``failed to dial ngrok server`` errors as the agent does without network.
* **Agent API** on ``web_addr`` (config ``agent.web_addr``; default ``127.0.0.1:4040``, then 4041… if
  busy, as ngrok does; port 0 picks a free port and the real address is logged): ``GET /api``,
  ``GET|POST /api/tunnels``, ``GET|DELETE /api/tunnels/{name}`` (config v2 shapes: ``public_url``,
  ``proto``, ``config{addr,inspect}``, ``metrics``) and ``GET|POST /api/endpoints``,
  ``GET|DELETE /api/endpoints/{name}`` (v3 shapes: ``url``, ``upstream{url,protocol}``), which pyngrok
  9 uses by default. Errors use the agent's ``{"error_code", "status_code", "msg", "details"}`` body.
* **An "edge" per http tunnel**: a listener on ``127.0.0.1:<free port>`` standing in for
  ``https://<random>.ngrok.test``. It forwards every request to the upstream like ngrok's cloud edge
  does: same method, raw path and query, body; ``Host`` is the public host (or the ``host_header``
  option), and ``X-Forwarded-For``, ``X-Forwarded-Host``, ``X-Forwarded-Proto: https`` are added. An
  unreachable upstream gets ngrok's 502 with ERR_NGROK_8012. The edge address is published in each
  tunnel's JSON under the clearly fake key ``fake_edge`` (see ``ngrok_fixture.resolve_public_url``).
* **Reconnects**: ``SIGUSR1`` (or ``POST /api/_fake/reconnect``) makes the session "reconnect" and every
  tunnel without a reserved domain gets a new random public URL, as free ngrok URLs do.
* ``SIGTERM``/``SIGINT`` stop it cleanly (exit 0); ``--version``/``version``, ``config check``,
  ``config upgrade`` and ``config add-authtoken`` answer like ngrok.

Only the standard library and PyYAML (a pyngrok dependency, so present wherever pyngrok is).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

VERSION = "3.22.1"
PUBLIC_SUFFIX = "ngrok.test"
DEFAULT_WEB_PORT = 4040

# Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded by a proxy.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}

# Texts as the real agent prints them (err="…" of the session error), code last.
AUTH_ERRORS = {
    "4018": (
        "authentication failed: Usage of ngrok requires a verified account and authtoken.\n\n"
        "Sign up for an account: https://dashboard.ngrok.com/signup\n"
        "Install your authtoken: https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\n"
        "ERR_NGROK_4018\r\n"
    ),
    "105": (
        "authentication failed: The authtoken you specified does not look like a proper ngrok tunnel "
        "authtoken.\nYour authtoken: {token}\nInstructions to install your authtoken are on your ngrok "
        "dashboard:\nhttps://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\nERR_NGROK_105\r\n"
    ),
    "107": (
        "authentication failed: The authtoken you specified is properly formed, but it is invalid.\n"
        "Your authtoken: {token}\nThis usually happens when:\n    - You reset your authtoken\n"
        "    - Your authtoken was for a team account that you were removed from\n"
        "    - You are using ngrok link and this credential was explicitly revoked\n"
        "Go to your ngrok dashboard and double check that your authtoken is correct:\n"
        "https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\nERR_NGROK_107\r\n"
    ),
    "108": (
        "authentication failed: Your account is limited to 1 simultaneous ngrok agent sessions.\n"
        "You can run multiple simultaneous tunnels from a single agent session by defining the tunnels "
        "in your agent configuration file and starting them with the command `ngrok start --all`.\n"
        "Read more about the agent configuration file: https://ngrok.com/docs/secure-tunnels/ngrok-agent/"
        "reference/config\nYou can view your current agent sessions in the dashboard:\n"
        "https://dashboard.ngrok.com/agents\r\n\r\nERR_NGROK_108\r\n"
    ),
}

# Options the agent API accepts in a tunnel (v2) or endpoint (v3) definition; anything else is a 400.
V2_HTTP_OPTIONS = {
    "addr",
    "proto",
    "name",
    "inspect",
    "schemes",
    "bind_tls",
    "domain",
    "hostname",
    "subdomain",
    "host_header",
    "basic_auth",
    "auth",
    "metadata",
    "request_header",
    "response_header",
    "compression",
    "circuit_breaker",
    "ip_restriction",
    "oauth",
    "oidc",
    "verify_webhook",
    "webhook_verification",
    "traffic_policy",
    "pooling_enabled",
    "url",
}
V3_OPTIONS = {
    "name",
    "url",
    "upstream",
    "traffic_policy",
    "metadata",
    "description",
    "bindings",
    "pooling_enabled",
}

_out_lock = threading.Lock()


# ---------------------------------------------------------------- logging in ngrok's logfmt shape


def _logfmt_value(value: object) -> str:
    text = "nil" if value is None else str(value)
    if text and not any(c in text for c in ' ="\n\r\t\\'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def log(lvl: str, msg: str, **fields: object) -> None:
    """Print one ngrok-style log line (``lvl`` is ngrok's: info, warn, eror, crit) and flush."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    parts = [f"t={stamp}", f"lvl={lvl}", f"msg={_logfmt_value(msg)}"]
    parts += [f"{key}={_logfmt_value(value)}" for key, value in fields.items()]
    with _out_lock:
        try:
            sys.stdout.write(" ".join(parts) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # reader went away; nothing left to tell
            pass


# ---------------------------------------------------------------- command line and config


class Usage(Exception):
    """Bad command line: ngrok prints ``ERROR:`` lines to stderr and exits 1."""


def parse_args(argv: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Split argv into positional words and ``--flag value`` / ``--flag=value`` options (repeatable)."""
    boolean = {"none", "all", "version", "help"}
    words: list[str] = []
    flags: dict[str, list[str]] = {}
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item.startswith("--") or (item.startswith("-") and len(item) == 2):
            name, eq, value = item.lstrip("-").partition("=")
            if not eq and name not in boolean:
                if i + 1 >= len(items):
                    raise Usage(f"flag needs an argument: {item}")
                i += 1
                value = items[i]
            flags.setdefault(name, []).append(value if (eq or name not in boolean) else "true")
        else:
            words.append(item)
        i += 1
    return words, flags


def last(flags: dict[str, list[str]], name: str) -> str | None:
    """The last value given for a repeatable flag (later flags win, as with ngrok's cobra CLI)."""
    values = flags.get(name)
    return values[-1] if values else None


def address_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"{host!s}:{port}" if isinstance(host, str) else f"{host.decode()}:{port}"


def default_config_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "ngrok", "ngrok.yml")


def config_paths(flags: dict[str, list[str]]) -> list[str]:
    paths = [p for value in flags.get("config", []) for p in value.split(",") if p]
    return paths or [default_config_path()]


def load_config(paths: Sequence[str], quiet: bool = False) -> dict[str, Any]:
    """Merge the YAML files like ngrok does (later files win); v3 keeps agent settings under ``agent``."""
    merged: dict[str, Any] = {}
    for path in paths:
        if not quiet:
            log("info", "open config file", path=path, err=None)
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except FileNotFoundError:
            if len(paths) == 1 and path == default_config_path():
                continue
            raise Usage(f"open {path}: no such file or directory") from None
        except yaml.YAMLError as exc:
            raise Usage(f"Error reading configuration file '{path}': {exc}") from None
        if not isinstance(data, dict):
            raise Usage(f"Error reading configuration file '{path}': not a mapping")
        agent = data.get("agent") if str(data.get("version")) == "3" else data
        for key, value in (agent or {}).items():
            merged[key] = value
        for block in ("tunnels", "endpoints"):
            if data.get(block):
                merged[block] = data[block]
    return merged


# ---------------------------------------------------------------- tunnels and their edges


def random_host() -> str:
    return f"{secrets.token_hex(4)}-{secrets.token_hex(2)}.{PUBLIC_SUFFIX}"


def empty_metrics() -> dict[str, Any]:
    stats = {"rate1": 0, "rate5": 0, "rate15": 0, "p50": 0, "p90": 0, "p95": 0, "p99": 0}
    return {"conns": {"count": 0, "gauge": 0, **stats}, "http": {"count": 0, **stats}}


class Tunnel:
    """One http tunnel/endpoint: its public URL, upstream and the local edge listener standing in for it."""

    def __init__(
        self,
        name: str,
        upstream: str,
        scheme: str,
        reserved_host: str | None,
        host_header: str | None,
        style: str,
    ) -> None:
        self.name = name
        self.id = secrets.token_hex(16)
        self.upstream = upstream  # always a URL: http://host:port
        self.scheme = scheme
        self.reserved_host = reserved_host
        self.host_header = host_header
        self.style = style  # "tunnels" (v2) or "endpoints" (v3): where pyngrok created it
        self.public_host = reserved_host or random_host()
        self.metrics = empty_metrics()
        self.metrics_lock = threading.Lock()
        self.edge = ThreadingHTTPServer(("127.0.0.1", 0), EdgeHandler)
        self.edge.daemon_threads = True
        self.edge.tunnel = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.edge.serve_forever, args=(0.05,), name=f"edge-{name}", daemon=True
        )
        self.thread.start()

    @property
    def public_url(self) -> str:
        return f"{self.scheme}://{self.public_host}"

    @property
    def edge_addr(self) -> str:
        return address_of(self.edge)

    def close(self) -> None:
        self.edge.shutdown()
        self.edge.server_close()

    def count(self) -> None:
        with self.metrics_lock:
            self.metrics["conns"]["count"] += 1
            self.metrics["http"]["count"] += 1

    def as_tunnel(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "name": self.name,
            "uri": f"/api/tunnels/{self.name}",
            "public_url": self.public_url,
            "proto": self.scheme,
            "config": {"addr": self.upstream, "inspect": True},
            "metrics": self.metrics,
            "fake_edge": self.edge_addr,
        }

    def as_endpoint(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "uri": f"/api/endpoints/{self.name}",
            "url": self.public_url,
            "upstream": {"url": self.upstream, "protocol": "http1"},
            "traffic_policy": "",
            "pooling_enabled": False,
            "metrics": self.metrics,
            "fake_edge": self.edge_addr,
        }


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str, err: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg, self.err = status, code, msg, err

    def body(self) -> dict[str, Any]:
        return {
            "error_code": self.code,
            "status_code": self.status,
            "msg": self.msg,
            "details": {"err": self.err},
        }


def _upstream_url(addr: object) -> str:
    text = str(addr)
    if "://" in text:
        return text
    if text.isdigit():
        return f"http://localhost:{text}"
    return f"http://{text}"


def _host_of(value: object) -> str:
    text = str(value)
    return urlsplit(text).hostname or text if "://" in text else text


class Agent:
    """The agent's state: config, tunnels, the session (URL changes on reconnect)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.tunnels: dict[str, Tunnel] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.web: ThreadingHTTPServer | None = None

    # -- tunnels
    def create(self, options: dict[str, Any], style: str) -> Tunnel:
        if style == "endpoints":
            unknown = set(options) - V3_OPTIONS
            upstream_opt = options.get("upstream") or {}
            addr = upstream_opt.get("url") if isinstance(upstream_opt, dict) else upstream_opt
            if addr is None:
                raise ApiError(400, 102, "invalid endpoint configuration", "upstream.url is required")
            url = str(options.get("url") or "https://")
            parsed = urlsplit(url if "://" in url else f"https://{url}")
            scheme, reserved = parsed.scheme or "https", parsed.hostname
            host_header = None
        else:
            unknown = set(options) - V2_HTTP_OPTIONS
            if options.get("proto", "http") != "http":
                raise ApiError(
                    400, 102, "invalid tunnel configuration", "the fake agent serves http tunnels only"
                )
            addr = options.get("addr", "80")
            schemes = options.get("schemes") or ["https"]
            scheme = "https" if "https" in schemes else "http"
            reserved_opt = options.get("domain") or options.get("hostname") or options.get("url")
            reserved = _host_of(reserved_opt) if reserved_opt else None
            if options.get("subdomain") and not reserved:
                reserved = f"{options['subdomain']}.{PUBLIC_SUFFIX}"
            host_header = options.get("host_header")
        if unknown:
            kind = "config.HTTPv2Tunnel" if style == "tunnels" else "config.EndpointConfig"
            raise ApiError(
                400,
                102,
                "invalid tunnel configuration",
                f"yaml: unmarshal errors:\n  line 1: field {sorted(unknown)[0]} not found in type {kind}",
            )
        name = str(options.get("name") or f"{style}-{secrets.token_hex(4)}")
        with self.lock:
            if name in self.tunnels:
                raise ApiError(
                    400, 102, "invalid tunnel configuration", f'a tunnel named "{name}" already exists'
                )
            taken = {t.public_host for t in self.tunnels.values()}
            if reserved and reserved in taken:
                raise ApiError(
                    502, 103, "failed to start tunnel", f"The endpoint '{reserved}' is already online."
                )
            tunnel = Tunnel(
                name, _upstream_url(addr), scheme, reserved, str(host_header) if host_header else None, style
            )
            self.tunnels[name] = tunnel
        log("info", "started tunnel", obj="tunnels", name=name, addr=tunnel.upstream, url=tunnel.public_url)
        return tunnel

    def get(self, name: str) -> Tunnel:
        with self.lock:
            tunnel = self.tunnels.get(name)
        if tunnel is None:
            raise ApiError(404, 100, "tunnel not found", f'Tunnel "{name}" not found')
        return tunnel

    def delete(self, name: str) -> None:
        with self.lock:
            tunnel = self.tunnels.pop(name, None)
        if tunnel is None:
            raise ApiError(404, 100, "tunnel not found", f'Tunnel "{name}" not found')
        tunnel.close()
        log("info", "stopped tunnel", obj="tunnels", name=name)

    def listing(self) -> list[Tunnel]:
        with self.lock:
            return list(self.tunnels.values())

    def reconnect(self) -> None:
        """Simulate a dropped and re-established session: random URLs change, reserved ones don't."""
        log(
            "eror",
            "heartbeat timeout, terminating session",
            obj="tunnels.session",
            clientid=secrets.token_hex(16),
        )
        log("info", "client session established", obj="tunnels.session")
        with self.lock:
            for tunnel in self.tunnels.values():
                if not tunnel.reserved_host:
                    tunnel.public_host = random_host()
        log("info", "tunnel session started", obj="tunnels.session")
        for tunnel in self.listing():
            log(
                "info",
                "started tunnel",
                obj="tunnels",
                name=tunnel.name,
                addr=tunnel.upstream,
                url=tunnel.public_url,
            )

    def shutdown(self) -> None:
        for tunnel in self.listing():
            tunnel.close()
        if self.web is not None:
            self.web.shutdown()
            self.web.server_close()


# ---------------------------------------------------------------- HTTP handlers


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, body: bytes, headers: Sequence[tuple[str, str]]) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if status != 204 and status >= 200:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD" and status != 204:
            self.wfile.write(body)


class ApiHandler(_QuietHandler):
    """The agent API (``http://<web_addr>/api``)."""

    server_version = "ngrok-agent-fake"

    @property
    def agent(self) -> Agent:
        return self.server.agent  # type: ignore[attr-defined, no-any-return]

    def reply(self, status: int, data: dict[str, Any] | None) -> None:
        body = b"" if data is None else json.dumps(data).encode()
        self.send(status, body, [("Content-Type", "application/json")] if data is not None else [])

    def handle_api(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        parts = [unquote(p) for p in path.split("/") if p]
        body = self.read_body()
        try:
            if parts[:1] != ["api"]:
                raise ApiError(404, 100, "not found", f"no route for {path}")
            self.route(parts[1:], body)
        except ApiError as exc:
            self.reply(exc.status, exc.body())

    def route(self, parts: list[str], body: bytes) -> None:
        agent, method = self.agent, self.command
        if not parts and method == "GET":
            self.reply(200, {"uri": "/api", "tunnels": "/api/tunnels", "endpoints": "/api/endpoints"})
        elif parts in (["tunnels"], ["endpoints"]):
            style = parts[0]
            if method == "GET":
                items = [t.as_tunnel() if style == "tunnels" else t.as_endpoint() for t in agent.listing()]
                self.reply(200, {style: items, "uri": f"/api/{style}"})
            elif method == "POST":
                try:
                    options = json.loads(body or b"{}")
                except ValueError as exc:
                    raise ApiError(400, 102, "invalid request body", str(exc)) from None
                if not isinstance(options, dict):
                    raise ApiError(400, 102, "invalid request body", "expected a JSON object")
                tunnel = agent.create(options, style)
                self.reply(201, tunnel.as_tunnel() if style == "tunnels" else tunnel.as_endpoint())
            else:
                raise ApiError(405, 101, "method not allowed", method)
        elif len(parts) == 2 and parts[0] in ("tunnels", "endpoints"):
            if method == "GET":
                tunnel = agent.get(parts[1])
                self.reply(200, tunnel.as_tunnel() if parts[0] == "tunnels" else tunnel.as_endpoint())
            elif method == "DELETE":
                agent.delete(parts[1])
                self.reply(204, None)
            else:
                raise ApiError(405, 101, "method not allowed", method)
        elif parts == ["requests", "http"] and method in ("GET", "DELETE"):
            self.reply(200, {"uri": "/api/requests/http", "requests": []} if method == "GET" else None)
        elif parts == ["_fake", "reconnect"] and method == "POST":
            agent.reconnect()
            self.reply(204, None)
        else:
            raise ApiError(404, 100, "not found", f"no route for /api/{'/'.join(parts)}")

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = handle_api


class EdgeHandler(_QuietHandler):
    """ngrok's cloud edge for one tunnel: TLS is "terminated" here and plain HTTP goes upstream."""

    server_version = "ngrok-edge-fake"

    @property
    def tunnel(self) -> Tunnel:
        return self.server.tunnel  # type: ignore[attr-defined, no-any-return]

    def forward(self) -> None:
        tunnel = self.tunnel
        body = self.read_body()
        tunnel.count()
        upstream = urlsplit(tunnel.upstream)
        up_host, up_port = upstream.hostname or "localhost", upstream.port or 80
        headers: list[tuple[str, str]] = []
        for key, value in self.headers.items():
            if key.lower() in HOP_BY_HOP or key.lower() in ("host", "content-length"):
                continue
            headers.append((key, value))
        if tunnel.host_header == "rewrite":
            host = f"{up_host}:{up_port}"
        else:
            host = tunnel.host_header or tunnel.public_host
        client_ip = self.client_address[0]
        prior = self.headers.get("X-Forwarded-For")
        headers += [
            ("Host", host),
            ("X-Forwarded-For", f"{prior}, {client_ip}" if prior else client_ip),
            ("X-Forwarded-Host", tunnel.public_host),
            ("X-Forwarded-Proto", tunnel.scheme),
        ]
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(body))))
        log(
            "info",
            "join connections",
            obj="join",
            id=secrets.token_hex(6),
            l=f"{up_host}:{up_port}",
            r=client_ip,
        )
        try:
            conn = http.client.HTTPConnection(up_host, up_port, timeout=30)
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in headers:
                conn.putheader(key, value)
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
            out = [
                (k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}
            ]
            conn.close()
        except OSError as exc:
            log("warn", "failed to open private leg", obj="tunnels.session", err=str(exc))
            page = (
                "Traffic was successfully tunneled to the ngrok agent, but the agent failed to establish a "
                f"connection to the upstream web service at {up_host}:{up_port}. ERR_NGROK_8012"
            ).encode()
            self.send(502, page, [("Content-Type", "text/plain"), ("Ngrok-Error-Code", "ERR_NGROK_8012")])
            return
        self.send(response.status, data, out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = forward


# ---------------------------------------------------------------- commands


def bind_web(addr: str) -> ThreadingHTTPServer:
    host, _, port_text = addr.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    port = int(port_text or DEFAULT_WEB_PORT)
    # Like ngrok: if the default inspector port is taken, try the next few.
    candidates = range(port, port + 10) if port == DEFAULT_WEB_PORT else [port]
    last: OSError | None = None
    for candidate in candidates:
        try:
            server = ThreadingHTTPServer((host, candidate), ApiHandler)
        except OSError as exc:
            last = exc
            continue
        server.daemon_threads = True
        return server
    raise Usage(f"failed to start web service: {last}")


def fail_session(code: str, token: str | None) -> int:
    err = AUTH_ERRORS[code].replace("{token}", token or "")
    log("eror", "failed to reconnect session", obj="csess", id=secrets.token_hex(6), err=err)
    log("eror", "session closing", obj="tunnels.session", err=err)
    log("info", "received stop request", obj="app", stopReq="{err:<nil> restart:false}")
    first = err.split("\n", 1)[0]
    sys.stderr.write(f"ERROR:  {first}\nERROR:  \nERROR:  ERR_NGROK_{code}\n")
    sys.stderr.write(f"ERROR:  https://ngrok.com/docs/errors/err_ngrok_{code}\nERROR:  \n")
    return 1


def run_offline(agent: Agent) -> int:
    """No route to ngrok's servers: like the real agent, keep retrying (and logging) until stopped."""
    err = (
        'failed to dial ngrok server with address "connect.ngrok-agent.com:443": '
        "dial tcp: lookup connect.ngrok-agent.com: no such host"
    )
    while not agent.stopping.wait(0.2):
        log("eror", "failed to reconnect session", obj="csess", id=secrets.token_hex(6), err=err)
    agent.shutdown()
    return 0


def cmd_start(words: list[str], flags: dict[str, list[str]], http_addr: str | None = None) -> int:
    paths = config_paths(flags)
    config = load_config(paths)
    token = last(flags, "authtoken") or config.get("authtoken") or os.environ.get("NGROK_AUTHTOKEN")
    agent = Agent(config)

    def on_stop(_signum: int, _frame: object) -> None:
        agent.stopping.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if hasattr(signal, "SIGUSR1"):
        signal.signal(
            signal.SIGUSR1, lambda _signum, _frame: threading.Thread(target=agent.reconnect).start()
        )

    web = bind_web(str(config.get("web_addr") or f"127.0.0.1:{DEFAULT_WEB_PORT}"))
    web.agent = agent  # type: ignore[attr-defined]
    agent.web = web
    threading.Thread(target=web.serve_forever, args=(0.05,), name="web", daemon=True).start()
    log("info", "starting web service", obj="web", addr=address_of(web), allow_hosts="[]")

    forced = os.environ.get("FAKE_NGROK_FAIL", "").strip()
    if forced == "offline":
        return run_offline(agent)
    if forced in AUTH_ERRORS:
        code = forced
    elif not token:
        code = "4018"
    elif token.startswith("bad"):
        code = "107"
    elif token.startswith("limited"):
        code = "108"
    else:
        code = ""
    if code:
        agent.shutdown()
        return fail_session(code, token)

    region = last(flags, "region") or config.get("region") or "us"
    log("info", "client session established", obj="tunnels.session", region=region)
    log("info", "tunnel session started", obj="tunnels.session")
    try:
        if http_addr is not None:
            url = last(flags, "url") or last(flags, "domain")
            agent.create(
                {"addr": http_addr, "name": "command_line", **({"domain": url} if url else {})}, "tunnels"
            )
        elif "all" in flags or words:
            definitions = dict(config.get("tunnels") or {})
            chosen = definitions if "all" in flags else {n: definitions[n] for n in words if n in definitions}
            for name, definition in chosen.items():
                agent.create({**definition, "name": name}, "tunnels")
    except ApiError as exc:
        log("crit", "command failed", err=exc.err)
        agent.shutdown()
        return 1

    while not agent.stopping.wait(0.2):
        pass
    log("info", "received stop request", obj="app", stopReq="{err:<nil> restart:false}")
    agent.shutdown()
    log("info", "session closing", obj="tunnels.session", err=None)
    return 0


def cmd_config(words: list[str], flags: dict[str, list[str]]) -> int:
    sub = words[1] if len(words) > 1 else ""
    path = config_paths(flags)[-1]
    if sub == "check":
        load_config([path], quiet=True)
        print(f"Valid configuration file at {path}")
        return 0
    if sub == "upgrade":
        load_config([path], quiet=True)
        print(f"Configuration file at {path} is up to date")
        return 0
    if sub in ("add-authtoken", "add-api-key") and len(words) > 2:
        key = "authtoken" if sub == "add-authtoken" else "api_key"
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except FileNotFoundError:
            data = {}
        data.setdefault("version", "3")
        if str(data["version"]) == "3":
            data.setdefault("agent", {})[key] = words[2]
        else:
            data[key] = words[2]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(data, handle)
        print(("Authtoken" if key == "authtoken" else "API key") + f" saved to configuration file: {path}")
        return 0
    raise Usage(f"unknown command: config {sub}")


def main(argv: Sequence[str]) -> int:
    try:
        words, flags = parse_args(argv)
        if "version" in flags or (words and words[0] == "version"):
            print(f"ngrok version {VERSION}")
            return 0
        if not words or "help" in flags:
            print("NAME:\n  ngrok - tunnel local ports to public URLs and inspect traffic (fake for tests)")
            return 0
        command = words[0]
        if command == "start":
            return cmd_start(words[1:], flags)
        if command == "http" and len(words) > 1:
            return cmd_start([], flags, http_addr=words[1])
        if command == "config":
            return cmd_config(words, flags)
        if command == "update":
            print("No update available, this is the latest version.")
            return 0
        raise Usage(f'unknown command "{command}" for "ngrok"')
    except Usage as exc:
        sys.stderr.write(f"ERROR:  {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
