"""Receiver throughput: signed status callbacks against ``callback-monitor serve`` vs. a hello world.

What it answers: can the receiver take a burst of Twilio status callbacks (the issue's goal: at least
0.6x the rate of a bare Flask-on-waitress "hello" with the same thread count, no non-2xx, nothing
lost)? Every request is a real, signed status callback with its own MessageSid/status, so nothing is a
duplicate and every one is validated, parsed and committed. After each receiver run the server is killed
with SIGKILL and the database is opened: every callback that got a 2xx must be in ``events`` and
``messages`` -- a 2xx means "committed", even if the process dies right after.

Targets, each its own subprocess so the server never shares a GIL with the load generator:

* ``serve`` -- the real ``callback-monitor serve`` (per-request log lines to stderr and the log file).
* ``app``   -- ``create_app(Store, ReceiverConfig.with_token(...))`` on ``ReceiverServer``, no log handlers
  (what the GUI embeds, minus its log file); shows what logging costs.
* ``hello`` -- Flask answering 200 "hello" on a bare waitress (``waitress.create_server``, threads as
  the receiver, everything else waitress's defaults), receiving the very same request bytes. The
  reference for the 0.6x goal.
* ``hello-ours`` -- the same hello world on the receiver's own ``ReceiverServer`` (waitress with the
  receiver's limits and its channel that does not spin the event loop, see receiver/server.py): what the
  receiver's server alone is worth, so its gain is not mistaken for the app's.
* ``hello204`` -- the bare hello world answering 204 with no body: waitress closes the connection after
  every 204 (it has no Content-Length to keep it alive), so this isolates that cost from the receiver's own.
* ``pg1`` / ``pg2`` -- one, then two ``serve --store postgresql://…`` processes on one team database
  (docs/TEAM.md), the second case as behind a load balancer: each takes half of the connections and the
  rate is the sum. ``--store URL`` names the database (its password from PGPASSWORD, ~/.pgpass or the
  keyring; every run writes new SIDs into it); without it a throw-away cluster is started here
  (tests/pg/cluster.py: fsync on, synchronous_commit on, a fresh database per run) on the same cores as
  everything else. After each run every 2xx must have its event and message row in PostgreSQL too.

Load generator: ``--clients`` processes, each driving its share of the keep-alive connections from one
``selectors`` loop over raw sockets with pre-built, pre-signed requests (much cheaper per request than
``http.client``), or ``wrk`` with a Lua script (``--loadgen wrk``). Everything binds 127.0.0.1 and is
bounded in time; servers are killed at the end.
"""

from __future__ import annotations

import argparse
import array
import json
import multiprocessing as mp
import os
import random
import re
import selectors
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import _common

_common.use_repo_root()

from receiver.server import THREADS as RECEIVER_THREADS  # noqa: E402 - after the path fix-up

TOKEN = "0123456789abcdef0123456789abcdef"  # fake; the servers get it through TWILIO_AUTH_TOKEN
PUBLIC_URL = "https://bench.callback-monitor.invalid"  # what Twilio "signed"; never contacted
STATUS_PATH = "/twilio/status"
ACCOUNT_SID = "AC" + "b" * 32
SERVICE_SID = "MG" + "c" * 32
# the receiver's thread count (BENCH_THREADS to try others); the hello worlds get the same
THREADS = int(os.environ.get("BENCH_THREADS", "0")) or RECEIVER_THREADS
LISTEN_RE = re.compile(r"Listening on http://127\.0\.0\.1:(\d+)")
TARGETS = ("hello", "hello-ours", "hello204", "serve", "app", "pg1", "pg2")
TEAM_TARGETS = {"pg1": 1, "pg2": 2}  # receivers on one team database
ERROR_CODES = (30003, 30005, 30006, 30007, 30008)


