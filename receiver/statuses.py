"""Message statuses and the rule that a message never moves back.

Twilio does not promise order: ``delivered`` may arrive before ``sent``, ``read`` before ``delivered``.
Each status has a rank; a message's current status is the highest-ranked status seen so far, and every
callback is kept in the event history whatever its rank.

Clashes between terminal statuses follow one documented rule, *evidence of delivery wins*:
``read`` > ``delivered`` > ``partially_delivered`` > ``undelivered`` > ``failed`` > ``canceled``.
A handset confirmation (delivered/read) is positive proof that outranks a carrier's or WhatsApp's negative
report (on multi-device WhatsApp users Meta can report ``failed`` and later ``delivered``); among negative
outcomes the later-stage report (undelivered: reached a carrier) outranks the earlier-stage one (failed).

A status we do not know is stored as it came and ranked 0: it is shown (as unknown) only while the message
has no known status, and never replaces a known one.
"""

from __future__ import annotations

RANKS: dict[str, int] = {
    # outbound, transient
    "scheduled": 10,
    "accepted": 20,
    "queued": 30,
    "sending": 40,
    "sent": 50,
    # inbound
    "receiving": 45,
    "received": 100,
    # outbound, terminal (evidence of delivery wins)
    "canceled": 60,
    "failed": 70,
    "undelivered": 75,
    "partially_delivered": 78,
    "delivered": 80,
    "read": 90,
}

TERMINAL = frozenset(
    {"canceled", "failed", "undelivered", "partially_delivered", "delivered", "read", "received"}
)
# the final statuses of an outbound message (delivery rates, alert windows), and the failed ones among them
OUTBOUND_FINAL = TERMINAL - {"received"}
FAILED = frozenset({"failed", "undelivered"})
DELIVERED = frozenset({"delivered", "read"})  # evidence the message reached the handset
ALL_KNOWN = tuple(RANKS)


def rank(status: str) -> int:
    """The rank of ``status``; 0 for a status Twilio may add later that we do not know yet."""
    return RANKS.get(status.strip().lower(), 0)


def is_known(status: str) -> bool:
    return status.strip().lower() in RANKS


def supersedes(new_status: str, current_status: str | None) -> bool:
    """True when a callback with ``new_status`` should become the message's current status."""
    if current_status is None:
        return True
    return rank(new_status) > rank(current_status)
