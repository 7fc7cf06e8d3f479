"""Where the app keeps its files: platform folders (platformdirs) and bundled resources."""

from __future__ import annotations

import os
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


# Bundled data (the error catalogue, the icon). In the repo it is the top-level resources/ folder; a wheel
# (pyproject's package-dir) and the PyInstaller build (build.spec) both put it in receiver/resources/.
_INSTALLED_RESOURCES = Path(__file__).resolve().parent / "resources"
_SOURCE_RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def resources_dir() -> Path:
    """The folder holding the bundled data files: installed (wheel, frozen build) or the source tree."""
    return _INSTALLED_RESOURCES if _INSTALLED_RESOURCES.is_dir() else _SOURCE_RESOURCES


def resource_path(name: str) -> Path:
    """A bundled data file, e.g. ``resource_path("error_codes.json")``; the only way code finds one."""
    return resources_dir() / name
