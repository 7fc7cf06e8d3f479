"""The statistics rollup (receiver/store/stats_rollup.py, kept by stats_maintenance.py) gives exactly the
live figures: over random ranges, after a late status change or a price learned from the API, after pruning
and purging, and while the maintenance thread is behind or never ran.

The database is filled through the real store (``Store.record_callback`` with ``receiver.callbacks.parse``,
prices through ``Store.record_outbound``, reconciliation through ``Store.apply_api_messages``)."""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver import retention
from receiver.callbacks import parse
from receiver.stats_queries import CUSTOM, DeliveryStats
from receiver.store import Reader, RequestRecord, Store, connect, reconcile_writes
from receiver.store import stats_rollup as rollup
from receiver.store.stats_maintenance import RollupMaintainer

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # the data's "now": everything before it is closed
DAYS = 4
ACCOUNT = "AC" + "1" * 32
PATHS = (
    ("sent", "delivered"),
    ("sent", "delivered", "read"),
    ("sent", "undelivered"),
    ("failed",),
    ("sent",),
    ("queued",),
    ("canceled",),
)
PREFIXES = ("+1415", "+1416", "+4479", "+4915", "+7912", "+3361")


def _callback(
    store: Store, items: list[tuple[str, str]], kind: Literal["status", "inbound"], when: datetime
) -> None:
    req = RequestRecord(
        path=f"/twilio/{kind}", kind=kind, received_at=when.isoformat(timespec="milliseconds")
    )
    store.record_callback(parse(kind, items, None), req)


def seed_traffic(store: Store, n: int = 400, seed: int = 7) -> list[str]:
    """``n`` messages over the ``DAYS`` days before NOW: outbound on every status path, three senders, two
    services, several countries, WhatsApp, prices in two currencies, error codes; a few inbound."""
    rng = random.Random(seed)
    sids = []
    for i in range(n):
        sid = f"SM{i:032x}"
        sids.append(sid)
        start = NOW - timedelta(seconds=rng.randrange(DAYS * 86400))
        # numbers that name their country as the other statistics tests expect: the country of a prefix
        # is cached per process, from the first number seen (stats_queries.country_of_prefix)
        to = rng.choice(PREFIXES) + f"55501{rng.randrange(100):02d}"
        if rng.random() < 0.1:
            items = [("MessageSid", sid), ("AccountSid", ACCOUNT), ("From", to), ("To", "+15005550006")]
            _callback(store, [*items, ("SmsStatus", "received")], "inbound", start)
            continue
        sender = rng.choice(("+15005550006", "+12025550199", "whatsapp:+14155238886"))
        if sender.startswith("whatsapp:"):
            to = "whatsapp:" + to
        service = rng.choice(("MG" + "a" * 32, "MG" + "b" * 32, None))
        after = 0.0
        for status in rng.choice(PATHS):
            items = [("MessageSid", sid), ("AccountSid", ACCOUNT), ("From", sender), ("To", to)]
            items.append(("MessageStatus", status))
            if service:
                items.append(("MessagingServiceSid", service))
            if status in ("failed", "undelivered"):
                items.append(("ErrorCode", str(rng.choice((30003, 30005, 21610)))))
            _callback(store, items, "status", start + timedelta(seconds=after))
            after += rng.uniform(0.5, 30)
        if rng.random() < 0.5:
            unit = rng.choice(("USD", "EUR"))
            store.record_outbound({"sid": sid, "price": f"-0.0{rng.randrange(10, 99)}0", "price_unit": unit})
    return sids


def roll_up(store: Store, now: datetime = NOW) -> RollupMaintainer:
    maintainer = RollupMaintainer(store, clock=lambda: now)
    maintainer.catch_up()
    return maintainer


def same(stats: DeliveryStats) -> DeliveryStats:
    return replace(stats, elapsed_ms=0.0)


def both(path: Path, range_key: str, now: datetime, **kw: Any) -> tuple[DeliveryStats, DeliveryStats]:
    """The figures with the rollup, and from live GROUP BYs only, on the same database."""
    out = []
    for use_rollup in (True, False):
        reader = Reader(connect(path, readonly=True))
        reader.use_rollup = use_rollup
        try:
            out.append(same(reader.delivery_stats(range_key, now, **kw)))
        finally:
            reader.close()
    return out[0], out[1]


@pytest.fixture(scope="module")
def rolled_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("rollup") / "stats.db"
    with Store(path, maintain_stats=False) as store:
        seed_traffic(store)
        roll_up(store)
    yield path


@pytest.fixture
def store(tmp_path: Path, rolled_db: Path) -> Iterator[Store]:
    """A writable copy of the rolled-up database, without a maintenance thread of its own."""
    path = tmp_path / "copy.db"
    shutil.copy(rolled_db, path)
    with Store(path, maintain_stats=False) as s:
        yield s


