"""``PgReader``: the SQLite ``Reader``'s public methods, read from a team database (docs/ARCHITECTURE.md,
"The store"): the same mixins and their SQL, in PostgreSQL's dialect (receiver/store/dialect.py).

What PostgreSQL changes for a reader:

- **Read-only.** Every transaction of the session is READ ONLY (and docs/TEAM.md's viewer role has SELECT
  only): a desktop cannot write a team database, whatever a bug asks.
- **Budgets.** The desktop bounds a read (``time_limit``/``interruptible``) and supersedes one from another
  thread (``interrupt``). SQLite checks a flag from its VM; here each statement of a bounded block runs
  with a timer that cancels it on the server at the deadline, and ``interrupt`` cancels the running one
  (on a thread of its own: a cancel opens a connection to the server, which must not hold up the GUI).
  A cancelled statement raises ``ReadInterrupted``; so does a statement started after the deadline or
  the interrupt, so none is lost between two statements. A cancel never outlives its block (it would stop
  a later statement), and a bounded read whose cancel gets no answer (the network is gone) drops the
  connection ``DROP_AFTER`` later instead of waiting for the keepalives.
- **A lost connection** (server restarted, network gone) raises ``StoreReadError`` and the next read
  connects again: a desktop recovers without a restart.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import psycopg.errors

from ...store_health import StoreError, StoreReadError
from ..base import ReadInterrupted, reading
from ..dialect import POSTGRES
from ..export_reads import CHUNK
from ..reader import Reader
from ..url import PostgresTarget
from .connection import connect
from .engine import Conn
from .writers import ACTIVE_SECONDS, WriterInfo, recent_writers

ROLE = "viewer"  # the application_name's role: docs/TEAM.md's cm_viewer reads with SELECT only
CANCEL_TIMEOUT = 5.0  # seconds a cancel request may take to reach the server
DROP_AFTER = 1.0  # seconds after a bounded read's deadline without an answer: the connection is dropped
# how far back the writers shown with a team database go: a receiver that stopped or vanished is still
# named (as gone) for a while, long after ACTIVE_SECONDS
WRITERS_WINDOW = timedelta(seconds=ACTIVE_SECONDS * 80)


class PgConnection:
    """A psycopg connection behind the reads' qmark SQL (``POSTGRES.sql``), with the store's errors,
    cancellation for the read budgets, and a new connection after a lost one."""

    def __init__(self, target: PostgresTarget) -> None:
        self.target = target
        self._raw: Conn | None = None
        self._stop = False  # set by interrupt(): the block's statements raise ReadInterrupted
        self._deadline = math.inf  # time.monotonic() by which the block's statements must be done
        self._blocked = False  # inside an interruptible() block: only there does interrupt() apply
        self._canceller: threading.Thread | None = None  # an interrupt's cancel under way
        self._lock = threading.Lock()  # interrupt() (any thread) against the block's start and end
        self.raw()

    # ------------------------------------------------------------------ the connection
    def raw(self) -> Conn:
        """The open connection, connecting again after a lost one (``StoreReadError`` if that fails)."""
        conn = self._raw
        if conn is None or conn.closed or conn.broken:
            try:
                conn = connect(self.target, role=ROLE)
                conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            except StoreError as exc:
                raise StoreReadError(str(exc)) from exc
            except psycopg.Error as exc:
                raise StoreReadError(str(exc).strip().splitlines()[0]) from exc
            self._raw = conn
        return conn

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()

    @property
    def in_transaction(self) -> bool:
        conn = self._raw  # a lost connection has no transaction: the next read starts afresh
        idle = (psycopg.pq.TransactionStatus.IDLE, psycopg.pq.TransactionStatus.UNKNOWN)
        return conn is not None and not conn.broken and conn.info.transaction_status not in idle

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders) within the current budget; the end of a transaction
        runs whatever the budget (an interrupted read must not leave its snapshot open)."""
        ending = sql.strip().upper() in ("COMMIT", "ROLLBACK")
        cursor: psycopg.Cursor[tuple[Any, ...]] = self.call(
            lambda conn: conn.execute(POSTGRES.sql(sql), tuple(parameters)), bounded=not ending
        )
        return cursor

    def call(self, fn: Callable[[Conn], Any], *, bounded: bool = True) -> Any:
        """``fn(connection)`` within the current budget (unless not ``bounded``), its errors as the
        store's."""
        conn = self.raw()
        if not bounded:
            with reading():
                return fn(conn)
        with reading():
            self._check()
            timers: list[threading.Timer] = []
            if self._deadline != math.inf:
                left = max(0.0, self._deadline - time.monotonic())
                # at the deadline the server is asked to cancel; if its answer never comes (the network is
                # gone: keepalives notice only after ~25 s), the connection is dropped a little later
                timers = [
                    threading.Timer(left, self._cancel, (conn,)),
                    threading.Timer(left + DROP_AFTER, _drop, (conn,)),
                ]
                for timer in timers:
                    timer.daemon = True
                    timer.start()
            try:
                result = fn(conn)
            except psycopg.Error:
                self._check()  # a cancelled statement: superseded, or out of time
                raise
            finally:
                for timer in timers:
                    timer.cancel()
                if timers and not conn.broken:
                    timers[0].join(CANCEL_TIMEOUT)  # a cancel under way lands now, never on a later statement
            if self._blocked and self._stop:  # an interrupt that came before the statement reached the server
                raise ReadInterrupted("the read was superseded")
            return result

    def _check(self) -> None:
        if self._blocked and self._stop:
            raise ReadInterrupted("the read was superseded")
        if time.monotonic() >= self._deadline:
            raise ReadInterrupted("the read's time limit passed")

    @staticmethod
    def _cancel(conn: Conn) -> None:
        with contextlib.suppress(psycopg.Error):  # nothing to cancel, or the connection is gone
            conn.cancel_safe(timeout=CANCEL_TIMEOUT)

    # ------------------------------------------------------------------ budgets
    def interrupt(self) -> None:
        """Stop the block's reads; the running statement is cancelled from a thread of its own (a cancel
        connects to the server: the caller, maybe the GUI thread, does not wait for it)."""
        with self._lock:
            self._stop = True
            conn = self._raw
            if conn is not None and self._blocked and self._canceller is None:
                self._canceller = threading.Thread(
                    target=self._cancel, args=(conn,), name="pg-cancel", daemon=True
                )
                self._canceller.start()

    @contextlib.contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """Reads in the block raise ReadInterrupted after ``interrupt()`` or once ``seconds`` passed. A
        cancel never outlives its block: it would stop whatever statement runs when it lands."""
        with self._lock:
            self._stop = False
            self._deadline = time.monotonic() + seconds if seconds != math.inf else math.inf
            self._blocked = True
        try:
            yield
        finally:
            with self._lock:
                self._blocked = False
                self._deadline = math.inf
                canceller, self._canceller = self._canceller, None
            if canceller is not None:
                canceller.join(CANCEL_TIMEOUT)


