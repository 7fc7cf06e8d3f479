"""What reconciliation (receiver/reconcile.py) looks up before it asks Twilio's REST API: the messages
due for a fetch, a backfill's or the alert listing's progress, the alerts already stored."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .base import ReadsBase, reading


class ReconcileReads(ReadsBase):
    def stuck_sids(
        self, stuck: Iterable[str], updated_before: str, first_seen_after: str, limit: int
    ) -> list[str]:
        """Real (not simulated) messages with a status in ``stuck`` not updated since ``updated_before``,
        first seen after ``first_seen_after``; the longest silent first, at most ``limit``."""
        wanted = tuple(stuck)
        marks = ",".join("?" * len(wanted))
        with reading():
            rows = self.conn.execute(
                f"SELECT sid FROM messages WHERE status IN ({marks}) AND updated_at < ? AND first_seen > ? "
                "AND simulated = 0 ORDER BY updated_at, sid LIMIT ?",
                (*wanted, updated_before, first_seen_after, limit),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def unpriced_sids(self, final: Iterable[str], first_seen_after: str, limit: int) -> list[str]:
        """Real messages with a status in ``final`` and no price yet, first seen after
        ``first_seen_after``; the newest first, at most ``limit``."""
        wanted = tuple(final)
        marks = ",".join("?" * len(wanted))
        with reading():
            rows = self.conn.execute(
                f"SELECT sid FROM messages WHERE status IN ({marks}) AND price IS NULL AND first_seen > ? "
                "AND simulated = 0 ORDER BY first_seen DESC, sid DESC LIMIT ?",
                (*wanted, first_seen_after, limit),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def sync_state(self, name: str) -> dict[str, Any] | None:
        """The progress recorded under ``name`` (``ReconcileWrites``), None when there is none."""
        with reading():
            row = self.conn.execute("SELECT value FROM sync_state WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def alert_sids_since(self, date_created: str) -> set[str]:
        """The SIDs of the stored Monitor alerts created at or after ``date_created``."""
        with reading():
            rows = self.conn.execute(
                "SELECT sid FROM twilio_alerts WHERE date_created >= ?", (date_created,)
            ).fetchall()
        return {str(r[0]) for r in rows}
