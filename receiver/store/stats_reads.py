"""The statistics panel's figures."""

from __future__ import annotations

from .base import ReadsBase


class StatsReads(ReadsBase):
    pass
