"""The app's own writes: a message it sent through the REST API, and the purge of simulated traffic."""

from __future__ import annotations

from typing import Any

from .. import statuses
from .records import utcnow
from .shared_writes import MESSAGE_DETAILS, Db, Dialect, SharedWrites

_SIMULATED_TABLES = ("events", "requests")


class AppWrites(SharedWrites):
    def purge_simulated(self, batch: int = 2000) -> dict[str, int]:
        """Delete everything the demo token validated (simulated messages with their events and media,
        and simulated requests), in small transactions so callbacks never wait long. Rows per table."""
        deleted = dict.fromkeys(("messages", "events", "media", "requests"), 0)
        forget = self.dialect.forget

        def step(db: Db) -> dict[str, int]:
            rows = db.execute(
                "SELECT sid, first_seen FROM messages WHERE simulated = 1 LIMIT ?", (batch,)
            ).fetchall()
            sids, first_seen = [r[0] for r in rows], [r[1] for r in rows]
            marks = ",".join("?" * len(sids))
            counts = {"messages": 0, "media": 0}
            if sids:
                counts["media"] = db.execute(
                    f"DELETE FROM media WHERE message_sid IN ({marks})", sids
                ).rowcount
                counts["messages"] = db.execute(f"DELETE FROM messages WHERE sid IN ({marks})", sids).rowcount
            forget(db, first_seen)  # also after deleting events only: their ids may recur
            for table in _SIMULATED_TABLES:
                counts[table] = db.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE simulated = 1 LIMIT ?)",
                    (batch,),
                ).rowcount
            return counts

        while True:
            counts = self.run_shared(step)
            for table, n in counts.items():
                deleted[table] += n
            if not any(counts.values()):
                return deleted

    def record_outbound(self, message: dict[str, Any]) -> None:
        """A message the app sent through the REST API, with the status the API returned at creation
        (Twilio sends no callback for the initial status). Known fields overwrite, status never moves back."""
        dialect = self.dialect
        self.run_shared(lambda db: _upsert_api_message(db, dialect, message))


_API_COLUMNS = ("direction", "channel", *MESSAGE_DETAILS, "num_media", "price", "price_unit")


def _upsert_api_message(db: Db, dialect: Dialect, m: dict[str, Any]) -> None:
    sid = str(m["sid"])
    status = str(m.get("status") or "queued")
    now = utcnow()
    row = db.execute("SELECT status FROM messages WHERE sid = ?" + dialect.for_update, (sid,)).fetchone()
    if row is None:
        inserted = db.execute(
            "INSERT INTO messages (sid, direction, channel, from_addr, to_addr, body, status, status_rank, "
            "error_code, messaging_service_sid, account_sid, num_segments, num_media, price, price_unit, "
            "first_seen, updated_at, event_count, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 'api') "
            "ON CONFLICT (sid) DO NOTHING",
            (
                sid,
                m.get("direction") or "outbound",
                m.get("channel") or "sms",
                m.get("from_addr"),
                m.get("to_addr"),
                m.get("body"),
                status,
                statuses.rank(status),
                m.get("error_code"),
                m.get("messaging_service_sid"),
                m.get("account_sid"),
                m.get("num_segments"),
                m.get("num_media") or 0,
                m.get("price"),
                m.get("price_unit"),
                now,
                now,
            ),
        ).rowcount
        if inserted:
            return
        return _upsert_api_message(db, dialect, m)  # a callback created it meanwhile (PostgreSQL): merge
    sets = ", ".join(f"{c} = COALESCE(?, {c})" for c in _API_COLUMNS)
    args: list[Any] = [m.get(c) for c in _API_COLUMNS]
    if statuses.supersedes(status, row[0]):
        sets += ", status = ?, status_rank = ?, error_code = COALESCE(?, error_code)"
        args += [status, statuses.rank(status), m.get("error_code")]
    db.execute(f"UPDATE messages SET {sets}, updated_at = ? WHERE sid = ?", (*args, now, sid))
    dialect.touch(db, sid)  # no event records this change (a price, a status from the API)
