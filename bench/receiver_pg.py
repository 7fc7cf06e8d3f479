"""Receivers on PostgreSQL: one and two ``serve --store postgresql://…`` against the bare waitress hello
world, in the same run (issue #13).

Same load as bench/receiver.py (its load generator and its signed, unique status callbacks, no
duplicates). ``pg2`` runs two ``serve`` processes on one database, each taking half of the connections
(as behind a load balancer); its rate is the sum. After each run the receivers are killed with SIGKILL
and the database is read: every callback that got a 2xx must have its event and its message row.

The server is a throw-away cluster started here (tests/pg/cluster.py: Debian's PostgreSQL, fsync on,
synchronous_commit on) on the same machine, so it competes for the same cores as the receivers and the
load generator: compare the targets within one run only.

    python bench/receiver_pg.py --seconds 5 --connections 32 --targets hello,pg1,pg2
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common

_common.use_repo_root()

import psycopg  # noqa: E402 - after the path fix-up

from tests.pg.cluster import PASSWORD, Cluster  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_receiver", _common.BENCH_DIR / "receiver.py")
assert _spec is not None and _spec.loader is not None
rb: Any = importlib.util.module_from_spec(_spec)
sys.modules["bench_receiver"] = rb
_spec.loader.exec_module(rb)

TARGETS = ("hello", "sqlite", "pg1", "pg2")  # sqlite: the embedded default (serve --db), for reference


@dataclass
class Result:
    target: str
    conns: int
    rate: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    acked: int
    lost: int | None
    errors: list[str]


def serve_command(url: str) -> list[str]:
    return [
        sys.executable, "-m", "receiver", "serve", "--host", "127.0.0.1", "--port", "0",
        "--public-url", rb.PUBLIC_URL, "--store", url,
    ]  # fmt: skip


def loads(ports: list[int], conns: int, args: argparse.Namespace) -> list[Any]:
    """One load per port, at the same time, the connections and client processes shared out."""
    out: list[Any] = [None] * len(ports)
    share = max(1, conns // len(ports))
    clients = max(1, args.clients // len(ports))

    def drive(i: int) -> None:
        out[i] = rb.run_python_load(ports[i], share, clients, args.seconds, None, args.warmup, args.max_rate)

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(ports))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def lost_callbacks(url: str, acked: list[tuple[str, str]]) -> int:
    """Acknowledged (sid, status) pairs without their event or message row."""
    with psycopg.connect(url, password=PASSWORD) as conn:
        conn.execute("CREATE TEMP TABLE acked (sid text, status text)")
        with conn.cursor() as cur, cur.copy("COPY acked FROM STDIN") as copy:
            for row in acked:
                copy.write_row(row)
        row = conn.execute(
            "SELECT count(*) FROM acked a WHERE NOT EXISTS "
            "(SELECT 1 FROM events e WHERE e.event_key = a.sid || '|' || a.status || '|') "
            "OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.sid = a.sid)"
        ).fetchone()
    assert row is not None
    return int(row[0])


def one_run(target: str, conns: int, args: argparse.Namespace, cluster: Cluster, workdir: Path) -> Result:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{target}-", dir=workdir))
    env = dict(os.environ, TWILIO_AUTH_TOKEN=rb.TOKEN, CALLBACK_MONITOR_HOME=str(run_dir / "home"))
    env["PGPASSWORD"] = PASSWORD  # the receivers' password, as an operator would give it
    url = ""
    db = run_dir / "bench.db"
    if target in ("hello", "sqlite"):
        commands = [rb.server_command("serve" if target == "sqlite" else "hello", db)]
    else:
        name = f"bench_{target}_{int(time.time() * 1000)}"
        cluster.admin(f"CREATE DATABASE {name}")
        url = cluster.url(name)
        commands = [serve_command(url)] * (2 if target == "pg2" else 1)
    servers = [rb.Server(target, cmd, env, run_dir / f"server{i}.log") for i, cmd in enumerate(commands)]
    try:
        results = loads([s.port for s in servers], conns, args)
    finally:
        for server in servers:
            server.kill()  # SIGKILL: the check below proves every 2xx was committed
    acked = [key for r in results for key in r.acked]
    lost = (
        None
        if target == "hello"
        else lost_callbacks(url, acked)
        if url
        else rb.check_db(db, acked, False).lost
    )
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return Result(
        target,
        conns,
        rate=sum(r.rate for r in results),
        p50_ms=max(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        acked=len(acked),
        lost=lost,
        errors=[e for r in results for e in r.errors][:3],
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", default="32", help="comma-separated concurrent connections (32)")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds at the start of each run not counted")
    p.add_argument("--repeat", type=int, default=1, help="runs per (connections, target)")
    p.add_argument("--targets", default="hello,pg1,pg2", help="comma-separated: " + ", ".join(TARGETS))
    p.add_argument("--clients", type=int, default=2, help="load-generator processes")
    p.add_argument("--max-rate", type=int, default=12000, help="requests pre-generated per second of run")
    p.add_argument("--keep", action="store_true", help="keep the run folders (server logs)")
    p.add_argument(
        "--no-fsync",
        action="store_true",
        help="run the cluster with fsync=off (NOT durable): separates the disk's WAL flush time from the "
        "receivers' own cost; the 'lost' check then only proves what the server acknowledged",
    )
    args = p.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if any(t not in TARGETS for t in targets):
        p.error(f"targets are {', '.join(TARGETS)}")
    conn_list = [int(c) for c in args.connections.split(",") if c.strip()]
    print(
        f"PostgreSQL receivers: {', '.join(targets)} x connections {conn_list} x {args.repeat}, "
        f"{args.seconds:g} s (+{args.warmup:g} s warm-up) each; {os.cpu_count()} cores shared by the "
        "receivers, PostgreSQL and the load generator: compare within one run"
    )
    cluster = Cluster()
    cluster.start(fsync=not args.no_fsync)
    print(f"cluster: fsync={'off (not durable)' if args.no_fsync else 'on'}, synchronous_commit=on")
    rows: list[Result] = []
    ok = True
    try:
        with tempfile.TemporaryDirectory(prefix="cm-bench-pg-") as tmp:
            for conns in conn_list:
                for _ in range(args.repeat):
                    for target in targets:
                        row = one_run(target, conns, args, cluster, Path(tmp))
                        rows.append(row)
                        lost = "-" if row.lost is None else str(row.lost)
                        print(
                            f"  {row.target:6} conns={conns:3}  {row.rate:8.0f} req/s"
                            f"  p50 {row.p50_ms:6.1f} ms  p99 {row.p99_ms:6.1f} ms"
                            f"  non-2xx {row.non_2xx}  2xx {row.acked}  lost {lost}"
                            + (f"  errors: {row.errors}" if row.errors else "")
                        )
                        ok = ok and row.non_2xx == 0 and not row.lost
    finally:
        cluster.destroy()
    print("\nsummary (best run per target; ratio to hello in the same run):")
    for conns in conn_list:
        best = {
            t: max((r.rate for r in rows if r.target == t and r.conns == conns), default=0.0) for t in targets
        }
        hello = best.get("hello") or 0.0
        for t in targets:
            ratio = f"{best[t] / hello:.2f}x" if hello else "-"
            print(f"  conns={conns:3} {t:6} {best[t]:8.0f} req/s  {ratio}")
    print("OK: no non-2xx, nothing lost" if ok else "FAILED: non-2xx answers or lost callbacks (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
