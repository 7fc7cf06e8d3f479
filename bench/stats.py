"""How long one Statistics refresh takes on a big database, per time range, with the rollup and without.

    python bench/make_db.py --messages 1000000 --events 3000000 --out /tmp/big.db
    python bench/stats.py /tmp/big.db [--repeat 3] [--live] [--check]
    python bench/stats.py postgresql://user@host/db [--live]     # a team database (bench/pg_load.py)

First the statistics rollup is brought up to date the way a receiver does it (``Store`` opens the database,
migrates it, and its maintenance thread rolls up every closed hour; the time that takes is printed: it is
paid once, in the background). Then each figure is the median wall time of ``--repeat`` runs of
``Reader.delivery_stats`` (what the view runs on its worker thread, on a fresh Reader as the view does).
``--live`` also times the same refresh from live GROUP BYs only (the code before the rollup, and what a
refresh costs while the rollup is still being built). ``--check`` exits 1 when any range with the rollup
is over the 300 ms budget.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import _common

_common.use_repo_root()

from receiver.stats_queries import CUSTOM, RANGES  # noqa: E402
from receiver.store import Store, open_reader  # noqa: E402
from receiver.store.pg.stats import PgRollupMaintainer  # noqa: E402
from receiver.store.pg.store import PgStore  # noqa: E402
from receiver.store.url import PostgresTarget, parse  # noqa: E402

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
    p.add_argument("--live", action="store_true", help="also time the refresh without the rollup")
    p.add_argument("--check", action="store_true", help="exit 1 when a range is over the budget")
    args = p.parse_args(argv)

    started = time.perf_counter()
    target = parse(args.db)
    if isinstance(target, PostgresTarget):
        with PgStore(target, maintain_stats=False) as team:
            # nobody else writes the benchmark's database: every id is final at once (no settling wait)
            maintainer = PgRollupMaintainer(team, settle=timedelta(0))
            passes = maintainer.catch_up()
            maintainer.stop()
    else:
        with Store(args.db) as store:
            assert store.stats_rollup is not None
            passes = store.stats_rollup.catch_up()
    print(f"rollup brought up to date in {time.perf_counter() - started:.1f} s ({passes} passes)")

    reader = open_reader(args.db)
    last, n = reader.conn.execute("SELECT MAX(first_seen), COUNT(*) FROM messages").fetchone()
    now = datetime.fromisoformat(last) + timedelta(minutes=1)  # the database's own "now"
    print(f"{args.db}: {n:,} messages, newest {last}; median of {args.repeat} runs")
    print(f"budget {BUDGET_MS:.0f} ms per refresh (with the rollup)")
    cases: list[tuple[str, str, datetime | None, datetime | None]] = [
        (key, label, None, None) for key, (label, _) in RANGES.items()
    ]
    cases.append((CUSTOM, "Custom: 3 days, a week ago", now - timedelta(days=10), now - timedelta(days=7)))
    over = False
    print(f"{'range':<28}{'rollup ms':>10}{'live ms':>10}  same figures")
    for key, label, since, until in cases:

        def refresh(use_rollup: bool, key: str = key, since: Any = since, until: Any = until) -> Any:
            r = open_reader(args.db)  # a fresh Reader per refresh, as the view does
            r.use_rollup = use_rollup
            try:
                return r.delivery_stats(key, now, since=since, until=until)
            finally:
                r.close()

        rolled_ms = timed(lambda: refresh(True), args.repeat)
        live_ms = timed(lambda: refresh(False), args.repeat) if args.live else float("nan")
        same = ""
        if args.live:
            a, b = (replace(refresh(flag), elapsed_ms=0.0) for flag in (True, False))
            same = "yes" if a == b else "NO: the rollup disagrees with the live figures"
            over |= a != b
        over |= rolled_ms > BUDGET_MS
        flag = "  OVER BUDGET" if rolled_ms > BUDGET_MS else ""
        print(f"{label:<28}{rolled_ms:>10.0f}{live_ms:>10.0f}  {same}{flag}")
    reader.close()
    print(f"(finished {datetime.now(UTC):%H:%M:%S} UTC; a shared machine's figures are noisy)")
    return 1 if over and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
