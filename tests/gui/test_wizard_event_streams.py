"""The wizard's Event Streams option, driven as an operator does: tick the box, click "Apply changes",
read the report; Tools → Restore turns it off again. Twilio is the fake, through the real twilio client."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from desktop.live.going_live import GoingLive
from desktop.live.wizard import SetupWizard
from desktop.live.wizard.applied_page import AppliedPage
from desktop.live.wizard.credentials_page import CredentialsPage
from desktop.live.wizard.public_url_page import PublicUrlPage
from desktop.live.wizard.review_page import ReviewPage
from desktop.live.wizard.targets_page import TargetsPage
from receiver.twilio_client import make_client
from receiver.webhook_paths import EVENTS_PATH
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio
from tests.gui.ui import current_page

fake_twilio = fakes.fake_twilio
OWN_URL = "https://monitor.example.com"


@pytest.fixture
def live(open_live: Callable[..., GoingLive], fake_twilio: FakeTwilio) -> GoingLive:
    return open_live(lambda c: make_client(c, api_base=fake_twilio.base_url))


def _to_review(qtbot: QtBot, live: GoingLive, fake: FakeTwilio) -> ReviewPage:
    service = fake.add_service("Notifications", status_callback="https://old.example.com/status")
    wizard = live.open_wizard()
    creds = wizard.page_of(CredentialsPage)
    creds.form.use_token.setChecked(True)
    creds.form.account_sid.setText(fake.account_sid)
    creds.form.auth_token.setText(fake.auth_token)
    wizard.next()
    qtbot.waitUntil(lambda: not live.runner.busy, timeout=10000)
    url_page = wizard.page_of(PublicUrlPage)
    url_page.use_own.setChecked(True)
    url_page.own_url.setText(OWN_URL)
    wizard.next()
    qtbot.waitUntil(lambda: not live.runner.busy, timeout=10000)
    wizard.page_of(TargetsPage).check(service["sid"])
    wizard.next()
    review: ReviewPage = wizard.page_of(ReviewPage)
    assert wizard.currentPage() is review
    return review


def test_ticking_event_streams_and_applying_creates_the_sink_and_restore_deletes_it(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    review = _to_review(qtbot, live, fake_twilio)
    box = review.event_streams
    assert not box.isChecked()  # off unless the operator asks: it adds events to their Twilio bill
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert box.isChecked()
    wizard = review.wizard()
    assert isinstance(wizard, SetupWizard)
    with qtbot.waitSignal(wizard.applied, timeout=10000):
        QTest.mouseClick(wizard.button(QWizard.WizardButton.CommitButton), Qt.MouseButton.LeftButton)

    report = current_page(wizard, AppliedPage).report.text()
    assert f"Event Streams on: message events go to {OWN_URL}{EVENTS_PATH}" in report
    with fake_twilio.lock:
        [sink] = fake_twilio.events.state.sinks.values()
        [sub] = fake_twilio.events.state.subscriptions.values()
    assert (
        sink["sink_configuration"]["destination"] == OWN_URL + EVENTS_PATH and sub["sink_sid"] == sink["sid"]
    )

    live.actions["restore"].trigger()
    qtbot.waitUntil(lambda: not live.runner.busy, timeout=10000)

    assert any(line.startswith("Turned off Event Streams") for line in live.last_report)
    with fake_twilio.lock:
        assert fake_twilio.events.state.sinks == {} and fake_twilio.events.state.subscriptions == {}
    assert live.ctx.store().pending_backups() == []


def test_an_event_streams_failure_is_reported_and_the_webhooks_still_apply(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    review = _to_review(qtbot, live, fake_twilio)
    box = review.event_streams
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    fake_twilio.fail_next(r"^/v1/Sinks$", 429, 20429, "Too Many Requests", method="POST")
    wizard = review.wizard()
    assert isinstance(wizard, SetupWizard)
    with qtbot.waitSignal(wizard.applied, timeout=10000):
        QTest.mouseClick(wizard.button(QWizard.WizardButton.CommitButton), Qt.MouseButton.LeftButton)

    report = current_page(wizard, AppliedPage).report.text()
    assert "Changed" in report and "Event Streams could not be turned on" in report
    with fake_twilio.lock:
        assert fake_twilio.events.state.sinks == {}
    assert [b["target_kind"] for b in live.ctx.store().pending_backups()] == ["messaging_service"]
