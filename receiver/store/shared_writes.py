"""The writes off the callback path, written once for both databases.

Webhook backups (backups.py), retention's deletes (pruning.py), reconciliation's writes
(reconcile_writes.py), the REST API's messages and the simulated purge (app_writes.py) are mixins on
``SharedWrites``: their jobs take a ``Db`` — SQLite's connection itself, or a PostgreSQL connection through
``pg.writes.Qmark`` — and speak the SQL both accept (``?`` parameters, ``ON CONFLICT``, ``RETURNING``).
SQLite's ``Store`` and PostgreSQL's ``PgStore`` inherit the same mixins, so the rules (a status never moves
back, an API event only for news, a page's progress with its rows) exist once. What differs is the
``Dialect``: how a read-then-write job locks its row, how the statistics rollup learns of a change without
an event (the same table in both; SQLite also steps its watermark back, as its event ids may recur), and
PostgreSQL's note of the events a batch added (its NOTIFY).

The callbacks themselves (the hot path) keep one tuned statement sequence per database: writes.py and
pg/writes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .records import Outcome

T = TypeVar("T")
# a message's details that every source may know (a callback, the REST API): a later one only fills them in
MESSAGE_DETAILS = ("from_addr", "to_addr", "body", "messaging_service_sid", "account_sid", "num_segments")


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    """A connection inside the batch's transaction, taking ``?`` parameters."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...


def _nothing(conn: Any, what: Any) -> None:
    """A hook one of the databases does not need."""


@dataclass(frozen=True)
class Dialect:
    # appended to the read of a row a job then writes on what it read: SQLite's writer already holds the
    # whole file, PostgreSQL's other receivers must wait for this transaction (status never moves back)
    for_update: str = ""
    # the statistics rollup's hooks (stats_rollup.py): a message changed without an event / messages gone
    touch: Callable[[Any, str], None] = _nothing
    forget: Callable[[Any, Iterable[str]], None] = _nothing
    # an event inserted (its id): PostgreSQL's batch announces the newest (pg/changes.py)
    event_added: Callable[[Any, int], None] = _nothing


def mark_simulated(db: Db, outcome: Outcome) -> None:
    """Mark a demo-token callback's rows (m008); a real message it merely touched stays real."""
    db.execute("UPDATE requests SET simulated = 1 WHERE id = ?", (outcome.request_id,))
    if outcome.outcome == "accepted":
        sid = outcome.message_sid
        db.execute(
            "UPDATE events SET simulated = 1 WHERE message_sid = ? AND request_id = ?",
            (sid, outcome.request_id),
        )
        db.execute(
            "UPDATE messages SET simulated = 1 WHERE sid = ? AND event_count = 1 AND source != 'api'", (sid,)
        )


class SharedWrites:
    """The base of the shared mixins: ``run_shared(fn)`` runs ``fn(db)`` as one job of the store's group
    commit and returns once it is committed."""

    dialect: Dialect

    def run_shared(self, fn: Callable[[Db], T]) -> T:
        raise NotImplementedError
