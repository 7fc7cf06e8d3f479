"""The setup wizard, credentials and send dialogs against the fake Twilio through the real twilio client.

Each failure an operator can meet has a test that reads the message the page shows.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QDialogButtonBox, QWizard
from pytestqt.qtbot import QtBot

from desktop.live.credentials_dialog import CredentialsDialog
from desktop.live.going_live import GoingLive, LiveOptions
from desktop.live.port_dialog import PortDialog
from desktop.live.wizard import SetupWizard, send_test_page
from desktop.live.wizard.applied_page import AppliedPage
from desktop.live.wizard.credentials_page import CredentialsPage
from desktop.live.wizard.public_url_page import PublicUrlPage
from desktop.live.wizard.review_page import ReviewPage
from desktop.live.wizard.sandbox_page import SandboxPage
from desktop.live.wizard.send_test_page import SendTestPage
from desktop.live.wizard.targets_page import TargetsPage
from desktop.main_window import MainWindow
from desktop.receiver_controller import ReceiverController, configured_port
from receiver import errors, paths
from receiver import secrets as keys
from receiver.secrets import SecretStore
from receiver.twilio_client import Credentials, make_client
from receiver.webhook_apply import apply_plan
from receiver.webhook_plan import plan_changes
from receiver.webhook_targets import list_targets
from tests.conftest import MakeController, MemoryKeyring
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio
from tests.gui.ui import child, click, current_page, top_level_items

fake_twilio = fakes.fake_twilio

OWN_URL = "https://monitor.example.com"
OLD_INBOUND = "https://old.example.com/sms"
OLD_STATUS = "https://old.example.com/status"


@pytest.fixture
def live(open_live: Callable[..., GoingLive], fake_twilio: FakeTwilio) -> GoingLive:
    """Window + going-live hooks on an empty DB; Twilio calls go to the fake (api_base parameter)."""
    return open_live(lambda c: make_client(c, api_base=fake_twilio.base_url))


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(fake: FakeTwilio) -> tuple[dict[str, Any], dict[str, Any]]:
    number = fake.add_number("+15550000001", sms_url=OLD_INBOUND, friendly_name="Support line")
    service = fake.add_service("Notifications", inbound_request_url=OLD_INBOUND, status_callback=OLD_STATUS)
    fake.add_number_to_service(service["sid"], number["sid"])
    return number, service


def wait_idle(qtbot: QtBot, live: GoingLive) -> None:
    qtbot.waitUntil(lambda: not live.runner.busy, timeout=10000)


def fill_credentials(page: CredentialsPage, fake: FakeTwilio, token: str | None = None) -> None:
    page.form.use_token.setChecked(True)
    page.form.account_sid.setText(fake.account_sid)
    page.form.auth_token.setText(token if token is not None else fake.auth_token)


def through_public_url(qtbot: QtBot, live: GoingLive, wizard: SetupWizard, fake: FakeTwilio) -> None:
    fill_credentials(wizard.page_of(CredentialsPage), fake)
    wizard.next()
    wait_idle(qtbot, live)
    page = wizard.page_of(PublicUrlPage)
    assert wizard.currentPage() is page
    page.use_own.setChecked(True)
    page.own_url.setText(OWN_URL)
    wizard.next()
    wait_idle(qtbot, live)
    assert isinstance(wizard.currentPage(), TargetsPage)


# ------------------------------------------------------------------ credentials


def test_bad_credentials_show_twilio_20003_and_keep_nothing(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio, memory_keyring: MemoryKeyring
) -> None:
    wizard = live.open_wizard()
    page = wizard.page_of(CredentialsPage)
    fill_credentials(page, fake_twilio, token="f" * 32)
    wizard.next()
    assert page.form.busy.busy
    wait_idle(qtbot, live)
    assert wizard.currentPage() is page
    shown = page.form.busy.text()
    assert "rejected the credentials (error 20003)" in shown
    assert page.isComplete()  # the operator can correct and retry
    assert live.ctx.secrets.get(keys.TWILIO_AUTH_TOKEN) is None
    assert not any(v == "f" * 32 for v in memory_keyring.items.values())


def test_good_credentials_go_to_the_keyring_and_advance(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio, memory_keyring: MemoryKeyring
) -> None:
    wizard = live.open_wizard()
    fill_credentials(wizard.page_of(CredentialsPage), fake_twilio)
    wizard.next()
    wait_idle(qtbot, live)
    assert isinstance(wizard.currentPage(), PublicUrlPage)
    assert memory_keyring.items[(keys.SERVICE, keys.TWILIO_AUTH_TOKEN)] == fake_twilio.auth_token
    assert memory_keyring.items[(keys.SERVICE, keys.TWILIO_ACCOUNT_SID)] == fake_twilio.account_sid
    assert live.ctx.controller.has_token  # the receiver validates with it from now on


def test_api_key_asks_for_primary_token_and_uses_it_for_validation(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    dialog = CredentialsDialog(live.ctx.secrets, live.runner, live.ctx.client_factory)
    qtbot.addWidget(dialog)
    dialog.show()
    form = dialog.form
    form.use_key.setChecked(True)
    assert form.primary_token.isVisible() and "never with an API key" in form.primary_why.text()
    assert not form.auth_token.isVisible()
    form.account_sid.setText(fake_twilio.account_sid)
    form.key_sid.setText(fake_twilio.api_key_sid)
    form.key_secret.setText(fake_twilio.api_key_secret)
    form.primary_token.setText("e" * 32)  # wrong primary token: the key works, the token does not
    dialog.save.click()
    wait_idle(qtbot, live)
    assert "primary Auth Token (for signature validation) was not accepted" in form.busy.text()
    assert dialog.isVisible()
    form.primary_token.setText(fake_twilio.auth_token)
    dialog.save.click()
    wait_idle(qtbot, live)
    assert not dialog.isVisible()
    secrets = live.ctx.secrets
    assert secrets.get(keys.TWILIO_API_KEY_SID) == fake_twilio.api_key_sid
    assert secrets.get(keys.TWILIO_AUTH_TOKEN) == fake_twilio.auth_token


def test_without_keyring_says_so_and_keeps_for_session_unless_weak_store_accepted(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    no_keyring = SecretStore(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    dialog = CredentialsDialog(no_keyring, live.runner, live.ctx.client_factory)
    qtbot.addWidget(dialog)
    dialog.show()
    form = dialog.form
    assert "No system keyring is available" in form.where.text()
    assert form.accept_weak.isVisible()
    form.account_sid.setText(fake_twilio.account_sid)
    form.auth_token.setText(fake_twilio.auth_token)
    form.check()
    wait_idle(qtbot, live)
    assert "kept for this session only" in form.busy.text()
    weak_file = paths.data_dir() / "secrets.cfg"
    assert not weak_file.exists()

    form.accept_weak.setChecked(True)
    form.check()
    wait_idle(qtbot, live)
    assert "plain-text file only you can read" in form.busy.text()
    assert weak_file.exists() and stat.S_IMODE(os.stat(weak_file).st_mode) == 0o600
    next_session = SecretStore(keyring.backends.fail.Keyring(), allow_weak=True)  # type: ignore[no-untyped-call]
    assert next_session.get(keys.TWILIO_AUTH_TOKEN) == fake_twilio.auth_token


# ------------------------------------------------------------------ public URL, targets, review, apply


def test_own_url_rejected_when_twilio_cannot_reach_it(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    wizard = live.open_wizard()
    fill_credentials(wizard.page_of(CredentialsPage), fake_twilio)
    wizard.next()
    wait_idle(qtbot, live)
    page = wizard.page_of(PublicUrlPage)
    page.use_own.setChecked(True)
    page.own_url.setText("http://localhost:8080")
    wizard.next()
    assert wizard.currentPage() is page
    assert "local or private address" in page.busy.text()
    page.own_url.setText("https://my_box.example.com")
    wizard.next()
    assert "underscore" in page.busy.text()
    assert live.ctx.controller.config.public_url is None


def test_targets_show_current_urls_and_precedence_warnings(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    number, service = seed(fake_twilio)
    wizard = live.open_wizard()
    through_public_url(qtbot, live, wizard, fake_twilio)
    page: TargetsPage = wizard.page_of(TargetsPage)
    assert page.tree.topLevelItemCount() == 2
    rows = {item.text(0): item for item in top_level_items(page.tree)}
    service_row = next(r for k, r in rows.items() if "Notifications" in k)
    assert service_row.text(1) == OLD_INBOUND and service_row.text(2) == OLD_STATUS
    assert not page.isComplete()  # nothing ticked yet
    page.check(number["sid"])
    assert page.isComplete()
    assert "Select the service as well" in page.notes.text()
    # a number in a service: its incoming messages really go to the service's URL
    number_row = next(r for k, r in rows.items() if k.startswith("+1"))
    assert number_row.text(1) == "the service's URL: " + OLD_INBOUND
    page.check(service["sid"])
    assert "Select the service as well" not in page.notes.text()  # done: the note would only confuse


def test_rate_limit_while_listing_targets_is_explained_and_retry_works(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    seed(fake_twilio)
    fake_twilio.fail_next(r"/v1/Services$", status=429, code=20429, message="Too Many Requests")
    wizard = live.open_wizard()
    fill_credentials(wizard.page_of(CredentialsPage), fake_twilio)
    wizard.next()
    wait_idle(qtbot, live)
    url_page = wizard.page_of(PublicUrlPage)
    url_page.use_own.setChecked(True)
    url_page.own_url.setText(OWN_URL)
    wizard.next()
    wait_idle(qtbot, live)
    page: TargetsPage = wizard.page_of(TargetsPage)
    assert "rate-limiting requests from this account (error 20429)" in page.busy.text()
    assert page.tree.topLevelItemCount() == 0
    page.load()
    wait_idle(qtbot, live)
    assert page.tree.topLevelItemCount() == 2


def test_review_lists_old_and_new_and_bad_overrides_block_apply(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    _, service = seed(fake_twilio)
    wizard = live.open_wizard()
    through_public_url(qtbot, live, wizard, fake_twilio)
    wizard.page_of(TargetsPage).check(service["sid"])
    wizard.next()
    review: ReviewPage = wizard.page_of(ReviewPage)
    assert wizard.currentPage() is review
    rows = [[item.text(c) for c in range(4)] for item in top_level_items(review.tree)]
    assert ["Notifications", "Delivery status callback", OLD_STATUS, f"{OWN_URL}/twilio/status"] in rows
    review.overrides.setText("rc=9")
    assert not review.isComplete() and "rc must be a whole number from 0 to 5" in review.busy.text()
    review.overrides.setText("rc=3&rp=all")
    assert review.isComplete()
    assert any(
        r[3] == f"{OWN_URL}/twilio/inbound#rc=3&rp=all"
        for r in rows + [[item.text(c) for c in range(4)] for item in top_level_items(review.tree)]
    )


def test_server_error_during_apply_is_shown_and_nothing_stays_changed(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    number, service = seed(fake_twilio)
    wizard = live.open_wizard()
    through_public_url(qtbot, live, wizard, fake_twilio)
    targets: TargetsPage = wizard.page_of(TargetsPage)
    targets.check(service["sid"])
    targets.check(number["sid"])
    wizard.next()
    fake_twilio.fail_next(r"/IncomingPhoneNumbers/PN\w+\.json$", status=500, code=20500, method="POST")
    wizard.next()  # "Apply changes"
    wait_idle(qtbot, live)
    review = wizard.page_of(ReviewPage)
    assert wizard.currentPage() is review
    assert "internal problem (HTTP 500)" in review.busy.text()
    assert "put back" in review.busy.text()
    with fake_twilio.lock:
        assert fake_twilio.state.services[service["sid"]]["status_callback"] == OLD_STATUS
        assert fake_twilio.state.numbers[number["sid"]]["sms_url"] == OLD_INBOUND
    assert live.ctx.store().pending_backups() == []


def test_apply_then_restore_on_demand(qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio) -> None:
    _, service = seed(fake_twilio)
    wizard = live.open_wizard()
    through_public_url(qtbot, live, wizard, fake_twilio)
    wizard.page_of(TargetsPage).check(service["sid"])
    wizard.next()
    with qtbot.waitSignal(wizard.applied, timeout=10000):
        wizard.next()
    assert "Changed 3 setting(s)" in current_page(wizard, AppliedPage).report.text()
    with fake_twilio.lock:
        assert fake_twilio.state.services[service["sid"]]["status_callback"] == f"{OWN_URL}/twilio/status"
    assert len(live.ctx.store().pending_backups()) == 1
    live.actions["restore"].trigger()
    wait_idle(qtbot, live)
    assert live.last_report == ["Restored Notifications: inbound_request_url, fallback_url, status_callback."]
    with fake_twilio.lock:
        assert fake_twilio.state.services[service["sid"]]["status_callback"] == OLD_STATUS
        assert fake_twilio.state.services[service["sid"]]["inbound_request_url"] == OLD_INBOUND
    assert live.ctx.store().pending_backups() == []


# ------------------------------------------------------------------ sending


def test_send_dialog_stores_message_with_initial_status(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    number, _ = seed(fake_twilio)
    live.ctx.secrets.set(keys.TWILIO_ACCOUNT_SID, fake_twilio.account_sid)
    live.ctx.secrets.set(keys.TWILIO_AUTH_TOKEN, fake_twilio.auth_token)
    live.tunnel.use_own_url(OWN_URL)
    dialog = live.open_send()
    dialog.to.setText("+15557654321")
    dialog.sender_box.setEditText(number["phone_number"])
    dialog.body.setPlainText("hello")
    with qtbot.waitSignal(live.ctx.controller.dataChanged, timeout=5000):
        dialog.send_button.click()
        wait_idle(qtbot, live)
    assert dialog.sent is not None and not dialog.isVisible()
    row = tuple(
        live.ctx.controller.read()
        .conn.execute(
            "SELECT status, to_addr, from_addr, source FROM messages WHERE sid = ?", (dialog.sent["sid"],)
        )
        .fetchone()
    )
    assert row == (dialog.sent["status"], "+15557654321", number["phone_number"], "api")
    assert fake_twilio.state.message_callbacks[dialog.sent["sid"]] == f"{OWN_URL}/twilio/status"


def test_send_dialog_shows_opt_out_error(qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio) -> None:
    live.ctx.secrets.set(keys.TWILIO_ACCOUNT_SID, fake_twilio.account_sid)
    live.ctx.secrets.set(keys.TWILIO_AUTH_TOKEN, fake_twilio.auth_token)
    fake_twilio.fail_next(
        r"/Messages\.json$", status=400, code=21610, message="Attempt to send to unsubscribed recipient"
    )
    dialog = live.open_send()
    dialog.to.setText("+15557654321")
    dialog.sender_box.setEditText("+15550000001")
    dialog.send_button.click()
    wait_idle(qtbot, live)
    assert "opted out by replying STOP (error 21610)" in dialog.busy.text()
    assert dialog.isVisible() and dialog.send_button.isEnabled()


# ------------------------------------------------------------------ restore after a crash


def test_start_after_crash_offers_to_restore_leftover_webhooks(
    qtbot: QtBot,
    make_controller: MakeController,
    tmp_path: Path,
    tmp_settings: QSettings,
    fake_twilio: FakeTwilio,
) -> None:
    _, service = seed(fake_twilio)
    controller = make_controller(tmp_path / "crashed.db", token=None)
    controller.secrets.set(keys.TWILIO_ACCOUNT_SID, fake_twilio.account_sid)
    controller.secrets.set(keys.TWILIO_AUTH_TOKEN, fake_twilio.auth_token)
    client = make_client(
        Credentials(fake_twilio.account_sid, fake_twilio.auth_token), api_base=fake_twilio.base_url
    )
    changes = plan_changes(list_targets(client), [service["sid"]], "https://gone.ngrok.test")
    store = controller.store
    assert store is not None  # started by make_controller
    apply_plan(client, store, fake_twilio.account_sid, changes)  # ...and then the app died

    options = LiveOptions(client_factory=lambda c: make_client(c, api_base=fake_twilio.base_url))
    window = MainWindow(controller, tmp_settings, live=options)
    going = window.live
    try:
        qtbot.waitUntil(lambda: going.offer_box is not None, timeout=5000)
        box = going.offer_box
        assert box is not None and box.isVisible()
        assert "changed the webhooks of Notifications" in box.text() and "crashed" in box.text()
        next(b for b in box.buttons() if b.text() == "Restore now").click()
        qtbot.waitUntil(lambda: not going.runner.busy, timeout=10000)
        with fake_twilio.lock:
            assert fake_twilio.state.services[service["sid"]]["status_callback"] == OLD_STATUS
        assert store.pending_backups() == []
    finally:
        window.close()  # restored: nothing left to put back, so it closes at once
        window.deleteLater()


# ------------------------------------------------------------------ what an operator meets on the pages


def next_button(wizard: SetupWizard) -> QAbstractButton:
    button = wizard.button(QWizard.WizardButton.NextButton)
    assert button is not None
    return button


def test_api_key_form_keeps_a_known_primary_token(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    live.ctx.secrets.set(keys.TWILIO_ACCOUNT_SID, fake_twilio.account_sid)
    live.ctx.secrets.set(keys.TWILIO_AUTH_TOKEN, fake_twilio.auth_token)
    live.actions["credentials"].trigger()
    dialog = live.dialog
    assert isinstance(dialog, CredentialsDialog)
    form = dialog.form
    click(form.use_key)  # moving to an API key: the primary token is still the one that signs webhooks
    assert form.primary_token.isVisible() and form.primary_token.text() == fake_twilio.auth_token
    QTest.keyClicks(form.key_sid, fake_twilio.api_key_sid)
    QTest.keyClicks(form.key_secret, fake_twilio.api_key_secret)
    click(dialog.save)
    wait_idle(qtbot, live)
    assert not dialog.isVisible()
    assert live.ctx.secrets.get(keys.TWILIO_AUTH_TOKEN) == fake_twilio.auth_token
    assert live.ctx.controller.has_token


def test_every_wizard_page_says_which_step_it_is(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    wizard = live.open_wizard()
    assert wizard.currentPage().title().startswith("Step 1 of 7: ")
    fill_credentials(wizard.page_of(CredentialsPage), fake_twilio)
    click(next_button(wizard))
    wait_idle(qtbot, live)
    assert wizard.currentPage().title() == "Step 2 of 7: Public URL"


def test_public_url_page_text_follows_the_option_and_a_click_replaces_the_old_url(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    live.ctx.settings.setValue("tunnel/own_url", "https://old-proxy.example.com")
    wizard = live.open_wizard()
    fill_credentials(wizard.page_of(CredentialsPage), fake_twilio)
    click(next_button(wizard))
    wait_idle(qtbot, live)
    page = wizard.page_of(PublicUrlPage)
    click(page.use_tunnel)
    assert "Next starts it" in page.current.text()
    click(page.use_own)
    assert "tunnel" not in page.current.text().lower()  # the own URL is selected: no tunnel story
    assert "checks that the URL above reaches this receiver" in page.current.text()
    assert f"http://127.0.0.1:{live.ctx.controller.port}" in page.forward.text()
    click(page.own_url)
    QTest.keyClicks(page.own_url, OWN_URL)
    assert page.own_url.text() == OWN_URL  # replaced, not appended to the old value
    click(next_button(wizard))
    wait_idle(qtbot, live)
    assert isinstance(wizard.currentPage(), TargetsPage)
    assert live.ctx.controller.config.public_url == OWN_URL


def test_public_url_page_refuses_an_own_url_that_does_not_reach_this_receiver(
    qtbot: QtBot, open_live: Callable[..., GoingLive], fake_twilio: FakeTwilio, unused_port: int
) -> None:
    live = open_live(
        lambda c: make_client(c, api_base=fake_twilio.base_url),
        probe_via=lambda _url: ("127.0.0.1", unused_port),  # nothing listens where the proxy sends
    )
    wizard = live.open_wizard()
    fill_credentials(wizard.page_of(CredentialsPage), fake_twilio)
    click(next_button(wizard))
    wait_idle(qtbot, live)
    page = wizard.page_of(PublicUrlPage)
    click(page.use_own)
    QTest.keyClicks(page.own_url, OWN_URL)
    click(next_button(wizard))
    wait_idle(qtbot, live)
    assert wizard.currentPage() is page
    assert page.busy.text().startswith(f"Could not reach {OWN_URL}")
    assert live.ctx.controller.config.public_url is None
    click(page.own_anyway)  # the operator will fix the proxy before sending: their call, made visibly
    click(next_button(wizard))
    wait_idle(qtbot, live)
    assert isinstance(wizard.currentPage(), TargetsPage)


def test_review_shows_the_new_urls_whole(qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio) -> None:
    _, service = seed(fake_twilio)
    long_url = "https://callbacks-for-the-notifications-team.eu-west.reverse-proxy.monitor.example.com"
    wizard = live.open_wizard()
    fill_credentials(wizard.page_of(CredentialsPage), fake_twilio)
    click(next_button(wizard))
    wait_idle(qtbot, live)
    page = wizard.page_of(PublicUrlPage)
    click(page.use_own)
    QTest.keyClicks(page.own_url, long_url)
    click(next_button(wizard))
    wait_idle(qtbot, live)
    wizard.page_of(TargetsPage).check(service["sid"])
    click(next_button(wizard))
    review: ReviewPage = wizard.page_of(ReviewPage)
    assert wizard.currentPage() is review
    metrics = review.tree.fontMetrics()
    for item in top_level_items(review.tree):
        shown = review.tree.visualRect(review.tree.indexFromItem(item, 3)).width()
        assert item.text(3).startswith(long_url)
        assert shown >= metrics.horizontalAdvance(item.text(3)), item.text(3)  # room for every character


def walk_to_sandbox_page(qtbot: QtBot, live: GoingLive, fake: FakeTwilio) -> tuple[SetupWizard, str]:
    number, service = seed(fake)
    wizard = live.open_wizard()
    through_public_url(qtbot, live, wizard, fake)
    wizard.page_of(TargetsPage).check(service["sid"])
    click(next_button(wizard))
    with qtbot.waitSignal(wizard.applied, timeout=10000):
        click(wizard.button(QWizard.WizardButton.CommitButton))
    click(next_button(wizard))  # applied -> sandbox
    assert isinstance(wizard.currentPage(), SandboxPage)
    return wizard, service["sid"]


def test_sandbox_page_says_its_urls_are_not_restored(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    wizard, _ = walk_to_sandbox_page(qtbot, live, fake_twilio)
    assert "cannot put the Sandbox's previous URLs back" in wizard.currentPage().subTitle()


def walk_to_send_page(
    qtbot: QtBot, live: GoingLive, fake: FakeTwilio
) -> tuple[SetupWizard, SendTestPage, str]:
    wizard, service_sid = walk_to_sandbox_page(qtbot, live, fake)
    click(next_button(wizard))  # -> send test
    page = wizard.currentPage()
    assert isinstance(page, SendTestPage)
    return wizard, page, service_sid


def test_send_test_page_failed_send_replaces_the_old_sent_line(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    _, page, service_sid = walk_to_send_page(qtbot, live, fake_twilio)
    page.sender_box.setCurrentIndex(page.sender_box.findData(service_sid))
    QTest.keyClicks(page.to, "+15557654321")
    click(page.send)
    wait_idle(qtbot, live)
    assert page.sid.text().startswith("Sent SM")
    fake_twilio.fail_next(
        r"/Messages\.json$", status=400, code=21610, message="Attempt to send to unsubscribed recipient"
    )
    click(page.send)
    wait_idle(qtbot, live)
    assert "(error 21610)" in page.busy.text()
    assert page.sid.text() == ""  # nothing claims this one was sent


def test_send_test_page_says_what_to_check_when_no_status_comes(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send_test_page, "NO_STATUS_AFTER_S", 1)
    _, page, service_sid = walk_to_send_page(qtbot, live, fake_twilio)
    page.sender_box.setCurrentIndex(page.sender_box.findData(service_sid))
    QTest.keyClicks(page.to, "+15557654321")
    click(page.send)
    wait_idle(qtbot, live)
    assert page.waiting.text().startswith("Waiting for the first status callback")
    qtbot.waitUntil(lambda: page.waiting.text().startswith("No status callback after 1 s"), timeout=5000)
    assert OWN_URL in page.waiting.text() and "Requests tab" in page.waiting.text()
    assert "11200" in page.waiting.text()


def test_send_test_page_explains_an_error_code(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    _, page, service_sid = walk_to_send_page(qtbot, live, fake_twilio)
    page.sender_box.setCurrentIndex(page.sender_box.findData(service_sid))
    QTest.keyClicks(page.to, "+15557654321")
    click(page.send)
    wait_idle(qtbot, live)
    assert live.wizard is not None
    sid = live.wizard.state.sent_sid
    port = live.ctx.controller.port
    assert sid is not None and port is not None
    deliveries = fake_twilio.deliver(
        sid, ["undelivered"], via=lambda _u: ("127.0.0.1", port), error_code=30003
    )
    assert [d.http_status for d in deliveries] == [200]
    entry = errors.lookup(30003)
    assert entry is not None
    qtbot.waitUntil(lambda: page.events.count() == 1, timeout=5000)
    assert page.events.item(0).text().startswith(f"undelivered (error 30003: {entry.title})")
    assert entry.action in page.events.item(0).toolTip()
    assert page.waiting.text() == ""  # a status came: no longer waiting


# ------------------------------------------------------------------ the receiver's port


def test_receiver_port_is_remembered_for_the_next_start(
    qtbot: QtBot, live: GoingLive, unused_port: int, tmp_path: Path
) -> None:
    live.actions["port"].trigger()
    dialog = live.dialog
    assert isinstance(dialog, PortDialog)
    assert dialog.spin.value() == live.ctx.controller.port  # suggests keeping the one in use
    click(dialog.spin)
    QTest.keyClick(dialog.spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(dialog.spin, str(unused_port))
    click(child(dialog, QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save))
    assert not dialog.isVisible()
    # the next start (desktop.app.main does this with the app's settings)
    later = ReceiverController(tmp_path / "next.db", port=configured_port(live.ctx.settings))
    try:
        later.start()
        assert later.port == unused_port and later.port_note == ""
    finally:
        later.stop()


def test_a_taken_port_is_explained_and_the_app_still_works(
    qtbot: QtBot, tmp_path: Path, tmp_settings: QSettings
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        controller = ReceiverController(tmp_path / "taken.db", port=taken)
        window = None
        try:
            controller.start()
            assert controller.running and controller.port != taken
            window = MainWindow(controller, tmp_settings)
            box = window.live.port_box
            assert box.isVisible()
            assert f"Port {taken} is in use by another program" in box.text()
            assert f"listens on port {controller.port} for now" in box.text()
            assert "Tools → Receiver port…" in box.text()
        finally:
            if window is not None:
                window.close()
                window.deleteLater()
            controller.stop()
