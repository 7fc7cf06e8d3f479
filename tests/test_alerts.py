"""The alert rules (receiver.alert_rules) fed from a real database (receiver.alert_feed): real callbacks
through the receiver, signed with twilio's RequestValidator; each rule fires once per episode and again
after a quiet spell. The clock is the test's, shared by the receiver's time stamps and the rules."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from receiver import app as receiver_app
from receiver.alert_feed import AlertFeed
from receiver.alert_rules import (
    FAILURE_RATE,
    NEW_ERROR_CODE,
    NOT_STORING,
    REJECTING,
    UNREACHABLE,
    Alert,
    AlertRules,
    Thresholds,
)
from receiver.app import ReceiverConfig, create_app
from receiver.retention import Retention, prune
from receiver.simulate_plan import DEMO_AUTH_TOKEN
from receiver.store import Reader, Store, connect, open_reader
from tests.receiver_helpers import PUBLIC, TOKEN, post, sid, status_params
from tests.waiting import wait_until

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()
TH = Thresholds(window_minutes=5, failure_percent=20, min_messages=10, rejections=5, quiet_minutes=10)


class Clock:
    def __init__(self) -> None:
        self.t = START

    def iso(self) -> str:
        return datetime.fromtimestamp(self.t, UTC).isoformat(timespec="milliseconds")

    def advance(self, minutes: float) -> None:
        self.t += minutes * 60


@dataclass
class Env:
    store: Store
    client: FlaskClient
    clock: Clock
    rules: AlertRules
    feed: AlertFeed
    free: list[int]

    def callback(
        self, status: str, *, token: str = TOKEN, message_sid: str | None = None, **extra: Any
    ) -> int:
        params = status_params(message_sid or sid(), status, **extra)
        return int(post(self.client, "/twilio/status", params, token=token).status_code)

    def check(self) -> list[Alert]:
        self.feed.poll(self.rules, self.clock.t)
        return self.rules.evaluate(self.clock.t, self.store.health.problems())

    def kinds(self, kind: str) -> list[Alert]:
        return [a for a in self.check() if a.kind == kind]

    def end_episode(self) -> None:
        """Past the window (the condition is false), then a quiet spell: the episode is over."""
        self.clock.advance(TH.window_minutes + 1)
        assert self.check() == []
        self.clock.advance(TH.quiet_minutes)
        assert self.check() == []


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    clock = Clock()
    monkeypatch.setattr(receiver_app, "utcnow", clock.iso)  # the receiver stamps received_at with it
    free = [10 * 2**30]
    with Store(tmp_path / "alerts.db", free_space=lambda _p: free[0]) as store:
        config = ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)
        config.allow_demo = lambda: True  # "Simulate traffic" is running: the demo token is accepted
        client = create_app(store, config).test_client()
        feed = AlertFeed(lambda: open_reader(store.path))
        yield Env(store, client, clock, AlertRules(TH), feed, free)
        feed.close()


# ---------------------------------------------------------------------------- failure rate
def test_failure_rate_fires_once_per_episode_and_again_after_a_quiet_spell(env: Env) -> None:
    assert env.callback("delivered") == 200
    assert env.callback("failed") == 200
    assert env.kinds(FAILURE_RATE) == []  # 1 of 2 is not "50% failing": under min_messages
    for status in ["delivered"] * 6 + ["undelivered"] * 2:  # 10 final statuses, 3 failed: 30%
        env.callback(status)
    fired = env.kinds(FAILURE_RATE)
    assert len(fired) == 1 and "3 of 10" in fired[0].text
    for _ in range(20):  # the campaign keeps failing: no alert per callback
        env.callback("failed")
        assert env.check() == []
    env.end_episode()
    for _ in range(10):
        env.callback("undelivered")
    assert len(env.kinds(FAILURE_RATE)) == 1  # a new episode


def test_failure_rate_below_the_threshold_or_on_transient_statuses_does_not_fire(env: Env) -> None:
    for status in ["delivered"] * 9 + ["failed"]:  # 10%
        env.callback(status)
    for status in ("queued", "sent") * 10:  # not final: not counted at all
        env.callback(status)
    assert env.check() == []


# ---------------------------------------------------------------------------- new error code
def test_a_new_error_code_fires_once_and_a_code_already_in_the_database_never(env: Env) -> None:
    env.clock.advance(-24 * 60)  # a day ago: far outside the window, still in the database
    env.callback("undelivered", ErrorCode="30003")
    env.clock.advance(24 * 60)
    assert env.check() == []  # history is not announced
    env.callback("undelivered", ErrorCode="30003")
    assert env.kinds(NEW_ERROR_CODE) == []
    env.callback("failed", ErrorCode="30008")
    fired = env.kinds(NEW_ERROR_CODE)
    assert [a.title for a in fired] == ["New error code 30008"]
    for _ in range(5):
        env.callback("failed", ErrorCode="30008")
    assert env.kinds(NEW_ERROR_CODE) == []


# ---------------------------------------------------------------------------- rejections
def test_a_wrong_auth_token_fires_rejecting_once_per_episode(env: Env) -> None:
    wrong = "f" * 32
    for _ in range(4):
        assert env.callback("delivered", token=wrong) == 403
    assert env.kinds(REJECTING) == []  # under the threshold (5)
    assert env.callback("delivered", token=wrong) == 403
    assert len(env.kinds(REJECTING)) == 1
    for _ in range(10):
        env.callback("delivered", token=wrong)
        assert env.kinds(REJECTING) == []
    env.end_episode()
    for _ in range(5):
        env.callback("sent", token=wrong)
    assert len(env.kinds(REJECTING)) == 1


def test_refused_noise_while_callbacks_are_accepted_is_not_an_alert(env: Env) -> None:
    env.callback("sent")
    for _ in range(20):
        assert env.callback("delivered", token="f" * 32) == 403
    assert env.kinds(REJECTING) == []


def test_unsigned_requests_from_a_scanner_are_not_an_alert(env: Env) -> None:
    for _ in range(20):
        answer = env.client.post("/twilio/status", data=status_params(sid(), "delivered"))
        assert answer.status_code == 403
    assert env.kinds(REJECTING) == []


# ---------------------------------------------------------------------------- Twilio cannot reach us
def twilio_alert(alert_sid: str, code: int, when: float) -> dict[str, Any]:
    return {
        "sid": alert_sid,
        "error_code": str(code),
        "log_level": "error",
        "alert_text": "Msg=Connection refused&sourceComponent=14100",
        "request_url": "https://user:secret@abc123.ngrok-free.app/twilio/status?x=1",
        "date_created": datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message_sid": sid(),
    }


def test_twilio_unreachable_alerts_fire_once_per_episode_whatever_the_repeats(env: Env) -> None:
    batch = [twilio_alert("NO" + "1" * 32, 11200, env.clock.t - 30)]
    env.rules.twilio_alerts(batch, env.clock.t)
    fired = env.kinds(UNREACHABLE)
    assert len(fired) == 1 and "11200" in fired[0].text
    assert "secret" not in fired[0].text and "user" not in fired[0].text  # no credentials echoed
    for minute in range(3):  # the poller sends the same alert again, and new ones keep coming
        env.clock.advance(1)
        env.rules.twilio_alerts(batch + [twilio_alert(f"NO{minute:032d}", 11205, env.clock.t)], env.clock.t)
        assert env.check() == []
    env.end_episode()
    env.rules.twilio_alerts(batch, env.clock.t)  # an old repeat does not start an episode
    assert env.check() == []
    env.rules.twilio_alerts([twilio_alert("NO" + "2" * 32, 11205, env.clock.t)], env.clock.t)
    assert len(env.kinds(UNREACHABLE)) == 1


def test_twilio_alerts_about_other_things_or_long_ago_do_not_fire(env: Env) -> None:
    env.rules.twilio_alerts(
        [
            twilio_alert("NO" + "3" * 32, 30003, env.clock.t),  # a delivery error, not reachability
            twilio_alert("NO" + "4" * 32, 11200, env.clock.t - 3600),  # before the window
        ],
        env.clock.t,
    )
    assert env.check() == []


# ---------------------------------------------------------------------------- not storing
def wait_for_problems(env: Env, present: bool) -> None:
    """The free-space probe runs at most every DISK_CHECK_EVERY s: poll the condition, with a deadline."""
    wait_until(lambda: bool(env.store.health.problems()) == present, what="the store health change")


def test_not_storing_fires_once_per_episode_and_pruning_never_fires(env: Env) -> None:
    for _ in range(5):
        env.callback("delivered")
    env.clock.advance(60 * 24 * 10)
    prune(env.store, Retention(accepted_days=1, rejected_days=1), messages_before=env.clock.iso())
    assert env.check() == []  # retention deleting old rows is normal work
    env.free[0] = 1024
    wait_for_problems(env, True)
    assert env.callback("delivered") == 503
    fired = env.kinds(NOT_STORING)
    assert len(fired) == 1 and "disk almost full" in fired[0].text
    for _ in range(3):
        assert env.callback("delivered") == 503
        assert env.check() == []
    env.free[0] = 10 * 2**30
    wait_for_problems(env, False)
    env.clock.advance(1)
    assert env.check() == []
    env.clock.advance(TH.quiet_minutes)
    assert env.check() == []  # the episode ended here
    env.free[0] = 1024
    wait_for_problems(env, True)
    assert len(env.kinds(NOT_STORING)) == 1


# ---------------------------------------------------------------------------- simulated traffic, start
def test_simulated_traffic_fires_nothing(env: Env) -> None:
    for _ in range(20):
        assert env.callback("failed", token=DEMO_AUTH_TOKEN, ErrorCode="30008") == 200
    assert env.check() == []
    env.callback("failed", ErrorCode="30008")  # the first real one: the code is new for real traffic
    assert [a.kind for a in env.check()] == [NEW_ERROR_CODE]


def test_a_restart_sees_the_last_windows_failures_but_not_older_ones(env: Env) -> None:
    env.clock.advance(-30)
    for _ in range(10):
        env.callback("failed")  # half an hour ago
    env.clock.advance(30)
    assert env.check() == []
    fresh = AlertRules(TH)
    feed = AlertFeed(lambda: open_reader(env.store.path))
    for _ in range(10):
        env.callback("failed")
    feed.poll(fresh, env.clock.t)  # a new feed (app restart) seeds from the last window only
    fired = fresh.evaluate(env.clock.t, [])
    assert [a.text.split(" final")[0] for a in fired if a.kind == FAILURE_RATE] == ["10 of 10"]
    feed.close()


# ---------------------------------------------------------------------------- cost
def test_every_feed_query_uses_a_key_or_an_index(env: Env) -> None:
    """On a big database a full scan would cost seconds per look: each query must seek, not scan."""
    env.callback("delivered")
    env.callback("failed", ErrorCode="30008")
    env.callback("sent", token="f" * 32)
    statements: list[str] = []
    conn = connect(env.store.path, readonly=True)
    conn.set_trace_callback(statements.append)
    feed = AlertFeed(lambda: Reader(conn))
    rules = AlertRules(TH)
    feed.poll(rules, env.clock.t)  # the seed
    env.callback("failed", ErrorCode="30009")  # a code never seen: the index lookup
    feed.poll(rules, env.clock.t)
    plain = sqlite3.connect(env.store.path)
    checked = 0
    for sql in set(statements):
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        plan = " | ".join(row[3] for row in plain.execute("EXPLAIN QUERY PLAN " + sql).fetchall())
        checked += 1
        print(sql, "=>", plan)
        assert "SCAN" not in plan, f"{sql!r} scans: {plan}"
    assert checked >= 4
    assert any("idx_events_error_code" in sql or "error_code = " in sql for sql in statements)
    feed.close()
