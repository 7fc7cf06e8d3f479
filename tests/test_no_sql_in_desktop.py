"""The core owns the data (#12): desktop/ asks a Reader or the Store and holds no SQL, no ``sqlite3`` and
no database connection of its own, so a second store backend (PostgreSQL) needs no change in desktop/.

The scan reads each module's syntax tree: string literals (f-string parts too, docstrings excepted) that
look like SQL, ``import sqlite3``, and database connections or statements (``connect(…)`` as a plain name
or on ``sqlite3``, the store's ``connect`` imported, ``.execute…(…)``). Qt's ``signal.connect(slot)`` is
an attribute call on a signal and is not a database connection."""

from __future__ import annotations

import ast
import re
from pathlib import Path

DESKTOP = Path(__file__).resolve().parent.parent / "desktop"

_SQL = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bSELECT\s+(COUNT|MAX|MIN|1)\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b|\b(CREATE|DROP)\s+(TABLE|INDEX|VIRTUAL|TRIGGER)\b|\bPRAGMA\b|\bORDER\s+BY\b"
    r"|\bGROUP\s+BY\b|\bWHERE\b|\bLIMIT\s+[?\d]|\bESCAPE\b|\w+\s*(=|<|>|<=|>=|!=|\bIN\b|\bLIKE\b)\s*\(?\?"
    r"|\b\w+\s+(ASC|DESC)\b|\bMATCH\s+\?|\bBEGIN\b(\s+(IMMEDIATE|DEFERRED))?$|\bROLLBACK\b|\bCOMMIT\b$",
    re.DOTALL,
)
_STATEMENTS = {"execute", "executemany", "executescript"}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def offences(source: str) -> list[str]:
    """What in ``source`` speaks to the database directly, one line each (``line: what``)."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if _SQL.search(node.value):
                found.append(f"{line}: SQL {node.value.strip()[:60]!r}")
        elif isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlite3"]
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] == "sqlite3":
                found.append(f"{line}: from {node.module} import")
            elif (node.module or "").startswith("receiver.store") and any(
                a.name == "connect" for a in node.names
            ):
                found.append(f"{line}: from {node.module} import connect")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "connect":
                found.append(f"{line}: connect(…)")
            elif isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                if func.attr == "connect" and owner == "sqlite3":
                    found.append(f"{line}: sqlite3.connect(…)")
                elif func.attr in _STATEMENTS:
                    found.append(f"{line}: .{func.attr}(…)")
    return sorted(set(found), key=lambda s: int(s.split(":")[0]))


def test_the_scan_finds_sql_and_connections_and_leaves_qt_and_prose_alone() -> None:
    """The detector itself: every way desktop/ used to reach the database is found; Qt signals, UI text
    and docstrings are not."""
    bad = """
import sqlite3
from receiver.store import connect, Store
def f(conn, flt):
    conn.execute(f"SELECT COUNT(*) FROM requests WHERE id > ? AND {flt}")
    conn.executemany("INSERT OR IGNORE INTO media (a) VALUES (?)", [])
    where = "outcome = ?"
    order = "ORDER BY first_seen DESC"
    newest = "id DESC"
    c = connect("x.db", readonly=True)
    return sqlite3.connect("y.db")
"""
    found = offences(bad)
    for expected in ("import sqlite3", "import connect", "SQL 'SELECT COUNT", "SQL 'INSERT OR IGNORE",
                     "SQL 'outcome = ?'", "SQL 'ORDER BY", "SQL 'id DESC'", "connect(…)",
                     "sqlite3.connect(…)", ".execute(…)", ".executemany(…)"):  # fmt: skip
        assert any(expected in line for line in found), (expected, found)
    fine = '''
"""Select the rows to show; the store decides WHERE they come from and ORDER BY is its business."""
from receiver.store import Store
def g(button, dialog):
    """Runs SELECT … FROM messages in the Reader, not here."""
    button.clicked.connect(dialog.accept)
    dialog.setWindowTitle("Select a file to export")
    dialog.setText("Delete from this list? Update the settings, then commit to it.")
    return dialog.exec()
'''
    assert offences(fine) == []


def test_desktop_has_no_sql_no_sqlite3_and_no_connection_of_its_own() -> None:
    report = {
        str(path.relative_to(DESKTOP.parent)): found
        for path in sorted(DESKTOP.rglob("*.py"))
        if (found := offences(path.read_text(encoding="utf-8")))
    }
    assert report == {}, "\n".join(f"{p}:{line}" for p, lines in report.items() for line in lines)