def _drop(conn: Conn) -> None:
    """Shut the connection's socket: the statement waiting on it fails at once (the connection is then
    broken and the next read connects again), where waiting for the dead network would block the thread,
    maybe the GUI's, until the keepalives give up."""
    with contextlib.suppress(OSError, psycopg.Error):
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


class PgReader(Reader):
    """A Reader on a team database, for one thread (as with SQLite: a budget belongs to one thread's
    reads). A subclass so that whatever takes a ``Reader`` takes it: it replaces every method that
    touches the SQLite connection, and its reads are the same mixins in its own dialect."""

    conn: PgConnection  # type: ignore[assignment]  # the mixins see only base.Connection's methods
    dialect = POSTGRES

    def __init__(self, conn: PgConnection) -> None:  # not Reader's: that one takes a SQLite connection
        self.conn = conn

    @classmethod
    def open(cls, target: PostgresTarget) -> PgReader:
        """``StoreReadError`` when the database cannot be reached."""
        return cls(PgConnection(target))

    def close(self) -> None:
        self.conn.close()

    def interrupt(self) -> None:
        """Stop the read running in an ``interruptible()`` block on this Reader (callable from any
        thread): it raises ReadInterrupted, even if it had not started its statement yet."""
        self.conn.interrupt()

    @contextlib.contextmanager
    def interruptible(self, seconds: float = float("inf")) -> Iterator[None]:
        """Reads inside the block raise ReadInterrupted on ``interrupt()`` or once ``seconds`` passed."""
        with self.conn.bounded(seconds):
            yield

    def time_limit(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        """Reads inside the block raise ReadInterrupted once ``seconds`` have passed."""
        return self.interruptible(seconds)

    def opener(self) -> Callable[[], PgReader]:
        """How another thread opens a Reader on the same database (call the result on that thread)."""
        target = self.conn.target
        return lambda: PgReader.open(target)

    def _stream(self, sql: str, args: tuple[Any, ...]) -> tuple[list[str], Iterator[list[Any]]]:
        """A server-side cursor (a client-side one would fetch a million-row export at once); it lives
        in a read transaction, the caller's (export_to_file's snapshot) or its own."""
        own = not self.conn.in_transaction
        if own:
            self.conn.execute(self.dialect.begin_snapshot)
        cur = self.conn.raw().cursor(name="cm_export")
        self.conn.call(lambda _: cur.execute(POSTGRES.sql(sql), args))
        names = [d.name for d in cur.description or ()]

        def chunks() -> Iterator[list[Any]]:
            try:
                while rows := self.conn.call(lambda _: cur.fetchmany(CHUNK)):
                    yield rows
            finally:
                with contextlib.suppress(psycopg.Error):
                    cur.close()
                if own:
                    with contextlib.suppress(StoreError):
                        self.conn.execute("ROLLBACK")

        return names, chunks()

    def writers(self) -> list[WriterInfo]:
        """The receivers that wrote this database recently (seen within ``WRITERS_WINDOW``), the most
        recently seen first; [] for a database without the writers registry."""
        since = (datetime.now(UTC) - WRITERS_WINDOW).isoformat(timespec="milliseconds")
        found = self.conn.execute("SELECT to_regclass('writers') IS NOT NULL").fetchone()
        if not (found and found[0]):
            return []
        result: list[WriterInfo] = self.conn.call(lambda conn: recent_writers(conn, since))
        return result
