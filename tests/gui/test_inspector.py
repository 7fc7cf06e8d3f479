"""Request inspector: the windowed request-log model, rejected requests with their diagnosis, replay,
filters and live updates, against a real receiver on 127.0.0.1 (controller fixtures in tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtTest import QTest

from desktop.models.requests_model import COL_OUTCOME, COL_REASON, COL_SID, PAGE, RequestsModel
from desktop.views.request_inspector import RequestInspector, form_fields
from receiver.store import RequestRecord
from tests.gui.ui import cell_text
from tests.receiver_helpers import http_post

TOKEN = "feedfacefeedfacefeedfacefeedface"
ACCOUNT = "AC" + "c" * 32


def status_form(sid: str, status: str = "delivered", **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "MessageStatus": status,
        "AccountSid": ACCOUNT,
        "From": "+15005550006",
        "To": "+14155552671",
        **extra,
    }


def post(base_url: str, path: str, form: dict[str, str], *, signed: bool) -> int:
    """POST like Twilio does (form body, optionally signed for the receiver's local URL); the status."""
    return http_post(base_url, path, form, token=TOKEN if signed else None)


def cell(model: RequestsModel, row: int, col: int, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    return model.data(model.index(row, col), role)


@pytest.fixture
def ctl(make_controller: Any, tmp_path: Path) -> Any:
    return make_controller(tmp_path / "inspector.db", token=TOKEN)


@pytest.fixture
def inspector(qtbot: Any, ctl: Any) -> RequestInspector:
    widget = RequestInspector(ctl)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    return widget


def synchronous(model: RequestsModel) -> RequestsModel:
    """For tests that check what the model reads, not when: on a loaded machine the default budgets (a few
    ms) would send reads to a lane and rows would show placeholders until they land."""
    model.page_budget_ms = model.count_budget_ms = 60_000
    return model


def test_requests_model_passes_qtmodeltester(qtmodeltester: Any, seeded_controller: Any) -> None:
    model = synchronous(RequestsModel(seeded_controller.read, page_size=16))
    model.reload()
    total = model.rowCount()
    assert total > 16 * 4  # several pages: the windowing is exercised
    qtmodeltester.check(model, force_py=True)
    # the tester stays connected and re-checks the model on each reset
    model.set_filter("rejected", "")
    assert model.rowCount() == 1
    model.set_filter(None, "inbound")
    assert 0 < model.rowCount() < total


def test_filtered_requests_model_passes_qtmodeltester(qtmodeltester: Any, seeded_controller: Any) -> None:
    model = synchronous(RequestsModel(seeded_controller.read, page_size=16))
    model.set_filter("accepted", "/twilio/status")
    assert model.rowCount() > 16
    qtmodeltester.check(model, force_py=True)


def test_unsigned_request_shows_as_rejected_with_its_reason(
    qtbot: Any, ctl: Any, inspector: RequestInspector
) -> None:
    sid = "SM" + "1" * 32
    assert post(ctl.local_url, "/twilio/status", status_form(sid), signed=False) == 403
    model = inspector.model
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=5000)
    assert cell(model, 0, COL_OUTCOME) == "Rejected"
    assert not cell(model, 0, COL_OUTCOME, Qt.ItemDataRole.DecorationRole).isNull()  # icon, not colour alone
    assert "no X-Twilio-Signature" in cell(model, 0, COL_REASON)

    inspector.table.selectRow(0)
    detail = inspector.detail
    assert detail.diagnosis_box.isVisibleTo(inspector)
    assert "no X-Twilio-Signature" in detail.diagnosis.text()
    assert "403" in detail.summary.text()
    fields = {
        cell_text(detail.fields, r, 0): cell_text(detail.fields, r, 1)
        for r in range(detail.fields.rowCount())
    }
    assert fields["MessageSid"] == sid and fields["MessageStatus"] == "delivered"
    assert '"Content-Type": "application/x-www-form-urlencoded"' in detail.headers.toPlainText()
    assert f"MessageSid={sid}" in detail.raw.toPlainText()


def test_replaying_an_accepted_callback_adds_a_duplicate_and_keeps_the_selection(
    qtbot: Any, ctl: Any, inspector: RequestInspector
) -> None:
    sid = "SM" + "2" * 32
    assert post(ctl.local_url, "/twilio/status", status_form(sid, ErrorCode="30003"), signed=True) == 200
    model = inspector.model
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=5000)
    assert cell(model, 0, COL_OUTCOME) == "Accepted"
    assert cell(model, 0, COL_SID) == sid
    inspector.table.selectRow(0)
    original = inspector.selected_request_id()
    fields = [cell_text(inspector.detail.fields, r, 1) for r in range(inspector.detail.fields.rowCount())]
    assert "30003 Unreachable handset" in fields  # the error code is explained in place

    assert inspector.replay_button.isEnabled()
    with qtbot.waitSignal(ctl.replayed, timeout=10000, check_params_cb=lambda status, _text: status == 200):
        qtbot.mouseClick(inspector.replay_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=5000)
    assert cell(model, 0, COL_OUTCOME) == "Duplicate"
    assert cell(model, 0, COL_SID) == sid
    assert inspector.selected_request_id() == original  # the new row went in above the selection
    assert inspector.table.selectionModel().selectedRows()[0].row() == 1
    assert "HTTP 200" in inspector.replay_result.text()


