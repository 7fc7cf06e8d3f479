"""What a writer of the store offers, whichever database it writes: SQLite's ``Store`` (writer.py) and
PostgreSQL's ``PgStore`` (pg/store.py) both have exactly these methods, with the same arguments, the same
plain values out and the same promise (a method returns only once its rows are committed). The receiver
(receiver/app.py), retention's Pruner, reconciliation and the CLI take a ``WriterStore``, so they run on
either unchanged; tests/test_store_protocol.py has mypy prove that both conform.

Every failure of the database leaves a writer as a ``StoreError`` (the receiver answers 503); anything
else it raises is a bug (a 500)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Self

from ..callbacks import Callback
from .records import Outcome, RequestRecord

SyncState = tuple[str, dict[str, Any]]  # (sync_state.name, its value): how far a backfill got


class WriterHealth(Protocol):
    """What ``/healthz`` reports: why writes are refused now (empty: they are not), and the disk's room
    (None and 0 where the database server keeps its own disk)."""

    @property
    def free(self) -> int | None: ...

    @property
    def min_free_bytes(self) -> int: ...

    def problems(self) -> list[str]: ...


class WriterStore(Protocol):
    @property
    def path(self) -> Path | str:
        """Where it writes, for status lines and /healthz (a file, or a URL without its password)."""
        ...

    @property
    def health(self) -> WriterHealth: ...

    # ---------------------------------------------------------------- the receiver (receiver/app.py)
    def log_request(self, req: RequestRecord) -> Outcome:
        """A request without a callback; ``request_id`` 0 when the store refused its row (the answer
        promises nothing stored, so it goes out anyway)."""
        ...

    def record_callback(self, cb: Callback, req: RequestRecord) -> Outcome: ...

    def record_event_batch(self, events: list[tuple[Callback, str]], req: RequestRecord) -> list[Outcome]: ...

    def announce(self, listen: str | None) -> None:
        """Say where this writer listens (``host:port``), for the team's list of writers (no-op on SQLite,
        which has one writer)."""
        ...

    # ---------------------------------------------------------------- the app and the CLI
    def record_outbound(self, message: dict[str, Any]) -> None: ...

    def purge_simulated(self, batch: int = 2000) -> dict[str, int]: ...

    def save_backups(self, account_sid: str, items: list[dict[str, Any]]) -> list[int]: ...

    def pending_backups(self, account_sid: str | None = None) -> list[dict[str, Any]]: ...

    def mark_restored(self, backup_id: int) -> None: ...

    # ---------------------------------------------------------------- retention (receiver/retention.py)
    def last_request_before(self, before: str) -> int: ...

    def delete_requests(self, outcomes: tuple[str, ...], before: str, up_to_id: int, limit: int) -> int: ...

    def delete_messages(self, before: str, limit: int) -> tuple[int, int]: ...

    # ---------------------------------------------------------------- reconciliation (receiver/reconcile.py)
    def apply_api_messages(self, rows: list[dict[str, Any]], state: SyncState | None = None) -> list[str]: ...

    def store_twilio_alerts(
        self, rows: list[dict[str, Any]], state: SyncState | None = None
    ) -> list[dict[str, Any]]: ...

    # ---------------------------------------------------------------- life
    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
