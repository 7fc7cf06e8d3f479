"""Soak: signed status callbacks at a steady rate against ``callback-monitor serve``, for minutes.

What it answers (issue #8): does the receiver hold a campaign's sustained load without its storage
growing out of bounds? Goals: WAL ≤ 64 MB all along, ≤ 1.5 KB per callback at rest, p99 ≤ 50 ms, and
every acknowledged callback in the database at the end.

The load is open-loop: request *i* is due at ``start + i / rate`` whatever happened to the ones before,
and its latency counts from that due time, so a server stall shows up as latency instead of quietly
slowing the sender (no coordinated omission). ``--connections`` keep-alive connections share the
schedule. The requests are those of ``bench/receiver.py`` (signed with twilio's ``RequestValidator``
over the public URL, two callbacks per message, failures with real error codes, 20% WhatsApp), built one
second at a time so a long soak does not hold them all in memory.

Every ``--report-every`` seconds (default 60) one line: callbacks accepted per second in that period,
p50/p99 latency, WAL and DB file sizes, DB bytes per stored callback, and the server's RSS. At the end the
server gets SIGTERM, and the database is checked: every (MessageSid, status) answered 2xx must have its
event and its message, and the bytes per callback are measured again on the closed, checkpointed file.

Team mode (docs/TEAM.md): ``--store postgresql://USER@HOST:PORT/DB`` soaks ``serve --store URL`` on that
database (its password from PGPASSWORD, as the app takes it); ``--pg`` does the same on a throw-away
cluster started here (tests/pg/cluster.py, through bench/receiver.py's ``TeamDatabase``: fsync and
synchronous_commit on, a fresh database) -- a flag of its own rather than a magic ``--store`` value, so a
URL is always a URL and the default run stays SQLite's. Per period: WAL written by the server in the period
(``pg_wal_lsn_diff`` of ``pg_current_wal_lsn()``; server-wide, so other databases' writes count on a
shared server), ``pg_database_size``, the messages/events/requests tables' total sizes (with their
indexes and TOAST), the database's growth per acknowledged callback, dead tuples of ``messages`` (each
final status updates its row: does autovacuum keep up?) and its autovacuum runs, and the receiver's RSS.
Goals: p99 ≤ 50 ms in every period, nothing lost (bench/receiver.py's check of every 2xx in PostgreSQL).
The bytes per callback at rest (after SIGTERM and a ``VACUUM``) are a figure, not a goal: PostgreSQL's
row overhead is not SQLite's.

    .venv/bin/python bench/soak.py                          # 300/s for 10 minutes
    .venv/bin/python bench/soak.py --rate 300 --minutes 3 --report-every 30
    .venv/bin/python bench/soak.py --serve-args="--synchronous FULL"
    .venv/bin/python bench/soak.py --pg --minutes 5         # a throw-away PostgreSQL cluster
    PGPASSWORD=… .venv/bin/python bench/soak.py --store postgresql://cm@db.lan:5432/callbacks
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import _common

_common.use_repo_root()

GOAL_WAL = 64 * 1024 * 1024
GOAL_BYTES_PER_CALLBACK = 1536
GOAL_P99_MS = 50.0


def _bench_receiver() -> ModuleType:
    """bench/receiver.py (its request builder, server wrapper and DB check), loaded under another name:
    as ``receiver`` it would shadow the package."""
    spec = importlib.util.spec_from_file_location("bench_receiver", _common.BENCH_DIR / "receiver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_receiver"] = module
    spec.loader.exec_module(module)
    return module


br = _bench_receiver()


@dataclass
class Period:
    """What the connections saw since the last report (guarded by ``Load.lock``)."""

    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    failed: int = 0


class Load:
    """The open-loop schedule and its connections."""

    def __init__(self, port: int, rate: float, seconds: float, connections: int) -> None:
        self.port = port
        self.rate = rate
        self.total = int(rate * seconds)
        self.connections = connections
        self.lock = threading.Lock()
        self.next_index = 0
        self.period = Period()
        self.acked: list[tuple[str, str]] = []
        self.non_2xx: dict[int, int] = {}
        self.errors = 0
        self.tag = int(time.time()) & 0xFFFFFFFF
        self._chunks: dict[int, tuple[list[bytes], list[tuple[str, str]]]] = {}
        self.start = time.monotonic() + 0.5

    def _request(self, i: int) -> tuple[bytes, tuple[str, str]]:
        """Request ``i`` (built with its second's batch, on first use); caller holds the lock."""
        per = max(2, int(self.rate) // 2 * 2)
        chunk_no, offset = divmod(i, per)
        chunk = self._chunks.get(chunk_no)
        if chunk is None:
            for old in [k for k in self._chunks if k < chunk_no - 1]:
                del self._chunks[old]
            chunk = self._chunks[chunk_no] = br.make_requests(
                self.tag, chunk_no, per, f"127.0.0.1:{self.port}"
            )
        return chunk[0][offset], chunk[1][offset]

    def _take(self) -> tuple[int, bytes, tuple[str, str]] | None:
        with self.lock:
            i = self.next_index
            if i >= self.total:
                return None
            self.next_index += 1
            raw, key = self._request(i)
        return i, raw, key

    def run_connection(self) -> None:
        sock: socket.socket | None = None
        buf = bytearray()
        while (job := self._take()) is not None:
            i, raw, key = job
            due = self.start + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the sender, not waiting for a result
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                    buf.clear()
                sock.sendall(raw)
                while (end := br._response_end(buf)) is None:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("server closed the connection")
                    buf += data
                status, used, closes = end
                del buf[:used]
                if closes:
                    sock.close()
                    sock = None
            except OSError:
                if sock is not None:
                    sock.close()
                sock = None
                with self.lock:
                    self.errors += 1
                    self.period.failed += 1
                continue
            latency = (time.monotonic() - due) * 1000.0
            with self.lock:
                self.period.latencies.append(latency)
                if 200 <= status < 300:
                    self.period.accepted += 1
                    self.acked.append(key)
                else:
                    self.period.failed += 1
                    self.non_2xx[status] = self.non_2xx.get(status, 0) + 1
        if sock is not None:
            sock.close()

    def take_period(self) -> Period:
        with self.lock:
            period, self.period = self.period, Period()
        return period


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _stored_callbacks(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def _table_sizes(db: Path) -> list[tuple[str, int]]:
    """Bytes per table or index (SQLite's dbstat), largest first; empty when dbstat is not built in."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    return [(str(name), int(size)) for name, size in rows]


def _start_load(port: int, args: argparse.Namespace) -> tuple[Load, list[threading.Thread]]:
    load = Load(port, args.rate, args.minutes * 60.0, args.connections)
    threads = [threading.Thread(target=load.run_connection, daemon=True) for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    return load, threads


def _run_periods(
    load: Load,
    threads: list[threading.Thread],
    every: float,
    report: Callable[[float, float, Period, list[float]], None],
    sample: Callable[[], None] | None = None,
) -> None:
    """Until the load is done: ``sample()`` every 0.2 s, ``report(now, span, period, sorted latencies)``
    every ``every`` seconds and once at the end."""
    next_report = load.start + every
    period_start = load.start
    while True:
        alive = any(t.is_alive() for t in threads)
        now = time.monotonic()
        if sample is not None:
            sample()
        if now >= next_report or not alive:
            period = load.take_period()
            report(now, max(1e-9, now - period_start), period, sorted(period.latencies))
            period_start, next_report = now, now + every
        if not alive:
            break
        time.sleep(0.2)  # sampling the WAL size between report lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=300.0, help="callbacks per second (default 300)")
    ap.add_argument("--minutes", type=float, default=10.0, help="duration (default 10)")
    ap.add_argument("--report-every", type=float, default=60.0, help="seconds between report lines")
    ap.add_argument("--connections", type=int, default=16, help="keep-alive connections sharing the load")
    ap.add_argument("--db", help="database file (default: a new one in a temporary folder)")
    ap.add_argument(
        "--store",
        metavar="URL",
        help="soak a team database instead: serve --store URL (postgresql://, password from PGPASSWORD)",
    )
    ap.add_argument(
        "--pg",
        action="store_true",
        help="soak a team database on a throw-away PostgreSQL cluster started here",
    )
    ap.add_argument("--serve-args", default="", help="extra arguments for `callback-monitor serve`")
    args = ap.parse_args(argv)
    if args.store or args.pg:
        return _soak_pg(args)

    workdir = Path(tempfile.mkdtemp(prefix="cm-soak-"))
    db = Path(args.db) if args.db else workdir / "soak.db"
    wal = db.with_name(db.name + "-wal")
    cmd = [*br.server_command("serve", db), *shlex.split(args.serve_args)]
    env = {**os.environ, "TWILIO_AUTH_TOKEN": br.TOKEN, "PYTHONUNBUFFERED": "1"}
    server = br.Server("serve", cmd, env, workdir / "serve.log")
    print(f"soak: {args.rate:.0f} callbacks/s for {args.minutes:g} min, {args.connections} connections")
    print(f"  server: {shlex.join(cmd)}")
    print(f"  database: {db}")
    load, threads = _start_load(server.port, args)

    header = (
        f"{'t (s)':>6} {'acc/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'WAL':>9} {'DB':>9} {'B/cb':>6} {'RSS':>9}"
    )
    print(header)
    worst_wal = 0
    worst_p99 = 0.0

    def sample() -> None:
        nonlocal worst_wal
        worst_wal = max(worst_wal, _size(wal))

    def report(now: float, span: float, period: Period, lat: list[float]) -> None:
        nonlocal worst_p99
        p50, p99 = _common.percentile(lat, 50), _common.percentile(lat, 99)
        worst_p99 = max(worst_p99, p99)
        stored = len(load.acked)
        db_size = _size(db)
        per = db_size / stored if stored else 0.0
        print(
            f"{now - load.start:6.0f} {period.accepted / span:7.0f} {p50:7.1f} {p99:7.1f} "
            f"{_common.human_size(_size(wal)):>9} {_common.human_size(db_size):>9} {per:6.0f} "
            f"{_common.human_size(_rss(server.proc.pid)):>9}",
            flush=True,
        )

    _run_periods(load, threads, args.report_every, report, sample)

    server.kill(signal.SIGTERM)
    check = br.check_db(db, load.acked, count_only=False)
    stored = _stored_callbacks(db)
    at_rest = _size(db) / stored if stored else 0.0
    print()
    _print_sent(load)
    print(
        f"stored: {check.events} events, {check.messages} messages, {check.requests} requests; "
        f"lost: {check.lost}"
    )
    print(
        f"at rest (after SIGTERM): DB {_common.human_size(_size(db))}, WAL {_common.human_size(_size(wal))}, "
        f"{at_rest:.0f} bytes per callback"
    )
    slow_turns = [
        line
        for line in (workdir / "serve.log").read_text("utf-8", "replace").splitlines()
        if "held the writer" in line
    ]
    if slow_turns:
        print(f"  {len(slow_turns)} slow WAL restarts logged by the server, e.g. {slow_turns[-1].strip()}")
    sizes = _table_sizes(db)
    if sizes:
        print("  largest: " + ", ".join(f"{name} {size / stored:.0f} B/cb" for name, size in sizes[:8]))
    goals = [
        ("WAL ≤ 64 MB", worst_wal <= GOAL_WAL, _common.human_size(worst_wal)),
        ("≤ 1.5 KB per callback at rest", at_rest <= GOAL_BYTES_PER_CALLBACK, f"{at_rest:.0f} B"),
        ("p99 ≤ 50 ms (worst period)", worst_p99 <= GOAL_P99_MS, f"{worst_p99:.1f} ms"),
        ("nothing lost", check.lost == 0 and load.errors == 0, f"lost {check.lost}, errors {load.errors}"),
    ]
    return _print_goals(goals)


def _print_sent(load: Load) -> None:
    print(
        f"sent {load.total}, acknowledged {len(load.acked)}, "
        f"non-2xx {load.non_2xx or 0}, errors {load.errors}"
    )


def _print_goals(goals: list[tuple[str, bool, str]]) -> int:
    for name, ok, value in goals:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value}")
    return 0 if all(ok for _n, ok, _v in goals) else 1


# ---------------------------------------------------------------------------------------------- team
PG_TABLES = ("messages", "events", "requests")


@dataclass
class PgSample:
    """One look at the team database (a connection of its own, autocommit)."""

    lsn: str  # pg_current_wal_lsn()
    wal: int  # bytes of WAL written since the previous sample (pg_wal_lsn_diff)
    db_size: int  # pg_database_size
    tables: dict[str, int]  # pg_total_relation_size: heap, indexes, TOAST
    dead: int  # messages' n_dead_tup
    autovacuums: int  # messages' autovacuum_count
    updates: int  # messages' n_tup_upd: the final statuses
    hot_updates: int  # messages' n_tup_hot_upd: those that wrote no index entry


class PgProbe:
    """Samples sizes, WAL position and the messages table's dead tuples; runs the final VACUUM."""

    def __init__(self, url: str, password: str | None) -> None:
        import psycopg

        self.conn: Any = psycopg.connect(url, password=password, autocommit=True)
        self.lsn: str | None = None

    def sample(self) -> PgSample:
        sizes = ", ".join(f"pg_total_relation_size('{t}')" for t in PG_TABLES)
        row = self.conn.execute(
            f"SELECT pg_current_wal_lsn()::text, pg_wal_lsn_diff(pg_current_wal_lsn(), "
            f"coalesce(%s::pg_lsn, pg_current_wal_lsn())), pg_database_size(current_database()), {sizes}, "
            "s.n_dead_tup, s.autovacuum_count, s.n_tup_upd, s.n_tup_hot_upd FROM pg_stat_user_tables s "
            "WHERE s.relid = 'messages'::regclass",
            (self.lsn,),
        ).fetchone()
        self.lsn = str(row[0])
        n = len(PG_TABLES)
        return PgSample(
            lsn=self.lsn,
            wal=int(row[1]),
            db_size=int(row[2]),
            tables={t: int(v) for t, v in zip(PG_TABLES, row[3 : 3 + n], strict=True)},
            dead=int(row[3 + n]),
            autovacuums=int(row[4 + n]),
            updates=int(row[5 + n]),
            hot_updates=int(row[6 + n]),
        )

    def wal_stats(self) -> tuple[int, int, int]:
        """Server-wide WAL records and full-page images (pg_stat_wal) and checkpoints so far."""
        row = self.conn.execute(
            "SELECT w.wal_records, w.wal_fpi, b.checkpoints_timed + b.checkpoints_req "
            "FROM pg_stat_wal w, pg_stat_bgwriter b"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def events(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def vacuum(self) -> None:
        self.conn.execute("VACUUM (ANALYZE)")

    def close(self) -> None:
        self.conn.close()


def _soak_pg(args: argparse.Namespace) -> int:
    if args.db:
        print("error: --db names a SQLite file: give --store URL or --pg, not both", file=sys.stderr)
        return 2
    problem = br.store_problem(args.store) if args.store else None
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    team = br.TeamDatabase(args.store, fsync=True)  # --store given: that database; else a cluster here
    try:
        return _soak_team(args, team)
    finally:
        team.close()  # the throw-away cluster: stopped and deleted


def _soak_team(args: argparse.Namespace, team: Any) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="cm-soak-"))
    url = team.for_run(1)
    cmd = [*br.server_command("pg1", url), *shlex.split(args.serve_args)]
    env = {**os.environ, "TWILIO_AUTH_TOKEN": br.TOKEN, "PYTHONUNBUFFERED": "1"}
    if team.password:
        env["PGPASSWORD"] = team.password  # as an operator gives it: never in the URL
    server = br.Server("serve", cmd, env, workdir / "serve.log")
    probe = PgProbe(url, team.password)
    try:
        return _soak_team_run(args, team, url, cmd, server, probe)
    finally:
        server.kill(signal.SIGTERM)
        probe.close()


def _soak_team_run(
    args: argparse.Namespace, team: Any, url: str, cmd: list[str], server: Any, probe: PgProbe
) -> int:
    print(f"soak: {args.rate:.0f} callbacks/s for {args.minutes:g} min, {args.connections} connections")
    print(f"  server: {shlex.join(cmd)}")
    where = (
        f"a throw-away cluster here (port {team.cluster.port}, fsync on, synchronous_commit on)"
        if team.cluster is not None
        else "given (WAL figures are server-wide: other databases' writes count too)"
    )
    print(f"  team database: {url} -- {where}")
    base = probe.sample()
    events0 = probe.events()
    wal0 = probe.wal_stats()
    ckpt0 = wal0[2]
    rss0 = _rss(server.proc.pid)
    load, threads = _start_load(server.port, args)
    w = 9
    header = (
        f"{'t (s)':>6} {'acc/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'WAL/per':>{w}} {'DB':>{w}} "
        f"{'messages':>{w}} {'events':>{w}} {'requests':>{w}} {'B/cb':>6} {'dead':>7} {'av':>3} {'ck':>3} "
        f"{'RSS':>{w}}"
    )
    print(header)
    hs = _common.human_size
    worst_p99 = 0.0
    wal_total = 0
    worst_wal = 0
    worst_dead = 0
    last = base

    def report(now: float, span: float, period: Period, lat: list[float]) -> None:
        nonlocal worst_p99, wal_total, worst_wal, worst_dead, last
        p50, p99 = _common.percentile(lat, 50), _common.percentile(lat, 99)
        worst_p99 = max(worst_p99, p99)
        s = last = probe.sample()
        wal_total += s.wal
        worst_wal = max(worst_wal, s.wal)
        worst_dead = max(worst_dead, s.dead)
        stored = len(load.acked)
        per = (s.db_size - base.db_size) / stored if stored else 0.0
        print(
            f"{now - load.start:6.0f} {period.accepted / span:7.0f} {p50:7.1f} {p99:7.1f} {hs(s.wal):>{w}} "
            f"{hs(s.db_size):>{w}} "
            + " ".join(f"{hs(s.tables[t]):>{w}}" for t in PG_TABLES)
            + f" {per:6.0f} {s.dead:7d} {s.autovacuums - base.autovacuums:3d}"
            f" {probe.wal_stats()[2] - ckpt0:3d}"
            f" {hs(_rss(server.proc.pid)):>{w}}",
            flush=True,
        )

    _run_periods(load, threads, args.report_every, report)
    rss_end = _rss(server.proc.pid)

    server.kill(signal.SIGTERM)
    check = br.check_team_db(url, team.password, load.acked)
    stored = check.events - events0
    before = probe.sample()
    wal_total += before.wal
    records, fpi, checkpoints = (b - a for a, b in zip(wal0, probe.wal_stats(), strict=True))
    probe.vacuum()
    rest = probe.sample()
    grew = rest.db_size - base.db_size
    tables_grew = sum(rest.tables.values()) - sum(base.tables.values())
    print()
    _print_sent(load)
    print(
        f"stored: {check.events} events, {check.messages} messages, {check.requests} requests "
        f"({stored} events this run); lost: {check.lost}"
    )
    print(
        f"WAL written: {hs(wal_total)} in all, {wal_total / stored if stored else 0:.0f} B per callback, "
        f"worst period {hs(worst_wal)}; {records} records, {fpi} full-page images "
        f"(≤ {hs(fpi * 8192)}), {checkpoints} checkpoints (pg_stat_wal, server-wide)"
    )
    print(
        f"dead tuples in messages: worst {worst_dead} at a report, {before.dead} after SIGTERM, "
        f"{rest.dead} after VACUUM; autovacuum runs on messages: {rest.autovacuums - base.autovacuums}; "
        f"updates {rest.updates - base.updates}, HOT {rest.hot_updates - base.hot_updates}"
    )
    print(
        f"at rest (after SIGTERM and VACUUM): DB {hs(rest.db_size)} (grew {hs(grew)}), "
        f"{grew / stored if stored else 0:.0f} bytes per callback; the three tables "
        f"{tables_grew / stored if stored else 0:.0f} B/cb: "
        + ", ".join(
            f"{t} {(rest.tables[t] - base.tables[t]) / stored if stored else 0:.0f}" for t in PG_TABLES
        )
    )
    print(f"receiver RSS: {hs(rss0)} at the start, {hs(rss_end)} at the end")
    if team.cluster is not None:  # PostgreSQL 15 logs its checkpoints: how long their writes and fsyncs took
        for line in team.cluster.log.read_text("utf-8", "replace").splitlines():
            if "checkpoint complete" in line:
                print("  cluster log: " + line.split("LOG:", 1)[-1].strip())
    goals = [
        ("p99 ≤ 50 ms (worst period)", worst_p99 <= GOAL_P99_MS, f"{worst_p99:.1f} ms"),
        ("nothing lost", check.lost == 0 and load.errors == 0, f"lost {check.lost}, errors {load.errors}"),
    ]
    return _print_goals(goals)


if __name__ == "__main__":
    sys.exit(main())
