"""The app's one window and the store it shows: this computer's database (with its embedded receiver) or a
team database (attached, a viewer).

Switching (the window's ``storeRequested``) closes the window through its own close sequence (going live
may ask to restore webhooks first, and a Cancel there keeps everything as it was); once it has shut down,
the window for the other store opens, before the old one is hidden, so the app never runs out of windows.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QMessageBox

from desktop.live.going_live import LiveOptions
from desktop.main_window import MainWindow
from desktop.receiver_controller import ReceiverController
from receiver.store import StoreError
from receiver.store.url import PostgresTarget, parse


class WindowHost(QObject):
    """Opens the window for a store and re-opens it on another when the operator switches.

    Signals:
        switched(object): the new MainWindow is shown.
    """

    switched = Signal(object)

    def __init__(
        self,
        settings: Callable[[], QSettings],
        make_controller: Callable[[], ReceiverController],
        *,
        live: LiveOptions | None = None,
        decorate: Callable[[MainWindow], object] = lambda _w: None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.make_controller = make_controller  # a controller for this computer's database, not started
        self.live = live
        self.decorate = decorate  # what the app adds to each embedded window (the alerts tray)
        self.window: MainWindow | None = None
        self.store = ""  # what the window shows: a postgresql:// URL, or "" (this computer's database)
        self._pending: str | None = None

    def open(self, store: str, controller: ReceiverController | None = None) -> MainWindow:
        """A shown window on ``store`` ("" or a path: this computer's, with ``controller`` already started
        if given; a URL: attached). Raises StoreError when this computer's receiver cannot start."""
        target = parse(store) if store else None
        team = None
        if isinstance(target, PostgresTarget):
            from desktop.team_source import TeamSource  # psycopg: loaded for a team database only

            team = TeamSource(target)
        if controller is None:
            controller = self.make_controller()
            if team is None:
                try:
                    controller.start()
                except StoreError:
                    controller.stop()
                    raise
        window = MainWindow(controller, self.settings(), live=self.live, team=team)
        if team is not None:
            team.setParent(window)
            team.start()
        else:
            self.decorate(window)
        window.storeRequested.connect(self.switch)
        window.closed.connect(self._after_close)
        window.closeCanceled.connect(self._stay)
        self.window, self.store = window, store if team is not None else ""
        window.show()
        self.switched.emit(window)
        return window

    def switch(self, store: str) -> None:
        """Show ``store`` instead ("" for this computer's database), once the current window has closed."""
        if self.window is None or store == self.store:
            return
        self._pending = store
        self.window.close()  # its close sequence; ``closed`` follows, now or after a question

    def _stay(self) -> None:
        self._pending = None  # the switch is off: the window stays on its store

    def _after_close(self) -> None:
        store, self._pending = self._pending, None
        old = self.window
        if store is None or old is None:
            return  # the app is ending
        previous = self.store
        try:
            self.open(store)
        except StoreError as exc:
            QMessageBox.warning(
                None,
                "Callback Monitor",
                f"This computer's database cannot be opened: {exc}. Still showing {previous}.",
            )
            self.open(previous)
        old.deleteLater()
