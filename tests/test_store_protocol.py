"""One protocol for a writer (receiver/store/protocol.py): SQLite's ``Store`` and PostgreSQL's ``PgStore``
both are a ``WriterStore`` (mypy checks the assignment of ``WRITERS``: ``make lint``), with the same
arguments for every method; and a database failure leaves either as a ``StoreError``, never as its
driver's error."""

from __future__ import annotations

import inspect
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from receiver.app import ReceiverConfig, create_app
from receiver.callbacks import parse
from receiver.store import RequestRecord, Store, StoreError, StoreUnavailable
from receiver.store.pg.store import PgStore
from receiver.store.protocol import WriterStore
from tests.receiver_helpers import PUBLIC, TOKEN, post, sid, status_params

# mypy strict proves here that both writers are a ``WriterStore``
WRITERS: tuple[type[WriterStore], ...] = (Store, PgStore)

PROTOCOL_METHODS = sorted(
    name for name, member in vars(WriterStore).items() if callable(member) and not name.startswith("_")
)


@pytest.mark.parametrize("name", PROTOCOL_METHODS)
def test_both_writers_take_the_same_arguments(name: str) -> None:
    expected = inspect.signature(getattr(WriterStore, name)).parameters
    for writer in WRITERS:
        got = inspect.signature(getattr(writer, name)).parameters
        assert list(got) == list(expected), (writer.__name__, name)
        defaults = [(p.name, p.default) for p in got.values()]
        assert defaults == [(p.name, p.default) for p in expected.values()], (writer.__name__, name)


def test_a_locked_database_is_a_store_error_and_the_callback_a_503(tmp_path: Path) -> None:
    """Another program holds SQLite's write lock: the writer raises ``StoreUnavailable`` (its cause the
    driver's "database is locked"), and the receiver answers the callback 503 (Twilio retries)."""
    db = tmp_path / "locked.db"
    store = Store(db)
    try:
        store.run(lambda conn: conn.execute("PRAGMA busy_timeout = 0"))  # fail at once, not in 5 s
        with closing(sqlite3.connect(db, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            req = RequestRecord(path="/twilio/status", kind="status", http_status=200)
            cb = parse("status", list(status_params(sid(), "sent").items()), None)
            with pytest.raises(StoreUnavailable, match="database is locked") as caught:
                store.record_callback(cb, req)
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)

            client = create_app(store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)).test_client()
            resp = post(client, "/twilio/status", status_params(sid(), "delivered"))
            assert resp.status_code == 503
            other.execute("ROLLBACK")
        assert post(client, "/twilio/status", status_params(sid(), "delivered")).status_code == 200
    finally:
        store.close()


def test_a_job_that_breaks_a_constraint_is_a_store_error_with_the_drivers_cause(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as store, pytest.raises(StoreError) as caught:
        store.run(lambda conn: conn.execute("INSERT INTO messages (sid) VALUES ('x')"))  # NOT NULL columns
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)


def test_a_bug_in_a_job_stays_itself(tmp_path: Path) -> None:
    """Not a database failure: the receiver must answer it 500 (a bug), not 503 (come back later)."""

    def broken(conn: sqlite3.Connection) -> None:
        raise KeyError("bug")

    with Store(tmp_path / "b.db") as store, pytest.raises(KeyError):
        store.run(broken)
