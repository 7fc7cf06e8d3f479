"""``callback-monitor serve`` stopping on SIGTERM/SIGINT: requests in flight finish, then a clean exit."""

from __future__ import annotations

import signal
import socket
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from receiver_helpers import FORM, sid, sign, status_params
from test_cli import PUBLIC, Serve


def _refuses_new_connections(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.02)  # polling a condition: the listener closes on the server's event loop
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_request_in_flight_at_the_signal_completes_and_serve_exits_cleanly(
    tmp_path: Path, sig: int
) -> None:
    serve = Serve(tmp_path, "--public-url", PUBLIC)
    try:
        params = status_params(sid(), "delivered")
        body = urlencode(params).encode()
        head = (
            f"POST /twilio/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM}\r\n"
            f"X-Twilio-Signature: {sign(PUBLIC + '/twilio/status', params)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", serve.port), timeout=15) as sock:
            sock.sendall(head + body[:20])  # the request is arriving ...
            serve.proc.send_signal(sig)
            assert serve.proc.stdout is not None
            assert serve.proc.stdout.readline().startswith("Stopping")  # ... when serve begins to stop
            assert _refuses_new_connections(serve.port)  # and has stopped accepting: it is draining
            sock.sendall(body[20:])
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        code = serve.stop(sig)
    finally:
        serve.stop(signal.SIGKILL)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" in answer  # keep-alive clients go elsewhere rather than into a closing socket
    assert code == 0
    assert "Traceback" not in serve.stderr and "Bad file descriptor" not in serve.stderr
    conn = sqlite3.connect(serve.db)
    try:
        assert (
            conn.execute(
                "SELECT COUNT(*) FROM events WHERE message_sid = ?", (params["MessageSid"],)
            ).fetchone()[0]
            == 1
        )
    finally:
        conn.close()
