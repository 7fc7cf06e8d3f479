"""Going live, end to end: window + receiver on a temp DB, the tunnel through pyngrok and the stand-in
ngrok, the wizard against the fake Twilio through the real twilio client, a test message whose signed
callbacks come back through the tunnel, and a close that restores the account's original webhooks.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, TypeVar

import keyring
import keyring.backends.fail
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialogButtonBox,
    QMessageBox,
    QTreeWidget,
    QWidget,
    QWizard,
)
from pytestqt.qtbot import QtBot

from desktop.live.credentials_dialog import CredentialsDialog
from desktop.live.going_live import GoingLive
from desktop.live.own_url import OwnUrlDialog
from desktop.live.tunnel_form import TunnelSettingsDialog
from desktop.live.wizard.applied_page import AppliedPage
from desktop.live.wizard.credentials_page import CredentialsPage
from desktop.live.wizard.public_url_page import PublicUrlPage
from desktop.live.wizard.review_page import ReviewPage
from desktop.live.wizard.sandbox_page import SandboxPage
from desktop.live.wizard.send_test_page import SendTestPage
from desktop.live.wizard.targets_page import TargetsPage
from desktop.main_window import MainWindow
from receiver import secrets as keys
from receiver.store import Store
from receiver.twilio_client import API_BASE_ENV, Credentials, make_client
from receiver.webhook_apply import apply_plan
from receiver.webhook_plan import plan_changes
from receiver.webhook_targets import list_targets
from tests.conftest import MakeController
from tests.fakes import fake_twilio as fakes
from tests.fakes import ngrok_fixture
from tests.fakes.fake_twilio import FakeTwilio
from tests.fakes.ngrok_fixture import pid_alive, resolve_public_url
from tests.gui.conftest import OpenLive
from tests.gui.ui import child, click, current_page

fake_ngrok = ngrok_fixture.fake_ngrok
fake_twilio = fakes.fake_twilio

NGROK_TOKEN = "2abcDEFghiJKLmnoPQRstuVWXyz_0123456789abcdefGHIJ"
ORIGINAL: dict[str, dict[str, str | None]] = {
    "number": {"sms_url": "https://legacy.example.com/sms", "sms_fallback_url": ""},
    "service": {
        "inbound_request_url": "https://legacy.example.com/inbound",
        "fallback_url": None,
        "status_callback": "https://legacy.example.com/status",
    },
}


def test_going_live_end_to_end(
    qtbot: QtBot,
    make_controller: MakeController,
    tmp_path: Path,
    tmp_settings: QSettings,
    fake_ngrok: str,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.setenv(API_BASE_ENV, fake_twilio.base_url)  # the app's default client goes to the fake
    threads_before = set(threading.enumerate())
    number = fake_twilio.add_number("+15550001111", friendly_name="Shop", **ORIGINAL["number"])
    service = fake_twilio.add_service("Shop notifications", **ORIGINAL["service"])
    fake_twilio.add_number_to_service(service["sid"], number["sid"])

    # ---- the app: receiver + window + going-live hooks, ngrok settings pointing at the stand-in
    controller = make_controller(tmp_path / "e2e.db", token=None)
    tmp_settings.setValue("tunnel/ngrok_path", fake_ngrok)
    tmp_settings.setValue("tunnel/web_addr", "127.0.0.1:0")
    window = MainWindow(controller, tmp_settings)
    live = window.live
    window.show()

    def idle() -> None:
        qtbot.waitUntil(lambda: not live.runner.busy, timeout=20000)

    idle()
    wizard = live.open_wizard()

    # ---- 1 credentials
    creds = wizard.page_of(CredentialsPage)
    creds.form.account_sid.setText(fake_twilio.account_sid)
    creds.form.auth_token.setText(fake_twilio.auth_token)
    wizard.next()
    idle()
    # ---- 2 public URL: start the tunnel from the page
    url_page = wizard.page_of(PublicUrlPage)
    assert wizard.currentPage() is url_page
    url_page.use_tunnel.setChecked(True)
    url_page.tunnel_form.authtoken.setText(NGROK_TOKEN)
    wizard.next()
    idle()
    public = live.tunnel.public_url
    assert public is not None and public.startswith("https://") and public.endswith(".ngrok.test")
    assert controller.config.public_url == public  # the signature base follows the tunnel
    agent_pid = live.tunnel.manager.agent_pid
    # ---- 3 targets
    targets: TargetsPage = wizard.page_of(TargetsPage)
    assert wizard.currentPage() is targets
    targets.check(number["sid"])
    targets.check(service["sid"])
    wizard.next()
    # ---- 4 review, then apply
    assert isinstance(wizard.currentPage(), ReviewPage)
    with qtbot.waitSignal(wizard.applied, timeout=20000):
        wizard.next()
    idle()
    assert isinstance(wizard.currentPage(), AppliedPage)
    with fake_twilio.lock:
        held_number = dict(fake_twilio.state.numbers[number["sid"]])
        held_service = dict(fake_twilio.state.services[service["sid"]])
    assert held_number["sms_url"] == f"{public}/twilio/inbound"
    assert held_number["sms_fallback_url"] == f"{public}/twilio/fallback"
    assert held_service["inbound_request_url"] == f"{public}/twilio/inbound"
    assert held_service["status_callback"] == f"{public}/twilio/status"
    # ---- 6 WhatsApp Sandbox URLs
    wizard.next()
    sandbox = current_page(wizard, SandboxPage)
    assert sandbox.inbound.text() == f"{public}/twilio/inbound"
    assert sandbox.status.text() == f"{public}/twilio/status"
    # ---- 7 test message, callbacks through the tunnel, shown live
    wizard.next()
    test_page = current_page(wizard, SendTestPage)
    test_page.to.setText("+15557654321")
    test_page.sender_box.setCurrentIndex(test_page.sender_box.findData(service["sid"]))
    test_page.send.click()
    idle()
    sid = wizard.state.sent_sid
    assert sid is not None and "accepted it as “accepted”" in test_page.sid.text()
    deliveries = fake_twilio.deliver(
        sid, ["sent", "delivered"], via=lambda url: resolve_public_url(live.tunnel.manager, url)
    )
    assert [d.http_status for d in deliveries] == [200, 200]  # signed over the https URL, validated
    assert all(d.url == f"{public}/twilio/status" for d in deliveries)
    qtbot.waitUntil(lambda: test_page.statuses() == ["sent", "delivered"], timeout=5000)
    model = window.messages.model

    def shown_status() -> str | None:
        row = model.position_of(sid)
        record = model.row_record(row) if row is not None else None
        return record["status"] if record else None

    qtbot.waitUntil(lambda: shown_status() == "delivered", timeout=5000)
    via = (
        controller.read()
        .conn.execute("SELECT remote_addr, headers FROM requests WHERE message_sid = ? ORDER BY id", (sid,))
        .fetchall()
    )
    assert len(via) == 2
    # through the edge: the public Host kept (waitress drops the edge's X-Forwarded-* as untrusted)
    assert all(json.loads(h)["Host"] == public.removeprefix("https://") for _, h in via)

    # ---- quit: finish the wizard, close the window -> restore on exit (default), tunnel stopped
    wizard.accept()
    window.close()
    assert window.isVisible()  # waits for the restore before closing
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=20000)
    with fake_twilio.lock:
        restored_number = fake_twilio.state.numbers[number["sid"]]
        restored_service = fake_twilio.state.services[service["sid"]]
        assert {k: restored_number[k] for k in ORIGINAL["number"]} == ORIGINAL["number"]
        assert {k: restored_service[k] for k in ORIGINAL["service"]} == ORIGINAL["service"]
    assert not controller.running  # the close stopped the receiver too
    store = Store(tmp_path / "e2e.db")
    try:
        assert store.pending_backups() == []
    finally:
        store.close()

    assert live.tunnel.manager is None
    qtbot.waitUntil(lambda: not pid_alive(agent_pid), timeout=5000)
    qtbot.waitUntil(lambda: set(threading.enumerate()) <= threads_before, timeout=5000)
    window.deleteLater()


# ---------------------------------------------------------------------------------------------------
# Journeys as an operator makes them: clicks on buttons and fields, typed text, dialogs answered through
# their buttons. Menu items are triggered as the menu would (QAction.trigger); nothing else is called.
# ---------------------------------------------------------------------------------------------------

OWN_URL = "https://monitor.example.test"


def type_into(field: QWidget, text: str) -> None:
    click(field)
    QTest.keyClicks(field, text)


def box_button(box: QMessageBox | None, text: str) -> QAbstractButton:
    assert box is not None and box.isVisible()
    found = [b for b in box.buttons() if b.text() == text]
    assert found, [b.text() for b in box.buttons()]
    return found[0]


def tick(tree: QTreeWidget, name: str) -> None:
    """Click the row whose first column starts with ``name``, then Space ticks its box (as with the
    keyboard; the box itself is a few pixels whose place depends on the style)."""
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    item = next(it for it in items if it is not None and it.text(0).startswith(name))
    rect = tree.visualRect(tree.indexFromItem(item, 0))  # the name column holds the box
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.keyClick(tree, Qt.Key.Key_Space)
    assert item.checkState(0) == Qt.CheckState.Checked


def wizard_button(wizard: QWizard, which: QWizard.WizardButton) -> QAbstractButton:
    button = wizard.button(which)
    assert button.isVisible() and button.isEnabled(), button.text()
    return button


def fake_values(fake: FakeTwilio, number_sid: str, service_sid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    with fake.lock:
        return dict(fake.state.numbers[number_sid]), dict(fake.state.services[service_sid])


def test_journey_go_live_then_own_url_offers_to_repoint_and_does_it(
    qtbot: QtBot,
    open_live: OpenLive,
    fake_ngrok: str,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    number = fake_twilio.add_number("+15550001111", friendly_name="Shop", **ORIGINAL["number"])
    service = fake_twilio.add_service("Shop notifications", **ORIGINAL["service"])
    fake_twilio.add_number_to_service(service["sid"], number["sid"])
    live = open_live(
        lambda c: make_client(c, api_base=fake_twilio.base_url),
        tunnel__ngrok_path=fake_ngrok,
        tunnel__web_addr="127.0.0.1:0",
    )
    live.window.show()

    def idle() -> None:
        qtbot.waitUntil(lambda: not live.runner.busy, timeout=20000)

    # ---- go live with the wizard: credentials, tunnel, both targets, apply
    live.actions["wizard"].trigger()
    wizard = live.wizard
    assert wizard is not None
    creds = wizard.page_of(CredentialsPage).form
    type_into(creds.account_sid, fake_twilio.account_sid)
    type_into(creds.auth_token, fake_twilio.auth_token)
    click(wizard_button(wizard, QWizard.WizardButton.NextButton))
    idle()
    url_page = wizard.page_of(PublicUrlPage)
    assert wizard.currentPage() is url_page
    click(url_page.use_tunnel)
    type_into(url_page.tunnel_form.authtoken, NGROK_TOKEN)
    click(wizard_button(wizard, QWizard.WizardButton.NextButton))
    idle()
    tunnel_url = live.tunnel.public_url
    assert tunnel_url and tunnel_url.endswith(".ngrok.test")
    targets = wizard.page_of(TargetsPage)
    assert wizard.currentPage() is targets
    tick(targets.tree, "Shop notifications")
    tick(targets.tree, "+1")
    click(wizard_button(wizard, QWizard.WizardButton.NextButton))
    with qtbot.waitSignal(wizard.applied, timeout=20000):
        click(wizard_button(wizard, QWizard.WizardButton.CommitButton))  # "Apply changes"
    idle()
    held_number, held_service = fake_values(fake_twilio, number["sid"], service["sid"])
    assert held_number["sms_url"] == f"{tunnel_url}/twilio/inbound"
    assert held_service["status_callback"] == f"{tunnel_url}/twilio/status"
    click(wizard_button(wizard, QWizard.WizardButton.CancelButton))  # "Close"

    # ---- move to an own URL: Twilio still calls the tunnel, so the app offers to re-point
    live.actions["own_url"].trigger()
    dialog = live.dialog
    assert isinstance(dialog, OwnUrlDialog)
    assert f"to http://127.0.0.1:{live.ctx.controller.port}" in dialog.forward.text()
    type_into(dialog.edit, "http://monitor.example.test")
    click(dialog.ok)
    assert dialog.isVisible() and "Plain http:// is refused" in dialog.error.text()
    QTest.keyClick(dialog.edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # select, retype
    QTest.keyClicks(dialog.edit, OWN_URL)
    click(dialog.ok)
    idle()  # the reachability check ran through the (stand-in) proxy and found its request logged
    assert not dialog.isVisible(), dialog.error.text()
    qtbot.waitUntil(lambda: live.offer_box is not None and live.offer_box.isVisible(), timeout=5000)
    box = live.offer_box
    assert box is not None
    assert tunnel_url in box.text() and "Shop" in box.text()
    click(box_button(box, "Re-point to the new URL"))
    idle()
    held_number, held_service = fake_values(fake_twilio, number["sid"], service["sid"])
    assert held_number["sms_url"] == f"{OWN_URL}/twilio/inbound"
    assert held_service["inbound_request_url"] == f"{OWN_URL}/twilio/inbound"
    assert held_service["status_callback"] == f"{OWN_URL}/twilio/status"
    assert not live.warning.isVisible()

    # ---- and restore still unwinds to the operator's originals, through both moves
    live.actions["restore"].trigger()
    idle()
    held_number, held_service = fake_values(fake_twilio, number["sid"], service["sid"])
    assert {k: held_number[k] for k in ORIGINAL["number"]} == ORIGINAL["number"]
    assert {k: held_service[k] for k in ORIGINAL["service"]} == ORIGINAL["service"]


def test_journey_stop_tunnel_then_leave_them_keeps_a_warning(
    qtbot: QtBot, open_live: OpenLive, fake_ngrok: str, fake_twilio: FakeTwilio
) -> None:
    service = fake_twilio.add_service("Alerts", **ORIGINAL["service"])
    live = open_live(
        lambda c: make_client(c, api_base=fake_twilio.base_url),
        tunnel__ngrok_path=fake_ngrok,
        tunnel__web_addr="127.0.0.1:0",
    )
    live.window.show()
    live.ctx.secrets.set(keys.TWILIO_ACCOUNT_SID, fake_twilio.account_sid)
    live.ctx.secrets.set(keys.TWILIO_AUTH_TOKEN, fake_twilio.auth_token)
    live.ctx.secrets.set(keys.NGROK_AUTHTOKEN, NGROK_TOKEN)
    with qtbot.waitSignal(live.tunnel.publicUrlChanged, timeout=20000) as started:
        live.actions["start_tunnel"].trigger()
    qtbot.waitUntil(lambda: not live.runner.busy, timeout=20000)
    tunnel_url = started.args[0]
    client = live.ctx.client()  # what the wizard's Apply did, in an earlier part of the session
    changes = plan_changes(list_targets(client), [service["sid"]], tunnel_url)
    apply_plan(client, live.ctx.store(), fake_twilio.account_sid, changes)

    live.actions["stop_tunnel"].trigger()
    qtbot.waitUntil(lambda: live.offer_box is not None and live.offer_box.isVisible(), timeout=5000)
    box = live.offer_box
    assert box is not None
    assert tunnel_url in box.text() and "no longer reaches this computer" in box.text()
    assert [b.text() for b in box.buttons() if b.text().startswith("Re-point")] == []  # nowhere to go
    click(box_button(box, "Leave them"))
    assert live.warning.isVisible() and tunnel_url in live.warning.toolTip()
    with fake_twilio.lock:  # left as the operator chose
        assert fake_twilio.state.services[service["sid"]]["status_callback"] == f"{tunnel_url}/twilio/status"
    live.actions["restore"].trigger()
    qtbot.waitUntil(lambda: not live.runner.busy, timeout=20000)
    with fake_twilio.lock:
        assert (
            fake_twilio.state.services[service["sid"]]["status_callback"]
            == ORIGINAL["service"]["status_callback"]
        )
    assert not live.warning.isVisible()


def crash_with_backups(db: Path, fake: FakeTwilio, service_sid: str) -> None:
    """An earlier session applied webhooks to a tunnel URL and died; its credentials were not kept."""
    client = make_client(Credentials(fake.account_sid, fake.auth_token), api_base=fake.base_url)
    store = Store(db)
    try:
        changes = plan_changes(list_targets(client), [service_sid], "https://gone.ngrok.test")
        apply_plan(client, store, fake.account_sid, changes)
    finally:
        store.close()


D = TypeVar("D", bound=QWidget)


def last_dialog(live: GoingLive, kind: type[D]) -> D:
    """The dialog ``live`` opened last, which must be a ``kind``."""
    dialog = live.dialog
    assert isinstance(dialog, kind), f"the last dialog is {type(dialog).__name__}, not {kind.__name__}"
    return dialog


def answer_credentials(qtbot: QtBot, live: GoingLive, fake: FakeTwilio) -> None:
    qtbot.waitUntil(
        lambda: isinstance(live.dialog, CredentialsDialog) and live.dialog.isVisible(), timeout=5000
    )
    dialog = last_dialog(live, CredentialsDialog)
    click(dialog.form.use_token)
    type_into(dialog.form.account_sid, fake.account_sid)
    type_into(dialog.form.auth_token, fake.auth_token)
    click(dialog.save)


def test_journey_crash_then_restart_restore_asks_for_credentials_and_succeeds(
    qtbot: QtBot, open_live: OpenLive, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    service = fake_twilio.add_service("Alerts", **ORIGINAL["service"])
    crash_with_backups(tmp_path / "live.db", fake_twilio, service["sid"])

    live = open_live(lambda c: make_client(c, api_base=fake_twilio.base_url))  # the restart
    live.window.show()
    qtbot.waitUntil(lambda: live.offer_box is not None and live.offer_box.isVisible(), timeout=5000)
    box = live.offer_box
    assert box is not None
    assert "asked for the Twilio credentials" in box.informativeText()
    click(box_button(box, "Restore now"))
    answer_credentials(qtbot, live, fake_twilio)
    asking = last_dialog(live, CredentialsDialog)
    assert "restore the previous webhooks" in asking.reason.text()
    qtbot.waitUntil(lambda: not live.runner.busy and not asking.isVisible(), timeout=20000)
    qtbot.waitUntil(lambda: not live.runner.busy, timeout=20000)
    with fake_twilio.lock:
        assert (
            fake_twilio.state.services[service["sid"]]["status_callback"]
            == ORIGINAL["service"]["status_callback"]
        )
    assert live.ctx.store().pending_backups() == []
    assert live.last_report[0].startswith("Restored Alerts")


def test_journey_crash_later_then_credentials_offers_restore_again(
    qtbot: QtBot, open_live: OpenLive, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    service = fake_twilio.add_service("Alerts", **ORIGINAL["service"])
    crash_with_backups(tmp_path / "live.db", fake_twilio, service["sid"])
    live = open_live(lambda c: make_client(c, api_base=fake_twilio.base_url))
    live.window.show()
    qtbot.waitUntil(lambda: live.offer_box is not None and live.offer_box.isVisible(), timeout=5000)
    first = live.offer_box
    click(box_button(first, "Later"))
    assert live.warning.isVisible()  # the account still points at a dead URL: keep saying so

    live.actions["credentials"].trigger()
    answer_credentials(qtbot, live, fake_twilio)
    qtbot.waitUntil(
        lambda: live.offer_box is not first and live.offer_box is not None and live.offer_box.isVisible(),
        timeout=20000,
    )
    click(box_button(live.offer_box, "Restore now"))
    qtbot.waitUntil(lambda: not live.runner.busy, timeout=20000)
    with fake_twilio.lock:
        assert (
            fake_twilio.state.services[service["sid"]]["status_callback"]
            == ORIGINAL["service"]["status_callback"]
        )
    assert not live.warning.isVisible()


def test_journey_restart_without_keyring_after_accepting_weaker_store_keeps_secrets(
    qtbot: QtBot, open_live: OpenLive, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyring, "get_keyring", lambda: keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    client_factory = lambda c: make_client(c, api_base=fake_twilio.base_url)  # noqa: E731
    first = open_live(client_factory)
    first.window.show()
    first.actions["credentials"].trigger()
    dialog = last_dialog(first, CredentialsDialog)
    assert "No system keyring is available" in dialog.form.where.text()
    click(dialog.form.accept_weak)
    type_into(dialog.form.account_sid, fake_twilio.account_sid)
    type_into(dialog.form.auth_token, fake_twilio.auth_token)
    click(dialog.save)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=20000)
    first.actions["tunnel_settings"].trigger()
    tunnel_dialog = last_dialog(first, TunnelSettingsDialog)
    type_into(tunnel_dialog.form.authtoken, NGROK_TOKEN)
    click(child(tunnel_dialog, QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save))
    # quit (nothing to restore), then start again: a new process knows only what was stored
    first.window.close()
    first.ctx.controller.stop()

    second = open_live(client_factory)
    second.window.show()
    assert second.ctx.controller.has_token  # the receiver validates signatures from the first callback
    second.actions["credentials"].trigger()
    form = last_dialog(second, CredentialsDialog).form
    assert form.account_sid.text() == fake_twilio.account_sid
    assert form.auth_token.text() == fake_twilio.auth_token
    assert "plain-text file readable only by you" in form.where.text()  # says where, truthfully
    assert not form.accept_weak.isVisible()  # already accepted: nothing to tick again
    second.actions["tunnel_settings"].trigger()
    tunnel_form = last_dialog(second, TunnelSettingsDialog).form
    assert tunnel_form.authtoken.text() == NGROK_TOKEN
    assert "plain-text file" in tunnel_form.where.text()
