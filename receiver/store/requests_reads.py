"""The request log's pages, filters and one request's detail."""

from __future__ import annotations

from .base import ReadsBase


class RequestsReads(ReadsBase):
    pass
