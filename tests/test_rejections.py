"""Rejected requests found by the SID they named, through the partial index of migration m009."""

from __future__ import annotations

from pathlib import Path

from receiver import rejections
from receiver.store import RequestRecord, Store, connect


def test_rejections_for_a_sid_use_the_partial_index_and_read_the_claimed_status(tmp_path: Path) -> None:
    sid = "SM" + "a" * 32
    store = Store(tmp_path / "r.db")
    try:
        for status, outcome in (("sent", "accepted"), ("delivered", "rejected"), ("read", "rejected")):
            body = f"MessageSid={sid}&MessageStatus={status}"
            store.log_request(
                RequestRecord(path="/twilio/status", kind="status", body=body, outcome=outcome,
                              http_status=200 if outcome == "accepted" else 403, reason=f"r-{status}",
                              message_sid=sid)
            )  # fmt: skip
    finally:
        store.close()
    conn = connect(tmp_path / "r.db", readonly=True)
    try:
        found = rejections.for_sid(conn, sid)
        assert [(r.status, r.http_status, r.reason) for r in found] == [
            ("delivered", 403, "r-delivered"),
            ("read", 403, "r-read"),
        ]
        assert rejections.count_for_sid(conn, sid) == 2
        plan = " ".join(
            str(row[3])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM requests WHERE " + rejections.WHERE_SID, (sid,)
            )
        )
        assert "idx_requests_rejected_sid" in plan
    finally:
        conn.close()
