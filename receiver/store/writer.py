"""``Store``: the single writer of a Callback Monitor database (docs/ARCHITECTURE.md, "The store").

The engine (engine.py) opens the file and commits jobs in groups; the writes (writes.py), the webhook
backups (backups.py), retention's deletes (pruning.py) and reconciliation's writes (reconcile_writes.py)
are the jobs. A 2xx goes out only after ``run`` has returned, i.e. after the commit.
"""

from __future__ import annotations

from .backups import Backups
from .pruning import Pruning
from .reconcile_writes import ReconcileWrites
from .writes import Writes


class Store(Writes, Backups, Pruning, ReconcileWrites):
    """Open with ``Store(path)`` (one process per file: a second gets ``StoreLocked``), write through its
    methods or ``run(fn)``, ``close()`` when done (or use it as a context manager). Readers do not go
    through it: each thread opens its own ``Reader`` (reader.py)."""
