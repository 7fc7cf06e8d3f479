"""One way to name a store: a SQLite database file, or a ``postgresql://`` URL (a team database).

``--db PATH`` stays the SQLite shorthand; ``--store`` takes either. A URL never carries the password
(it would show in ``ps``, shell history and logs): it comes from the environment or the keyring
(receiver/store/pg/connection.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from .pg.store import PgStore

SCHEMES = ("postgresql", "postgres")  # libpq accepts both


class StoreURLError(ValueError):
    """The store's name cannot be used; ``str(exc)`` says what to do instead."""


@dataclass(frozen=True)
class SqliteTarget:
    path: Path

    def display(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database named by a URL without its password (libpq's other options pass through)."""

    url: str
    user: str
    host: str
    port: int
    dbname: str

    def display(self) -> str:
        """Who writes where, for status lines and /healthz (the URL as given: it holds no secret)."""
        return self.url

    @property
    def address(self) -> str:
        """USER@HOST:PORT/DB: which role on which server, without the URL's options (the port always: it is
        what a firewall blocks)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def keyring_name(self) -> str:
        """The keyring entry holding this role's password (receiver/secrets.py's service)."""
        return f"postgresql-password:{self.address}"


def parse(value: str) -> SqliteTarget | PostgresTarget:
    """A SQLite path or a PostgreSQL URL; ``StoreURLError`` for a URL that carries a password."""
    scheme = value.split(":", 1)[0].lower() if "://" in value else ""
    if scheme not in SCHEMES:
        if scheme:
            raise StoreURLError(f"unknown store {scheme}://…: give a database file or a postgresql:// URL")
        return SqliteTarget(Path(value))
    parts = urlsplit(value)
    options = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if parts.password is not None or "password" in options:
        raise StoreURLError(
            "the store URL carries a password, which would show in the process list and shell history: "
            "remove it from the URL and set PGPASSWORD, a ~/.pgpass entry (or a libpq service file), "
            "or keep it in the keyring (docs/TEAM.md)"
        )
    try:
        port = parts.port or 5432
    except ValueError:
        raise StoreURLError(f"the store URL's port is not a number: {value}") from None
    return PostgresTarget(
        url=value,
        user=unquote(parts.username or ""),
        host=parts.hostname or "",
        port=port,
        dbname=unquote(parts.path.lstrip("/")),
    )


def open_team_store(value: str | SqliteTarget | PostgresTarget) -> PgStore | None:
    """The writer on the team database ``value`` names (a name, or one ``parse`` already read), or None
    when it names a SQLite file (which the caller opens as ``--db`` would, with its damage handling)."""
    target = parse(value) if isinstance(value, str) else value
    if not isinstance(target, PostgresTarget):
        return None
    from .pg.store import PgStore

    return PgStore(target)