def test_replaying_a_rejected_request_is_rejected_again(
    qtbot: Any, ctl: Any, inspector: RequestInspector
) -> None:
    post(ctl.local_url, "/twilio/inbound", {"MessageSid": "SM" + "3" * 32, "Body": "hi"}, signed=False)
    qtbot.waitUntil(lambda: inspector.model.rowCount() == 1, timeout=5000)
    inspector.table.selectRow(0)
    with qtbot.waitSignal(ctl.replayed, timeout=10000, check_params_cb=lambda status, _text: status == 403):
        inspector.replay_selected()
    qtbot.waitUntil(lambda: inspector.model.rowCount() == 2, timeout=5000)
    assert [cell(inspector.model, r, COL_OUTCOME) for r in (0, 1)] == ["Rejected", "Rejected"]


def test_filters_by_outcome_and_text_in_sql(qtbot: Any, seeded_controller: Any) -> None:
    widget = RequestInspector(seeded_controller)
    qtbot.addWidget(widget)
    total = widget.model.rowCount()
    widget.outcome.setCurrentIndex(widget.outcome.findData("rejected"))
    assert widget.model.rowCount() == 1
    assert cell(widget.model, 0, COL_REASON) == "signature does not match"
    assert widget.count.text() == "1 request match"
    widget.outcome.setCurrentIndex(0)
    widget.search.setText("/twilio/inbound")
    widget.apply_filter()  # what the debounce timer does
    inbound = widget.model.rowCount()
    assert 0 < inbound < total
    assert all(widget.model.index(r, 2).data() == "/twilio/inbound" for r in range(inbound))
    widget.search.setText("100%_no_such")  # LIKE wildcards are taken literally
    widget.apply_filter()
    assert widget.model.rowCount() == 0


def log_probes(ctl: Any, first: int, n: int) -> None:
    for i in range(first, first + n):
        ctl.store.log_request(
            RequestRecord(
                path=f"/probe/{i}",
                kind="other",
                method="GET",
                outcome="rejected",
                http_status=404,
                reason="not a webhook path",
            )
        )


def test_live_refresh_inserts_rows_without_reading_the_whole_log(
    qtbot: Any, ctl: Any, inspector: RequestInspector
) -> None:
    model = synchronous(inspector.model)  # every read on the GUI thread's Reader, where they are counted
    log_probes(ctl, 0, 3 * PAGE)
    with qtbot.waitSignal(ctl.dataChanged, timeout=5000):
        ctl.notify_changed()
    assert model.rowCount() == 3 * PAGE
    assert cell(model, 0, 2) == f"/probe/{3 * PAGE - 1}"  # newest first
    assert cell(model, 3 * PAGE - 1, 2) == "/probe/0"
    assert inspector.count.text() == f"{3 * PAGE} requests"

    log_probes(ctl, 3 * PAGE, 5)
    statements: list[str] = []
    ctl.read().conn.set_trace_callback(statements.append)  # every query the GUI thread's Reader runs
    try:
        with (
            qtbot.assertNotEmitted(model.modelReset),
            qtbot.waitSignal(
                model.rowsInserted,
                timeout=5000,
                check_params_cb=lambda _p, first, last: (first, last) == (0, 4),
            ),
        ):
            ctl.notify_changed()
        assert cell(model, 0, 2) == f"/probe/{3 * PAGE + 4}"  # the five new rows on top
        assert cell(model, 5, 2) == f"/probe/{3 * PAGE - 1}"
    finally:
        ctl.read().conn.set_trace_callback(None)
    assert model.rowCount() == 3 * PAGE + 5
    assert inspector.count.text() == f"{3 * PAGE + 5} requests"
    # the refresh counted only the new ids; rows were read a page at a time for what was shown, never the log
    counts = [s for s in statements if "COUNT(" in s]
    assert counts and all(f"id > {3 * PAGE} AND id <= {3 * PAGE + 5}" in s for s in counts), counts
    row_reads = [s for s in statements if s.lstrip().startswith("SELECT id,")]
    assert all(f"LIMIT {PAGE}" in s for s in row_reads), row_reads
    assert len(row_reads) <= 2  # the page on screen (and at most its neighbour), not 3 pages of log


