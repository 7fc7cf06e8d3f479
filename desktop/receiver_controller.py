"""The embedded receiver, owned by a QObject that lives on the GUI thread.

Waitress runs on its own threads; request handlers never touch a widget: they call ``on_event`` which
emits a Qt signal, and Qt queues it to this object's (the GUI) thread. Table refreshes are coalesced here
so a burst of callbacks causes a few repaints per second, not one per request.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal, Slot

from receiver.app import ReceiverConfig, ReceiverStats, create_app
from receiver.secrets import TWILIO_AUTH_TOKEN, SecretStore
from receiver.server import ReceiverServer
from receiver.store import Store, connect
from receiver.store_health import DEFAULT_MIN_FREE_MB

COALESCE_MS = 250  # at most ~4 refreshes a second under a burst
FIRST_MS = 15  # a lone callback shows up well within 100 ms


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
        failed(str): something went wrong that the operator should read.
    """

    started = Signal(str)
    stopped = Signal()
    portChanged = Signal(int)
    requestLogged = Signal(dict)
    dataChanged = Signal()
    configChanged = Signal()
    replayed = Signal(int, str)
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
        self.store: Store | None = None
        self.server: ReceiverServer | None = None
        self.stats = ReceiverStats()
        self.demo_token: str | None = None
        self.config = ReceiverConfig(public_url=None, validate=True, auth_token=self._auth_token)
        self._reader: sqlite3.Connection | None = None
        self._threads: list[threading.Thread] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._since_flush = QElapsedTimer()
        self._since_flush.start()
        self._eventFromServer.connect(self._on_event)

    # ------------------------------------------------------------ lifecycle
    def _auth_token(self) -> str | None:
        return self.secrets.get(TWILIO_AUTH_TOKEN) or self.demo_token

    def start(self) -> None:
        """Open the store (raises StoreLocked if another instance writes it) and start serving."""
        if self.server is not None:
            return
        if self.store is None:
            self.store = Store(self.db_path, min_free_bytes=self.min_free_bytes)
        app = create_app(self.store, self.config, on_event=self._eventFromServer.emit, stats=self.stats)
        self.server = ReceiverServer(app, host=self.host, port=self.requested_port)
        try:
            port = self.server.start()
        except OSError as exc:
            self.server = None
            self.failed.emit(f"The receiver cannot listen on {self.host}:{self.requested_port}: {exc}")
            return
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
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._timer.stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.store is not None:
            self.store.close()
            self.store = None

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
        return bool(self._auth_token())

    # ------------------------------------------------------------ reading
    def reader(self) -> sqlite3.Connection:
        """The GUI thread's read connection (WAL: reads never wait for the writer)."""
        if self._reader is None:
            self._reader = connect(self.db_path, readonly=True)
        return self._reader

    # ------------------------------------------------------------ events
    @Slot(dict)
    def _on_event(self, event: dict[str, Any]) -> None:
        self.requestLogged.emit(event)
        if self._timer.isActive():
            return
        elapsed = self._since_flush.elapsed()
        self._timer.start(FIRST_MS if elapsed >= COALESCE_MS else max(FIRST_MS, COALESCE_MS - elapsed))

    def _flush(self) -> None:
        self._since_flush.restart()
        self.dataChanged.emit()

    def notify_changed(self) -> None:
        """For writes made outside the receiver (a message sent from the app)."""
        self._on_event({"request_id": None, "outcome": "api", "kind": "api"})

    # ------------------------------------------------------------ background work
    def run_in_background(self, name: str, fn: Any) -> threading.Thread:
        """Run ``fn()`` off the GUI thread; joined on stop. Report back with signals."""
        thread = threading.Thread(target=fn, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        return thread

    def replay(self, request_id: int) -> None:
        """Send a logged request to the receiver again (same method, path, query, headers, body)."""
        row = (
            self.reader()
            .execute("SELECT method, path, query, headers, body FROM requests WHERE id = ?", (request_id,))
            .fetchone()
        )
        if row is None or self.server is None:
            self.failed.emit("Nothing to replay: the request is gone or the receiver is stopped.")
            return
        method, path, query, headers_json, body = row
        port = self.server.port
        headers = {
            k: v
            for k, v in json.loads(headers_json or "{}").items()
            if k.lower() not in ("content-length", "host", "connection", "transfer-encoding")
            and v != "[redacted]"
        }
        headers["X-Callback-Monitor-Replay"] = str(request_id)

        def work() -> None:
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(self.host, port, timeout=15)
                conn.request(
                    method, path + (f"?{query}" if query else ""), body=(body or "").encode(), headers=headers
                )
                resp = conn.getresponse()
                resp.read()
                conn.close()
                ms = (time.perf_counter() - started) * 1000
                self.replayed.emit(resp.status, f"HTTP {resp.status} {resp.reason} in {ms:.0f} ms")
            except OSError as exc:
                self.replayed.emit(0, f"replay failed: {exc}")

        self.run_in_background("replay", work)
