"""Waitress serving the receiver on a background thread, with a clean stop.

The GUI's controller (desktop/receiver_controller.py) and ``callback-monitor serve`` both use this.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import create_server

log = logging.getLogger("callback_monitor.server")
# waitress warns "Task queue depth is N" on EVERY request that finds all worker threads busy: under a
# burst that is one stderr line per callback (through logging's last-resort handler) and the cost of
# building and writing it, which halved throughput at 64 connections (bench/README.md). A burst already
# shows where the operator looks: in each request's latency in the request log.
QUEUE_LOGGER = "waitress.queue"
# request threads: a request waiting for its commit holds one, so more threads make bigger group-commit
# batches (fewer commits per callback). bench/receiver.py at 32/64 connections: 8 threads 2445/2222
# callbacks/s, 16: 2520/2601, 24: 2928/2887, 32: 2934/2674.
THREADS = 24


class _Channel(HTTPChannel):  # type: ignore[misc]  # waitress ships no type hints
    """waitress's connection, minus a busy loop.

    A worker thread answering a request puts the response in the channel's buffer and sends it itself,
    holding the buffer's lock across ``send()``, which releases the GIL. Meanwhile the event loop sees a
    non-empty buffer, calls the channel writable, finds the lock taken, and goes round again: measured
    under 64 connections, ``handle_write`` ran 42 times per request and the loop held half the GIL time.
    While a request is being served its worker flushes its own output (``write_soon`` sends at once and
    pulls the loop's trigger only if something is left), so the loop need not watch for writability
    until the request is done; closing is left exactly as waitress does it. The receiver only ever
    answers small bodies, so nothing waits on this for long.
    """

    def writable(self) -> bool:
        if self.requests and not (self.will_close or self.close_when_flushed):
            return False
        return bool(super().writable())


class ReceiverServer:
    """``start()`` binds (port 0 picks a free port), serves on a thread; ``stop()`` closes every
    connection, ends the loop and joins the worker threads."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = THREADS) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.threads = threads
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> int:
        """Bind and start serving; raises OSError if the port is taken. Returns the port."""
        logging.getLogger(QUEUE_LOGGER).setLevel(logging.ERROR)
        self._server = create_server(
            self.app,
            host=self.host,
            port=self.requested_port,
            threads=self.threads,
            ident="callback-monitor",
            # Twilio waits at most 15 s; a stuck connection should not hold a worker for longer.
            channel_timeout=30,
            connection_limit=1000,
            # the app enforces its own (smaller, logged) limit; this only bounds what waitress buffers
            max_request_body_size=16 * 1024 * 1024,
            expose_tracebacks=False,
            # keep X-Forwarded-* as the tunnel sent them: the app uses them to refuse non-webhook paths
            # through the tunnel and to log the real client; they are never trusted for the signed URL
            clear_untrusted_proxy_headers=False,
        )
        for listener in list(self._server._map.values()):  # one per bound address
            if hasattr(listener, "channel_class"):
                listener.channel_class = _Channel
        self._thread = threading.Thread(target=self._serve, name="receiver-waitress", daemon=True)
        self._thread.start()
        return self.port

    def _serve(self) -> None:
        try:
            self._server.run()
        except Exception:  # pragma: no cover - logged, the controller reports the stop
            log.exception("receiver server stopped with an error")

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        done = threading.Event()

        def close_all() -> None:
            # runs inside waitress's event loop: close the listener and every open channel, so the
            # loop's socket map empties and run() returns
            for channel in list(server._map.values()):
                try:
                    channel.close()
                except Exception:  # pragma: no cover
                    pass
            done.set()

        if thread.is_alive():
            server.trigger.pull_trigger(close_all)
            thread.join(timeout)
        server.task_dispatcher.shutdown(timeout=timeout)
        self._thread = None