# ---------------------------------------------------------------------------------------------- requests
def make_requests(tag: int, worker: int, n: int, host: str) -> tuple[list[bytes], list[tuple[str, str]]]:
    """``n`` signed status callbacks as raw HTTP/1.1 bytes, and their (MessageSid, status) keys.

    Two callbacks per message (``sent``, then a final status), a mix of SMS and WhatsApp, ~10% failures
    with real error codes; the SID encodes (run tag, worker, message) so every run's SIDs are new."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    url = PUBLIC_URL + STATUS_PATH
    rng = random.Random(tag * 7919 + worker)
    out: list[bytes] = []
    keys: list[tuple[str, str]] = []
    final = "delivered"
    for i in range(n):
        msg = i // 2
        sid = f"SM{tag:08x}{worker:04x}{msg:020x}"
        whatsapp = msg % 5 == 0
        params = {
            "ApiVersion": "2010-04-01",
            "AccountSid": ACCOUNT_SID,
            "MessagingServiceSid": SERVICE_SID,
            "MessageSid": sid,
            "SmsSid": sid,
            "From": "whatsapp:+14155238886" if whatsapp else "+15005550006",
            "To": ("whatsapp:" if whatsapp else "") + f"+1555{rng.randrange(10**7):07d}",
        }
        if i % 2 == 0:
            status = "sent"
            roll = rng.random()
            final = "undelivered" if roll < 0.07 else "failed" if roll < 0.10 else "delivered"
            if whatsapp and final == "delivered" and rng.random() < 0.5:
                final = "read"
        else:
            status = final
            if status in ("undelivered", "failed"):
                params["ErrorCode"] = str(rng.choice(ERROR_CODES))
            elif not whatsapp:
                params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
        if whatsapp:
            params["ChannelPrefix"] = "whatsapp"
            params["ChannelInstallSid"] = "XE" + "d" * 32
        params["MessageStatus"] = params["SmsStatus"] = status
        body = urlencode(params).encode()
        head = (
            f"POST {STATUS_PATH} HTTP/1.1\r\n"
            f"Host: {host}\r\n"
            "User-Agent: TwilioProxy/1.1\r\n"
            "Accept: */*\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Twilio-Signature: {validator.compute_signature(url, params)}\r\n"
            f"I-Twilio-Idempotency-Token: {sid[2:10]}-{worker:04x}-{i:012x}\r\n"
            "\r\n"
        )
        out.append(head.encode() + body)
        keys.append((sid, status))
    return out, keys


# ---------------------------------------------------------------------------------------------- client
def _response_end(buf: bytearray) -> tuple[int, int, bool] | None:
    """(status, bytes used, server closes) of the complete response at the start of ``buf``, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    status = int(head[9:12])
    length = 0
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
    elif b"transfer-encoding: chunked" in head:
        raise RuntimeError("chunked responses are not supported by the bench client")
    if len(buf) < end + 4 + length:
        return None
    return status, end + 4 + length, b"\r\nconnection: close" in head


def _client(
    worker: int,
    conns: int,
    port: int,
    tag: int,
    n: int,
    stop_after: float | None,
    barrier: Any,
    results: Any,
) -> None:
    """One load-generator process: ``conns`` keep-alive connections, one request in flight on each."""
    reqs, keys = make_requests(tag, worker, n, f"127.0.0.1:{port}")
    finish = array.array("d")
    latency = array.array("d")
    codes = array.array("H")
    acked: list[tuple[str, str]] = []
    errors: list[str] = []
    sel = selectors.DefaultSelector()
    state: dict[socket.socket, list[Any]] = {}  # sock -> [buffer, sent_at, request index]
    state_sock: dict[int, socket.socket] = {}  # fd -> sock (the selector's key only knows "a file")
    nxt = 0
    reconnects = 0

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state[sock] = [bytearray(), 0.0, -1]
        state_sock[sock.fileno()] = sock
        sel.register(sock, selectors.EVENT_READ)
        return sock

    def send(sock: socket.socket, now: float) -> bool:
        nonlocal nxt
        if nxt >= n or (stop_at is not None and now >= stop_at):
            return False
        st = state[sock]
        st[1], st[2] = time.perf_counter(), nxt
        nxt += 1
        sock.sendall(reqs[st[2]])
        return True

    def drop(sock: socket.socket) -> None:
        sel.unregister(sock)
        del state_sock[sock.fileno()]
        del state[sock]
        sock.close()

    socks = [connect() for _ in range(conns)]
    barrier.wait(timeout=300)
    cpu0 = os.times()
    t0 = time.perf_counter()
    stop_at = None if stop_after is None else t0 + stop_after
    hard_stop = t0 + (stop_after or 600) + 60
    for sock in socks:
        if not send(sock, t0):
            drop(sock)
    while state and time.perf_counter() < hard_stop:
        for key, _ in sel.select(timeout=1.0):
            sock = state_sock[key.fd]
            st = state[sock]
            try:
                data = sock.recv(65536)
            except OSError as exc:
                data, err = b"", f"{type(exc).__name__}: {exc}"
            else:
                err = "connection closed by the server"
            now = time.perf_counter()
            if not data:  # the in-flight request failed: count it, reconnect, go on
                finish.append(now)
                latency.append(now - st[1])
                codes.append(0)
                if len(errors) < 5:
                    errors.append(err)
                drop(sock)
                if nxt < n and (stop_at is None or now < stop_at):
                    fresh = connect()
                    if not send(fresh, now):
                        drop(fresh)
                continue
            st[0] += data
            done = _response_end(st[0])
            if done is None:
                continue
            status, used, closing = done
            del st[0][:used]
            finish.append(now)
            latency.append(now - st[1])
            codes.append(status)
            if 200 <= status < 300:
                acked.append(keys[st[2]])
            if closing:  # the server said "Connection: close": a new connection, as any client would
                drop(sock)
                if nxt >= n or (stop_at is not None and now >= stop_at):
                    continue
                reconnects += 1
                sock = connect()
            if not send(sock, now):
                drop(sock)
    for sock in list(state):
        drop(sock)
    cpu1 = os.times()
    results.put(
        {
            "worker": worker,
            "finish": finish.tobytes(),
            "latency": latency.tobytes(),
            "codes": codes.tobytes(),
            "acked": acked,
            "errors": errors,
            "sent": nxt,
            "reconnects": reconnects,
            "exhausted": stop_at is not None and nxt >= n,
            "cpu": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        }
    )


