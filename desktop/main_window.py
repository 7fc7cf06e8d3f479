"""The main window: tabs (Messages, Requests, Error lookup, Statistics), toolbar, menus, status bar.

It wires views to the controller and to each other and owns nothing slow: simulation and export run on
worker threads (``SimulationRunner``, ``CsvExport``) and report back by signal. It owns going live
(``self.live``: tunnel, credentials, the wizard) and the one close sequence: the window's close, File →
Quit, the tray's Quit and the app's end (SIGINT, SIGTERM) all come through ``closeEvent``/``shut_down``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop.export_csv import CsvExport, ExportJob, export_messages, export_requests
from desktop.live.going_live import GoingLive, LiveOptions
from desktop.models.message_query import MessageFilter
from desktop.prune_dialog import PruneDialog, load_retention
from desktop.receiver_controller import ReceiverController
from desktop.reconcile_controller import install as install_reconcile
from desktop.simulation import SimulationRunner
from desktop.team_menu import VIEWER_NOTE, attach_viewer, install_team_menu
from desktop.views.error_lookup import ErrorLookupPanel
from desktop.views.messages_view import MessagesView
from desktop.views.request_inspector import RequestInspector
from desktop.views.stats_view import StatsView
from desktop.views.status_bar import ReceiverStatusBar, WarningBanner

if TYPE_CHECKING:  # loads psycopg: only an attached window (desktop/window_host.py) imports it
    from desktop.team_source import TeamSource

ORGANIZATION = "CallbackMonitor"
APPLICATION = "callback-monitor"
DEFAULT_SIZE = (1400, 850)

# (module, class, tab title): built by other modules; a missing one becomes a placeholder tab.


def make_settings() -> QSettings:
    """The app's settings: an INI file in the user's config folder (tests point IniFormat at a temp dir).

    Holds window layout and filters only; secrets go to the keyring (receiver.secrets)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