def test_the_rollup_covers_the_closed_hours_and_is_used(rolled_db: Path) -> None:
    conn = connect(rolled_db, readonly=True)
    try:
        state = rollup.read_state(conn)
        assert state.rolled_until == rollup.hour_of(NOW - timedelta(hours=2))
        p = rollup.plan(conn, None, None)
        assert ("d", None, "2026-11-30") in p.rolled  # whole days from day rows
        assert p.live == [(state.rolled_until, None)]  # only the open hours are live
        days = conn.execute("SELECT COUNT(*) FROM stats_counts WHERE level = 'd'").fetchone()[0]
        assert days > 0
    finally:
        conn.close()


moments = st.integers(min_value=-(DAYS + 1) * 86400, max_value=3600).map(
    lambda s: NOW + timedelta(seconds=s, milliseconds=s % 1000)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=moments, b=moments)
def test_custom_ranges_with_the_rollup_equal_the_live_figures(
    rolled_db: Path, a: datetime, b: datetime
) -> None:
    if a == b:
        return
    since, until = min(a, b), max(a, b)
    rolled, live = both(rolled_db, CUSTOM, NOW, since=since, until=until)
    assert rolled == live


@pytest.mark.parametrize("key", ["hour", "day", "week", "all"])
@pytest.mark.parametrize("offset_minutes", [0, 37, 24 * 60 + 5, 3 * 24 * 60 + 59])
def test_fixed_ranges_with_the_rollup_equal_the_live_figures(
    rolled_db: Path, key: str, offset_minutes: int
) -> None:
    rolled, live = both(rolled_db, key, NOW - timedelta(minutes=offset_minutes))
    assert rolled == live
    assert rolled.outbound > 0 or offset_minutes > 0


