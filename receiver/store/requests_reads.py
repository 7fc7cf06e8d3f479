"""The request log's pages, filters and one request's detail.

The log is listed newest first, so offsets move whenever a request arrives: a model lists only ids up to
a snapshot ``top`` and counts/inserts what arrived above it. Pages are keyed by id (keyset paging along
the primary key); the text filter is a LIKE scan, which on a million rows takes a few hundred ms, so the
desktop asks for counts and pages off its GUI thread.
"""

from __future__ import annotations

from typing import Any

from ..request_filter import RequestFilter
from ..request_storage import event_holds_body, whole_request
from . import like
from .base import ReadsBase, reading
from .detail_reads import count_rejected
from .dialect import SQLITE, Dialect
from .paging import Page, PagePlan

_COLUMNS = "id, received_at, method, path, outcome, http_status, reason, latency_ms, message_sid, query"


def where_sql(flt: RequestFilter, dialect: Dialect = SQLITE) -> tuple[str, list[Any]]:
    """``flt`` as a condition on ``requests`` and its parameters (the CSV export of the log uses it too)."""
    clauses: list[str] = []
    args: list[Any] = []
    if flt.outcome is not None:
        clauses.append("outcome = ?")
        args.append(flt.outcome)
    if flt.text:
        columns = ("path", "reason", "message_sid")
        op = dialect.like_for(flt.text)
        clauses.append("(" + " OR ".join(f"{c} {op} ? {like.ESCAPE}" for c in columns) + ")")
        args += [like.contains(flt.text)] * len(columns)
    return (" AND ".join(clauses) if clauses else "TRUE"), args


class RequestsReads(ReadsBase):
    def requests_top(self) -> int:
        """The newest request's id (0 for an empty log)."""
        with reading():
            return int(self.conn.execute("SELECT MAX(id) FROM requests").fetchone()[0] or 0)

    def requests_count(self, flt: RequestFilter, above: int, upto: int) -> int:
        """Requests matching ``flt`` with ``above < id <= upto``."""
        where, args = where_sql(flt, self.dialect)
        with reading():
            row = self.conn.execute(
                f"SELECT COUNT(*) FROM requests WHERE id > ? AND id <= ? AND {where}", [above, upto, *args]
            ).fetchone()
        return int(row[0])

    def requests_page(self, flt: RequestFilter, top: int, plan: PagePlan) -> Page:
        """One page of the log up to id ``top``, newest first; keys are ids."""
        where, args = where_sql(flt, self.dialect)
        if plan.backwards:  # towards the top of the list: older-to-newer from ``after`` (or the oldest)
            bound, order = ("id > ?", [plan.after]) if plan.after is not None else ("TRUE", [])
            direction = "ASC"
        else:
            bound, order = ("id < ?", [plan.after]) if plan.after is not None else ("TRUE", [])
            direction = "DESC"
        with reading():
            cur = self.conn.execute(
                f"SELECT {_COLUMNS} FROM requests WHERE id <= ? AND {bound} AND {where} "
                f"ORDER BY id {direction} LIMIT ? OFFSET ?",
                [top, *order, *args, plan.limit, plan.skip],
            )
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, tuple(r), strict=True)) for r in cur.fetchall()]
        if plan.backwards:
            rows.reverse()
        return Page(rows, rows[0]["id"], rows[-1]["id"]) if rows else Page()

    def requests_position(self, request_id: int, flt: RequestFilter, top: int) -> int | None:
        """The 0-based row of ``request_id`` in the log up to ``top`` under ``flt``; None if left out."""
        if not 0 < request_id <= top:
            return None
        where, args = where_sql(flt, self.dialect)
        with reading():
            hit = self.conn.execute(
                f"SELECT 1 FROM requests WHERE id = ? AND {where}", [request_id, *args]
            ).fetchone()
        return None if hit is None else self.requests_count(flt, request_id, top)

    def request_detail(self, request_id: int) -> dict[str, Any] | None:
        """One request as the receiver logged it (an accepted callback's body rebuilt from its event)."""
        with reading():
            cur = self.conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,))
            raw = cur.fetchone()
            if raw is None:
                return None
            row = dict(zip([d[0] for d in cur.description], tuple(raw), strict=True))
            event = None
            if event_holds_body(row):
                found = self.conn.execute(
                    "SELECT payload, idempotency_token FROM events WHERE message_sid = ? AND request_id = ?",
                    (row["message_sid"], request_id),
                ).fetchone()
                event = None if found is None else (str(found[0]), found[1])
        return whole_request(row, event)

    def rejected_requests_for_sid(self, sid: str) -> int:
        """How many refused requests named ``sid`` (why a SID with no stored message may still be known)."""
        with reading():
            return count_rejected(self.conn, sid)

    def newest_request_id(self) -> int:
        """The id of the newest logged request (0 when the log is empty)."""
        with reading():
            return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0])

    def request_logged_after(self, after_id: int, path: str, query: str) -> bool:
        """Whether a request to exactly ``path`` and ``query`` was logged with an id above ``after_id``."""
        with reading():
            # id > after_id keeps this a short range scan on the primary key however big the log is
            row = self.conn.execute(
                "SELECT 1 FROM requests WHERE id > ? AND path = ? AND query = ? LIMIT 1",
                (after_id, path, query),
            ).fetchone()
        return row is not None

    def first_outcomes(self, limit: int) -> list[str]:
        """The outcomes of the first ``limit`` logged requests, oldest first."""
        with reading():
            rows = self.conn.execute("SELECT outcome FROM requests ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [str(r[0]) for r in rows]
