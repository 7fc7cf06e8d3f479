"""What one look of the alert monitor costs on a big database (it runs every 5 s, off the GUI thread).

    .venv/bin/python bench/make_db.py --messages 200000 --events 600000 --out /tmp/big.db
    .venv/bin/python bench/alerts.py /tmp/big.db [--window 15] [--repeat 20]

Times, with the clock set to the newest event (a full window of traffic behind it):
- the first look (the seed: walks back from the newest row to the window's start);
- a look with nothing new (the common case), and one with ``--new`` rows appended in a copy;
- the "is this error code new?" lookup for a code the database has and one it has not;
- for comparison, counting the window's events by ``received_at`` without an index (a full scan: what a
  naive query on the GUI thread would cost every tick).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import _common

_common.use_repo_root()

from receiver.alert_feed import AlertFeed  # noqa: E402
from receiver.alert_rules import AlertRules, Thresholds, parse_time  # noqa: E402
from receiver.store import open_reader  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db", type=Path)
    ap.add_argument("--window", type=int, default=15, help="minutes")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--new", type=int, default=2000, help="events appended before the incremental look")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "copy.db"
        shutil.copy(args.db, db)
        raw = sqlite3.connect(db)
        newest = raw.execute("SELECT received_at FROM events ORDER BY id DESC LIMIT 1").fetchone()[0]
        now = parse_time(newest) or time.time()
        events, requests = (
            raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("events", "requests")
        )
        print(f"{args.db}: {events:,} events, {requests:,} requests; window {args.window} min")

        rules = AlertRules(Thresholds(window_minutes=args.window))
        feed = AlertFeed(lambda: open_reader(db))
        t0 = time.perf_counter()
        feed.poll(rules, now)
        print(f"first look (seed of the last {args.window} min): {ms(time.perf_counter() - t0)}")

        idle = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            feed.poll(rules, now)
            rules.evaluate(now, [])
            idle.append(time.perf_counter() - t0)
        print(f"look with nothing new: median {ms(statistics.median(idle))} (n={args.repeat})")

        cols = "message_sid, status, error_code, event_type, event_key, received_at, payload"
        rows = raw.execute(f"SELECT {cols} FROM events ORDER BY id DESC LIMIT ?", (args.new,)).fetchall()
        raw.executemany(f"INSERT INTO events ({cols}) VALUES (?, ?, ?, ?, ? || '-bench', ?, ?)", rows)
        raw.commit()
        t0 = time.perf_counter()
        feed.poll(rules, now)
        rules.evaluate(now, [])
        print(f"look with {args.new:,} new events: {ms(time.perf_counter() - t0)}")

        reader = open_reader(db)
        conn = reader.conn
        top = raw.execute("SELECT max(id) FROM events").fetchone()[0]
        for label, code in (("known code 30003", 30003), ("unknown code 99999", 99999)):
            t0 = time.perf_counter()
            for _ in range(args.repeat):
                reader.error_code_seen_before(code, top)
            print(f"is-new lookup, {label}: {ms((time.perf_counter() - t0) / args.repeat)}")

        cutoff = raw.execute(
            "SELECT received_at FROM events ORDER BY id DESC LIMIT 1 OFFSET 5000"
        ).fetchone()[0]
        t0 = time.perf_counter()
        conn.execute("SELECT count(*) FROM events WHERE received_at >= ?", (cutoff,)).fetchone()
        print(f"for comparison, a full scan by received_at: {ms(time.perf_counter() - t0)}")
        conn.close()
        feed.close()
        raw.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
