"""The ngrok tunnel that gives the local receiver a public https URL for Twilio, via pyngrok.

Qt-free: the GUI calls :meth:`TunnelManager.start` on a worker thread (it blocks until ngrok is up) and
turns the result or the :class:`TunnelError` into signals.

What is exposed. ngrok forwards *every* path of its public URL to the local port, but only the webhook
paths (receiver/webhook_paths.py) are usable through it: the receiver rejects any other path on a
request that came through a proxy (it carries ``X-Forwarded-For``, which ngrok always adds), so the
health endpoint and anything else stay local. ngrok terminates TLS and forwards plain HTTP with the
public ``Host`` kept (no ``host_header`` rewrite) and ``X-Forwarded-Proto: https``; signatures are still
validated against the public URL returned here, never against the request's own URL
(https://www.twilio.com/docs/usage/webhooks/webhooks-security: Twilio signs the URL it called).

Failures are classified for the operator (:class:`TunnelError` ``kind``): no ngrok binary (pyngrok would
try to download one; there may be no network, so we check first and never let it), no authtoken
(ERR_NGROK_4018), a rejected authtoken (ERR_NGROK_105/107), the free plan's one-agent-session limit
(ERR_NGROK_108), anything else.

The authtoken. It comes from the caller (read from the keyring by ``receiver.secrets``) and is written
only to a private ngrok config file (mode 0600, in a 0700 temp folder deleted on :meth:`stop`). It is
not passed on the command line (other users could read it from the process list), and it is masked in
log records of pyngrok (ngrok quotes a rejected token in its error) and in our error messages.

Free ngrok URLs change when the agent reconnects or restarts: :meth:`check_url` asks the agent for the
current URL so the caller can re-point Twilio.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Literal

from pyngrok import conf, installer, ngrok, process
from pyngrok.exception import PyngrokError, PyngrokNgrokError, PyngrokNgrokHTTPError

log = logging.getLogger(__name__)

TunnelErrorKind = Literal["no_binary", "no_authtoken", "bad_authtoken", "session_limit", "other"]

TUNNEL_NAME = "callback-monitor"
MASK = "********"
OWN_URL_ADVICE = (
    "or use a public URL of your own (reverse proxy, another tunnel): Tools → Use my own public URL…"
)
NGROK_DOWNLOAD = "https://ngrok.com/download"
# Loggers that may see ngrok's output or our options; their records get the authtoken masked.
PYNGROK_LOGGERS = ("pyngrok.process.ngrok", "pyngrok.process", "pyngrok.ngrok", "pyngrok.installer")

_CODE_RE = re.compile(r"ERR_NGROK_(\d+)")
_BAD_TOKEN_CODES = {"105", "106", "107"}


class TunnelError(Exception):
    """Why the tunnel could not start or went away: ``message`` says what happened, ``advice`` what to do."""

    def __init__(self, kind: TunnelErrorKind, message: str, advice: str, code: str | None = None) -> None:
        super().__init__(message)
        self.kind: TunnelErrorKind = kind
        self.message = message
        self.advice = advice
        #: ngrok's error code (``ERR_NGROK_108``) when there was one.
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} {self.advice}"


@dataclass
class TunnelSettings:
    """What the operator configured. ``authtoken`` comes from the keyring and is never persisted by us."""

    ngrok_path: str | None = None  # None: ``ngrok`` on PATH, then pyngrok's default install location
    authtoken: str | None = None
    region: str | None = None  # e.g. "eu"; None lets ngrok pick the nearest
    domain: str | None = None  # a reserved/static domain, e.g. "example.ngrok-free.app"
    config_dir: str | None = None  # where the private temp folder goes (default: the system temp dir)
    web_addr: str | None = None  # agent API / inspector address; None: ngrok's 127.0.0.1:4040
    startup_timeout: int = 15  # seconds to wait for the agent's session


def find_ngrok(explicit: str | None) -> str | None:
    """The ngrok executable to use, or None. An explicit path is used as given, with no fallback."""
    if explicit:
        candidates = [os.path.expanduser(explicit)]
    else:
        candidates = [c for c in (shutil.which("ngrok"), conf.DEFAULT_NGROK_PATH) if c]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    return None


def _mask(text: str, secret: str | None) -> str:
    return text.replace(secret, MASK) if secret else text


class _MaskSecret(logging.Filter):
    """Replaces the authtoken in log records (ngrok echoes a rejected token in its error line)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg = message.replace(self._secret, MASK)
            record.args = None
        return True


