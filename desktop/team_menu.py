"""The window's team-database parts: File → Connect to a team database… / Back to this computer's
database, and, when attached, the viewer's window (what needs this computer's receiver is off, saying
why). The switch itself is the app's (desktop/window_host.py): the window asks by ``storeRequested``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction

if TYPE_CHECKING:  # the team modules load psycopg: only once a team database is asked for
    from desktop.main_window import MainWindow
    from desktop.team_dialog import ConnectTeamDialog
    from desktop.team_source import TeamSource

TEAM_URL_KEY = "team/url"  # QSettings: the team database shown at start (the URL only, never a password)
VIEWER_NOTE = "the team's receivers write this database; this desktop only shows it"


class TeamActions:
    """File menu entries to attach to a team database and to come back."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.dialog: ConnectTeamDialog | None = None  # the last one opened (tests drive it)
        self.connect_action = QAction("Connect to a team database…", window)
        self.connect_action.setObjectName("team_connect_action")
        self.connect_action.setStatusTip("Show a PostgreSQL database that your team's receivers write, live")
        self.connect_action.triggered.connect(self.open_dialog)
        self.local_action = QAction("Back to this computer's database", window)
        self.local_action.setObjectName("team_local_action")
        self.local_action.setStatusTip("Show this computer's database again, with its own receiver")
        self.local_action.triggered.connect(self.back_to_local)
        self.local_action.setEnabled(window.team is not None)
        menu = window.file_menu
        first = menu.actions()[0]  # the export action: ours go above it
        menu.insertAction(first, self.connect_action)
        menu.insertAction(first, self.local_action)
        menu.insertSeparator(first)

    def open_dialog(self) -> ConnectTeamDialog:
        from desktop.team_dialog import ConnectTeamDialog

        window = self.window
        remembered = str(window.settings.value(TEAM_URL_KEY, "") or "")
        dialog = ConnectTeamDialog(window.controller.secrets, remembered, window)
        dialog.connected.connect(self._connected)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _connected(self, url: str) -> None:
        self.window.settings.setValue(TEAM_URL_KEY, url)
        self.window.storeRequested.emit(url)

    def back_to_local(self) -> None:
        self.window.settings.remove(TEAM_URL_KEY)
        self.window.storeRequested.emit("")


def install_team_menu(window: MainWindow) -> TeamActions:
    return TeamActions(window)


def attach_viewer(window: MainWindow, team: TeamSource) -> None:
    """Turn ``window`` into a viewer of ``team``: the features that need this computer's receiver are
    off, each saying why; reading (search, filters, detail, export, error lookup, statistics) stays."""
    why: dict[QAction | None, str] = {
        window.simulate_action: "Simulated traffic goes to this computer's receiver",
        window.stop_simulation_action: "Simulated traffic goes to this computer's receiver",
        window.validate_action: "Signatures are checked by the receivers",
        window.prune_action: "Retention is the receivers' job",
        window.shared_keys_action: "Signing keys are the receivers' settings",
        window.purge_simulated_action: "Purging changes the database",
        window.reconcile.action: "Reconciliation writes to the database",
        window.reconcile.alerts_action: "Twilio alerts are fetched by reconciliation",
    }
    for live_action in window.live.actions.values():
        why[live_action] = "Going live points Twilio at this computer's receiver"
    for action, reason in why.items():
        if action is None:
            continue
        action.setEnabled(False)
        text = f"{reason}: off while a team database is shown ({VIEWER_NOTE})."
        action.setToolTip(text)
        action.setStatusTip(text)
    window.tools_menu.setToolTipsVisible(True)
    # the toolbar is the window's most visible place: what a viewer can never do leaves it (the menus keep
    # the actions greyed, with the reason)
    for action in (window.simulate_action, window.stop_simulation_action):
        window.toolbar.removeAction(action)
    window.messages.show_as_viewer(
        "<h3>No messages yet</h3><p>They appear here as soon as the team's receivers store them "
        f"(callback-monitor serve --store …). {VIEWER_NOTE[:1].upper()}{VIEWER_NOTE[1:]}.</p>"
    )
    window.banner.active = False  # its warnings are about this computer's receiver
    window.banner.hide()
    window.live.status.hide()
