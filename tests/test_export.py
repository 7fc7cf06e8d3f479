"""One export path for the CLI and the app: same columns, formulas neutralised, quiet under ``| head``."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from receiver import export as exports
from receiver.store import Store
from tests.conftest import SeedInfo
from tests.serve_process import cli_env, run_cli

EVIL_BODY = '=HYPERLINK("http://evil.example/x","Click for refund")'


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("   =1", "'   =1"),  # spreadsheets skip leading spaces before a formula
        ("hello = world", "hello = world"),
        ("-0.0075", "-0.0075"),  # a price: a number, never a formula
        ("+14155550100", "+14155550100"),  # a phone number
        ("whatsapp:+14155550100", "whatsapp:+14155550100"),
        (30003, 30003),
        (None, None),
    ],
)
def test_neutralise(cell: object, expected: object) -> None:
    assert exports.neutralise(cell) == expected


def _poison(db: Path) -> None:
    store = Store(db)
    try:
        store.run(
            lambda c: (
                c.execute(
                    "UPDATE messages SET body = ?, profile_name = ? WHERE direction = 'inbound'",
                    (EVIL_BODY, "  @SUM(1+1)"),
                ),
                c.execute(
                    "UPDATE requests SET reason = ?, path = ? WHERE outcome = 'rejected'",
                    ("=cmd()", "/twilio/status"),
                ),
            )
        )
    finally:
        store.close()


def test_cli_csv_neutralises_formulas_in_every_text_column(seeded_db: SeedInfo, tmp_path: Path) -> None:
    _poison(seeded_db.path)
    out = run_cli(tmp_path, "export", "--db", str(seeded_db.path), "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    inbound = [r for r in rows if r["direction"] == "inbound"]
    assert inbound and all(r["body"] == "'" + EVIL_BODY for r in inbound)
    assert all(r["profile_name"] == "'  @SUM(1+1)" for r in inbound)
    assert all(not r["price"].startswith("'") for r in rows)  # negative prices stay numbers
    req = run_cli(tmp_path, "export", "--db", str(seeded_db.path), "--what", "requests", "--format", "csv")
    rejected = [r for r in csv.DictReader(io.StringIO(req.stdout)) if r["outcome"] == "rejected"]
    assert [r["reason"] for r in rejected] == ["'=cmd()"]
    # JSON is data for programs: written as stored
    js = run_cli(tmp_path, "export", "--db", str(seeded_db.path))
    assert EVIL_BODY in js.stdout.replace('\\"', '"')


def test_cli_and_app_write_the_same_columns_including_channel_status_message(
    seeded_db: SeedInfo, tmp_path: Path
) -> None:
    from desktop.export_csv import export_messages
    from desktop.models.message_query import MessageFilter, SortSpec

    cli = run_cli(tmp_path, "export", "--db", str(seeded_db.path), "--format", "csv")
    cli_rows = list(csv.DictReader(io.StringIO(cli.stdout)))
    dest = tmp_path / "app.csv"
    assert export_messages(seeded_db.path, dest, MessageFilter(), SortSpec()) == 60
    with dest.open(encoding="utf-8", newline="") as fh:
        app_rows = list(csv.DictReader(fh))
    assert list(cli_rows[0]) == list(app_rows[0]) == list(exports.MESSAGE_COLUMNS)
    assert "channel_status_message" in cli_rows[0]
    by_sid = {r["sid"]: r for r in app_rows}
    assert all(by_sid[r["sid"]] == r for r in cli_rows)  # the same cells, whichever way exported
    assert any(r["channel_status_message"] == "Unreachable destination handset" for r in cli_rows)


def test_export_into_a_closed_pipe_prints_no_traceback(seeded_db: SeedInfo, tmp_path: Path) -> None:
    """``callback-monitor export | head -1``: the reader leaves early; no BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "receiver", "export", "--db", str(seeded_db.path), "--what", "requests"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(tmp_path),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like head: gone before (or while) the rows are written
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == 141


def test_app_export_of_the_request_log_writes_the_tabs_filter_newest_first(
    seeded_db: SeedInfo, tmp_path: Path
) -> None:
    """The Requests tab's export: its filter, its order (newest first), the CLI's columns and cells."""
    from desktop.export_csv import export_requests
    from receiver.request_filter import RequestFilter

    cli = run_cli(tmp_path, "export", "--db", str(seeded_db.path), "--what", "requests", "--format", "csv")
    every = list(csv.DictReader(io.StringIO(cli.stdout)))
    dest = tmp_path / "requests.csv"
    progress: list[tuple[int, int]] = []
    written = export_requests(
        seeded_db.path,
        dest,
        RequestFilter(outcome="accepted"),
        on_progress=lambda n, t: progress.append((n, t)),
    )
    with dest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    accepted = [r for r in every if r["outcome"] == "accepted"]
    assert 0 < written == len(rows) == len(accepted) < len(every)
    assert rows == accepted[::-1]
    assert list(rows[0]) == list(exports.REQUEST_COLUMNS)
    assert progress[-1] == (written, written)  # the count agreed with the rows (one snapshot)


def test_app_export_of_an_unreadable_database_fails_with_the_stores_error(tmp_path: Path) -> None:
    """The desktop catches the store's errors, not a backend's: a file that is not a database ends in a
    ``StoreError`` (the export dialog shows its text), and no partial file is left behind."""
    from desktop.export_csv import export_messages
    from desktop.models.message_query import MessageFilter, SortSpec
    from receiver.store import StoreError

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, a copy gone wrong " * 200)
    dest = tmp_path / "out.csv"
    with pytest.raises(StoreError, match="not a database"):
        export_messages(garbage, dest, MessageFilter(), SortSpec())
    assert not dest.exists()


def test_reader_export_gives_plain_records_and_a_count_that_matches(seeded_db: SeedInfo) -> None:
    """THE CONTRACT for exports: plain dicts in the export's columns (no sqlite3.Row), streamed; the count
    for a selection is the number of rows it yields; an unknown dataset is refused, never used as a table."""
    from receiver.store import Selection, open_reader

    reader = open_reader(seeded_db.path)
    try:
        rows = list(reader.iter_export("messages"))
        assert len(rows) == reader.count_export("messages") == 60
        assert all(type(r) is dict and list(r) == list(exports.MESSAGE_COLUMNS) for r in rows)
        assert [r["first_seen"] for r in rows] == sorted(r["first_seen"] for r in rows)
        failed = Selection("status = ?", ("failed",), "sid DESC")
        picked = list(reader.iter_export("messages", failed))
        assert (
            len(picked)
            == reader.count_export("messages", failed)
            == seeded_db.count(lambda m: m["status"] == "failed")
        )
        assert [r["sid"] for r in picked] == sorted((r["sid"] for r in picked), reverse=True)
        with pytest.raises(KeyError):
            reader.count_export("sqlite_master")
    finally:
        reader.close()
