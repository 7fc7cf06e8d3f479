"""Good callbacks under a slow-client attack: do signed status callbacks still get through in time?

What it answers (issue #8): with 1,000 hostile connections open against ``callback-monitor serve`` --
headers that never end, bodies trickled a byte a second, connections that never send a byte -- do good
callbacks (signed with twilio's ``RequestValidator``, each on a new connection, as Twilio opens them) keep
p99 <= 1 s, with no error, no timeout (Twilio waits 15 s, connect included), and every acknowledged one in
the database? Goal met: exit status 0.

The attackers run in their own process (one ``selectors`` loop) and replace every connection the server
closes, so the pressure stays at the configured count for the whole run. The good callbacks come from
threads in this process at a fixed rate. Everything is on loopback, bounded in count and time; the server
is stopped with SIGTERM at the end (which also shows it drains under attack) and the database is checked.

    .venv/bin/python bench/attack.py                    # 400 slow headers, 300 slow bodies, 300 idle, 30 s
    .venv/bin/python bench/attack.py --seconds 10 --slow-headers 1000 --slow-bodies 0 --idle 0
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import selectors
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

TOKEN = "0123456789abcdef0123456789abcdef"  # fake; the server gets it through TWILIO_AUTH_TOKEN
PUBLIC_URL = "https://attack.callback-monitor.invalid"  # what Twilio "signed"; never contacted
STATUS_PATH = "/twilio/status"
TWILIO_TIMEOUT = 15.0  # connect included: https://www.twilio.com/docs/api/errors/11205
MAX_RECONNECTS_PER_SECOND = 500  # the attacker replaces closed connections at most this fast
KINDS = ("slow-headers", "slow-bodies", "idle")


def raise_fd_limit(needed: int) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


# --------------------------------------------------------------------------------------------- attackers
def _first_bytes(kind: str) -> bytes:
    if kind == "slow-headers":
        return f"POST {STATUS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\n".encode()
    if kind == "slow-bodies":
        return (
            f"POST {STATUS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n"
        ).encode()
    return b""


_TRICKLE = {"slow-headers": b"X-Slow: a\r\n", "slow-bodies": b"MessageSid=x&", "idle": b""}


@dataclass
class _Conn:
    kind: str
    sock: socket.socket
    sent: int = 0
    next_send: float = 0.0


def attacker(port: int, counts: dict[str, int], ready: Any, stop: Any, result: Any) -> None:
    """Keep ``counts`` connections of each kind open until ``stop``; report what the server did to them."""
    raise_fd_limit(sum(counts.values()) + 256)
    sel = selectors.DefaultSelector()
    conns: dict[int, _Conn] = {}
    closed_by_server: dict[str, int] = dict.fromkeys(KINDS, 0)
    answers: dict[str, int] = {}
    opened = connect_errors = 0
    wanted = [kind for kind in KINDS for _ in range(counts.get(kind, 0))]
    missing: list[str] = list(wanted)
    budget, budget_at = float(MAX_RECONNECTS_PER_SECOND), time.monotonic()

    def open_one(kind: str) -> bool:
        nonlocal opened, connect_errors
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            connect_errors += 1
            return False
        sock.setblocking(False)
        first = _first_bytes(kind)
        try:
            if first:
                sock.send(first)
        except OSError:
            sock.close()
            return False
        conn = _Conn(kind, sock, next_send=time.monotonic() + 1.0 + (opened % 100) / 100)
        conns[sock.fileno()] = conn
        sel.register(sock, selectors.EVENT_READ, conn)
        opened += 1
        return True

    def drop(conn: _Conn, answer: bytes) -> None:
        closed_by_server[conn.kind] += 1
        head = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")[:40] or "(closed, no answer)"
        answers[head] = answers.get(head, 0) + 1
        sel.unregister(conn.sock)
        del conns[conn.sock.fileno()]
        conn.sock.close()
        missing.append(conn.kind)

    # the initial connections, as fast as the server accepts them
    while missing and not stop.is_set():
        if not open_one(missing[-1]):
            time.sleep(0.01)
            continue
        missing.pop()
    ready.set()
    while not stop.is_set():
        for key, _ in sel.select(timeout=0.1):
            conn = key.data
            try:
                data = conn.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            drop(conn, data)
        now = time.monotonic()
        for conn in list(conns.values()):  # one byte a second each
            if conn.next_send <= now and conn.kind != "idle":
                chunk = _TRICKLE[conn.kind]
                try:
                    conn.sock.send(chunk[conn.sent % len(chunk) : conn.sent % len(chunk) + 1])
                    conn.sent += 1
                except OSError:
                    drop(conn, b"")
                    continue
                conn.next_send = now + 1.0
        budget = min(MAX_RECONNECTS_PER_SECOND, budget + (now - budget_at) * MAX_RECONNECTS_PER_SECOND)
        budget_at = now
        while missing and budget >= 1 and not stop.is_set():
            if not open_one(missing[-1]):
                break
            missing.pop()
            budget -= 1
    for conn in conns.values():
        conn.sock.close()
    result.put(
        {
            "opened": opened,
            "connect_errors": connect_errors,
            "closed_by_server": closed_by_server,
            "answers": answers,
            "open_at_end": len(conns),
        }
    )


# ------------------------------------------------------------------------------------------ good traffic
@dataclass
class Good:
    latencies: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # when each answered callback began (run seconds)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    timeouts: int = 0
    acked: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _signed(n: int, tag: str) -> tuple[bytes, str]:
    from twilio.request_validator import RequestValidator

    sid = f"SM{tag}{n:028x}"  # 32 hex digits, as Twilio's
    params = {
        "ApiVersion": "2010-04-01",
        "AccountSid": "AC" + "b" * 32,
        "MessageSid": sid,
        "SmsSid": sid,
        "From": "+15005550006",
        "To": f"+1555{n % 10**7:07d}",
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
    }
    body = urlencode(params).encode()
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + STATUS_PATH, params)
    head = (
        f"POST {STATUS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: TwilioProxy/1.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nI-Twilio-Idempotency-Token: {tag}-{n}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body, sid


def _one_callback(port: int, request: bytes) -> tuple[int | None, str | None]:
    """(HTTP status, None) or (None, error); connect, send and answer within Twilio's 15 s."""
    deadline = time.monotonic() + TWILIO_TIMEOUT
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TWILIO_TIMEOUT) as sock:
            sock.sendall(request)
            data = b""
            while b"\r\n" not in data:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(4096)
                if not chunk:
                    return None, "closed without an answer"
                data += chunk
            return int(data.split(b" ", 2)[1]), None
    except TimeoutError:
        return None, "timeout"
    except OSError as exc:
        return None, type(exc).__name__