@dataclass
class LoadResult:
    rate: float
    counted: int
    sent: int
    p50_ms: float
    p99_ms: float
    non_2xx: int
    acked: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0  # cores used by the load generator
    wall: float = 0.0
    exhausted: bool = False
    reconnects: int = 0  # new connections because the server answered "Connection: close"
    halves: tuple[float, float] = (0.0, 0.0)  # rate in the first and second half of the window: a decline
    note: str = ""


def run_python_load(
    port: int,
    conns: int,
    clients: int,
    seconds: float | None,
    requests: int | None,
    warmup: float,
    max_rate: int,
) -> LoadResult:
    """Drive ``conns`` connections from ``clients`` processes; rate/latency exclude the first ``warmup`` s."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    clients = max(1, min(clients, conns))
    share = [conns // clients + (1 if i < conns % clients else 0) for i in range(clients)]
    if requests is not None:
        counts = [requests * s // conns for s in share]
        counts[0] += requests - sum(counts)
        stop_after = None
    else:
        assert seconds is not None
        budget = int(max_rate * (seconds + warmup)) + 4 * conns
        counts = [budget * s // conns + 2 for s in share]
        stop_after = seconds + warmup
    tag = random.getrandbits(32)
    barrier = ctx.Barrier(clients + 1)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(i, share[i], port, tag, counts[i], stop_after, barrier, queue))
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=300)
    t0 = time.perf_counter()
    outs = [queue.get(timeout=(stop_after or 600) + 120) for _ in procs]
    wall = time.perf_counter() - t0
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    finish = array.array("d")
    latency = array.array("d")
    codes = array.array("H")
    result = LoadResult(0.0, 0, 0, 0.0, 0.0, 0, wall=wall)
    for out in outs:
        finish.frombytes(out["finish"])
        latency.frombytes(out["latency"])
        codes.frombytes(out["codes"])
        result.acked.extend(out["acked"])
        result.errors.extend(out["errors"])
        result.sent += out["sent"]
        result.reconnects += out["reconnects"]
        result.client_cpu += out["cpu"]
        result.exhausted = result.exhausted or out["exhausted"]
    result.client_cpu /= wall
    window_start = t0 + warmup
    picked = [i for i, t in enumerate(finish) if t >= window_start]
    if not picked or requests is not None and len(picked) < len(finish) // 2:
        picked, window_start = list(range(len(finish))), t0  # short --requests run: count everything
    end = max((finish[i] for i in picked), default=window_start)
    result.counted = len(picked)
    result.rate = len(picked) / (end - window_start) if end > window_start else 0.0
    if end > window_start:  # a receiver that slows down as it runs shows here, not in the average
        mid = (window_start + end) / 2
        first = sum(1 for i in picked if finish[i] < mid)
        result.halves = (first / (mid - window_start), (len(picked) - first) / (end - mid))
    lat = sorted(latency[i] * 1000.0 for i in picked)
    result.p50_ms = _common.percentile(lat, 50)
    result.p99_ms = _common.percentile(lat, 99)
    result.non_2xx = sum(1 for c in codes if not 200 <= c < 300)
    return result


# ---------------------------------------------------------------------------------------------- wrk
WRK_LUA = r"""
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  reqs = {}
  for line in io.lines(args[1] .. "/reqs-" .. id .. ".txt") do
    local sig, tok, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", "/twilio/status", {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["User-Agent"] = "TwilioProxy/1.1",
      ["X-Twilio-Signature"] = sig,
      ["I-Twilio-Idempotency-Token"] = tok,
    }, body)
  end
  i = 0
  exhausted = 0
