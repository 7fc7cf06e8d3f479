"""Windowed reading of a long ordered list: which rows to ask for to read page N cheaply.

Both tables (messages, request log) hold up to millions of rows and show a few dozen. A model keeps a few
pages; to read another it asks for ``limit`` rows after a cached neighbour's last (or before its first)
row by key — keyset paging: the index seeks there — skipping only the pages in between, or counts back
from the end of the list when that is nearer. Never an ``OFFSET`` of a million rows when a cached page is
closer. Backend-neutral: keys are whatever the backend sorts by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Page:
    """Rows in list order (plain dicts) and the sort keys of the first and last (for keyset paging)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    first_key: Any = None
    last_key: Any = None

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class PagePlan:
    """Read ``limit`` rows, skipping ``skip``, after the row keyed ``after`` (None: the start of the list,
    or its end when ``backwards``); ``backwards`` reads towards the start (the rows come back in list
    order all the same)."""

    after: Any
    backwards: bool
    skip: int
    limit: int


def first_page(size: int) -> PagePlan:
    return PagePlan(None, False, 0, size)


def plan_page(page_no: int, size: int, cached: Mapping[int, Page], count: int, count_known: bool) -> PagePlan:
    """The cheapest way to read page ``page_no``: the fewest rows skipped, from the top, from a cached page
    above or below it, or from the end of the list (only when ``count`` is known)."""
    start = page_no * size
    end = min(start + size, count)
    best = PagePlan(None, False, start, size)
    for p, page in cached.items():
        if p < page_no and len(page) == size and start - (p + 1) * size < best.skip:
            best = PagePlan(page.last_key, False, start - (p + 1) * size, size)
        elif p > page_no and len(page) and p * size - end < best.skip:
            best = PagePlan(page.first_key, True, p * size - end, end - start)
    if count_known and count - end < best.skip:
        best = PagePlan(None, True, count - end, end - start)
    return best
