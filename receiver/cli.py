"""``callback-monitor``: the desktop app, or one of the headless subcommands.

No subcommand opens the GUI (imported lazily, so ``serve``/``export`` never load Qt).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TextIO

from . import paths


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callback-monitor",
        description="Live monitor for Twilio SMS/WhatsApp callbacks. Without a subcommand, opens the app.",
    )
    parser.add_argument("--db", help="database file (default: in the user data folder)")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the receiver headless (servers, containers)")
    serve.add_argument("--db", help="database file (default: in the user data folder)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument("--public-url", help="the public base URL Twilio calls (e.g. https://abc.ngrok.app)")
    serve.add_argument("--no-validate", action="store_true", help="accept unsigned requests (testing only)")
    serve.add_argument(
        "--demo-token",
        action="store_true",
        help="validate with the simulator's public demo token (try the app without a Twilio account)",
    )
    serve.add_argument("--max-body", type=int, default=64 * 1024, help="largest accepted body in bytes")

    export = sub.add_parser("export", help="write messages, events or the request log to stdout")
    export.add_argument("--db", help="database file (default: in the user data folder)")
    export.add_argument("--what", choices=("messages", "events", "requests"), default="messages")
    export.add_argument("--format", choices=("json", "csv"), default="json")

    sim = sub.add_parser(
        "simulate", help="send realistic signed Twilio traffic to a receiver", add_help=False
    )
    sim.add_argument("rest", nargs=argparse.REMAINDER)
    errs = sub.add_parser("errors", help="look up a Twilio error code, or search by words", add_help=False)
    errs.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # these two parse their own arguments (argparse's REMAINDER does not pass on "--options")
    if argv and argv[0] == "simulate":
        from . import simulate

        return simulate.cli(argv[1:], sys.stdout)
    if argv and argv[0] == "errors":
        from . import errors

        return errors.cli(argv[1:], sys.stdout)
    args = _parser().parse_args(argv)
    if args.command is None:
        from desktop.app import main as gui_main  # lazy: the headless path never imports Qt

        return int(gui_main(db=args.db))
    if args.command == "serve":
        return serve(args)
    if args.command == "export":
        return export(args, sys.stdout)
    return 2


def serve(args: argparse.Namespace) -> int:
    from . import logsetup, secrets
    from .app import INBOUND_PATHS, STATUS_PATHS, ReceiverConfig, create_app
    from .server import ReceiverServer
    from .store import Store, StoreLocked

    # handlers first: a signal that arrives while we start up still stops us cleanly
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log_file = logsetup.configure(to_stderr=True)
    db_path = Path(args.db) if args.db else paths.default_db_path()
    try:
        store = Store(db_path)
    except StoreLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.demo_token:
        from .simulate_plan import DEMO_AUTH_TOKEN

        token: str | None = DEMO_AUTH_TOKEN
        source = "the demo token (--demo-token): for simulated traffic only"
    else:
        token = secrets.auth_token_from_env_or_keyring()
        source = "TWILIO_AUTH_TOKEN" if os.environ.get("TWILIO_AUTH_TOKEN") else "keyring"
    config = ReceiverConfig(
        public_url=args.public_url,
        validate=not args.no_validate,
        auth_token=lambda: token,
        max_body=args.max_body,
    )
    server = ReceiverServer(create_app(store, config), host=args.host, port=args.port)
    try:
        server.start()
    except OSError as exc:
        store.close()
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    base = (args.public_url or server.url).rstrip("/")
    out = sys.stdout
    print(f"Callback Monitor receiver — database {db_path}", file=out)
    print(f"  log file: {log_file}", file=out)
    if config.validate:
        source = "TWILIO_AUTH_TOKEN" if os.environ.get("TWILIO_AUTH_TOKEN") else "keyring"
        if token:
            print(f"  signature validation: ON (auth token from {source}; signed URL base {base})", file=out)
        else:
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
    if not args.public_url:
        print(
            "  public URL: none (local only) — pass --public-url when Twilio reaches you through a tunnel",
            file=out,
        )
    print(f"  status callback URL: {base}{STATUS_PATHS[0]}", file=out)
    print(f"  inbound message URL: {base}{INBOUND_PATHS[0]}", file=out)
    print(f"Listening on {server.url}", file=out, flush=True)

    while not stop.wait(0.5):
        pass
    print("Stopping…", file=out, flush=True)
    server.stop()
    store.close()
    logsetup.stop()
    return 0


def export(args: argparse.Namespace, out: TextIO) -> int:
    from . import export as exports
    from .store import connect

    db_path = Path(args.db) if args.db else paths.default_db_path()
    if not db_path.exists():
        print(f"error: no database at {db_path}", file=sys.stderr)
        return 1
    dataset = exports.DATASETS[args.what]
    conn = connect(db_path, readonly=True)
    try:
        exports.write(out, args.format, dataset.columns, exports.records(conn, dataset))
        out.flush()
    except BrokenPipeError:
        # the reader went away (``export | head``): stop quietly like other Unix tools, and point stdout
        # at /dev/null so the interpreter's final flush does not raise again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        return 141  # 128 + SIGPIPE, what the shell reports for a tool stopped by a closed pipe
    finally:
        conn.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
