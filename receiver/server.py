"""Waitress serving the receiver on a background thread, with bounded connections and a draining stop.

The GUI's controller (desktop/receiver_controller.py) and ``callback-monitor serve`` both use this.
Connection limits and deadlines: connections.py. Sizes are bounded by waitress's parser before anything is
buffered: a declared Content-Length over ``Limits.max_body`` is answered 413 as soon as the headers are in,
a chunked body is cut off (413) once it passes the limit, headers over ``Limits.max_header`` get 431, and a
body is held in memory only (``inbuf_overflow`` above the limit, so nothing is spooled to a temp file).

The event loop does not watch a connection for writability while a worker answers its request: the worker
puts the response in the channel's buffer and sends it itself (``write_soon``), holding the buffer's lock
across ``send()``; a loop watching meanwhile found the lock taken and went round again, 42 times per request
under 64 connections, holding half the GIL time (connections.Channel.writable).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.task import ThreadedTaskDispatcher

from .connections import ACCEPT_BATCH, Channel, Guard, Limits, Listener
from .wsgi_guard import guarded

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
# file descriptors beyond the connections: listeners, triggers, the database, its WAL, log files
SPARE_FDS = 64
DRAIN_SECONDS = 10.0
MAX_BACKLOG_ON_STOP = 1024  # waitress's listen backlog: what the kernel may hold for us at a stop


class ReceiverServer:
    """``start()`` binds (port 0 picks a free port), serves on a thread; ``stop()`` drains: stops
    accepting, lets the answers in progress finish (bounded), closes every connection, ends the loop and
    joins the worker threads.

    ``limits.max_body`` defaults to the app's own limit (``ReceiverConfig.max_body``) when the app is the
    receiver's Flask app."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = THREADS,
        limits: Limits | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.threads = threads
        if limits is None:
            config = getattr(app, "config", {}).get("RECEIVER_CONFIG") if hasattr(app, "config") else None
            limits = Limits(max_body=config.max_body) if config is not None else Limits()
        self.limits = limits
        self.guard = Guard(limits)
        self._map: dict[int, Any] = {}
        self._listeners: list[Listener] = []
        self._dispatcher: ThreadedTaskDispatcher | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if not self._listeners:
            raise RuntimeError("server not started")
        return int(self._listeners[0].effective_port)

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
        limits = self.limits
        max_connections = _fit_fd_limit(limits.max_connections)
        if max_connections != limits.max_connections:
            log.warning(
                "only %d connections fit this process's file descriptor limit (asked for %d)",
                max_connections,
                limits.max_connections,
            )
            self.guard.limits = limits = dataclasses.replace(limits, max_connections=max_connections)
        adj = Adjustments(
            host=self.host,
            port=self.requested_port,
            threads=self.threads,
            ident="callback-monitor",
            # waitress's own idle timeout, checked every second; the guard applies the others
            channel_timeout=limits.idle_timeout,
            cleanup_interval=1,
            # waitress stops accepting at this many; the guard sheds below it, so it is never reached
            connection_limit=limits.max_connections + SPARE_FDS,
            # waitress refuses a Content-Length >= this, and a chunked body once it reaches it
            max_request_body_size=limits.max_body + 1,
            max_request_header_size=limits.max_header,
            inbuf_overflow=limits.max_body + 64 * 1024,  # never reached: bodies stay in memory
            # select() cannot watch descriptors numbered 1024 and up
            asyncore_use_poll=True,
            expose_tracebacks=False,
            # a client resetting its connection is routine, not a server error worth a traceback
            log_socket_errors=False,
            # keep X-Forwarded-* as the tunnel sent them: the app uses them to refuse non-webhook paths
            # through the tunnel and to log the real client; they are never trusted for the signed URL
            clear_untrusted_proxy_headers=False,
        )
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(self.threads)
        app = guarded(self.app)
        try:
            for sockinfo in adj.listen:
                listener = Listener(app, self._map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
                listener.guard = self.guard
                self._listeners.append(listener)
        except OSError:
            self._close_everything()
            dispatcher.shutdown(timeout=1)
            self._listeners = []
            raise
        self._dispatcher = dispatcher
        self._thread = threading.Thread(target=self._serve, name="receiver-waitress", daemon=True)
        self._thread.start()
        return self.port

    def _serve(self) -> None:
        try:
            wasyncore.loop(timeout=1, map=self._map, use_poll=True)
        except Exception:  # pragma: no cover - logged, the controller reports the stop
            log.exception("receiver server stopped with an error")

    def _close_everything(self) -> None:
        for item in list(self._map.values()):
            if isinstance(item, Channel) and item.requests:
                item.cancel()  # its worker sees a disconnected client instead of a closed socket
            try:
                item.close()
            except Exception:  # pragma: no cover - closing what is already broken
                pass

    def _on_loop(self, work: Any, timeout: float) -> bool:
        """Run ``work()`` on the event loop thread; True once it has run."""
        done = threading.Event()

        def run() -> None:
            try:
                work()
            finally:
                done.set()

        self._listeners[0].trigger.pull_trigger(run)
        return done.wait(timeout)

    def stop(self, timeout: float = DRAIN_SECONDS) -> None:
        """Stop accepting, let requests being answered (and ones arriving promptly) finish for up to
        ``timeout`` seconds, then close whatever is left."""
        thread, dispatcher = self._thread, self._dispatcher
        if thread is None or dispatcher is None:
            return
        deadline = time.monotonic() + timeout
        guard = self.guard
        request_timeout = guard.limits.request_timeout
        busy = [True]
        drained_once: dict[Channel, tuple[bool, float]] = {}

        def stop_accepting() -> None:
            guard.draining = True
            for listener in self._listeners:
                # connections the kernel completed but the loop has not accepted yet would be reset when
                # the socket closes: take them in (they are drained like the others), then stop
                for _ in range(MAX_BACKLOG_ON_STOP // ACCEPT_BATCH):
                    before = len(guard.channels)
                    listener.handle_accept()
                    if len(guard.channels) - before < ACCEPT_BATCH:
                        break
                listener.accepting = False
                wasyncore.dispatcher.close(listener)  # the socket only: its trigger still wakes the loop

        def drain_pass() -> None:
            now = time.monotonic()
            left = False
            for channel in list(guard.channels):
                if channel.will_close:
                    left = True
                    continue
                if not channel.sheddable():
                    left = True  # being answered; its answer says Connection: close
                    continue
                pending = channel.pending_since()
                if pending is not None and channel.seen_bytes:
                    # a request arriving: it may finish within its usual deadline (the drain's is shorter)
                    if now - pending > request_timeout:
                        channel.shed(408, f"request not complete within {request_timeout:g} s")
                    left = True
                else:
                    # idle, or never sent a byte: closed on the next pass if it still is. Between two
                    # passes the loop has read the socket, so a request already sent is not cut off.
                    seen = (channel.seen_bytes, channel.last_activity)
                    if drained_once.get(channel) == seen:
                        channel.will_close = True
                    drained_once[channel] = seen
                    left = True
            busy[0] = left

        if thread.is_alive() and self._on_loop(stop_accepting, timeout):
            while time.monotonic() < deadline and thread.is_alive():
                if not self._on_loop(drain_pass, max(0.0, deadline - time.monotonic())) or not busy[0]:
                    break
                threading.Event().wait(0.05)  # a pass every 50 ms; the loop closes what was marked
        if thread.is_alive():
            self._on_loop(self._close_everything, 2.0)
            thread.join(2.0)
        dispatcher.shutdown(timeout=max(1.0, deadline - time.monotonic()))
        self._thread = None


def _fit_fd_limit(connections: int) -> int:
    """Raise this process's soft limit on open files so ``connections`` fit (up to the hard limit);
    returns how many connections fit."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + SPARE_FDS
    if soft != resource.RLIM_INFINITY and soft < want:
        new_soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            soft = new_soft
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return connections
    return max(1, min(connections, soft - SPARE_FDS))
