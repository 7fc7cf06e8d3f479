"""Webhook backups: what a Twilio number's or service's webhooks were before the app re-pointed them,
kept until restored (receiver/webhook_apply.py applies and restores; this keeps the record)."""

from __future__ import annotations

import json
from typing import Any

from .records import utcnow
from .shared_writes import Db, SharedWrites

_COLUMNS = (
    "id",
    "created_at",
    "account_sid",
    "target_kind",
    "target_sid",
    "target_name",
    "previous",
    "applied",
    "restored_at",
)


class Backups(SharedWrites):
    """Saved when webhooks are re-pointed, listed while not restored, marked when restored."""

    def save_backups(self, account_sid: str, items: list[dict[str, Any]]) -> list[int]:
        def job(db: Db) -> list[int]:
            ids = []
            now = utcnow()
            for item in items:
                cur = db.execute(
                    "INSERT INTO webhook_backups (created_at, account_sid, target_kind, target_sid, "
                    "target_name, previous, applied) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        now,
                        account_sid,
                        item["target_kind"],
                        item["target_sid"],
                        item.get("target_name"),
                        json.dumps(item["previous"]),
                        json.dumps(item["applied"]),
                    ),
                )
                ids.append(int(cur.fetchone()[0]))
            return ids

        return self.run_shared(job)

    def pending_backups(self, account_sid: str | None = None) -> list[dict[str, Any]]:
        def job(db: Db) -> list[dict[str, Any]]:
            sql = f"SELECT {', '.join(_COLUMNS)} FROM webhook_backups WHERE restored_at IS NULL"
            args: tuple[str, ...] = ()
            if account_sid is not None:
                sql += " AND account_sid = ?"
                args = (account_sid,)
            rows = []
            for raw in db.execute(sql + " ORDER BY id", args).fetchall():
                row = dict(zip(_COLUMNS, raw, strict=True))
                row["previous"] = json.loads(row["previous"])
                row["applied"] = json.loads(row["applied"])
                rows.append(row)
            return rows

        return self.run_shared(job)

    def mark_restored(self, backup_id: int) -> None:
        def job(db: Db) -> None:
            db.execute("UPDATE webhook_backups SET restored_at = ? WHERE id = ?", (utcnow(), backup_id))

        self.run_shared(job)
