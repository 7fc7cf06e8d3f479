"""Page 3: pick the numbers and Messaging Services to route to the monitor, seeing where their
messages and statuses go now and the precedence traps (``webhook_targets.warnings``)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHeaderView, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout

from desktop import badges, theme
from desktop.live.context import SetupContext
from desktop.live.wizard.base import AsyncPage, Job, WizardState
from receiver.webhook_targets import NumberTarget, ServiceTarget, Targets, list_targets, warnings

SID_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("Number or Messaging Service", "Incoming messages go to", "Delivery statuses go to")


def _inbound_of(target: NumberTarget | ServiceTarget, targets: Targets) -> str:
    """Where incoming messages really go now (a service's URL wins over its numbers', FACTS 2.2)."""
    if isinstance(target, NumberTarget):
        service = targets.get(target.service_sid or "")
        if isinstance(service, ServiceTarget) and not service.use_inbound_webhook_on_number:
            return f"the service's URL: {service.inbound_request_url or '(not set)'}"
        if target.sms_application_sid:
            return f"TwiML App {target.sms_application_sid}"
        return target.sms_url or "(not set)"
    if target.use_inbound_webhook_on_number:
        return "each number's own SMS URL"
    return target.inbound_request_url or "(not set: not forwarded)"


def _status_of(target: NumberTarget | ServiceTarget) -> str:
    if isinstance(target, NumberTarget):
        return "(numbers have none — see notes)"
    return target.status_callback or "(not set)"


class TargetsPage(AsyncPage):
    def __init__(self, ctx: SetupContext, state: WizardState) -> None:
        super().__init__(
            ctx,
            state,
            "What to route to the monitor",
            "Tick the numbers and Messaging Services whose webhooks should point at the monitor. "
            "Their current values are saved first and put back when you are done.",
        )
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # URLs: keep host and path visible
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.tree.itemChanged.connect(self._changed)
        self.tree.currentItemChanged.connect(lambda *_: self._show_notes())
        self.notes = QLabel(wordWrap=True)
        self.notes.setTextFormat(Qt.TextFormat.RichText)
        self.notes.setMargin(6)
        self.notes.setAutoFillBackground(True)
        theme.follow_theme(self.notes, self._paint_notes)
        self.notes.hide()
        refresh = QPushButton("Refresh list")
        refresh.clicked.connect(self.load)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.notes)
        layout.addWidget(self.busy)
        layout.addWidget(refresh, 0, Qt.AlignmentFlag.AlignLeft)
        self._warnings: dict[str, list[str]] = {}

    def _paint_notes(self) -> None:
        """Amber panel behind the notes: pale on light themes, deep on dark ones (text keeps its role)."""
        pal = self.notes.palette()
        pal.setColor(QPalette.ColorRole.Window, badges.surface_for("note"))
        self.notes.setPalette(pal)

    def initializePage(self) -> None:
        if self.state.targets is None:
            self.load()

    def load(self) -> None:
        if self.busy.busy:
            return
        self.run_job(Job("Reading your numbers and Messaging Services…", self._fetch, self._fill))

    def _fetch(self) -> Targets:
        return list_targets(self.ctx.client())

    def _fill(self, targets: Targets) -> None:
        self.state.targets = targets
        self._warnings = warnings(targets)
        self.tree.blockSignals(True)
        self.tree.clear()
        every: list[NumberTarget | ServiceTarget] = [*targets.services, *targets.numbers]
        for target in every:
            kind = "Messaging Service" if isinstance(target, ServiceTarget) else "Number"
            item = QTreeWidgetItem(
                [f"{target.name}  ·  {kind}", _inbound_of(target, targets), _status_of(target)]
            )
            item.setData(0, SID_ROLE, target.sid)
            item.setToolTip(0, f"{target.sid}\n\n" + "\n\n".join(self._warnings.get(target.sid, [])))
            state = Qt.CheckState.Checked if target.sid in self.state.selected else Qt.CheckState.Unchecked
            item.setCheckState(0, state)
            self.tree.addTopLevelItem(item)
        self.tree.blockSignals(False)
        if not targets.numbers and not targets.services:
            self.busy.done("This account has no phone numbers or Messaging Services.")
        self._changed()

    def _items(self) -> list[QTreeWidgetItem]:
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item for item in items if item is not None]

    def selected(self) -> list[str]:
        return [
            str(item.data(0, SID_ROLE))
            for item in self._items()
            if item.checkState(0) == Qt.CheckState.Checked
        ]

    def check(self, sid: str, on: bool = True) -> None:
        """Tick (or untick) a target by SID — what the operator's click does."""
        for item in self._items():
            if item.data(0, SID_ROLE) == sid:
                item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _changed(self, *_: object) -> None:
        self.state.selected = self.selected()
        self._show_notes()
        self.completeChanged.emit()

    def _show_notes(self) -> None:
        """Notes for every ticked target (and the highlighted one): where things will really go."""
        sids = list(self.state.selected)
        current = self.tree.currentItem()
        if current is not None and current.data(0, SID_ROLE) not in sids:
            sids.append(str(current.data(0, SID_ROLE)))
        targets = self.state.targets
        parts = []
        for sid in sids:
            target = targets.get(sid) if targets else None
            notes = self._notes_for(target)
            if notes and target is not None:
                items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
                parts.append(f"<b>{html.escape(target.name)}</b><ul style='margin:0'>{items}</ul>")
        self.notes.setText("".join(parts))
        self.notes.setVisible(bool(parts))

    def _notes_for(self, target: NumberTarget | ServiceTarget | None) -> list[str]:
        """The precedence notes, minus "select the service as well" once that service is ticked."""
        if target is None:
            return []
        notes = self._warnings.get(target.sid, [])
        if isinstance(target, NumberTarget) and target.service_sid in self.state.selected:
            notes = [n for n in notes if not n.startswith("This number is in Messaging Service")]
        return notes

    def ready(self) -> bool:
        return bool(self.state.selected)