def test_a_sampled_delivery_time_is_the_same_sample(rolled_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from receiver import stats_queries

    monkeypatch.setattr(stats_queries, "DELIVERY_SAMPLE", 7)  # every k-th delivered message by rowid
    rolled, live = both(rolled_db, "all", NOW)
    assert rolled.current is not None and rolled.current.sampled
    assert rolled == live


def test_the_sample_looks_messages_up_by_rowid_instead_of_scanning_the_window(rolled_db: Path) -> None:
    reader = Reader(connect(rolled_db, readonly=True))
    statements: list[str] = []
    reader.conn.set_trace_callback(statements.append)
    try:
        reader._delivery_seconds(None, None, delivered=10**6, span=(1, 10**6))
        (sql,) = [s for s in statements if "RECURSIVE" in s]
        plan = " ".join(str(r[-1]) for r in reader.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    finally:
        reader.close()
    assert "SEARCH m USING INTEGER PRIMARY KEY" in plan, plan
    assert "SCAN m" not in plan, plan


def test_a_window_s_delivery_times_come_through_the_first_seen_index(rolled_db: Path) -> None:
    reader = Reader(connect(rolled_db, readonly=True))
    statements: list[str] = []
    reader.conn.set_trace_callback(statements.append)
    try:
        since = (NOW - timedelta(hours=1)).isoformat(timespec="milliseconds")
        reader._delivery_seconds(since, None, delivered=10, span=None)  # few: every one is timed
        (sql,) = [s for s in statements if "julianday" in s]
        plan = " ".join(str(r[-1]) for r in reader.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    finally:
        reader.close()
    assert "USING INDEX idx_messages_first_seen_sid" in plan, plan
    assert "SCAN m" not in plan, plan  # GROUP BY m.rowid made it walk every message


def _old_delivered(store: Store) -> str:
    sid: str = store.run(
        lambda c: c.execute(
            "SELECT sid FROM messages WHERE status = 'sent' AND first_seen < ? ORDER BY first_seen LIMIT 1",
            ((NOW - timedelta(days=2)).isoformat(),),
        ).fetchone()[0]
    )
    return sid


def test_a_late_status_from_reconciliation_shows_in_the_next_refresh(store: Store) -> None:
    sid = _old_delivered(store)
    before, _ = both(store.path, "all", NOW)
    row = _api_row(sid, status="delivered")
    store.apply_api_messages([row])
    rolled, live = both(store.path, "all", NOW)  # the maintenance thread has not run
    assert rolled == live
    assert rolled.delivered == before.delivered + 1
    roll_up(store)
    assert both(store.path, "all", NOW)[0] == live  # and after it has


def _api_row(sid: str, **values: Any) -> dict[str, Any]:
    row = {
        "sid": sid, "status": "sent", "error_code": None, "price": None, "price_unit": None, "num_media": 0,
        "direction": "outbound", "channel": "sms", "date_created": None, "date_sent": None,
        **{c: None for c in reconcile_writes._FILL},
    }  # fmt: skip
    row.update(values)
    return row


@pytest.mark.parametrize("writer", ["record_outbound", "reconciliation"])
def test_a_price_learned_later_shows_in_the_next_refresh(store: Store, writer: str) -> None:
    sid = _old_delivered(store)
    store.run(
        lambda c: c.execute("UPDATE messages SET price = NULL, price_unit = NULL WHERE sid = ?", (sid,))
    )
    roll_up(store)
    before, _ = both(store.path, "all", NOW)
    # no event records a price: the writer marks the message's hour dirty itself
    if writer == "record_outbound":
        store.record_outbound({"sid": sid, "price": "-1.00000", "price_unit": "GBP"})
    else:
        row = _api_row(sid, price="-1.00000", price_unit="GBP")
        assert store.apply_api_messages([row]) == ["updated"]
    rolled, live = both(store.path, "all", NOW)
    assert rolled == live
    assert rolled.current is not None and before.current is not None
    assert rolled.current.spend["GBP"] == before.current.spend.get("GBP", 0) + 1
    roll_up(store)
    assert both(store.path, "all", NOW)[0] == live


def test_pruning_keeps_the_rollup_exact(store: Store) -> None:
    cut = (NOW - timedelta(days=2, minutes=17)).isoformat(timespec="milliseconds")
    deleted, _ = retention.prune_messages(store, cut)
    assert deleted > 0
    rolled, live = both(store.path, "all", NOW)
    assert rolled == live
    roll_up(store)
    rolled, live = both(store.path, "all", NOW)
    assert rolled == live
    assert rolled.since is None and all(b.start.isoformat() >= cut[:10] for b in rolled.buckets)


def test_purging_simulated_traffic_keeps_the_rollup_exact(store: Store) -> None:
    sids = store.run(
        lambda c: [r[0] for r in c.execute("SELECT sid FROM messages ORDER BY first_seen LIMIT 25")]
    )
    marks = ",".join("?" * len(sids))
    store.run(lambda c: c.execute(f"UPDATE messages SET simulated = 1 WHERE sid IN ({marks})", sids))
    store.run(lambda c: c.execute(f"UPDATE events SET simulated = 1 WHERE message_sid IN ({marks})", sids))
    before, _ = both(store.path, "all", NOW)
    assert store.purge_simulated()["messages"] == 25
    rolled, live = both(store.path, "all", NOW)
    assert rolled == live and rolled.outbound + rolled.inbound == before.outbound + before.inbound - 25
    roll_up(store)
    assert both(store.path, "all", NOW)[0] == live


def test_an_event_id_reused_after_a_purge_is_not_missed(store: Store) -> None:
    # the newest events are deleted (a purge), so the next callback gets an id at or below the watermark
    newest = store.run(
        lambda c: c.execute("SELECT message_sid FROM events ORDER BY id DESC LIMIT 1").fetchone()[0]
    )
    store.run(lambda c: c.execute("UPDATE messages SET simulated = 1 WHERE sid = ?", (newest,)))
    store.run(lambda c: c.execute("UPDATE events SET simulated = 1 WHERE message_sid = ?", (newest,)))
    store.purge_simulated()
    roll_up(store)
    sid = _old_delivered(store)
    items = [("MessageSid", sid), ("AccountSid", ACCOUNT), ("MessageStatus", "delivered")]
    _callback(store, items, "status", NOW - timedelta(minutes=1))  # a late receipt for an old message
    rolled, live = both(store.path, "all", NOW)
    assert rolled == live
    roll_up(store)
    assert both(store.path, "all", NOW)[0] == live


def test_figures_are_exact_while_the_rollup_is_behind(store: Store) -> None:
    rolled_until = store.run(lambda c: rollup.read_state(c).rolled_until)
    # late receipts for old messages, after the last pass: their hours are dirty until the next one
    for n, sid in enumerate(
        store.run(
            lambda c: [r[0] for r in c.execute("SELECT sid FROM messages WHERE status = 'sent' LIMIT 5")]
        )
    ):
        items = [("MessageSid", sid), ("AccountSid", ACCOUNT), ("MessageStatus", "undelivered")]
        _callback(store, [*items, ("ErrorCode", "30008")], "status", NOW - timedelta(minutes=n))
    rolled, live = both(store.path, "week", NOW)
    assert rolled == live
    assert dict((c, n) for c, n, _ in rolled.top_errors)[30008] == 5
    assert store.run(lambda c: rollup.read_state(c).rolled_until) == rolled_until


def test_a_database_copied_before_its_first_pass_is_all_live(tmp_path: Path, rolled_db: Path) -> None:
    path = tmp_path / "fresh.db"
    with Store(path, maintain_stats=False) as store:
        seed_traffic(store, n=60, seed=3)
    conn = connect(path, readonly=True)
    try:
        assert rollup.read_state(conn).rolled_until is None
        assert rollup.plan(conn, None, None).rolled == []
    finally:
        conn.close()
    rolled, live = both(path, "all", NOW)
    assert rolled == live and rolled.outbound > 0


def test_the_store_keeps_the_rollup_on_its_own_thread(tmp_path: Path) -> None:
    path = tmp_path / "threaded.db"
    with Store(path, maintain_stats=False) as store:
        seed_traffic(store, n=40, seed=5)
    with Store(path) as store:
        assert store.stats_rollup is not None
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        poll = threading.Event()
        while store.run(lambda c: rollup.read_state(c).rolled_until) is None and datetime.now(UTC) < deadline:
            poll.wait(0.05)  # the thread's first pass comes FIRST_PASS_AFTER seconds after the open
    conn = connect(path, readonly=True)
    try:
        assert rollup.read_state(conn).rolled_until is not None
    finally:
        conn.close()