end
function request()
  i = i + 1
  if i > #reqs then
    exhausted = exhausted + 1
    i = #reqs
  end
  return reqs[i]
end
function done(summary, latency, requests)
  local ex = 0
  for _, t in ipairs(threads) do ex = ex + t:get("exhausted") end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "status": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "exhausted": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), ex))
end
"""


def run_wrk_load(port: int, conns: int, seconds: float, max_rate: int, workdir: Path) -> LoadResult:
    """Same requests through ``wrk`` (2 threads). No per-request list: the lost check is a count check."""
    threads = 2
    tag = random.getrandbits(32)
    per_thread = int(max_rate * seconds / threads) + 2 * conns
    for t in range(threads):
        reqs, _ = make_requests(tag, t, per_thread, f"127.0.0.1:{port}")
        with open(workdir / f"reqs-{t}.txt", "w", encoding="utf-8") as fh:
            for raw in reqs:
                head, body = raw.split(b"\r\n\r\n", 1)
                fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
                fh.write(
                    f"{fields['X-Twilio-Signature']}\t{fields['I-Twilio-Idempotency-Token']}\t{body.decode()}\n"
                )
    script = workdir / "bench.lua"
    script.write_text(WRK_LUA, encoding="utf-8")
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{seconds:g}s",
        "--timeout",
        "15s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{STATUS_PATH}",
        "--",
        str(workdir),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=False)
    wall = time.perf_counter() - t0
    match = re.search(r"WRKJSON (\{.*\})", proc.stdout)
    if not match:
        raise RuntimeError(f"wrk failed: {proc.stdout}\n{proc.stderr}")
    data = json.loads(match.group(1))
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    res = LoadResult(
        rate=data["requests"] / (data["duration_us"] / 1e6),
        counted=data["requests"],
        sent=data["requests"],
        p50_ms=data["p50_us"] / 1000.0,
        p99_ms=data["p99_us"] / 1000.0,
        non_2xx=data["status"] + socket_errors,
        wall=wall,
        exhausted=data["exhausted"] > 0,
        note="wrk",
    )
    res.acked = [("", "")] * (data["requests"] - data["status"])  # count only (see docstring)
    return res


# ---------------------------------------------------------------------------------------------- servers
class Server:
    """A server subprocess that prints ``Listening on http://127.0.0.1:PORT``; killed by ``kill()``."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self._log = open(log, "wb")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=_common.REPO_ROOT,
            start_new_session=True,
        )
        self.port = self._wait_port(timeout=60)
        assert self.proc.stdout is not None
        self._drain = threading.Thread(
            target=self.proc.stdout.read, daemon=True
        )  # never block on a full pipe
        self._drain.start()

    def _wait_port(self, timeout: float) -> int:
        assert self.proc.stdout is not None
        found: list[int] = []

        def read() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                match = LISTEN_RE.search(raw.decode("utf-8", "replace"))
                if match:
                    found.append(int(match.group(1)))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            self.kill()
            raise RuntimeError(f"{self.name} did not start (see {self._log.name})")
        return found[0]

    def cpu_seconds(self) -> float | None:
        """user+system CPU of the server process so far (Linux /proc), for the 'cores used' column."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def server_command(target: str, db: Path | str) -> list[str]:
    """The server process of a target; ``db`` a file, or a team database's URL for pg1/pg2."""
    if target == "serve" or target in TEAM_TARGETS:
        store = ["--store", str(db)] if target in TEAM_TARGETS else ["--db", str(db)]
        return [
            sys.executable, "-m", "receiver", "serve", "--host", "127.0.0.1", "--port", "0", *store,
            "--public-url", PUBLIC_URL,
        ]  # fmt: skip
    extra = ["--db", str(db)] if target == "app" else []
    return [sys.executable, str(Path(__file__).resolve()), "--_server", target, *extra]


