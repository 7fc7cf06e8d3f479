"""Does a backfill slow the receiver's callbacks down? Callback commit latency with and without one.

    .venv/bin/python bench/reconcile.py [--messages 5000] [--rate 200] [--page-size 50]

A fake Twilio (tests/fakes) holds ``--messages`` messages; callback threads store status callbacks
through the Store at ``--rate`` per second (the receiver's write path minus HTTP) and time each commit.
Phase 1: callbacks alone for as long as phase 2 takes. Phase 2: the same while ``Reconciler.backfill``
lists every message through the real twilio-python client, one group-commit job per page. Prints the
callback latency percentiles of both phases and the backfill's rate. On a shared machine the figures are
noisy; the comparison between the two phases is what matters. The fake Twilio and the client run in
this process: their JSON work competes with the callback thread for the GIL, which the real receiver
(other process than Twilio) does not pay; the write jobs' own time is printed apart for that reason.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import percentile, use_repo_root

use_repo_root()

from receiver import callbacks, reconcile  # noqa: E402
from receiver.store import RequestRecord, Store  # noqa: E402
from receiver.twilio_client import Credentials, make_client  # noqa: E402
from tests.fakes.fake_twilio import FakeTwilio, new_sid  # noqa: E402


def callback_load(store: Store, rate: float, stop: threading.Event, out: list[float]) -> None:
    gap = 1.0 / rate
    next_at = time.perf_counter()
    while not stop.is_set():
        params = {"MessageSid": new_sid("SM"), "MessageStatus": "delivered", "AccountSid": "AC" + "1" * 32}
        cb = callbacks.parse("status", list(params.items()), None)
        started = time.perf_counter()
        store.record_callback(cb, RequestRecord(path="/twilio/status", kind="status", http_status=200))
        out.append((time.perf_counter() - started) * 1000)
        next_at += gap
        time.sleep(max(0.0, next_at - time.perf_counter()))


def phase(store: Store, rate: float, work: callable) -> tuple[list[float], float]:  # type: ignore[valid-type]
    stop, latencies = threading.Event(), []
    loader = threading.Thread(target=callback_load, args=(store, rate, stop, latencies))
    loader.start()
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    stop.set()
    loader.join()
    return sorted(latencies), elapsed


def line(name: str, lat: list[float]) -> str:
    return (
        f"{name:<26} callbacks {len(lat):5d}  p50 {percentile(lat, 50):6.2f} ms  "
        f"p99 {percentile(lat, 99):6.2f} ms  max {lat[-1] if lat else 0:7.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0, help="callbacks per second")
    parser.add_argument("--page-size", type=int, default=reconcile.PAGE_SIZE)
    args = parser.parse_args()
    fake = FakeTwilio().start()
    since = datetime.now(UTC) - timedelta(days=1)
    for i in range(args.messages):
        fake.add_message(date_sent=since + timedelta(seconds=i))
    store = Store(Path(tempfile.mkdtemp(prefix="cm-bench-")) / "recon.db")
    client = make_client(Credentials(fake.account_sid, auth_token=fake.auth_token), api_base=fake.base_url)
    settings = reconcile.Settings(page_size=args.page_size)
    report = reconcile.Report()

    jobs: list[float] = []  # how long each of the backfill's write jobs held the writer

    def backfill() -> None:
        def timed(conn: Any, fn: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(conn)
            finally:
                jobs.append((time.perf_counter() - started) * 1000)

        run = store.run
        mine = threading.get_ident()
        store.run = lambda fn, timeout=30.0: run(  # type: ignore[method-assign]
            (lambda conn: timed(conn, fn)) if threading.get_ident() == mine else fn, timeout
        )
        try:
            reconcile.Reconciler(store, client, fake.account_sid, settings).backfill(since, report)
        finally:
            store.run = run  # type: ignore[method-assign]

    during, elapsed = phase(store, args.rate, backfill)
    alone, _ = phase(store, args.rate, lambda: time.sleep(elapsed))
    store.close()
    fake.stop()
    print(f"backfill: {report.backfilled} messages in {elapsed:.1f} s ({report.backfilled / elapsed:.0f}/s), "
          f"page size {args.page_size}")  # fmt: skip
    jobs.sort()
    print(f"backfill write jobs: {len(jobs)}, p50 {percentile(jobs, 50):.2f} ms, max {jobs[-1]:.2f} ms")
    print(line("callbacks alone", alone))
    print(line("callbacks during backfill", during))
    return 0


if __name__ == "__main__":
    sys.exit(main())
