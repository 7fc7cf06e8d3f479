"""Reconciliation's writes (receiver/reconcile.py decides what to fetch): what the REST API said about
messages, Monitor alerts, and how far a backfill or the alert listing got. Each call is one job of the
group commit (one transaction), so a page's progress commits with its last messages."""

from __future__ import annotations

import json
from typing import Any

from .. import statuses
from .protocol import SyncState
from .records import utcnow
from .shared_writes import MESSAGE_DETAILS, Db, Dialect, SharedWrites

API_SOURCE = "api"  # events.source of a status learned from the API
# messages.source of a message first seen in a backfill ('api' is one the app sent, 'callback' and
# 'inbound' came by webhook): the app did not send it, so its timeline does not start with "accepted"
MESSAGE_SOURCE = "reconcile"

_FILL = MESSAGE_DETAILS


class ReconcileWrites(SharedWrites):
    def apply_api_messages(self, rows: list[dict[str, Any]], state: SyncState | None = None) -> list[str]:
        """Merge what the API says about ``rows`` (``reconcile.message_row``) into the store, and record
        ``state`` with them, in one transaction; per row "new", "updated" or "unchanged"."""

        dialect = self.dialect

        def job(db: Db) -> list[str]:
            done = [_apply_api_message(db, dialect, row) for row in rows]
            if state is not None:
                _put_sync_state(db, *state)
            return done

        return self.run_shared(job)

    def store_twilio_alerts(
        self, rows: list[dict[str, Any]], state: SyncState | None = None
    ) -> list[dict[str, Any]]:
        """Store the Monitor alerts ``rows`` (one dict of ``twilio_alerts`` columns each) that are not
        stored yet, and ``state``, in one transaction; the rows that were new."""

        def job(db: Db) -> list[dict[str, Any]]:
            new = []
            for row in rows:
                cols = ", ".join(row)
                cur = db.execute(
                    f"INSERT INTO twilio_alerts ({cols}) VALUES ({', '.join('?' * len(row))}) "
                    "ON CONFLICT DO NOTHING",
                    tuple(row.values()),
                )
                if cur.rowcount:
                    new.append(row)
            if state is not None:
                _put_sync_state(db, *state)
            return new

        return self.run_shared(job)


def _put_sync_state(db: Db, name: str, value: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO sync_state (name, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (name, json.dumps(value), utcnow()),
    )


def _apply_api_message(db: Db, dialect: Dialect, row: dict[str, Any]) -> str:
    """Merge what the API says about a message into the store; "new", "updated" or "unchanged".

    The same rules as a callback (statuses.py): the status moves only forward; columns only fill in (a
    price once Twilio has it). A status that moves the message on, and has no event yet, gets an event
    marked ``source = 'api'``; nothing is written at all when nothing changed (a second run changes
    nothing).
    """
    sid, status = row["sid"], row["status"]
    now = utcnow()
    current = db.execute(
        "SELECT status, error_code, price, price_unit, num_media, "
        + ", ".join(_FILL)
        + " FROM messages WHERE sid = ?"
        + dialect.for_update,
        (sid,),
    ).fetchone()
    result = "unchanged"
    news = current is None  # the API's status is news: the message's status moves to it
    if current is None:
        first_seen = row["date_created"] or row["date_sent"] or now
        inserted = db.execute(
            "INSERT INTO messages (sid, direction, channel, from_addr, to_addr, body, status, status_rank, "
            "error_code, messaging_service_sid, account_sid, num_segments, num_media, price, price_unit, "
            "first_seen, updated_at, event_count, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (sid) DO NOTHING",
            (
                sid,
                row["direction"],
                row["channel"],
                row["from_addr"],
                row["to_addr"],
                row["body"],
                status,
                statuses.rank(status),
                row["error_code"],
                row["messaging_service_sid"],
                row["account_sid"],
                row["num_segments"],
                row["num_media"],
                row["price"],
                row["price_unit"],
                first_seen,
                now,
                MESSAGE_SOURCE,
            ),
        ).rowcount
        if not inserted:  # another receiver's callback created it meanwhile (PostgreSQL): merge into it
            return _apply_api_message(db, dialect, row)
        result = "new"
    else:
        cur = dict(
            zip(("status", "error_code", "price", "price_unit", "num_media", *_FILL), current, strict=True)
        )
        sets: dict[str, Any] = {c: row[c] for c in _FILL if cur[c] is None and row[c] is not None}
        if cur["price"] is None and row["price"] is not None:  # a price and its currency go together
            sets.update(price=row["price"], price_unit=row["price_unit"])
        if statuses.supersedes(status, cur["status"]):
            news = True
            sets.update(status=status, status_rank=statuses.rank(status))
            if row["error_code"] is not None:
                sets["error_code"] = row["error_code"]
        if (row["num_media"] or 0) > (cur["num_media"] or 0):
            sets["num_media"] = row["num_media"]
        if sets:
            assignments = ", ".join(f"{c} = ?" for c in sets)
            db.execute(
                f"UPDATE messages SET {assignments}, updated_at = ? WHERE sid = ?", (*sets.values(), now, sid)
            )
            result = "updated"
    # an older status than the message's (a callback told more, maybe while this was fetched) would only
    # clutter the timeline after the newer one: the history gets an API event for news only
    seen = (
        news
        and db.execute(
            "SELECT 1 FROM events WHERE message_sid = ? AND status = ? LIMIT 1", (sid, status)
        ).fetchone()
    )
    if news and seen is None:
        payload = {k: v for k, v in row.items() if k != "body"}  # the body is in messages already
        added = db.execute(
            "INSERT INTO events (message_sid, status, error_code, event_type, event_key, "
            "received_at, payload, source) VALUES (?, ?, ?, NULL, ?, ?, ?, ?) ON CONFLICT DO NOTHING "
            "RETURNING id",
            (
                sid,
                status,
                row["error_code"],
                f"{sid}|{status}|{API_SOURCE}",
                now,
                json.dumps(payload),
                API_SOURCE,
            ),
        ).fetchone()
        if added is not None:
            dialect.event_added(db, added[0])
        db.execute("UPDATE messages SET event_count = event_count + 1 WHERE sid = ?", (sid,))
        if result == "unchanged":
            result = "updated"
    if result != "unchanged":
        dialect.touch(db, sid)  # a price or a filled-in column changes the statistics without an event
    return result
