"""Feed ``AlertRules`` from the database: only the rows added since the last look.

Every query walks a primary key (``events.id``, ``requests.id``) from a remembered cursor, or looks one
error code up in ``idx_events_error_code`` (m002): each look costs what arrived since the previous one,
never the size of the database (tests/test_alerts.py checks the query plans). At start the cursors are
set by walking back from the newest row until the rows are older than the window, so the rules start
with the last window's traffic (a restart in the middle of a failing campaign still notices it) and
never read further back than that.

Reads go through the caller's own read-only connection (receiver.store.connect), on a thread that is
not the GUI's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from receiver.alert_rules import AlertRules, parse_time

CHUNK = 5_000  # rows per query: a backlog is read in pieces, never one huge result


class AlertFeed:
    """``poll(rules, now)`` reads new events and requests into ``rules``."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._event_id: int | None = None
        self._request_id: int | None = None
        self._known_codes: set[int] = set()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def poll(self, rules: AlertRules, now: float) -> None:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        window_start = now - rules.thresholds.window
        if self._event_id is None or self._request_id is None:
            self._event_id = self._seed(conn, rules, "events", window_start)
            self._request_id = self._seed(conn, rules, "requests", window_start)
        self._event_id = self._read_events(conn, rules, self._event_id, history=False)
        self._request_id = self._read_requests(conn, rules, self._request_id)

    # ------------------------------------------------------------------ start
    def _seed(self, conn: sqlite3.Connection, rules: AlertRules, table: str, window_start: float) -> int:
        """Walk back from the newest row to the window's start; returns the id to read on from."""
        newest = conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0
        first = newest + 1
        while first > 1:
            rows = conn.execute(
                f"SELECT id, received_at FROM {table} WHERE id < ? ORDER BY id DESC LIMIT ?", (first, CHUNK)
            ).fetchall()
            if not rows:
                break
            inside = [r[0] for r in rows if (parse_time(r[1]) or 0) >= window_start]
            if not inside:
                break
            first = min(inside)
            if len(inside) < len(rows):
                break
        if table == "events":
            return self._read_events(conn, rules, first - 1, history=True, upto=newest)
        return self._read_requests(conn, rules, first - 1, upto=newest)

    # ------------------------------------------------------------------ reads
    def _read_events(
        self, conn: sqlite3.Connection, rules: AlertRules, after: int, *, history: bool, upto: int = 2**62
    ) -> int:
        """Events after id ``after``; their error codes are "new" only when read live (not ``history``).
        Returns the last id read: the cursor moves past simulated rows too (they are skipped here)."""
        while True:
            rows = conn.execute(
                "SELECT id, status, error_code, received_at, simulated FROM events "
                "WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                (after, upto, CHUNK),
            ).fetchall()
            for event_id, status, code, received_at, simulated in rows:
                if simulated:
                    continue
                new_code = None
                if code is not None:
                    if not history and self._is_new(conn, int(code), event_id):
                        new_code = int(code)
                    self._known_codes.add(int(code))
                rules.observe_status(parse_time(received_at) or 0.0, str(status), new_code=new_code)
            if rows:
                after = rows[-1][0]
            if len(rows) < CHUNK:
                return after

    def _is_new(self, conn: sqlite3.Connection, code: int, event_id: int) -> bool:
        if code in self._known_codes:
            return False
        earlier = conn.execute(
            "SELECT 1 FROM events WHERE error_code = ? AND id < ? AND simulated = 0 LIMIT 1", (code, event_id)
        ).fetchone()
        return earlier is None

    def _read_requests(
        self, conn: sqlite3.Connection, rules: AlertRules, after: int, *, upto: int = 2**62
    ) -> int:
        while True:
            rows = conn.execute(
                "SELECT id, outcome, http_status, reason, received_at, simulated FROM requests "
                "WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                (after, upto, CHUNK),
            ).fetchall()
            for _request_id, outcome, http_status, reason, received_at, simulated in rows:
                if not simulated:
                    rules.observe_request(parse_time(received_at) or 0.0, str(outcome), http_status, reason)
            if rows:
                after = rows[-1][0]
            if len(rows) < CHUNK:
                return after
