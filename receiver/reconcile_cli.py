"""``callback-monitor reconcile``: one reconciliation pass (receiver/reconcile.py) from a shell or cron.

Credentials come from the environment (``TWILIO_ACCOUNT_SID`` with ``TWILIO_AUTH_TOKEN``, or with an API
key pair ``TWILIO_API_KEY``/``TWILIO_API_SECRET``), else from the keyring the app saved them to; never
from the command line, where any user could read them in the process list.

A running receiver (the app or ``serve``) holds the database: the pass is refused rather than fighting
it for the file; the app runs the same pass itself (Tools → Reconcile with Twilio).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO

from .secrets import (
    TWILIO_ACCOUNT_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_API_KEY_SID,
    TWILIO_AUTH_TOKEN,
    SecretStore,
)
from .twilio_client import Credentials


def credentials_from_env_or_keyring(store: SecretStore | None = None) -> Credentials | None:
    env = os.environ
    account = env.get("TWILIO_ACCOUNT_SID")
    if account:
        if env.get("TWILIO_API_KEY") and env.get("TWILIO_API_SECRET"):
            return Credentials(
                account, api_key_sid=env["TWILIO_API_KEY"], api_key_secret=env["TWILIO_API_SECRET"]
            )
        if env.get("TWILIO_AUTH_TOKEN"):
            return Credentials(account, auth_token=env["TWILIO_AUTH_TOKEN"])
    secrets = store or SecretStore()
    account = secrets.get(TWILIO_ACCOUNT_SID)
    if not account:
        return None
    key_sid, key_secret = secrets.get(TWILIO_API_KEY_SID), secrets.get(TWILIO_API_KEY_SECRET)
    if key_sid and key_secret:
        return Credentials(account, api_key_sid=key_sid, api_key_secret=key_secret)
    token = secrets.get(TWILIO_AUTH_TOKEN)
    return Credentials(account, auth_token=token) if token else None


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        metavar="ISO-DATE",
        help="also backfill every message sent since this date (YYYY-MM-DD or an ISO time, UTC); "
        "a run cut off half-way resumes where it stopped",
    )
    parser.add_argument(
        "--stuck-after",
        metavar="MINUTES",
        type=float,
        default=30.0,
        help="fetch messages still queued/accepted/sending/sent after this many minutes (default 30)",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    from . import reconcile
    from .store import StoreError, StoreLocked
    from .store_args import open_writer, store_target
    from .twilio_client import SetupError, make_client

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            print(f"error: --since {args.since!r} is not a date: write it as YYYY-MM-DD", file=sys.stderr)
            return 2
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    if args.stuck_after < 0:
        print("error: --stuck-after takes a number of minutes, 0 or more", file=sys.stderr)
        return 2
    creds = credentials_from_env_or_keyring()
    if creds is None:
        print(
            "error: no Twilio credentials: set TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN (or TWILIO_API_KEY "
            "and TWILIO_API_SECRET) in the environment, or save them in the app (Going live → Twilio "
            "credentials…).",
            file=sys.stderr,
        )
        return 1
    problems = creds.problems()
    if problems:
        print("error: " + " ".join(problems), file=sys.stderr)
        return 1
    try:
        db_path = store_target(args).display()
        store = open_writer(args, existing=False)  # a backfill may start a new database
    except StoreLocked:
        print(
            f"error: {db_path} is open in a running receiver (the app or `serve`). The app reconciles by "
            "itself (Tools > Reconcile with Twilio…); stop the receiver to run reconcile from here.",
            file=sys.stderr,
        )
        return 1
    except (StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        client = make_client(creds)
        settings = reconcile.Settings(stuck_after=timedelta(minutes=args.stuck_after))
        report = reconcile.Reconciler(store, client, creds.account_sid.strip(), settings).run(since)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"{db_path}: {report}", file=out)
    for alert in report.alerts:
        print(
            f"alert {alert['sid']} error {alert['error_code']} at {alert['date_created']}: "
            f"{alert['request_url'] or ''} {alert['message_sid'] or ''}".rstrip(),
            file=out,
        )
    return 0
