"""A small statistics database with answers worked out by hand, filled through the real store.

Callbacks go through ``receiver.callbacks.parse`` and ``Store.record_callback`` (each status is a callback
received at a chosen moment, so the sent → delivered times are known); prices arrive the way the REST API
reports them, through ``Store.record_outbound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from receiver.callbacks import Kind, parse
from receiver.store import RequestRecord, Store

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ACCOUNT = "AC" + "1" * 32
MG_A, MG_B = "MG" + "a" * 32, "MG" + "b" * 32
SMS_1, SMS_2, WA = "+15005550006", "+12025550199", "whatsapp:+14155238886"


@dataclass(frozen=True)
class Msg:
    n: int
    hours_ago: float
    sender: str
    to: str
    service: str | None
    path: tuple[tuple[str, float], ...]  # (status, seconds after the first callback)
    error: int | None = None
    price: str | None = None
    unit: str | None = None

    @property
    def sid(self) -> str:
        return f"SM{self.n:032x}"


# The last 24 hours before NOW ("current"): 7 outbound, 1 inbound.
CURRENT = [
    Msg(1, 1, SMS_1, "+14155550101", MG_A, (("sent", 0), ("delivered", 2)), price="-0.00790", unit="USD"),
    Msg(2, 2, SMS_1, "+14165550102", MG_A, (("sent", 0), ("delivered", 4)), price="-0.0079", unit="USD"),
    Msg(3, 3, SMS_1, "+447911123456", MG_B, (("sent", 0), ("delivered", 10)), price="-0.05000", unit="EUR"),
    Msg(4, 4, SMS_2, "+447911123457", None, (("sent", 0), ("undelivered", 30)), 30003, "-0.04000", "EUR"),
    Msg(
        5, 5, WA, "whatsapp:+4915112345678", MG_B,
        (("sent", 0), ("delivered", 6), ("read", 60)), price="-0.00500", unit="USD",
    ),
    Msg(6, 6, SMS_2, "+14155550103", None, (("failed", 0),), 21610),
    Msg(7, 7, SMS_1, "+14155550104", MG_A, (("sent", 0),)),
]  # fmt: skip
# 24-48 hours before NOW ("previous"): 1 delivered (20 s), 1 failed.
PREVIOUS = [
    Msg(8, 30, SMS_1, "+14155550105", MG_A, (("sent", 0), ("delivered", 20)), price="-0.00790", unit="USD"),
    Msg(9, 31, SMS_1, "+14155550106", MG_A, (("sent", 0), ("failed", 1)), 30008),
]
OLDER = [Msg(10, 80, SMS_1, "+14155550107", MG_A, (("sent", 0), ("delivered", 3)))]
INBOUND_SID = "SM" + "f" * 32

# the answers for CURRENT, worked out by hand
EXPECTED_SPEND = {"EUR": Decimal("0.09"), "USD": Decimal("0.0208")}  # float sums give 0.020800000000000002
EXPECTED_MEDIAN_S = 5.0  # delivery times 2, 4, 6, 10 s (#5: "read" does not restart the clock)
EXPECTED_P90_S = 10.0  # nearest rank: the 4th of 4
EXPECTED_COUNTRIES = [  # (label, outbound, delivered, failed, SIDs)
    ("United States (US)", 3, 1, 1, {CURRENT[0].sid, CURRENT[5].sid, CURRENT[6].sid}),
    ("United Kingdom (GB)", 2, 1, 1, {CURRENT[2].sid, CURRENT[3].sid}),
    ("Canada (CA)", 1, 1, 0, {CURRENT[1].sid}),
    ("Germany (DE)", 1, 1, 0, {CURRENT[4].sid}),
]
EXPECTED_SENDERS = [(SMS_1, 4, 3, 0), (SMS_2, 2, 0, 2), (WA, 1, 1, 0)]
EXPECTED_SERVICES = [(MG_A, 3, 2, 0), ("(no Messaging Service)", 2, 0, 2), (MG_B, 2, 2, 0)]


def _callback(store: Store, items: list[tuple[str, str]], kind: Kind, when: datetime) -> None:
    req = RequestRecord(
        path=f"/twilio/{kind}", kind=kind, received_at=when.isoformat(timespec="milliseconds")
    )
    store.record_callback(parse(kind, items, None), req)


def seed(store: Store) -> None:
    for m in (*CURRENT, *PREVIOUS, *OLDER):
        start = NOW - timedelta(hours=m.hours_ago)
        for status, after in m.path:
            items = [("MessageSid", m.sid), ("AccountSid", ACCOUNT), ("From", m.sender), ("To", m.to)]
            items.append(("MessageStatus", status))
            if m.service:
                items.append(("MessagingServiceSid", m.service))
            if m.error and status in ("failed", "undelivered"):
                items.append(("ErrorCode", str(m.error)))
            _callback(store, items, "status", start + timedelta(seconds=after))
        if m.price is not None:
            store.record_outbound(
                {"sid": m.sid, "status": m.path[-1][0], "price": m.price, "price_unit": m.unit}
            )
    inbound = [("MessageSid", INBOUND_SID), ("AccountSid", ACCOUNT), ("From", "+447911999999"), ("To", SMS_1)]
    _callback(store, [*inbound, ("SmsStatus", "received")], "inbound", NOW - timedelta(hours=2))
