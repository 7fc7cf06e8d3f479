"""Rows for CSV/JSON exports, streamed."""

from __future__ import annotations

from .base import ReadsBase


class ExportReads(ReadsBase):
    pass
