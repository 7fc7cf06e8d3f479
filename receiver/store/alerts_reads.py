"""Twilio's alerts and the operator alert feed."""

from __future__ import annotations

from pathlib import Path

from ..alert_feed import AlertFeed
from ..alert_rules import AlertRules
from .base import ReadsBase, reading
from .core import connect


class AlertsReads(ReadsBase):
    pass


# The alert monitor's feed (receiver.alert_feed) keeps cursors between looks, so it owns a connection of
# its own rather than a method on a Reader: these two keep the driver out of the desktop.
def open_alert_feed(path: str | Path) -> AlertFeed:
    """A feed of the rows added since its last look, on its own read-only connection."""
    return AlertFeed(lambda: connect(path, readonly=True))


def poll_alert_feed(feed: AlertFeed, rules: AlertRules, now: float) -> None:
    """``feed.poll``; a store it cannot read raises StoreError (ReadFailed)."""
    with reading():
        feed.poll(rules, now)
