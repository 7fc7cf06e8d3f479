"""Shared fixtures: an isolated home folder, an in-memory keyring, a seeded database, a running controller.

Kept free of Qt imports at module level so the receiver's headless tests can check that ``serve`` never
loads Qt; Qt objects are created inside the fixtures that need them (pytest-qt provides ``qapp``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import keyring
import keyring.backend
import pytest

if TYPE_CHECKING:  # annotations only: importing them here would load Qt into the headless tests
    from PySide6.QtWidgets import QApplication

    from desktop.receiver_controller import ReceiverController

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TEST_AUTH_TOKEN = "0123456789abcdef0123456789abcdef"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in a dict: tests never read or write the developer's real keychain."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CALLBACK_MONITOR_HOME in a temp folder (data, logs), and no Twilio token from the environment."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CALLBACK_MONITOR_HOME", str(home))
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


# ------------------------------------------------------------------------------------------ seeded data
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACCOUNT = "AC" + "a" * 32
SERVICE = "MG" + "b" * 32


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


@dataclass
class SeedInfo:
    """What ``seeded_db`` wrote, so tests can compute expected counts without re-reading the DB."""

    path: Path
    messages: list[dict[str, Any]] = field(default_factory=list)

    def count(self, pred: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for m in self.messages if pred(m))


def _seed_rows(n: int) -> list[dict[str, Any]]:
    outcomes = [
        ("delivered", None),
        ("sent", None),
        ("undelivered", 30003),
        ("failed", 21610),
        ("queued", None),
    ]
    rows = []
    for i in range(n):
        inbound = i % 5 == 4
        whatsapp = i % 3 == 0
        channel = "whatsapp" if whatsapp else ("mms" if i % 7 == 0 else "sms")
        prefix = "whatsapp:" if whatsapp else ""
        customer = f"{prefix}+1415555{i:04d}"
        ours = f"{prefix}+14155550100"
        if inbound:
            status, code = "received", None
        elif whatsapp and i % 2 == 0:
            status, code = "read", None
        else:
            status, code = outcomes[i % len(outcomes)]
        when = iso(BASE + timedelta(minutes=i))
        rows.append(
            {
                "sid": f"{'MM' if channel == 'mms' else 'SM'}{i:032d}",
                "direction": "inbound" if inbound else "outbound",
                "channel": channel,
                "from_addr": customer if inbound else ours,
                "to_addr": ours if inbound else customer,
                "body": f"reply number {i}" if inbound else None,
                "status": status,
                "error_code": code,
                "messaging_service_sid": None if inbound else SERVICE,
                "account_sid": ACCOUNT,
                "num_segments": None if inbound else 1 + i % 3,
                "num_media": 1 if inbound and i % 10 == 9 else 0,
                "price": None if inbound else f"-0.00{(i % 9) + 1}",
                "price_unit": None if inbound else "USD",
                "profile_name": f"Person {i}" if inbound and whatsapp else None,
                "channel_status_message": "Unreachable destination handset" if code == 30003 else None,
                "first_seen": when,
                "updated_at": when,
                "source": "inbound" if inbound else "callback",
            }
        )
    return rows


def seed_database(path: Path, n: int = 60) -> SeedInfo:
    """Write ``n`` deterministic messages (with events, media and request-log lines) through the Store."""
    from receiver import statuses
    from receiver.store import Store

    rows = _seed_rows(n)

    def job(conn: sqlite3.Connection) -> None:
        for k, row in enumerate(rows):
            history = ["received"] if row["direction"] == "inbound" else ["queued", "sent", row["status"]]
            history = list(dict.fromkeys(history))
            cols = {**row, "status_rank": statuses.rank(row["status"]), "event_count": len(history)}
            conn.execute(
                f"INSERT INTO messages ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                list(cols.values()),
            )
            for j, st in enumerate(history):
                final = j == len(history) - 1
                payload = {"MessageSid": row["sid"], "MessageStatus": st, "AccountSid": ACCOUNT}
                if final and row["error_code"]:
                    payload["ErrorCode"] = str(row["error_code"])
                if row["direction"] == "inbound":
                    payload.update(
                        {"Body": row["body"], "From": row["from_addr"], "NumMedia": str(row["num_media"])}
                    )
                received = iso(BASE + timedelta(minutes=k, seconds=j))
                cur = conn.execute(
                    "INSERT INTO requests (received_at, method, path, query, remote_addr, headers, body, "
                    "body_size, content_type, kind, outcome, http_status, reason, latency_ms, message_sid) "
                    "VALUES (?, 'POST', ?, '', '203.0.113.10', '{}', '', 0, "
                    "'application/x-www-form-urlencoded', ?, 'accepted', ?, '', 1.5, ?)",
                    (
                        received,
                        "/twilio/inbound" if row["direction"] == "inbound" else "/twilio/status",
                        "inbound" if row["direction"] == "inbound" else "status",
                        200,
                        row["sid"],
                    ),
                )
                conn.execute(
                    "INSERT INTO events (message_sid, status, error_code, event_type, event_key, "
                    "channel_status_message, raw_dlr_done_date, received_at, request_id, payload) "
                    "VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)",
                    (
                        row["sid"],
                        st,
                        row["error_code"] if final else None,
                        f"{row['sid']}|{st}|",
                        row["channel_status_message"] if final else None,
                        "2603020900" if final and st == "delivered" else None,
                        received,
                        cur.lastrowid,
                        json.dumps(payload),
                    ),
                )
            if row["num_media"]:
                conn.execute(
                    "INSERT INTO media (message_sid, idx, url, content_type) VALUES (?, 0, ?, 'image/jpeg')",
                    (
                        row["sid"],
                        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{row['sid']}/Media/ME0",
                    ),
                )
        conn.execute(
            "INSERT INTO requests (received_at, method, path, query, remote_addr, headers, body, body_size, "
            "content_type, kind, outcome, http_status, reason, latency_ms, message_sid) VALUES (?, 'POST', "
            "'/twilio/status', '', '198.51.100.7', '{}', 'MessageSid=SMx', 14, "
            "'application/x-www-form-urlencoded', 'status', 'rejected', 403, 'signature does not match', "
            "0.4, NULL)",
            (iso(BASE + timedelta(minutes=n)),),
        )

    store = Store(path)
    try:
        store.run(job)
    finally:
        store.close()
    return SeedInfo(path=path, messages=rows)


@pytest.fixture
def seeded_db(tmp_path: Path) -> SeedInfo:
    """A closed (unlocked) database with 60 deterministic messages; see ``_seed_rows`` for the pattern."""
    return seed_database(tmp_path / "seeded.db")


# ------------------------------------------------------------------------------------------ controller
class MakeController(Protocol):
    """``make_controller(db_path, token=TEST_AUTH_TOKEN, start=True)``: see the fixture."""

    def __call__(
        self, db_path: Path, *, token: str | None = TEST_AUTH_TOKEN, start: bool = True
    ) -> ReceiverController: ...


@pytest.fixture
def make_controller(qapp: QApplication) -> Iterator[MakeController]:
    """Factory for started ReceiverControllers (127.0.0.1, free port, in-memory keyring); all are stopped
    in teardown, which joins the waitress and store-writer threads."""
    from desktop.receiver_controller import ReceiverController
    from receiver.secrets import TWILIO_AUTH_TOKEN, SecretStore

    made: list[ReceiverController] = []

    def make(db_path: Path, *, token: str | None = TEST_AUTH_TOKEN, start: bool = True) -> ReceiverController:
        secrets = SecretStore(keyring.get_keyring())
        if token:
            secrets.set(TWILIO_AUTH_TOKEN, token)
        ctl = ReceiverController(db_path, secrets=secrets)
        made.append(ctl)
        if start:
            ctl.start()
        return ctl

    yield make
    for ctl in made:
        ctl.stop()


@pytest.fixture
def controller(make_controller: MakeController, tmp_path: Path) -> ReceiverController:
    """A started controller on an empty database, with TEST_AUTH_TOKEN as the Twilio auth token."""
    return make_controller(tmp_path / "callbacks.db")


@pytest.fixture
def seeded_controller(make_controller: MakeController, seeded_db: SeedInfo) -> ReceiverController:
    """A started controller on the seeded database."""
    return make_controller(seeded_db.path)
