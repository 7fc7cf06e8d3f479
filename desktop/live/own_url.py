"""“Use my own public URL…”: for operators who run their own reverse proxy or tunnel, or when ngrok
cannot start. The URL is checked the way Twilio would judge it (https, a public host), then checked to
reach *this* receiver (``receiver.reachability``, off the GUI thread) before it is used."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent
from PySide6.QtGui import QFocusEvent, QMouseEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.workers import BusyLine, TaskRunner
from receiver.own_url import check_own_url
from receiver.reachability import Reach
from receiver.twilio_client import SetupError

OWN_URL_HELP = (
    "The https address that reaches this computer's receiver (a reverse proxy, Cloudflare Tunnel, "
    "another ngrok…). Twilio will call it followed by /twilio/inbound and /twilio/status, and "
    "signatures are checked against it, so enter it exactly as Twilio will use it."
)
Prober = Callable[[str], Reach]  # runs on a worker thread


def forward_text(port: int | None) -> str:
    """The one line a proxy or tunnel set-up needs: what to forward where."""
    local = f"http://127.0.0.1:{port}" if port else "the receiver (it is not running)"
    return f"Forward https://your-host/… to {local} (the receiver's port: Tools → Receiver port…)."


class ReplacingLineEdit(QLineEdit):
    """A field holding an earlier value: a click selects it all, so typing replaces it, not appends."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setClearButtonEnabled(True)
        self._select_on_release = False

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.selectAll()
        self._select_on_release = True

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if self._select_on_release:  # the press that gave focus moved the cursor: select again
            self._select_on_release = False
            self.selectAll()


class OwnUrlDialog(QDialog):
    """Asks for a public base URL; once accepted ``url`` holds it cleaned and ``reached`` whether it
    was confirmed to reach this receiver (False only when the operator chose "Use it anyway")."""

    def __init__(
        self,
        current: str = "",
        parent: QWidget | None = None,
        *,
        port: int | None = None,
        probe: Prober | None = None,
        runner: TaskRunner | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Use my own public URL")
        self.url = ""
        self.reached = False
        self._probe = probe
        self._runner = runner
        self.edit = ReplacingLineEdit(current)
        self.edit.setPlaceholderText("https://monitor.example.com")
        self.edit.textEdited.connect(lambda _t: self._reset())
        self.forward = QLabel(forward_text(port), wordWrap=True)
        self.forward.setObjectName("forward_hint")
        self.busy = BusyLine(self)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.anyway = QPushButton("Use it anyway")
        self.anyway.setToolTip("Use the URL although it was not confirmed to reach this receiver")
        buttons.addButton(self.anyway, QDialogButtonBox.ButtonRole.ActionRole)
        self.anyway.hide()
        self.anyway.clicked.connect(self._use_anyway)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = self._layout = QVBoxLayout(self)
        layout.addWidget(QLabel(OWN_URL_HELP, wordWrap=True))
        layout.addWidget(self.forward)
        layout.addWidget(self.edit)
        layout.addWidget(self.busy)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)
        self.resize(600, 0)

    def _fit(self) -> None:
        """Grow to the height the wrapped help and error lines need at this width (Qt does not do
        height-for-width on a top-level window by itself)."""
        layout = self._layout
        layout.activate()
        needed = layout.totalHeightForWidth(self.width())
        if needed > 0:
            self.setMinimumHeight(needed)
            if self.height() < needed:
                self.resize(self.width(), needed)

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:  # a line changed: its height may have too
            self._fit()
        return handled

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit()

    @property
    def error(self) -> QLabel:
        """The line that says what is wrong (kept for callers that read it)."""
        return self.busy.label

    def _reset(self) -> None:
        self.anyway.hide()
        if not self.busy.busy:
            self.busy.clear()

    def accept(self) -> None:
        if self.busy.busy:
            return
        try:
            url = check_own_url(self.edit.text())
        except SetupError as exc:
            self.busy.fail(exc.message)
            self._fit()
            return
        if self._probe is None or self._runner is None:
            self._finish(url, reached=False)
            return
        probe = self._probe
        self.busy.start(f"Checking that {url} reaches this receiver…")
        self._fit()
        self.ok.setEnabled(False)
        self.anyway.hide()
        self._runner.run("own-url-probe", lambda: probe(url), lambda r: self._checked(url, r), self._crashed)

    def _checked(self, url: str, reach: Reach) -> None:
        self.ok.setEnabled(True)
        if reach.ok:
            self._finish(url, reached=True)
            return
        self.busy.fail(reach.message)
        self.anyway.show()
        self._fit()
        self._pending_url = url

    def _crashed(self, exc: BaseException) -> None:
        self.ok.setEnabled(True)
        self.busy.fail(f"The check failed: {exc}")
        self._fit()

    def _use_anyway(self) -> None:
        self._finish(self._pending_url, reached=False)

    def _finish(self, url: str, *, reached: bool) -> None:
        self.url = url
        self.reached = reached
        super().accept()
