"""Where the app keeps its files: platform folders (platformdirs) and bundled resources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "callback-monitor"
APP_AUTHOR = "CallbackMonitor"


def data_dir() -> Path:
    """The user data folder; ``CALLBACK_MONITOR_HOME`` overrides it (tests, portable installs)."""
    override = os.environ.get("CALLBACK_MONITOR_HOME")
    path = Path(override) / "data" if override else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    override = os.environ.get("CALLBACK_MONITOR_HOME")
    path = Path(override) / "logs" if override else Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path() -> Path:
    return data_dir() / "callbacks.db"


def resource_path(name: str) -> Path:
    """A file under ``resources/``, from the source tree or from a PyInstaller bundle."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) if frozen_root else Path(__file__).resolve().parent.parent
    return root / "resources" / name