def good_traffic(port: int, rate: float, seconds: float, workers: int, tag: str) -> Good:
    good = Good()
    total = int(rate * seconds)
    prepared = [_signed(n, tag) for n in range(total)]
    start = time.monotonic() + 0.2
    next_index = [0]
    index_lock = threading.Lock()

    def worker() -> None:
        while True:
            with index_lock:
                n = next_index[0]
                next_index[0] += 1
            if n >= total:
                return
            due = start + n / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the schedule: callbacks at a fixed rate, as a campaign sends them
            request, sid = prepared[n]
            t0 = time.perf_counter()
            status, error = _one_callback(port, request)
            elapsed = time.perf_counter() - t0
            with good.lock:
                if status is not None:
                    good.latencies.append(elapsed)
                    good.started.append(due - start)
                    good.statuses[status] = good.statuses.get(status, 0) + 1
                    if 200 <= status < 300:
                        good.acked.append((sid, "delivered"))
                elif error == "timeout":
                    good.timeouts += 1
                else:
                    good.errors[error or "?"] = good.errors.get(error or "?", 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return good


# ------------------------------------------------------------------------------------------------ driver
def start_server(db: Path, log: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], int, Any]:
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN, CALLBACK_MONITOR_HOME=str(db.parent / "home"))
    env.pop("DISPLAY", None)
    log_file = open(log, "wb")  # noqa: SIM115 - closed by the caller
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "receiver",
            "serve",
            "--port",
            "0",
            "--db",
            str(db),
            "--public-url",
            PUBLIC_URL,
        ]
        + extra,
        stdout=subprocess.PIPE,
        stderr=log_file,
        env=env,
        cwd=_common.REPO_ROOT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace")
        if line.startswith("Listening on http://127.0.0.1:"):
            port = int(line.rsplit(":", 1)[1])
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # never block on a full pipe
            return proc, port, log_file
    proc.wait(timeout=10)
    raise SystemExit(f"serve did not start, see {log}")


