"""“Going live”: the Tools-menu actions, status-bar widget and lifecycle hooks that connect the main
window to the tunnel, the Twilio credentials, the setup wizard, sending, and restoring webhooks.

The main window owns it (``MainWindow.live``, built in its constructor) and keeps the close sequence:
before it closes it asks ``before_close`` whether the webhooks the app set must be put back first, then
calls ``shutdown`` (tunnel stopped, background work joined).

Lifecycle, because an operator's live account is at stake:
* at start, webhooks the app changed in an earlier session and never restored (a crash, a kill) are
  offered for restore;
* at close, per the ``live/on_exit`` setting (default: restore), the close waits for the restore to
  finish (off the GUI thread); with "ask", the operator chooses Restore, Keep or Cancel (stay open);
* when the free ngrok URL changes, everything the app configured is re-pointed (automatically if the
  operator ticked it, else after asking);
* when the operator moves to another URL (their own, or stops the tunnel) while webhooks the app set
  are live, a dialog offers to re-point them (only to a URL confirmed to reach this receiver), restore
  the previous values, or leave them — and leaving them keeps a warning in the status bar;
* restoring or re-pointing without stored credentials asks for them first, then carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton, QLabel, QMessageBox, QWidget

from desktop import badges, theme
from desktop.live.context import ClientFactory, SetupContext, default_factory
from desktop.live.credentials_dialog import CredentialsDialog
from desktop.live.own_url import OwnUrlDialog
from desktop.live.port_dialog import PortDialog
from desktop.live.send_dialog import SendDialog
from desktop.live.tunnel_controller import ManagerFactory, TunnelController
from desktop.live.tunnel_form import TunnelSettingsDialog
from desktop.live.wizard import SetupWizard
from desktop.workers import TaskRunner
from receiver import reachability
from receiver.credentials import load_credentials
from receiver.tunnel import TunnelError, TunnelManager
from receiver.webhook_apply import ApplyResult, restore_all
from receiver.webhook_repoint import repoint

if TYPE_CHECKING:  # the window imports this module to build its GoingLive
    from desktop.main_window import MainWindow

ADVICE_BUTTONS = {
    "no_binary": "Set the ngrok path…",
    "no_authtoken": "Enter the ngrok authtoken…",
    "bad_authtoken": "Enter the ngrok authtoken…",
}


@dataclass(frozen=True)
class LiveOptions:
    """Where going live's outside calls go: Twilio's REST API, the ngrok agent, the reachability probe
    of an own URL (None: the internet). Tests point them at the fakes."""

    client_factory: ClientFactory = field(default=default_factory)
    tunnel_factory: ManagerFactory = field(default=TunnelManager)
    probe_via: reachability.Resolver | None = None


class GoingLive(QObject):
    """Owns the tunnel controller, the background runner and the going-live actions of one window."""

    def __init__(self, window: MainWindow, options: LiveOptions | None = None) -> None:
        super().__init__(window)
        options = options or LiveOptions()
        self.window = window
        controller = window.controller
        self.runner = TaskRunner(self)
        self.tunnel = TunnelController(
            controller, window.settings, controller.secrets, self.runner, options.tunnel_factory, self
        )
        self.ctx = SetupContext(controller, self.tunnel, controller.secrets, window.settings, self.runner)
        self.ctx.client_factory = options.client_factory
        self.ctx.probe = self.probe
        self.probe_via = options.probe_via
        self.wizard: SetupWizard | None = None
        self.dialog: QWidget | None = None  # the last dialog opened (tests drive it)
        self.error_box: QMessageBox | None = None
        self.offer_box: QMessageBox | None = None
        self.close_box: QMessageBox | None = None  # "restore before closing?" (live/on_exit = ask)
        self.last_report: list[str] = []

        self.status = QLabel()
        self.status.setObjectName("public_url_status")
        window.statusBar().addPermanentWidget(self.status)
        # "Twilio still calls a dead URL": stays until a restore or re-point succeeds
        self.warning = QLabel()
        self.warning.setObjectName("live_warning")
        self.warning.setWordWrap(False)
        theme.follow_theme(self.warning, lambda: badges.tint(self.warning, "error"))
        self.warning.hide()
        window.statusBar().addPermanentWidget(self.warning)
        self.actions: dict[str, QAction] = {}
        for key, text, slot in (
            ("wizard", "Set up Twilio webhooks…", self.open_wizard),
            ("start_tunnel", "Start tunnel", self.start_tunnel),
            ("stop_tunnel", "Stop tunnel", self.stop_tunnel),
            ("own_url", "Use my own public URL…", self.open_own_url),
            ("tunnel_settings", "Tunnel settings…", self.open_tunnel_settings),
            ("port", "Receiver port…", self.open_port),
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
        self._show_state()
        self.check_leftovers()
        if controller.port_note:
            self.port_box = QMessageBox(
                QMessageBox.Icon.Warning, "The receiver's port is taken", controller.port_note, parent=window
            )
            self.port_box.open()

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
        # local only says nothing the receiver's status bar does not ("Local :port", and the copy
        # button's tooltip): the room goes to messages, so a 1024-pixel window still shows them whole
        self.status.setVisible(mode != "off" and self.warning.isHidden())
        self.actions["start_tunnel"].setEnabled(mode in ("off", "own"))
        self.actions["stop_tunnel"].setEnabled(mode in ("tunnel", "starting", "own"))

    def _note(self, text: str, ms: int = 20000) -> None:
        self.window.statusBar().showMessage(text, ms)

    # ------------------------------------------------------------------ tunnel
    def start_tunnel(self) -> None:
        old = self.tunnel.public_url
        self.tunnel.start(on_done=lambda url: self.offer_after_switch(old, url, reached=True))

    def stop_tunnel(self) -> None:
        old = self.tunnel.public_url
        self.tunnel.stop()
        self.offer_after_switch(old, None, reached=False)

    def probe(self, url: str) -> reachability.Reach:
        """Does ``url`` reach this receiver? Blocks: call from a worker thread (dialogs and pages do)."""
        controller = self.ctx.controller
        return reachability.probe(url, controller.db_path, controller.port, resolve=self.probe_via)

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

        def clicked(button: QAbstractButton) -> None:
            if fix_button is not None and button is fix_button:
                self.open_tunnel_settings("ngrok_path" if error.kind == "no_binary" else "authtoken")
            elif button is own_button:
                self.open_own_url()

        box.buttonClicked.connect(clicked)
        self.error_box = box
        box.open()

    def open_tunnel_settings(self, focus: str | None = None) -> None:
        dialog = TunnelSettingsDialog(self.ctx.settings, self.ctx.secrets, self.window)
        self._show(dialog)
        field = {"authtoken": dialog.form.authtoken, "ngrok_path": dialog.form.ngrok_path}.get(focus or "")
        if field is not None:
            field.setFocus()
            field.selectAll()

    def open_own_url(self) -> None:
        current = self.tunnel.public_url if self.tunnel.mode == "own" else ""
        dialog = OwnUrlDialog(
            current or str(self.ctx.settings.value("tunnel/own_url", "") or ""),
            self.window,
            port=self.ctx.controller.port,
            probe=self.probe,
            runner=self.runner,
        )
        dialog.accepted.connect(lambda: self._use_own_url(dialog.url, dialog.reached))
        self._show(dialog)

    def _use_own_url(self, url: str, reached: bool) -> None:
        old = self.tunnel.public_url
        self.tunnel.use_own_url(url)
        self.offer_after_switch(old, url, reached=reached)

    def open_port(self) -> PortDialog:
        controller = self.ctx.controller
        dialog = PortDialog(self.ctx.settings, controller.port, self.window)
        dialog.accepted.connect(
            lambda: self._note(
                f"The receiver will listen on port {dialog.port} from the next start."
                if dialog.port
                else "The receiver will pick a free port at each start."
            )
        )
        self._show(dialog)
        return dialog

    # ------------------------------------------------------------------ moving away from a live URL
    def offer_after_switch(self, old: str | None, new: str | None, *, reached: bool) -> None:
        """The operator moved from ``old`` to ``new`` (None: no public URL). If webhooks the app set are
        live, Twilio still calls ``old``: offer re-point (only to a URL that reaches us), restore, leave."""
        store = self.ctx.controller.store
        if not old or old == new or store is None:
            return
        creds = load_credentials(self.ctx.secrets)
        account = creds.account_sid if creds else None

        def offer(pending: list[dict[str, Any]]) -> None:
            if not pending:
                return
            names = ", ".join(sorted({str(b["target_name"] or b["target_sid"]) for b in pending}))
            why = "is no longer served by this app" if new else "no longer reaches this computer"
            box = QMessageBox(
                QMessageBox.Icon.Warning,
                "Twilio still calls the old URL",
                f"The monitor set the webhooks of {names} to\n{old}\nwhich {why}. Twilio goes on "
                "calling it, and those calls fail.",
                parent=self.window,
            )
            repoint = None
            if new and reached:
                box.setInformativeText(f"Re-point them to {new}, or put their previous settings back?")
                repoint = box.addButton("Re-point to the new URL", QMessageBox.ButtonRole.AcceptRole)
            elif new:
                box.setInformativeText(
                    f"{new} was not confirmed to reach this receiver, so re-pointing to it is not "
                    "offered (check it, then use Tools → Use my own public URL… again). Put their "
                    "previous settings back?"
                )
            else:
                box.setInformativeText("Put their previous settings back?")
            restore = box.addButton("Restore previous settings", QMessageBox.ButtonRole.DestructiveRole)
            box.addButton("Leave them", QMessageBox.ButtonRole.RejectRole)

            def clicked(button: QAbstractButton) -> None:
                if repoint is not None and button is repoint and new:
                    self.repoint_now(new)
                elif button is restore:
                    self.restore_now()
                else:
                    self.warn_dead_url(old)

            box.buttonClicked.connect(clicked)
            self.offer_box = box
            box.open()

        self.runner.run("pending-backups", lambda: store.pending_backups(account), offer)

    def warn_dead_url(self, url: str | None) -> None:
        """Keep saying it in the status bar until a restore or re-point succeeds (short, so the window
        still fits a small screen; the whole story is in the tooltip)."""
        where = url or "an address that no longer reaches this app"
        self.warning.setText("⚠ Twilio still calls the old URL")
        self.warning.setToolTip(
            f"Webhooks the monitor configured still point at {where}, so Twilio's calls fail. "
            "Tools → Restore previous webhooks puts the previous values back; Tools → Use my own "
            "public URL… or Start tunnel offers to re-point them."
        )
        # in place of this widget's URL line (the receiver's status bar shows the URL too): the
        # window keeps fitting a 1024-pixel screen
        self.status.hide()
        self.warning.show()

    def clear_warning(self) -> None:
        self.warning.clear()
        self.warning.hide()
        self._show_state()

    def url_changed(self, old: str, new: str) -> None:
        """The free tunnel URL moved: Twilio still calls ``old``. Re-point, or offer to (also without
        stored credentials: re-pointing asks for them)."""
        store = self.ctx.controller.store
        if store is None:
            return
        creds = load_credentials(self.ctx.secrets)
        if creds is not None and self.ctx.auto_repoint:
            self.repoint_now(new)
            return

        def offer(pending: list[dict[str, Any]]) -> None:
            if not pending:
                return  # the monitor configured nothing: nothing calls the old URL because of it
            box = QMessageBox(
                QMessageBox.Icon.Question,
                "The tunnel's URL changed",
                f"ngrok gave the tunnel a new address:\n{new}\n\nTwilio still sends webhooks to\n{old}\n"
                "which no longer reaches this computer.",
                parent=self.window,
            )
            box.setInformativeText("Re-point the numbers and services the monitor configured to the new URL?")
            yes = box.addButton("Re-point now", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
            box.buttonClicked.connect(
                lambda b: self.repoint_now(new) if b is yes else self.warn_dead_url(old)
            )
            self.offer_box = box
            box.open()

        account = creds.account_sid if creds else None
        self.runner.run("pending-backups", lambda: store.pending_backups(account), offer)

    def with_credentials(self, why: str, action: Callable[[], None]) -> bool:
        """Run ``action`` now if credentials are stored, else ask for them and run it once Twilio accepted
        them. Returns False when it had to ask."""
        if load_credentials(self.ctx.secrets) is not None:
            action()
            return True
        dialog = CredentialsDialog(
            self.ctx.secrets, self.runner, self.ctx.client_factory, self.window, reason=why
        )
        dialog.form.verified.connect(lambda _info: action())
        self._show(dialog)
        return False

    def repoint_now(self, new_base: str, then: Callable[[], None] | None = None) -> None:
        self.with_credentials(
            f"To re-point the webhooks to {new_base}, the monitor needs your Twilio credentials.",
            lambda: self._repoint(new_base, then),
        )

    def _repoint(self, new_base: str, then: Callable[[], None] | None = None) -> None:
        ctx = self.ctx

        def work() -> ApplyResult | None:
            creds = ctx.credentials()
            if not ctx.store().pending_backups(creds.account_sid):
                return None
            return repoint(ctx.client_factory(creds), ctx.store(), creds.account_sid, new_base, ctx.overrides)

        def done(result: ApplyResult | None) -> None:
            if result is not None:
                self._note(f"Re-pointed {len(result.target_sids)} target(s) to {new_base}.")
            self.clear_warning()
            if then is not None:
                then()

        self._note(f"Re-pointing webhooks to {new_base}…")
        self.runner.run("repoint", work, done, lambda exc: self._failed_box("Re-pointing failed", exc))

    def _failed_box(self, title: str, exc: BaseException) -> None:
        """A failure the operator must read in full (a status-bar line would be cut off)."""
        self._note(title + ".", 10000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, str(exc), parent=self.window)
        box.setInformativeText(
            "Nothing was lost: the previous values stay saved. Fix the cause, then try again from "
            "Tools → Restore previous webhooks."
        )
        self.error_box = box
        box.open()

    # ------------------------------------------------------------------ dialogs
    def _show(self, dialog: QWidget) -> None:
        self.dialog = dialog
        dialog.show()

    def open_credentials(self) -> None:
        dialog = CredentialsDialog(self.ctx.secrets, self.runner, self.ctx.client_factory, self.window)
        # leftovers of an earlier session may only be restorable now that credentials exist
        dialog.form.verified.connect(lambda _info: self.check_leftovers())
        self._show(dialog)

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
        """Put back every webhook the app changed and has not restored (off the GUI thread); asks for
        the credentials first when none are stored."""
        self.with_credentials(
            "To restore the previous webhooks, the monitor needs the Twilio credentials of the account "
            "they belong to. They are checked with Twilio, then the restore runs.",
            lambda: self._restore(then),
        )

    def _restore(self, then: Callable[[], None] | None = None) -> None:
        ctx = self.ctx

        def work() -> list[str]:
            creds = ctx.credentials()
            return restore_all(ctx.client_factory(creds), ctx.store(), creds.account_sid)

        def done(report: list[str]) -> None:
            self.last_report = report or ["Nothing to restore."]
            self._note(" ".join(self.last_report), 60000)
            self.status.setToolTip("\n".join(self.last_report))
            self.clear_warning()
            if then is not None:
                then()

        def failed(exc: BaseException) -> None:
            self.last_report = [f"Restore failed: {exc}"]
            if then is not None:
                self._note(self.last_report[0], 60000)
                then()
            else:
                self._failed_box("Restore failed", exc)

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
            if self.offer_box is not None and self.offer_box.isVisible():
                return  # already asking
            names = sorted({str(b["target_name"] or b["target_sid"]) for b in pending})
            box = QMessageBox(
                QMessageBox.Icon.Warning,
                "Webhooks still point at the monitor",
                "An earlier session changed the webhooks of "
                + ", ".join(names)
                + " and did not put them back (the app was closed without restoring, or crashed).",
                parent=self.window,
            )
            needs = (
                ""
                if load_credentials(self.ctx.secrets)
                else " (you will be asked for the Twilio credentials)"
            )
            box.setInformativeText(f"Restore the previous values now{needs}?")
            yes = box.addButton("Restore now", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
            box.buttonClicked.connect(lambda b: self.restore_now() if b is yes else self.warn_dead_url(None))
            self.offer_box = box
            box.open()

        self.runner.run("pending-backups", store.pending_backups, offer)

    # ------------------------------------------------------------------ closing
    def _pending_on_exit(self) -> bool:
        """Are there webhooks this app set that closing should put back (per ``live/on_exit``)?

        Without stored credentials nothing can be restored now; the next start offers it."""
        ctx = self.ctx
        store = ctx.controller.store
        creds = load_credentials(ctx.secrets)
        if ctx.on_exit == "keep" or store is None or creds is None:
            return False
        return bool(store.pending_backups(creds.account_sid))

    def before_close(self, proceed: Callable[[], None], cancel: Callable[[], None]) -> bool:
        """The window is closing. True: nothing to do first, close now. False: it restores first (or
        asks), then calls ``proceed()`` once closing may go on, or ``cancel()`` when the operator
        chose to stay. Never blocks: the restore runs off the GUI thread, the question is window-modal."""
        if not self._pending_on_exit():
            return True

        def restore_then_proceed() -> None:
            self.restore_now(then=lambda: self._after_restore_on_close(proceed, cancel))

        if self.ctx.on_exit == "restore":
            restore_then_proceed()
            return False
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Restore previous webhooks?",
            "The monitor set your numbers' and services' webhooks. Put their previous webhooks back "
            "before closing?",
            parent=self.window,
        )
        box.setObjectName("close_box")
        box.setInformativeText(
            "If you keep the monitor's, Twilio goes on calling a URL that stops working when the app "
            "closes (the next start offers to restore them)."
        )
        restore = box.addButton("Restore and close", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton("Keep them and close", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(restore)

        def clicked(button: QAbstractButton) -> None:
            self.close_box = None
            if button is restore:
                restore_then_proceed()
            elif button is keep:
                proceed()
            else:
                cancel()

        box.buttonClicked.connect(clicked)
        self.close_box = box
        box.open()
        return False

    def _after_restore_on_close(self, proceed: Callable[[], None], cancel: Callable[[], None]) -> None:
        """Closing after a restore: if some webhooks are still the monitor's (Twilio unreachable, a
        target refused), say so and let the operator choose, rather than close on a dead URL unseen."""
        if not self._pending_on_exit():
            proceed()
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Some webhooks were not restored",
            "\n".join(self.last_report) or "The previous webhooks could not be put back.",
            parent=self.window,
        )
        box.setObjectName("close_box")
        box.setInformativeText(
            "Twilio still calls this app's URL for them, and those calls fail once it closes. Close "
            "anyway (the next start offers the restore again), or stay open and try again with "
            "Tools → Restore previous webhooks."
        )
        close = box.addButton("Close anyway", QMessageBox.ButtonRole.DestructiveRole)
        stay = box.addButton("Stay open", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)

        def clicked(button: QAbstractButton) -> None:
            self.close_box = None
            if button is close:
                proceed()
            else:
                self.warn_dead_url(None)
                cancel()

        box.buttonClicked.connect(clicked)
        self.close_box = box
        box.open()

    def shutdown(self) -> None:
        """Stop the tunnel and wait for background jobs: nothing may outlive the window."""
        self.tunnel.shutdown()
        self.runner.join()
