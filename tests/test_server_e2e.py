"""The receiver on a real waitress server, over loopback: concurrency, duplicates, clean stop."""

from __future__ import annotations

import http.client
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.app import ReceiverConfig, create_app
from receiver.server import ReceiverServer
from receiver.store import Store
from tests.receiver_helpers import PUBLIC, TOKEN, http_post, sid, status_params


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ReceiverServer, Store]]:
    store = Store(tmp_path / "e2e.db")
    srv = ReceiverServer(create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)))
    srv.start()
    yield srv, store
    srv.stop()
    store.close()


def send(port: int, path: str, params: dict[str, str], token_header: str | None = None) -> int:
    return http_post(
        f"http://127.0.0.1:{port}", path, params, signed_for=PUBLIC, idempotency_token=token_header
    )


def test_concurrent_callbacks_are_all_stored_once_acknowledged(server: tuple[ReceiverServer, Store]) -> None:
    srv, store = server
    sids = [sid() for _ in range(40)]
    results: list[int] = []
    lock = threading.Lock()

    def worker(chunk: list[str]) -> None:
        for s in chunk:
            for status in ("sent", "delivered"):
                code = send(srv.port, "/twilio/status", status_params(s, status))
                with lock:
                    results.append(code)

    threads = [threading.Thread(target=worker, args=(sids[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 80
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 80
    assert conn.execute("SELECT COUNT(*) FROM messages WHERE status = 'delivered'").fetchone()[0] == 40


def test_concurrent_duplicates_are_acknowledged_and_stored_once(server: tuple[ReceiverServer, Store]) -> None:
    srv, store = server
    s = sid()
    params = status_params(s, "delivered")
    barrier = threading.Barrier(12)
    codes: list[int] = []

    def worker(i: int) -> None:
        barrier.wait()
        # half retry with the same idempotency token, half are the same SID+status with fresh tokens
        codes.append(send(srv.port, "/twilio/status", params, "tok-1" if i % 2 else f"tok-{i + 100}"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 12
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM events WHERE message_sid = ?", (s,)).fetchone()[0] == 1
    outcomes = sorted(r[0] for r in conn.execute("SELECT outcome FROM requests"))
    assert outcomes == ["accepted"] + ["duplicate"] * 11


def test_stop_leaves_no_server_thread(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        srv = ReceiverServer(create_app(store, ReceiverConfig.with_token(TOKEN)))
        srv.start()
        assert send(srv.port, "/twilio/status", {}) == 403
        srv.stop()
        assert not srv.running
    names = [t.name for t in threading.enumerate()]
    assert "receiver-waitress" not in names
    assert not any(n.startswith("waitress-") for n in names)


def test_second_store_on_same_db_is_refused(tmp_path: Path) -> None:
    from receiver.store import StoreLocked

    with Store(tmp_path / "one.db"), pytest.raises(StoreLocked, match="already in use"):
        Store(tmp_path / "one.db")


def test_through_a_proxy_only_webhook_paths_are_served(server: tuple[ReceiverServer, Store]) -> None:
    srv, store = server
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", "/healthz", headers={"X-Forwarded-For": "54.1.2.3", "X-Forwarded-Proto": "https"})
    assert conn.getresponse().status == 404
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()
    row = (
        sqlite3.connect(store.path).execute("SELECT remote_addr FROM requests ORDER BY id LIMIT 1").fetchone()
    )
    assert row[0] == "54.1.2.3 via 127.0.0.1"


def test_busy_worker_threads_do_not_log_a_line_per_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """waitress warns "Task queue depth is N" for every request that waits for a worker; under a burst
    that was one log line per callback. One worker thread and 6 concurrent callbacks make every request
    but the first wait."""
    import logging

    from receiver.server import QUEUE_LOGGER

    logging.getLogger(QUEUE_LOGGER).setLevel(logging.NOTSET)  # as a fresh process has it
    caplog.set_level(logging.DEBUG)
    store = Store(tmp_path / "busy.db")
    srv = ReceiverServer(create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)), threads=1)
    srv.start()
    try:
        codes: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: codes.append(send(srv.port, "/twilio/status", status_params(sid(), "sent")))
            )
            for _ in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        srv.stop()
        store.close()
    assert codes == [200] * 6
    assert not [r for r in caplog.records if "Task queue depth" in r.getMessage()]


def test_the_event_loop_does_not_watch_a_connection_whose_request_is_being_served(tmp_path: Path) -> None:
    """While a worker answers a request it flushes its own output; if the loop also watched the socket
    for writability it would spin (42 loop passes per request at 64 connections, bench/README.md)."""
    import socket

    from waitress.channel import HTTPChannel

    from receiver.connections import Channel as _Channel

    store = Store(tmp_path / "ch.db")
    srv = ReceiverServer(create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)))
    srv.start()
    ours, theirs = socket.socketpair()
    try:
        listener = next(v for v in srv._map.values() if hasattr(v, "channel_class"))
        assert listener.channel_class is _Channel  # every accepted connection gets it
        channel = _Channel(listener, ours, ("127.0.0.1", 1), listener.adj, map={})
        stock = HTTPChannel(listener, theirs, ("127.0.0.1", 2), listener.adj, map={})
        for ch in (channel, stock):
            ch.requests = [object()]  # a request is being served ...
            ch.total_outbufs_len = 120  # ... and its worker has queued its answer
        assert stock.writable()  # what made waitress's loop spin
        assert not channel.writable()
        channel.will_close = True  # closing still goes through the loop
        assert channel.writable()
        channel.will_close = False
        channel.requests = []  # request done, answer left: the loop sends it
        assert channel.writable()
    finally:
        ours.close()
        theirs.close()
        srv.stop()
        store.close()
