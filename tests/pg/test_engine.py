"""Group commit on PostgreSQL between two receivers: a deadlock between their batches is run again, not
answered 503."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg

from receiver.store.pg.connection import connect
from receiver.store.pg.engine import Conn, PgGroupCommit
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget


def test_two_receivers_whose_batches_deadlock_both_commit_once_one_batch_run_again(
    pg_target: PostgresTarget,
) -> None:
    """Each batch updates two messages in opposite orders (as one Event Streams delivery naming several
    messages can): PostgreSQL aborts one of them; its batch runs again after the other committed."""
    PgStore(pg_target).close()  # the schema
    with psycopg.connect(pg_target.url, autocommit=True) as conn:
        for sid in ("SMa", "SMb"):
            conn.execute(
                "INSERT INTO messages (sid, direction, channel, status, status_rank, first_seen, updated_at, "
                "event_count) VALUES (%s, 'outbound', 'sms', 'sent', 3, 't', 't', 0)",
                (sid,),
            )
    both_hold_one = threading.Barrier(2, timeout=30)

    def job(first: str, second: str) -> Callable[[Conn], int]:
        attempts = 0

        def fn(conn: Conn) -> int:
            nonlocal attempts
            attempts += 1
            conn.execute("UPDATE messages SET event_count = event_count + 1 WHERE sid = %s", (first,))
            if attempts == 1:
                both_hold_one.wait()  # each holds one row and now wants the other's
            conn.execute("UPDATE messages SET event_count = event_count + 1 WHERE sid = %s", (second,))
            return attempts

        return fn

    engines = [PgGroupCommit(lambda: connect(pg_target), lambda: None, lambda exc: None) for _ in range(2)]
    results: list[int] = []
    errors: list[BaseException] = []

    def run(engine: PgGroupCommit, first: str, second: str) -> None:
        try:
            results.append(engine.run(job(first, second)))
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(engines[0], "SMa", "SMb")),
        threading.Thread(target=run, args=(engines[1], "SMb", "SMa")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.close()

    assert errors == []
    assert len(results) == 2 and max(results) >= 2  # run again (more than once, if it lost the race again)
    assert sum(e.retried_batches for e in engines) >= 1
    with psycopg.connect(pg_target.url) as conn:
        counts = conn.execute("SELECT sid, event_count FROM messages ORDER BY sid").fetchall()
    assert counts == [("SMa", 2), ("SMb", 2)]  # each update once per committed job, none twice
