"""The public URL Twilio calls: an ngrok tunnel (pyngrok, always off the GUI thread) or one of the
operator's own.

Whichever it is becomes the receiver's base for signature validation (``controller.set_public_url``),
because behind a tunnel the request's own URL is ``http://127.0.0.1:…``, not what Twilio signed
(TWILIO-FACTS §3.4). Free ngrok URLs change when the agent reconnects, so a timer asks the agent for
its current URL (again off the GUI thread) and announces a change.

Settings (QSettings, never secrets): ``tunnel/ngrok_path``, ``tunnel/region``, ``tunnel/domain``,
``tunnel/poll_seconds``,
``tunnel/web_addr``. The ngrok authtoken lives in the keyring (``receiver.secrets.NGROK_AUTHTOKEN``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from desktop.receiver_controller import ReceiverController
from desktop.workers import TaskRunner
from receiver.own_url import check_own_url
from receiver.secrets import NGROK_AUTHTOKEN, SecretStore
from receiver.tunnel import TunnelError, TunnelManager, TunnelSettings

Mode = Literal["off", "starting", "tunnel", "own"]
DEFAULT_POLL_SECONDS = 5  # a local call to the agent: cheap, and a new URL shows within seconds
ManagerFactory = Callable[[TunnelSettings], Any]


def read_tunnel_settings(settings: QSettings, secrets: SecretStore) -> TunnelSettings:
    """What the operator configured; the authtoken from the keyring."""

    def text(key: str) -> str | None:
        value = str(settings.value(f"tunnel/{key}", "") or "").strip()
        return value or None

    return TunnelSettings(
        ngrok_path=text("ngrok_path"),
        authtoken=secrets.get(NGROK_AUTHTOKEN),
        region=text("region"),
        domain=text("domain"),
        web_addr=text("web_addr"),  # the agent's inspector/API address; empty: ngrok's 127.0.0.1:4040
    )


class TunnelController(QObject):
    """Owns the TunnelManager; every call into it runs on a worker thread.

    Signals:
        stateChanged(str): "off" | "starting" | "tunnel" | "own".
        publicUrlChanged(str): the public base URL now in use ("" when none).
        failed(object): a ``TunnelError`` (message + advice) the operator should read.
        urlChanged(str, str): the tunnel's URL changed by itself (old, new); Twilio still calls the old.
    """

    stateChanged = Signal(str)
    publicUrlChanged = Signal(str)
    failed = Signal(object)
    urlChanged = Signal(str, str)

    def __init__(
        self,
        controller: ReceiverController,
        settings: QSettings,
        secrets: SecretStore,
        runner: TaskRunner,
        manager_factory: ManagerFactory = TunnelManager,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = settings
        self.secrets = secrets
        self.runner = runner
        self._factory = manager_factory
        self._manager: Any = None
        self._pending: Any = None
        self._checking = False
        self._generation = 0  # bumps on every start/stop: a late start result for an old one is dropped
        self.mode: Mode = "off"
        self.poll = QTimer(self)
        seconds = int(str(settings.value("tunnel/poll_seconds", DEFAULT_POLL_SECONDS)))
        self.poll.setInterval(max(1, seconds) * 1000)
        self.poll.timeout.connect(self.check_now)

    @property
    def public_url(self) -> str | None:
        return self.controller.config.public_url

    @property
    def manager(self) -> Any:
        """The running TunnelManager (None when the tunnel is off)."""
        return self._manager

    def _set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self.stateChanged.emit(mode)

    def _set_url(self, url: str | None) -> None:
        self.controller.set_public_url(url)
        self.publicUrlChanged.emit(url or "")

    # ------------------------------------------------------------ tunnel
    def start(self, on_done: Callable[[str], None] | None = None) -> None:
        """Start ngrok towards the receiver's port (in the background). ``on_done(url)`` on success."""
        port = self.controller.port
        if port is None:
            self._fail(
                TunnelError(
                    "other",
                    "The receiver is not running, so there is nothing to tunnel to.",
                    "Start the receiver first.",
                )
            )
            return
        if self.mode == "starting":
            return
        settings = read_tunnel_settings(self.settings, self.secrets)
        old = self._manager
        self._manager = None
        self._generation += 1
        generation = self._generation
        self._set_mode("starting")

        def work() -> tuple[Any, str]:
            if old is not None:
                old.stop()
            manager = self._factory(settings)
            self._pending = manager  # so shutdown() can stop it even if the result is never delivered
            try:
                return manager, str(manager.start(port))
            except BaseException:
                manager.stop()
                raise

        def done(result: tuple[Any, str]) -> None:
            manager, url = result
            if generation != self._generation:  # stopped (or restarted) while it was starting
                self.runner.run("tunnel-stop", manager.stop)
                return
            self._manager = manager
            self._set_url(url)
            self._set_mode("tunnel")
            self.poll.start()
            if on_done is not None:
                on_done(url)

        def error(exc: BaseException) -> None:
            if generation != self._generation:
                return
            self._set_url(None)
            self._set_mode("off")
            self._fail(exc)

        self.runner.run("tunnel-start", work, done, error)

    def _fail(self, exc: BaseException) -> None:
        if not isinstance(exc, TunnelError):
            exc = TunnelError("other", f"ngrok could not start: {exc}", "Check the tunnel settings.")
        self.failed.emit(exc)

    def stop(self) -> None:
        """Close the tunnel (in the background) and forget the public URL."""
        self.poll.stop()
        self._generation += 1
        manager, self._manager = self._manager, None
        if self.mode in ("tunnel", "starting", "own"):
            self._set_url(None)
            self._set_mode("off")
        if manager is not None:
            self.runner.run("tunnel-stop", manager.stop)

    def shutdown(self) -> None:
        """Stop now, on the calling thread (quitting: killing the agent takes milliseconds)."""
        self.poll.stop()
        self._generation += 1
        for manager in {id(m): m for m in (self._manager, self._pending) if m is not None}.values():
            manager.stop()
        self._manager = self._pending = None
        self.mode = "off"

    def check_now(self) -> None:
        """Ask the agent whether its public URL changed (off the GUI thread); one check at a time."""
        manager = self._manager
        if manager is None or self._checking:
            return
        self._checking = True

        def done(new: str | None) -> None:
            self._checking = False
            old = self.public_url or ""
            if new and new != old and self.mode == "tunnel":
                self._set_url(new)
                self.urlChanged.emit(old, new)

        def error(exc: BaseException) -> None:
            self._checking = False
            self.poll.stop()
            self._manager = None
            self._set_url(None)
            self._set_mode("off")
            self._fail(exc)

        self.runner.run("tunnel-check", manager.check_url, done, error)

    # ------------------------------------------------------------ own URL
    def use_own_url(self, url: str) -> str:
        """Use a public URL the operator runs themselves; raises ``SetupError`` if Twilio can't use it."""
        clean = check_own_url(url)
        self.stop()
        self._set_url(clean)
        self._set_mode("own")
        self.settings.setValue("tunnel/own_url", clean)
        return clean
