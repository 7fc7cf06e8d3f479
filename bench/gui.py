"""GUI benchmark: the main window on a 1M-message / 3M-event database (figures printed, not asserted).

Measures, in one run, offscreen:
  * start → first rows shown (goal ≤ 2 s)
  * a filter change → the first rows AND the count shown (goal ≤ 200 ms); the table reads slow answers
    on a worker thread, so this waits for them with the event loop running, and reports the longest
    event-loop stall meanwhile
  * scrolling top → bottom in 60 jumps: the longest event-loop stall (goal ≤ 50 ms), and the longest
    wait until the rows at the top of the view replaced their "…" placeholders
  * the same three for the request log (Requests tab; build the database with ``--requests 1000000``):
    first rows, a filter change (outcome, text: the text filter is a scan) and scrolling
  * a worker's Reader kept open vs. opened per job (why ``QueryLane`` keeps one open)
  * resident memory (goal ≤ 400 MB)
  * while `callback-monitor simulate` pushes ~500 callbacks/s at the embedded receiver: the longest
    event-loop stall (goal ≤ 100 ms) and whether the newest rows appear at the top.

    python bench/make_db.py --messages 1000000 --events 3000000 --requests 1000000 --out /tmp/big.db  # once
    python bench/gui.py --db /tmp/big.db

On a team database (``--store postgresql://…``, the password from PGPASSWORD or the keyring) the window
is attached, as a desktop that only reads: the same reads are measured, not changed, and instead of the
simulation, NOTIFY → row visible: a team receiver (a PgStore in this process, on its own thread) commits
one callback at a time (its batch's NOTIFY is the store's), and the time from the callback's arrival
until the attached window shows its row at the top is measured: the receiver's work, the commit (and its
flush), the NOTIFY and the window's refresh together, so an upper bound of NOTIFY → row visible.

A database made before migration m004 (the trigram text index) is migrated when the app opens the copy
(~25 s for a million messages): "start" then includes it. Migrate the source once to measure a normal
start: ``python -c "from receiver.store import Store; Store('/tmp/big.db').close()"``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common

_common.use_repo_root()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.main_window import MainWindow  # noqa: E402
from desktop.models.message_query import MessageFilter, SortSpec  # noqa: E402
from desktop.models.messages_model import SID_ROLE, MessagesModel  # noqa: E402
from desktop.receiver_controller import ReceiverController  # noqa: E402
from receiver.secrets import SecretStore  # noqa: E402
from receiver.simulate_plan import DEMO_AUTH_TOKEN  # noqa: E402


class StallMeter:
    """A 5 ms timer; the longest gap between its ticks beyond 5 ms is the longest event-loop stall."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.clock = QElapsedTimer()
        self.worst = 0.0
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.worst = 0.0
        self.clock.start()
        self.timer.start()

    def _tick(self) -> None:
        gap = self.clock.restart()
        self.worst = max(self.worst, gap - 5)

    def stop(self) -> float:
        self.timer.stop()
        return self.worst


