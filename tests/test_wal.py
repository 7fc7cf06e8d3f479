"""The WAL stays bounded under sustained writes and gives its space back when the writing stops.

Before: PASSIVE checkpoints only, which never reach the end of a WAL that is always being written, so
SQLite never starts it over: this very load grew it to hundreds of MB in a few seconds."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from receiver.callbacks import parse
from receiver.store import WAL_HARD_FACTOR, RequestRecord, Store
from tests.receiver_helpers import status_params
from tests.waiting import wait_until

WAL_LIMIT = 2 * 1024 * 1024
THREADS = 6
PER_THREAD = 600  # 3,600 callbacks: several hundred MB of WAL without the restarts


def _wal(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def test_the_wal_stays_bounded_under_sustained_writes_and_shrinks_when_idle(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = Store(db, wal_limit=WAL_LIMIT)
    largest = [0] * THREADS
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(PER_THREAD):
                message = "SM" + secrets.token_hex(16)
                cb = parse("status", list(status_params(message, "sent").items()), secrets.token_hex(8))
                store.record_callback(cb, RequestRecord(path="/twilio/status", kind="status", body="x" * 400))
                largest[n] = max(largest[n], _size(_wal(db)))  # looked at after every commit
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures
        assert store.wal_restarts >= 1
        # the hard bound (WAL_HARD_FACTOR x the limit, where the writer restarts the WAL itself) plus one
        # batch, however fast the disk: never the hundreds of MB this load left before
        assert max(largest) <= (WAL_HARD_FACTOR + 4) * WAL_LIMIT, f"WAL reached {max(largest) / 2**20:.0f} MB"
        # the file's size: nothing announces it
        wait_until(lambda: _size(_wal(db)) == 0, what="the WAL giving back its space after the writes")
    finally:
        store.close()