def _serve_internal(target: str, db: str | None) -> int:
    """Body of the ``app`` and ``hello`` server subprocesses."""
    from flask import Flask

    from receiver.server import ReceiverServer

    store = None
    if target.startswith("hello"):
        app = Flask("hello")
        answer = ("", 204) if target == "hello204" else ("hello", 200)

        @app.route("/", defaults={"_path": ""}, methods=["GET", "POST"])
        @app.route("/<path:_path>", methods=["GET", "POST"])
        def hello(_path: str) -> tuple[str, int]:
            return answer

    else:
        from receiver.app import ReceiverConfig, create_app
        from receiver.store import Store

        assert db is not None
        store = Store(db)
        stats = _DequeStats() if os.environ.get("BENCH_DEQUE_STATS") else None  # experiment, see README
        app = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC_URL), stats=stats)
        if os.environ.get("BENCH_LOGGING"):  # experiment: the app with serve's logging (see README)
            from receiver import logsetup

            logsetup.configure(to_stderr=True)
    if os.environ.get("BENCH_SWITCH_INTERVAL"):  # experiment: GIL hand-off latency vs. the writer thread
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    wsgi: Any = app
    if os.environ.get("BENCH_200_EMPTY"):  # experiment: 200 + Content-Length: 0 instead of 204 (keep-alive)
        wsgi = _no_204(app)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if target in ("hello", "hello204"):  # bare waitress: the reference
        from waitress.server import create_server

        bare = create_server(wsgi, host="127.0.0.1", port=0, threads=THREADS)
        threading.Thread(target=bare.run, daemon=True).start()
        print(f"Listening on http://127.0.0.1:{bare.effective_port}", flush=True)
        while not stop.wait(0.5):
            pass
        os._exit(0)  # nothing to keep: the hello world stores nothing
    server = ReceiverServer(wsgi, host="127.0.0.1", port=0, threads=THREADS)
    server.start()
    print(f"Listening on {server.url}", flush=True)
    if store is not None:
        threading.Thread(target=_report_commits, args=(store, stop), daemon=True).start()
    while not stop.wait(0.5):
        pass
    server.stop()
    if store is not None:
        store.close()
    return 0


def _no_204(app: Any) -> Any:
    """WSGI wrapper: a 204 becomes ``200`` with ``Content-Length: 0``, which waitress keeps alive."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("204"):
                status, headers = "200 OK", [*headers, ("Content-Length", "0")]
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


def _DequeStats() -> Any:
    """Experiment (BENCH_DEQUE_STATS=1): ``ReceiverStats`` with an O(1) ``count`` (a deque trimmed from the
    left) instead of rebuilding the last minute's list on every request once it holds 4096 entries."""
    import collections

    from receiver.app import ReceiverStats

    class DequeStats(ReceiverStats):
        def __init__(self) -> None:
            super().__init__()
            self.window: collections.deque[float] = collections.deque()

        def count(self, outcome: str) -> None:
            now = time.monotonic()
            with self.lock:
                self.total += 1
                self.rejected += outcome == "rejected"
                self.window.append(now)
                while self.window[0] < now - 60:
                    self.window.popleft()

        def per_minute(self) -> int:
            return len(self.window)

    return DequeStats()


