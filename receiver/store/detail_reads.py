"""One message: its row, its timeline of events, its media."""

from __future__ import annotations

from .base import ReadsBase


class DetailReads(ReadsBase):
    pass
