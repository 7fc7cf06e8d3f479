"""Twilio's Monitor alerts that concern this app: which ones, which message each is about, the stored rows.

Reconciliation (reconcile.py) lists them and stores them in ``twilio_alerts`` (m010); the app's alerts
list reads them back with ``Reader.twilio_alerts`` (store/alerts_reads.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qs

# Monitor alerts about webhooks and messaging: the ones this app's operator can act on
ALERT_CODES = frozenset(
    {
        11200,  # HTTP retrieval failure
        11205,  # HTTP connection failure
        11206,  # HTTP protocol violation
        11210,  # HTTP bad host name
        11215,  # HTTP too many redirects
        11220,  # SSL/TLS handshake error
        11237,  # certificate invalid
        11750,  # response body too large
        12100,  # document parse failure
        12200,  # schema validation warning
        12300,  # invalid Content-Type
        30001,  # queue overflow
        30003,  # unreachable destination handset
        30005,  # unknown destination handset
        30006,  # landline or unreachable carrier
        30007,  # message filtered
        30008,  # unknown error
        57012,  # signature invalid (Twilio-side record of a messaging webhook signature mismatch)
    }
)


def message_sid_of_alert(resource_sid: str | None, request_variables: str | None) -> str | None:
    """The message an alert concerns: its resource SID when that is a message, else the ``MessageSid``
    among the request's variables (the callback Twilio failed to deliver)."""
    if resource_sid and resource_sid[:2] in ("SM", "MM"):
        return resource_sid
    if request_variables:
        values = parse_qs(request_variables)
        for key in ("MessageSid", "SmsSid", "SmsMessageSid"):
            if values.get(key):
                return values[key][0]
    return None


def alert_wanted(error_code: int | None, request_url: str | None, prefixes: Iterable[str]) -> bool:
    if error_code in ALERT_CODES:
        return True
    url = request_url or ""
    return any(url.startswith(p) for p in prefixes if p)