def pump(app: QApplication, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def shown(model: MessagesModel) -> bool:
    """The count is known and the first row is on screen (not a placeholder)."""
    return model.count_known and (model.total == 0 or model.index(0, 0).data(SID_ROLE) is not None)


def log_shown(model: Any) -> bool:
    """The request log's count is known and its first row is on screen (not a placeholder)."""
    known = getattr(model, "count_known", True)  # a model without lanes is always synchronous
    return known and (model.rowCount() == 0 or model.index(0, 0).data() not in (None, "…"))


def scroll(app: QApplication, table: Any, row_ready: Callable[[int], bool]) -> tuple[float, float]:
    """Top to bottom in 60 jumps: the worst event-loop stall, and the worst wait for real rows."""
    meter = StallMeter()
    meter.start()
    bar = table.verticalScrollBar()
    waits = []
    for i in range(61):
        bar.setValue(int(bar.maximum() * i / 60))
        t = time.perf_counter()
        wait_until(app, lambda: row_ready(max(table.rowAt(0), 0)), 10)
        waits.append((time.perf_counter() - t) * 1000)
        pump(app, 0.02)
    bar.setValue(0)
    return meter.stop(), max(waits)


def reader_open_cost(db: Any) -> tuple[float, float]:
    """Median ms of one page read on a Reader kept open, and on a Reader opened for the job."""
    from receiver.store import open_reader

    try:
        from receiver.store.paging import first_page
    except ImportError:  # before the store had pages
        return float("nan"), float("nan")
    from datetime import UTC, datetime

    def page(reader: Any) -> None:
        reader.messages_page(
            MessageFilter(channel="whatsapp"), SortSpec(), datetime.now(UTC), first_page(200)
        )

    kept, fresh = [], []
    warm = open_reader(db)
    for _ in range(21):
        t = time.perf_counter()
        page(warm)
        kept.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        reader = open_reader(db)
        page(reader)
        reader.close()
        fresh.append((time.perf_counter() - t) * 1000)
    warm.close()
    return statistics.median(kept), statistics.median(fresh)


def wait_until(app: QApplication, done: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.perf_counter() + timeout
    while not done() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.0005)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _newest_sid(controller: ReceiverController) -> str | None:
    from datetime import UTC, datetime

    try:
        from receiver.store.paging import first_page
    except ImportError:  # before the store had pages (to measure the code before #12)
        row = (
            controller.reader()
            .execute("SELECT sid FROM messages ORDER BY first_seen DESC LIMIT 1")
            .fetchone()
        )
        return str(row[0]) if row else None
    page = controller.read().messages_page(MessageFilter(), SortSpec(), datetime.now(UTC), first_page(1))
    return str(page.rows[0]["sid"]) if page.rows else None


def notify_latency(app: QApplication, model: MessagesModel, url: str, samples: int) -> list[float]:
    """ms from a callback reaching a team receiver to the attached window showing its row at the top."""
    import threading

    from receiver.app import ReceiverConfig, create_app
    from receiver.store.pg.store import PgStore
    from receiver.store.url import PostgresTarget, parse
    from tests.receiver_helpers import PUBLIC, TOKEN, post, sid, status_params

    target = parse(url)
    assert isinstance(target, PostgresTarget)
    store = PgStore(target)
    client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
    latencies = []
    try:
        for _ in range(samples):
            message = sid()
            form = status_params(message, "sent")
            thread = threading.Thread(target=lambda form=form: post(client, "/twilio/status", form))
            sent = time.perf_counter()
            thread.start()
            wait_until(app, lambda message=message: model.sid_at(0) == message, 10)  # type: ignore[misc]
            latencies.append((time.perf_counter() - sent) * 1000)
            thread.join()
            pump(app, 0.3)  # apart, so each is a lone batch (the coalescing is not what is measured)
    finally:
        store.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="a database built by bench/make_db.py (copied, not changed)")
    where.add_argument(
        "--store", help="a team database (postgresql://…, no password in it): attached, read, not changed"
    )
    parser.add_argument("--samples", type=int, default=20, help="--store: NOTIFY → row visible samples")
    parser.add_argument(
        "--trust-copy",
        action="store_true",
        help="mark the copy as cleanly closed, so the start does not check the whole file for damage "
        "(minutes for a few GB; the figure is then the app's own start)",
    )
    parser.add_argument("--sim-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cm-gui-bench-"))
    db = work / "bench.db"
    if args.db:
        print(f"copying {args.db} ({Path(args.db).stat().st_size / 1e6:.0f} MB) …", flush=True)
        shutil.copy(args.db, db)
    if args.trust_copy and args.db:  # a fresh copy of a sound file: skip the start's whole-file damage check
        from receiver.store_health import write_clean_stamp

        write_clean_stamp(db)
    os.environ["CALLBACK_MONITOR_HOME"] = str(work / "home")
    results: list[tuple[str, str, str]] = []

    t0 = time.perf_counter()
    app = QApplication.instance() or QApplication(sys.argv)
    from keyring.backends.null import Keyring as NullKeyring

    controller = ReceiverController(db, SecretStore(backend=NullKeyring()))
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    team = None
    if args.store:  # attached: the controller is never started (a viewer has no receiver)
        from desktop.team_source import TeamSource
        from receiver.store.url import PostgresTarget, parse

        team_db = parse(args.store)
        assert isinstance(team_db, PostgresTarget), "--store takes a postgresql:// URL"
        team = TeamSource(team_db)
        team.start()
    else:
        controller.set_simulating(True)
        controller.start()
    window = MainWindow(controller, settings, team=team)
    window.resize(1400, 850)
    window.show()
    model = window.messages.model
    log = window.inspector.model
    wait_until(app, lambda: model.rowCount() > 0 and shown(model), 60)
    start_s = time.perf_counter() - t0
    results.append(("start → first rows shown", f"{start_s * 1000:.0f} ms", "≤ 2000 ms"))
    wait_until(app, lambda: log.rowCount() > 0 and log_shown(log), 60)
    results.append(
        ("start → first request-log rows shown", f"{(time.perf_counter() - t0) * 1000:.0f} ms", "≤ 2000 ms")
    )
    print(f"{model.total:,} messages in view", flush=True)

    timings = []
    meter = StallMeter()
    meter.start()
    for flt in (
        MessageFilter(statuses=("failed", "undelivered")),
        MessageFilter(channel="whatsapp"),
        MessageFilter(error_code=30003),
        MessageFilter(text="+1415"),
        MessageFilter(),
    ):
        t = time.perf_counter()
        window.messages.set_filter(flt)
        wait_until(app, lambda: shown(model))
        timings.append((time.perf_counter() - t) * 1000)
        pump(app, 0.05)
    results.append(
        (
            "filter change → rows + count (worst of 5)",
            f"{max(timings):.0f} ms",
            "≤ 200 ms  (each: " + ", ".join(f"{x:.0f}" for x in timings) + ")",
        )
    )
    results.append(("filter changes, worst stall", f"{meter.stop():.0f} ms", ""))

    table = window.messages.table
    stall, wait = scroll(app, table, lambda row: model.sid_at(row) is not None)
    results.append(("scroll top→bottom, worst stall", f"{stall:.0f} ms", "≤ 50 ms"))
    results.append(("scroll: rows replace placeholders, worst", f"{wait:.0f} ms", "after each jump"))
    pump(app, 0.2)

    inspector = window.inspector
    window.tabs.setCurrentWidget(inspector)
    pump(app, 0.2)
    print(f"{log.rowCount():,} requests in the log", flush=True)
    timings, first_rows = [], []
    meter.start()
    for outcome, text in (
        ("rejected", ""),
        (None, "/twilio/status"),
        (None, "SM0000"),
        (None, "no such request"),  # matches nothing: the whole log is scanned
        (None, ""),
    ):
        t = time.perf_counter()
        inspector.outcome.setCurrentIndex(inspector.outcome.findData(outcome))
        inspector.search.setText(text)
        inspector.apply_filter()  # what the debounce timer does
        wait_until(app, lambda: log.rowCount() == 0 or log.index(0, 0).data() != "…")
        first_rows.append((time.perf_counter() - t) * 1000)
        wait_until(app, lambda: log_shown(log))
        timings.append((time.perf_counter() - t) * 1000)
        pump(app, 0.05)
    results.append(
        (
            "request log: filter → rows + count (worst of 5)",
            f"{max(timings):.0f} ms",
            "≤ 200 ms  (each: " + ", ".join(f"{x:.0f}" for x in timings) + ")",
        )
    )
    results.append(
        (
            "request log: filter → first rows (worst of 5)",
            f"{max(first_rows):.0f} ms",
            "count may follow  (each: " + ", ".join(f"{x:.0f}" for x in first_rows) + ")",
        )
    )
    results.append(("request log: filter changes, worst stall", f"{meter.stop():.0f} ms", ""))
    stall, wait = scroll(app, inspector.table, lambda row: log.index(row, 0).data() != "…")
    results.append(("request log: scroll top→bottom, worst stall", f"{stall:.0f} ms", "≤ 50 ms"))
    results.append(
        ("request log: scroll, rows replace placeholders", f"{wait:.0f} ms", "worst, after each jump")
    )
    window.tabs.setCurrentWidget(window.messages)
    pump(app, 0.2)

    kept, fresh = reader_open_cost(window.source.location)
    results.append(("a page on a kept Reader (median)", f"{kept:.1f} ms", f"opened per job: {fresh:.1f} ms"))
    results.append(("resident memory", f"{rss_mb():.0f} MB", "≤ 400 MB"))
    if team is not None:
        latencies = notify_latency(app, model, args.store, args.samples)
        results.append(
            (
                f"callback → row visible, attached (median of {len(latencies)})",
                f"{statistics.median(latencies):.0f} ms",
                f"≤ 100 ms; worst {max(latencies):.0f} ms",
            )
        )
        window.close()
        report(results)
        shutil.rmtree(work, ignore_errors=True)
        os._exit(0)

    target = controller.local_url
    messages = int(args.rate * args.sim_seconds / 3.3)  # ~3.3 requests per simulated message
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "receiver",
            "simulate",
            "--target",
            target,
            "--auth-token",
            DEMO_AUTH_TOKEN,
            "--messages",
            str(messages),
            "--rate",
            str(args.rate),
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    before = controller.stats.total
    meter.start()
    t = time.perf_counter()
    while sim.poll() is None and time.perf_counter() - t < args.sim_seconds * 3:
        app.processEvents()
        time.sleep(0.001)
    stall = meter.stop()
    pump(app, 0.5)
    elapsed = time.perf_counter() - t
    sim_out = sim.communicate()[0].strip().splitlines()
    received = controller.stats.total - before
    newest = _newest_sid(controller)
    top_sid = model.sid_at(0)
    results.append(
        (
            "during simulate: callbacks/s",
            f"{received / elapsed:.0f}/s",
            f"target {args.rate:.0f}/s; {received} requests; {sim_out[-1] if sim_out else ''}",
        )
    )
    results.append(("during simulate: worst stall", f"{stall:.0f} ms", "≤ 100 ms"))
    results.append(
        ("newest row shown at top", "yes" if top_sid == newest else f"no ({top_sid} vs {newest})", "")
    )
    results.append(("resident memory after simulate", f"{rss_mb():.0f} MB", "≤ 400 MB"))

    window.close()
    controller.stop()
    shutil.rmtree(work, ignore_errors=True)
    report(results)
    # the figures are out; skip interpreter teardown, where PySide6 objects may be collected in an
    # order that aborts (a benchmark has nothing left to clean up that the OS does not)
    os._exit(0)


def report(results: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in results)
    print(f"\n{'measure'.ljust(width)}  {'value':>10}  goal / detail")
    for name, value, goal in results:
        print(f"{name.ljust(width)}  {value:>10}  {goal}")
    print(f"\nmachine: {os.cpu_count()} cores; QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
