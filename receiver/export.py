"""Exports of messages, events and the request log as CSV or JSON: one code path for the CLI and the GUI.

A dataset is a list of columns and how a stored row becomes a record; the rows come from a Reader
(receiver/store/export_reads.py: the whole dataset, or a view's filter and sort). The columns, their names
and how each cell is written are decided here only, so ``callback-monitor export`` and "Export to CSV…" in
the app write the same file for the same rows.

CSV cells that a spreadsheet would run as a formula (text starting with ``= + - @``, TAB or CR, also after
leading spaces) get a leading apostrophe. Senders, profile names, bodies, paths and reasons are written by
strangers: ``=HYPERLINK("http://evil", "Click")`` in an SMS must reach the operator's spreadsheet as text.
Plain numbers (``-0.0075``, ``+14155550100``) are left alone: a spreadsheet reads them as numbers, never
as formulas, and an apostrophe would spoil the data. JSON is written unchanged (no spreadsheet runs it).
"""

from __future__ import annotations

import csv
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from . import errors

FORMATS = ("csv", "json")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula; non-text values unchanged."""
    if not isinstance(value, str):
        return value
    stripped = value.lstrip(" ")
    if stripped.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(stripped):
        return "'" + value
    return value


@dataclass(frozen=True)
class Dataset:
    """What one export writes: ``columns`` in order, each stored row turned into a record by ``record``."""

    name: str
    columns: tuple[str, ...]
    record: Callable[[Mapping[str, Any]], dict[str, Any]]


MESSAGE_COLUMNS = (
    "sid", "first_seen", "updated_at", "direction", "channel", "from", "to", "status", "error_code",
    "error_title", "channel_status_message", "num_segments", "num_media", "price", "price_unit",
    "messaging_service_sid", "profile_name", "body", "event_count",
)  # fmt: skip


def _message_record(r: Mapping[str, Any]) -> dict[str, Any]:
    code = r["error_code"]
    return {
        "sid": r["sid"], "first_seen": r["first_seen"], "updated_at": r["updated_at"],
        "direction": r["direction"], "channel": r["channel"], "from": r["from_addr"], "to": r["to_addr"],
        "status": r["status"], "error_code": code, "error_title": errors.short_title(code),
        "channel_status_message": r["channel_status_message"], "num_segments": r["num_segments"],
        "num_media": r["num_media"], "price": r["price"], "price_unit": r["price_unit"],
        "messaging_service_sid": r["messaging_service_sid"], "profile_name": r["profile_name"],
        "body": r["body"], "event_count": r["event_count"],
    }  # fmt: skip


EVENT_COLUMNS = (
    "id", "message_sid", "status", "error_code", "event_type", "channel_status_message",
    "raw_dlr_done_date", "received_at",
)  # fmt: skip
# Headers and bodies stay out of the request export: bodies can be large and the database keeps them
# for the inspector; what a spreadsheet of the log needs is what happened to each request and why.
REQUEST_COLUMNS = (
    "id", "received_at", "method", "path", "query", "remote_addr", "content_type", "body_size", "kind",
    "outcome", "http_status", "reason", "latency_ms", "message_sid",
)  # fmt: skip


def _same(columns: tuple[str, ...]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    return lambda r: {c: r[c] for c in columns}


MESSAGES = Dataset("messages", MESSAGE_COLUMNS, _message_record)
EVENTS = Dataset("events", EVENT_COLUMNS, _same(EVENT_COLUMNS))
REQUESTS = Dataset("requests", REQUEST_COLUMNS, _same(REQUEST_COLUMNS))
DATASETS = {d.name: d for d in (MESSAGES, EVENTS, REQUESTS)}


def write(
    out: TextIO,
    fmt: str,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    on_row: Callable[[int], bool] | None = None,
) -> int:
    """Write ``rows`` as ``fmt`` ("csv" or "json"); returns rows written.

    ``on_row(n)`` is called after each row; returning False stops early (a canceled export)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    written = 0
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(columns)
    else:
        out.write("[")
    for row in rows:
        if writer is not None:
            writer.writerow([neutralise(row[c]) for c in columns])
        else:
            out.write(
                ("," if written else "") + "\n" + json.dumps({c: row[c] for c in columns}, ensure_ascii=False)
            )
        written += 1
        if on_row is not None and not on_row(written):
            break
    if writer is None:
        out.write("\n]\n")
    return written


def write_file(
    dest: str | Path,
    fmt: str,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    total: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Write ``rows`` to ``dest``; returns rows written, or -1 when ``cancel`` was set (the partial file
    is removed). ``on_progress(done, total)`` every 1,000 rows and at the end."""
    dest = Path(dest)
    report_every = 1000

    def on_row(n: int) -> bool:
        if cancel is not None and cancel.is_set():
            return False
        if on_progress is not None and n % report_every == 0:
            on_progress(n, total if total is not None else n)
        return True

    with dest.open("w", newline="", encoding="utf-8") as fh:
        written = write(fh, fmt, columns, rows, on_row)
    if cancel is not None and cancel.is_set():
        dest.unlink(missing_ok=True)
        return -1
    if on_progress is not None:
        on_progress(written, total if total is not None else written)
    return written
