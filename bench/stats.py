"""How long one Statistics refresh takes on a big database, per time range, and which query costs what.

    python bench/make_db.py --messages 1000000 --events 3000000 --out /tmp/big.db
    python bench/stats.py /tmp/big.db [--repeat 3]

Each figure is the median wall time of ``--repeat`` runs of ``compute_stats`` (what the view runs on its
worker thread, with a fresh read-only connection, as the view does), then the parts: the main GROUP BY,
the breakdowns (sender / Messaging Service / country), the sent → delivered times, and the previous
period; "main" is the rest (the time buckets, statuses, channels and spend in one GROUP BY, the top error
codes). The budget is 300 ms per refresh.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import _common

_common.use_repo_root()

from desktop.models.stats_model import CUSTOM, RANGES, _iso, compute_stats  # noqa: E402
from receiver import stats_queries  # noqa: E402
from receiver.store import connect  # noqa: E402

BUDGET_MS = 300.0


def timed(fn: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    conn = connect(args.db, readonly=True)
    last = conn.execute("SELECT MAX(first_seen) FROM messages").fetchone()[0]
    n = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    now = datetime.fromisoformat(last) + timedelta(minutes=1)  # the database's own "now"
    print(f"{args.db}: {n:,} messages, newest {last}; median of {args.repeat} runs")
    print(f"budget {BUDGET_MS:.0f} ms per refresh; columns: the refresh, then its parts (ms)")
    cases: list[tuple[str, str, datetime | None, datetime | None]] = [
        (key, label, None, None) for key, (label, _) in RANGES.items()
    ]
    cases.append((CUSTOM, "Custom: 3 days, a week ago", now - timedelta(days=10), now - timedelta(days=7)))
    over = False
    header = f"{'range':<28}{'refresh':>9}{'main':>8}{'breakdn':>9}{'deliv.t':>9}{'prev':>8}"
    print(header)
    for key, label, since, until in cases:
        total = timed(partial(compute_stats, conn, key, now, since=since, until=until), args.repeat)
        stats = compute_stats(conn, key, now, since=since, until=until)
        lo = _iso(stats.since) if stats.since else None
        hi = _iso(stats.until) if stats.until else None
        delivered = stats.current.delivered if stats.current else 0
        parts = [
            timed(partial(stats_queries.breakdowns, conn, lo, hi), args.repeat),
            timed(partial(stats_queries.delivery_seconds, conn, lo, hi, delivered=delivered), args.repeat),
        ]
        prev = stats.previous
        prev_ms = (
            timed(partial(stats_queries.period, conn, prev.since, prev.until), args.repeat) if prev else 0.0
        )
        main_ms = max(0.0, total - sum(parts) - prev_ms)
        over |= total > BUDGET_MS
        flag = "  OVER BUDGET" if total > BUDGET_MS else ""
        print(
            f"{label:<28}{total:>8.0f} {main_ms:>7.0f} {parts[0]:>8.0f} {parts[1]:>8.0f} "
            f"{prev_ms:>7.0f}{flag}"
        )
        print(
            f"{'':<28}outbound {stats.outbound:,}, countries {len(stats.breakdowns.countries)}, "
            f"median {stats.current.delivery_median_s if stats.current else None} s"
        )
    conn.close()
    print(f"(started {datetime.now(UTC):%H:%M:%S} UTC; a shared machine's figures are noisy)")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
