"""``callback-monitor self-test``: prove that this installation works, end to end, in a few seconds.

Meant for a fresh install (wheel, PyInstaller folder) and for CI: it starts the receiver on a free
loopback port with signature validation on, posts a callback signed with Twilio's own
``RequestValidator`` and one with a wrong signature, reads both back from a temporary database, then
opens and closes the main window on that database. Everything lives in a temporary folder: the
operator's database, settings, logs and keyring are never touched. It prints one line per check and
exits 0, or names the check that failed and exits 1.

The window check is the desktop's (desktop/cli.py passes it in as ``window_check``: the core never imports
the GUI); ``python -m receiver self-test`` has none and says so. It uses Qt's offscreen platform unless
``--display`` is given (servers and CI have no screen); ``--no-window`` leaves it out where Qt cannot be
loaded at all.
"""

from __future__ import annotations

import http.client
import os
import secrets
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO
from urllib.parse import urlencode

from . import __version__, install_check, paths
from .webhook_paths import STATUS_PATH

# the desktop's window check: open the main window on the database, close it; returns the report line or
# raises RuntimeError with an explanation (no display, a timeout)
WindowCheck = Callable[[Path, Path], str]

USAGE = (
    "usage: callback-monitor self-test [--display | --no-window]\n"
    "  --display    open the window on the real display instead of offscreen\n"
    "  --no-window  skip the window check (receiver, store and data files only)\n"
)


class CheckFailed(Exception):
    """One check did not pass; the message says what was expected and what happened."""


def _where() -> str:
    if getattr(sys, "frozen", False):
        return f"frozen build at {Path(sys.executable).parent}"
    return f"Python {sys.version.split()[0]}, package at {Path(__file__).resolve().parent}"


def check_install() -> str:
    if getattr(sys, "frozen", False):
        return "install: frozen build (it carries its own copy of every package)"
    found = install_check.clashes()
    if found:
        raise CheckFailed(install_check.clash_message(found))
    return "install: 'receiver' and 'desktop' belong to callback-monitor only"


def check_resources() -> str:
    from . import errors

    entry = errors.lookup(30003)
    if entry is None or not entry.known:
        raise CheckFailed("the bundled error catalogue does not know 30003")
    icon = paths.resource_path("icon.png")
    if not icon.is_file():
        raise CheckFailed(f"the icon is missing: {icon}")
    count = len(errors.all_entries())
    # phone-number metadata (statistics by country): loaded by name at run time, which a frozen build
    # must have collected
    from . import stats_queries

    region = stats_queries.country_of_prefix("+4420", "+442071838750")
    label = stats_queries.country_label(region)
    if region != "GB" or "United Kingdom" not in label:
        raise CheckFailed(f"phone-number metadata is missing: +44 20… gave {region!r} ({label!r})")
    return (
        f"data files: {paths.resources_dir()} ({count} error codes; 30003 = {entry.title!r}; icon; "
        f"phone numbers: +44 20… = {label})"
    )


