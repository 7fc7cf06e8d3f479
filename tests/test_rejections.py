"""Rejected requests found by the SID they named, through the partial index of migration m009."""

from __future__ import annotations

from pathlib import Path

from receiver.store import RequestRecord, Store, connect, open_reader
from receiver.store.detail_reads import REJECTED_BY_SID


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
    reader = open_reader(tmp_path / "r.db")
    conn = connect(tmp_path / "r.db", readonly=True)
    try:
        found = reader.rejections_of(sid)
        assert [(r.status, r.http_status, r.reason) for r in found] == [
            ("delivered", 403, "r-delivered"),
            ("read", 403, "r-read"),
        ]
        assert reader.rejection_count(sid) == 2
        plan = " ".join(
            str(row[3])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM requests WHERE " + REJECTED_BY_SID, (sid,)
            )
        )
        assert "idx_requests_rejected_sid" in plan
    finally:
        reader.close()
        conn.close()
