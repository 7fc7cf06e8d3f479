"""MessagesView and the main window against a live embedded receiver and a seeded database."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.main_window import MainWindow
from desktop.models import message_query as mq
from desktop.models.message_query import MessageFilter
from desktop.models.messages_model import SID_ROLE
from tests.conftest import TEST_AUTH_TOKEN, SeedInfo
from tests.receiver_helpers import http_post, status_params


def post_signed(base: str, path: str, params: dict[str, str], token: str = TEST_AUTH_TOKEN) -> int:
    """POST like Twilio: form body, X-Twilio-Signature over base+path with the account's token."""
    return http_post(base, path, params, token=token)


def test_signed_callback_over_http_appears_with_its_badge(qtbot: Any, window: MainWindow) -> None:
    view = window.messages
    assert view.model.rowCount() == 0
    assert view.table_stack.currentWidget() is view.empty  # first launch: the empty-state hint
    assert "Simulate traffic" in view.empty_hint.text()
    sid = "SM" + "c" * 32
    status = post_signed(
        window.controller.local_url, "/twilio/status", status_params(sid, "undelivered", ErrorCode="30003")
    )
    assert status == 200
    qtbot.waitUntil(lambda: view.model.rowCount() == 1, timeout=5000)
    status_index = view.model.index(0, mq.COLUMN_IDS.index("status"))
    assert status_index.data() == "undelivered"
    assert not status_index.data(Qt.ItemDataRole.DecorationRole).isNull()
    assert view.model.index(0, 0).data(SID_ROLE) == sid
    assert view.model.index(0, mq.COLUMN_IDS.index("error")).data().startswith("30003 ")
    assert view.table_stack.currentWidget() is view.table
    assert view.filter_bar.count_label.text() == "1 message"


def test_forged_callback_is_counted_as_rejected_in_status_bar(qtbot: Any, window: MainWindow) -> None:
    status = post_signed(
        window.controller.local_url, "/twilio/status", status_params("SM" + "d" * 32, "sent"), token="f" * 32
    )
    assert status == 403
    qtbot.waitUntil(lambda: window.status.rejected.text() == "1 rejected", timeout=5000)
    assert window.messages.model.rowCount() == 0


