"""What the statistics rollups' triggers (m013) cost the write path, per status callback.

    python bench/stats_write_cost.py [--messages 4000] [--rounds 3]

In one writer transaction (no commit, no HTTP), ``_apply_callback`` records a "sent" then a "delivered"
callback for each of ``--messages`` new messages (an INSERT, then a status change that moves the message
from one rollup cell to another); the same again after the triggers are dropped. Figures: microseconds per
callback, per round. The end-to-end check is ``bench/receiver.py --targets hello,serve`` (ratio >= 0.6).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import _common

_common.use_repo_root()

from receiver.callbacks import parse  # noqa: E402
from receiver.store import RequestRecord, Store, _apply_callback, _PreparedCallback  # noqa: E402


def _items(sid: str, status: str, n: int) -> list[tuple[str, str]]:
    return [
        ("MessageSid", sid), ("MessageStatus", status), ("AccountSid", "AC" + "1" * 32),
        ("From", "+15005550006"), ("To", f"+1415555{n % 10000:04d}"),
        ("MessagingServiceSid", "MG" + "a" * 32),
    ]  # fmt: skip


def _round(store: Store, tag: str, messages: int) -> float:
    def job(conn: sqlite3.Connection) -> float:
        started = time.perf_counter()
        for i in range(messages):
            sid = f"SM{tag}{i:030x}"
            for status in ("sent", "delivered"):
                req = RequestRecord(path="/twilio/status", kind="status")
                cb = parse("status", _items(sid, status, i), None)
                _apply_callback(conn, _PreparedCallback(cb, req), req)
        return (time.perf_counter() - started) / (2 * messages) * 1e6

    return float(store.run(job, timeout=600))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=4000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "cost.db") as store:
        with_triggers = [_round(store, f"a{r}", args.messages) for r in range(args.rounds)]
        triggers = ("insert", "update", "delete")
        store.run(lambda c: [c.execute(f"DROP TRIGGER stats_rollup_{k}") for k in triggers])
        without = [_round(store, f"b{r}", args.messages) for r in range(args.rounds)]
    print(f"with the rollup triggers:    {', '.join(f'{v:.1f}' for v in with_triggers)} µs per callback")
    print(f"without (triggers dropped):  {', '.join(f'{v:.1f}' for v in without)} µs per callback")
    print("(one thread, in one transaction; a shared machine's figures are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
