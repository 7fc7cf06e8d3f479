"""Webhook backups: what a Twilio number's or service's webhooks were before the app re-pointed them,
kept until restored (receiver/webhook_apply.py applies and restores; this keeps the record)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .engine import Engine
from .records import utcnow


class Backups(Engine):
    """Saved when webhooks are re-pointed, listed while not restored, marked when restored."""

    def save_backups(self, account_sid: str, items: list[dict[str, Any]]) -> list[int]:
        def job(conn: sqlite3.Connection) -> list[int]:
            ids = []
            now = utcnow()
            for item in items:
                cur = conn.execute(
                    "INSERT INTO webhook_backups (created_at, account_sid, target_kind, target_sid, "
                    "target_name, previous, applied) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
                ids.append(int(cur.lastrowid or 0))
            return ids

        return self.run(job)

    def pending_backups(self, account_sid: str | None = None) -> list[dict[str, Any]]:
        def job(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = "SELECT * FROM webhook_backups WHERE restored_at IS NULL"
            args: tuple[str, ...] = ()
            if account_sid is not None:
                sql += " AND account_sid = ?"
                args = (account_sid,)
            cur = conn.execute(sql + " ORDER BY id", args)
            cols = [d[0] for d in cur.description]
            rows = []
            for raw in cur.fetchall():
                row = dict(zip(cols, raw, strict=True))
                row["previous"] = json.loads(row["previous"])
                row["applied"] = json.loads(row["applied"])
                rows.append(row)
            return rows

        return self.run(job)

    def mark_restored(self, backup_id: int) -> None:
        self.run(
            lambda conn: conn.execute(
                "UPDATE webhook_backups SET restored_at = ? WHERE id = ?", (utcnow(), backup_id)
            )
        )
