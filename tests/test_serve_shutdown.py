"""``callback-monitor serve`` stopping on SIGTERM/SIGINT: requests in flight finish, then a clean exit."""

from __future__ import annotations

import signal
import socket
import sqlite3
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.receiver_helpers import FORM, sid, sign, status_params
from tests.test_cli import PUBLIC, Serve
from tests.waiting import wait_until


def _refuses_new_connections(port: int) -> bool:
    """A connection is refused, or reset: a probe that reached the backlog just as the listener closed.
    The listener closes on the server's event loop, which announces nothing to another process."""

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except (ConnectionRefusedError, ConnectionResetError):
            return True
        return False

    return bool(wait_until(refused, what="serve refusing new connections"))


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
        port = serve.port
        assert port is not None  # listening
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(head + body[:20])  # the request is arriving ...
            serve.proc.send_signal(sig)
            assert serve.proc.stdout is not None
            assert serve.proc.stdout.readline().startswith("Stopping")  # ... when serve begins to stop
            assert _refuses_new_connections(port)  # and has stopped accepting: it is draining
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


def test_connections_the_kernel_accepted_before_the_stop_are_answered_not_reset(tmp_path: Path) -> None:
    """A callback whose TCP connect completed just before a stop sits in the listen backlog, not yet
    accepted by the event loop. Closing the listener then would reset it; the stop takes it in and
    answers it instead. The loop is held busy (the server's own hook for running work on it) so the
    connections are certainly still in the backlog when the stop begins."""
    import threading

    from receiver.app import ReceiverConfig, create_app
    from receiver.server import ReceiverServer
    from receiver.store import Store

    store = Store(tmp_path / "s.db")
    server = ReceiverServer(create_app(store, ReceiverConfig.with_token("t" * 32, public_url=PUBLIC)))
    server.start()
    release = threading.Event()
    held = threading.Thread(target=server._on_loop, args=(lambda: release.wait(10), 15.0))
    held.start()
    socks = []
    try:
        for _ in range(3):
            params = status_params(sid(), "sent")
            body = urlencode(params).encode()
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
            sock.sendall(
                (
                    f"POST /twilio/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM}\r\n"
                    f"X-Twilio-Signature: {sign(PUBLIC + '/twilio/status', params, 't' * 32)}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                + body
            )
            socks.append(sock)
        stopper = threading.Thread(target=server.stop)
        stopper.start()  # its "stop accepting" step queues behind the held loop
        trigger = server._listeners[0].trigger
        wait_until(lambda: trigger.thunks, what="the stop queued on the loop")
        release.set()
        answers = []
        for sock in socks:
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(4096)  # on the old code: ConnectionResetError
                if not chunk:
                    break
                answer += chunk
            answers.append(answer)
        stopper.join(15)
    finally:
        release.set()
        held.join(15)
        for sock in socks:
            sock.close()
        server.stop()
        store.close()
    assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), answers