class MainWindow(QMainWindow):
    """Callback Monitor's window around a started (or starting) ``ReceiverController``, or attached to a
    team database (``team``: the views read it, and the controller, never started, only holds the
    settings of the features a viewer has switched off).

    Signals:
        storeRequested(str): the operator chose another store to show: a postgresql:// URL (its
            password is in the keyring), or "" for this computer's database. The app switches windows.
        closed(): the close sequence finished (the window shut down).
        closeCanceled(): the operator chose to stay (going live's question before closing).
    """

    storeRequested = Signal(str)
    closed = Signal()
    closeCanceled = Signal()

    def __init__(
        self,
        controller: ReceiverController,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
        live: LiveOptions | None = None,
        team: TeamSource | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.team = team
        # what the views read and follow: the embedded receiver's database, or the team database
        self.source: ReceiverController | TeamSource = team if team is not None else controller
        source = self.source
        self.settings = settings if settings is not None else make_settings()
        # the platform appends the application display name ("… — Callback Monitor"): the title names the DB
        self.setWindowTitle(team.name if team is not None else controller.db_path.name)
        self.resize(*DEFAULT_SIZE)

        self.messages = MessagesView(source.read, self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("tabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.messages, "Messages")
        self.inspector = RequestInspector(source, self)
        self.error_panel = ErrorLookupPanel(source, self, settings=self.settings)
        self.stats_view = StatsView(source, self)
        for widget, title in (
            (self.inspector, "Requests"),
            (self.error_panel, "Error lookup"),
            (self.stats_view, "Statistics"),
        ):
            self.tabs.addTab(widget, title)
        self.extra_tabs: dict[str, QWidget] = {
            type(w).__name__: w for w in (self.inspector, self.error_panel, self.stats_view)
        }

        self.banner = WarningBanner(controller, self)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.status = ReceiverStatusBar(controller, self)
        self.setStatusBar(self.status)

        self.simulation = SimulationRunner(controller, self)
        self.simulation.progress.connect(lambda d, t: self.status.show_progress(d, t, "Simulating"))
        self.simulation.finished.connect(self._simulation_done)
        self.simulation.failed.connect(self._simulation_failed)
        self.export: CsvExport | None = None
        self.controller.retention = load_retention(self.settings)
        self.prune_dialog: PruneDialog | None = None
        self.validation_box: QMessageBox | None = None  # the open "turn off validation?" question
        # (title, suggested path) -> chosen path or "": the save dialog; tests answer it through here
        self.choose_save_path: Callable[[str, str], str] = self.ask_export_path

        self._build_actions()
        self.reconcile = install_reconcile(self)  # Tools → Reconcile with Twilio…, Twilio alerts…
        self.live = GoingLive(self, live)  # Tools → tunnel, credentials, the set-up wizard, restore
        # one Twilio client for the wizard and reconciliation (a fake in tests)
        self.reconcile.client_factory = self.live.ctx.client_factory
        self._closing = False  # the close sequence is under way (a restore or a question first)
        self._shut_down = False
        self._shutdown_steps: list[Callable[[], None]] = []
        source.dataChanged.connect(self.messages.refresh)
        source.failed.connect(lambda text: self.status.showMessage(text, 15000))
        self.team_actions = install_team_menu(self)  # File → Connect to a team database… / back
        self.status.show_store(source)
        if team is not None:
            attach_viewer(self, team)
        self.messages.errorCodeRequested.connect(self.show_error_code)
        self.messages.detail.notice.connect(lambda text: self.status.showMessage(text, 5000))
        self.messages.requestsForSid.connect(self.show_requests_for)
        self.messages.simulateRequested.connect(self.simulate_traffic)
        self.error_panel.filterByErrorCode.connect(self.filter_by_error_code)
        self.stats_view.errorCodeActivated.connect(self.show_error_code)
        self.stats_view.messagesRequested.connect(self.show_messages)
        self.restore_state()

    # ------------------------------------------------------------------ construction
    def _build_actions(self) -> None:
        self.simulate_action = QAction("Simulate traffic…", self)
        self.simulate_action.setObjectName("simulate_action")
        self.simulate_action.setStatusTip(
            "Send realistic signed SMS/WhatsApp callbacks to the embedded receiver"
        )
        self.simulate_action.triggered.connect(self.simulate_traffic)
        self.stop_simulation_action = QAction("Stop simulation", self)
        self.stop_simulation_action.setEnabled(False)
        self.stop_simulation_action.triggered.connect(self.simulation.stop)
        self.export_action = QAction("Export messages to CSV…", self)
        self.export_action.setObjectName("export_action")
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setStatusTip(
            "Write the messages (or, on the Requests tab, the request log) matching the filters to a CSV file"
        )
        self.tabs.currentChanged.connect(self._name_export)
        self.export_action.triggered.connect(lambda: self.export_csv())
        self.validate_action = QAction("Validate Twilio signatures", self)
        self.validate_action.setObjectName("validate_action")
        self.validate_action.setCheckable(True)
        self.validate_action.setChecked(self.controller.config.validate)
        self.validate_action.toggled.connect(self._validate_toggled)
        self.quit_action = QAction("Quit", self)  # the window's close: its close sequence runs
        self.quit_action.setObjectName("quit_action")
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)

        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.simulate_action, self.stop_simulation_action, self.export_action):
            toolbar.addAction(action)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

        menu = self.menuBar()
        file_menu = self.file_menu = menu.addMenu("&File")
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = menu.addMenu("&View")
        find = view_menu.addAction("Search messages")
        find.setShortcut(QKeySequence("Ctrl+F"))
        find.triggered.connect(self.focus_search)
        view_menu.addSeparator()
        self.tab_actions: list[QAction] = []
        for i in range(self.tabs.count()):
            action = view_menu.addAction(self.tabs.tabText(i))
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _=False, n=i: self.tabs.setCurrentIndex(n))
            self.tab_actions.append(action)
        self.tools_menu: QMenu = menu.addMenu("&Tools")
        self.tools_menu.setObjectName("tools_menu")
        self.tools_menu.addAction(self.simulate_action)
        self.tools_menu.addAction(self.stop_simulation_action)
        self.tools_menu.addAction(self.validate_action)
        self.prune_action = QAction("Storage and retention…", self)
        self.prune_action.setObjectName("prune_action")
        self.prune_action.setStatusTip("How long the request log is kept; delete old messages; durability")
        self.prune_action.triggered.connect(self.open_prune_dialog)
        self.tools_menu.addAction(self.prune_action)
        self.shared_keys_action = self.tools_menu.addAction("Shared signing keys…", self.edit_shared_keys)
        self.shared_keys_action.setObjectName("shared_keys_action")
        self.purge_simulated_action = self.tools_menu.addAction(
            "Purge simulated traffic…", self.purge_simulated
        )
        self.purge_simulated_action.setObjectName("purge_simulated_action")
        self.controller.purged.connect(self._purged)
        self.tools_menu.addSeparator()
        help_menu = menu.addMenu("&Help")
        help_menu.addAction("About Callback Monitor", self._about)

        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.messages)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        escape.activated.connect(self._clear_filters)
        undo = QShortcut(QKeySequence.StandardKey.Undo, self.messages)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self._restore_filters)
        self._cleared_filter: MessageFilter | None = None
        self.controller.configChanged.connect(
            lambda: self.validate_action.setChecked(self.controller.config.validate)
        )

    def _clear_filters(self) -> None:
        """Esc: clear the filters, and say how to get them back (Ctrl+Z)."""
        previous = self.messages.filter_bar.current_filter()
        if previous.is_empty:
            return
        self._cleared_filter = previous
        self.messages.clear_filters()
        self.status.showMessage("Filters cleared — press Ctrl+Z to put them back.", 10000)

    def _restore_filters(self) -> None:
        if self._cleared_filter is not None and self.messages.filter_bar.current_filter().is_empty:
            self.messages.filter_bar.set_filter(self._cleared_filter)
            self.status.showMessage("Filters restored.", 5000)
        self._cleared_filter = None

    def add_tools_action(self, action: QAction) -> None:
        """For other modules (wizard, tunnel): add ``action`` to the Tools menu (and nothing else)."""
        self.tools_menu.addAction(action)

    # ------------------------------------------------------------------ cross-view navigation
    def show_error_code(self, code: int) -> None:
        panel = self.error_panel
        if panel is not None and hasattr(panel, "show_code"):
            panel.show_code(code)
            self.tabs.setCurrentWidget(panel)

    def filter_by_error_code(self, code: int) -> None:
        # only the code: a preset or search left over (Inbound, say) would hide every message that has it
        self.messages.filter_bar.set_filter(MessageFilter(error_code=code))
        self.tabs.setCurrentWidget(self.messages)

    def show_messages(self, flt: MessageFilter) -> None:
        """The Messages tab with exactly ``flt`` (a drill-down from the statistics)."""
        self.messages.filter_bar.set_filter(flt)
        self.tabs.setCurrentWidget(self.messages)

    def show_requests_for(self, sid: str) -> None:
        """The Requests tab, filtered to the requests that name ``sid``."""
        self.inspector.outcome.setCurrentIndex(0)
        self.inspector.search.setText(sid)
        self.inspector.apply_filter()
        self.tabs.setCurrentWidget(self.inspector)

    def focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.messages)
        self.messages.focus_search()

    # ------------------------------------------------------------------ simulation
    def simulate_traffic(self) -> None:
        if self.team is not None:  # the empty table's "simulate" link
            self.status.showMessage(self.simulate_action.statusTip(), 15000)
            return
        messages, ok = QInputDialog.getInt(
            self,
            "Simulate traffic",
            "Outbound messages to simulate (each sends 1–4 status callbacks; some recipients reply).\n"
            "Signed with the public demo token, accepted from this computer only while the run lasts, "
            "and marked simulated (Tools → Purge simulated traffic… removes it):",
            50,
            1,
            100_000,
        )
        if ok:
            self.start_simulation(messages)

    def start_simulation(self, messages: int = 50, rate: float = 20.0) -> bool:
        started = self.simulation.start(messages=messages, rate=rate)
        if started:
            self.simulate_action.setEnabled(False)
            self.stop_simulation_action.setEnabled(True)
            self.status.show_progress(0, 1, "Simulating")
        return started

    def _simulation_done(self, summary: str) -> None:
        self.simulate_action.setEnabled(True)
        self.stop_simulation_action.setEnabled(False)
        self.status.hide_progress()
        self.status.showMessage(summary, 30000)

    def _simulation_failed(self, reason: str) -> None:
        self._simulation_done(reason)

    # ------------------------------------------------------------------ signing keys, simulated data
    def edit_shared_keys(self) -> None:
        from desktop.shared_keys_dialog import SharedKeysDialog

        dialog = SharedKeysDialog(self.controller, self)
        if dialog.exec() and dialog.saved_where == "session":
            self.status.showMessage(
                "Shared keys saved for this session only: no system keyring is available.", 15000
            )

    def purge_simulated(self) -> None:
        answer = QMessageBox.question(
            self,
            "Purge simulated traffic",
            "Delete every message, event and request that the simulator sent (validated by the public "
            "demo token)? Real traffic is kept. This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.purge_simulated()

    def _purged(self, counts: dict[str, int]) -> None:
        self.status.showMessage(
            f"Purged simulated traffic: {counts.get('messages', 0)} messages, {counts.get('events', 0)} "
            f"events, {counts.get('requests', 0)} requests.",
            15000,
        )

    # ------------------------------------------------------------------ export
    def export_csv(self, path: str | Path | None = None) -> bool:
        """Export what the current tab shows: the request log on the Requests tab, else the messages
        (with the Messages tab's filter and sort). Asks for a file name when ``path`` is None."""
        if self.export is not None:
            self.status.showMessage("An export is already running.", 5000)
            return False
        requests = self.tabs.currentWidget() is self.inspector
        what = "requests" if requests else "messages"
        if path is None:
            chosen = self.choose_save_path(f"Export {what} to CSV", str(Path.home() / f"{what}.csv"))
            if not chosen:
                return False
            path = chosen
        db_path, dest = self.source.location, path
        job: ExportJob
        if requests:
            expected = self.inspector.model.rowCount()
            job = partial(export_requests, db_path, dest, self.inspector.model.filter)
        else:
            model = self.messages.model
            flt, sort, expected = model.filter, model.sort_spec, model.total
            job = partial(export_messages, db_path, dest, flt, sort)
        export = CsvExport(self)
        export.finished.connect(lambda rows, p: self._export_done(rows, p, what))
        export.failed.connect(self._export_failed)
        self.export = export
        export.start(self.source.tasks, job, dest, expected, what)
        return True

    def _name_export(self) -> None:
        """The export action says what it will write: the request log on the Requests tab."""
        requests = self.tabs.currentWidget() is self.inspector
        self.export_action.setText(f"Export {'requests' if requests else 'messages'} to CSV…")

    def ask_export_path(self, title: str, suggested: str) -> str:
        """The file to export to ("" when canceled)."""
        chosen, _filter = QFileDialog.getSaveFileName(self, title, suggested, "CSV files (*.csv)")
        return chosen

    def _export_done(self, rows: int, path: str, what: str = "messages") -> None:
        self.export = None
        text = "Export canceled." if rows < 0 else f"Exported {rows:,} {what} to {path}"
        self.status.showMessage(text, 30000)

    def _export_failed(self, reason: str) -> None:
        self.export = None
        QMessageBox.warning(self, "Export to CSV", reason)

    def open_prune_dialog(self) -> PruneDialog:
        """One dialog, reused: a prune still running when it is closed reports to it, not to a deleted one."""
        if self.prune_dialog is None:
            self.prune_dialog = PruneDialog(self.controller, self.settings, self)
            self.prune_dialog.pruned.connect(lambda text: self.status.showMessage(text, 30000))
        self.prune_dialog.open()
        return self.prune_dialog

    # ------------------------------------------------------------------ settings / lifecycle
    def restore_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.messages.restore_state(self.settings)
        index = self.settings.value("window/tab", 0)
        try:
            self.tabs.setCurrentIndex(int(str(index)))
        except ValueError:
            pass

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        self.messages.save_state(self.settings)
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        """The one close sequence: going live first (restore the webhooks, or ask), then ``shut_down``."""
        if not self._shut_down:
            if self._closing:  # restoring or asking already: the first close finishes the job
                event.ignore()
                return
            self._closing = True
            if not self.live.before_close(proceed=self._close_after_live, cancel=self._stay_open):
                event.ignore()
                return
            self.shut_down()
        super().closeEvent(event)

    def _close_after_live(self) -> None:
        self.shut_down()
        self.close()

    def _stay_open(self) -> None:
        self._closing = False
        self.status.showMessage("Still running: nothing was closed or restored.", 10000)
        self.closeCanceled.emit()

    def also_on_shutdown(self, step: Callable[[], None]) -> None:
        """Run ``step`` when the window shuts down (before the receiver stops)."""
        self._shutdown_steps.append(step)

    def shut_down(self) -> None:
        """Stop everything the window started, then the receiver, waiting for background work. Safe to
        call twice; the app calls it after the event loop too (it may have ended without a close)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.save_state()
        self.simulation.stop()
        if self.export is not None:
            self.export.cancel.set()
        self.live.shutdown()
        self.reconcile.shutdown()
        for step in self._shutdown_steps:
            step()
        if self.team is not None:
            self.team.stop()
        self.controller.stop()
        self.closed.emit()

    def _validate_toggled(self, on: bool) -> None:
        """Turning validation on applies at once; turning it off asks first (window-modal, not blocking)."""
        if on == self.controller.config.validate:
            return
        if on:
            self.controller.set_validate(True)
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Turn off signature validation?",
            "Without validation the receiver accepts any request that looks like a Twilio webhook, "
            "including forged ones, and stores it with your real traffic.\n\n"
            "Turn it off only to test locally, and turn it back on before real traffic.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("validation_off_box")
        turn_off = box.addButton("Turn off validation", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.validation_box = box

        def done() -> None:
            self.validation_box = None
            if box.clickedButton() is turn_off:
                self.controller.set_validate(False)
            else:
                self.validate_action.setChecked(True)
            box.deleteLater()

        box.finished.connect(done)
        box.open()

    def about_text(self) -> str:
        from receiver.paths import log_dir

        try:
            version = importlib.metadata.version("callback-monitor")
        except importlib.metadata.PackageNotFoundError:
            version = "(not installed)"
        if self.team is not None:
            where, receiver = self.team.name, f"none on this desktop ({VIEWER_NOTE})"
        else:
            where, receiver = str(self.controller.db_path), self.controller.local_url or "stopped"
        return (
            f"Callback Monitor {version}\n\n"
            "Shows Twilio SMS/WhatsApp delivery callbacks as they arrive.\n\n"
            f"Database: {where}\n"
            f"Log files: {log_dir()}\n"
            f"Receiver: {receiver}"
        )

    def _about(self) -> None:
        QMessageBox.about(self, "About Callback Monitor", self.about_text())
