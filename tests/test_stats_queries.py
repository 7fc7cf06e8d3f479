"""Statistics that explain failures, against a database with hand-worked answers (tests/stats_seed.py):
breakdowns by sender / Messaging Service / destination country, sent → delivered median and p90, spend per
currency, and the period before for comparison."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from receiver import stats_queries
from receiver.message_filter import MessageFilter
from receiver.stats_queries import CUSTOM, DeliveryStats
from receiver.store import Reader, Store, connect
from receiver.store.message_sql import where_clause
from receiver.store.stats_maintenance import RollupMaintainer
from tests import stats_seed as seed
from tests.stats_seed import NOW


@pytest.fixture(scope="module", params=["live", "rollup"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The seed, answered live (no rollup: the maintenance thread never ran) and from the rollup (every
    hour of the seed is closed: it lies days before the clock's now)."""
    path = tmp_path_factory.mktemp("stats") / "stats.db"
    with Store(path, maintain_stats=False) as store:
        seed.seed(store)
        if request.param == "rollup":
            RollupMaintainer(store).catch_up()
            assert store.run(lambda c: c.execute("SELECT COUNT(*) FROM stats_breakdown").fetchone()[0]) > 0
    yield path


@pytest.fixture
def conn(db: Path) -> Iterator[object]:
    c = connect(db, readonly=True)
    yield c
    c.close()


def compute_stats(conn, range_key: str, now=None, **kw) -> DeliveryStats:  # type: ignore[no-untyped-def]
    return Reader(conn).delivery_stats(range_key, now, **kw)


def test_headline_figures_of_the_last_24_hours(conn) -> None:  # type: ignore[no-untyped-def]
    stats = compute_stats(conn, "day", now=NOW)
    assert (stats.outbound, stats.delivered, stats.failed, stats.finished, stats.inbound) == (7, 4, 2, 6, 1)
    assert stats.delivery_rate == pytest.approx(4 / 6)
    cur = stats.current
    assert cur is not None
    assert cur.spend == seed.EXPECTED_SPEND  # exact decimals, absolute values, one sum per currency
    assert (cur.delivery_median_s, cur.delivery_p90_s, cur.timed) == (
        seed.EXPECTED_MEDIAN_S, seed.EXPECTED_P90_S, 4,
    )  # fmt: skip


def test_previous_period_is_the_24_hours_before(conn) -> None:  # type: ignore[no-untyped-def]
    stats = compute_stats(conn, "day", now=NOW)
    prev = stats.previous
    assert prev is not None
    assert (prev.outbound, prev.delivered, prev.failed, prev.finished) == (2, 1, 1, 2)
    assert prev.delivery_rate == 0.5 and prev.failure_rate == 0.5
    assert prev.spend == {"USD": Decimal("0.0079")}
    assert (prev.delivery_median_s, prev.delivery_p90_s) == (20.0, 20.0)
    assert prev.until == (NOW - timedelta(hours=24)).isoformat(timespec="milliseconds")
    assert compute_stats(conn, "all", now=NOW).previous is None  # nothing before "All time"


def test_breakdowns_by_sender_service_and_country(conn) -> None:  # type: ignore[no-untyped-def]
    parts = compute_stats(conn, "day", now=NOW).breakdowns
    assert [(r.label, r.outbound, r.delivered, r.failed) for r in parts.senders] == seed.EXPECTED_SENDERS
    assert [(r.label, r.outbound, r.delivered, r.failed) for r in parts.services] == seed.EXPECTED_SERVICES
    assert [(r.label, r.outbound, r.delivered, r.failed) for r in parts.countries] == [
        row[:4] for row in seed.EXPECTED_COUNTRIES
    ]
    assert parts.countries[0].delivery_rate == 0.5  # US: 1 delivered, 1 failed, 1 still "sent"


@pytest.mark.parametrize("row", range(len(seed.EXPECTED_COUNTRIES)))
def test_a_country_rows_filter_selects_exactly_its_messages(conn, row: int) -> None:  # type: ignore[no-untyped-def]
    country = compute_stats(conn, "day", now=NOW).breakdowns.countries[row]
    flt = MessageFilter(direction="outbound", since_seconds=86400, to_prefixes=country.prefixes)
    where, args = where_clause(flt, NOW)
    sids = {sid for (sid,) in conn.execute(f"SELECT sid FROM messages {where}", args)}
    assert sids == seed.EXPECTED_COUNTRIES[row][4]