def test_form_fields_decodes_form_and_json_bodies() -> None:
    assert form_fields("application/x-www-form-urlencoded; charset=utf-8", "A=1&B=caf%C3%A9&A=2") == [
        ("A", "1"),
        ("B", "café"),
        ("A", "2"),
    ]
    assert form_fields("application/json", '{"x": 1, "y": "z"}') == [("x", "1"), ("y", "z")]
    assert form_fields("text/plain", "hello") is None


def test_replay_needs_a_running_receiver(qtbot: Any, make_controller: Any, seeded_db: Any) -> None:
    stopped = make_controller(seeded_db.path, start=False)
    widget = RequestInspector(stopped)
    qtbot.addWidget(widget)
    assert widget.model.rowCount() > 0  # the log is readable while the receiver is stopped
    widget.table.selectRow(0)
    assert widget.selected_request_id() is not None
    assert not widget.replay_button.isEnabled()


def test_a_slow_text_filter_is_counted_off_the_gui_thread(qtbot: Any, seeded_controller: Any) -> None:
    widget = RequestInspector(seeded_controller)
    qtbot.addWidget(widget)
    widget.show()
    model = widget.model
    expected = synchronous(RequestsModel(seeded_controller.read))
    expected.set_filter(None, "/twilio/inbound")
    model.page_budget_ms = model.count_budget_ms = 0  # as if every read were slow: all go to a lane
    with qtbot.waitSignal(model.countChanged, timeout=5000) as counted:
        QTest.keyClicks(widget.search, "/twilio/inbound")
        QTest.keyClick(widget.search, Qt.Key.Key_Return)  # no need to wait for the typing pause
    assert counted.args == [expected.rowCount()] and model.count_known
    qtbot.waitUntil(lambda: cell(model, 0, 2) == "/twilio/inbound", timeout=5000)
    assert [cell(model, r, 2) for r in range(model.rowCount())] == ["/twilio/inbound"] * expected.rowCount()
    assert widget.count.text() == f"{expected.rowCount()} requests match"
    model.close()


def test_the_latest_request_log_filter_wins(qtbot: Any, seeded_controller: Any) -> None:
    model = RequestsModel(seeded_controller.read)
    model.page_budget_ms = model.count_budget_ms = 0
    model.set_filter("accepted", "")
    model.set_filter("rejected", "")  # before a lane answered the first
    qtbot.waitUntil(lambda: model.count_known and cell(model, 0, COL_REASON) == "signature does not match")
    with qtbot.assertNotEmitted(model.countChanged), qtbot.assertNotEmitted(model.modelReset):
        model.close()  # the lanes end: whatever they still had to say is queued now …
        QCoreApplication.processEvents()  # … and delivered (or dropped) here
    assert model.rowCount() == 1


def test_requests_model_passes_qtmodeltester_while_loading_on_lanes(
    qtbot: Any, qtmodeltester: Any, seeded_controller: Any
) -> None:
    model = RequestsModel(seeded_controller.read, page_size=16)
    model.page_budget_ms = model.count_budget_ms = 0
    model.reload()
    qtmodeltester.check(model, force_py=True)
    qtbot.waitUntil(lambda: model.count_known and model.rowCount() > 16 * 4, timeout=5000)
    for row in range(0, model.rowCount(), 16):
        qtbot.waitUntil(lambda r=row: model.request_id(r) is not None, timeout=5000)
    model.close()
