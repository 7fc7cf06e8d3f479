"""The headless command line: ``serve``, ``prune``, ``reconcile``, ``export``, ``migrate-store``,
``simulate``, ``errors``, ``self-test``.

Every subcommand that touches the data names its store the same way (``--store`` a file or a
``postgresql://`` URL, ``--db`` the file shorthand), parsed once and opened by one
helper (store_args.py).

The core never imports the GUI. ``python -m receiver`` runs these alone (servers, containers, an install
without Qt); the ``callback-monitor`` program (desktop/cli.py) hands them every subcommand and passes in
what only the desktop has: the window to open when no subcommand is given, and the self-test's window
check.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from . import __version__
from .retention import Retention
from .store_args import file_options, open_reader, open_writer, store_name, store_target

DB_HELP = "database file (default: in the user data folder); the same as --store PATH"
STORE_HELP = (
    "the store: a database file, or a team database's postgresql:// URL (docs/TEAM.md); its password "
    "from PGPASSWORD, ~/.pgpass or the keyring, never in the URL"
)


def _add_store_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--store`` and ``--db``. On a subcommand, unless given there, they must not overwrite the value
    given before it (``callback-monitor --db x.db serve``): argparse copies a subparser's defaults over
    the main parser's, hence SUPPRESS."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--store", default=default, metavar="PATH|URL", help=STORE_HELP)
    parser.add_argument("--db", default=default, metavar="PATH", help=DB_HELP)


if TYPE_CHECKING:
    from .selftest import WindowCheck
    from .store.url import PostgresTarget, SqliteTarget

# the desktop's window: opened on the store the user named with --store or --db, as given (a file or a
# postgresql:// URL; None: the default database file); returns the exit code
OpenWindow = Callable[[str | None], int]
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    from .store_health import DEFAULT_MIN_FREE_MB

    parser = argparse.ArgumentParser(
        prog="callback-monitor",
        description="Live monitor for Twilio SMS/WhatsApp callbacks. Without a subcommand, the "
        "callback-monitor program opens the desktop app.",
    )
    _add_store_options(parser, top=True)
    parser.add_argument("--version", action="version", version=f"callback-monitor {__version__}")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the receiver headless (servers, containers)")
    _add_store_options(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument(
        "--public-url",
        help="the public base URL Twilio calls (e.g. https://abc.ngrok.app); for HTTP Basic auth give the "
        "credentials as Twilio does, https://user:password@host (they are never printed or stored)",
    )
    serve.add_argument("--no-validate", action="store_true", help="accept unsigned requests (testing only)")
    serve.add_argument(
        "--demo-token",
        action="store_true",
        help="also accept the simulator's public demo token, from this computer only (not through a tunnel "
        "or proxy); that traffic is marked simulated",
    )
    serve.add_argument("--max-body", type=int, default=64 * 1024, help="largest accepted body in bytes")
    serve.add_argument(
        "--max-connections", type=int, default=1000, help="open connections; past it the slowest are closed"
    )
    serve.add_argument(
        "--per-client-connections",
        type=int,
        default=64,
        help="open connections per remote address, loopback (the tunnel) exempt; 0: no limit",
    )
    serve.add_argument(
        "--request-timeout", type=float, default=10.0, help="seconds a request may take to arrive in full"
    )
    serve.add_argument(
        "--min-free-mb",
        type=int,
        help=f"refuse callbacks (503) while the database's disk has less free space than this (default "
        f"{DEFAULT_MIN_FREE_MB}; a database file only)",
    )
    serve.add_argument(
        "--fresh-if-damaged",
        action="store_true",
        help="if the database is damaged, keep it aside (renamed with a timestamp) and start a new one "
        "(a database file only)",
    )
    _storage_options(serve)

    prune = sub.add_parser(
        "prune",
        help="delete old request-log rows (retention) and, when asked, old messages with their events",
        description="Apply the retention rules once. Messages and events are deleted only with "
        "--before or --older-than. Run it while no receiver (app or serve) has the database open; a "
        "running receiver applies the retention rules itself every 10 minutes.",
    )
    _add_store_options(prune)
    _retention_options(prune)
    when = prune.add_mutually_exclusive_group()
    when.add_argument(
        "--before", metavar="DATE", help="also delete messages first seen before DATE (YYYY-MM-DD, UTC)"
    )
    when.add_argument(
        "--older-than", metavar="DAYS", type=float, help="also delete messages first seen more than DAYS ago"
    )

    recon = sub.add_parser("reconcile", help="bring messages up to date from Twilio's API, backfill, alerts")
    _add_store_options(recon)
    from .reconcile_cli import add_options as _reconcile_options

    _reconcile_options(recon)
    export = sub.add_parser("export", help="write messages, events or the request log to stdout")
    _add_store_options(export)
    export.add_argument("--what", choices=("messages", "events", "requests"), default="messages")
    export.add_argument("--format", choices=("json", "csv"), default="json")

    migrate = sub.add_parser(
        "migrate-store",
        help="copy a database file's history into a team database (idempotent: a rerun copies only what "
        "is new)",
        description="Copy messages, events, media, the request log, Twilio alerts and webhook backups "
        "from a database file into a team database. Safe to run again: rows already there are not copied "
        "twice, a later status in the team database is kept, and an interrupted run resumes. The file is "
        "only read (the app may keep running on it).",
    )
    migrate.add_argument("--from", dest="source", required=True, metavar="PATH", help="the database file")
    migrate.add_argument(
        "--to", dest="destination", metavar="URL", help="the team database's postgresql:// URL (or --store)"
    )
    _add_store_options(migrate)

    sim = sub.add_parser(
        "simulate", help="send realistic signed Twilio traffic to a receiver", add_help=False
    )
    sim.add_argument("rest", nargs=argparse.REMAINDER)
    errs = sub.add_parser("errors", help="explain or search Twilio error codes; --refresh", add_help=False)
    errs.add_argument("rest", nargs=argparse.REMAINDER)
    check = sub.add_parser(
        "self-test", help="check this installation end to end (temporary data)", add_help=False
    )
    check.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _retention_options(parser: argparse.ArgumentParser) -> None:
    from .retention import DEFAULT

    parser.add_argument(
        "--keep-accepted-days",
        type=float,
        default=DEFAULT.accepted_days,
        metavar="DAYS",
        help="keep request-log rows of stored callbacks DAYS days "
        f"(default {DEFAULT.accepted_days:g}; 0 = forever)",
    )
    parser.add_argument(
        "--keep-rejected-days",
        type=float,
        default=DEFAULT.rejected_days,
        metavar="DAYS",
        help="keep request-log rows of rejected requests DAYS days "
        f"(default {DEFAULT.rejected_days:g}; 0 = forever)",
    )


def _storage_options(parser: argparse.ArgumentParser) -> None:
    """serve's storage flags: retention, and the durability level (docs/DURABILITY.md)."""
    _retention_options(parser)
    parser.add_argument(
        "--synchronous",
        choices=("NORMAL", "FULL"),
        type=str.upper,
        help="NORMAL (default) survives a crash of the process; FULL also the last commits before a power "
        "loss, at a cost in speed (docs/DURABILITY.md; a database file only: a team database always "
        "commits with synchronous_commit=on)",
    )