def test_selection_and_detail_survive_refresh_with_new_rows(
    qtbot: Any, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    view = seeded_window.messages
    target = seeded_db.messages[37]["sid"]
    assert view.select_sid(target)
    assert view.detail.sid == target
    view.table.scrollToTop()
    before = view.model.position_of(target)
    assert before is not None
    sids = ["SM" + f"{i:x}".rjust(32, "e") for i in range(3)]
    for sid in sids:
        assert (
            post_signed(seeded_window.controller.local_url, "/twilio/status", status_params(sid, "sent"))
            == 200
        )
    qtbot.waitUntil(lambda: view.model.rowCount() == 63, timeout=5000)
    assert view.selected_sid() == target
    assert view.model.position_of(target) == before + 3  # newest first: the three new rows went on top
    assert view.table.verticalScrollBar().value() == 0  # it was at the top, it stays there
    assert view.model.index(0, 0).data(SID_ROLE) in sids
    assert view.detail.sid == target


def test_scroll_position_kept_when_not_at_top(qtbot: Any, seeded_window: MainWindow) -> None:
    view = seeded_window.messages
    view.table.verticalScrollBar().setValue(20)
    top_sid = view.model.sid_at(view.table.rowAt(0))
    post_signed(seeded_window.controller.local_url, "/twilio/status", status_params("SM" + "9" * 32, "sent"))
    qtbot.waitUntil(lambda: view.model.rowCount() == 61, timeout=5000)
    assert view.model.sid_at(view.table.rowAt(0)) == top_sid


def test_filter_bar_and_presets_filter_in_sql(
    qtbot: Any, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    view = seeded_window.messages
    bar = view.filter_bar
    bar.presets.button(1).click()  # Inbound
    inbound = seeded_db.count(lambda m: m["direction"] == "inbound")
    assert view.model.rowCount() == inbound
    assert bar.count_label.text() == f"{inbound} messages (filtered)"
    assert not view.table.isColumnHidden(mq.COLUMN_IDS.index("profile"))
    assert not view.table.isColumnHidden(mq.COLUMN_IDS.index("body"))
    assert not view.table.isColumnHidden(mq.COLUMN_IDS.index("media"))
    bar.presets.button(2).click()  # Failures
    assert view.model.rowCount() == seeded_db.count(lambda m: m["status"] in ("failed", "undelivered"))
    assert view.table.isColumnHidden(mq.COLUMN_IDS.index("profile"))
    qtbot.keyClicks(bar.search, "reply number 24")
    bar.search.returnPressed.emit()
    assert view.model.rowCount() == 0  # failures AND that body: none
    bar.clear()
    assert view.model.rowCount() == 60
    qtbot.keyClicks(bar.search, "reply number 24")
    qtbot.waitUntil(lambda: view.model.rowCount() == 1, timeout=2000)  # debounced typing
    bar.error_code.setText("30003")
    qtbot.waitUntil(lambda: view.model.rowCount() == 0, timeout=2000)
    assert view.table_stack.currentWidget() is view.empty and "No messages match" in view.empty_hint.text()


def test_escape_clears_filters_and_ctrl_f_focuses_search(qtbot: Any, seeded_window: MainWindow) -> None:
    view = seeded_window.messages
    view.filter_bar.set_filter(MessageFilter(channel="whatsapp"))
    assert view.model.rowCount() < 60
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Escape)
    assert view.model.rowCount() == 60
    qtbot.keyClick(seeded_window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is view.filter_bar.search
    qtbot.keyClick(seeded_window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert seeded_window.tabs.currentIndex() == 1


def test_detail_shows_timeline_payloads_media_and_explains_error(
    qtbot: Any, seeded_window: MainWindow, seeded_db: SeedInfo
) -> None:
    view = seeded_window.messages
    failed = seeded_db.messages[2]  # undelivered 30003
    view.select_sid(failed["sid"])
    detail = view.detail
    assert detail.timeline.topLevelItemCount() == 3
    last = detail.timeline.topLevelItem(2)
    assert last is not None
    assert last.text(1) == "undelivered" and last.text(2).startswith("30003 ")
    assert last.text(3) == "Unreachable destination handset"
    assert '"ErrorCode": "30003"' in detail.raw.toPlainText()
    assert detail.explain.isVisible()
    with qtbot.waitSignal(view.errorCodeRequested, check_params_cb=lambda code: code == 30003):
        detail.explain.click()
    panel: Any = seeded_window.error_panel
    assert seeded_window.tabs.currentIndex() == seeded_window.tabs.indexOf(panel)
    assert panel.code == 30003
    with qtbot.waitSignal(panel.filterByErrorCode):  # "show messages with this code" comes back filtered
        panel.filterByErrorCode.emit(30003)
    assert seeded_window.tabs.currentWidget() is view
    assert view.filter_bar.current_filter().error_code == 30003
    assert view.model.rowCount() == seeded_db.count(lambda m: m["error_code"] == 30003)
    inbound = seeded_db.messages[9]  # inbound whatsapp with media
    view.filter_bar.set_filter(MessageFilter())
    view.select_sid(inbound["sid"])
    text = detail.facts.text()
    assert "Person 9" in text and "reply number 9" in text and "/Media/ME0" in text and "<a href" in text
    assert not detail.explain.isVisible()
    detail.copy_sid.click()
    assert QApplication.clipboard().text() == inbound["sid"]


def test_status_bar_shows_urls_validation_and_token_warning(
    make_controller: Any, tmp_path: Any, open_window: Any
) -> None:
    ctl = make_controller(tmp_path / "nt.db", token=None)
    win = open_window(ctl)
    assert win.status.local.text() == f"Local :{ctl.port}"
    assert ctl.local_url in win.status.local.toolTip()
    assert "Local only" in win.status.public.toolTip()
    assert win.banner.isVisible() and "every webhook will be rejected" in win.banner.text.text()
    ctl.set_public_url("https://abc.ngrok-free.app/")
    assert win.status.webhook_urls() == [
        ("Status callback URL", "https://abc.ngrok-free.app/twilio/status"),
        ("Inbound message URL", "https://abc.ngrok-free.app/twilio/inbound"),
    ]
    assert "Local only" not in win.status.public.toolTip()
    win.validate_action.setChecked(False)
    assert ctl.config.validate is True  # not before the operator confirms
    box = win.validation_box
    assert box is not None and box.isVisible()
    turn_off = next(b for b in box.buttons() if b.text() == "Turn off validation")
    turn_off.click()
    assert ctl.config.validate is False
    assert "NOT CHECKED" in win.status.validation.text() and "OFF" in win.banner.text.text()
    win.validate_action.setChecked(True)
    ctl.secrets.set("twilio-auth-token", "x" * 32)
    win.status.update_facts()
    win.banner.update_warning()
    assert win.status.validation.text() == "Signatures: auth token" and not win.banner.isVisible()


def test_simulate_traffic_fills_the_table_off_the_gui_thread(qtbot: Any, window: MainWindow) -> None:
    ctl = window.controller
    assert not ctl.has_token or ctl.secrets.get("twilio-auth-token")
    with qtbot.waitSignal(window.simulation.finished, timeout=20000) as blocker:
        assert window.start_simulation(messages=8, rate=0)
        assert not window.simulate_action.isEnabled()
        assert any(t.name == "bg-simulate" for t in threading.enumerate())  # a TaskRunner thread
    assert "HTTP 403" not in blocker.args[0]  # signed with the configured token: all accepted
    qtbot.waitUntil(lambda: window.messages.model.rowCount() >= 8, timeout=5000)
    assert window.simulate_action.isEnabled()
    assert window.status.rejected.text() == "0 rejected"


def test_simulate_with_no_token_uses_demo_token(
    qtbot: Any, make_controller: Any, tmp_path: Any, open_window: Any
) -> None:
    ctl = make_controller(tmp_path / "demo.db", token=None)
    win = open_window(ctl, show=False)
    with qtbot.waitSignal(win.simulation.finished, timeout=20000) as blocker:
        win.start_simulation(messages=3, rate=0)
    assert "demo token" in blocker.args[0] and "HTTP 403" not in blocker.args[0]
    assert ctl.config.validate
    # the demo token counted only during the run: real webhooks are still rejected without a token
    qtbot.waitUntil(lambda: not ctl.simulating, timeout=3000)
    win.banner.update_warning()
    assert "every webhook will be rejected" in win.banner.text.text()


def test_filters_layout_and_geometry_are_remembered(
    seeded_controller: Any, tmp_settings: Any, open_window: Any
) -> None:
    win = open_window(seeded_controller, show=False)
    win.messages.filter_bar.set_filter(MessageFilter(channel="whatsapp", text="reply"))
    win.messages.table.setColumnWidth(mq.COLUMN_IDS.index("to"), 222)
    win.messages.splitter.setSizes([700, 300])
    win.close()
    again = open_window(seeded_controller, show=False)
    flt = again.messages.filter_bar.current_filter()
    assert flt.channel == "whatsapp" and flt.text == "reply"
    assert again.messages.model.filter == flt
    assert again.messages.table.columnWidth(mq.COLUMN_IDS.index("to")) == 222
    saved = Path(tmp_settings.fileName()).read_text(encoding="utf-8")
    assert "whatsapp" in saved and TEST_AUTH_TOKEN not in saved  # filters yes, secrets never


def test_add_tools_action_extends_the_tools_menu(window: MainWindow) -> None:
    from PySide6.QtGui import QAction

    action = QAction("Twilio setup wizard…", window)
    window.add_tools_action(action)
    assert action in window.tools_menu.actions()