def _report_commits(store: Any, stop: threading.Event) -> None:
    """Once a second on stderr (the run's server.log): commits so far, to see the group-commit batch size."""
    while not stop.wait(1.0):
        print(f"commits {store.commits}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- check
@dataclass
class DbCheck:
    lost: int
    events: int
    messages: int
    requests: int
    outcomes: dict[str, int]


def check_db(db: Path, acked: list[tuple[str, str]], count_only: bool) -> DbCheck:
    """Every acknowledged (sid, status) must have its event row and its message row."""
    conn = sqlite3.connect(db)
    try:
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        messages = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        requests = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM requests GROUP BY outcome").fetchall())
        if count_only:
            lost = max(0, len(acked) - events)
        else:
            conn.execute("CREATE TEMP TABLE acked (sid TEXT, status TEXT)")
            conn.executemany("INSERT INTO temp.acked VALUES (?, ?)", acked)
            lost = conn.execute(
                "SELECT COUNT(*) FROM temp.acked a WHERE NOT EXISTS "
                "(SELECT 1 FROM events e WHERE e.event_key = a.sid || '|' || a.status || '|') "
                "OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.sid = a.sid)"
            ).fetchone()[0]
    finally:
        conn.close()
    return DbCheck(lost, events, messages, requests, outcomes)


def check_team_db(url: str, password: str | None, acked: list[tuple[str, str]]) -> DbCheck:
    """``check_db`` on a team database (its counts include earlier runs when ``--store`` was given)."""
    import psycopg

    with psycopg.connect(url, password=password) as conn:
        conn.execute("CREATE TEMP TABLE acked (sid text, status text)")
        with conn.cursor() as cur, cur.copy("COPY acked FROM STDIN") as copy:
            for row in acked:
                copy.write_row(row)
        lost, events, messages, requests = conn.execute(
            "SELECT (SELECT count(*) FROM acked a WHERE NOT EXISTS "
            "(SELECT 1 FROM events e WHERE e.event_key = a.sid || '|' || a.status || '|') "
            "OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.sid = a.sid)), "
            "(SELECT count(*) FROM events), (SELECT count(*) FROM messages), (SELECT count(*) FROM requests)"
        ).fetchone() or (0, 0, 0, 0)
        outcomes: dict[str, int] = dict(
            conn.execute("SELECT outcome, count(*) FROM requests GROUP BY outcome").fetchall()
        )
    return DbCheck(int(lost), int(events), int(messages), int(requests), outcomes)


def store_problem(store: str) -> str | None:
    """Why ``--store`` cannot name the team database the receivers write (None: it can)."""
    from receiver.store.url import PostgresTarget, StoreURLError, parse

    try:
        target = parse(store)
    except StoreURLError as exc:
        return str(exc)
    return None if isinstance(target, PostgresTarget) else "--store takes a team database's postgresql:// URL"


class TeamDatabase:
    """Where pg1/pg2 write: the ``--store`` URL as given, or a database per run on a cluster started here."""

    def __init__(self, url: str | None, fsync: bool) -> None:
        self.url, self.cluster, self.password = url, None, None
        if url is None:
            from tests.pg.cluster import PASSWORD, Cluster

            self.cluster, self.password = Cluster(), PASSWORD
            self.cluster.start(fsync=fsync)

    def for_run(self, run_no: int) -> str:
        if self.cluster is None:
            assert self.url is not None
            return self.url
        name = f"bench_{run_no}_{int(time.time())}"
        self.cluster.admin(f"CREATE DATABASE {name}")
        return self.cluster.url(name)

    def describe(self) -> str:
        if self.cluster is None:
            return f"team database: {self.url} (given: compare within one run)"
        return f"team database: a throw-away cluster here, port {self.cluster.port}, a database per run"

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.destroy()


def merged(loads: list[LoadResult]) -> LoadResult:
    """The load on several receivers at once (pg2) as one: rates and counts add, latencies the worst."""
    if len(loads) == 1:
        return loads[0]
    return LoadResult(
        rate=sum(ld.rate for ld in loads),
        counted=sum(ld.counted for ld in loads),
        sent=sum(ld.sent for ld in loads),
        p50_ms=max(ld.p50_ms for ld in loads),
        p99_ms=max(ld.p99_ms for ld in loads),
        non_2xx=sum(ld.non_2xx for ld in loads),
        acked=[key for ld in loads for key in ld.acked],
        errors=[e for ld in loads for e in ld.errors],
        client_cpu=sum(ld.client_cpu for ld in loads),
        wall=max(ld.wall for ld in loads),
        exhausted=any(ld.exhausted for ld in loads),
        reconnects=sum(ld.reconnects for ld in loads),
        halves=(sum(ld.halves[0] for ld in loads), sum(ld.halves[1] for ld in loads)),
        note=loads[0].note,
    )


# ---------------------------------------------------------------------------------------------- driver
@dataclass
class Row:
    conns: int
    target: str
    load: LoadResult
    server_cpu: float | None
    check: DbCheck | None


def one_run(
    target: str, conns: int, args: argparse.Namespace, workdir: Path, run_no: int, team: TeamDatabase | None
) -> Row:
    run_dir = workdir / f"{target}-{conns}-{run_no}"
    run_dir.mkdir()
    db: Path | str = run_dir / "bench.db"
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN, CALLBACK_MONITOR_HOME=str(run_dir / "home"))
    receivers = TEAM_TARGETS.get(target, 1)
    if target in TEAM_TARGETS:
        assert team is not None
        db = team.for_run(run_no)
        if team.password:
            env["PGPASSWORD"] = team.password  # as an operator gives it: never in the URL
    servers = [
        Server(target, server_command(target, db), env, run_dir / f"server{i}.log") for i in range(receivers)
    ]
    try:
        cpu0, t0 = [s.cpu_seconds() for s in servers], time.perf_counter()
        if args.loadgen == "wrk":
            load = run_wrk_load(servers[0].port, conns, args.seconds or 5.0, args.max_rate, run_dir)
        else:
            load = merged(drive([s.port for s in servers], conns, args))
        cpu1, t1 = [s.cpu_seconds() for s in servers], time.perf_counter()
    finally:
        for server in servers:
            server.kill()  # SIGKILL: the check below proves a 2xx was committed, not merely queued
    used = [b - a for a, b in zip(cpu0, cpu1, strict=True) if a is not None and b is not None]
    server_cpu = sum(used) / (t1 - t0) if len(used) == len(servers) else None
    check = None
    if target in TEAM_TARGETS:
        assert team is not None
        check = check_team_db(str(db), team.password, load.acked)
    elif not target.startswith("hello"):
        check = check_db(Path(db), load.acked, count_only=args.loadgen == "wrk")
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return Row(conns, target, load, server_cpu, check)


