"""Shared by the bench scripts: import path fix-up and small formatting helpers.

Why the path fix: the scripts run as ``python bench/receiver.py``, which puts ``bench/`` first on
``sys.path`` -- and ``bench/receiver.py`` would then shadow the ``receiver`` package. Every script calls
``use_repo_root()`` before it imports anything from ``receiver``.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


def use_repo_root() -> None:
    """Put the repository root ahead of ``bench/`` on ``sys.path`` (idempotent)."""
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    cached = sys.modules.get("receiver")
    if cached is not None and not hasattr(cached, "__path__"):  # the script itself, not the package
        del sys.modules["receiver"]


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q / 100.0 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]