def _error_text(exc: BaseException) -> str:
    """Everything pyngrok knows about a failure: message, ngrok's ``err=``, the agent's log lines."""
    parts = [str(exc)]
    if isinstance(exc, PyngrokNgrokError):
        parts.append(exc.ngrok_error or "")
        parts += [entry.line for entry in exc.ngrok_logs]
    if isinstance(exc, PyngrokNgrokHTTPError):
        parts.append(exc.body or "")
    return "\n".join(p for p in parts if p)


def _detail(exc: BaseException) -> str:
    """One readable line saying what ngrok reported."""
    text = ""
    if isinstance(exc, PyngrokNgrokHTTPError):
        try:
            body: Any = json.loads(exc.body)
            details = body.get("details") or {}
            text = str(details.get("err") or body.get("msg") or "")
        except (ValueError, AttributeError):
            text = ""
    if not text and isinstance(exc, PyngrokNgrokError) and exc.ngrok_error:
        text = exc.ngrok_error
    if not text:
        text = str(exc)
    text = text.replace("\\r", "").replace("\\n", "\n").strip()
    first = text.splitlines()[0].strip() if text else type(exc).__name__
    return first[:300]


def _no_authtoken() -> TunnelError:
    return TunnelError(
        "no_authtoken",
        "ngrok refused to start: it needs the authtoken of a verified ngrok account (ERR_NGROK_4018).",
        "Copy your authtoken from https://dashboard.ngrok.com/get-started/your-authtoken and enter it in "
        f"Tools → Tunnel settings…, {OWN_URL_ADVICE}.",
        "ERR_NGROK_4018",
    )


def classify_failure(exc: BaseException, authtoken: str | None = None) -> TunnelError:
    """Turn a pyngrok exception into a :class:`TunnelError`, by the ERR_NGROK code ngrok reported.

    ``authtoken`` is masked out of the message (ngrok quotes a rejected token in its error).
    """
    text = _error_text(exc)
    codes = _CODE_RE.findall(text)
    if "4018" in codes:
        return _no_authtoken()
    bad = next((c for c in codes if c in _BAD_TOKEN_CODES), None)
    if bad:
        return TunnelError(
            "bad_authtoken",
            f"ngrok rejected the authtoken: it is malformed, reset or revoked (ERR_NGROK_{bad}).",
            "Copy the current authtoken from https://dashboard.ngrok.com/get-started/your-authtoken and "
            "enter it again in Tools → Tunnel settings….",
            f"ERR_NGROK_{bad}",
        )
    if "108" in codes:
        return TunnelError(
            "session_limit",
            "Your ngrok account already has an agent running elsewhere; free accounts allow one agent "
            "session at a time (ERR_NGROK_108).",
            "Stop the other ngrok agent (another terminal, app or computer; see "
            f"https://dashboard.ngrok.com/agents) and start the tunnel again, {OWN_URL_ADVICE}.",
            "ERR_NGROK_108",
        )
    detail = _mask(_detail(exc), authtoken)
    code = f"ERR_NGROK_{codes[0]}" if codes else None
    if "failed to dial" in text or "no such host" in text:
        return TunnelError(
            "other",
            f"ngrok could not reach its servers (no network, or blocked by a firewall or proxy): {detail}",
            f"Check the network connection and try again, {OWN_URL_ADVICE}.",
            code,
        )
    return TunnelError(
        "other",
        f"ngrok could not open the tunnel: {detail}",
        f"Check the tunnel settings (region, reserved domain) and try again, {OWN_URL_ADVICE}.",
        code,
    )


