"""Naming and opening a store from the command line: ``--store PATH|URL`` or ``--db PATH`` (before or after
the subcommand), parsed once (``store_target``) and opened by one helper (``open_writer`` /
``open_reader``) for every subcommand that touches the data (cli.py, reconcile_cli.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import paths

if TYPE_CHECKING:
    from .store import Reader, Store
    from .store.protocol import WriterStore
    from .store.url import PostgresTarget, SqliteTarget

# serve's options about a database file, and why a team database has no use for them (refused rather
# than ignored: an operator who asks for FULL durability or a disk floor must not believe they got it)
FILE_ONLY_OPTIONS = {
    "min_free_mb": (
        "--min-free-mb",
        "the team database's disk is the server's: watch it there (a full disk answers 503)",
    ),
    "synchronous": ("--synchronous", "a team database always commits with synchronous_commit=on"),
    "fresh_if_damaged": ("--fresh-if-damaged", "a damaged team database is repaired on its server"),
}


def store_name(args: argparse.Namespace) -> str | None:
    """What the user named with ``--store`` or ``--db`` (before or after the subcommand), as given."""
    value: str | None = args.store if args.store is not None else args.db
    return value


def store_target(args: argparse.Namespace) -> SqliteTarget | PostgresTarget:
    """The store a subcommand works on: ``--store``/``--db``, else the default database file;
    ``StoreURLError`` (a ``ValueError``) for a name that cannot be used."""
    from .store.url import parse

    name = store_name(args)
    return parse(name if name is not None else str(paths.default_db_path()))


def open_writer(args: argparse.Namespace, *, existing: bool = True) -> WriterStore:
    """The writer on the store ``args`` name: SQLite's ``Store`` or a team database's ``PgStore``.

    ``existing``: a database file must already be there (prune, reconcile: nothing to do in a new one);
    serve creates it. Raises ``StoreError`` (``StoreLocked`` when a receiver holds the file) or
    ``ValueError`` with the operator's message."""
    from .store import Store
    from .store.url import PostgresTarget, open_team_store
    from .store_health import StoreOpenError

    target = store_target(args)
    if isinstance(target, PostgresTarget):
        for attr, (option, why) in FILE_ONLY_OPTIONS.items():
            given = getattr(args, attr, None)
            if given is not None and given is not False:  # given, even as 0 (which == False)
                raise ValueError(f"{option} is for a database file, not a team database: {why}")
    team = open_team_store(target)
    if team is not None:
        return team
    assert not isinstance(target, PostgresTarget)  # open_team_store opened every team database
    if existing and not target.path.exists():
        raise StoreOpenError(f"no database at {target.path}")
    if not hasattr(args, "fresh_if_damaged"):  # prune, reconcile: the defaults
        return Store(target.path)
    return _open_sqlite_for_serve(target.path, args)


def open_reader(args: argparse.Namespace) -> Reader:
    """A Reader on the store ``args`` name (a file must exist: reading never creates one)."""
    from .store import open_reader as reader_on
    from .store.base import reading
    from .store.url import PostgresTarget
    from .store_health import StoreOpenError

    target = store_target(args)
    if isinstance(target, PostgresTarget):
        return reader_on(target)
    if not target.path.exists():
        raise StoreOpenError(f"no database at {target.path}")
    with reading():  # an unreadable file: the store's error, not the driver's
        return reader_on(target.path)


def file_options(args: argparse.Namespace) -> tuple[str, int]:
    """serve's --synchronous and --min-free-mb for a database file, their defaults when not given."""
    from .store.engine import SYNCHRONOUS_LEVELS
    from .store_health import DEFAULT_MIN_FREE_MB

    min_free_mb: int = DEFAULT_MIN_FREE_MB if args.min_free_mb is None else args.min_free_mb
    return args.synchronous or SYNCHRONOUS_LEVELS[0], min_free_mb  # NORMAL, the engine's default


def _open_sqlite_for_serve(db_path: Path, args: argparse.Namespace) -> Store:
    """The store, or a ``StoreError`` to print; a damaged database is kept aside only when asked."""
    from .store import Store
    from .store_health import StoreDamaged, keep_aside

    synchronous, min_free_mb = file_options(args)
    min_free = max(0, min_free_mb) * 1024 * 1024
    try:
        return Store(db_path, synchronous=synchronous, min_free_bytes=min_free)
    except StoreDamaged as exc:
        if not args.fresh_if_damaged:
            remedy = (
                "Run again with --fresh-if-damaged to keep it aside (renamed with a timestamp: its data may "
                "still be recovered with `sqlite3 FILE .recover`) and start a new empty database."
            )
            raise StoreDamaged(exc.path, exc.detail, remedy) from None
        kept = keep_aside(db_path)
        print(
            f"warning: {exc.detail}: the damaged database was kept aside as {kept}; starting a new one.",
            file=sys.stderr,
        )
        return Store(db_path, synchronous=synchronous, min_free_bytes=min_free)
