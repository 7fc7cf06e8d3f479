"""What the operator must always see: where the receiver listens, whether signatures are checked, traffic.

``ReceiverStatusBar`` shows local URL, public URL (or "local only"), signature validation, requests per
minute and rejected requests since start; ``WarningBanner`` repeats a validation problem at the top of the
window in words, because "validation OFF" or "no auth token" changes what every number on screen means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QStatusBar,
    QToolButton,
    QWidget,
)

from desktop import badges, theme
from desktop.formatting import count_of
from desktop.receiver_controller import ReceiverController
from receiver.secrets import TWILIO_AUTH_TOKEN
from receiver.webhook_paths import INBOUND_PATH, STATUS_PATH

if TYPE_CHECKING:
    from desktop.team_source import TeamSource

REFRESH_MS = 1000
NO_TOKEN_TEXT = (
    "Signature validation is ON but no Twilio auth token is set: every webhook will be rejected — "
    "set the auth token (Simulate traffic works without one: it uses the public demo token)."
)
OFF_TEXT = (
    "Signature validation is OFF: any request that looks like a Twilio webhook is accepted, "
    "including forged ones. Turn it on before real traffic."
)


def signers(controller: ReceiverController) -> tuple[str, str]:
    """(short status-bar text, tooltip): which secret validates what, right now."""
    parts, tips = [], []
    if controller.secrets.get(TWILIO_AUTH_TOKEN):
        parts.append("auth token")
        tips.append("Webhooks without a shared-key header: X-Twilio-Signature checked with your auth token.")
    keys = controller.shared_keys
    if keys:
        parts.append(count_of(len(keys), "shared key"))
        tips.append("Webhooks naming a shared key (" + ", ".join(sorted(keys)) + "): checked with that key.")
    if controller.simulating:
        parts.append("demo token (local only) while simulating")
        tips.append(
            "While Simulate traffic runs, the public demo token is accepted from this computer only "
            "(never through the tunnel); that traffic is marked simulated."
        )
    return "Signatures: " + "; ".join(parts), "\n".join(tips)


def validation_problem(controller: ReceiverController) -> str | None:
    """The warning to show, or None when validation is on and a token is configured."""
    if not controller.config.validate:
        return OFF_TEXT
    if not controller.has_token:
        return NO_TOKEN_TEXT
    return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]  # "Status callback URL" -> "status callback URL"


class ReceiverStatusBar(QStatusBar):
    """Permanent receiver facts on the right, transient messages on the left, a progress bar for jobs."""

    def __init__(self, controller: ReceiverController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.progress = QProgressBar(self)
        self.progress.setObjectName("job_progress")
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.addWidget(self.progress)

        self.local = self._label("local_url")
        # the public URL itself is shown once, by the going-live status (tunnel or own URL); this button
        # copies the full webhook URLs, which is what the operator pastes into the Twilio console
        self.public = QToolButton(self)
        self.public.setObjectName("public_url")
        self.public.setText("Copy webhook URLs")
        self.public.setAutoRaise(True)
        self.public.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.public_menu = QMenu(self.public)
        self.public.setMenu(self.public_menu)
        self.validation_icon = QLabel(self)
        self.validation = self._label("validation")
        self.rate = self._label("rate")
        self.rejected = self._label("rejected")
        self.store_state = self._label("store_health")  # shown only while callbacks are refused
        self.store = self._label("store_shown")  # which database is shown and who writes it
        self.connection = self._label("team_connection")  # attached: live / lost / reconnected
        self.connection.hide()
        self.receiver_facts: tuple[QWidget, ...] = (
            self.local,
            self.public,
            self.validation_icon,
            self.validation,
            self.rate,
            self.rejected,
        )
        for widget in (self.connection, self.store, self.store_state, *self.receiver_facts):
            self.addPermanentWidget(widget)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.update_facts)
        self._timer.start()
        controller.configChanged.connect(self.update_facts)
        controller.started.connect(self.update_facts)
        controller.stopped.connect(self.update_facts)
        controller.dataChanged.connect(self.update_counters)
        theme.follow_theme(self, self.update_facts)  # the icons are drawn in theme colours

    def _label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def update_facts(self) -> None:
        ctl = self.controller
        # short, so transient messages on the left keep their room at 1024 px: the full URL is the tooltip
        self.local.setText(f"Local :{ctl.port}" if ctl.running else "Receiver: stopped")
        self.local.setToolTip(
            f"This computer's database {ctl.db_path}, written by this window's receiver, which listens on "
            f"{ctl.local_url}"
            if ctl.running
            else f"This computer's database {ctl.db_path}"
        )
        self._fill_url_menu()
        problem = validation_problem(ctl)
        if problem is None:
            badges.tint(self.validation, None)
            text, tip = signers(ctl)
            self.validation.setText(text)
            self.validation_icon.setPixmap(badges.kind_icon("ok").pixmap(16, 16))
            self.validation.setToolTip(tip)
        else:
            off = not ctl.config.validate
            badges.tint(self.validation, "error")
            demo = "; demo token (local only) while simulating" if ctl.simulating and not off else ""
            self.validation.setText(
                "<b>Signatures: NOT CHECKED</b>" if off else f"<b>No auth token: webhooks rejected</b>{demo}"
            )
            self.validation_icon.setPixmap(badges.warning_icon().pixmap(16, 16))
            self.validation.setToolTip(problem)
        stored = ctl.store_problems()
        self.store_state.setVisible(bool(stored))
        if stored:
            badges.tint(self.store_state, "error")
            self.store_state.setText(f"<b>Not storing (503): {stored[0].split(':')[0]}</b>")
            self.store_state.setToolTip("\n".join(stored))
        self.update_counters()

    def webhook_urls(self) -> list[tuple[str, str]]:
        """(what, full URL) for the console's webhook fields, on the public URL when there is one."""
        base = self.controller.webhook_base
        if not base:
            return []
        return [
            ("Status callback URL", base + STATUS_PATH),
            ("Inbound message URL", base + INBOUND_PATH),
        ]

    def _fill_url_menu(self) -> None:
        self.public_menu.clear()
        urls = self.webhook_urls()
        for what, url in urls:
            action = self.public_menu.addAction(f"Copy {_lower_first(what)}: {url}")
            action.triggered.connect(lambda _=False, w=what, u=url: self._copy(w, u))
        self.public.setEnabled(bool(urls))
        public = self.controller.config.public_url
        self.public.setToolTip(
            "\n".join(url for _w, url in urls)
            + (
                ""
                if public
                else "\n\nLocal only: Twilio cannot reach these until a tunnel or your own public URL is set."
            )
        )

    def _copy(self, what: str, url: str) -> None:
        QGuiApplication.clipboard().setText(url)
        self.showMessage(f"Copied the {_lower_first(what)}: {url}", 8000)

    def update_counters(self) -> None:
        stats = self.controller.stats
        self.rate.setText(f"{stats.per_minute()} req/min")
        self.rate.setToolTip(f"{stats.total} requests since start")
        self.rejected.setText(f"{stats.rejected} rejected")
        self.rejected.setToolTip("Requests refused since start (bad signature, malformed, too large …)")

    def show_store(self, source: ReceiverController | TeamSource) -> None:
        """Say which database the window shows and who writes it; attached, follow the connection and
        the team's receivers instead of this computer's receiver (which a viewer does not run)."""
        if isinstance(source, ReceiverController):
            # "Local :port" says it already (its tooltip names the file): at 1024 px the transient
            # messages on the left need every pixel a longer text would take
            self.store.hide()
            return
        for widget in self.receiver_facts:
            widget.hide()
        self._timer.stop()
        self.connection.show()

        def show_writers(text: str, detail: str) -> None:
            self.store.setText(f"Team database {source.name} · {text}")
            self.store.setToolTip(f"{source.target.display()}\n{text}:\n{detail}" if detail else text)

        def show_connection(text: str) -> None:
            badges.tint(self.connection, "error" if text.startswith("connection lost") else None)
            self.connection.setText(text)

        source.writersChanged.connect(show_writers)
        source.connectionChanged.connect(show_connection)
        show_writers(*source.writers)
        show_connection(source.connection)

    def show_progress(self, done: int, total: int, label: str) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{label} %v/%m")
        self.progress.show()

    def hide_progress(self) -> None:
        self.progress.hide()


class WarningBanner(QFrame):
    """A one-line warning across the top of the window; hidden while there is nothing to warn about."""

    def __init__(self, controller: ReceiverController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setObjectName("warning_banner")
        self.active = True  # False in a window attached to a team database: no receiver of its own
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.icon = QLabel(self)
        self.text = QLabel(self)
        self.text.setObjectName("warning_text")
        self.text.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        controller.configChanged.connect(self.update_warning)
        controller.started.connect(self.update_warning)
        self._timer = QTimer(self)  # the token can appear in the keyring (wizard) without a signal
        self._timer.setInterval(REFRESH_MS * 2)
        self._timer.timeout.connect(self.update_warning)
        self._timer.start()
        theme.follow_theme(self, self._paint)
        self.update_warning()

    def _paint(self) -> None:
        """Amber background (light or dark variant) under the palette's own text colour, and the icon."""
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Window, badges.surface_for("note"))
        self.setPalette(pal)
        self.icon.setPixmap(badges.warning_icon(20).pixmap(20, 20))

    def update_warning(self) -> None:
        problem = validation_problem(self.controller) if self.active else None
        self.text.setText(f"<b>{problem}</b>" if problem else "")
        self.setVisible(problem is not None)
