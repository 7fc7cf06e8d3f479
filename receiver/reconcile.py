"""Reconciliation with Twilio's REST API: what the callbacks did not tell us.

A pass, run by the app (at start, after the machine wakes, every N minutes, on demand) or headless
(``callback-monitor reconcile``), does four things, each cancellable between two REST calls:

* **stuck messages**: a message still ``queued``/``accepted``/``sending``/``sent`` long after its last
  news is fetched and brought up to date through the store's status rule (never backwards: a
  ``read``/``delivered`` from a callback is never undone);
* **prices**: Twilio fills ``price`` minutes after the final status; final messages without one, younger
  than ``price_window``, are fetched again on each pass until it is there;
* **backfill** since a date: the account's messages, page by page, so the tables are complete after the
  app was offline. Idempotent (a second run changes nothing), and resumable: the next page's URL is kept
  in ``sync_state`` after each committed page, so a run cut off half-way carries on from there;
* **Monitor alerts** about this app's webhooks or messaging, stored in ``twilio_alerts`` and linked to
  the message they name.

What the API taught us is marked as such: an event row with ``source = 'api'`` (m010), so the timeline
says "from the API (reconciliation)". Writes go through the Store's group commit, one small job per
message or page, so a running receiver's callbacks never wait behind a reconciliation.

Rate limits: a 429 (Twilio error 20429) is retried after ``Retry-After`` when given, else with an
exponential backoff, a bounded number of times (``BackoffHttpClient``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from twilio.rest import Client

from . import statuses
from .channels import channel_of
from .monitor_alerts import alert_wanted, message_sid_of_alert
from .store import Store, StoreClosed, connect, stats_rollup, utcnow
from .twilio_backoff import with_backoff
from .twilio_client import SetupError, twilio_call

log = logging.getLogger("callback_monitor.reconcile")

STUCK_STATUSES = ("accepted", "queued", "sending", "sent")
DEFAULT_STUCK_AFTER = timedelta(minutes=30)
# a message still "sent" after this long will never hear more (carriers without delivery receipts)
STUCK_WINDOW = timedelta(days=3)
DEFAULT_PRICE_WINDOW = timedelta(days=2)
DEFAULT_ALERTS_LOOKBACK = timedelta(days=1)
MAX_ALERTS_LOOKBACK = timedelta(days=30)  # Monitor answers nothing older
MAX_FETCHES_PER_PASS = 500  # a pass stays short; what is left waits for the next one
PAGE_SIZE = 50
WRITE_CHUNK = 10  # messages per write job: ~2 ms of the writer's time (bench/reconcile.py)
API_SOURCE = "api"  # events.source of a status learned from the API
# messages.source of a message first seen in a backfill ('api' is one the app sent, 'callback' and
# 'inbound' came by webhook): the app did not send it, so its timeline does not start with "accepted"
MESSAGE_SOURCE = "reconcile"
BACKFILL_STATE = "backfill"
ALERTS_STATE = "alerts"


class Cancelled(Exception):
    """The operator cancelled the pass; what was committed so far stays."""


@dataclass(frozen=True)
class Settings:
    stuck_after: timedelta = DEFAULT_STUCK_AFTER
    price_window: timedelta = DEFAULT_PRICE_WINDOW
    max_fetches: int = MAX_FETCHES_PER_PASS
    page_size: int = PAGE_SIZE
    # webhook URLs of this app (the public base URL): alerts whose request URL starts with one are kept
    # whatever their code
    webhook_prefixes: tuple[str, ...] = ()


@dataclass
class Report:
    """What one pass did; ``str()`` is the line the CLI prints and the GUI shows."""

    checked: int = 0  # messages fetched one by one (stuck + price)
    updated: int = 0  # messages whose row changed
    backfilled: int = 0  # messages listed by the backfill
    backfill_new: int = 0  # of those, new to the database
    prices: int = 0  # prices filled
    alerts: list[dict[str, Any]] = field(default_factory=list)  # newly stored alerts
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"checked {self.checked} message(s), updated {self.updated}, prices filled {self.prices}, "
            f"backfill listed {self.backfilled} ({self.backfill_new} new), new alerts {len(self.alerts)}"
        )
        return text + "".join(f"; {p}" for p in self.problems)


Progress = Callable[[str, int, int], None]  # (what, done, total or 0 when unknown)


# --------------------------------------------------------------------------- API resource -> row
def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (
            (value if value.tzinfo else value.replace(tzinfo=UTC))
            .astimezone(UTC)
            .isoformat(timespec="milliseconds")
        )
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def message_row(m: Any) -> dict[str, Any]:
    """The store's columns from a twilio-python ``MessageInstance``."""
    sid = str(m.sid)
    from_addr, to_addr = getattr(m, "from_", None), getattr(m, "to", None)
    num_media = _int(getattr(m, "num_media", None)) or 0
    direction = str(getattr(m, "direction", "") or "")
    return {
        "sid": sid,
        "status": str(m.status or "").lower() or "queued",
        "direction": "inbound" if direction == "inbound" else "outbound",
        "channel": channel_of(from_addr, to_addr, sid=sid, num_media=num_media),
        "from_addr": from_addr,
        "to_addr": to_addr,
        "body": getattr(m, "body", None),
        "error_code": _int(getattr(m, "error_code", None)),
        "messaging_service_sid": getattr(m, "messaging_service_sid", None),
        "account_sid": getattr(m, "account_sid", None),
        "num_segments": _int(getattr(m, "num_segments", None)),
        "num_media": num_media,
        "price": None if getattr(m, "price", None) in (None, "") else str(m.price),
        # Twilio names the currency before it knows the price: kept only with a price
        "price_unit": getattr(m, "price_unit", None) if getattr(m, "price", None) not in (None, "") else None,
        "date_created": _iso(getattr(m, "date_created", None)),
        "date_sent": _iso(getattr(m, "date_sent", None)),
        "date_updated": _iso(getattr(m, "date_updated", None)),
    }


