"""Twilio's alerts and the operator alert feed."""

from __future__ import annotations

from .base import ReadsBase


class AlertsReads(ReadsBase):
    pass
