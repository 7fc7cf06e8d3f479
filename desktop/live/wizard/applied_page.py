"""Page 5: what was applied, and what happens to it when the app closes."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QVBoxLayout

from desktop.live.context import AUTO_REPOINT_KEY, ON_EXIT_CHOICES, ON_EXIT_KEY, SetupContext
from desktop.live.wizard.base import AsyncPage, WizardState


class AppliedPage(AsyncPage):
    def __init__(self, ctx: SetupContext, state: WizardState) -> None:
        super().__init__(ctx, state, "Applied", "Your Twilio account now sends webhooks to the monitor.")
        self.report = QLabel(wordWrap=True)
        self.on_exit = QComboBox()
        for code, label in ON_EXIT_CHOICES:
            self.on_exit.addItem(label, code)
        self.on_exit.setCurrentIndex(self.on_exit.findData(ctx.on_exit))
        self.on_exit.currentIndexChanged.connect(
            lambda _i: ctx.settings.setValue(ON_EXIT_KEY, self.on_exit.currentData())
        )
        self.auto_repoint = QCheckBox("If the tunnel's URL changes, re-point everything automatically")
        self.auto_repoint.setChecked(ctx.auto_repoint)
        self.auto_repoint.toggled.connect(lambda on: ctx.settings.setValue(AUTO_REPOINT_KEY, on))
        form = QFormLayout()
        form.addRow("When the app closes", self.on_exit)
        form.addRow("", self.auto_repoint)
        layout = QVBoxLayout(self)
        layout.addWidget(self.report)
        layout.addLayout(form)
        layout.addWidget(
            QLabel(
                "The previous values are saved in the monitor's database. Tools → Restore previous "
                "webhooks puts them back at any time, and if the app ever crashes it offers to restore "
                "them at the next start.",
                wordWrap=True,
            )
        )
        layout.addStretch(1)

    def initializePage(self) -> None:
        result = self.state.result
        events = f"<p>{html.escape(self.state.event_streams)}</p>" if self.state.event_streams else ""
        if result is None or not result.changes:
            self.report.setText(
                "Nothing needed changing: the selected targets already point at the monitor." + events
            )
            return
        names = sorted({c.target_name for c in result.changes})
        lines = "".join(f"<li>{html.escape(n)}</li>" for n in names)
        self.report.setText(
            f"Changed {len(result.changes)} setting(s) on:<ul>{lines}</ul>"
            f"Webhooks now go to <b>{self.ctx.tunnel.public_url}</b>.{events}"
        )
