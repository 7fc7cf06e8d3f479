"""Own-URL reachability probe: one round trip (GET through a stand-in proxy to the live receiver, then
the request-log lookup), with an empty and a 500k-row request log. The lookup is a primary-key range
scan, so the log's size should not show.

Run: .venv/bin/python bench/reachability_probe.py
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import keyring.backends.fail
from PySide6.QtCore import QCoreApplication

from desktop.receiver_controller import ReceiverController
from receiver.reachability import probe
from receiver.secrets import SecretStore
from receiver.store import Store

PROBES = 20
INSERT = (
    "INSERT INTO requests (received_at, method, path, query, remote_addr, headers, body, body_size, "
    "content_type, kind, outcome, http_status) VALUES ('2026-01-01T00:00:00', 'POST', "
    "'/twilio/status', ?, '1.2.3.4', '{}', '', 0, '', 'status', 'accepted', 200)"
)


def run(rows: int) -> list[float]:
    db = Path(tempfile.mkdtemp()) / "probe.db"
    Store(db).close()  # the schema
    if rows:
        conn = sqlite3.connect(db)
        conn.executemany(INSERT, ((f"n={i}",) for i in range(rows)))
        conn.commit()
        conn.close()
    controller = ReceiverController(db, secrets=SecretStore(keyring.backends.fail.Keyring()))
    controller.start()
    port = controller.port
    assert port is not None
    try:
        times = []
        for _ in range(PROBES):
            started = time.perf_counter()
            reach = probe("https://monitor.example.test", db, port, resolve=lambda _u: ("127.0.0.1", port))
            times.append((time.perf_counter() - started) * 1000)
            assert reach.ok, reach.message
        return times
    finally:
        controller.stop()


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QCoreApplication([])  # noqa: F841 - the controller's QObjects need one
    for rows in (0, 500_000):
        times = run(rows)
        median, worst = statistics.median(times), max(times)
        print(f"request log {rows:>7} rows: probe median {median:.1f} ms, max {worst:.1f} ms")


if __name__ == "__main__":
    main()