def drive(ports: list[int], conns: int, args: argparse.Namespace) -> list[LoadResult]:
    """One load per receiver, at the same time, the connections and client processes shared out."""
    out: list[LoadResult | None] = [None] * len(ports)
    share, clients = max(1, conns // len(ports)), max(1, args.clients // len(ports))
    requests = None if args.requests is None else args.requests // len(ports)

    def one(i: int) -> None:
        out[i] = run_python_load(ports[i], share, clients, args.seconds, requests, args.warmup, args.max_rate)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(ports))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [ld for ld in out if ld is not None]


def _fmt_cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_run(row: Row) -> None:
    ld = row.load
    lost = "-" if row.check is None else str(row.check.lost)
    extra = ""
    if row.check is not None:
        extra = f" events={row.check.events} messages={row.check.messages} requests={row.check.requests}"
    if ld.reconnects:
        extra += f" new-conn/req={ld.reconnects / max(1, ld.sent):.2f}"
    if ld.exhausted:
        extra += " [ran out of pre-generated requests: raise --max-rate]"
    if ld.errors:
        extra += f" errors: {ld.errors[:2]}"
    print(
        f"  c={row.conns:<3} {row.target:<8} {ld.rate:8.0f}/s  "
        f"p50 {ld.p50_ms:6.1f} ms  p99 {ld.p99_ms:6.1f} ms  "
        f"non-2xx {ld.non_2xx}  lost {lost}  cpu server {_fmt_cpu(row.server_cpu)} "
        f"client {'-' if ld.note == 'wrk' else f'{ld.client_cpu:.2f}'}  "
        f"halves {ld.halves[0]:.0f}->{ld.halves[1]:.0f}/s  "
        f"({ld.counted} counted / {ld.sent} sent){extra}",
        flush=True,
    )