_FILL = ("from_addr", "to_addr", "body", "messaging_service_sid", "account_sid", "num_segments")


def apply_api_message(conn: sqlite3.Connection, row: dict[str, Any]) -> str:
    """Merge what the API says about a message into the store; "new", "updated" or "unchanged".

    The same rules as a callback (statuses.py): the status moves only forward; columns only fill in (a
    price once Twilio has it). A status that moves the message on, and has no event yet, gets an event
    marked ``source = 'api'``; nothing is written at all when nothing changed (a second run changes
    nothing).
    """
    sid, status = row["sid"], row["status"]
    now = utcnow()
    current = conn.execute(
        "SELECT status, error_code, price, price_unit, num_media, "
        + ", ".join(_FILL)
        + " FROM messages WHERE sid = ?",
        (sid,),
    ).fetchone()
    result = "unchanged"
    news = current is None  # the API's status is news: the message's status moves to it
    if current is None:
        first_seen = row["date_created"] or row["date_sent"] or now
        conn.execute(
            "INSERT INTO messages (sid, direction, channel, from_addr, to_addr, body, status, status_rank, "
            "error_code, messaging_service_sid, account_sid, num_segments, num_media, price, price_unit, "
            "first_seen, updated_at, event_count, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
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
        )
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
            conn.execute(
                f"UPDATE messages SET {assignments}, updated_at = ? WHERE sid = ?", (*sets.values(), now, sid)
            )
            result = "updated"
    # an older status than the message's (a callback told more, maybe while this was fetched) would only
    # clutter the timeline after the newer one: the history gets an API event for news only
    seen = (
        news
        and conn.execute(
            "SELECT 1 FROM events WHERE message_sid = ? AND status = ? LIMIT 1", (sid, status)
        ).fetchone()
    )
    if news and seen is None:
        payload = {k: v for k, v in row.items() if k != "body"}  # the body is in messages already
        conn.execute(
            "INSERT OR IGNORE INTO events (message_sid, status, error_code, event_type, event_key, "
            "received_at, payload, source) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
            (
                sid,
                status,
                row["error_code"],
                f"{sid}|{status}|{API_SOURCE}",
                now,
                json.dumps(payload),
                API_SOURCE,
            ),
        )
        conn.execute("UPDATE messages SET event_count = event_count + 1 WHERE sid = ?", (sid,))
        if result == "unchanged":
            result = "updated"
    if result != "unchanged":
        stats_rollup.touch(conn, sid)  # a price or a filled-in column changes the statistics without an event
    return result


