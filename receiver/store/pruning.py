"""Deletes for retention (receiver/retention.py decides what and when): one small batch per call, each a
job of the group commit, so a callback never waits behind a long delete."""

from __future__ import annotations

from .shared_writes import Db, SharedWrites


class Pruning(SharedWrites):
    """Batches of old request-log rows, and old messages with their events and media."""

    def last_request_before(self, before: str) -> int:
        """The id of the last request received before ``before`` (ISO time); 0 when there is none.

        Ids grow with arrival time, so it bounds every batch of ``delete_requests``: a batch walks the
        (outcome, id) index from its start instead of filtering the whole table."""

        def job(db: Db) -> int:
            row = db.execute(
                "SELECT id FROM requests WHERE received_at < ? ORDER BY received_at DESC LIMIT 1", (before,)
            ).fetchone()
            return int(row[0]) if row else 0

        return self.run_shared(job)

    def delete_requests(self, outcomes: tuple[str, ...], before: str, up_to_id: int, limit: int) -> int:
        """Delete at most ``limit`` request-log rows with one of ``outcomes``, received before ``before``,
        with ids up to ``up_to_id``; returns how many were deleted."""
        marks = ", ".join("?" for _ in outcomes)
        sql = (
            f"DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE outcome IN ({marks}) "
            f"AND id <= ? AND received_at < ? ORDER BY outcome, id LIMIT {int(limit)})"
        )
        return self.run_shared(lambda db: int(db.execute(sql, (*outcomes, up_to_id, before)).rowcount))

    def delete_messages(self, before: str, limit: int) -> tuple[int, int]:
        """Delete at most ``limit`` of the oldest messages first seen before ``before``, with their events
        and media; returns (messages, events) deleted."""
        forget = self.dialect.forget

        def job(db: Db) -> tuple[int, int]:
            rows = db.execute(
                "SELECT sid, first_seen FROM messages WHERE first_seen < ? "
                f"ORDER BY first_seen LIMIT {int(limit)}",
                (before,),
            ).fetchall()
            events = 0
            for sid, _ in rows:
                events += db.execute("DELETE FROM events WHERE message_sid = ?", (sid,)).rowcount
                db.execute("DELETE FROM media WHERE message_sid = ?", (sid,))
                db.execute("DELETE FROM messages WHERE sid = ?", (sid,))
            forget(db, [first_seen for _, first_seen in rows])  # the statistics of those hours
            return len(rows), events

        return self.run_shared(job)
