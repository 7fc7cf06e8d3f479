"""How often an error code was seen (the error lookup)."""

from __future__ import annotations

from .base import ReadsBase


class ErrorsReads(ReadsBase):
    pass
