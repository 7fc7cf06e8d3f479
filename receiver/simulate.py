"""Send simulated Twilio webhook traffic (planned by ``simulate_plan``) and the ``simulate`` CLI.

Sending (``run`` / ``send_plan``) uses keep-alive ``http.client`` connections on a few worker threads,
paced to a global rate, so the same code drives a live demo at 20 req/s or a benchmark at thousands of
req/s. The plan itself -- what Twilio would send, signed for the public URL -- comes from
``simulate_plan.generate_plan`` (callers import the plan's names from there).

Qt-free and Flask-free: only the standard library.
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import urlsplit

from .simulate_plan import DEMO_AUTH_TOKEN, SimConfig, SimRequest, generate_plan


@dataclass
class SimResult:
    """Outcome of a run. ``messages``/``inbound``/``planned`` describe the plan; the rest what happened."""

    sent: int
    by_status: dict[int, int]
    errors: list[str]
    elapsed_s: float
    messages: int
    inbound: int
    planned: int = 0
    failed: int = 0  # requests that got no HTTP answer (only the first _MAX_ERRORS are kept in errors)
    stopped: bool = False


_MAX_ERRORS = 100

# ---------------------------------------------------------------------------------------------- sending

_RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class _Sender:
    """Sends a plan on ``concurrency`` keep-alive connections, paced to one global rate."""

    def __init__(
        self,
        target: str,
        plan: list[SimRequest],
        rate: float,
        on_progress: Callable[[int, int], None] | None,
        stop: threading.Event,
    ) -> None:
        parts = urlsplit(target)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.plan = plan
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.on_progress = on_progress
        self.stop = stop
        self.lock = threading.Lock()
        self.next_index = 0
        self.next_slot = 0.0
        self.done = 0
        self.by_status: dict[int, int] = {}
        self.errors: list[str] = []
        self.failed = 0
        self.crash: BaseException | None = None

    def _take(self) -> SimRequest | None:
        """The next request, once its send slot has come; None when the plan is done or stop is set."""
        with self.lock:
            if self.stop.is_set() or self.next_index >= len(self.plan):
                return None
            request = self.plan[self.next_index]
            self.next_index += 1
            slot = 0.0
            if self.interval:
                # Reserve the next slot; never earlier than now, so a slow target never causes a burst.
                slot = max(time.monotonic(), self.next_slot)
                self.next_slot = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0 and self.stop.wait(delay):
            return None
        return request

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=15)  # Twilio's own 15 s budget

    def _post(self, conn: http.client.HTTPConnection, request: SimRequest) -> int:
        conn.request("POST", self.prefix + request.path, body=request.body, headers=request.headers)
        response = conn.getresponse()
        response.read()  # drain, so the connection can be reused
        if response.will_close:
            conn.close()
        return response.status

    def worker(self) -> None:
        conn: http.client.HTTPConnection | None = None
        try:
            while (request := self._take()) is not None:
                status: int | None = None
                error = ""
                for attempt in range(2):
                    reused = conn is not None
                    conn = conn or self._connect()
                    try:
                        status = self._post(conn, request)
                        break
                    except _RETRYABLE as exc:
                        conn.close()
                        conn = None
                        error = f"{type(exc).__name__}: {exc}"
                        if not reused or attempt:
                            break  # only a stale keep-alive connection earns a second try
                    except (OSError, http.client.HTTPException) as exc:
                        conn.close()
                        conn = None
                        error = f"{type(exc).__name__}: {exc}"
                        break
                self._record(request, status, error)
        except BaseException as exc:  # surfaced in the caller's thread by send_plan
            with self.lock:
                self.crash = self.crash or exc
            self.stop.set()
        finally:
            if conn is not None:
                conn.close()

    def _record(self, request: SimRequest, status: int | None, error: str) -> None:
        with self.lock:
            self.done += 1
            done = self.done
            if status is not None:
                self.by_status[status] = self.by_status.get(status, 0) + 1
            else:
                self.failed += 1
                if len(self.errors) < _MAX_ERRORS:
                    self.errors.append(f"POST {request.path} ({request.note}): {error}")
        if self.on_progress is not None:
            self.on_progress(done, len(self.plan))


def send_plan(
    target: str,
    plan: list[SimRequest],
    *,
    rate: float = 0.0,
    concurrency: int = 4,
    on_progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> SimResult:
    """Send an already generated plan (benchmarks plan first so planning is not timed).

    ``on_progress(done, total)`` is called from the worker threads after each request.
    """
    stop = stop or threading.Event()
    sender = _Sender(target, plan, rate, on_progress, stop)
    threads = [
        threading.Thread(target=sender.worker, name=f"simulate-{i}", daemon=True)
        for i in range(max(1, min(concurrency, len(plan))))
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)  # short joins keep the caller's thread responsive to Ctrl-C
    except BaseException:
        stop.set()
        for thread in threads:
            thread.join()
        raise
    if sender.crash is not None:
        raise sender.crash
    return SimResult(
        sent=sum(sender.by_status.values()),
        by_status=dict(sorted(sender.by_status.items())),
        errors=sender.errors,
        elapsed_s=time.monotonic() - started,
        messages=len({r.sid for r in plan if r.kind == "status"}),
        inbound=len({r.sid for r in plan if r.kind == "inbound"}),
        planned=len(plan),
        failed=sender.failed,
        stopped=sender.done < len(plan),
    )


def run(
    cfg: SimConfig,
    on_progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> SimResult:
    """Plan and send. Returns when the plan is sent or ``stop`` is set (requests in flight finish)."""
    plan = generate_plan(cfg)
    result = send_plan(
        cfg.target, plan, rate=cfg.rate, concurrency=cfg.concurrency, on_progress=on_progress, stop=stop
    )
    result.messages = cfg.messages
    return result


# -------------------------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callback-monitor simulate",
        description="Send realistic, signed Twilio SMS/WhatsApp webhooks to a receiver.",
    )
    parser.add_argument("--target", required=True, help="where to send, e.g. http://127.0.0.1:8080")
    parser.add_argument("--public-url", help="URL Twilio would sign (your tunnel), defaults to --target")
    parser.add_argument(
        "--auth-token",
        help="sign with this token instead of the public demo token (e.g. a test receiver's); never "
        "taken from $TWILIO_AUTH_TOKEN, so simulated traffic cannot pass for real traffic by accident",
    )
    parser.add_argument("--messages", type=int, default=50, help="outbound messages to simulate (50)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second, 0 = unpaced (20)")
    parser.add_argument("--seed", type=int, help="make the traffic reproducible")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel connections (4)")
    return parser


def _pick_token(given: str | None) -> tuple[str, str]:
    """(token, human description of where it came from). The description never contains the token."""
    if given:
        return given, "the token given with --auth-token"
    return DEMO_AUTH_TOKEN, (
        "the public demo token (the receiver accepts it from this computer only, with `serve --demo-token` "
        "or while the app simulates; the traffic is marked simulated)"
    )


def cli(argv: list[str], out: TextIO) -> int:
    """``callback-monitor simulate``. Exit status 0 when every request got a 2xx answer."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage or help
        return exc.code if isinstance(exc.code, int) else 2
    token, source = _pick_token(args.auth_token)
    try:
        cfg = SimConfig(
            target=args.target,
            public_url=args.public_url,
            auth_token=token,
            messages=args.messages,
            rate=args.rate,
            seed=args.seed,
            concurrency=args.concurrency,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=out)
        return 2
    print(f"Signing with {source}.", file=out)
    print(
        f"Simulating {cfg.messages} messages -> {cfg.target} (signed for {cfg.signing_base}), "
        f"rate {'unpaced' if not cfg.rate else f'{cfg.rate:g}/s'}, seed {cfg.seed}",
        file=out,
    )
    stop = threading.Event()
    outcome: list[SimResult] = []
    failure: list[BaseException] = []
    last_print = [time.monotonic()]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last_print[0] >= 2.0:
            last_print[0] = now
            print(f"  {done}/{total}", file=out, flush=True)

    def body() -> None:
        try:
            outcome.append(run(cfg, progress, stop))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=body, name="simulate-cli")
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        print("Interrupted, finishing requests in flight...", file=out)
        stop.set()
        thread.join()
    if failure:
        raise failure[0]
    return _report(outcome[0], out)


def _report(result: SimResult, out: TextIO) -> int:
    rate = result.sent / result.elapsed_s if result.elapsed_s > 0 else 0.0
    statuses = ", ".join(f"{code} x{n}" for code, n in result.by_status.items()) or "none"
    print(
        f"Sent {result.sent}/{result.planned} requests ({result.messages} messages, "
        f"{result.inbound} inbound) in {result.elapsed_s:.2f} s ({rate:.0f}/s): {statuses}; "
        f"{result.failed} without answer{' (stopped early)' if result.stopped else ''}",
        file=out,
    )
    for error in result.errors[:5]:
        print(f"  {error}", file=out)
    if any(code in (401, 403) for code in result.by_status):
        print(
            "  401/403 usually means the signature did not validate: the receiver's public URL and auth "
            "token must match --public-url and the token used here.",
            file=out,
        )
    ok = result.failed == 0 and not result.stopped and all(200 <= c < 300 for c in result.by_status)
    return 0 if ok else 1
