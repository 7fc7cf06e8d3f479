"""GUI fixtures: QSettings in a temp folder (IniFormat), never the user's real settings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from tests.gui.ui import keep_webhooks_on_exit

if TYPE_CHECKING:  # the modules are imported where the fixtures run, after tmp_settings is in place
    from desktop.live.going_live import GoingLive
    from desktop.main_window import MainWindow
    from desktop.receiver_controller import ReceiverController
    from receiver.credentials import ClientFactory
    from receiver.reachability import Resolver
    from tests.conftest import MakeController


@pytest.fixture(autouse=True)
def tmp_settings(tmp_path: Path, qapp: QApplication) -> QSettings:
    """Point every IniFormat/UserScope QSettings at ``tmp_path/settings`` and return a fresh one."""
    from desktop.main_window import make_settings

    folder = tmp_path / "settings"
    folder.mkdir(exist_ok=True)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return make_settings()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """main() configures the app's logger (file handler, no propagation); undo it for other tests."""
    logger = logging.getLogger("callback_monitor")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    for handler in list(logger.handlers):
        if handler not in handlers:
            logger.removeHandler(handler)
            handler.close()
    logger.propagate, logger.level = propagate, level


class OpenLive(Protocol):
    def __call__(
        self, client_factory: ClientFactory, probe_via: Resolver | None = None, **settings: str
    ) -> GoingLive: ...


@pytest.fixture
def open_live(
    make_controller: MakeController, tmp_path: Path, tmp_settings: QSettings, qtbot: QtBot
) -> Iterator[OpenLive]:
    """Open a window (with its going-live part) on an empty DB; at teardown it closes keeping the
    webhooks as they are (``live/on_exit`` = keep, as an operator would choose), through its close.

    ``open_live(client_factory, **settings)``: ``settings`` keys use ``__`` for ``/`` (tunnel__ngrok_path).
    An own public URL's reachability check goes to this window's receiver (as a working reverse proxy
    would send it) unless ``probe_via`` says otherwise (a ``url -> (host, port)`` resolver).
    """
    from desktop.live.going_live import LiveOptions
    from desktop.main_window import MainWindow

    opened: list[MainWindow] = []

    def factory(
        client_factory: ClientFactory, probe_via: Resolver | None = None, **settings: str
    ) -> GoingLive:
        for key, value in settings.items():
            tmp_settings.setValue(key.replace("__", "/"), value)
        controller = make_controller(tmp_path / "live.db", token=None)

        def to_this_receiver(_url: str) -> tuple[str, int]:  # on the port it listens on now
            assert controller.port is not None
            return "127.0.0.1", controller.port

        if probe_via is None:
            probe_via = to_this_receiver
        options = LiveOptions(client_factory=client_factory, probe_via=probe_via)
        window = MainWindow(controller, tmp_settings, live=options)
        qtbot.waitUntil(lambda: not window.live.runner.busy)
        opened.append(window)
        return window.live

    yield factory
    keep_webhooks_on_exit(tmp_settings)
    for window in opened:
        window.close()
        window.deleteLater()


class OpenWindow(Protocol):
    def __call__(self, controller: ReceiverController, *, show: bool = True) -> MainWindow: ...


@pytest.fixture
def open_window(qtbot: QtBot, tmp_settings: QSettings) -> OpenWindow:
    """``open_window(controller, show=True)``: a MainWindow on ``tmp_settings``, closed by qtbot."""
    from desktop.main_window import MainWindow

    def factory(controller: ReceiverController, *, show: bool = True) -> MainWindow:
        win = MainWindow(controller, tmp_settings)
        qtbot.addWidget(win)
        if show:
            win.show()
        return win

    return factory


@pytest.fixture
def window(open_window: OpenWindow, controller: ReceiverController) -> MainWindow:
    """The main window on an empty database with a live receiver, shown."""
    return open_window(controller)


@pytest.fixture
def seeded_window(open_window: OpenWindow, seeded_controller: ReceiverController) -> MainWindow:
    """The main window on the seeded database (tests/conftest.py ``seeded_db``), shown."""
    return open_window(seeded_controller)
