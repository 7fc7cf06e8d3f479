"""The store package is the only place with SQL (#12): receiver/ outside receiver/store/ asks a Reader
(reads) or the Store's named methods (writes), so a second backend (PostgreSQL, #13) implements named
operations and never receives SQL written elsewhere.

The same syntax-tree scan as desktop/'s (tests/test_no_sql_in_desktop.py). What it finds outside the
store is allowed only when listed below, each entry with its reason; an entry that no longer matches
anything fails too, so the list only shrinks."""

from __future__ import annotations

from pathlib import Path

from tests.test_no_sql_in_desktop import offences

RECEIVER = Path(__file__).resolve().parent.parent / "receiver"
STORE = RECEIVER / "store"

# (module, what the scan reports without its line number): the reason it is not SQL outside the store
ALLOWED: dict[tuple[str, str], str] = {
    # waitress's WSGI task: ``super().execute()`` runs a request, not a statement
    ("receiver/connections.py", ".execute(…)"): "waitress task, not a database",
    # opening a SQLite file is the engine's plumbing: the damage check at start (``PRAGMA quick_check``)
    # and telling the driver's error codes apart (corrupt, not a database, disk full) for the operator
    ("receiver/store_health.py", "import sqlite3"): "SQLite engine plumbing",
    ("receiver/store_health.py", ".execute(…)"): "SQLite engine plumbing: PRAGMA quick_check at open",
    ("receiver/store_health.py", "SQL 'PRAGMA quick_check(20)'"): "SQLite engine plumbing",
    # the CLI still catches the driver's error when opening a damaged database (the store should say it)
    ("receiver/cli.py", "import sqlite3"): "catches sqlite3.Error when opening a damaged database",
}


def _found_outside_store() -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for path in sorted(RECEIVER.rglob("*.py")):
        if STORE in path.parents:
            continue
        name = str(path.relative_to(RECEIVER.parent))
        for offence in offences(path.read_text(encoding="utf-8")):
            line, what = offence.split(": ", 1)
            found.setdefault((name, what), []).append(int(line))
    return found


def test_receiver_has_no_sql_outside_the_store_package() -> None:
    found = _found_outside_store()
    unexpected = {key: lines for key, lines in found.items() if key not in ALLOWED}
    assert unexpected == {}, "\n".join(
        f"{name}:{line}: {what}" for (name, what), lines in unexpected.items() for line in lines
    )


def test_every_allowed_exception_is_still_needed() -> None:
    found = _found_outside_store()
    assert [key for key in ALLOWED if key not in found] == []