def cpu_seconds(pid: int) -> float | None:
    """user+system CPU of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lost_callbacks(db: Path, acked: list[tuple[str, str]]) -> int:
    conn = sqlite3.connect(db)
    try:
        return sum(
            conn.execute(
                "SELECT 1 FROM events WHERE message_sid = ? AND status = ?", (sid, status)
            ).fetchone()
            is None
            for sid, status in acked
        )
    finally:
        conn.close()


def _pct(values: list[float], q: float) -> float:
    return _common.percentile(sorted(values), q) * 1000.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slow-headers", type=int, default=400, help="connections trickling headers")
    p.add_argument("--slow-bodies", type=int, default=300, help="connections trickling a body")
    p.add_argument("--idle", type=int, default=300, help="connections that never send a byte")
    p.add_argument("--seconds", type=float, default=30.0, help="how long good callbacks flow (max 600)")
    p.add_argument("--rate", type=float, default=20.0, help="good callbacks per second")
    p.add_argument("--workers", type=int, default=16, help="threads sending good callbacks")
    p.add_argument("--serve-arg", action="append", default=[], help="extra argument for serve (repeatable)")
    p.add_argument("--timeline", action="store_true", help="the slowest good callback of every second")
    p.add_argument("--keep", action="store_true", help="keep the run folder (database, server log)")
    args = p.parse_args(argv)
    counts = {"slow-headers": args.slow_headers, "slow-bodies": args.slow_bodies, "idle": args.idle}
    if min(counts.values()) < 0 or sum(counts.values()) > 20000 or not 0 < args.seconds <= 600:
        p.error("counts 0..20000 in all, seconds 0..600")
    raise_fd_limit(256)
    workdir = Path(tempfile.mkdtemp(prefix="cm-attack-"))
    db, log = workdir / "attack.db", workdir / "server.log"
    proc, port, log_file = start_server(db, log, args.serve_arg)
    print(f"serve on port {port}; attack: {counts}; good: {args.rate:g}/s for {args.seconds:g} s", flush=True)
    ctx = mp.get_context("fork")  # "spawn" would re-import this script without bench/ on sys.path
    ready, stop, result = ctx.Event(), ctx.Event(), ctx.Queue()
    attack = ctx.Process(target=attacker, args=(port, counts, ready, stop, result), daemon=True)
    attack.start()
    try:
        if not ready.wait(120):
            raise SystemExit("the attacker could not open its connections in 120 s")
        print(f"{sum(counts.values())} hostile connections open; good callbacks start", flush=True)
        cpu0, run_t0 = cpu_seconds(proc.pid), time.monotonic()
        good = good_traffic(port, args.rate, args.seconds, args.workers, f"{os.getpid() % 65536:04x}")
        cpu1, run_t1 = cpu_seconds(proc.pid), time.monotonic()
        t0 = time.monotonic()  # stopped while the attack goes on: the drain is bounded all the same
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        stop_seconds = time.monotonic() - t0
        stop.set()
        attack_report = result.get(timeout=30)
        attack.join(10)
    finally:
        stop.set()
        if attack.is_alive():
            attack.terminate()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log_file.close()
    lost = lost_callbacks(db, good.acked)
    sent = int(args.rate * args.seconds)
    answered = len(good.latencies)
    non_2xx = sum(n for status, n in good.statuses.items() if not 200 <= status < 300)
    p50, p99 = _pct(good.latencies, 50), _pct(good.latencies, 99)
    worst = max(good.latencies, default=0.0) * 1000.0
    print(
        f"good callbacks: sent {sent}, answered {answered}, 2xx {len(good.acked)}, non-2xx {non_2xx}, "
        f"timeouts {good.timeouts}, errors {sum(good.errors.values())} {good.errors or ''}"
    )
    print(f"latency incl. connect: p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {worst:.1f} ms")
    if args.timeline:
        by_second: dict[int, list[float]] = {}
        for began, latency in zip(good.started, good.latencies, strict=True):
            by_second.setdefault(int(began), []).append(latency * 1000.0)
        print("  second: max ms  " + "  ".join(f"{s}:{max(v):.0f}" for s, v in sorted(by_second.items())))
    print(
        f"attack: opened {attack_report['opened']} connections, closed by the server "
        f"{attack_report['closed_by_server']}, answers {attack_report['answers']}, "
        f"connect errors {attack_report['connect_errors']}"
    )
    if cpu0 is not None and cpu1 is not None:
        print(f"server CPU during the run: {(cpu1 - cpu0) / (run_t1 - run_t0):.2f} cores")
    print(f"SIGTERM under attack: exit {code} after {stop_seconds:.1f} s")
    print(f"acknowledged callbacks missing from the database: {lost}")
    ok = p99 <= 1000.0 and lost == 0 and good.timeouts == 0 and not good.errors and non_2xx == 0
    print("GOAL MET (p99 <= 1 s, none lost, no errors)" if ok else "GOAL MISSED")
    if args.keep:
        print(f"run folder: {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
