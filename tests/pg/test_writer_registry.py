"""Who writes a team database: each ``PgStore`` registers in ``writers`` when it opens, its heartbeat
moves ``last_seen`` on (and outlives a lost connection), ``announce`` says where it listens, and closing
sets ``stopped_at`` — all seen as an attached desktop sees them, through ``pg/writers.recent_writers``."""

from __future__ import annotations

import os
import socket

import psycopg

from receiver import __version__
from receiver.store.pg.store import PgStore
from receiver.store.pg.writers import WriterInfo, recent_writers
from receiver.store.url import PostgresTarget
from tests.waiting import wait_until

BEAT = 0.05  # seconds between heartbeats in these tests


def writers(target: PostgresTarget) -> list[WriterInfo]:
    with psycopg.connect(target.url, autocommit=True) as conn:
        return recent_writers(conn, "2000-01-01")


def test_a_writer_registers_beats_announces_and_stops(pg_target: PostgresTarget) -> None:
    store = PgStore(pg_target, listen="10.0.0.5:8080", heartbeat_seconds=BEAT)
    try:
        [me] = writers(pg_target)
        assert (me.id, me.host, me.pid, me.version) == (
            store.writer_id,
            socket.gethostname(),
            os.getpid(),
            __version__,
        )
        assert (me.listen, me.stopped_at) == ("10.0.0.5:8080", None)
        assert me.last_seen >= me.started_at

        wait_until(lambda: writers(pg_target)[0].last_seen > me.last_seen, what="a heartbeat")

        store.announce("10.0.0.5:9090")
        assert writers(pg_target)[0].listen == "10.0.0.5:9090"
    finally:
        store.close()
    [stopped] = writers(pg_target)
    assert stopped.stopped_at is not None and stopped.stopped_at >= stopped.last_seen


def test_two_writers_are_two_rows(pg_target: PostgresTarget) -> None:
    with PgStore(pg_target) as first, PgStore(pg_target) as second:
        assert {w.id for w in writers(pg_target)} == {first.writer_id, second.writer_id}
        assert first.writer_id != second.writer_id


def test_the_heartbeat_outlives_a_lost_connection(pg_target: PostgresTarget) -> None:
    """The server drops every connection of the receiver (a restart, a network cut): the next tick
    connects again and ``last_seen`` goes on moving."""
    with PgStore(pg_target, heartbeat_seconds=BEAT) as store:
        wait_until(lambda: store.registration.beats >= 1, what="a first heartbeat")
        with psycopg.connect(pg_target.url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name LIKE 'callback-monitor%'"
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        before = writers(pg_target)[0].last_seen
        wait_until(lambda: writers(pg_target)[0].last_seen > before, what="a heartbeat after the loss")
