"""Two receivers (two waitress servers, two stores, as two ``serve`` processes behind a load balancer)
writing to one PostgreSQL database at once: Twilio's retries and out-of-order statuses land on either."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import psycopg
import pytest

from receiver import statuses
from receiver.app import ReceiverConfig, create_app
from receiver.server import ReceiverServer
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget, parse
from receiver.twilio_client import Credentials, make_client
from receiver.webhook_paths import EVENTS_PATH
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio
from tests.pg.cluster import PASSWORD, Cluster
from tests.receiver_helpers import PUBLIC, TOKEN, http_post, sid, status_params

fake_twilio = fakes.fake_twilio  # fixture
STATUSES = ("queued", "sent", "delivered", "read")  # ranks rising


class Receivers:
    """``count`` receivers on one database; ``stop()`` stops the servers, then closes the stores."""

    def __init__(self, target: PostgresTarget, token: str, count: int = 2) -> None:
        self.stores = [PgStore(target) for _ in range(count)]
        config = ReceiverConfig.with_token(token, public_url=PUBLIC)
        self.servers = [ReceiverServer(create_app(s, config)) for s in self.stores]
        for server in self.servers:
            server.start()

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        for store in self.stores:
            store.close()


@pytest.fixture
def receivers(pg_target: PostgresTarget) -> Iterator[Receivers]:
    both = Receivers(pg_target, TOKEN)
    yield both
    both.stop()


def send(port: int, params: dict[str, str]) -> int:
    return int(http_post(f"http://127.0.0.1:{port}", "/twilio/status", params, signed_for=PUBLIC))


def in_threads(work: list[tuple[int, dict[str, str]]], threads: int = 8) -> list[int]:
    codes: list[int] = []
    lock = threading.Lock()

    def worker(part: list[tuple[int, dict[str, str]]]) -> None:
        for port, params in part:
            code = send(port, params)
            with lock:
                codes.append(code)

    pool = [threading.Thread(target=worker, args=(work[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return codes


def test_every_callback_is_stored_once_with_the_highest_status_whichever_receiver_gets_it(
    receivers: Receivers, pg_target: PostgresTarget
) -> None:
    sids = [sid() for _ in range(30)]
    # every status of every message, each delivered to both receivers (a retry of each), all shuffled:
    # later statuses often arrive first, and the two copies race each other
    work = [(port, status_params(s, st)) for s in sids for st in STATUSES for port in receivers.ports]
    random.Random(13).shuffle(work)

    codes = in_threads(work)

    assert codes == [200] * len(work)
    with psycopg.connect(pg_target.url) as conn:
        events = conn.execute("SELECT message_sid, status FROM events").fetchall()
        messages = conn.execute("SELECT sid, status, status_rank, event_count FROM messages").fetchall()
        outcomes = conn.execute("SELECT outcome, count(*) FROM requests GROUP BY outcome").fetchall()
    assert sorted(events) == sorted((s, st) for s in sids for st in STATUSES)  # each once
    assert sorted(messages) == sorted(
        (s, "read", statuses.rank("read"), 4) for s in sids
    )  # the highest rank won
    assert dict(outcomes) == {"accepted": 120, "duplicate": 120}  # every request logged, once each
    assert all(store.commits > 0 for store in receivers.stores)  # both receivers really wrote


def test_event_streams_duplicates_delivered_to_both_receivers_land_once(
    pg_target: PostgresTarget, fake_twilio: FakeTwilio
) -> None:
    both = Receivers(pg_target, fake_twilio.auth_token)
    try:
        # sent through the real twilio client, so the fake knows them when it builds their events
        client = make_client(
            Credentials(fake_twilio.account_sid, fake_twilio.auth_token), api_base=fake_twilio.base_url
        )
        messages = [
            str(client.messages.create(to="+14155552671", from_="+15005550006", body="hi").sid)
            for _ in range(5)
        ]
        batches = [
            [fake_twilio.events.cloudevent(m, st) for m in messages] for st in ("delivered", "sent")
        ]  # the later status first
        url = PUBLIC + EVENTS_PATH
        answers: list[int] = []
        lock = threading.Lock()

        def deliver(port: int) -> None:
            for batch in batches:
                got = fake_twilio.events.post(batch, url=url, via=f"127.0.0.1:{port}")
                with lock:
                    answers.append(got.http_status)

        pool = [threading.Thread(target=deliver, args=(port,)) for port in both.ports]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    finally:
        both.stop()
    assert answers == [200] * 4
    with psycopg.connect(pg_target.url) as conn:
        events = conn.execute("SELECT message_sid, status, cloudevent_id FROM events").fetchall()
        statuses = conn.execute("SELECT DISTINCT status FROM messages").fetchall()
    assert sorted((m, st) for m, st, _ in events) == sorted(
        (m, st) for m in messages for st in ("sent", "delivered")
    )
    assert len({ce for _, _, ce in events}) == 10
    assert statuses == [("delivered",)]


def test_a_database_that_stops_mid_run_has_every_callback_that_got_a_2xx(pg_cluster: Cluster) -> None:
    """The server is killed (``pg_ctl -m immediate``: no clean shutdown) while both receivers take
    traffic; after its recovery, every callback that was answered 2xx is there. The others got 503, and
    Twilio would retry them."""
    cluster = Cluster()  # its own: this one is killed
    cluster.start()
    try:
        cluster.admin("CREATE DATABASE stopped")
        target = parse(cluster.url("stopped"))
        assert isinstance(target, PostgresTarget)
        both = Receivers(target, TOKEN)
        answered: list[tuple[str, int]] = []
        lock = threading.Lock()
        enough = threading.Event()  # the database is stopped once this many were stored
        refused = threading.Semaphore(0)  # one release per sender that met a refusal after the stop
        stopped = threading.Event()

        def sender(port: int) -> None:
            met_refusal = False
            for _ in range(3000):  # bounded; ends well before, once the stop was met
                s = sid()
                code = send(port, status_params(s, "sent"))
                with lock:
                    answered.append((s, code))
                    if sum(1 for _, c in answered if c == 200) >= 60:
                        enough.set()
                if stopped.is_set() and code != 200 and not met_refusal:
                    met_refusal = True
                    refused.release()
                    return

        senders = [threading.Thread(target=sender, args=(both.ports[i % 2],)) for i in range(6)]
        for t in senders:
            t.start()
        assert enough.wait(60)
        stopped.set()
        cluster.stop("immediate")
        for _ in senders:
            assert refused.acquire(timeout=60)
        for t in senders:
            t.join()
        both.stop()

        cluster.start()  # crash recovery replays the WAL
        with psycopg.connect(cluster.url("stopped"), password=PASSWORD) as conn:
            stored = {r[0] for r in conn.execute("SELECT message_sid FROM events")}
        acknowledged = {s for s, code in answered if code == 200}
        assert acknowledged <= stored
        assert {code for _, code in answered} == {200, 503}
    finally:
        cluster.destroy()
