"""A wizard page whose Next may need a REST call: it runs off the GUI thread with a busy line, Next is
disabled meanwhile, and the wizard advances by itself when the call succeeds. On failure the error
stays on the page and nothing moves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtWidgets import QWizardPage

from desktop.live.context import SetupContext
from desktop.workers import BusyLine
from receiver.twilio_client import AccountInfo
from receiver.webhook_apply import ApplyResult
from receiver.webhook_plan import Change
from receiver.webhook_targets import Targets


@dataclass
class WizardState:
    """What one page found out and a later page needs."""

    account: AccountInfo | None = None
    targets: Targets | None = None
    selected: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    result: ApplyResult | None = None
    event_streams: str | None = None  # what turning Event Streams on did (a sink SID, or why it failed)
    sent_sid: str | None = None


@dataclass
class Job:
    """``fn`` runs in the background; ``on_done(result)`` on the GUI thread (it may raise to fail)."""

    label: str
    fn: Callable[[], Any]
    on_done: Callable[[Any], None]


class AsyncPage(QWizardPage):
    def __init__(self, ctx: SetupContext, state: WizardState, title: str, subtitle: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.state = state
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.busy = BusyLine(self)
        self._passed = False

    # subclasses: return True/False to decide now, or a Job to decide after it ran
    def before_next(self) -> bool | Job:
        return True

    def validatePage(self) -> bool:
        if self._passed:
            self._passed = False
            return True
        if self.busy.busy:
            return False
        step = self.before_next()
        if isinstance(step, Job):
            self.run_job(step, advance=True)
            return False
        return step

    def isComplete(self) -> bool:
        return not self.busy.busy and self.ready()

    def ready(self) -> bool:
        return True

    def run_job(self, job: Job, advance: bool = False) -> None:
        self.busy.start(job.label)
        self.completeChanged.emit()

        def done(result: Any) -> None:
            try:
                job.on_done(result)
            except Exception as exc:
                failed(exc)
                return
            if self.busy.busy:
                self.busy.clear()
            self.completeChanged.emit()
            if advance:
                self.advance()

        def failed(exc: BaseException) -> None:
            self.busy.fail(str(exc))
            self.completeChanged.emit()

        self.ctx.runner.run(type(self).__name__, job.fn, done, failed)

    def advance(self) -> None:
        """Let the next validatePage pass and move on (after a background check succeeded)."""
        self._passed = True
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self:
            wizard.next()
        else:
            self._passed = False
