"""The own-URL check: a request sent through a public URL must show up in THIS receiver's request log.

Driven with real sockets: the receiver (waitress) on one port, another web server on a second port that
answers 200 to everything (a proxy forwarding to the wrong machine looks like that from outside)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.app import ReceiverConfig, create_app
from receiver.reachability import probe
from receiver.server import ReceiverServer
from receiver.store import Store
from tests.receiver_helpers import PUBLIC, TOKEN


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    with Store(tmp_path / "reach.db") as store:
        server = ReceiverServer(create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)))
        server.start()
        try:
            yield store.path, server.port
        finally:
            server.stop()


class _Elsewhere(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def elsewhere() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Elsewhere)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_url_that_reaches_this_receiver_is_found_in_its_request_log(receiver: tuple[Path, int]) -> None:
    db, port = receiver
    reach = probe(f"http://127.0.0.1:{port}", db, port)
    assert reach.ok, reach.message


def test_a_url_answered_by_another_server_is_refused_with_where_to_forward(
    receiver: tuple[Path, int], elsewhere: int
) -> None:
    db, port = receiver
    reach = probe(f"http://127.0.0.1:{elsewhere}", db, port)
    assert not reach.ok
    assert "HTTP 200" in reach.message and "never arrived at this receiver" in reach.message
    assert f"http://127.0.0.1:{port}" in reach.message  # the hint: where to forward to