def main(
    argv: list[str] | None = None,
    *,
    open_window: OpenWindow | None = None,
    window_check: WindowCheck | None = None,
) -> int:
    """Run one subcommand; without one, ``open_window`` (the desktop's), or usage when there is none."""
    argv = sys.argv[1:] if argv is None else argv
    from . import install_check

    clash = install_check.clashes()
    if clash:
        print(install_check.clash_message(clash), file=sys.stderr)
        return 1
    # these parse their own arguments (argparse's REMAINDER does not pass on "--options")
    if argv and argv[0] == "simulate":
        from . import simulate

        return simulate.cli(argv[1:], sys.stdout)
    if argv and argv[0] == "errors":
        from . import errors

        return errors.cli(argv[1:], sys.stdout)
    if argv and argv[0] == "self-test":
        from . import selftest

        return selftest.cli(argv[1:], sys.stdout, window_check=window_check)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.store is not None and args.db is not None:
        parser.error("give the store once: --store PATH|URL, or --db PATH (the same as --store PATH)")
    if args.command is None:
        if open_window is not None:
            return open_window(store_name(args))
        parser.print_usage(sys.stderr)
        print(
            "error: name a subcommand (serve, export, …); this is the headless command line, the desktop "
            "app is the `callback-monitor` program without arguments",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.command == "serve":
        return serve(args)
    if args.command == "export":
        return export(args, sys.stdout)
    if args.command == "prune":
        return prune(args, sys.stdout)
    if args.command == "reconcile":
        from .reconcile_cli import run as reconcile

        return reconcile(args, sys.stdout)
    if args.command == "migrate-store":
        return migrate_store(args, sys.stderr)
    # simulate/errors/self-test parse their own options and are dispatched above only when they come first
    parser.error(f"'{args.command}' takes no options before it: run 'callback-monitor {args.command} …'")


# ------------------------------------------------------------------------------- serve
def _days(value: float | None) -> str:
    return "forever" if value is None else f"{value:g} days"


def _retention_words(retention: Retention) -> str:
    return (
        f"request log kept {_days(retention.accepted_days)} (stored callbacks), "
        f"{_days(retention.rejected_days)} (rejected); messages and events until you prune them"
    )


def _store_lines(
    target: SqliteTarget | PostgresTarget, args: argparse.Namespace, retention: Retention
) -> str:
    """What the start-up lines say about the store: where it is, its durability, its retention."""
    from .store.url import PostgresTarget

    if isinstance(target, PostgresTarget):
        server = f"{target.host or 'local socket'}:{target.port}"
        return (
            f"Callback Monitor receiver — team database {target.display()}\n"
            f"  storage: PostgreSQL, database {target.dbname!r} on {server} as "
            f"{target.user or '(libpq default role)'}; each 2xx after COMMIT with synchronous_commit=on; "
            f"free disk space is the server's to watch; {_retention_words(retention)}"
        )
    synchronous, min_free = file_options(args)
    return (
        f"Callback Monitor receiver — database {target.path}\n"
        f"  disk: callbacks are refused (503) while less than {min_free} MB is free\n"
        f"  storage: synchronous={synchronous} (docs/DURABILITY.md); {_retention_words(retention)}"
    )


def serve(args: argparse.Namespace) -> int:
    from . import logsetup, secrets
    from .app import ReceiverConfig, create_app
    from .connections import Limits
    from .retention import Pruner
    from .server import ReceiverServer
    from .store import StoreError
    from .webhook_paths import EVENTS_PATH, INBOUND_PATH, STATUS_PATH

    # handlers first: a signal that arrives while we start up still stops us cleanly
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        limits = Limits(
            max_body=args.max_body,
            max_connections=args.max_connections,
            per_client=args.per_client_connections,
            request_timeout=args.request_timeout,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        target = store_target(args)
        log_file = logsetup.configure(to_stderr=True)
        store = open_writer(args, existing=False)
    except (StoreError, OSError, ValueError) as exc:  # one clear message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    retention = Retention.from_days(args.keep_accepted_days, args.keep_rejected_days)
    token = secrets.auth_token_from_env_or_keyring()
    source = "TWILIO_AUTH_TOKEN" if os.environ.get("TWILIO_AUTH_TOKEN") else "keyring"
    try:
        shared_keys, keys_source = secrets.shared_keys_from_env_or_keyring()
    except ValueError as exc:
        store.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    demo = bool(args.demo_token)
    pruner = Pruner(store, lambda: retention).start()
    config = ReceiverConfig(
        public_url=args.public_url,
        validate=not args.no_validate,
        auth_token=lambda: token,
        max_body=args.max_body,
        allow_demo=lambda: demo,
        shared_keys=lambda: shared_keys,
    )
    server = ReceiverServer(create_app(store, config), host=args.host, port=args.port, limits=limits)
    try:
        server.start()
    except OSError as exc:
        pruner.stop()
        store.close()
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    store.announce(urlsplit(server.url).netloc)  # the team's list of writers shows where it listens
    base = (config.public_url or server.url).rstrip("/")  # never the URL's credentials
    out = sys.stdout
    print(_store_lines(target, args, retention), file=out)
    print(f"  log file: {log_file}", file=out)
    if config.validate:
        if token:
            print(f"  signature validation: ON (auth token from {source}; signed URL base {base})", file=out)
        if shared_keys:
            ids = ", ".join(sorted(shared_keys))
            print(f"  shared signing keys ({keys_source}): {ids}", file=out)
        if demo:
            print(
                "  demo token: accepted from this computer only (never through a tunnel or proxy); "
                "that traffic is marked simulated",
                file=out,
            )
        if not token and not shared_keys and not demo:
            print(
                "  WARNING: signature validation is ON but no auth token is configured: every webhook will "
                "be rejected (403). Set TWILIO_AUTH_TOKEN, or pass --no-validate for local testing.",
                file=out,
            )
    else:
        print(
            "  WARNING: signature validation is OFF (--no-validate): forged requests will be accepted.",
            file=out,
        )
    if config.basic_auth is not None:
        print("  HTTP Basic auth: required (credentials from --public-url, not shown)", file=out)
    if not args.public_url:
        print(
            "  public URL: none (local only) — pass --public-url when Twilio reaches you through a tunnel",
            file=out,
        )
    print(f"  status callback URL: {base}{STATUS_PATH}", file=out)
    print(f"  inbound message URL: {base}{INBOUND_PATH}", file=out)
    print(f"  Event Streams sink URL: {base}{EVENTS_PATH}", file=out)
    print(f"Listening on {server.url}", file=out, flush=True)

    while not stop.wait(0.5):
        pass
    print("Stopping…", file=out, flush=True)
    server.stop()
    pruner.stop()
    store.close()
    logsetup.stop()
    return 0


# ------------------------------------------------------------------------------- prune, export, migrate
def prune(args: argparse.Namespace, out: TextIO) -> int:
    from . import retention
    from .store import StoreError, StoreLocked

    messages_before = None
    if args.before:
        try:
            day = datetime.fromisoformat(args.before)
        except ValueError:
            print(f"error: --before {args.before!r} is not a date: write it as YYYY-MM-DD", file=sys.stderr)
            return 2
        messages_before = retention.iso(day if day.tzinfo else day.replace(tzinfo=UTC))
    elif args.older_than is not None:
        if args.older_than < 0:
            print("error: --older-than takes a number of days, 0 or more", file=sys.stderr)
            return 2
        messages_before = retention.cutoff(args.older_than)
    try:
        name = store_target(args).display()
        store = open_writer(args)
    except StoreLocked:
        print(
            f"error: {name} is open in a running receiver (the app or `serve`). It applies the "
            "retention rules itself; to delete messages, use the app's Tools > Storage and retention…, "
            "or stop the receiver and run prune again.",
            file=sys.stderr,
        )
        return 1
    except (StoreError, ValueError) as exc:  # damaged, unreadable, unreachable…: one message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        rules = retention.Retention.from_days(args.keep_accepted_days, args.keep_rejected_days)
        result = retention.prune(store, rules, messages_before=messages_before)
    finally:
        store.close()
    print(f"{name}: {result}", file=out)
    return 0


def export(args: argparse.Namespace, out: TextIO) -> int:
    from . import export as exports
    from .store import StoreError

    try:
        name = store_target(args).display()
        reader = open_reader(args)
    except (StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        exports.write(out, args.format, exports.DATASETS[args.what].columns, reader.iter_export(args.what))
        out.flush()
    except StoreError as exc:  # damaged or not a database: one message, no traceback
        print(
            f"\nerror: cannot read {name}: {exc}. If it is damaged, `callback-monitor serve` explains "
            "how to keep it aside; `sqlite3 FILE .recover` may save its data.",
            file=sys.stderr,
        )
        return 1
    except BrokenPipeError:
        # the reader went away (``export | head``): stop quietly like other Unix tools, and point stdout
        # at /dev/null so the interpreter's final flush does not raise again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        return 141  # 128 + SIGPIPE, what the shell reports for a tool stopped by a closed pipe
    finally:
        reader.close()
    return 0


def migrate_store(args: argparse.Namespace, progress: TextIO) -> int:
    """``migrate-store --from PATH --to URL``: a file's history into a team database (store/migrate.py)."""
    from .store import StoreError
    from .store.migrate import migrate
    from .store.url import PostgresTarget, SqliteTarget, parse

    if args.destination is not None and store_name(args) is not None:
        print("error: name the team database once: --to URL (or --store URL)", file=sys.stderr)
        return EXIT_USAGE
    destination = args.destination if args.destination is not None else store_name(args)
    if destination is None:
        print("error: name the team database: --to postgresql://…", file=sys.stderr)
        return EXIT_USAGE
    try:
        source, team = parse(args.source), parse(destination)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(source, SqliteTarget):
        print("error: --from takes a database file (the laptop's callbacks.db)", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(team, PostgresTarget):
        print("error: --to takes a team database's postgresql:// URL", file=sys.stderr)
        return EXIT_USAGE
    try:
        summary = migrate(source.path, team, progress=progress)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: what was copied is kept; run the same command again to finish", file=sys.stderr)
        return 130
    print(summary, file=sys.stdout)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
