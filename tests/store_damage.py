"""A real Callback Monitor database with callbacks in it, then damaged the way disks and copies do."""

from __future__ import annotations

from pathlib import Path

from receiver.callbacks import parse
from receiver.store import RequestRecord, Store
from tests.receiver_helpers import sid, status_params

PAGE = 4096  # SQLite's default page size, which the store keeps


def damaged_db(folder: Path, name: str = "damaged.db") -> Path:
    """300 stored callbacks, the file closed, then a page in its middle overwritten with garbage.

    Without the statistics thread: its passes can leave free pages, and garbage on a free page is no
    damage any check can see (the page must be one the tables use)."""
    db = folder / name
    with Store(db, maintain_stats=False) as store:
        for _ in range(300):
            cb = parse("status", list(status_params(sid(), "delivered", Body="y" * 500).items()), None)
            store.record_callback(cb, RequestRecord(path="/twilio/status", kind="status"))
    data = bytearray(db.read_bytes())
    middle = len(data) // PAGE // 2
    data[middle * PAGE : (middle + 1) * PAGE] = b"\xa5" * PAGE
    db.write_bytes(bytes(data))
    return db
