"""Build a large, realistic Callback Monitor database, for GUI and query benchmarks.

The schema is the real one: the file is created through ``receiver.store.Store`` (so the migrations run),
then closed and filled with plain ``sqlite3``: ``executemany`` in big transactions, ``synchronous=OFF``
and a rollback journal during the build (WAL is switched back on at the end, as the app expects). The
secondary indexes are dropped and re-created from their own stored SQL after the load: building an index
once over sorted data is several times faster than updating it row by row, and the result is identical.

Data: ~30 days of mixed traffic -- outbound SMS/MMS/WhatsApp with real status paths (queued, sent,
delivered/undelivered/failed, WhatsApp read), real error codes on failures, inbound replies, and a request
log (``requests``) of accepted, duplicate and rejected requests. Deterministic for a ``--seed``.

    python bench/make_db.py --messages 1000000 --events 3000000 --out /tmp/big.db
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _common

_common.use_repo_root()

CHUNK = 50_000  # rows per executemany; one transaction per table
DAYS = 30
ACCOUNT = "AC" + "1" * 32
SERVICES = ["MG" + f"{i:032x}" for i in range(1, 4)]
SENDERS = {"sms": ["+15005550006", "+14155550100", "+12025550199"], "whatsapp": ["whatsapp:+14155238886"]}
# (status path, error code choices); weights below. Error codes are real Twilio messaging codes.
OUTBOUND_PATHS: list[tuple[list[str], tuple[int, ...]]] = [
    (["queued", "sent", "delivered"], ()),
    (["queued", "sent", "undelivered"], (30003, 30005, 30006, 30007, 30008, 30034)),
    (["queued", "failed"], (30004, 30006, 21610, 21408, 30032)),
]
WHATSAPP_PATHS: list[tuple[list[str], tuple[int, ...]]] = [
    (["queued", "sent", "delivered", "read"], ()),
    (["queued", "sent", "delivered"], ()),
    (["queued", "sent", "undelivered"], (63016, 63024, 63032)),
    (["queued", "failed"], (63003, 63018, 63049)),
]
OUTBOUND_WEIGHTS = [0.86, 0.09, 0.05]
NATURAL_MEAN = 3.09  # events per outbound message with these paths/weights (75% SMS/MMS, 25% WhatsApp)
WHATSAPP_WEIGHTS = [0.55, 0.33, 0.07, 0.05]
BODIES = [
    "Your code is {n}",
    "Your order #{n} has shipped",
    "Reminder: appointment tomorrow at 10:{m:02d}",
    "Thanks! Reply STOP to unsubscribe",
    "Your driver is {m} minutes away",
]
REPLIES = ["Yes", "No", "STOP", "Thanks!", "What time?", "ok 👍", "Call me"]
REJECT_REASONS = [
    (
        403,
        "signature does not match https://example.ngrok.app/twilio/status — wrong auth token (use the "
        "account's primary token), or the URL Twilio called differs (query string, path)",
    ),
    (403, "no X-Twilio-Signature header (not sent by Twilio, or stripped by a proxy)"),
    (404, "not a webhook path"),
    (405, "GET not allowed: Twilio webhooks here are POST"),
    (400, "missing MessageSid"),
]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def _rank(status: str) -> int:
    from receiver import statuses

    return statuses.rank(status)


class Generator:
    """Rows for messages, events and requests; events are produced per message as it is generated."""

    def __init__(self, messages: int, events: int, requests: int, seed: int) -> None:
        self.messages = messages
        self.events_target = events
        self.requests = requests
        self.rng = random.Random(seed)
        self.now = time.time()
        self.start = self.now - DAYS * 86400
        self.events: list[tuple[Any, ...]] = []
        self.sids_sample: list[str] = []
        self.ranks = {
            s: _rank(s) for s in ("queued", "sent", "delivered", "read", "undelivered", "failed", "received")
        }

    def message_rows(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        # Outbound messages average ~3.09 events with the weights above, inbound ones 1: the inbound share
        # makes the mean hit events/messages; above 3.09, extra receipts (an EventType) make up the rest.
        want = self.events_target / max(1, self.messages)
        inbound_share = min(0.5, max(0.0, (NATURAL_MEAN - want) / (NATURAL_MEAN - 1)))
        extra = max(0.0, want - NATURAL_MEAN)
        for i in range(self.messages):
            t0 = self.start + (self.now - self.start) * (i / self.messages) + rng.random() * 30
            sid_prefix = "SM"
            inbound = rng.random() < inbound_share
            whatsapp = rng.random() < 0.25
            channel = "whatsapp" if whatsapp else "sms"
            media = 0
            if not whatsapp and rng.random() < 0.06:
                channel, sid_prefix, media = "mms", "MM", 1
            sid = f"{sid_prefix}{rng.getrandbits(128):032x}"
            customer = f"+1{rng.randrange(2_000_000_000, 9_999_999_999)}"
            if whatsapp:
                customer = "whatsapp:" + customer
            ours = rng.choice(SENDERS["whatsapp" if whatsapp else "sms"])
            error = None
            if inbound:
                path, direction, source = ["received"], "inbound", "inbound"
                from_addr, to_addr = customer, ours
                body = rng.choice(REPLIES)
                service = None
            else:
                paths, weights = (
                    (WHATSAPP_PATHS, WHATSAPP_WEIGHTS) if whatsapp else (OUTBOUND_PATHS, OUTBOUND_WEIGHTS)
                )
                path, codes = rng.choices(paths, weights)[0]
                error = rng.choice(codes) if codes else None
                direction, source = "outbound", rng.choices(["callback", "api"], [0.8, 0.2])[0]
                from_addr, to_addr = ours, customer
                body = rng.choice(BODIES).format(n=rng.randrange(100000, 999999), m=rng.randrange(60))
                service = rng.choice(SERVICES)
            t = t0
            times = []
            for _ in path:
                times.append(t)
                t += rng.uniform(0.2, 8.0)
            events = self._events_for(sid, path, times, error, channel, from_addr, to_addr, inbound)
            if extra and rng.random() < extra:
                events += self._events_for(
                    sid,
                    ["delivered"],
                    [t],
                    None,
                    channel,
                    from_addr,
                    to_addr,
                    False,
                    event_type="DELIVERY_RECEIPT_RETRY",
                )
            self.events.extend(events)
            status = path[-1]
            if len(self.sids_sample) < 20000 and rng.random() < 0.05:
                self.sids_sample.append(sid)
            yield (
                sid,
                direction,
                channel,
                from_addr,
                to_addr,
                body,
                status,
                self.ranks[status],
                error,
                service,
                ACCOUNT,
                1 if len(body) < 160 else 2,
                media,
                f"-0.00{rng.randrange(5, 9)}0" if not inbound else None,
                "USD" if not inbound else None,
                "Customer" if whatsapp and inbound else None,
                None,
                None,
                _iso(t0),
                _iso(times[-1]),
                len(events),
                source,
            )

    def _events_for(
        self,
        sid: str,
        path: list[str],
        times: list[float],
        error: int | None,
        channel: str,
        from_addr: str,
        to_addr: str,
        inbound: bool,
        event_type: str | None = None,
    ) -> list[tuple[Any, ...]]:
        out = []
        for status, t in zip(path, times, strict=True):
            code = error if status in ("undelivered", "failed") else None
            payload: dict[str, str] = {
                "MessageSid": sid,
                "SmsSid": sid,
                "AccountSid": ACCOUNT,
                "From": from_addr,
                "To": to_addr,
                "ApiVersion": "2010-04-01",
            }
            if inbound:
                payload["SmsStatus"] = status
            else:
                payload["MessageStatus"] = payload["SmsStatus"] = status
            if code:
                payload["ErrorCode"] = str(code)
            if channel == "whatsapp":
                payload["ChannelPrefix"] = "whatsapp"
            if event_type:
                payload["EventType"] = event_type
            token = f"{self.rng.getrandbits(64):016x}-{status}" if not inbound else None
            out.append(
                (
                    sid,
                    status,
                    code,
                    event_type,
                    f"{sid}|{status}|{event_type or ''}",
                    token,
                    None,
                    None,
                    _iso(t),
                    None,
                    json.dumps(payload),
                )
            )
        return out

    def request_rows(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        headers = json.dumps(
            {
                "Host": "example.ngrok.app",
                "User-Agent": "TwilioProxy/1.1",
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": "[signature]",
            }
        )
        for i in range(self.requests):
            t = self.start + (self.now - self.start) * (i / max(1, self.requests))
            roll = rng.random()
            sid = rng.choice(self.sids_sample) if self.sids_sample else None
            kind = "status"
            path = "/twilio/status"
            if roll < 0.90:
                outcome, http, reason = "accepted", 204, ""
            elif roll < 0.96:
                outcome, http, reason = "duplicate", 204, "already stored (duplicate delivery)"
            else:
                outcome = "rejected"
                http, reason = rng.choice(REJECT_REASONS)
                if http in (404, 405):
                    path, kind, sid = "/favicon.ico" if http == 404 else "/twilio/status", "other", None
            body = f"MessageSid={sid}&MessageStatus=delivered&AccountSid={ACCOUNT}" if sid else ""
            yield (
                _iso(t),
                "POST" if http != 405 else "GET",
                path,
                "",
                "54.172.60.1 via 127.0.0.1",
                headers,
                body,
                len(body),
                "application/x-www-form-urlencoded",
                kind,
                outcome,
                http,
                reason,
                round(rng.lognormvariate(1.0, 0.6), 3),
                sid,
            )


def _insert(conn: sqlite3.Connection, table: str, ncols: int, rows: list[tuple[Any, ...]], cols: str) -> None:
    conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * ncols)})", rows)


MESSAGE_COLS = (
    "sid, direction, channel, from_addr, to_addr, body, status, status_rank, error_code, "
    "messaging_service_sid, account_sid, num_segments, num_media, price, price_unit, profile_name, "
    "channel_status_message, raw_dlr_done_date, first_seen, updated_at, event_count, source"
)
EVENT_COLS = (
    "message_sid, status, error_code, event_type, event_key, idempotency_token, channel_status_message, "
    "raw_dlr_done_date, received_at, request_id, payload"
)
REQUEST_COLS = (
    "received_at, method, path, query, remote_addr, headers, body, body_size, content_type, kind, "
    "outcome, http_status, reason, latency_ms, message_sid"
)


def build(out: Path, messages: int, events: int, requests: int, seed: int) -> dict[str, Any]:
    from receiver.store import Store

    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(out) + suffix).unlink(missing_ok=True)
    Store(out).close()  # creates the file and runs the real migrations
    conn = sqlite3.connect(out, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MB
    conn.execute("PRAGMA temp_store = MEMORY")
    tables = ("messages", "events", "requests")
    indexes = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
        f"({', '.join('?' * len(tables))})",
        tables,
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX [{name}]")
    gen = Generator(messages, events, requests, seed)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    chunk: list[tuple[Any, ...]] = []
    for row in gen.message_rows():
        chunk.append(row)
        if len(chunk) >= CHUNK:
            _insert(conn, "messages", 22, chunk, MESSAGE_COLS)
            chunk.clear()
        if len(gen.events) >= CHUNK:
            _insert(conn, "events", 11, gen.events, EVENT_COLS)
            gen.events.clear()
    _insert(conn, "messages", 22, chunk, MESSAGE_COLS)
    _insert(conn, "events", 11, gen.events, EVENT_COLS)
    gen.events.clear()
    conn.execute("COMMIT")
    timings["messages+events"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    conn.execute("BEGIN")
    rows = list(gen.request_rows())
    _insert(conn, "requests", 15, rows, REQUEST_COLS)
    conn.execute("COMMIT")
    timings["requests"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    for _, sql in indexes:
        conn.execute(sql)
    timings["indexes"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    timings["analyze+wal"] = time.perf_counter() - t3
    check = sqlite3.connect(out)
    counts = {t: check.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    check.close()
    return {"timings": timings, "counts": counts, "indexes": len(indexes)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=3_000_000, help="approximate: status paths decide the rest")
    p.add_argument("--requests", type=int, default=50_000, help="rows in the request log")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="database file to (re)create")
    args = p.parse_args(argv)
    out = Path(args.out)
    print(
        f"Building {out}: {args.messages:,} messages, ~{args.events:,} events, {args.requests:,} requests "
        f"over {DAYS} days (seed {args.seed}) on {os.cpu_count()} cores…",
        flush=True,
    )
    started = time.perf_counter()
    result = build(out, args.messages, args.events, args.requests, args.seed)
    total = time.perf_counter() - started
    for name, secs in result["timings"].items():
        print(f"  {name:<16} {secs:7.1f} s")
    counts = result["counts"]
    size = out.stat().st_size
    print(
        f"  rows: messages {counts['messages']:,}, events {counts['events']:,}, "
        f"requests {counts['requests']:,} ({result['indexes']} secondary indexes rebuilt)"
    )
    print(f"Done in {total:.1f} s; file size {_common.human_size(size)} ({size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
