"""Going live, end to end: window + receiver on a temp DB, the tunnel through pyngrok and the stand-in
ngrok, the wizard against the fake Twilio through the real twilio client, a test message whose signed
callbacks come back through the tunnel, and a close that restores the account's original webhooks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from desktop.going_live import install
from desktop.main_window import MainWindow
from desktop.wizard.applied_page import AppliedPage
from desktop.wizard.credentials_page import CredentialsPage
from desktop.wizard.public_url_page import PublicUrlPage
from desktop.wizard.review_page import ReviewPage
from desktop.wizard.sandbox_page import SandboxPage
from desktop.wizard.send_test_page import SendTestPage
from desktop.wizard.targets_page import TargetsPage
from receiver import twilio_setup as ts
from tests.fakes import fake_twilio as fakes
from tests.fakes import ngrok_fixture
from tests.fakes.fake_twilio import FakeTwilio
from tests.fakes.ngrok_fixture import pid_alive, resolve_public_url

fake_ngrok = ngrok_fixture.fake_ngrok
fake_twilio = fakes.fake_twilio

NGROK_TOKEN = "2abcDEFghiJKLmnoPQRstuVWXyz_0123456789abcdefGHIJ"
ORIGINAL = {
    "number": {"sms_url": "https://legacy.example.com/sms", "sms_fallback_url": ""},
    "service": {
        "inbound_request_url": "https://legacy.example.com/inbound",
        "fallback_url": None,
        "status_callback": "https://legacy.example.com/status",
    },
}


def test_going_live_end_to_end(
    qtbot: Any,
    make_controller: Callable[..., Any],
    tmp_path: Path,
    tmp_settings: QSettings,
    fake_ngrok: str,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.setenv(ts.API_BASE_ENV, fake_twilio.base_url)  # the app's default client goes to the fake
    threads_before = set(threading.enumerate())
    number = fake_twilio.add_number("+15550001111", friendly_name="Shop", **ORIGINAL["number"])
    service = fake_twilio.add_service("Shop notifications", **ORIGINAL["service"])
    fake_twilio.add_number_to_service(service["sid"], number["sid"])

    # ---- the app: receiver + window + going-live hooks, ngrok settings pointing at the stand-in
    controller = make_controller(tmp_path / "e2e.db", token=None)
    tmp_settings.setValue("tunnel/ngrok_path", fake_ngrok)
    tmp_settings.setValue("tunnel/web_addr", "127.0.0.1:0")
    window = MainWindow(controller, tmp_settings)
    live = install(window)
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
    sandbox: SandboxPage = wizard.currentPage()
    assert isinstance(sandbox, SandboxPage)
    assert sandbox.inbound.text() == f"{public}/twilio/inbound"
    assert sandbox.status.text() == f"{public}/twilio/status"
    # ---- 7 test message, callbacks through the tunnel, shown live
    wizard.next()
    test_page: SendTestPage = wizard.currentPage()
    assert isinstance(test_page, SendTestPage)
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
        controller.reader()
        .execute("SELECT remote_addr, headers FROM requests WHERE message_sid = ? ORDER BY id", (sid,))
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
    assert controller.store.pending_backups() == []
    controller.stop()  # what the app does after the event loop ends

    assert live.tunnel.manager is None
    qtbot.waitUntil(lambda: not pid_alive(agent_pid), timeout=5000)
    qtbot.waitUntil(lambda: set(threading.enumerate()) <= threads_before, timeout=5000)
    window.deleteLater()
