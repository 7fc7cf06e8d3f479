"""``Store``: the single writer of a Callback Monitor database (docs/ARCHITECTURE.md, "The store").

The engine (engine.py) opens the file and commits jobs in groups; the callbacks' writes (writes.py) and the
writes shared with PostgreSQL's ``PgStore`` (shared_writes.py: the app's, backups, retention, reconciliation)
are the jobs. A 2xx goes out only after ``run`` has returned, i.e. after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from . import stats_rollup
from .app_writes import AppWrites
from .backups import Backups
from .pruning import Pruning
from .reconcile_writes import ReconcileWrites
from .shared_writes import Db, Dialect
from .writes import Writes

T = TypeVar("T")
SQLITE = Dialect(touch=stats_rollup.touch, forget=stats_rollup.forget)


class Store(Writes, AppWrites, Backups, Pruning, ReconcileWrites):
    """Open with ``Store(path)`` (one process per file: a second gets ``StoreLocked``), write through its
    methods or ``run(fn)``, ``close()`` when done (or use it as a context manager). Readers do not go
    through it: each thread opens its own ``Reader`` (reader.py)."""

    dialect = SQLITE

    def run_shared(self, fn: Callable[[Db], T]) -> T:
        return self.run(fn)  # SQLite's connection is a ``Db`` as it is

    def announce(self, listen: str | None) -> None:
        """One process writes a SQLite file: there is no list of writers to tell (PgStore keeps one)."""