# --------------------------------------------------------------------------- the pass
class Reconciler:
    """One pass over ``store`` with ``client`` (the real twilio-python client, ``make_client``)."""

    def __init__(
        self,
        store: Store,
        client: Client,
        account_sid: str,
        settings: Settings | None = None,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.store, self.client, self.account_sid = store, client, account_sid
        self.settings = settings or Settings()
        self.progress = progress or (lambda what, done, total: None)
        self.cancel = cancel or threading.Event()
        self.now = now
        self.backoff = with_backoff(client, self.cancel, sleep=sleep)  # sleep: the waits (a clock for tests)
        self._reader = connect(store.path, readonly=True)

    def close(self) -> None:
        self._reader.close()

    def _check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")

    @property
    def _messages(self) -> Any:
        return self.client.api.v2010.accounts(self.account_sid).messages

    # ---------------------------------------------------------------- whole pass
    def run(self, since: datetime | None = None) -> Report:
        report = Report()
        try:
            self.refresh_stuck(report)
            self.fill_prices(report)
            if since is not None:
                self.backfill(since, report)
            self.fetch_alerts(report, since)
        except (SetupError, StoreClosed):
            # a wait cut short by the cancel ends in the 429 it waited on; a receiver stopping closes
            # the store after it cancelled the pass
            if self.cancel.is_set():
                raise Cancelled("cancelled") from None
            raise
        finally:
            self.close()
        return report

    # ---------------------------------------------------------------- single messages
    def _due(self, sql: str, args: tuple[Any, ...]) -> list[str]:
        return [r[0] for r in self._reader.execute(sql, args).fetchall()]

    def stuck_sids(self) -> list[str]:
        now = self.now()
        marks = ",".join("?" * len(STUCK_STATUSES))
        return self._due(
            f"SELECT sid FROM messages WHERE status IN ({marks}) AND updated_at < ? AND first_seen > ? "
            "AND simulated = 0 ORDER BY updated_at LIMIT ?",
            (
                *STUCK_STATUSES,
                (now - self.settings.stuck_after).isoformat(timespec="milliseconds"),
                (now - STUCK_WINDOW).isoformat(timespec="milliseconds"),
                self.settings.max_fetches,
            ),
        )

    def unpriced_sids(self) -> list[str]:
        now = self.now()
        marks = ",".join("?" * len(statuses.TERMINAL))
        return self._due(
            f"SELECT sid FROM messages WHERE status IN ({marks}) AND price IS NULL AND first_seen > ? "
            "AND simulated = 0 ORDER BY first_seen DESC LIMIT ?",
            (
                *sorted(statuses.TERMINAL),
                (now - self.settings.price_window).isoformat(timespec="milliseconds"),
                self.settings.max_fetches,
            ),
        )

    def _refresh(self, sids: list[str], what: str, report: Report) -> None:
        for done, sid in enumerate(sids):
            self._check()
            self.progress(what, done, len(sids))
            with twilio_call(f"fetching message {sid}"):
                m = self._messages(sid).fetch()
            row = message_row(m)
            report.checked += 1
            before_price = row["price"] is not None
            outcome: str = self.store.run(partial(apply_api_message, row=row))
            if outcome != "unchanged":
                report.updated += 1
            if what == "prices" and before_price:
                report.prices += 1
        self.progress(what, len(sids), len(sids))

    def refresh_stuck(self, report: Report) -> None:
        self._refresh(self.stuck_sids(), "stuck messages", report)

    def fill_prices(self, report: Report) -> None:
        self._refresh(self.unpriced_sids(), "prices", report)

    # ---------------------------------------------------------------- backfill
    def _state(self, name: str) -> dict[str, Any] | None:
        row = self._reader.execute("SELECT value FROM sync_state WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    @staticmethod
    def _put_state(conn: sqlite3.Connection, name: str, value: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO sync_state (name, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (name, json.dumps(value), utcnow()),
        )

    def backfill(self, since: datetime, report: Report) -> None:
        """List the account's messages sent since ``since``, page by page; a page's progress (the next
        page's URL) is committed with its messages, so an error half-way resumes at the page it stopped on."""
        since_key = _iso(since)
        state = self._state(BACKFILL_STATE) or {}
        resume = state.get("next_page_url") if state.get("since") == since_key else None
        listed = int(state.get("listed", 0)) if resume else 0
        with twilio_call("listing messages"):
            if resume:
                page = self._messages.get_page(resume)
            else:
                page = self._messages.page(date_sent_after=since, page_size=self.settings.page_size)
        while True:
            self._check()
            rows = [message_row(m) for m in page]
            next_url = page.next_page_url
            listed += len(rows)
            value = {"since": since_key, "next_page_url": next_url, "listed": listed}
            if next_url is None:
                value["completed_at"] = utcnow()

            # a few messages per group-commit job, so a callback never waits long behind a page; the
            # page's progress is written with its last chunk (a chunk done twice changes nothing)
            outcomes: list[str] = []
            chunks = [rows[i : i + WRITE_CHUNK] for i in range(0, len(rows), WRITE_CHUNK)] or [[]]
            for n, chunk in enumerate(chunks):
                last = n == len(chunks) - 1

                def job(
                    conn: sqlite3.Connection,
                    chunk: list[dict[str, Any]] = chunk,
                    last: bool = last,
                    value: dict[str, Any] = value,
                ) -> list[str]:
                    done = [apply_api_message(conn, r) for r in chunk]
                    if last:
                        self._put_state(conn, BACKFILL_STATE, value)
                    return done

                outcomes += self.store.run(job)
            report.backfilled += len(rows)
            report.backfill_new += outcomes.count("new")
            report.updated += outcomes.count("updated")
            self.progress("backfill", listed, 0)
            if next_url is None:
                return
            with twilio_call("listing messages"):
                page = self._messages.get_page(next_url)

    # ---------------------------------------------------------------- Monitor alerts
    def fetch_alerts(self, report: Report, since: datetime | None = None) -> None:
        """Store new Monitor alerts about webhooks/messaging since the newest one stored (or ``since``, a
        backfill's date; at most 30 days back: Monitor keeps no more), with each one's details (the
        request variables, the response Twilio saw): they name the message an alert is about."""
        now = self.now()
        state = self._state(ALERTS_STATE) or {}
        start = now - DEFAULT_ALERTS_LOOKBACK
        if since is not None:
            start = since
        elif state.get("newest"):
            start = datetime.fromisoformat(state["newest"]) - timedelta(minutes=5)  # clock skew margin
        start = max(start, now - MAX_ALERTS_LOOKBACK + timedelta(minutes=1))
        known = {
            r[0]
            for r in self._reader.execute(
                "SELECT sid FROM twilio_alerts WHERE date_created >= ?", (_iso(start),)
            )
        }
        with twilio_call("listing Twilio's alerts"):
            alerts = list(
                self.client.monitor.v1.alerts.stream(start_date=start, page_size=self.settings.page_size)
            )
        prefixes = self.settings.webhook_prefixes
        wanted = [
            a
            for a in alerts
            if a.sid not in known and alert_wanted(_int(a.error_code), a.request_url, prefixes)
        ]
        newest = max((_iso(a.date_created) or "" for a in alerts), default=state.get("newest") or "")
        stored: list[dict[str, Any]] = []
        for done, alert in enumerate(wanted):
            self._check()
            self.progress("alerts", done, len(wanted))
            with twilio_call(f"fetching alert {alert.sid}"):
                full = self.client.monitor.v1.alerts(alert.sid).fetch()
            details = {
                "request_variables": getattr(full, "request_variables", None),
                "response_body": getattr(full, "response_body", None),
                "response_headers": getattr(full, "response_headers", None),
                "request_headers": getattr(full, "request_headers", None),
                "more_info": getattr(full, "more_info", None),
            }
            row = {
                "sid": str(alert.sid),
                "error_code": _int(alert.error_code),
                "log_level": alert.log_level,
                "alert_text": alert.alert_text,
                "request_url": alert.request_url,
                "request_method": alert.request_method,
                "date_created": _iso(alert.date_created),
                "resource_sid": alert.resource_sid,
                "message_sid": message_sid_of_alert(alert.resource_sid, details["request_variables"]),
                "fetched_at": utcnow(),
                "details": json.dumps(details),
            }
            stored.append(row)
        value = {"newest": newest} if newest else {}

        def job(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            new = []
            for row in stored:
                cols = ", ".join(row)
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO twilio_alerts ({cols}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                )
                if cur.rowcount:
                    new.append(row)
            if value:
                self._put_state(conn, ALERTS_STATE, value)
            return new

        report.alerts.extend(self.store.run(job))
        self.progress("alerts", len(wanted), len(wanted))


class WakeDetector:
    """Notices that the machine slept: the wall clock moved much more than the monotonic clock (which
    does not count a suspend) between two looks."""

    def __init__(
        self,
        threshold: float = 120.0,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold, self._wall, self._mono = threshold, wall, mono
        self._last = (wall(), mono())

    def woke(self) -> bool:
        wall, mono = self._wall(), self._mono()
        last_wall, last_mono = self._last
        self._last = (wall, mono)
        return (wall - last_wall) - (mono - last_mono) > self.threshold


__all__ = [
    "Cancelled",
    "Reconciler",
    "Report",
    "Settings",
    "WakeDetector",
    "apply_api_message",
    "message_row",
]
