"""Event Streams deliveries per second on /twilio/events, and what a batch costs per event.

    .venv/bin/python bench/event_streams.py                       # 1 and 20 events per request, 8 connections
    .venv/bin/python bench/event_streams.py --batch 1,50 --connections 8 --requests 2000

The receiver (``create_app`` on ``ReceiverServer``, as the GUI embeds it) runs in a subprocess so it does
not share a GIL with the load generator. Every request is a signed Event Streams delivery (bodySHA256 +
X-Twilio-Signature over the public URL), every CloudEvent a new id, so each one is validated, parsed and
committed; the figures include the 200 only after the commit.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import secrets
import subprocess
import sys
import threading
import time

from _common import REPO_ROOT, percentile, use_repo_root

use_repo_root()

TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC = "https://bench.callback-monitor.invalid"
PATH = "/twilio/events"
SERVER = """
import sys, tempfile, threading
from pathlib import Path
from receiver.app import ReceiverConfig, create_app
from receiver.server import ReceiverServer
from receiver.store import Store
store = Store(Path(tempfile.mkdtemp()) / "bench.db")
srv = ReceiverServer(create_app(store, ReceiverConfig.with_token(sys.argv[1], public_url=sys.argv[2])))
srv.start()
print(srv.port, flush=True)
sys.stdin.read()
srv.stop()
store.close()
"""
STATUSES = ("sent", "delivered", "undelivered", "read")


def _event(message: str, status: str) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "type": f"com.twilio.messaging.message.{status}",
        "source": f"/2010-04-01/Accounts/AC{'1' * 32}/Messages/{message}.json",
        "id": "EZ" + secrets.token_hex(16),
        "datacontenttype": "application/json",
        "data": {"messageSid": message, "accountSid": "AC" + "1" * 32, "from": "+15005550006",
                 "to": "+14155552671", "messageStatus": status.upper(), "numberOfSegments": 1},
    }  # fmt: skip


def _request(batch_size: int) -> tuple[str, bytes, str]:
    message = "SM" + secrets.token_hex(16)
    body = json.dumps([_event(message, STATUSES[i % len(STATUSES)]) for i in range(batch_size)]).encode()
    query = "bodySHA256=" + hashlib.sha256(body).hexdigest()
    sig = base64.b64encode(
        hmac.new(TOKEN.encode(), f"{PUBLIC}{PATH}?{query}".encode(), hashlib.sha1).digest()
    )
    return f"{PATH}?{query}", body, sig.decode()


def run(port: int, batch: int, connections: int, requests: int) -> None:
    work = [_request(batch) for _ in range(requests)]
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def worker(chunk: list[tuple[str, bytes, str]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for target, body, sig in chunk:
            started = time.perf_counter()
            conn.request("POST", target, body=body,
                         headers={"Content-Type": "application/json", "X-Twilio-Signature": sig})  # fmt: skip
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                with lock:
                    failures[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(work[i::connections],)) for i in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(
        f"batch {batch:>3} x {requests} requests, {connections} connections: "
        f"{requests / elapsed:7.0f} req/s, "
        f"{requests * batch / elapsed:7.0f} events/s, p50 {percentile(latencies, 50) * 1000:6.1f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:6.1f} ms, non-200: {failures[0]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", default="1,20", help="events per request, comma-separated")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, TOKEN, PUBLIC],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        for batch in (int(b) for b in args.batch.split(",")):
            run(port, batch, args.connections, args.requests)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
