"""Opt-out (STOP) replies: Twilio blocks further sends to that number (error 21610) until it texts START.

Flagged from the inbound message's text (the default opt-out keywords of a long code, matched like
Twilio matches them: the whole message, trimmed, any case) or from ``OptOutType`` when a Messaging
Service has Advanced Opt-Out (``STOP``; ``START``/``HELP`` are not opt-outs).
"""

from __future__ import annotations

KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})


def opt_out_keyword(body: str | None, opt_out_type: str | None = None) -> str | None:
    """The keyword that makes this inbound message an opt-out, or None."""
    if opt_out_type and opt_out_type.strip().upper() == "STOP":
        return "STOP"
    word = (body or "").strip().rstrip(".!").upper()
    return word if word in KEYWORDS else None