def print_summary(rows: list[Row], targets: list[str], conn_list: list[int]) -> bool:
    """The side-by-side table; returns whether every receiver target met the goal."""
    print()
    print("Summary (best run per cell; spread = min-max req/s over the runs; ratio = best / best hello)")
    header = (
        f"{'conns':>5}  {'target':<8} {'runs':>4} {'best/s':>8} {'spread':>13} {'ratio':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'lost':>5} {'srv cpu':>7} {'cli cpu':>7}  goal"
    )
    print(header)
    print("-" * len(header))
    ok_all = True
    for conns in conn_list:
        hello = [r for r in rows if r.conns == conns and r.target == "hello"]
        hello_best = max((r.load.rate for r in hello), default=0.0)
        for target in targets:
            mine = [r for r in rows if r.conns == conns and r.target == target]
            if not mine:
                continue
            best = max(mine, key=lambda r: r.load.rate)
            rates = [r.load.rate for r in mine]
            ratio = best.load.rate / hello_best if hello_best else 0.0
            non_2xx = sum(r.load.non_2xx for r in mine)
            lost = "-" if target.startswith("hello") else str(sum(r.check.lost for r in mine if r.check))
            goal = ""
            if target in TEAM_TARGETS:  # no ratio goal set for a team database: what is lost or refused
                ok = non_2xx == 0 and lost == "0"
                ok_all = ok_all and ok
                goal = "ok" if ok else "FAIL"
            elif not target.startswith("hello"):
                ok = ratio >= 0.6 and non_2xx == 0 and lost == "0"
                ok_all = ok_all and ok
                goal = "PASS" if ok else "FAIL"
            print(
                f"{conns:>5}  {target:<8} {len(mine):>4} {best.load.rate:>8.0f} "
                f"{min(rates):>6.0f}-{max(rates):<6.0f} {ratio:>6.2f} {best.load.p50_ms:>7.1f} "
                f"{best.load.p99_ms:>7.1f} {non_2xx:>7} {lost:>5} {_fmt_cpu(best.server_cpu):>7} "
                f"{best.load.client_cpu:>7.2f}  {goal}"
            )
        med = [r.load.rate for r in hello]
        if len(med) > 1:
            print(f"{'':>5}  (hello spread relative: {(max(med) - min(med)) / max(med):.0%})")
    print()
    print(
        "goal (issue): receiver >= 0.60 x hello-world rate, no non-2xx, lost 0 (team database: no non-2xx, "
        "lost 0) ->",
        "PASS" if ok_all else "FAIL",
    )
    return ok_all


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--connections", default="32,64", help="comma-separated concurrent connections (32,64)")
    p.add_argument("--seconds", type=float, default=None, help="measured seconds per run (default 5)")
    p.add_argument(
        "--requests", type=int, default=None, help="instead of --seconds: exactly N requests per run"
    )
    p.add_argument("--warmup", type=float, default=1.0, help="seconds at the start of each run not counted")
    p.add_argument(
        "--repeat", type=int, default=2, help="runs per (connections, target); best and spread shown"
    )
    p.add_argument(
        "--targets",
        help="comma-separated: " + ", ".join(TARGETS) + " (default hello,serve; with --store hello,pg1,pg2)",
    )
    p.add_argument(
        "--store",
        metavar="URL",
        help="the team database pg1/pg2 write to (postgresql://, no password in it); default: a cluster "
        "started here",
    )
    p.add_argument(
        "--no-fsync",
        action="store_true",
        help="the cluster started here runs with fsync=off (NOT durable): separates the disk's flush time "
        "from the receivers' own cost",
    )
    p.add_argument("--clients", type=int, default=2, help="load-generator processes (python loadgen)")
    p.add_argument("--loadgen", choices=("python", "wrk"), default="python")
    p.add_argument(
        "--max-rate",
        type=int,
        default=12000,
        help="requests pre-generated per second of run (must exceed the fastest target)",
    )
    p.add_argument("--keep", action="store_true", help="keep the run folders (databases, server logs)")
    p.add_argument("--_server", choices=("hello", "hello-ours", "hello204", "app"), help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args._server:
        return _serve_internal(args._server, args.db)
    if args.seconds is not None and args.requests is not None:
        print("error: give --seconds or --requests, not both", file=sys.stderr)
        return 2
    if args.seconds is None and args.requests is None:
        args.seconds = 5.0
    if args.loadgen == "wrk" and shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if args.loadgen == "wrk" and args.requests is not None:
        print("error: --loadgen wrk runs for --seconds", file=sys.stderr)
        return 2
    conn_list = [int(c) for c in args.connections.split(",") if c.strip()]
    chosen = args.targets or ("hello,pg1,pg2" if args.store else "hello,serve")
    targets = [t.strip() for t in chosen.split(",") if t.strip()]
    for t in targets:
        if t not in TARGETS:
            print(f"error: unknown target {t!r}", file=sys.stderr)
            return 2
    if args.loadgen == "wrk" and "pg2" in targets:
        print("error: pg2 drives two receivers: use the python load generator", file=sys.stderr)
        return 2
    problem = store_problem(args.store) if args.store else None
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(
        f"Receiver benchmark: {', '.join(targets)} x connections {conn_list} x {args.repeat} runs, "
        + (
            f"{args.seconds:g} s (+{args.warmup:g} s warm-up) each"
            if args.seconds
            else f"{args.requests} requests each"
        )
        + f", load generator: {args.loadgen}"
        + (
            f" ({args.clients} processes, raw keep-alive sockets)"
            if args.loadgen == "python"
            else " (2 threads)"
        )
    )
    print(
        f"Machine: {os.cpu_count()} CPU cores, shared by the server AND the load generator "
        "(and anything else running): figures are noisy, compare within one run."
    )
    print(
        f"Every server: waitress via receiver.server.ReceiverServer, threads={THREADS}, "
        "127.0.0.1, its own process."
    )
    print("Requests: signed status callbacks, unique MessageSid/status each (no duplicates).")
    print("cpu columns: cores used (1.00 = one core busy) during the run.\n")
    team = TeamDatabase(args.store, fsync=not args.no_fsync) if TEAM_TARGETS.keys() & set(targets) else None
    if team is not None:
        print(team.describe() + "; fsync " + ("off (NOT durable)" if args.no_fsync else "on") + "\n")
    try:
        return _runs(args, targets, conn_list, team)
    finally:
        if team is not None:
            team.close()


def _runs(
    args: argparse.Namespace, targets: list[str], conn_list: list[int], team: TeamDatabase | None
) -> int:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="cm-bench-") as tmp:
        workdir = Path(tmp)
        if args.keep:
            workdir = Path(tempfile.mkdtemp(prefix="cm-bench-keep-"))
            print(f"keeping run folders under {workdir}")
        run_no = 0
        for conns in conn_list:
            for _ in range(args.repeat):
                for target in targets:
                    run_no += 1
                    row = one_run(target, conns, args, workdir, run_no, team)
                    rows.append(row)
                    print_run(row)
    ok = print_summary(rows, targets, conn_list)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
