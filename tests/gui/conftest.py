"""GUI fixtures: QSettings in a temp folder (IniFormat), never the user's real settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture(autouse=True)
def tmp_settings(tmp_path: Path, qapp: object) -> QSettings:
    """Point every IniFormat/UserScope QSettings at ``tmp_path/settings`` and return a fresh one."""
    from desktop.main_window import make_settings

    folder = tmp_path / "settings"
    folder.mkdir(exist_ok=True)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return make_settings()
