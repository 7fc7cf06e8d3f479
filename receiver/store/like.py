"""Substring search with LIKE: the one escaper, so ``%`` and ``_`` typed by the operator match themselves."""

from __future__ import annotations

ESCAPE = "ESCAPE '\\'"  # goes after every ``LIKE ?`` that takes a pattern from ``contains``


def contains(text: str) -> str:
    """The LIKE pattern for "contains ``text``" (use with ``ESCAPE``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
