"""When to tell the operator that something is wrong: the alert rules, Qt-free.

Five conditions, each with its own *episode*: an alert fires when its condition becomes true, and not
again while it stays true; the episode ends once the condition has been false for ``quiet_minutes``
in a row, and then the next time it becomes true it fires again. So a failing campaign gives one
notification, not one per callback, and a problem that comes back after a quiet spell is announced anew.

- **Failure rate**: among the final-status callbacks of outbound messages received in the last
  ``window_minutes`` (failed, undelivered, canceled, partially_delivered, delivered, read), the share
  of failed + undelivered reaches ``failure_percent``, with at least ``min_messages`` final statuses
  (1 failure out of 2 is not "50% failing"). Callbacks, not messages, are counted: a message reported
  undelivered and later delivered counts once each way (rare; it keeps each look incremental).
- **New error code**: a callback carries an error code that no earlier (real) event in this database
  has. "Earlier" reaches as far back as the database keeps events: after retention deleted every event
  with a code, that code is new again. Each code fires once per run of the app (it is no longer new).
- **Rejections**: at least ``rejections`` *signed* requests refused with 403 in the window and not one
  accepted callback: what a wrong auth token (or a URL Twilio signs differently) looks like. Unsigned
  requests are scanners, not Twilio, and 401s are also Twilio's normal first try at a URL with
  ``user:password@`` (wrong credentials there reach the operator as Twilio's 11200 alerts, below).
  Refused noise while callbacks are accepted is an attacker, not a broken campaign, and does not fire.
- **Twilio cannot reach the app**: Twilio's Monitor reports an HTTP retrieval/connection/TLS failure
  (``UNREACHABLE_CODES``) about the app's webhooks, dated within the window. Alerts are told apart by SID,
  so a poller that fetches the same alerts again and again fires once.
- **Not storing**: the store refuses callbacks with 503 (``StoreHealth.problems()``: disk almost full,
  the file deleted or replaced, writes failing). Retention deleting old rows is normal work, not an alert.

Simulated traffic (``simulated = 1``, the demo) counts for none of the rules.

``AlertRules`` holds counters per second of the window (bounded memory whatever the traffic) and is fed
by ``receiver.alert_feed``; ``evaluate(now, store_problems)`` returns the alerts to show.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from receiver import statuses
from receiver.signature import NO_SIGNATURE

# Twilio Monitor error codes that mean "Twilio could not get an answer from the webhook"
# (https://www.twilio.com/docs/api/errors/11200 and the 112xx entries of the error dictionary)
UNREACHABLE_CODES = frozenset({11200, 11205, 11206, 11210, 11215, 11220, 11235, 11236, 11237})
SEEN_ALERTS_KEPT = 10_000  # Twilio alert SIDs remembered, so a poller's repeats fire nothing

FAILURE_RATE, NEW_ERROR_CODE, REJECTING, UNREACHABLE, NOT_STORING = (
    "failure_rate",
    "new_error_code",
    "rejecting",
    "unreachable",
    "not_storing",
)


@dataclass(frozen=True)
class Thresholds:
    """What the operator sets in Tools → Alerts… (defaults for a campaign of a few messages a second)."""

    window_minutes: int = 15
    failure_percent: int = 20
    min_messages: int = 20
    rejections: int = 10
    quiet_minutes: int = 10

    @property
    def window(self) -> float:
        return self.window_minutes * 60.0

    @property
    def quiet(self) -> float:
        return self.quiet_minutes * 60.0


@dataclass(frozen=True)
class Alert:
    """One notification: ``kind`` is one of the rule names above; ``text`` says what to do."""

    kind: str
    title: str
    text: str


class Episode:
    """True once when a condition starts; re-armed after it has been false for ``quiet`` seconds."""

    def __init__(self) -> None:
        self.active = False
        self._false_since: float | None = None

    def update(self, condition: bool, now: float, quiet: float) -> bool:
        """Feed the condition's current value; True when this starts a new episode (fire now)."""
        if condition:
            self._false_since = None
            if self.active:
                return False
            self.active = True
            return True
        if self.active:
            if self._false_since is None:
                self._false_since = now
            if now - self._false_since >= quiet:
                self.active = False
                self._false_since = None
        return False


@dataclass
class _Buckets:
    """Counters per whole second, oldest first; what lies outside the window is dropped."""

    counts: dict[int, list[int]] = field(default_factory=dict)

    def add(self, t: float, slot: int, width: int) -> None:
        self.counts.setdefault(int(t), [0] * width)[slot] += 1

    def totals(self, now: float, window: float, width: int) -> list[int]:
        start = now - window
        for second in [s for s in self.counts if s < start - 1]:
            del self.counts[second]
        total = [0] * width
        for second, counts in self.counts.items():
            if start <= second <= now:
                for i, n in enumerate(counts):
                    total[i] += n
        return total


