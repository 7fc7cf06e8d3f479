"""Waiting for a condition that nothing announces (another process's socket, a file's size, a counter a
background thread bumps), outside Qt; Qt tests wait on signals with ``qtbot``. The deadline is generous:
it only bounds how long a broken build takes to fail, it says nothing about speed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, what: str = "the condition") -> T:
    """Poll ``predicate`` until it returns something truthy and return that; AssertionError naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.01)
