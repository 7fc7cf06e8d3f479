"""GUI fixtures: QSettings in a temp folder (IniFormat), never the user's real settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import QSettings

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from desktop.live.going_live import GoingLive
    from desktop.receiver_controller import ReceiverController
    from receiver.credentials import ClientFactory
    from receiver.reachability import Resolver


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
    make_controller: Callable[..., ReceiverController], tmp_path: Path, tmp_settings: QSettings, qtbot: QtBot
) -> Iterator[Callable[..., GoingLive]]:
    """Open a window (with its going-live part) on an empty DB; at teardown it closes keeping the
    webhooks as they are (``live/on_exit`` = keep, as an operator would choose), through its close.

    ``open_live(client_factory, **settings)``: ``settings`` keys use ``__`` for ``/`` (tunnel__ngrok_path).
    An own public URL's reachability check goes to this window's receiver (as a working reverse proxy
    would send it) unless ``probe_via`` says otherwise (a ``url -> (host, port)`` resolver).
    """
    from desktop.live.context import ON_EXIT_KEY
    from desktop.live.going_live import LiveOptions
    from desktop.main_window import MainWindow

    opened: list[MainWindow] = []

    def factory(
        client_factory: ClientFactory, probe_via: Resolver | None = None, **settings: str
    ) -> GoingLive:
        for key, value in settings.items():
            tmp_settings.setValue(key.replace("__", "/"), value)
        controller = make_controller(tmp_path / "live.db", token=None)
        if probe_via is None:
            probe_via = lambda _url: ("127.0.0.1", controller.port)  # noqa: E731
        options = LiveOptions(client_factory=client_factory, probe_via=probe_via)
        window = MainWindow(controller, tmp_settings, live=options)
        qtbot.waitUntil(lambda: not window.live.runner.busy)
        opened.append(window)
        return window.live

    yield factory
    tmp_settings.setValue(ON_EXIT_KEY, "keep")
    for window in opened:
        window.close()
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
