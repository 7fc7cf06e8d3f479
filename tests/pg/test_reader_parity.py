"""``PgReader`` answers every read exactly as the SQLite ``Reader`` does, on the very same rows.

One realistic dataset is written through the SQLite store (four days of statuses on every path, prices in
two currencies, error codes and inbound replies through ``record_callback``; then signed traffic through the
receiver: a simulator plan with its duplicates, out-of-order statuses, WhatsApp, media and opt-outs, the
same with the public demo token (simulated rows), forged requests (rejected, naming a SID), reconciliation's
API rows and Twilio alerts) and copied row for row, ids and times included, into PostgreSQL
(bench/pg_load.py). Then every Reader method is asked the same questions on both: every filter field, every
sort column both ways, pages forwards, backwards and by keyset, positions, counts, the request log, one
message's detail, the alert feed, reconciliation's reads, the statistics for each range, the exports."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.pg_load import copy_sqlite
from receiver import stats_queries
from receiver.app import ReceiverConfig, create_app
from receiver.message_filter import SORT_COLUMNS, MessageFilter, SortSpec
from receiver.request_filter import RequestFilter
from receiver.simulate_plan import DEMO_AUTH_TOKEN, SimConfig, generate_plan
from receiver.stats_queries import CUSTOM, RANGES
from receiver.store import Reader, Store, open_reader
from receiver.store.paging import Page, PagePlan, first_page
from receiver.store.pg.reader import PgReader
from tests.pg.cluster import PASSWORD, Cluster
from tests.pg.conftest import fresh_database
from tests.receiver_helpers import FORM, PUBLIC, TOKEN, post, status_params
from tests.test_stats_rollup import NOW, _api_row, seed_traffic

PAGE = 7


def _send_plan(client: Any, token: str, seed: int) -> None:
    for req in generate_plan(SimConfig(PUBLIC, auth_token=token, messages=40, seed=seed)):
        response = client.post(req.path, data=req.body, content_type=FORM, headers=req.headers)
        assert response.status_code < 500


def build_dataset(path: Path) -> None:
    with Store(path) as store:
        sids = seed_traffic(store, n=300)
        config = ReceiverConfig.with_token(TOKEN, public_url=PUBLIC, allow_demo=lambda: True)
        client = create_app(store, config).test_client()
        _send_plan(client, TOKEN, seed=3)
        _send_plan(client, DEMO_AUTH_TOKEN, seed=4)  # simulated rows
        for k, sid in enumerate(sids[:5]):  # forged: rejected, each naming a real SID
            forged = status_params(sid, "delivered")
            assert post(client, "/twilio/status", forged, token="f" * 32).status_code == 403
            if k % 2:
                post(client, "/twilio/status", forged, token="e" * 32)
        store.apply_api_messages(
            [_api_row(sids[7], status="delivered", price="-0.0079", price_unit="USD"),
             _api_row("SM" + "f" * 32, status="sent", date_created="2026-11-29T10:00:00.000+00:00")],
            ("messages", {"until": "2026-11-30T00:00:00+00:00"}),
        )  # fmt: skip
        alerts = [
            {"sid": f"NO{k:032x}", "error_code": code, "log_level": "error", "alert_text": f"Msg=x{k}&url=y",
             "request_url": f"{PUBLIC}/twilio/status", "request_method": "POST",
             "date_created": (NOW - timedelta(hours=k)).isoformat(), "resource_sid": sids[k],
             "message_sid": sids[k] if k % 2 else None, "fetched_at": NOW.isoformat(),
             "details": json.dumps({"response_body": f"<html>{k}</html>"})}
            for k, code in enumerate((11200, 30003, 11200, 12300))
        ]  # fmt: skip
        store.store_twilio_alerts(alerts, ("alerts", {"since": "2026-11-26T00:00:00+00:00"}))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, pg_cluster: Cluster) -> Iterator[tuple[Path, str]]:
    path = tmp_path_factory.mktemp("parity") / "parity.db"
    build_dataset(path)
    name = fresh_database(pg_cluster)
    url = pg_cluster.url(name)
    with psycopg.connect(url, password=PASSWORD, autocommit=True) as conn:
        copy_sqlite(path, conn)
    yield path, url
    pg_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def readers(dataset: tuple[Path, str]) -> Iterator[tuple[Reader, PgReader]]:
    path, url = dataset
    sq = open_reader(path)
    pg = open_reader(url)
    assert isinstance(pg, PgReader) and isinstance(sq, Reader)
    yield sq, pg
    sq.close()
    pg.close()


def test_pg_reader_has_every_public_method_of_reader_with_the_same_parameters() -> None:
    def public(cls: type, own: bool) -> dict[str, list[inspect.Parameter]]:
        members = vars(cls).items() if own else inspect.getmembers(cls)
        return {
            name: list(inspect.signature(member).parameters.values())
            for name, member in members
            if callable(member) and not name.startswith("_")
        }

    ours, theirs = public(PgReader, own=False), public(Reader, own=False)
    assert {name: ours.get(name) for name in theirs} == theirs
    # what Reader itself defines touches its SQLite connection: PgReader replaces every one of them
    sqlite_only = public(Reader, own=True)
    assert {name: public(PgReader, own=True).get(name) for name in sqlite_only} == sqlite_only


def test_the_dataset_has_what_the_reads_must_agree_on(readers: tuple[Reader, PgReader]) -> None:
    sq, pg = readers
    now = NOW
    for flt in (
        MessageFilter(direction="inbound"),
        MessageFilter(channel="whatsapp"),
        MessageFilter(statuses=("failed", "undelivered")),
        MessageFilter(hide_simulated=True),
    ):
        assert 0 < sq.messages_count(flt, now) < sq.messages_count(MessageFilter(), now)
    assert sq.requests_count(RequestFilter(outcome="rejected"), 0, sq.requests_top()) >= 5
    assert sq.requests_count(RequestFilter(outcome="duplicate"), 0, sq.requests_top()) > 0
    assert pg.messages_count(MessageFilter(), now) == sq.messages_count(MessageFilter(), now)


# ---------------------------------------------------------------------------------------------- messages
def _filters(sq: Reader) -> list[MessageFilter]:
    """One filter per field (and a few combined), with values taken from the data."""
    rows = sq.messages_page(MessageFilter(), SortSpec(), NOW, first_page(400)).rows
    failed = next(r for r in rows if r["error_code"])
    inbound = next(r for r in rows if r["direction"] == "inbound")
    service = next(r["messaging_service_sid"] for r in rows if r["messaging_service_sid"])
    middle = rows[len(rows) // 2]["first_seen"]
    return [
        MessageFilter(),
        MessageFilter(statuses=("delivered", "read")),
        MessageFilter(statuses=("failed", "undelivered")),
        MessageFilter(channel="whatsapp"),
        MessageFilter(channel="sms", direction="outbound"),
        MessageFilter(direction="inbound"),
        MessageFilter(error_code=int(failed["error_code"])),
        MessageFilter(since_seconds=36 * 3600),
        MessageFilter(since=middle),
        MessageFilter(until=middle),
        MessageFilter(since=middle, since_seconds=10 * 86400),
        MessageFilter(hide_simulated=True),
        MessageFilter(from_addr=str(inbound["from_addr"])),
        MessageFilter(from_addr=""),
        MessageFilter(service=service),
        MessageFilter(service=""),
        MessageFilter(to_prefixes=("+1415", "+1416")),
        MessageFilter(to_prefixes=("+4479",), direction="outbound"),
        MessageFilter(text="whatsapp"),
        MessageFilter(text="WhatsApp:+1"),  # case-insensitive, as SQLite's LIKE
        MessageFilter(text=str(failed["sid"])[5:14].upper()),
        MessageFilter(text="55501"),
        MessageFilter(text="4"),  # one character: no trigram
        MessageFilter(text="50%"),  # LIKE's wildcards match themselves
        MessageFilter(text="a_b"),
        MessageFilter(text="nothing like this"),
        MessageFilter(text="+1", channel="sms", statuses=("delivered",), hide_simulated=True),
    ]


def _walk(reader: Reader | PgReader, flt: MessageFilter, sort: SortSpec, text_index: bool) -> list[Page]:
    """Every page of the list, each read by keyset from the previous one."""
    pages = [reader.messages_page(flt, sort, NOW, first_page(PAGE), text_index=text_index)]
    while len(pages[-1]) == PAGE:
        plan = PagePlan(pages[-1].last_key, False, 0, PAGE)
        pages.append(reader.messages_page(flt, sort, NOW, plan, text_index=text_index))
    return pages


@pytest.mark.parametrize("column", SORT_COLUMNS)
def test_every_filter_and_sort_gives_the_same_counts_pages_and_positions(
    readers: tuple[Reader, PgReader], column: str
) -> None:
    sq, pg = readers
    for flt in _filters(sq):
        for descending in (True, False):
            sort = SortSpec(column, descending)
            where = f"{flt} {sort}"
            for text_index in (False, True):
                n = sq.messages_count(flt, NOW, text_index=text_index)
                assert pg.messages_count(flt, NOW, text_index=text_index) == n, where
            pages = _walk(sq, flt, sort, text_index=False)
            assert _walk(pg, flt, sort, text_index=True) == pages, where
            listed = [r["sid"] for p in pages for r in p.rows]
            assert len(listed) == n, where
            # backwards from a page's first key, skipping, and from the end of the list
            for page in pages[1:3]:
                plan = PagePlan(page.first_key, True, 2, PAGE)
                assert pg.messages_page(flt, sort, NOW, plan) == sq.messages_page(flt, sort, NOW, plan), where
            tail = PagePlan(None, True, 0, PAGE)
            assert pg.messages_page(flt, sort, NOW, tail) == sq.messages_page(flt, sort, NOW, tail), where
            offset = PagePlan(None, False, 2 * PAGE + 3, PAGE)
            assert pg.messages_page(flt, sort, NOW, offset) == sq.messages_page(flt, sort, NOW, offset), where
            for k in sorted({0, len(listed) // 3, len(listed) - 1}) if listed else []:
                assert pg.messages_position(listed[k], flt, sort, NOW) == k, where
            assert pg.messages_position("SM" + "0" * 31 + "z", flt, sort, NOW) is None


def test_text_index_answers(readers: tuple[Reader, PgReader]) -> None:
    sq, pg = readers
    assert pg.messages_text_index() and sq.messages_text_index()
    for text in ("whatsapp", "555", "SM0000", "zzzz"):
        for limit in (None, 3):
            assert pg.messages_text_matches(text, limit) == sq.messages_text_matches(text, limit), text


# ---------------------------------------------------------------------------------------------- requests
REQUEST_FILTERS = [
    RequestFilter(),
    RequestFilter(outcome="accepted"),
    RequestFilter(outcome="duplicate"),
    RequestFilter(outcome="rejected"),
    RequestFilter(text="status"),
    RequestFilter(text="SIGNATURE"),
    RequestFilter(text="whatsapp", outcome="accepted"),
    RequestFilter(text="%"),
    RequestFilter(text="no such text"),
]


@pytest.mark.parametrize("flt", REQUEST_FILTERS, ids=str)
def test_the_request_log_reads_the_same(readers: tuple[Reader, PgReader], flt: RequestFilter) -> None:
    sq, pg = readers
    top = sq.requests_top()
    assert pg.requests_top() == top
    for above, upto in ((0, top), (top // 3, top), (0, top // 2)):
        assert pg.requests_count(flt, above, upto) == sq.requests_count(flt, above, upto)
    pages = [sq.requests_page(flt, top, first_page(PAGE))]
    while len(pages[-1]) == PAGE and len(pages) < 40:
        pages.append(sq.requests_page(flt, top, PagePlan(pages[-1].last_key, False, 0, PAGE)))
    pg_pages = [pg.requests_page(flt, top, first_page(PAGE))]
    for page in pages[:-1]:
        pg_pages.append(pg.requests_page(flt, top, PagePlan(page.last_key, False, 0, PAGE)))
    assert pg_pages == pages
    for plan in (PagePlan(None, True, 0, PAGE), PagePlan(pages[-1].first_key, True, 1, PAGE)):
        assert pg.requests_page(flt, top, plan) == sq.requests_page(flt, top, plan)
    ids = [r["id"] for p in pages for r in p.rows]
    for request_id in [*ids[:3], *ids[-2:], top + 1, 0]:
        assert pg.requests_position(request_id, flt, top) == sq.requests_position(request_id, flt, top)


def test_each_request_and_message_detail_reads_the_same(readers: tuple[Reader, PgReader]) -> None:
    sq, pg = readers
    top = sq.requests_top()
    for request_id in range(0, top + 2):
        assert pg.request_detail(request_id) == sq.request_detail(request_id), request_id
    assert pg.newest_request_id() == sq.newest_request_id() == top
    assert pg.first_outcomes(50) == sq.first_outcomes(50)
    detail = sq.request_detail(top)
    assert detail is not None
    for after in (0, top - 1, top):
        args = (after, str(detail["path"]), str(detail["query"]))
        assert pg.request_logged_after(*args) == sq.request_logged_after(*args)
    sids = [r["sid"] for r in sq.messages_page(MessageFilter(), SortSpec(), NOW, first_page(1000)).rows]
    assert len(sids) > 300
    for sid in [*sids, "SM" + "0" * 32]:
        assert pg.message(sid) == sq.message(sid)
        assert pg.events_of(sid) == sq.events_of(sid)
        assert pg.media_of(sid) == sq.media_of(sid)
        assert pg.rejections_of(sid) == sq.rejections_of(sid)
        assert pg.rejection_count(sid) == sq.rejection_count(sid)
        assert pg.rejected_requests_for_sid(sid) == sq.rejected_requests_for_sid(sid)
    assert any(sq.media_of(s) for s in sids) and any(sq.rejections_of(s) for s in sids)


# ---------------------------------------------------------------------------------------------- the rest
def test_error_counts_alerts_feed_and_reconciliation_read_the_same(readers: tuple[Reader, PgReader]) -> None:
    sq, pg = readers
    for code in (30003, 30005, 21610, 11200, 1):
        assert pg.error_code_counts(code) == sq.error_code_counts(code)
    assert pg.twilio_alerts() == sq.twilio_alerts() and len(sq.twilio_alerts()) == 4
    assert pg.twilio_alerts(2) == sq.twilio_alerts(2)
    for table in ("events", "requests"):
        newest = sq.feed_newest_id(table)
        assert pg.feed_newest_id(table) == newest
        for before, limit in ((newest + 1, 10), (newest // 2, 5), (1, 5)):
            assert pg.feed_times_before(table, before, limit) == sq.feed_times_before(table, before, limit)
    for after, upto, limit in ((0, 10**9, 1000), (50, 120, 30)):
        assert pg.feed_events(after, upto, limit) == sq.feed_events(after, upto, limit)
        assert pg.feed_requests(after, upto, limit) == sq.feed_requests(after, upto, limit)
    for code, event_id in ((30003, 10**9), (30003, 1), (21610, 400), (99999, 10**9)):
        assert pg.error_code_seen_before(code, event_id) == sq.error_code_seen_before(code, event_id)
    stuck = ("queued", "sent", "accepted")
    for updated, seen in ((NOW.isoformat(), "2000"), ((NOW - timedelta(days=2)).isoformat(), "2026-11-27")):
        assert pg.stuck_sids(stuck, updated, seen, 50) == sq.stuck_sids(stuck, updated, seen, 50)
        final = ("delivered", "read")
        assert pg.unpriced_sids(final, seen, 50) == sq.unpriced_sids(final, seen, 50)
    for name in ("messages", "alerts", "nothing"):
        assert pg.sync_state(name) == sq.sync_state(name)
    for since in ("2000", NOW.isoformat(), (NOW - timedelta(hours=1, minutes=30)).isoformat()):
        assert pg.alert_sids_since(since) == sq.alert_sids_since(since)
    assert sq.writers() == [] and pg.writers() == []


@pytest.mark.parametrize("range_key", [*RANGES, CUSTOM])
def test_statistics_read_the_same_for_each_range(readers: tuple[Reader, PgReader], range_key: str) -> None:
    sq, pg = readers
    custom: dict[str, datetime] = {}
    if range_key == CUSTOM:
        custom = {"since": NOW - timedelta(days=2, hours=5), "until": NOW - timedelta(hours=7)}
    for now in (NOW, datetime.now(UTC)):
        expected = replace(sq.delivery_stats(range_key, now, **custom), elapsed_ms=0.0)
        assert replace(pg.delivery_stats(range_key, now, **custom), elapsed_ms=0.0) == expected
        if range_key in ("week", "all") and now == NOW:  # figures worth comparing: times, spend, errors
            assert expected.current is not None and expected.current.delivery_median_s
            assert expected.current.spend and expected.top_errors and expected.breakdowns.senders
    lo, hi = (NOW - timedelta(days=3)).isoformat(), NOW.isoformat()
    assert pg.breakdowns(lo, hi) == sq.breakdowns(lo, hi)
    assert pg.period(lo, hi) == sq.period(lo, hi)
    assert pg.spend(None, None) == sq.spend(None, None)


def test_delivery_times_of_a_big_window_come_from_a_sample(
    readers: tuple[Reader, PgReader], monkeypatch: pytest.MonkeyPatch
) -> None:
    sq, pg = readers
    every = sq.delivery_stats("all", NOW).current
    assert every is not None and not every.sampled and every.timed > 20
    monkeypatch.setattr(stats_queries, "DELIVERY_SAMPLE", 10)  # a million messages' window, in small
    for reader in (sq, pg):
        sampled = reader.delivery_stats("all", NOW).current
        assert sampled is not None and sampled.sampled and 0 < sampled.timed < every.timed
        assert every.delivery_median_s is not None and sampled.delivery_median_s is not None


@pytest.mark.parametrize("what", ["messages", "events", "requests"])
def test_exports_write_the_same_bytes(readers: tuple[Reader, PgReader], tmp_path: Path, what: str) -> None:
    sq, pg = readers
    for fmt in ("csv", "json"):
        a, b = tmp_path / f"sq.{fmt}", tmp_path / f"pg.{fmt}"
        assert pg.export_to_file(b, what, fmt=fmt) == sq.export_to_file(a, what, fmt=fmt) > 0
        assert b.read_bytes() == a.read_bytes()
    assert pg.count_export(what) == sq.count_export(what)


@pytest.mark.parametrize("sort", [SortSpec(), SortSpec("status", False), SortSpec("price"), SortSpec("from")])
def test_view_exports_write_the_same_bytes(
    readers: tuple[Reader, PgReader], tmp_path: Path, sort: SortSpec
) -> None:
    sq, pg = readers
    for flt in (
        MessageFilter(),
        MessageFilter(text="whatsapp", hide_simulated=True),
        MessageFilter(error_code=30003),
    ):
        assert pg.export_messages(tmp_path / "p.csv", flt, sort) == sq.export_messages(
            tmp_path / "s.csv", flt, sort
        )
        assert (tmp_path / "p.csv").read_bytes() == (tmp_path / "s.csv").read_bytes()
    for rflt in REQUEST_FILTERS:
        assert pg.export_requests(tmp_path / "p.csv", rflt) == sq.export_requests(tmp_path / "s.csv", rflt)
        assert (tmp_path / "p.csv").read_bytes() == (tmp_path / "s.csv").read_bytes()
