"""The statistics rollup on a team database (pg/stats.py, m022) gives exactly the live figures: for every
range after traffic, after late statuses and prices for old hours, after pruning and purging, when an event
id commits after a higher one (several receivers), and with one maintainer at a time.

The database is filled through ``PgStore`` (the same traffic as tests/test_stats_rollup.py) once, then each
test gets a copy of it (``CREATE DATABASE … TEMPLATE``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg
import pytest

from receiver import retention
from receiver.stats_queries import CUSTOM, RANGES, DeliveryStats
from receiver.store import stats_maintenance
from receiver.store import stats_rollup as rollup
from receiver.store.pg import stats as pg_stats
from receiver.store.pg.reader import PgReader
from receiver.store.pg.stats import LOCK, PgRollupMaintainer
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget, parse
from tests.pg.cluster import PASSWORD, Cluster
from tests.pg.conftest import fresh_database
from tests.test_stats_rollup import ACCOUNT, NOW, _api_row, _callback, seed_traffic


def _target(url: str) -> PostgresTarget:
    target = parse(url)
    assert isinstance(target, PostgresTarget)
    return target


@pytest.fixture(scope="module")
def seeded(pg_cluster: Cluster) -> Iterator[str]:
    """A database with four days of traffic and no rollup yet (a template: nobody stays connected)."""
    name = fresh_database(pg_cluster)
    with PgStore(_target(pg_cluster.url(name)), maintain_stats=False) as store:
        seed_traffic(cast(Any, store))
    yield name
    pg_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def url(pg_cluster: Cluster, seeded: str) -> Iterator[str]:
    name = fresh_database(pg_cluster) + "c"
    pg_cluster.admin(f"CREATE DATABASE {name} TEMPLATE {seeded}")
    yield pg_cluster.url(name)
    pg_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def store(url: str) -> Iterator[PgStore]:
    with PgStore(_target(url), maintain_stats=False) as s:
        yield s


def roll_up(store: PgStore) -> PgRollupMaintainer:
    maintainer = PgRollupMaintainer(store, clock=lambda: NOW, settle=timedelta(0))
    try:
        maintainer.catch_up()
    finally:
        maintainer.stop()
    return maintainer


def both(
    url: str, range_key: str = "all", now: datetime = NOW, **kw: Any
) -> tuple[DeliveryStats, DeliveryStats]:
    """The figures with the rollup, and from live GROUP BYs only."""
    out = []
    for use_rollup in (True, False):
        reader = PgReader.open(_target(url))
        reader.use_rollup = use_rollup
        try:
            out.append(replace(reader.delivery_stats(range_key, now, **kw), elapsed_ms=0.0))
        finally:
            reader.close()
    return out[0], out[1]


def sql(url: str, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, password=PASSWORD, autocommit=True) as conn:
        cur = conn.execute(query, args)  # type: ignore[arg-type,unused-ignore]
        return cur.fetchall() if cur.description else []


def state(url: str) -> rollup.State:
    values = dict(sql(url, "SELECT name, value FROM stats_state"))
    return rollup.State(values.get("rolled_until"), int(values.get("watermark") or 0))


def _old_sent(url: str, n: int = 1) -> list[str]:
    rows = sql(
        url,
        "SELECT sid FROM messages WHERE status = 'sent' AND first_seen < %s ORDER BY first_seen LIMIT %s",
        ((NOW - timedelta(days=2)).isoformat(), n),
    )
    return [r[0] for r in rows]


@pytest.mark.parametrize("range_key", [*RANGES, CUSTOM])
def test_every_range_with_the_rollup_equals_the_live_figures(
    store: PgStore, url: str, range_key: str
) -> None:
    roll_up(store)
    assert state(url).rolled_until == rollup.hour_of(NOW - timedelta(hours=2))
    assert sql(url, "SELECT COUNT(*) FROM stats_counts WHERE level = 'd'")[0][0] > 0  # day rows too
    custom: dict[str, datetime] = {}
    if range_key == CUSTOM:
        custom = {"since": NOW - timedelta(days=2, hours=5, minutes=13), "until": NOW - timedelta(hours=7)}
    rolled, live = both(url, range_key, NOW, **custom)
    assert rolled == live
    assert live.outbound > 0 or range_key == "hour"


def test_the_reader_takes_the_rolled_hours_from_the_rollup(store: PgStore, url: str) -> None:
    roll_up(store)
    # a row only the rollup holds, for a whole rolled day: if the reader used the day rows, "all" counts it
    sql(
        url,
        "INSERT INTO stats_counts VALUES ('d', %s, 'inbound', 'received', 'x', '', 1000, NULL, NULL, NULL)",
        ((NOW - timedelta(days=2)).strftime("%Y-%m-%d"),),
    )
    rolled, live = both(url)
    assert rolled.inbound == live.inbound + 1000


def test_a_database_migrated_by_older_receivers_reads_live(store: PgStore, url: str) -> None:
    roll_up(store)
    expected = both(url)[1]
    sql(url, "DROP TABLE stats_counts, stats_breakdown, stats_errors, stats_state, stats_dirty")
    sql(url, "DELETE FROM schema_migrations WHERE name = 'm022_stats_rollup'")
    assert both(url)[0] == expected


def test_late_statuses_and_prices_for_old_hours_show_at_once_and_after_a_pass(
    store: PgStore, url: str
) -> None:
    roll_up(store)
    before, _ = both(url)
    # one message per hour: a change only counts if its own hour is found dirty
    late, priced, reconciled, repriced = (
        r[0]
        for r in sql(
            url,
            "SELECT DISTINCT ON (substr(first_seen, 1, 13)) sid FROM messages WHERE status = 'sent' "
            "AND price IS NULL AND first_seen < %s ORDER BY substr(first_seen, 1, 13), first_seen LIMIT 4",
            ((NOW - timedelta(days=2)).isoformat(),),
        )
    )
    items = [("MessageSid", late), ("AccountSid", ACCOUNT), ("MessageStatus", "delivered")]
    _callback(cast(Any, store), items, "status", NOW - timedelta(minutes=3))  # an event
    store.record_outbound({"sid": priced, "price": "-1.00000", "price_unit": "GBP"})  # no event: touch
    assert store.apply_api_messages([_api_row(reconciled, status="delivered")]) == ["updated"]
    row = _api_row(repriced, price="-2.00000", price_unit="GBP")
    assert store.apply_api_messages([row]) == ["updated"]  # a price only: no event, touch
    rolled, live = both(url)
    assert rolled == live
    assert rolled.delivered == before.delivered + 2
    assert rolled.current is not None and rolled.current.spend["GBP"] == 3
    roll_up(store)
    assert both(url)[0] == live
    assert sql(url, "SELECT COUNT(*) FROM stats_dirty")[0][0] == 0


def test_pruning_keeps_the_rollup_exact(store: PgStore, url: str) -> None:
    roll_up(store)
    cut = (NOW - timedelta(days=2, minutes=17)).isoformat(timespec="milliseconds")
    deleted, _ = retention.prune_messages(store, cut)
    assert deleted > 0
    rolled, live = both(url)
    assert rolled == live
    roll_up(store)
    assert both(url)[0] == live


def test_purging_simulated_traffic_keeps_the_rollup_exact(store: PgStore, url: str) -> None:
    sids = [r[0] for r in sql(url, "SELECT sid FROM messages ORDER BY first_seen LIMIT 25")]
    sql(url, "UPDATE messages SET simulated = 1 WHERE sid = ANY(%s)", (sids,))
    sql(url, "UPDATE events SET simulated = 1 WHERE message_sid = ANY(%s)", (sids,))
    roll_up(store)
    before, _ = both(url)
    assert store.purge_simulated()["messages"] == 25
    rolled, live = both(url)
    assert rolled == live and rolled.outbound + rolled.inbound == before.outbound + before.inbound - 25
    roll_up(store)
    assert both(url)[0] == live


def test_an_event_id_that_commits_after_a_higher_one_is_not_missed(store: PgStore, url: str) -> None:
    roll_up(store)
    maintainer = PgRollupMaintainer(store, clock=lambda: NOW, settle=timedelta(0))
    old, other = _old_sent(url, 2)
    # receiver A: a late receipt for an old message, its event id drawn, its transaction still open
    slow = psycopg.connect(url, password=PASSWORD)
    try:
        slow.execute("UPDATE messages SET status = 'undelivered', status_rank = 75 WHERE sid = %s", (old,))
        row = slow.execute(
            "INSERT INTO events (message_sid, status, error_code, event_key, received_at, payload) "
            "VALUES (%s, 'undelivered', 30008, 'late', %s, '{}') RETURNING id",
            (old, (NOW - timedelta(minutes=2)).isoformat(timespec="milliseconds")),
        ).fetchone()
        assert row is not None
        # receiver B commits a higher id, and the maintainer runs meanwhile
        items = [("MessageSid", other), ("AccountSid", ACCOUNT), ("MessageStatus", "delivered")]
        _callback(cast(Any, store), items, "status", NOW - timedelta(minutes=1))
        newer = sql(url, "SELECT MAX(id) FROM events")[0][0]
        assert newer > row[0]
        maintainer.catch_up()
        assert state(url).watermark < row[0]  # not past an id that may still commit
        slow.commit()
    finally:
        slow.close()
    rolled, live = both(url)
    assert rolled == live
    maintainer.catch_up()
    maintainer.stop()
    assert state(url).watermark >= newer
    rolled, live = both(url)
    assert rolled == live
    assert live.by_status.get("undelivered", 0) > 0


def test_one_maintainer_at_a_time(url: str) -> None:
    with (
        PgStore(_target(url), maintain_stats=False) as first,
        PgStore(_target(url), maintain_stats=False) as second,
    ):
        a = PgRollupMaintainer(first, clock=lambda: NOW, settle=timedelta(0))
        b = PgRollupMaintainer(second, clock=lambda: NOW, settle=timedelta(0))
        with psycopg.connect(url, password=PASSWORD) as holder:
            # as ``a``'s receiver does in the middle of a pass
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
            assert b.catch_up() == 1 and b.maintained == 0  # b skips its turn
            assert state(url).rolled_until is None
            holder.rollback()
        assert b.catch_up() > 1 and b.maintained > 1  # the lock is free: b maintains
        assert a.catch_up() == 1 and state(url).rolled_until == rollup.hour_of(NOW - timedelta(hours=2))
        a.stop()
        b.stop()
        rolled, live = both(url)
        assert rolled == live


def test_two_receivers_maintaining_at_once_never_collide(url: str) -> None:
    with (
        PgStore(_target(url), maintain_stats=False) as first,
        PgStore(_target(url), maintain_stats=False) as second,
    ):
        maintainers = [PgRollupMaintainer(s, clock=lambda: NOW, settle=timedelta(0)) for s in (first, second)]
        start = threading.Barrier(3)
        failures: list[BaseException] = []

        def keep(m: PgRollupMaintainer) -> None:
            start.wait(30)
            try:
                for _ in range(40):  # without the lock, two passes extend the same hours: a duplicate key
                    m.run_pass()
            except BaseException as exc:  # reported by the test's thread
                failures.append(exc)

        threads = [threading.Thread(target=keep, args=(m,)) for m in maintainers]
        for t in threads:
            t.start()
        start.wait(30)
        for n, sid in enumerate(_old_sent(url, 6)):  # late receipts meanwhile, at both receivers
            items = [("MessageSid", sid), ("AccountSid", ACCOUNT), ("MessageStatus", "delivered")]
            _callback(cast(Any, (first, second)[n % 2]), items, "status", NOW - timedelta(minutes=n))
        for t in threads:
            t.join(120)
        assert failures == []
        for m in maintainers:
            m.catch_up()
            m.stop()
        assert sum(m.maintained for m in maintainers) > 0
        rolled, live = both(url)
        assert rolled == live
        assert state(url).rolled_until == rollup.hour_of(NOW - timedelta(hours=2))


def test_a_receiver_keeps_the_rollup_on_its_own_thread(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_stats, "SETTLE", timedelta(0))
    monkeypatch.setattr(stats_maintenance, "FIRST_PASS_AFTER", 0.0)
    with PgStore(_target(url)) as store:
        assert isinstance(store.stats_rollup, PgRollupMaintainer)
        target = rollup.hour_of(datetime.now(UTC) - timedelta(hours=2))
        deadline = time.monotonic() + 60
        # the condition is the database's state; each look is one query, bounded by the deadline
        while state(url).rolled_until != target and time.monotonic() < deadline:
            threading.Event().wait(0.1)
        assert state(url).rolled_until == target
        assert store.stats_rollup.maintained > 0
    rolled, live = both(url, "week", datetime.now(UTC))
    assert rolled == live
