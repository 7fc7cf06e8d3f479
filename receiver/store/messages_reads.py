"""The messages table's pages, filters and counts."""

from __future__ import annotations

from .base import ReadsBase


class MessagesReads(ReadsBase):
    pass
