"""A real Callback Monitor database with callbacks in it, then damaged the way disks and copies do."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from receiver.callbacks import parse
from receiver.store import RequestRecord, Store
from tests.receiver_helpers import sid, status_params

PAGE = 4096  # SQLite's default page size, which the store keeps


def damaged_db(folder: Path, name: str = "damaged.db") -> Path:
    """300 stored callbacks, the file closed, then a page of the messages table overwritten with garbage."""
    db = folder / name
    with Store(db) as store:
        for _ in range(300):
            cb = parse("status", list(status_params(sid(), "delivered", Body="y" * 500).items()), None)
            store.record_callback(cb, RequestRecord(path="/twilio/status", kind="status"))
    # a leaf page of the messages table in the file's middle: garbage on a free page, or in a payload
    # the structure checks cannot see into, would be no damage a check can find
    with closing(sqlite3.connect(db)) as conn:
        leaves = [n for (n,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf' ORDER BY pageno"
        )]  # fmt: skip
    page = leaves[len(leaves) // 2] - 1  # dbstat numbers pages from 1
    data = bytearray(db.read_bytes())
    data[page * PAGE : (page + 1) * PAGE] = b"\xa5" * PAGE
    closed = db.stat()
    db.write_bytes(bytes(data))
    # later, as damage comes: a file's mtime has the kernel clock's tick (several ms) as its grain, and a
    # write within the tick of the clean close would leave the size and mtime the clean stamp recorded
    os.utime(db, ns=(closed.st_atime_ns, closed.st_mtime_ns + 1_000_000_000))
    return db