def _without_userinfo(url: str) -> str:
    """The URL without ``user:password@`` (a webhook URL may carry basic-auth credentials) or query."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return ""
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of a stored ISO time (``received_at``) or a Twilio ``date_created``
    (ISO 8601, RFC 2822 or a datetime); None when unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                moment = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class AlertRules:
    """The five rules' state. ``observe_*`` from the feed (one thread), ``twilio_alerts`` from any
    thread, ``evaluate`` from the feed's thread."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._finals = _Buckets()  # [final, failed]
        self._requests = _Buckets()  # [accepted callbacks, rejected 401/403]
        self._new_codes: list[tuple[int, str]] = []  # (code, status) seen for the first time
        self._episodes = {
            k: Episode() for k in (FAILURE_RATE, NEW_ERROR_CODE, REJECTING, UNREACHABLE, NOT_STORING)
        }
        self._lock = threading.Lock()
        self._seen_alerts: dict[str, None] = {}  # insertion-ordered set, oldest dropped first
        self._unreachable_at: float | None = None
        self._unreachable: Mapping[str, Any] = {}

    # ------------------------------------------------------------------ inputs
    def observe_status(self, t: float, status: str, *, new_code: int | None = None) -> None:
        """A real callback's status received at ``t``; ``new_code``: its error code, never seen before."""
        status = status.strip().lower()
        if status in statuses.OUTBOUND_FINAL:
            self._finals.add(t, 0, 2)
            if status in statuses.FAILED:
                self._finals.add(t, 1, 2)
        if new_code is not None:
            self._new_codes.append((new_code, status))

    def observe_request(self, t: float, outcome: str, http_status: int | None, reason: str | None) -> None:
        if outcome in ("accepted", "duplicate"):
            self._requests.add(t, 0, 2)
        elif outcome == "rejected" and http_status == 403 and not (reason or "").startswith(NO_SIGNATURE):
            self._requests.add(t, 1, 2)

    def twilio_alerts(self, alerts: Iterable[Mapping[str, Any]], now: float) -> None:
        """Twilio Monitor alerts about the app's webhooks (keys sid, error_code, alert_text, request_url,
        date_created …). Repeats (same SID) and alerts dated before the window are ignored."""
        with self._lock:
            for alert in alerts:
                sid = str(alert.get("sid") or "")
                if not sid or sid in self._seen_alerts:
                    continue
                self._seen_alerts[sid] = None
                if len(self._seen_alerts) > SEEN_ALERTS_KEPT:
                    del self._seen_alerts[next(iter(self._seen_alerts))]
                try:
                    code = int(alert.get("error_code") or 0)
                except (TypeError, ValueError):
                    continue
                when = parse_time(alert.get("date_created"))
                if code not in UNREACHABLE_CODES or when is None or when < now - self.thresholds.window:
                    continue
                if self._unreachable_at is None or when >= self._unreachable_at:
                    self._unreachable_at, self._unreachable = when, dict(alert)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, now: float, store_problems: list[str]) -> list[Alert]:
        th = self.thresholds
        fired: list[Alert] = []

        final, failed = self._finals.totals(now, th.window, 2)
        failing = final >= th.min_messages and failed * 100 >= th.failure_percent * final
        if self._episodes[FAILURE_RATE].update(failing, now, th.quiet):
            fired.append(
                Alert(
                    FAILURE_RATE,
                    "Messages are failing",
                    f"{failed} of {final} final statuses in the last {th.window_minutes} min were "
                    f"failed or undelivered ({failed * 100 // final}%). "
                    "Open Error lookup or Statistics to see which error codes.",
                )
            )

        new_codes, self._new_codes = self._new_codes, []
        for code, status in new_codes:  # each code is new once, so each is its own episode
            fired.append(
                Alert(
                    NEW_ERROR_CODE,
                    f"New error code {code}",
                    f"A callback ({status}) carries error code {code}, not seen before in this database. "
                    "Look it up in Error lookup.",
                )
            )

        accepted, rejected = self._requests.totals(now, th.window, 2)
        rejecting = rejected >= th.rejections and accepted == 0
        if self._episodes[REJECTING].update(rejecting, now, th.quiet):
            fired.append(
                Alert(
                    REJECTING,
                    "The receiver is rejecting callbacks",
                    f"{rejected} requests were refused (bad or missing signature) in the last "
                    f"{th.window_minutes} min and none was accepted. Check the auth token (Tools → "
                    "Twilio credentials…) and that the public URL is the one Twilio calls; the Requests tab "
                    "shows each refusal.",
                )
            )

        with self._lock:
            at, alert = self._unreachable_at, self._unreachable
        unreachable = at is not None and at >= now - th.window
        if self._episodes[UNREACHABLE].update(unreachable, now, th.quiet):
            fired.append(
                Alert(
                    UNREACHABLE,
                    "Twilio cannot reach the app",
                    f"Twilio reports error {alert.get('error_code')} calling "
                    f"{_without_userinfo(str(alert.get('request_url') or '')) or 'a webhook'}"
                    ". Check that the receiver and the tunnel are running and the public URL is current.",
                )
            )

        if self._episodes[NOT_STORING].update(bool(store_problems), now, th.quiet):
            fired.append(
                Alert(
                    NOT_STORING,
                    "Callbacks are not being stored",
                    "The receiver answers 503 and Twilio will retry: " + "; ".join(store_problems) + ".",
                )
            )
        return fired
