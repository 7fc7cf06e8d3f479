"""The receiver on a real waitress server, over loopback: concurrency, duplicates, clean stop."""

from __future__ import annotations

import http.client
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from receiver_helpers import PUBLIC, TOKEN, http_post, sid, status_params

from receiver.app import ReceiverConfig, create_app
from receiver.server import ReceiverServer
from receiver.store import Store


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