def _post(port: int, params: dict[str, str], signature: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = urlencode(params)
        conn.request(
            "POST",
            STATUS_PATH,
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def check_receiver(db_path: Path) -> tuple[str, str]:
    """Serve on a free port, post a signed and a forged callback; returns (report line, message SID)."""
    from twilio.request_validator import RequestValidator

    from .app import ReceiverConfig, create_app
    from .server import ReceiverServer
    from .store import Store

    token = secrets.token_hex(16)  # made for this run only: the real auth token is never read
    sid = "SM" + secrets.token_hex(16)
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "AccountSid": "AC" + "0" * 32,
        "From": "+15005550006",
        "To": "+15005550001",
        "ApiVersion": "2010-04-01",
    }
    store = Store(db_path)
    server = ReceiverServer(create_app(store, ReceiverConfig.with_token(token)), host="127.0.0.1", port=0)
    try:
        port = server.start()
        signature = RequestValidator(token).compute_signature(f"http://127.0.0.1:{port}{STATUS_PATH}", params)
        signed = _post(port, params, signature)
        if signed != 200:
            raise CheckFailed(f"a correctly signed callback got HTTP {signed}, expected 200")
        forged = _post(port, {**params, "MessageStatus": "failed"}, signature)
        if forged != 403:
            raise CheckFailed(f"a callback with a wrong signature got HTTP {forged}, expected 403")
    finally:
        server.stop()
        store.close()
    return f"receiver: 127.0.0.1:{port} answered 200 to a signed callback and 403 to a forged one", sid


def check_store(db_path: Path, sid: str) -> str:
    from .store import open_reader

    reader = open_reader(db_path)
    try:
        message = reader.message(sid)
        outcomes = reader.first_outcomes(3)  # a third would be a request the check did not send
    finally:
        reader.close()
    status = message.status if message is not None else None
    if status != "delivered":
        raise CheckFailed(f"the signed callback is not in the database as delivered (found {status!r})")
    if outcomes != ["accepted", "rejected"]:
        raise CheckFailed(f"the request log holds {outcomes}, expected ['accepted', 'rejected']")
    return f"database: {db_path.name} holds the message as 'delivered' and both requests in the log"


def check_window(window_check: WindowCheck, db_path: Path, settings_file: Path) -> str:
    try:
        return window_check(db_path, settings_file)
    except RuntimeError as exc:  # the window check's own explanations (no display, a timeout)
        raise CheckFailed(str(exc)) from exc


HEADLESS = "the headless command line has no window; `callback-monitor self-test` checks it"


def run(out: TextIO, *, window_check: WindowCheck | None = None, why_no_window: str = HEADLESS) -> int:
    """Every check in order; without ``window_check`` the report says the window was not checked, and why."""
    print(f"callback-monitor {__version__} self-test ({_where()})", file=out, flush=True)
    with tempfile.TemporaryDirectory(prefix="callback-monitor-selftest-") as tmp:
        folder = Path(tmp)
        # data and logs of anything that asks paths.* go to the temporary folder too
        os.environ["CALLBACK_MONITOR_HOME"] = str(folder / "home")
        db_path = folder / "selftest.db"
        sid = ""

        def receiver_step() -> str:
            nonlocal sid
            line, sid = check_receiver(db_path)
            return line

        steps: list[tuple[str, Callable[[], str]]] = [
            ("install", check_install),
            ("data files", check_resources),
            ("receiver", receiver_step),
            ("database", lambda: check_store(db_path, sid)),
        ]
        if window_check is not None:
            check = window_check
            steps.append(("window", lambda: check_window(check, db_path, folder / "settings.ini")))
        for name, step in steps:
            try:
                line = step()
            except CheckFailed as exc:
                print(f"  FAIL {name}: {exc}", file=out, flush=True)
                print("self-test FAILED", file=out, flush=True)
                return 1
            except Exception as exc:  # anything unexpected is a failed check, named, not a traceback
                print(f"  FAIL {name}: {type(exc).__name__}: {exc}", file=out, flush=True)
                print("self-test FAILED", file=out, flush=True)
                return 1
            print(f"  ok   {line}", file=out, flush=True)
        if window_check is None:
            print(f"  skip window: not checked ({why_no_window})", file=out, flush=True)
    print("self-test passed", file=out, flush=True)
    return 0


def cli(argv: list[str], out: TextIO, *, window_check: WindowCheck | None = None) -> int:
    if argv in (["-h"], ["--help"]):
        out.write(USAGE)
        return 0
    if any(arg not in ("--display", "--no-window") for arg in argv) or len(argv) > 1:
        out.write(USAGE)
        return 2
    if "--display" not in argv:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if "--no-window" in argv:
        return run(out, why_no_window="--no-window")
    return run(out, window_check=window_check)
