"""The embedded receiver, owned by a QObject that lives on the GUI thread.

Waitress runs on its own threads; request handlers never touch a widget: they call ``on_event`` which
emits a Qt signal, and Qt queues it to this object's (the GUI) thread. Table refreshes are coalesced here
so a burst of callbacks causes a few repaints per second, not one per request (RefreshCoalescer).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal, Slot

from desktop.refresh_coalescer import RefreshCoalescer
from desktop.workers import TaskRunner
from receiver.app import ReceiverConfig, ReceiverStats, create_app
from receiver.retention import DEFAULT as DEFAULT_RETENTION
from receiver.retention import Pruner
from receiver.secrets import TWILIO_AUTH_TOKEN, SecretStore, get_shared_keys
from receiver.server import ReceiverServer
from receiver.store import Reader, Store, StoreError, open_reader
from receiver.store_health import DEFAULT_MIN_FREE_MB

PORT_KEY = "receiver/port"  # QSettings: a fixed local port (0 or unset: any free port, new each start)


def _bind_error(host: str, port: int) -> OSError | None:
    """Why ``port`` cannot be bound now (None: it can). Checked before waitress tries, because a
    failed waitress bind leaves its sockets open."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def configured_port(settings: QSettings) -> int:
    """The port the operator fixed (Tools → Receiver port…), or 0 for any free port."""
    try:
        port = int(str(settings.value(PORT_KEY, 0) or 0))
    except ValueError:
        return 0
    return port if 0 < port < 65536 else 0


