"""GUI fixtures: QSettings in a temp folder (IniFormat), never the user's real settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture
def open_live(
    make_controller: Callable[..., Any], tmp_path: Path, tmp_settings: QSettings, qtbot: Any
) -> Iterator[Callable[..., Any]]:
    """Open a window with the going-live hooks on an empty DB; closed without restore prompts at teardown.

    ``open_live(client_factory, **settings)``: ``settings`` keys use ``__`` for ``/`` (tunnel__ngrok_path).
    An own public URL's reachability check goes to this window's receiver (as a working reverse proxy
    would send it) unless ``probe_via`` says otherwise (a ``url -> (host, port)`` resolver).
    """
    from desktop.going_live import install
    from desktop.main_window import MainWindow

    opened: list[tuple[Any, Any]] = []

    def factory(client_factory: Callable[..., Any], probe_via: Any = None, **settings: str) -> Any:
        for key, value in settings.items():
            tmp_settings.setValue(key.replace("__", "/"), value)
        controller = make_controller(tmp_path / "live.db", token=None)
        if probe_via is None:
            probe_via = lambda _url: ("127.0.0.1", controller.port)  # noqa: E731
        window = MainWindow(controller, tmp_settings)
        going = install(window, client_factory=client_factory, probe_via=probe_via)
        qtbot.waitUntil(lambda: not going.runner.busy)
        opened.append((window, going))
        return going

    yield factory
    for window, going in opened:
        going._may_close = True
        window.close()
        going.shutdown()
        window.deleteLater()


@pytest.fixture
def open_window(qtbot: Any, tmp_settings: Any) -> Callable[..., Any]:
    """``open_window(controller, show=True)``: a MainWindow on ``tmp_settings``, closed by qtbot."""
    from desktop.main_window import MainWindow

    def factory(controller: Any, *, show: bool = True) -> Any:
        win = MainWindow(controller, tmp_settings)
        qtbot.addWidget(win)
        if show:
            win.show()
        return win

    return factory


@pytest.fixture
def window(open_window: Callable[..., Any], controller: Any) -> Any:
    """The main window on an empty database with a live receiver, shown."""
    return open_window(controller)


@pytest.fixture
def seeded_window(open_window: Callable[..., Any], seeded_controller: Any) -> Any:
    """The main window on the seeded database (tests/conftest.py ``seeded_db``), shown."""
    return open_window(seeded_controller)
