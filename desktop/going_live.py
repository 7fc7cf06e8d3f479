"""“Going live”: the Tools-menu actions, status-bar widget and lifecycle hooks that connect the main
window to the tunnel, the Twilio credentials, the setup wizard, sending, and restoring webhooks.

Installed by one call from ``MainWindow.__init__`` (``install(self)``), so the window stays small.

Lifecycle, because an operator's live account is at stake:
* at start, webhooks the app changed in an earlier session and never restored (a crash, a kill) are
  offered for restore;
* at close, per the ``live/on_exit`` setting (default: restore), the close waits for the restore to
  finish (off the GUI thread), then the tunnel is stopped and the window closes;
* when the free ngrok URL changes, everything the app configured is re-pointed (automatically if the
  operator ticked it, else after asking).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QWidget

from desktop.credentials_dialog import CredentialsDialog, load_credentials
from desktop.send_dialog import SendDialog
from desktop.tunnel_controller import ManagerFactory, TunnelController
from desktop.wizard import SetupWizard
from desktop.wizard.context import ClientFactory, SetupContext, default_factory, repoint
from desktop.wizard.own_url import OwnUrlDialog
from desktop.wizard.tunnel_form import TunnelSettingsDialog
from desktop.workers import TaskRunner
from receiver import twilio_setup as ts
from receiver.tunnel import TunnelError, TunnelManager

ADVICE_BUTTONS = {
    "no_binary": "Set the ngrok path…",
    "no_authtoken": "Enter the ngrok authtoken…",
    "bad_authtoken": "Enter the ngrok authtoken…",
}


class GoingLive(QObject):
    """Owns the tunnel controller, the background runner and the going-live actions of one window."""

    def __init__(
        self,
        window: Any,
        client_factory: ClientFactory = default_factory,
        tunnel_factory: ManagerFactory = TunnelManager,
    ) -> None:
        super().__init__(window)
        self.window: QMainWindow = window
        controller = window.controller
        self.runner = TaskRunner(self)
        self.tunnel = TunnelController(
            controller, window.settings, controller.secrets, self.runner, tunnel_factory, self
        )
        self.ctx = SetupContext(controller, self.tunnel, controller.secrets, window.settings, self.runner)
        self.ctx.client_factory = client_factory
        self.wizard: SetupWizard | None = None
        self.dialog: QWidget | None = None  # the last dialog opened (tests drive it)
        self.error_box: QMessageBox | None = None
        self.offer_box: QMessageBox | None = None
        self.last_report: list[str] = []
        self._closing = False
        self._may_close = False

        self.status = QLabel()
        self.status.setObjectName("public_url_status")
        window.statusBar().addPermanentWidget(self.status)
        self.actions: dict[str, QAction] = {}
        for key, text, slot in (
            ("wizard", "Set up Twilio webhooks…", self.open_wizard),
            ("start_tunnel", "Start tunnel", self.start_tunnel),
            ("stop_tunnel", "Stop tunnel", self.tunnel.stop),
            ("own_url", "Use my own public URL…", self.open_own_url),
            ("tunnel_settings", "Tunnel settings…", self.open_tunnel_settings),
            ("credentials", "Twilio credentials…", self.open_credentials),
            ("send", "Send message…", self.open_send),
            ("restore", "Restore previous webhooks", lambda: self.restore_now()),
        ):
            action = QAction(text, self)
            action.setObjectName(f"live_{key}")
            action.triggered.connect(lambda _=False, f=slot: f())
            window.add_tools_action(action)
            self.actions[key] = action

        self.tunnel.stateChanged.connect(lambda _m: self._show_state())
        self.tunnel.publicUrlChanged.connect(lambda _u: self._show_state())
        self.tunnel.failed.connect(self.show_tunnel_error)
        self.tunnel.urlChanged.connect(self.url_changed)
        window.installEventFilter(self)
        self._show_state()
        self.check_leftovers()

    # ------------------------------------------------------------------ status
    def _show_state(self) -> None:
        mode, url = self.tunnel.mode, self.tunnel.public_url
        text = {
            "off": "Public URL: none (local only)",
            "starting": "Tunnel: starting…",
            "tunnel": f"Tunnel: {url}",
            "own": f"Public URL: {url}",
        }[mode]
        self.status.setText(text)
        self.actions["start_tunnel"].setEnabled(mode in ("off", "own"))
        self.actions["stop_tunnel"].setEnabled(mode in ("tunnel", "starting", "own"))

    def _note(self, text: str, ms: int = 20000) -> None:
        self.window.statusBar().showMessage(text, ms)

    # ------------------------------------------------------------------ tunnel
    def start_tunnel(self) -> None:
        self.tunnel.start()

    def show_tunnel_error(self, error: TunnelError) -> None:
        """What failed and what to do, with buttons for the two ways out (fix ngrok, or own URL)."""
        box = QMessageBox(
            QMessageBox.Icon.Warning, "The tunnel did not start", error.message, parent=self.window
        )
        box.setInformativeText(f"What to do: {error.advice}")
        fix = ADVICE_BUTTONS.get(error.kind)
        fix_button = box.addButton(fix, QMessageBox.ButtonRole.ActionRole) if fix else None
        own_button = box.addButton("Use my own public URL…", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Close)

        def clicked(button: Any) -> None:
            if fix_button is not None and button is fix_button:
                self.open_tunnel_settings()
            elif button is own_button:
                self.open_own_url()

        box.buttonClicked.connect(clicked)
        self.error_box = box
        box.open()

    def open_tunnel_settings(self) -> None:
        dialog = TunnelSettingsDialog(self.ctx.settings, self.ctx.secrets, self.window)
        self._show(dialog)

    def open_own_url(self) -> None:
        dialog = OwnUrlDialog(self.tunnel.public_url or "", self.window)
        dialog.accepted.connect(lambda: self.tunnel.use_own_url(dialog.url))
        self._show(dialog)

    def url_changed(self, old: str, new: str) -> None:
        """The free tunnel URL moved: Twilio still calls ``old``. Re-point, or offer to."""
        if self.ctx.controller.store is None or load_credentials(self.ctx.secrets) is None:
            return
        if self.ctx.auto_repoint:
            self.repoint_now(new)
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "The tunnel's URL changed",
            f"ngrok gave the tunnel a new address:\n{new}\n\nTwilio still sends webhooks to\n{old}\nwhich "
            "no longer reaches this computer.",
            parent=self.window,
        )
        box.setInformativeText("Re-point the numbers and services the monitor configured to the new URL?")
        yes = box.addButton("Re-point now", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.buttonClicked.connect(lambda b: self.repoint_now(new) if b is yes else None)
        self.offer_box = box
        box.open()

    def repoint_now(self, new_base: str, then: Callable[[], None] | None = None) -> None:
        ctx = self.ctx

        def work() -> ts.ApplyResult | None:
            creds = ctx.credentials()
            if not ctx.store().pending_backups(creds.account_sid):
                return None
            return repoint(ctx.client_factory(creds), ctx.store(), creds.account_sid, new_base, ctx.overrides)

        def done(result: ts.ApplyResult | None) -> None:
            if result is not None:
                self._note(f"Re-pointed {len(result.target_sids)} target(s) to {new_base}.")
            if then is not None:
                then()

        self._note(f"Re-pointing webhooks to {new_base}…")
        self.runner.run("repoint", work, done, lambda exc: self._note(f"Re-pointing failed: {exc}", 60000))

    # ------------------------------------------------------------------ dialogs
    def _show(self, dialog: QWidget) -> None:
        self.dialog = dialog
        dialog.show()

    def open_credentials(self) -> None:
        self._show(CredentialsDialog(self.ctx.secrets, self.runner, self.ctx.client_factory, self.window))

    def open_wizard(self) -> SetupWizard:
        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.activateWindow()  # already open: bring it forward rather than start over
            return self.wizard
        self.wizard = SetupWizard(self.ctx, self.window)
        self.wizard.applied.connect(
            lambda r: self._note(f"Applied {len(r.changes)} change(s); previous values saved.")
        )
        self.wizard.show()
        return self.wizard

    def open_send(self) -> SendDialog:
        targets = self.wizard.state.targets if self.wizard is not None else None
        dialog = SendDialog(self.ctx, targets, self.window)
        self._show(dialog)
        return dialog

    # ------------------------------------------------------------------ restore
    def restore_now(self, then: Callable[[], None] | None = None) -> None:
        """Put back every webhook the app changed and has not restored (off the GUI thread)."""
        ctx = self.ctx

        def work() -> list[str]:
            creds = ctx.credentials()
            return ts.restore_all(ctx.client_factory(creds), ctx.store(), creds.account_sid)

        def done(report: list[str]) -> None:
            self.last_report = report or ["Nothing to restore."]
            self._note(" ".join(self.last_report), 60000)
            if then is not None:
                then()

        def failed(exc: BaseException) -> None:
            self.last_report = [f"Restore failed: {exc}"]
            self._note(self.last_report[0], 60000)
            if then is not None:
                then()

        self._note("Restoring the previous webhooks…", 60000)
        self.runner.run("restore", work, done, failed)

    def check_leftovers(self) -> None:
        """At start: offer to restore webhooks an earlier session changed and never put back."""
        store = self.ctx.controller.store
        if store is None:
            return

        def offer(pending: list[dict[str, Any]]) -> None:
            if not pending:
                return
            names = sorted({str(b["target_name"] or b["target_sid"]) for b in pending})
            box = QMessageBox(
                QMessageBox.Icon.Warning,
                "Webhooks still point at the monitor",
                "An earlier session changed the webhooks of "
                + ", ".join(names)
                + " and did not put them back (the app was closed without restoring, or crashed).",
                parent=self.window,
            )
            box.setInformativeText("Restore the previous values now?")
            yes = box.addButton("Restore now", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
            box.buttonClicked.connect(lambda b: self.restore_now() if b is yes else None)
            self.offer_box = box
            box.open()

        self.runner.run("pending-backups", store.pending_backups, offer)

    # ------------------------------------------------------------------ closing
    def _restore_on_exit(self) -> bool:
        ctx = self.ctx
        creds = load_credentials(ctx.secrets)
        if ctx.on_exit == "keep" or ctx.controller.store is None or creds is None:
            return False
        if not ctx.controller.store.pending_backups(creds.account_sid):
            return False
        if ctx.on_exit == "ask":
            answer = QMessageBox.question(
                self.window,
                "Restore previous webhooks?",
                "Put your numbers' and services' previous webhooks back before closing? If you keep the "
                "monitor's, Twilio goes on calling a URL that stops working when the app closes.",
            )
            return answer == QMessageBox.StandardButton.Yes
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.window and event.type() == QEvent.Type.Close and not self._may_close:
            if self._closing:
                event.ignore()
                return True
            if self._restore_on_exit():
                self._closing = True
                event.ignore()
                self.restore_now(then=self._finish_close)
                return True
            self.shutdown()
        return False

    def _finish_close(self) -> None:
        self._may_close = True
        self.shutdown()
        self.window.close()

    def shutdown(self) -> None:
        """Stop the tunnel and wait for background jobs: nothing may outlive the window."""
        self.tunnel.shutdown()
        self.runner.join()


def install(window: Any, **options: Any) -> GoingLive:
    """Add the going-live actions and status to ``window`` (a MainWindow); keep the result alive."""
    live = GoingLive(window, **options)
    window.going_live = live
    return live
