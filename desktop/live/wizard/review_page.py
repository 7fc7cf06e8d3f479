"""Page 4: every field that will change, old → new, with optional connection overrides; "Apply"
saves the current values in the database first, then changes them (``webhook_apply.apply_plan``)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizard,
)

from desktop.live.context import OVERRIDES_KEY, SetupContext
from desktop.live.wizard.base import AsyncPage, Job, WizardState
from receiver.twilio_client import SetupError
from receiver.webhook_apply import ApplyResult, apply_event_streams, apply_plan
from receiver.webhook_plan import plan_changes

OVERRIDES_HELP = (
    "Optional, for slow or flaky links: Twilio connection overrides added to every URL as "
    "#key=value, e.g. <code>rc=3&amp;rp=all</code> (retry 3 times on any failure) or "
    "<code>ct=2000&amp;rt=10000</code> (connect/read timeouts in ms). Leave empty for Twilio's defaults."
)


EVENT_STREAMS_KEY = "live/event_streams"
EVENT_STREAMS_HELP = (
    "Twilio sends each status callback once (connection overrides retry only for seconds): if this "
    "computer sleeps or the tunnel is down, that status is lost. Event Streams also sends every "
    "message's queued/sent/delivered/undelivered/failed/read event to <code>/twilio/events</code> and "
    "retries for up to four hours; duplicates are stored once. It creates a webhook sink and a "
    "subscription on your account (Restore deletes them). Twilio bills delivered events: the first "
    "100,000 a month are free, then about $0.04 per 1,000 (see Twilio's Event Streams pricing); a "
    "message makes 2 to 4 events."
)


# What the Twilio Console calls each field, so the operator recognises it.
FIELD_LABELS = {
    "sms_url": "A message comes in",
    "sms_fallback_url": "Primary handler fails",
    "sms_method": "A message comes in (method)",
    "sms_fallback_method": "Primary handler fails (method)",
    "inbound_request_url": "Incoming messages: request URL",
    "inbound_method": "Incoming messages: method",
    "fallback_url": "Incoming messages: fallback URL",
    "fallback_method": "Incoming messages: fallback method",
    "status_callback": "Delivery status callback",
}


class ReviewPage(AsyncPage):
    def __init__(self, ctx: SetupContext, state: WizardState) -> None:
        super().__init__(
            ctx,
            state,
            "Review the changes",
            "Nothing has changed on your account yet. “Apply changes” first saves the current values "
            "(so they can be restored), then makes these changes.",
        )
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Apply changes")
        self.overrides = QLineEdit(ctx.overrides)
        self.overrides.setPlaceholderText("rc=3&rp=all")
        self.overrides.textChanged.connect(self.replan)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Target", "Setting", "Now", "After"])
        self.tree.setRootIsDecorated(False)
        # the operator approves exactly these URLs: never elide them; scroll sideways when they are long
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.header().setStretchLastSection(False)
        self.summary = QLabel(wordWrap=True)
        self.event_streams = QCheckBox(
            "Also receive message events through Event Streams (retried for 4 hours)"
        )
        self.event_streams.setChecked(str(ctx.settings.value(EVENT_STREAMS_KEY, "false")).lower() == "true")
        form = QFormLayout()
        form.addRow("Connection overrides", self.overrides)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.summary)
        layout.addLayout(form)
        layout.addWidget(QLabel(OVERRIDES_HELP, wordWrap=True))
        layout.addWidget(self.event_streams)
        layout.addWidget(QLabel(EVENT_STREAMS_HELP, wordWrap=True))
        layout.addWidget(self.busy)
        self._error: str | None = None

    def initializePage(self) -> None:
        self.replan()

    def replan(self) -> None:
        """Recompute the plan (pure, no REST call) whenever the overrides change."""
        self.tree.clear()
        self._error = None
        self.state.changes = []
        targets, base = self.state.targets, self.ctx.tunnel.public_url
        try:
            if targets is None or not base:
                raise SetupError("Go back: the public URL or the target list is missing.")
            self.state.changes = plan_changes(targets, self.state.selected, base, self.overrides.text())
        except SetupError as exc:
            self._error = exc.message
            self.busy.fail(exc.message)
            self.summary.clear()
            self.completeChanged.emit()
            return
        if not self.busy.busy:
            self.busy.clear()
        for change in self.state.changes:
            label = FIELD_LABELS.get(change.field, change.field)
            item = QTreeWidgetItem([change.target_name, label, change.old or "(empty)", change.new])
            item.setToolTip(1, change.field)
            item.setToolTip(2, change.old or "")
            item.setToolTip(3, change.new)
            self.tree.addTopLevelItem(item)
        for col in range(4):
            self.tree.resizeColumnToContents(col)
        n, targets_n = len(self.state.changes), len({c.target_sid for c in self.state.changes})
        self.summary.setText(
            f"{n} setting(s) on {targets_n} target(s) will change."
            if n
            else "Everything selected already points at the monitor: nothing to change."
        )
        self.completeChanged.emit()

    def ready(self) -> bool:
        return self._error is None

    def before_next(self) -> bool | Job:
        self.ctx.settings.setValue(OVERRIDES_KEY, self.overrides.text().strip())
        changes = list(self.state.changes)
        events = self.event_streams.isChecked()
        self.ctx.settings.setValue(EVENT_STREAMS_KEY, events)
        self.state.event_streams = None
        if not changes and not events:
            self.state.result = ApplyResult(backup_ids=[], changes=[])
            return True
        account = self.state.account.sid if self.state.account else self.ctx.credentials().account_sid
        store = self.ctx.store()
        base = self.ctx.tunnel.public_url or ""

        def work() -> tuple[ApplyResult, str | None]:
            client = self.ctx.client()
            result = apply_plan(client, store, account, changes) if changes else ApplyResult([], [])
            if not events:
                return result, None
            try:  # the webhooks are applied either way; the page says what became of Event Streams
                sink = apply_event_streams(client, store, account, base)
            except SetupError as exc:
                return result, f"Event Streams could not be turned on: {exc.message}"
            return result, f"Event Streams on: message events go to {base}/twilio/events (sink {sink})."

        def done(outcome: tuple[ApplyResult, str | None]) -> None:
            self.state.result, self.state.event_streams = outcome

        return Job("Saving the current values, then applying the changes…", work, done)
