"""One message: its row, its timeline of events, its media."""

from __future__ import annotations

from typing import NamedTuple

from .base import ReadsBase


class DetailReads(ReadsBase):
    pass

    def status_events(self, sid: str) -> list[StatusEvent]:
        """The message's accepted status callbacks, oldest first (the wizard's test-message page)."""
        rows = self.conn.execute(
            "SELECT status, error_code, received_at FROM events WHERE message_sid = ? ORDER BY id", (sid,)
        ).fetchall()
        return [StatusEvent(str(status), code, str(at)) for status, code, at in rows]


class StatusEvent(NamedTuple):
    status: str
    error_code: int | None
    received_at: str
