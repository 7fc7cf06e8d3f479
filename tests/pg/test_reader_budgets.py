"""What the desktop relies on when it reads a team database: bounded reads (``time_limit``), reads another
thread supersedes (``interrupt``), the store's errors only, recovery after a lost connection, a worker's own
Reader (``opener``), and a connection that cannot write, with docs/TEAM.md's viewer role or any other."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from receiver.message_filter import MessageFilter, SortSpec
from receiver.store import Reader, StoreReadError, open_reader
from receiver.store.base import ReadInterrupted
from receiver.store.paging import first_page
from receiver.store.pg import writers
from receiver.store.pg.reader import PgReader
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget
from tests.pg.cluster import PASSWORD, Cluster
from tests.pg.test_roles import target, team_database  # noqa: F401 - the fixture, used by name
from tests.waiting import wait_until

SLOW = "SELECT pg_sleep(60)"  # far longer than any test may take: only a cancel ends it early
NOW = datetime.now(UTC)


@pytest.fixture
def reader(pg_target: PostgresTarget) -> Iterator[PgReader]:
    PgStore(pg_target).close()  # the schema
    opened = open_reader(pg_target)
    assert isinstance(opened, PgReader)
    yield opened
    opened.close()


def sleeping(cluster: Cluster, dbname: str) -> bool:
    with psycopg.connect(cluster.url(dbname), password=PASSWORD, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%%'"
        ).fetchone()
    return bool(row and row[0])


def still_works(reader: Reader) -> None:
    assert reader.messages_count(MessageFilter(), NOW) == 0
    assert reader.messages_page(MessageFilter(), SortSpec(), NOW, first_page(10)).rows == []


def test_a_time_limit_cancels_the_statement_on_the_server(reader: PgReader) -> None:
    with pytest.raises(ReadInterrupted), reader.time_limit(0.2):
        reader.conn.execute(SLOW)
    still_works(reader)
    with reader.time_limit(30):  # a limit that is not reached changes nothing
        still_works(reader)


def test_a_statement_started_after_the_time_limit_is_not_run(reader: PgReader) -> None:
    with pytest.raises(ReadInterrupted), reader.time_limit(0):
        reader.messages_count(MessageFilter(), NOW)
    still_works(reader)


def test_interrupt_from_another_thread_cancels_the_running_read(
    reader: PgReader, pg_cluster: Cluster, pg_target: PostgresTarget
) -> None:
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            with reader.interruptible():
                reader.conn.execute(SLOW)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=read)
    worker.start()
    wait_until(lambda: sleeping(pg_cluster, pg_target.dbname), what="the read runs on the server")
    reader.interrupt()
    worker.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], ReadInterrupted)
    with reader.interruptible():  # the next read of the lane is not hit by the earlier cancel
        still_works(reader)
    still_works(reader)


def test_an_interrupt_before_the_statement_stops_it_and_none_outside_a_block(reader: PgReader) -> None:
    with pytest.raises(ReadInterrupted), reader.interruptible():
        reader.interrupt()  # superseded between two statements: the next one must not run
        reader.messages_count(MessageFilter(), NOW)
    reader.interrupt()  # outside any block: it concerns no read
    still_works(reader)


def test_an_interrupt_never_cancels_a_statement_after_its_block(reader: PgReader) -> None:
    for _ in range(5):
        with reader.interruptible():
            reader.interrupt()  # superseded while idle: the cancel is sent all the same
        # the next read, outside any block, lasts long enough for a late cancel to land in it
        assert reader.conn.execute("SELECT pg_sleep(0.3), 1").fetchone() == ("", 1)


def test_superseded_reads_never_cancel_the_next_one(reader: PgReader) -> None:
    for _ in range(20):
        with pytest.raises(ReadInterrupted), reader.interruptible():
            reader.interrupt()
            reader.requests_top()
        with reader.interruptible():
            still_works(reader)


def test_an_interrupted_export_ends_its_snapshot(
    reader: PgReader, pg_cluster: Cluster, pg_target: PostgresTarget, tmp_path: Path
) -> None:
    pg_cluster.admin(
        "INSERT INTO requests (received_at, method, path, outcome) "
        "SELECT '2026-12-01T00:00:00.000+00:00', 'POST', '/twilio/status', 'accepted' "
        "FROM generate_series(1, 3000)",
        pg_target.dbname,
    )
    with pytest.raises(ReadInterrupted), reader.interruptible():
        reader.export_to_file(
            tmp_path / "log.csv", "requests", on_progress=lambda done, total: reader.interrupt()
        )
    assert not reader.conn.in_transaction  # else every later read would see this snapshot, or fail
    pg_cluster.admin("DELETE FROM requests", pg_target.dbname)
    assert reader.requests_top() == 0


def test_driver_errors_come_out_as_the_stores(reader: PgReader) -> None:
    with pytest.raises(StoreReadError, match="no_such_table"):
        reader.conn.execute("SELECT * FROM no_such_table")
    still_works(reader)


def test_a_lost_connection_is_a_store_error_and_the_next_read_reconnects(
    reader: PgReader, pg_cluster: Cluster, pg_target: PostgresTarget
) -> None:
    still_works(reader)
    pid = reader.conn.raw().info.backend_pid
    reader.conn.execute("BEGIN")  # lost in the middle of a snapshot (an export, a statistics refresh)
    # what a server restart or a failover does to the session: the server ends it
    pg_cluster.admin(f"SELECT pg_terminate_backend({pid})", pg_target.dbname)
    with pytest.raises(StoreReadError):
        reader.messages_count(MessageFilter(), NOW)
    assert not reader.conn.in_transaction  # else the next snapshot would not begin
    still_works(reader)
    assert reader.delivery_stats("day", NOW).outbound == 0 and not reader.conn.in_transaction
    assert reader.conn.raw().info.backend_pid != pid


class Proxy:
    """A TCP relay to the server that can stop relaying without closing anything: what a dead network
    (a cable pulled, a VPN gone) looks like to a client, which hears nothing and gets no error."""

    def __init__(self, port: int) -> None:
        self.server_port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.server_port))
            self.sockets += [client, upstream]
            frozen = self.frozen.is_set()  # a connection made while frozen never relays either
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(a, b, frozen), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket, frozen: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if frozen or self.frozen.is_set():
                    return  # swallowed: nothing is sent on, nothing is closed
                sink.sendall(data)

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def test_a_bounded_read_on_a_dead_network_gives_up_instead_of_blocking_the_gui(
    pg_cluster: Cluster, pg_target: PostgresTarget
) -> None:
    PgStore(pg_target).close()
    proxy = Proxy(pg_cluster.port)
    reader = open_reader(pg_target.url.replace(f":{pg_cluster.port}/", f":{proxy.port}/"))
    try:
        still_works(reader)
        proxy.frozen.set()
        started = time.monotonic()
        with pytest.raises(ReadInterrupted), reader.time_limit(0.05):  # the GUI thread's page budget
            reader.messages_count(MessageFilter(), NOW)
        # without the drop it waits for an answer that never comes (keepalives ACKed by the relay's host)
        assert time.monotonic() - started < 10
        proxy.frozen.clear()
        still_works(reader)  # a new connection, through the network that is back
    finally:
        reader.close()
        proxy.close()


def test_an_unreachable_database_is_a_store_read_error(pg_cluster: Cluster) -> None:
    with pytest.raises(StoreReadError, match="no_such_db"):
        open_reader(pg_cluster.url("no_such_db"))


def test_opener_gives_another_reader_on_the_same_database(reader: PgReader) -> None:
    other_opened: list[PgReader] = []
    thread = threading.Thread(target=lambda: other_opened.append(reader.opener()()))
    thread.start()
    thread.join(30)
    other = other_opened[0]
    try:
        assert isinstance(other, PgReader) and other is not reader
        assert other.conn.raw().info.backend_pid != reader.conn.raw().info.backend_pid
        still_works(other)
    finally:
        other.close()


def test_writers_names_the_receivers_seen_recently(
    reader: PgReader, pg_cluster: Cluster, pg_target: PostgresTarget
) -> None:
    assert reader.writers() == []  # a database from before the writers registry
    for statement in writers.DDL:
        pg_cluster.admin(statement, pg_target.dbname)
    seen = {"a": NOW - timedelta(seconds=5), "b": NOW - timedelta(minutes=30), "c": NOW - timedelta(days=2)}
    for name, when in seen.items():
        at = when.isoformat(timespec="milliseconds")
        pg_cluster.admin(
            "INSERT INTO writers (id, host, pid, version, listen, started_at, last_seen, stopped_at) "
            f"VALUES ('{name}', 'host-{name}', 1, '1.0', '0.0.0.0:8080', '{at}', '{at}', NULL)",
            pg_target.dbname,
        )
    found = reader.writers()
    assert [w.id for w in found] == ["a", "b"]  # most recently seen first; one gone for days is not shown
    assert found[0] == writers.WriterInfo("a", "host-a", 1, "1.0", "0.0.0.0:8080", found[0].started_at,
                                          seen["a"].isoformat(timespec="milliseconds"), None)  # fmt: skip


def test_the_reader_cannot_write_even_as_the_owner(reader: PgReader) -> None:
    with pytest.raises(StoreReadError, match="read-only transaction"):
        reader.conn.execute("DELETE FROM messages")
    still_works(reader)


def test_the_viewer_role_reads_every_view(team_database: Cluster) -> None:  # noqa: F811 - the fixture
    PgStore(target(team_database, "cm_owner")).close()  # the owner migrates
    viewer = open_reader(target(team_database, "cm_viewer"))
    try:
        still_works(viewer)
        assert viewer.requests_top() == 0
        assert viewer.message("SM" + "0" * 32) is None
        assert viewer.delivery_stats("all", NOW).outbound == 0
        assert viewer.twilio_alerts() == [] and viewer.sync_state("messages") is None
        assert viewer.error_code_counts(30003) == (0, 0)
        assert viewer.writers() == []
        assert viewer.count_export("messages") == 0
        with pytest.raises(StoreReadError):
            viewer.conn.execute("DELETE FROM messages")
    finally:
        viewer.close()
