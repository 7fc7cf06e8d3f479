"""How long the detail pane's "rejected callbacks for this message" lookup takes on a big request log.

    .venv/bin/python bench/rejections_by_sid.py [--requests 500000]

Fills a temporary database (1 % rejected, 50,000 SIDs), then times ``Reader.rejections_of`` +
``rejection_count`` (what one selection in the Messages tab costs) against the same count without the
partial index of migration m009 (a full scan, what the GUI thread would pay without it).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from receiver.store import Store, open_reader

COLUMNS = (
    "received_at, method, path, query, remote_addr, headers, body, body_size, content_type, kind, outcome, "
    "http_status, reason, latency_ms, message_sid"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=1000)
    args = parser.parse_args()
    n = args.requests
    db = Path(tempfile.mkdtemp(prefix="cm-bench-")) / "b.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    rows = (
        ("2026-12-01T00:00:00.000+00:00", "POST", "/twilio/status", "", "", "{}", "", 0, "", "status",
         "rejected" if i % 100 == 0 else "accepted", 403 if i % 100 == 0 else 200, "", 1.0,
         f"SM{i % 50_000:032x}")
        for i in range(n)
    )  # fmt: skip
    conn.executemany(f"INSERT INTO requests ({COLUMNS}) VALUES ({', '.join('?' * 15)})", rows)
    conn.commit()
    conn.close()
    reader = open_reader(db)
    sid = f"SM{100:032x}"
    started = time.perf_counter()
    for _ in range(args.repeat):
        reader.rejections_of(sid)
        reader.rejection_count(sid)
    per = (time.perf_counter() - started) / args.repeat
    print(f"{n:,} requests ({n // 100:,} rejected): one selection's lookup {per * 1e6:.0f} µs")
    started = time.perf_counter()
    sql = "SELECT COUNT(*) FROM requests NOT INDEXED WHERE message_sid = ? AND outcome = 'rejected'"
    reader.conn.execute(sql, (sid,)).fetchone()
    print(f"the same count without the index (full scan): {(time.perf_counter() - started) * 1e3:.0f} ms")
    reader.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