class ReceiverController(QObject):
    """Start/stop the receiver and tell the GUI what happened.

    Signals:
        started(str): the receiver listens; the local base URL.
        stopped(): the receiver stopped.
        portChanged(int): the port the receiver got (port 0 picks a free one).
        requestLogged(dict): one request was committed (its request-log id, outcome, message SID …);
            delivered on the GUI thread.
        dataChanged(): coalesced "the database changed, refresh what you show".
        configChanged(): public URL or validation changed.
        replayed(int, str): a replayed request's HTTP status and the receiver's reason/outcome text.
        purged(dict): simulated data was deleted; rows per table.
        failed(str): something went wrong that the operator should read.
    """

    started = Signal(str)
    stopped = Signal()
    portChanged = Signal(int)
    requestLogged = Signal(dict)
    dataChanged = Signal()
    configChanged = Signal()
    replayed = Signal(int, str)
    purged = Signal(dict)
    failed = Signal(str)
    _eventFromServer = Signal(dict)

    def __init__(
        self,
        db_path: str | Path,
        secrets: SecretStore | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        min_free_bytes: int = DEFAULT_MIN_FREE_MB * 1024 * 1024,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.min_free_bytes = min_free_bytes  # below this free disk space callbacks are refused (503)
        self.secrets = secrets or SecretStore()
        self.host = host
        self.requested_port = port
        self.port_note = ""  # why the receiver is not on the requested port (shown once by the window)
        self.store: Store | None = None
        self.server: ReceiverServer | None = None
        self.stats = ReceiverStats()
        # True while the operator runs "Simulate traffic": only then does the receiver accept the public
        # demo token, and only from this computer (receiver.app)
        self.simulating = False
        self.shared_keys: dict[str, str] = get_shared_keys(self.secrets)
        self.config = ReceiverConfig(
            public_url=None,
            validate=True,
            auth_token=self._auth_token,
            allow_demo=lambda: self.simulating,
            shared_keys=lambda: self.shared_keys,
        )
        self.retention = DEFAULT_RETENTION  # the window sets the saved rules; read at each pruning pass
        self.synchronous = "NORMAL"  # durability level (docs/DURABILITY.md), used when the store opens
        self._pruner: Pruner | None = None
        self._read: Reader | None = None
        self.tasks = TaskRunner(self)  # purges, replays, simulations: joined on stop
        self._refresh = RefreshCoalescer(self)
        self._refresh.due.connect(self.dataChanged)
        self._eventFromServer.connect(self._on_event)

    # ------------------------------------------------------------ lifecycle
    def _auth_token(self) -> str | None:
        return self.secrets.get(TWILIO_AUTH_TOKEN)

    def set_simulating(self, on: bool) -> None:
        """The operator started (or the run ended) a simulation. Callable from any thread."""
        self.simulating = on
        self.configChanged.emit()

    def set_shared_keys(self, keys: dict[str, str]) -> None:
        """The shared signing keys changed (saved in the keyring by the dialog)."""
        self.shared_keys = dict(keys)
        self.configChanged.emit()

    def start(self) -> None:
        """Open the store (raises StoreLocked if another instance writes it) and start serving."""
        if self.server is not None:
            return
        if self.store is None:
            self.store = Store(self.db_path, synchronous=self.synchronous, min_free_bytes=self.min_free_bytes)
            self._pruner = Pruner(self.store, lambda: self.retention).start()
        app = create_app(self.store, self.config, on_event=self._eventFromServer.emit, stats=self.stats)
        port_wanted = self.requested_port
        taken = _bind_error(self.host, port_wanted) if port_wanted else None
        if taken is not None:
            # a fixed port someone else holds: still serve (on a free port) and say what broke
            port_wanted = 0
        self.server = ReceiverServer(app, host=self.host, port=port_wanted)
        try:
            port = self.server.start()
        except OSError as exc:
            self.server = None
            self.failed.emit(f"The receiver cannot listen on {self.host}:{port_wanted}: {exc}")
            return
        if taken is not None:
            self.port_note = (
                f"Port {self.requested_port} is in use by another program ({taken.strerror or taken}), so "
                f"the receiver listens on port {port} for now. A reverse proxy or tunnel forwarding to "
                f"127.0.0.1:{self.requested_port} does not reach it: close the other program and restart, "
                "or choose another port in Tools → Receiver port… (and forward to that)."
            )
            self.failed.emit(self.port_note)
        self.portChanged.emit(port)
        self.started.emit(self.local_url)

    def store_problems(self) -> list[str]:
        """Why callbacks are refused with 503 right now (disk low, file gone…); empty when storing."""
        return self.store.health.problems() if self.store is not None else []

    def stop(self) -> None:
        """Stop serving, wait for helper threads, close the store. Safe to call twice."""
        if self.server is not None:
            self.server.stop()
            self.server = None
            self.stopped.emit()
        self.tasks.join()
        self._refresh.stop()
        if self._read is not None:
            self._read.close()
            self._read = None
        if self._pruner is not None:
            self._pruner.stop()
            self._pruner = None
        if self.store is not None:
            self.store.close()
            self.store = None

    @property
    def replay_off(self) -> str:
        """Why Replay is off (while the receiver is stopped)."""
        return "Start the receiver to replay requests."

    @property
    def running(self) -> bool:
        return self.server is not None

    @property
    def port(self) -> int | None:
        return self.server.port if self.server is not None else None

    @property
    def local_url(self) -> str:
        return self.server.url if self.server is not None else ""

    @property
    def webhook_base(self) -> str:
        """What Twilio should call: the public URL if there is one, else the local URL."""
        return (self.config.public_url or self.local_url).rstrip("/")

    def set_public_url(self, url: str | None) -> None:
        self.config.public_url = url.rstrip("/") if url else None
        self.configChanged.emit()

    def set_validate(self, on: bool) -> None:
        self.config.validate = on
        self.configChanged.emit()

    @property
    def has_token(self) -> bool:
        """Whether some real secret validates webhooks: the auth token or a shared key."""
        return bool(self._auth_token()) or bool(self.shared_keys)

    # ------------------------------------------------------------ reading
    @property
    def location(self) -> Path:
        """What ``open_reader`` opens on a worker thread: the database file."""
        return self.db_path

    def read(self) -> Reader:
        """The GUI thread's Reader (the store's read queries). Worker threads open their own."""
        if self._read is None:
            self._read = open_reader(self.db_path)
        return self._read

    # ------------------------------------------------------------ events
    @Slot(dict)
    def _on_event(self, event: dict[str, Any]) -> None:
        self.requestLogged.emit(event)
        self._refresh.poke()

    def notify_changed(self) -> None:
        """For writes made outside the receiver (a message sent from the app)."""
        self._on_event({"request_id": None, "outcome": "api", "kind": "api"})

    # ------------------------------------------------------------ background work
    def purge_simulated(self) -> None:
        """Delete simulated traffic (off the GUI thread, in small transactions); reports ``purged``."""
        store = self.store
        if store is None:
            self.failed.emit("The receiver is stopped: start it to purge simulated traffic.")
            return

        def purged(counts: dict[str, int]) -> None:
            self.purged.emit(counts)
            self._on_event({"request_id": None, "outcome": "purge", "kind": "purge"})

        self.tasks.run(
            "purge-simulated",
            store.purge_simulated,
            on_done=purged,
            on_error=lambda exc: self.failed.emit(f"Purging simulated traffic failed: {exc}"),
        )

    def replay(self, request_id: int) -> None:
        """Send a logged request to the receiver again (same method, path, query, headers, body)."""
        try:
            row = self.read().request_detail(request_id)
        except StoreError:
            row = None
        if row is None or self.server is None:
            self.failed.emit("Nothing to replay: the request is gone or the receiver is stopped.")
            return
        method, path, query, headers_json, body = (
            row[k] for k in ("method", "path", "query", "headers", "body")
        )
        host, port = self.host, self.server.port
        headers = {
            k: v
            for k, v in json.loads(headers_json or "{}").items()
            if k.lower() not in ("content-length", "host", "connection", "transfer-encoding")
            and v != "[redacted]"
        }
        headers["X-Callback-Monitor-Replay"] = str(request_id)

        def work() -> tuple[int, str]:
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, port, timeout=15)
                conn.request(
                    method, path + (f"?{query}" if query else ""), body=(body or "").encode(), headers=headers
                )
                resp = conn.getresponse()
                resp.read()
                conn.close()
            except OSError as exc:
                return 0, f"replay failed: {exc}"
            ms = (time.perf_counter() - started) * 1000
            return resp.status, f"HTTP {resp.status} {resp.reason} in {ms:.0f} ms"

        self.tasks.run("replay", work, on_done=lambda answer: self.replayed.emit(*answer))
