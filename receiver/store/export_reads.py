"""Rows for CSV/JSON exports, streamed: the whole dataset (``callback-monitor export``) or what a view
shows (the app's "Export to CSV…", with the view's filter and order).

The columns, their names and how each cell is written are receiver/export.py's; this module only reads
the rows. A view's filter arrives as a ``Selection`` that the view's own Reader methods built (the
desktop passes it back without reading it), so a second backend builds its own in its own dialect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import export as exports
from ..message_filter import MessageFilter, SortSpec
from ..request_filter import RequestFilter
from .base import ReadsBase, reading

CHUNK = 1000  # rows fetched at a time: a million-row export never holds them all

# what each dataset reads, and its order when the caller gives none (stable: the same file twice)
_SOURCES: dict[str, tuple[str, str]] = {
    "messages": (
        "SELECT sid, direction, channel, from_addr, to_addr, body, status, error_code, "
        "messaging_service_sid, num_segments, num_media, price, price_unit, profile_name, "
        "channel_status_message, first_seen, updated_at, event_count FROM messages",
        "first_seen, sid",
    ),
    "events": (f"SELECT {', '.join(exports.EVENT_COLUMNS)} FROM events", "id"),
    "requests": (f"SELECT {', '.join(exports.REQUEST_COLUMNS)} FROM requests", "id"),
}


@dataclass(frozen=True)
class Selection:
    """Which rows of a dataset to export and in which order, as a view's Reader methods express its
    filter: a condition with its arguments, and an ordering ("" = every row / the dataset's order, or
    that order reversed with ``newest_first``)."""

    where: str = ""
    args: tuple[Any, ...] = ()
    order: str = ""
    newest_first: bool = False


class ExportReads(ReadsBase):
    def iter_export(self, what: str, selection: Selection | None = None) -> Iterator[dict[str, Any]]:
        """The dataset's rows as export records (receiver/export.py's columns), streamed ``CHUNK`` at a
        time. A read that fails (damaged file) raises ``StoreReadError``."""
        dataset = exports.DATASETS[what]
        select, order = _SOURCES[what]
        sel = selection or Selection()
        if sel.order:
            order = sel.order
        elif sel.newest_first:
            order = ", ".join(f"{key} DESC" for key in order.split(", "))
        sql = f"{select}{f' WHERE {sel.where}' if sel.where else ''} ORDER BY {order}"
        with reading():
            names, chunks = self._stream(sql, sel.args)
            for chunk in chunks:
                for raw in chunk:
                    yield dataset.record(dict(zip(names, raw, strict=True)))

    def _stream(self, sql: str, args: tuple[Any, ...]) -> tuple[list[str], Iterator[list[Any]]]:
        """The column names and the rows of ``sql``, ``CHUNK`` at a time (never all held at once)."""
        cur = self.conn.execute(sql, args)
        return [d[0] for d in cur.description], iter(lambda: cur.fetchmany(CHUNK), [])

    def count_export(self, what: str, selection: Selection | None = None) -> int:
        """How many rows ``iter_export`` yields for the same arguments (in the same snapshot)."""
        _SOURCES[what]  # an unknown dataset is a KeyError, never a table name taken from the caller
        sel = selection or Selection()
        with reading():
            row = self.conn.execute(
                f"SELECT COUNT(*) FROM {what}{f' WHERE {sel.where}' if sel.where else ''}", sel.args
            ).fetchone()
        return int(row[0])

    def export_messages(
        self,
        dest: str | Path,
        flt: MessageFilter,
        sort: SortSpec,
        *,
        on_progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> int:
        """The messages table's export: the rows ``flt`` selects, in ``sort`` order (what the tab shows)."""
        from . import message_sql

        where, args = message_sql.where_clause(flt, dialect=self.dialect)
        order = message_sql.order_clause(sort, self.dialect)
        selection = Selection(where.removeprefix("WHERE "), tuple(args), order.removeprefix("ORDER BY "))
        return self.export_to_file(dest, "messages", selection, on_progress=on_progress, cancel=cancel)

    def export_requests(
        self,
        dest: str | Path,
        flt: RequestFilter,
        *,
        on_progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> int:
        """The Requests tab's export: the log rows ``flt`` selects, newest first like the tab."""
        from .requests_reads import where_sql

        where, args = where_sql(flt, self.dialect)
        selection = Selection(where, tuple(args), newest_first=True)
        return self.export_to_file(dest, "requests", selection, on_progress=on_progress, cancel=cancel)

    def export_to_file(
        self,
        dest: str | Path,
        what: str,
        selection: Selection | None = None,
        *,
        fmt: str = "csv",
        on_progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> int:
        """Write the rows to ``dest``; rows written, or -1 when ``cancel`` was set (the partial file is
        removed). The count for the progress and the rows come from one snapshot: they agree while the
        receiver writes."""
        own = not self.conn.in_transaction
        if own:
            self.conn.execute(self.dialect.begin_snapshot)
        try:
            total = self.count_export(what, selection)
            rows = self.iter_export(what, selection)
            columns = exports.DATASETS[what].columns
            return exports.write_file(
                dest, fmt, columns, rows, total=total, on_progress=on_progress, cancel=cancel
            )
        finally:
            if own:
                self.conn.execute("ROLLBACK")  # a read: nothing to keep, the snapshot ends here
