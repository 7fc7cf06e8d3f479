"""Can a desktop attach to this team database? One check, with an answer that says what to do.

A desktop only reads: it needs to reach the server, log in, find the database and Callback Monitor's
tables in it, and be allowed to SELECT from them (the viewer role of docs/TEAM.md). Each of those
failures gets its own sentence; the password tried is held in memory only (the caller keeps it in the
keyring once it works).
"""

from __future__ import annotations

import psycopg
import psycopg.conninfo
import psycopg.errors

from ...store_health import StoreOpenError
from ..url import PostgresTarget
from .connection import APPLICATION, CONNECT_TIMEOUT, _first_line

READ_TABLES = ("messages", "events", "requests")  # what every tab of the window reads


def check(target: PostgresTarget, password: str | None) -> None:
    """Return if a desktop can show ``target``; ``StoreOpenError`` saying why not and what to do.
    ``password`` None: libpq's own sources (PGPASSWORD, ~/.pgpass, a service file)."""
    options = psycopg.conninfo.make_conninfo(
        target.url,
        connect_timeout=CONNECT_TIMEOUT,
        application_name=f"{APPLICATION} check",
        password=password or None,
    )
    where = f"{target.host}:{target.port}"
    try:
        conn = psycopg.connect(options, autocommit=True)
    except psycopg.Error as exc:
        raise StoreOpenError(_refused(target, where, exc)) from None
    try:
        for table in READ_TABLES:
            conn.execute(f"SELECT 1 FROM {table} LIMIT 0")
    except psycopg.errors.UndefinedTable:
        raise StoreOpenError(
            f'The database "{target.dbname}" on {where} is not a Callback Monitor database (it has no '
            f"{table} table). Check the database name in the URL; a new team database gets its tables "
            f"when its first receiver starts (callback-monitor serve --store …, docs/TEAM.md)."
        ) from None
    except psycopg.errors.InsufficientPrivilege:
        raise StoreOpenError(
            f'The user "{target.user}" may not read the {table} table of "{target.dbname}" (permission '
            "denied). Ask the database's administrator for the viewer GRANTs in docs/TEAM.md."
        ) from None
    except psycopg.Error as exc:
        raise StoreOpenError(
            f"Cannot read the team database {target.display()}: {_first_line(exc)}"
        ) from None
    finally:
        conn.close()


def _refused(target: PostgresTarget, where: str, exc: psycopg.Error) -> str:
    """The connection failed: which of the usual reasons, from libpq's message (it has no SQLSTATE
    before the server answered)."""
    text = str(exc)
    if "password authentication failed" in text or "no password supplied" in text:
        return (
            f'The server at {where} refused the password for user "{target.user}". Type the password '
            "again (it is kept in this computer's keyring once it works)."
        )
    if f'database "{target.dbname}" does not exist' in text:
        return (
            f'The server at {where} has no database "{target.dbname}". Check the database name in the URL '
            "(the team's administrator creates it: docs/TEAM.md)."
        )
    if "permission denied for database" in text:
        return (
            f'The user "{target.user}" may not connect to "{target.dbname}" (no CONNECT privilege). Ask '
            "the database's administrator for the viewer GRANTs in docs/TEAM.md."
        )
    if f'role "{target.user}" does not exist' in text:
        return f'The server at {where} has no user "{target.user}". Check the user name in the URL.'
    return (
        f"Cannot reach the team database server at {where}: {_first_line(exc)}. Check the host and port, "
        "that the server is running, and that it accepts connections from this computer (listen_addresses, "
        "pg_hba.conf, a firewall)."
    )
