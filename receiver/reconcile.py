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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from twilio.rest import Client

from . import statuses
from .channels import channel_of
from .monitor_alerts import alert_wanted, message_sid_of_alert
from .store import StoreClosed, open_reader, utcnow
from .store.protocol import WriterStore
from .store.reconcile_writes import API_SOURCE, MESSAGE_SOURCE
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


# --------------------------------------------------------------------------- the pass
class Reconciler:
    """One pass over ``store`` with ``client`` (the real twilio-python client, ``make_client``)."""

    def __init__(
        self,
        store: WriterStore,
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
        self._reader = open_reader(store.path)

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
    def stuck_sids(self) -> list[str]:
        now = self.now()
        return self._reader.stuck_sids(
            STUCK_STATUSES,
            (now - self.settings.stuck_after).isoformat(timespec="milliseconds"),
            (now - STUCK_WINDOW).isoformat(timespec="milliseconds"),
            self.settings.max_fetches,
        )

    def unpriced_sids(self) -> list[str]:
        now = self.now()
        return self._reader.unpriced_sids(
            sorted(statuses.TERMINAL),
            (now - self.settings.price_window).isoformat(timespec="milliseconds"),
            self.settings.max_fetches,
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
            (outcome,) = self.store.apply_api_messages([row])
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
    def backfill(self, since: datetime, report: Report) -> None:
        """List the account's messages sent since ``since``, page by page; a page's progress (the next
        page's URL) is committed with its messages, so an error half-way resumes at the page it stopped on."""
        since_key = _iso(since)
        state = self._reader.sync_state(BACKFILL_STATE) or {}
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
                page_done = (BACKFILL_STATE, value) if n == len(chunks) - 1 else None
                outcomes += self.store.apply_api_messages(chunk, page_done)
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
        state = self._reader.sync_state(ALERTS_STATE) or {}
        start = now - DEFAULT_ALERTS_LOOKBACK
        if since is not None:
            start = since
        elif state.get("newest"):
            start = datetime.fromisoformat(state["newest"]) - timedelta(minutes=5)  # clock skew margin
        start = max(start, now - MAX_ALERTS_LOOKBACK + timedelta(minutes=1))
        known = self._reader.alert_sids_since(_iso(start) or "")
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

        report.alerts.extend(self.store.store_twilio_alerts(stored, (ALERTS_STATE, value) if value else None))
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
    "API_SOURCE",
    "MESSAGE_SOURCE",
    "Cancelled",
    "Reconciler",
    "Report",
    "Settings",
    "WakeDetector",
    "message_row",
]
