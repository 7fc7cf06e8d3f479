"""The team listener (receiver/store/pg/listen.py) against a real server: it hears committed batches only,
survives its backend being terminated (Lost, then Back so the caller re-reads), retries an unreachable
server with backoff, and stops at once even while it waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from receiver.store.pg import listen
from receiver.store.pg.changes import CHANNEL, Change, encode
from receiver.store.pg.listen import Back, Listener, Live, Lost, State
from receiver.store.url import PostgresTarget, parse
from tests.pg.cluster import PASSWORD
from tests.waiting import wait_until


class Heard:
    """What a listener reported, from its thread."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.states: list[State] = []
        self.lock = threading.Lock()

    def change(self, change: Change) -> None:
        with self.lock:
            self.changes.append(change)

    def state(self, state: State) -> None:
        with self.lock:
            self.states.append(state)


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
def listener(pg_target: PostgresTarget, heard: Heard) -> Iterator[Listener]:
    started = Listener(pg_target, heard.change, heard.state).start()
    wait_until(lambda: heard.states, what="the listener connecting")
    yield started
    started.stop()


def unreachable() -> PostgresTarget:
    """A server nobody runs (port 1 on this computer refuses at once)."""
    target = parse("postgresql://nobody@127.0.0.1:1/postgres")
    assert isinstance(target, PostgresTarget)
    return target


def notify(url: str, change: Change, *, commit: bool = True) -> None:
    with psycopg.connect(url, password=PASSWORD) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, encode(change)))
        if not commit:
            conn.rollback()


def test_hears_committed_batches_and_not_rolled_back_ones(
    pg_url: str, listener: Listener, heard: Heard
) -> None:
    assert heard.states == [Live()]
    notify(pg_url, Change("srv-a", requests=1, events=None), commit=False)
    notify(pg_url, Change("srv-b", requests=7, events=3))
    wait_until(lambda: heard.changes, what="the committed change")
    assert heard.changes == [Change("srv-b", requests=7, events=3)]


def test_ignores_payloads_it_does_not_understand(pg_url: str, listener: Listener, heard: Heard) -> None:
    with psycopg.connect(pg_url, password=PASSWORD, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, 'not json')", (CHANNEL,))
    notify(pg_url, Change("srv-a", requests=2))
    wait_until(lambda: heard.changes, what="the good change")
    assert heard.changes == [Change("srv-a", requests=2)]


def test_terminated_backend_is_reported_lost_then_back_and_hears_again(
    pg_url: str, listener: Listener, heard: Heard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listen, "FIRST_RETRY", 0.05)
    with psycopg.connect(pg_url, password=PASSWORD, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"callback-monitor {listen.ROLE}",),
        ).fetchall()
    assert killed == [(True,)]
    wait_until(lambda: isinstance(heard.states[-1], Back), what="the listener coming back")
    lost = heard.states[1]
    assert isinstance(lost, Lost) and lost.attempt == 1 and "server closed the connection" in lost.reason
    assert heard.states == [Live(), lost, Back()]
    notify(pg_url, Change("srv-a", requests=9))
    wait_until(lambda: heard.changes, what="a change after the reconnection")
    assert heard.changes == [Change("srv-a", requests=9)]


def test_unreachable_server_is_retried_with_growing_waits(
    heard: Heard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listen, "FIRST_RETRY", 0.01)
    gone = unreachable()
    listener = Listener(gone, heard.change, heard.state).start()
    try:
        wait_until(lambda: len(heard.states) >= 3, what="three attempts")
    finally:
        listener.stop()
    waits = [s.retry_in for s in heard.states[:3] if isinstance(s, Lost)]
    assert waits == [0.01, 0.02, 0.04]
    assert [s.attempt for s in heard.states[:3] if isinstance(s, Lost)] == [1, 2, 3]


def test_backoff_doubles_up_to_thirty_seconds() -> None:
    assert [listen.backoff(n) for n in (1, 2, 3, 4, 5, 6, 7, 12)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_stop_wakes_a_listener_that_waits_for_notifications(listener: Listener) -> None:
    assert listener.running
    # the bound is generous: without the wake-up the thread would sit in select() for good
    listener.stop(timeout=5)
    assert not listener.running


def test_stop_wakes_a_listener_that_waits_to_retry(heard: Heard) -> None:
    listener = Listener(unreachable(), heard.change, heard.state).start()
    wait_until(lambda: heard.states, what="the first failed attempt")
    assert isinstance(heard.states[0], Lost) and heard.states[0].retry_in == 1.0
    listener.stop(timeout=5)
    assert not listener.running
