"""waitress's connection handling, bounded against slow and hostile clients.

waitress reads every request completely on its event loop before a worker thread sees it, so a slow
client never holds a worker; what it holds is a connection. Stock waitress stops *accepting* when its
connection limit is reached and only closes a connection after ``channel_timeout`` without a single byte,
so 1,000 clients trickling a byte a second kept every good callback in the listen backlog until Twilio gave
up (15 s). Here instead:

* **Deadline per request**, not per byte: from a request's first byte (or from the accept, for a
  connection that has sent nothing yet) to its last, ``Limits.request_timeout``; then 408 and close.
* **Shedding, not refusing**: past ``Limits.max_connections`` a new connection is still accepted and the
  worst other connection is closed: a request that has been arriving for longer than ``SLOW_AFTER``
  (oldest first), then an idle keep-alive connection (longest idle first), then the rest. A connection
  whose request is being answered is never shed.
* **Per client**: at most ``Limits.per_client`` connections per remote address, shed the same way within
  that address. Loopback peers are exempt: behind the ngrok tunnel every connection comes from the local
  agent, Twilio's included, so a per-address limit there would throttle Twilio itself; the deadlines and
  the global bound protect that path.
* **Idle keep-alive** connections are closed after ``Limits.idle_timeout``, and after
  ``Limits.idle_timeout_under_pressure`` while more than three quarters of the connections are in use.
* Body and header sizes are bounded by waitress's parser before anything is buffered (see server.py).

Every refusal leaves a request-log line (requestlog.py), with the peer address in the reason.
"""

from __future__ import annotations

import heapq
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import RequestEntityTooLarge, RequestHeaderFieldsTooLarge

from . import requestlog
from .app import DEFAULT_MAX_BODY

log = logging.getLogger("callback_monitor.server")
# a request still arriving after this long is slow: Twilio's callbacks (a few KB) arrive in milliseconds
SLOW_AFTER = 1.0
ACCEPT_BATCH = 64


@dataclass(frozen=True)
class Limits:
    """What one connection and all of them together may hold. Defaults suit Twilio (15 s timeout, small
    requests); ``serve`` takes flags for them."""

    max_body: int = DEFAULT_MAX_BODY
    max_header: int = 32 * 1024
    request_timeout: float = 10.0
    idle_timeout: float = 30.0
    idle_timeout_under_pressure: float = 2.0
    max_connections: int = 1000
    per_client: int = 64  # 0: no per-address limit

    def __post_init__(self) -> None:
        if self.max_body < 0 or self.max_header < 256 or self.max_connections < 1 or self.per_client < 0:
            raise ValueError(f"impossible limits: {self}")
        if self.request_timeout <= 0 or self.idle_timeout <= 0 or self.idle_timeout_under_pressure <= 0:
            raise ValueError(f"timeouts must be positive: {self}")


class Parser(HTTPRequestParser):  # type: ignore[misc]  # waitress ships no type hints
    """waitress's parser, remembering when the request's first byte arrived."""

    def __init__(self, adj: Any) -> None:
        super().__init__(adj)
        self.started = time.perf_counter()
        self.arrived = time.monotonic()

    def received(self, data: bytes) -> int:
        consumed = int(super().received(data))
        if self.error is not None:
            # refused already (e.g. 413 on its Content-Length): no "100 Continue" inviting the body
            self.expect_continue = False
        return consumed

    def what(self) -> str:
        """Method and path for a log line, as far as they were received."""
        command = getattr(self, "command", None)
        if command is None:
            return "(request line and headers not complete)"
        return f"{command} {requestlog.wsgi_text(self.path)}"


class LoggedErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's answer to a request it refuses itself (400 bad framing, 413, 431, 501): answered as
    waitress does, plus a request-log line."""

    def execute(self) -> None:
        # the line first: once the answer is out, the client (a test, a script) may read the log
        request = self.request
        error = request.error
        adj = self.channel.adj
        if isinstance(error, RequestEntityTooLarge):
            reason = f"body over the {adj.max_request_body_size - 1}-byte limit"
        elif isinstance(error, RequestHeaderFieldsTooLarge):
            reason = f"request line and headers over {adj.max_request_header_size} bytes"
        else:
            reason = f"{error.reason}: {error.body}"
        started = getattr(request, "started", None)
        what = request.what() if isinstance(request, Parser) else "-"
        requestlog.refused("other", what, error.code, f"{reason} (from {self.channel.peer})", started)
        super().execute()


class DrainingTask(WSGITask):  # type: ignore[misc]
    """waitress's WSGI task; while the server drains (SIGTERM) its answer says ``Connection: close``, so
    a keep-alive client opens a new connection to whatever replaces this process instead of sending into
    one that is about to close. (The app cannot set that header: waitress refuses hop-by-hop headers.)"""

    def build_response_header(self) -> bytes:
        if self.channel.guard.draining:
            self.set_close_on_finish()
        return bytes(super().build_response_header())


class Channel(HTTPChannel):  # type: ignore[misc]
    """One connection: knows when its pending request began and can be shed."""

    parser_class = Parser
    task_class = DrainingTask
    error_task_class = LoggedErrorTask
    guard: Guard

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        self.opened = time.monotonic()
        self.seen_bytes = False
        host = str(addr[0]) if isinstance(addr, tuple) and addr else ""
        self.peer = host or "?"
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
            mapped = getattr(ip, "ipv4_mapped", None)
            self.local = bool((mapped or ip).is_loopback)
        except ValueError:
            self.local = False
        self.guard = server.guard
        self.guard.opened(self)

    def writable(self) -> bool:
        """Not while a worker answers a request (see the note in server.py): that worker flushes its own
        output, and watching the socket meanwhile made the loop spin."""
        if self.requests and not (self.will_close or self.close_when_flushed):
            return False
        return bool(super().writable())

    def received(self, data: bytes) -> bool:
        if data:
            self.seen_bytes = True
        return bool(super().received(data))

    def pending_since(self) -> float | None:
        """``time.monotonic()`` when the request now arriving began (the accept, if nothing came yet);
        None when none is arriving (idle, or a request is being answered)."""
        request = self.request
        if request is not None:
            return float(request.arrived)
        if not self.seen_bytes and not self.requests:
            return self.opened
        return None

    def sheddable(self) -> bool:
        return not (self.requests or self.will_close or self.close_when_flushed or self.total_outbufs_len)

    def shed(self, status: int, reason: str) -> None:
        """Close now (on the event loop). A request that had begun gets ``status`` if the socket takes it
        at once, and a log line; a connection that never sent a byte is only counted."""
        request = self.request
        if request is not None or self.seen_bytes:
            if request is not None:
                what, started = request.what(), request.started
                requestlog.refused("other", what, status, f"{reason} (from {self.peer})", started)
            phrase = HTTPStatus(status).phrase
            answer = f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            try:
                self.socket.send(answer.encode())
            except OSError:
                pass
        else:
            self.guard.silent[reason] += 1
        self.will_close = True  # the loop closes it on its next pass

    def del_channel(self, map: Any = None) -> None:
        super().del_channel(map)
        self.guard.closed(self)


class Guard:
    """The connections of every listener of one server, and the limits they share.

    Finding the connection to shed means looking at all of them; an attacker whose every shed connection
    comes straight back would make that a scan per accept. So one scan ranks the worst ``BATCH`` and the
    next accepts take them in turn (each checked again when its turn comes)."""

    BATCH = 64

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.channels: set[Channel] = set()
        self.per_peer: dict[str, set[Channel]] = {}
        self.silent: Counter[str] = Counter()  # connections closed without a byte, by reason
        self.draining = False
        self._ranked: list[Channel] = []

    def opened(self, channel: Channel) -> None:
        self.channels.add(channel)
        self.per_peer.setdefault(channel.peer, set()).add(channel)

    def closed(self, channel: Channel) -> None:
        if channel in self.channels:
            self.channels.discard(channel)
            mine = self.per_peer.get(channel.peer)
            if mine is not None:
                mine.discard(channel)
                if not mine:
                    del self.per_peer[channel.peer]

    @staticmethod
    def _rank(channel: Channel, now: float, wall: float) -> tuple[int, float] | None:
        """Lower is worse: a slow request (oldest first), then an idle keep-alive connection (longest
        idle first), then a young request (oldest first). None: never shed (being answered)."""
        if not channel.sheddable():
            return None
        pending = channel.pending_since()
        if pending is None:
            return (1, -(wall - channel.last_activity))
        age = now - pending
        return (0 if age >= SLOW_AFTER else 2, -age)

    def worst(self, candidates: Iterable[Channel], now: float, count: int = 1) -> list[Channel]:
        wall = time.time()
        ranked = [(key, id(c), c) for c in candidates if (key := self._rank(c, now, wall)) is not None]
        return [c for _, _, c in heapq.nsmallest(count, ranked)]

    def _victim(self, new: Channel, now: float) -> Channel | None:
        wall = time.time()
        while self._ranked:
            channel = self._ranked.pop()
            key = self._rank(channel, now, wall) if channel in self.channels else None
            if channel is not new and key is not None and key[0] < 2:
                return channel
        ranked = self.worst((c for c in self.channels if c is not new), now, self.BATCH)
        if not ranked:
            return None
        # slow requests and idle connections can wait their turn; a young request is taken only now
        self._ranked = [c for c in reversed(ranked[1:]) if (self._rank(c, now, wall) or (2, 0))[0] < 2]
        return ranked[0]

    def admit(self, channel: Channel) -> None:
        """Called once a connection is accepted: make room for it, or close it if there is none."""
        limits = self.limits
        now = time.monotonic()
        mine = self.per_peer.get(channel.peer, set())
        if limits.per_client and not channel.local and len(mine) > limits.per_client:
            reason = f"more than {limits.per_client} connections from this address"
            victims = self.worst((c for c in mine if c is not channel), now)
            if not victims:
                channel.shed(503, reason)
                return
            victims[0].shed(503, reason + ", this one the slowest")
        if len(self.channels) > limits.max_connections:
            reason = f"more than {limits.max_connections} open connections"
            victim = self._victim(channel, now)
            if victim is None:
                channel.shed(503, reason)
                return
            victim.shed(503, reason + ", this one the slowest")

    def sweep(self, channels: list[Channel]) -> None:
        """Every second, on the event loop: time out slow requests, close idle connections."""
        limits = self.limits
        now, wall = time.monotonic(), time.time()
        pressure = len(self.channels) > limits.max_connections * 3 // 4
        idle_limit = limits.idle_timeout_under_pressure if pressure else limits.idle_timeout
        for channel in channels:
            if not channel.sheddable():
                continue
            pending = channel.pending_since()
            if pending is not None:
                if now - pending > limits.request_timeout:
                    channel.shed(408, f"request not complete within {limits.request_timeout:g} s")
            elif wall - channel.last_activity > idle_limit:
                channel.will_close = True
        for reason, n in self.silent.items():  # one line a second at most, not one per connection
            log.warning("closed %d connection(s) that had sent nothing: %s", n, reason)
        self.silent.clear()


class Listener(TcpWSGIServer):  # type: ignore[misc]
    """A listening socket that always accepts (the guard makes room) and sweeps its connections."""

    channel_class = Channel
    guard: Guard
    next_channel_cleanup: float = 0.0

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        return bool(self.accepting)

    def maintenance(self, now: float) -> None:
        self.guard.sweep(list(self.active_channels.values()))

    def handle_accept(self) -> None:
        # everything waiting, up to ACCEPT_BATCH: waitress takes one connection per pass of its loop, and
        # a pass looks at every open connection, so 1,000 connections arriving at once took 1,000 passes
        # over up to 1,000 connections while a good callback waited in the backlog behind them
        for _ in range(ACCEPT_BATCH):
            try:
                accepted = self.accept()
                if accepted is None:
                    return  # nothing more waiting
                conn, addr = accepted
                self.set_socket_options(conn)
            except OSError:
                # e.g. the peer reset before we got to it, or out of file descriptors: the next pass retries
                return
            channel = self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)
            self.guard.admit(channel)
