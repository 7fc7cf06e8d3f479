"""A tiny HTTP server on 127.0.0.1 (free port) serving fixed bodies by path, for download tests.

Also: a port nothing listens on (connection refused) and a listener that never answers (timeout).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve(files: Mapping[str, bytes], gate: threading.Event | None = None) -> Iterator[str]:
    """Serve ``files`` (path -> body, 404 otherwise); yields the base URL, e.g. http://127.0.0.1:PORT.

    With ``gate``, every answer waits until the test sets it (to look at the app while it is waiting).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if gate is not None:
                gate.wait(30)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="static-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        if gate is not None:
            gate.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def refused_url() -> str:
    """A URL on a port that was free a moment ago: connecting to it is refused (as offline, quickly)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/twilio-error-codes.json"


@contextmanager
def silent_listener() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) but never answers: reads time out."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/twilio-error-codes.json"
    finally:
        sock.close()