def _no_binary(explicit: str | None) -> TunnelError:
    where = f" at {explicit}" if explicit else ""
    return TunnelError(
        "no_binary",
        f"The ngrok program was not found{where}. The app never downloads it by itself.",
        f"Install ngrok from {NGROK_DOWNLOAD} (on a computer without internet access, copy the program "
        "over from one that has it) and point the app at it in Tools → Tunnel settings… → ngrok program, "
        f"{OWN_URL_ADVICE}.",
    )


def write_private_config(folder: str, authtoken: str, web_addr: str | None) -> str:
    """Write the ngrok v3 config pyngrok starts the agent with; readable by the owner only (0600)."""
    path = os.path.join(folder, "ngrok.yml")
    lines = ['version: "3"', "agent:", f"  authtoken: {json.dumps(authtoken)}", "  update_check: false"]
    if web_addr:
        lines.append(f"  web_addr: {json.dumps(web_addr)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


class TunnelManager:
    """Starts and stops one ngrok tunnel to the local receiver. Thread-safe; calls block."""

    def __init__(self, settings: TunnelSettings) -> None:
        self._settings = settings
        self._lock = threading.RLock()
        self._config: conf.PyngrokConfig | None = None
        self._folder: str | None = None
        self._tunnel: ngrok.NgrokTunnel | None = None
        self._public_url: str | None = None
        self._filter: _MaskSecret | None = None
        self._pid: int | None = None

    @property
    def public_url(self) -> str | None:
        """The https URL Twilio should call (base, no trailing slash), or None when not running."""
        return self._public_url

    @property
    def api_url(self) -> str | None:
        """The agent's local API and inspector (``http://127.0.0.1:4040``), or None when not running."""
        return self._tunnel.api_url if self._tunnel is not None else None

    @property
    def agent_pid(self) -> int | None:
        """Process id of the running ngrok agent (for diagnostics), or None."""
        with self._lock:
            config = self._config
            if config is None or not process.is_process_running(config.ngrok_path):
                return None
            return self._pid

    def start(self, local_port: int) -> str:
        """Start ngrok forwarding https traffic to ``127.0.0.1:local_port``; return the public https URL.

        Blocks until the agent is up (up to ``startup_timeout`` seconds). Restarts if already running.
        Raises :class:`TunnelError`.
        """
        settings = self._settings
        with self._lock:
            self._stop_locked()
            path = find_ngrok(settings.ngrok_path)
            if path is None:
                raise _no_binary(settings.ngrok_path)
            token = (settings.authtoken or "").strip()
            if not token:
                raise _no_authtoken()  # ngrok would say the same (ERR_NGROK_4018), after starting
            self._filter = _MaskSecret(token)
            for name in PYNGROK_LOGGERS:
                logging.getLogger(name).addFilter(self._filter)
            try:
                if settings.config_dir:
                    os.makedirs(settings.config_dir, exist_ok=True)
                self._folder = tempfile.mkdtemp(prefix="callback-monitor-ngrok-", dir=settings.config_dir)
                config_path = write_private_config(self._folder, token, settings.web_addr)
            except OSError as exc:
                self._stop_locked()
                raise TunnelError(
                    "other",
                    f"Could not write the private ngrok configuration: {exc}",
                    "Check that the app's data folder is writable.",
                ) from None
            config = conf.PyngrokConfig(
                ngrok_path=path,
                config_path=config_path,
                region=settings.region or None,
                startup_timeout=settings.startup_timeout,
            )
            config.auth_token = None  # PyngrokConfig falls back to $NGROK_AUTHTOKEN: keep it off argv
            self._config = config
            # pyngrok reuses a running agent of the same binary; ours must start with our config.
            ngrok.kill(config)
            log.info(
                "Starting ngrok tunnel to 127.0.0.1:%d (region %s)", local_port, settings.region or "auto"
            )
            try:
                tunnel = ngrok.connect(
                    f"http://127.0.0.1:{local_port}",
                    "http",
                    name=TUNNEL_NAME,
                    pyngrok_config=config,
                    **self._endpoint_options(config),
                )
            except (PyngrokError, OSError) as exc:  # OSError: the binary would not run (wrong platform…)
                error = classify_failure(exc, token)
                log.warning("ngrok failed to start (%s): %s", error.kind, error.message)
                self._stop_locked()
                raise error from None  # the cause may quote the token (ERR_NGROK_107)
            public_url = (tunnel.public_url or "").rstrip("/")
            if not public_url.startswith("https://"):
                self._stop_locked()
                raise TunnelError(
                    "other",
                    f"ngrok opened {public_url or 'no URL'} instead of an https URL.",
                    f"Check the reserved domain in Tools → Tunnel settings…, {OWN_URL_ADVICE}.",
                )
            self._tunnel = tunnel
            self._public_url = public_url
            self._pid = int(process.get_process(config).proc.pid)  # running: connect() just used it
            log.info("ngrok tunnel up: %s -> 127.0.0.1:%d", public_url, local_port)
            return public_url

    def _endpoint_options(self, config: conf.PyngrokConfig) -> dict[str, Any]:
        """https only; a reserved domain if set. pyngrok 9 speaks endpoints (v3), older ones tunnels (v2)."""
        domain = (self._settings.domain or "").strip()
        domain = re.sub(r"^[a-z]+://", "", domain).strip("/")
        if getattr(config, "config_version", "2") == "3":
            return {"url": f"https://{domain}"} if domain else {}
        options: dict[str, Any] = {"schemes": ["https"]}
        if domain:
            options["domain"] = domain
        return options

    def stop(self) -> None:
        """Kill the agent (closing the tunnel) and delete the private config folder. Idempotent."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        config, folder = self._config, self._folder
        if config is not None:
            try:
                ngrok.kill(config)
            except (PyngrokError, OSError) as exc:
                log.warning("Could not stop the ngrok agent cleanly: %s", exc)
            # pyngrok caches parsed config files, authtoken included.
            installer._config_cache.pop(config.config_path or "", None)
            log.info("ngrok tunnel stopped")
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if self._filter is not None:
            for name in PYNGROK_LOGGERS:
                logging.getLogger(name).removeFilter(self._filter)
        self._config = self._folder = self._tunnel = self._public_url = self._filter = self._pid = None

    def check_url(self) -> str | None:
        """Ask the agent for the tunnel's current URL; return it if it changed (else None).

        Free ngrok URLs change when the agent's session reconnects. Returns None when not started.
        Raises :class:`TunnelError` (kind ``other``) if the agent died or lost the tunnel.
        """
        with self._lock:
            config, tunnel = self._config, self._tunnel
            if config is None or tunnel is None:
                return None
            if not process.is_process_running(config.ngrok_path):
                self._stop_locked()
                raise TunnelError(
                    "other",
                    "The ngrok agent stopped; the public URL no longer reaches this computer.",
                    f"Start the tunnel again, {OWN_URL_ADVICE}.",
                )
            try:
                data = ngrok.api_request(
                    f"{tunnel.api_url}{tunnel.uri}", method="GET", timeout=config.request_timeout
                )
            except PyngrokError as exc:
                raise TunnelError(
                    "other",
                    f"Could not ask the ngrok agent for its URL: {_detail(exc)}",
                    "Start the tunnel again if this persists.",
                ) from None
            current = (ngrok.NgrokTunnel(data, config, tunnel.api_url).public_url or "").rstrip("/")
            if not current or current == self._public_url:
                return None
            log.info("ngrok public URL changed: %s -> %s", self._public_url, current)
            self._public_url = current
            return current
