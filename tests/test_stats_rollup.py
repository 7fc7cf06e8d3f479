"""The statistics read whole hours from rollups kept by triggers (m013, receiver/stats_rollup.py): every
figure must equal what the messages themselves give, after random traffic, status changes, price
updates, prunes and purges, for the ranges of the panel and minute-precise custom ranges."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from desktop.models.stats_model import CUSTOM, RANGES, compute_stats
from receiver import retention, stats_queries, stats_rollup
from receiver.store import Store, connect

NOW = datetime(2026, 11, 30, 12, 17, 23, 456000, tzinfo=UTC)
STATUSES = ["queued", "sent", "delivered", "read", "undelivered", "failed", "canceled", "received"]
TO = ["+14155550101", "+14165550102", "+447911123456", "whatsapp:+4915112345678", "+79161234567",
      "12345", "", None, "whatsapp:+14155550199", "+3312345"]  # fmt: skip
PRICES = [None, "", "-0.00790", "-0.0079", "-0.05000", "0.00250", "-1.5"]
UNITS = [None, "USD", "usd", "EUR", ""]
ERRORS = [None, None, None, 30003, 30008, 21610, 63016]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _message(rng: random.Random, n: int) -> tuple[Any, ...]:
    first_seen = NOW - timedelta(seconds=rng.uniform(0, 10 * 86400))
    status = rng.choice(STATUSES)
    return (
        f"SM{n:032x}", rng.choice(["outbound", "outbound", "inbound"]),
        rng.choice(["sms", "mms", "whatsapp"]),
        rng.choice(["+15005550006", "+12025550199", None]), rng.choice(TO), status, 0, rng.choice(ERRORS),
        rng.choice(["MG" + "a" * 32, "MG" + "b" * 32, None]), rng.choice(PRICES), rng.choice(UNITS),
        _iso(first_seen), _iso(first_seen), rng.random() < 0.2,
    )  # fmt: skip


INSERT = (
    "INSERT INTO messages (sid, direction, channel, from_addr, to_addr, status, status_rank, error_code, "
    "messaging_service_sid, price, price_unit, first_seen, updated_at, simulated) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _traffic(store: Store, seed: int) -> None:
    """Inserts, then status / price / error changes, a real prune and a purge of simulated messages."""
    rng = random.Random(seed)
    rows = [_message(rng, n) for n in range(3000)]
    store.run(lambda c: c.executemany(INSERT, rows))
    sids = [r[0] for r in rows]

    def change(conn: sqlite3.Connection) -> None:
        for sid in rng.sample(sids, 1500):
            column, values = rng.choice(
                [("status", STATUSES), ("price", PRICES), ("price_unit", UNITS), ("error_code", ERRORS),
                 ("to_addr", TO), ("direction", ["outbound", "inbound"])]
            )  # fmt: skip
            conn.execute(f"UPDATE messages SET {column} = ? WHERE sid = ?", (rng.choice(values), sid))

    store.run(change)
    for sid in rng.sample(sids, 50):  # the REST API's view of a message, through the real write path
        store.record_outbound({"sid": sid, "status": "delivered", "price": "-0.01000", "price_unit": "USD"})
    retention.prune_messages(store, _iso(NOW - timedelta(days=9, minutes=7)))
    store.purge_simulated(batch=100)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("rollup") / "rollup.db"
    with Store(path) as store:
        _traffic(store, 11)
    yield path


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = connect(db, readonly=True)
    yield c
    c.close()


def _raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """The statistics as they were before the rollups: every window read from the messages."""
    monkeypatch.setattr(stats_rollup, "split", lambda lo, hi, width=13: ([(lo, hi)], None))


def _figures(stats: Any) -> dict[str, Any]:
    out = asdict(stats)
    out.pop("elapsed_ms")
    return out


def _windows() -> list[tuple[str, datetime | None, datetime | None]]:
    rng = random.Random(5)
    out: list[tuple[str, datetime | None, datetime | None]] = [(key, None, None) for key in RANGES]
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    out += [
        (CUSTOM, hour - timedelta(days=3), hour),  # whole hours only
        (CUSTOM, hour.replace(hour=0) - timedelta(days=4), hour.replace(hour=0)),  # whole days only
        (CUSTOM, hour - timedelta(minutes=30), hour + timedelta(minutes=30)),  # no whole hour
    ]
    for _ in range(12):
        since = NOW - timedelta(minutes=rng.randrange(0, 12 * 24 * 60))
        out.append((CUSTOM, since, since + timedelta(minutes=rng.randrange(1, 8 * 24 * 60))))
    return out


@pytest.mark.parametrize(("key", "since", "until"), _windows())
def test_every_figure_equals_the_messages_own(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch, key: str, since: datetime, until: datetime
) -> None:
    fast = compute_stats(conn, key, NOW, since=since, until=until)
    with monkeypatch.context() as m:
        _raw(m)
        slow = compute_stats(conn, key, NOW, since=since, until=until)
    assert slow.outbound > 0 or key == "hour"
    assert _figures(fast) == _figures(slow)


def test_the_rollups_equal_a_fresh_build_after_the_traffic(conn: sqlite3.Connection) -> None:
    """Triggers kept every cell exact (zeros aside): rebuilding from the messages gives the same cells."""
    fresh = sqlite3.connect(":memory:")
    conn.backup(fresh)
    for table in ("stats_hourly", "stats_senders_hourly", "stats_prefix_hourly", "stats_prefix_daily"):
        fresh.execute(f"DROP TABLE {table}")
    fresh.execute("DROP TRIGGER stats_rollup_insert")
    fresh.execute("DROP TRIGGER stats_rollup_delete")
    fresh.execute("DROP TRIGGER stats_rollup_update")
    for sql in stats_rollup.migration_statements():
        fresh.execute(sql)
    for table in ("stats_hourly", "stats_senders_hourly", "stats_prefix_hourly", "stats_prefix_daily"):
        query = f"SELECT * FROM {table} WHERE n != 0"
        kept = sorted(tuple(r) for r in conn.execute(query))
        built = sorted(tuple(r) for r in fresh.execute(query))
        if table.startswith("stats_prefix"):  # the example (last) may be any destination seen
            kept = [r[:-1] for r in kept]
            built = [r[:-1] for r in built]
        assert kept == built, table
        assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE n < 0").fetchone()[0] == 0


def test_a_status_callback_moves_one_count(tmp_path: Path) -> None:
    with Store(tmp_path / "one.db") as store:
        row = ("SM" + "1" * 32, "outbound", "sms", "+15005550006", "+14155550101", "sent", 0, None, None,
               None, None, _iso(NOW), _iso(NOW), 0)  # fmt: skip
        store.run(lambda c: c.execute(INSERT, row))
        store.run(lambda c: c.execute("UPDATE messages SET status = 'delivered' WHERE sid = ?", (row[0],)))
    c = connect(tmp_path / "one.db", readonly=True)
    cells = [tuple(r) for r in c.execute("SELECT status, n FROM stats_hourly ORDER BY status")]
    assert cells == [("delivered", 1), ("sent", 0)]
    c.close()


def test_split_reads_only_partial_hours_from_the_messages() -> None:
    edges, whole = stats_rollup.split("2026-11-30T10:17:00.000+00:00", "2026-11-30T14:05:00.000+00:00")
    assert edges == [
        ("2026-11-30T10:17:00.000+00:00", "2026-11-30T11:00:00.000+00:00"),
        ("2026-11-30T14:00:00.000+00:00", "2026-11-30T14:05:00.000+00:00"),
    ]
    assert whole == ("2026-11-30T11", "2026-11-30T14")
    assert stats_rollup.split(None, None) == ([], (None, None))
    assert stats_queries.window_sql(None, None) == ("1", [])
