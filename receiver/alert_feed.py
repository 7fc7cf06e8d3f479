"""Feed ``AlertRules`` from the store: only the rows added since the last look.

The feed keeps cursors (the last ``events.id`` and ``requests.id`` read) and asks its Reader for the rows
after them (``Reader.feed_events``/``feed_requests``, receiver/store/alerts_reads.py): each look costs what
arrived since the previous one, never the size of the database. At start the cursors are set by walking
back from the newest row until the rows are older than the window, so the rules start with the last
window's traffic (a restart in the middle of a failing campaign still notices it) and never read further
back than that.

The Reader is the caller's own (``receiver.store.open_reader``), opened on the thread that polls, which is
not the GUI's.
"""

from __future__ import annotations

from collections.abc import Callable

from receiver.alert_rules import AlertRules, parse_time
from receiver.store import Reader
from receiver.store.alerts_reads import FeedTable
from receiver.store.base import reading

CHUNK = 5_000  # rows per query: a backlog is read in pieces, never one huge result


class AlertFeed:
    """``poll(rules, now)`` reads new events and requests into ``rules``."""

    def __init__(self, open_reader: Callable[[], Reader]) -> None:
        self._open_reader = open_reader
        self._reader: Reader | None = None
        self._event_id: int | None = None
        self._request_id: int | None = None
        self._known_codes: set[int] = set()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def poll(self, rules: AlertRules, now: float) -> None:
        """Feed the rules what arrived since the last look; a store that cannot answer raises
        ``StoreError`` (the caller closes the feed; the next look reopens it)."""
        with reading():
            if self._reader is None:
                self._reader = self._open_reader()
            reader = self._reader
            window_start = now - rules.thresholds.window
            if self._event_id is None or self._request_id is None:
                self._event_id = self._seed(reader, rules, "events", window_start)
                self._request_id = self._seed(reader, rules, "requests", window_start)
            self._event_id = self._read_events(reader, rules, self._event_id, history=False)
            self._request_id = self._read_requests(reader, rules, self._request_id)

    # ------------------------------------------------------------------ start
    def _seed(self, reader: Reader, rules: AlertRules, table: FeedTable, window_start: float) -> int:
        """Walk back from the newest row to the window's start; returns the id to read on from."""
        newest = reader.feed_newest_id(table)
        first = newest + 1
        while first > 1:
            rows = reader.feed_times_before(table, first, CHUNK)
            if not rows:
                break
            inside = [row_id for row_id, at in rows if (parse_time(at) or 0) >= window_start]
            if not inside:
                break
            first = min(inside)
            if len(inside) < len(rows):
                break
        if table == "events":
            return self._read_events(reader, rules, first - 1, history=True, upto=newest)
        return self._read_requests(reader, rules, first - 1, upto=newest)

    # ------------------------------------------------------------------ reads
    def _read_events(
        self, reader: Reader, rules: AlertRules, after: int, *, history: bool, upto: int = 2**62
    ) -> int:
        """Events after id ``after``; their error codes are "new" only when read live (not ``history``).
        Returns the last id read: the cursor moves past simulated rows too (they are skipped here)."""
        while True:
            rows = reader.feed_events(after, upto, CHUNK)
            for event in rows:
                if event.simulated:
                    continue
                new_code = None
                code = event.error_code
                if code is not None:
                    if not history and self._is_new(reader, code, event.id):
                        new_code = code
                    self._known_codes.add(code)
                rules.observe_status(parse_time(event.received_at) or 0.0, event.status, new_code=new_code)
            if rows:
                after = rows[-1].id
            if len(rows) < CHUNK:
                return after

    def _is_new(self, reader: Reader, code: int, event_id: int) -> bool:
        if code in self._known_codes:
            return False
        return not reader.error_code_seen_before(code, event_id)

    def _read_requests(self, reader: Reader, rules: AlertRules, after: int, *, upto: int = 2**62) -> int:
        while True:
            rows = reader.feed_requests(after, upto, CHUNK)
            for req in rows:
                if not req.simulated:
                    at = parse_time(req.received_at) or 0.0
                    rules.observe_request(at, req.outcome, req.http_status, req.reason)
            if rows:
                after = rows[-1].id
            if len(rows) < CHUNK:
                return after
