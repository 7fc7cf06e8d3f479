"""Connections to a team database: the password from the environment or the keyring, never the URL.

libpq's own ways are used first (``PGPASSWORD``, ``~/.pgpass``/``PGPASSFILE``, a service file, TLS
through the URL's ``sslmode``/``sslrootcert`` options); when ``PGPASSWORD`` is not set, a keyring entry
for the role (``PostgresTarget.keyring_name``) is passed to libpq in memory. Every session asks for
``synchronous_commit = on``: a server whose default is ``off`` must not turn our 2xx into a promise that a
crash can break.
"""

from __future__ import annotations

import logging
import os

import psycopg
import psycopg.conninfo

from ...store_health import StoreOpenError
from ..url import PostgresTarget
from .engine import Conn

log = logging.getLogger("callback_monitor.store")
CONNECT_TIMEOUT = 10  # seconds
APPLICATION = "callback-monitor"


def keyring_password(target: PostgresTarget) -> str | None:
    """The role's password from the keyring, unless ``PGPASSWORD`` gives one (or no keyring answers)."""
    if os.environ.get("PGPASSWORD"):
        return None
    from ... import secrets

    try:
        return secrets.SecretStore().get(target.keyring_name)
    except Exception:  # no usable keyring: libpq's own sources (pgpass, service file) still apply
        log.debug("keyring not readable for %s", target.keyring_name, exc_info=True)
        return None


def connect(target: PostgresTarget, *, role: str = "receiver") -> Conn:
    """An autocommit connection (transactions are opened explicitly); ``StoreOpenError`` if refused."""
    # libpq keywords added to the URL's; a password given here stays in memory (never argv, never logs)
    options = psycopg.conninfo.make_conninfo(
        target.url,
        connect_timeout=CONNECT_TIMEOUT,
        application_name=f"{APPLICATION} {role}",
        password=keyring_password(target),  # None: libpq's PGPASSWORD, ~/.pgpass, service file
        # a server or network that vanishes without closing the connection is noticed in ~25 s
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )
    try:
        conn = psycopg.connect(options, autocommit=True)
        conn.execute("SET synchronous_commit = on")
    except psycopg.Error as exc:
        raise StoreOpenError(f"cannot use the team database {target.display()}: {_first_line(exc)}") from None
    return conn


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
