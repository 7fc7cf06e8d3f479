"""Tunnel control from the window, through the real pyngrok and the stand-in ngrok agent.

Each way ngrok can fail has a test reading what the operator is shown (message and what to do);
the own-URL dialog has its validation checked; URL changes re-point what the app configured.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.live.context import AUTO_REPOINT_KEY
from desktop.live.credentials_dialog import CredentialsDialog
from desktop.live.going_live import GoingLive
from desktop.live.own_url import OwnUrlDialog
from desktop.live.tunnel_form import TunnelSettingsDialog
from receiver import secrets as keys
from receiver.secrets import SecretStore
from receiver.twilio_client import Credentials, make_client
from receiver.webhook_apply import apply_plan
from receiver.webhook_plan import plan_changes
from receiver.webhook_targets import list_targets
from tests.fakes import fake_twilio as fakes
from tests.fakes import ngrok_fixture
from tests.fakes.fake_twilio import FakeTwilio
from tests.fakes.ngrok_fixture import pid_alive, reconnect_agent, request_public_url
from tests.gui.ui import child, click

fake_ngrok = ngrok_fixture.fake_ngrok
fake_twilio = fakes.fake_twilio

NGROK_TOKEN = "2abcDEFghiJKLmnoPQRstuVWXyz_0123456789abcdefGHIJ"


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.delenv("FAKE_NGROK_FAIL", raising=False)


@pytest.fixture
def live(fake_ngrok: str, fake_twilio: FakeTwilio, open_live: Callable[..., GoingLive]) -> GoingLive:
    return open_live(
        lambda c: make_client(c, api_base=fake_twilio.base_url),
        tunnel__ngrok_path=fake_ngrok,
        tunnel__web_addr="127.0.0.1:0",
    )


def wait_idle(qtbot: QtBot, live: GoingLive) -> None:
    qtbot.waitUntil(lambda: not live.runner.busy, timeout=20000)


def start_and_fail(qtbot: QtBot, live: GoingLive) -> QMessageBox:
    with qtbot.waitSignal(live.tunnel.failed, timeout=20000):
        live.actions["start_tunnel"].trigger()
    wait_idle(qtbot, live)
    box = live.error_box
    assert box is not None and box.isVisible()
    assert live.tunnel.mode == "off" and live.ctx.controller.config.public_url is None
    assert live.status.text() == "Public URL: none (local only)" and live.status.isHidden()
    return box


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def button(box: QMessageBox, text: str) -> QPushButton:
    found = [b for b in box.buttons() if b.text() == text]
    assert found, [b.text() for b in box.buttons()]
    return found[0]  # type: ignore[return-value]


def test_no_ngrok_binary_says_so_and_offers_a_path(qtbot: QtBot, live: GoingLive, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ngrok"
    live.ctx.settings.setValue("tunnel/ngrok_path", str(missing))
    live.ctx.secrets.set(keys.NGROK_AUTHTOKEN, NGROK_TOKEN)
    box = start_and_fail(qtbot, live)
    assert box.text().startswith(f"The ngrok program was not found at {missing}")
    assert "network" not in box.text()  # nothing to do with the network
    assert "Install ngrok from https://ngrok.com/download" in box.informativeText()
    assert "Tools → Tunnel settings… → ngrok program" in box.informativeText()
    click(button(box, "Set the ngrok path…"))
    assert isinstance(live.dialog, TunnelSettingsDialog)
    assert live.dialog.form.ngrok_path.text() == str(missing)
    assert live.dialog.focusWidget() is live.dialog.form.ngrok_path  # typing goes where it should


def test_missing_authtoken_explains_4018(qtbot: QtBot, live: GoingLive) -> None:
    box = start_and_fail(qtbot, live)
    assert "needs the authtoken of a verified ngrok account (ERR_NGROK_4018)" in box.text()
    assert "dashboard.ngrok.com/get-started/your-authtoken" in box.informativeText()
    click(button(box, "Enter the ngrok authtoken…"))
    dialog = live.dialog
    assert isinstance(dialog, TunnelSettingsDialog)
    assert dialog.focusWidget() is dialog.form.authtoken  # not the ngrok path above it
    QTest.keyClicks(dialog.focusWidget(), NGROK_TOKEN)
    click(child(dialog, QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save))
    assert live.ctx.secrets.get(keys.NGROK_AUTHTOKEN) == NGROK_TOKEN
    assert NGROK_TOKEN not in Path(live.ctx.settings.fileName()).read_text()  # keyring, not settings


def test_bad_authtoken_is_named_and_never_shown(qtbot: QtBot, live: GoingLive) -> None:
    token = "bad" + NGROK_TOKEN
    live.ctx.secrets.set(keys.NGROK_AUTHTOKEN, token)
    box = start_and_fail(qtbot, live)
    assert "ngrok rejected the authtoken" in box.text() and "ERR_NGROK_107" in box.text()
    assert token not in box.text() + box.informativeText()


def test_session_limit_108_says_stop_the_other_agent(qtbot: QtBot, live: GoingLive) -> None:
    live.ctx.secrets.set(keys.NGROK_AUTHTOKEN, "limited" + NGROK_TOKEN)
    box = start_and_fail(qtbot, live)
    assert "one agent session at a time (ERR_NGROK_108)" in box.text()
    assert "Stop the other ngrok agent" in box.informativeText()
    button(box, "Use my own public URL…").click()
    assert isinstance(live.dialog, OwnUrlDialog)


def retype(field: QLineEdit, text: str) -> None:
    click(field)
    QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(field, text)


def test_own_url_dialog_validates_like_twilio(qtbot: QtBot, live: GoingLive) -> None:
    live.actions["own_url"].trigger()
    dialog = live.dialog
    assert isinstance(dialog, OwnUrlDialog)
    port = live.ctx.controller.port
    assert f"Forward https://your-host/… to http://127.0.0.1:{port}" in dialog.forward.text()
    for bad, why in (
        ("ftp://monitor.example.com", "must start with https://"),
        ("https://my_box.example.com", "underscore"),
        ("http://localhost:8080", "local or private address"),
        ("https://192.168.1.20", "local or private address"),
        ("http://monitor.example.com", "Plain http:// is refused: a live number needs https"),
    ):
        retype(dialog.edit, bad)
        click(dialog.ok)
        assert dialog.isVisible() and why in dialog.error.text(), (bad, dialog.error.text())
    assert live.ctx.controller.config.public_url is None
    retype(dialog.edit, " https://monitor.example.com/ ")
    click(dialog.ok)
    wait_idle(qtbot, live)  # the reachability check (the stand-in proxy forwards to this receiver)
    assert not dialog.isVisible()
    assert dialog.reached
    assert live.ctx.controller.config.public_url == "https://monitor.example.com"
    assert live.status.text() == "Public URL: https://monitor.example.com"


def test_own_url_reaching_another_server_is_not_used_unless_the_operator_insists(
    qtbot: QtBot, live: GoingLive, make_controller: Callable[..., Any], tmp_path: Path
) -> None:
    other = make_controller(tmp_path / "other.db", token=None)  # e.g. an old instance behind the proxy
    live.probe_via = lambda _url: ("127.0.0.1", other.port)
    live.actions["own_url"].trigger()
    dialog = live.dialog
    assert isinstance(dialog, OwnUrlDialog)
    retype(dialog.edit, "https://monitor.example.com")
    click(dialog.ok)
    wait_idle(qtbot, live)
    assert dialog.isVisible()
    assert "never arrived at this receiver: it goes to another server" in dialog.error.text()
    wait_whole_text(qtbot, dialog)  # the dialog grew for the explanation
    assert f"to http://127.0.0.1:{live.ctx.controller.port}" in dialog.error.text()
    assert live.ctx.controller.config.public_url is None
    click(dialog.anyway)
    assert not dialog.isVisible() and not dialog.reached
    assert live.ctx.controller.config.public_url == "https://monitor.example.com"


def test_own_url_that_does_not_answer_says_where_to_forward(
    qtbot: QtBot, live: GoingLive, unused_port: int
) -> None:
    live.probe_via = lambda _url: ("127.0.0.1", unused_port)
    live.actions["own_url"].trigger()
    dialog = live.dialog
    assert isinstance(dialog, OwnUrlDialog)
    retype(dialog.edit, "https://monitor.example.com")
    click(dialog.ok)
    wait_idle(qtbot, live)
    assert dialog.isVisible() and dialog.error.text().startswith(
        "Could not reach https://monitor.example.com"
    )
    assert dialog.anyway.isVisible()


def test_tunnel_settings_dialog_shows_all_its_text(qtbot: QtBot, live: GoingLive) -> None:
    # without a keyring the note is at its longest; the dialog must grow to show all of it
    dialog = TunnelSettingsDialog(
        live.ctx.settings,
        SecretStore(keyring.backends.fail.Keyring()),  # type: ignore[no-untyped-call]
        live.window,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert any("secrets are kept for this session only" in lb.text() for lb in dialog.findChildren(QLabel))
    wait_whole_text(qtbot, dialog)


def cut_texts(dialog: QWidget) -> list[str]:
    """Wrapped lines of text in the dialog that have less height than they need at their width."""
    return [
        label.text()
        for label in dialog.findChildren(QLabel)
        if label.isVisible()
        and label.wordWrap()
        and label.text()
        and label.height() < label.heightForWidth(label.width())
    ]


def wait_whole_text(qtbot: QtBot, dialog: QWidget) -> None:
    qtbot.waitUntil(lambda: not cut_texts(dialog), timeout=3000)  # a resize lands in the event loop


def test_tunnel_start_sets_signature_base_and_stop_ends_the_agent(qtbot: QtBot, live: GoingLive) -> None:
    live.ctx.secrets.set(keys.NGROK_AUTHTOKEN, NGROK_TOKEN)
    with qtbot.waitSignal(live.tunnel.publicUrlChanged, timeout=20000) as blocker:
        live.actions["start_tunnel"].trigger()
        assert live.status.text() == "Tunnel: starting…"
    url = blocker.args[0]
    wait_idle(qtbot, live)
    assert url.startswith("https://") and url.endswith(".ngrok.test")
    assert live.ctx.controller.config.public_url == url
    assert live.status.text() == f"Tunnel: {url}"
    assert live.tunnel.poll.isActive()
    manager = live.tunnel.manager
    status, _, _ = request_public_url(
        manager,
        f"{url}/twilio/status",
        "POST",
        b"MessageSid=SMx",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 403  # reached the receiver through the tunnel; unsigned, so refused
    pid = manager.agent_pid
    live.actions["stop_tunnel"].trigger()
    wait_idle(qtbot, live)
    assert live.ctx.controller.config.public_url is None and live.tunnel.manager is None
    qtbot.waitUntil(lambda: not pid_alive(pid), timeout=5000)


def test_url_change_repoints_automatically_when_ticked(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    service = fake_twilio.add_service("Alerts", status_callback="https://old.example.com/status")
    live.ctx.secrets.set(keys.NGROK_AUTHTOKEN, NGROK_TOKEN)
    live.ctx.secrets.set(keys.TWILIO_ACCOUNT_SID, fake_twilio.account_sid)
    live.ctx.secrets.set(keys.TWILIO_AUTH_TOKEN, fake_twilio.auth_token)
    live.ctx.settings.setValue(AUTO_REPOINT_KEY, True)
    with qtbot.waitSignal(live.tunnel.publicUrlChanged, timeout=20000) as started:
        live.tunnel.start()
    wait_idle(qtbot, live)
    first = started.args[0]
    client = live.ctx.client()
    changes = plan_changes(list_targets(client), [service["sid"]], first)
    apply_plan(client, live.ctx.store(), fake_twilio.account_sid, changes)

    reconnect_agent(live.tunnel.manager)
    with qtbot.waitSignal(live.tunnel.urlChanged, timeout=10000) as changed:
        live.tunnel.check_now()
    old, new = changed.args
    assert old == first and new != first and live.ctx.controller.config.public_url == new
    wait_idle(qtbot, live)
    with fake_twilio.lock:
        assert fake_twilio.state.services[service["sid"]]["status_callback"] == f"{new}/twilio/status"
    live.restore_now()
    wait_idle(qtbot, live)
    with fake_twilio.lock:  # the chain unwinds to the original, not to the first tunnel URL
        assert (
            fake_twilio.state.services[service["sid"]]["status_callback"] == "https://old.example.com/status"
        )


def test_url_change_is_offered_when_not_automatic(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    service = fake_twilio.add_service("Alerts")
    live.ctx.secrets.set(keys.NGROK_AUTHTOKEN, NGROK_TOKEN)
    live.ctx.secrets.set(keys.TWILIO_ACCOUNT_SID, fake_twilio.account_sid)
    live.ctx.secrets.set(keys.TWILIO_AUTH_TOKEN, fake_twilio.auth_token)
    with qtbot.waitSignal(live.tunnel.publicUrlChanged, timeout=20000) as started:
        live.tunnel.start()
    wait_idle(qtbot, live)
    client = live.ctx.client()
    changes = plan_changes(list_targets(client), [service["sid"]], started.args[0])
    apply_plan(client, live.ctx.store(), fake_twilio.account_sid, changes)
    reconnect_agent(live.tunnel.manager)
    # no manual check: the agent is asked every few seconds, so the new URL shows promptly (was 30 s)
    with qtbot.waitSignal(live.tunnel.urlChanged, timeout=10000) as changed:
        pass
    new = changed.args[1]
    assert live.status.text() == f"Tunnel: {new}"
    qtbot.waitUntil(lambda: live.offer_box is not None and live.offer_box.isVisible(), timeout=5000)
    box = live.offer_box
    assert box is not None and new in box.text()
    with fake_twilio.lock:  # nothing happens until the operator says so
        assert (
            fake_twilio.state.services[service["sid"]]["status_callback"]
            == f"{started.args[0]}/twilio/status"
        )
    click(button(box, "Re-point now"))
    wait_idle(qtbot, live)
    with fake_twilio.lock:
        assert fake_twilio.state.services[service["sid"]]["status_callback"] == f"{new}/twilio/status"


def test_url_change_without_stored_credentials_is_still_offered_and_asks_for_them(
    qtbot: QtBot, live: GoingLive, fake_twilio: FakeTwilio
) -> None:
    service = fake_twilio.add_service("Alerts")
    live.ctx.secrets.set(keys.NGROK_AUTHTOKEN, NGROK_TOKEN)
    with qtbot.waitSignal(live.tunnel.publicUrlChanged, timeout=20000) as started:
        live.actions["start_tunnel"].trigger()
    wait_idle(qtbot, live)
    first = started.args[0]
    # an earlier part of the session applied webhooks with credentials kept for that session only
    client = make_client(
        Credentials(fake_twilio.account_sid, fake_twilio.auth_token), api_base=fake_twilio.base_url
    )
    changes = plan_changes(list_targets(client), [service["sid"]], first)
    apply_plan(client, live.ctx.store(), fake_twilio.account_sid, changes)
    reconnect_agent(live.tunnel.manager)
    with qtbot.waitSignal(live.tunnel.urlChanged, timeout=10000) as changed:
        pass
    new = changed.args[1]
    qtbot.waitUntil(lambda: live.offer_box is not None and live.offer_box.isVisible(), timeout=5000)
    assert live.offer_box is not None
    click(button(live.offer_box, "Re-point now"))
    dialog = live.dialog
    assert isinstance(dialog, CredentialsDialog) and dialog.isVisible()
    assert "re-point the webhooks" in dialog.reason.text()
    QTest.keyClicks(dialog.form.account_sid, fake_twilio.account_sid)
    QTest.keyClicks(dialog.form.auth_token, fake_twilio.auth_token)
    click(dialog.save)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=20000)
    wait_idle(qtbot, live)
    with fake_twilio.lock:
        assert fake_twilio.state.services[service["sid"]]["status_callback"] == f"{new}/twilio/status"
