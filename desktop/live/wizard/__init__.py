"""The "go live" wizard: credentials → public URL → targets → review → apply → WhatsApp Sandbox →
test message. Every Twilio call runs off the GUI thread (``AsyncPage``); pages share a ``WizardState``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from desktop.live.context import SetupContext
from desktop.live.wizard.applied_page import AppliedPage
from desktop.live.wizard.base import AsyncPage, WizardState
from desktop.live.wizard.credentials_page import CredentialsPage
from desktop.live.wizard.public_url_page import PublicUrlPage
from desktop.live.wizard.review_page import ReviewPage
from desktop.live.wizard.sandbox_page import SandboxPage
from desktop.live.wizard.send_test_page import SendTestPage
from desktop.live.wizard.targets_page import TargetsPage

PAGE_CLASSES: tuple[Callable[[SetupContext, WizardState], AsyncPage], ...] = (
    CredentialsPage,
    PublicUrlPage,
    TargetsPage,
    ReviewPage,
    AppliedPage,
    SandboxPage,
    SendTestPage,
)

P = TypeVar("P", bound=AsyncPage)


class SetupWizard(QWizard):
    """Signals:
    applied(object): the ``ApplyResult`` once the changes are made (backups already saved).
    """

    applied = Signal(object)

    def __init__(self, ctx: SetupContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.state = WizardState()
        self._told: object = None
        self.setWindowTitle("Set up Twilio webhooks")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.pages: list[AsyncPage] = []
        for number, cls in enumerate(PAGE_CLASSES, start=1):
            page = cls(ctx, self.state)
            # where the operator is in the whole job, on every page
            page.setTitle(f"Step {number} of {len(PAGE_CLASSES)}: {page.title()}")
            self.pages.append(page)
            self.addPage(page)
        self.currentIdChanged.connect(self._entered)
        self.resize(900, 620)

    def page_of(self, cls: type[P]) -> P:
        """The page of that class (tests and the window drive pages through their widgets)."""
        return next(p for p in self.pages if isinstance(p, cls))

    def _entered(self, _page_id: int) -> None:
        result = self.state.result
        if result is not None:  # after "Apply", Cancel would undo nothing: call it what it is
            self.setButtonText(QWizard.WizardButton.CancelButton, "Close")
        if isinstance(self.currentPage(), AppliedPage) and result is not None and result is not self._told:
            self._told = result
            self.applied.emit(result)


__all__ = ["SetupContext", "SetupWizard", "WizardState"]
