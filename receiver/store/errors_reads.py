"""How often an error code was seen (the error lookup)."""

from __future__ import annotations

from .base import ReadsBase


class ErrorsReads(ReadsBase):
    def error_code_counts(self, code: int) -> tuple[int, int]:
        """(messages whose current error code is ``code``, status callbacks that reported it).

        Both counts walk ``error_code`` indexes (m002); the events' count still grows with the history,
        so callers run it off the GUI thread."""
        messages = self.conn.execute("SELECT COUNT(*) FROM messages WHERE error_code = ?", (code,)).fetchone()
        events = self.conn.execute("SELECT COUNT(*) FROM events WHERE error_code = ?", (code,)).fetchone()
        return int(messages[0]), int(events[0])