def test_sender_and_service_filters_select_exactly_their_messages(conn) -> None:  # type: ignore[no-untyped-def]
    parts = compute_stats(conn, "day", now=NOW).breakdowns
    base = MessageFilter(direction="outbound", since_seconds=86400)
    drilldowns = [("from_addr", r, replace(base, from_addr=r.key)) for r in parts.senders]
    drilldowns += [("service", r, replace(base, service=r.key)) for r in parts.services]
    for field, r, flt in drilldowns:
        where, args = where_clause(flt, NOW)
        n = conn.execute(f"SELECT COUNT(*) FROM messages {where}", args).fetchone()[0]
        assert n == r.outbound, (field, r.label)


def test_custom_range_counts_only_from_since_up_to_until(conn) -> None:  # type: ignore[no-untyped-def]
    # messages #2 (2 h ago) … #5 (5 h ago): [5 h ago, 2 h ago) holds #3, #4, #5
    stats = compute_stats(conn, CUSTOM, since=NOW - timedelta(hours=5), until=NOW - timedelta(hours=2))
    assert (stats.outbound, stats.delivered, stats.failed) == (3, 2, 1)
    assert stats.current is not None and stats.current.spend == {
        "EUR": Decimal("0.09"),
        "USD": Decimal("0.005"),
    }
    assert [r.label for r in stats.breakdowns.countries] == ["United Kingdom (GB)", "Germany (DE)"]
    prev = stats.previous  # the 3 hours before: #6 (6 h ago, failed) and #7 (7 h ago, sent)
    assert prev is not None and (prev.outbound, prev.failed, prev.finished) == (2, 1, 1)
    assert stats.unit == "hour" and sum(b.total for b in stats.buckets) == 3


def test_quantiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert stats_queries.quantile(values, 0.9) == 9.0
    assert stats_queries.median(values) == 5.5
    assert stats_queries.quantile([], 0.9) is None and stats_queries.median([]) is None


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("+14155550101", "US"),
        ("whatsapp:+14165550102", "CA"),  # +1 is split by area code
        ("+18765550123", "JM"),
        ("+4915112345678", "DE"),
        ("+447400123456", "GB"),
        ("+447911123456", "GB"),  # a Guernsey mobile: +44 is told apart deeper than the prefix, main country
        ("+77012345678", "KZ"),  # +7: the first digit decides
        ("+79123456789", "RU"),
        ("+15555550100", "US"),  # not a valid number: the main country of +1
        ("12345", stats_queries.UNKNOWN_COUNTRY),  # a short code
        ("", stats_queries.UNKNOWN_COUNTRY),
    ],
)
def test_country_of_a_destination(number: str, region: str) -> None:
    bare = number.split(":", 1)[-1]
    assert stats_queries._region_of(number) == region
    assert stats_queries.country_of_prefix(bare[: stats_queries.PREFIX_LENGTH], number) == region


def test_a_big_window_times_a_sample_and_says_so(conn, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(stats_queries, "DELIVERY_SAMPLE", 2)  # 4 delivered in the day: every 2nd by rowid
    stats = compute_stats(conn, "day", now=NOW)
    assert stats.current is not None and stats.current.sampled
    expected = conn.execute(
        "SELECT COUNT(*) FROM messages WHERE direction = 'outbound' AND status IN ('delivered', 'read') "
        "AND first_seen >= ? AND rowid % 2 = 0",
        ((NOW - timedelta(hours=24)).isoformat(timespec="milliseconds"),),
    ).fetchone()[0]
    assert 0 < stats.current.timed == expected < 4


def test_delivery_time_seeks_the_message_s_events(conn) -> None:  # type: ignore[no-untyped-def]
    # a message's few events through the (message_sid, id) index; a dedicated covering index cost ~90 bytes
    # per callback at rest and put the receiver over its 1.5 KB budget (issue #8), so none is added
    sql = "SELECT MIN(received_at) FROM events e WHERE e.message_sid = ? AND e.status = 'sent'"
    plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("SM1",)))
    assert "USING INDEX idx_events_message_sid" in plan and "SCAN" not in plan, plan
