"""Are the installed ``receiver`` and ``desktop`` packages really Callback Monitor's?

Both are top-level import names, and PyPI has unrelated distributions that install modules with the
same names: pip installs one over the other without a warning (one overwrote ``desktop/__init__.py``),
and uninstalling either deletes files the other needs. What follows is an ImportError or, worse, the
wrong code running. The check asks the installed distributions' records which of them claim these
names, so the clash is named at start instead. A PyInstaller build carries only our code: nothing to check.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from importlib import metadata

DISTRIBUTION = "callback-monitor"
TOP_LEVEL = ("receiver", "desktop")


def clashes(claims: Mapping[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Top-level name -> the other distributions that also install it (empty when all is well)."""
    if claims is None:
        if getattr(sys, "frozen", False):
            return {}
        claims = metadata.packages_distributions()
    found: dict[str, list[str]] = {}
    for name in TOP_LEVEL:
        others = sorted({d for d in claims.get(name, []) if d.lower().replace("_", "-") != DISTRIBUTION})
        if others:
            found[name] = others
    return found


def clash_message(found: dict[str, list[str]]) -> str:
    """What the operator reads when another distribution shares our package names."""
    lines = [
        "callback-monitor: this Python environment also has other packages installed under the names "
        "Callback Monitor uses, so the code that runs may not be Callback Monitor's:"
    ]
    for name, others in found.items():
        lines.append(f"  '{name}' is also installed by: {', '.join(others)}")
    lines.append(
        "Install Callback Monitor in its own virtual environment (python -m venv …), or use the built "
        "program (PyInstaller folder), which carries its own copy."
    )
    return "\n".join(lines)
