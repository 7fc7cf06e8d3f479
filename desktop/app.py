"""``callback-monitor`` without a subcommand: the desktop window around the embedded receiver.

Before Qt is touched we check that a window can be shown at all, because Qt's own failure is an abort
with a wall of plugin text: no display (a server, SSH) points to ``callback-monitor serve``; missing X11
libraries (common on a fresh Debian/Ubuntu) are named with the ``apt-get`` line that installs them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from desktop.window_host import WindowHost

EXIT_NO_DISPLAY = 2
EXIT_LOCKED = 3
EXIT_BAD_STORE = 4  # --store names a team database this desktop cannot show (the message says why)

# shared-library soname prefix -> Debian/Ubuntu package that provides it (what Qt's xcb plugin needs)
XCB_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so": "libxcb-cursor0",
    "libxcb-icccm.so": "libxcb-icccm4",
    "libxcb-keysyms.so": "libxcb-keysyms1",
    "libxcb-image.so": "libxcb-image0",
    "libxcb-render-util.so": "libxcb-render-util0",
    "libxkbcommon-x11.so": "libxkbcommon-x11-0",
    "libxkbcommon.so": "libxkbcommon0",
    "libxcb-shape.so": "libxcb-shape0",
    "libxcb-randr.so": "libxcb-randr0",
    "libxcb-xfixes.so": "libxcb-xfixes0",
    "libxcb-xkb.so": "libxcb-xkb1",
    "libxcb-sync.so": "libxcb-sync1",
    "libxcb-shm.so": "libxcb-shm0",
    "libxcb-render.so": "libxcb-render0",
    "libxcb-xinerama.so": "libxcb-xinerama0",
    "libxcb-xinput.so": "libxcb-xinput0",
    "libxcb.so": "libxcb1",
    "libX11-xcb.so": "libx11-xcb1",
    "libX11.so": "libx11-6",
    "libEGL.so": "libegl1",
    "libGL.so": "libgl1",
    "libOpenGL.so": "libopengl0",
    "libfontconfig.so": "libfontconfig1",
    "libdbus-1.so": "libdbus-1-3",
    "libglib-2.0.so": "libglib2.0-0",
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def no_display_reason(env: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """One line explaining why no window can open here, or None when a display (or a Qt platform) is set."""
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return (
        "callback-monitor: no display available (DISPLAY/WAYLAND_DISPLAY not set), so the window cannot "
        "open; run the receiver headless with `callback-monitor serve` instead."
    )


def packages_for(missing: list[str]) -> list[str]:
    """Debian package names for missing sonames (unknown sonames are returned as they are)."""
    packages: list[str] = []
    for soname in missing:
        stem = soname.split(".so")[0] + ".so"
        package = XCB_PACKAGES.get(stem, soname)
        if package not in packages:
            packages.append(package)
    return packages


def parse_ldd_missing(ldd_output: str) -> list[str]:
    """Sonames ``ldd`` reports as "not found", without repeats, in order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def _xcb_plugin() -> Path | None:
    try:
        import PySide6
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def missing_xcb_libraries() -> list[str]:
    """Sonames Qt's xcb platform plugin needs but cannot find (empty when fine or not checkable).

    ``ldd`` on the plugin catches link-time dependencies; libxcb-cursor is loaded by Qt at run time
    (since 6.5, and required), so it is looked up separately with ``ctypes.util.find_library``.
    """
    import ctypes.util

    missing: list[str] = []
    plugin = _xcb_plugin()
    if plugin is not None:
        try:
            out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10).stdout
            missing = parse_ldd_missing(out)
        except (OSError, subprocess.SubprocessError):
            missing = []
    if ctypes.util.find_library("xcb-cursor") is None and not any("xcb-cursor" in m for m in missing):
        missing.append("libxcb-cursor.so.0")
    return missing


def xcb_problem(env: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """A message naming missing X11 libraries and the install command, when Qt would use xcb here."""
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "")
    uses_xcb = qpa.startswith("xcb") or (
        not qpa and bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")
    )
    if not uses_xcb:
        return None
    missing = missing_xcb_libraries()
    if not missing:
        return None
    return xcb_message(missing)


def xcb_message(missing: list[str]) -> str:
    packages = packages_for(missing)
    return (
        "callback-monitor: the window cannot open because Qt's X11 (xcb) plugin is missing system "
        f"libraries: "
        f"{', '.join(missing)}.\nInstall them with:\n  sudo apt-get install -y {' '.join(packages)}\n"
        "(or run the receiver headless with `callback-monitor serve`)."
    )


def main(db: str | None = None) -> int:
    """Open the window with the embedded receiver on 127.0.0.1, or attached to a team database (``db``
    is what was given to --store or --db: a database file or a postgresql:// URL); the exit code."""
    reason = no_display_reason()
    if reason is not None:
        print(reason, file=sys.stderr)
        return EXIT_NO_DISPLAY
    problem = xcb_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_NO_DISPLAY

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication, QMessageBox

    from desktop.main_window import APPLICATION, ORGANIZATION, make_settings
    from desktop.prune_dialog import load_synchronous
    from desktop.receiver_controller import ReceiverController, configured_port
    from desktop.tray import install as install_alerts
    from desktop.window_host import WindowHost
    from receiver import logsetup, paths
    from receiver.store import StoreError, StoreLocked
    from receiver.store.url import StoreURLError

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Callback Monitor")
    app.setWindowIcon(QIcon(str(paths.resource_path("icon.png"))))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    try:
        logsetup.configure(to_stderr=False)
        team_url, db_path = _store_to_show(db, make_settings())
    except OSError as exc:  # the user's data or log folder cannot be created: one message, no traceback
        from desktop.store_problems import report

        return report(
            "Callback Monitor cannot start", f"Cannot create its folders: {exc.strerror} ({exc.filename})."
        )
    except StoreURLError as exc:
        print(f"callback-monitor: --store: {exc}", file=sys.stderr)
        return EXIT_BAD_STORE
    if team_url:
        shown = _team_to_show(team_url, from_command_line=bool(db))
        if isinstance(shown, int):
            return shown
        team_url = shown

    def make_controller() -> ReceiverController:
        made = ReceiverController(db_path, port=configured_port(make_settings()))
        made.synchronous = load_synchronous(make_settings())  # the Storage and retention dialog's choice
        return made

    # the window, with going live (tunnel, credentials, wizard, restore on exit) and, embedded, the tray
    host = WindowHost(make_settings, make_controller, decorate=install_alerts)
    controller = None
    if not team_url:
        controller = make_controller()
        try:
            controller.start()
        except StoreLocked:
            text = (
                f"Callback Monitor is already running on {db_path} (another window or `callback-monitor "
                "serve`). This window will not open: two receivers must not write one database. Switch to "
                "the running one, or start with another database (--db)."
            )
            print(f"callback-monitor: {text}", file=sys.stderr)
            QMessageBox.critical(None, "Callback Monitor is already running", text)
            controller.stop()
            return EXIT_LOCKED
        except StoreError as exc:  # damaged, unreadable, unwritable…: one message, or a fresh start if agreed
            from desktop.store_problems import recover

            code = recover(exc, db_path, controller)
            if code is not None:
                controller.stop()
                return code
    previous: dict[int, Any] = {}
    try:
        host.open(team_url, controller)
        previous = close_on_signals(host)
        return int(app.exec())
    finally:
        if host.window is not None:
            host.window.shut_down()  # done already when the window closed; not when the loop ended otherwise
        if controller is not None:
            controller.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _store_to_show(store: str | None, settings: QSettings) -> tuple[str, Path]:
    """(team database URL or "", this computer's database file): ``store`` as given to --store or --db,
    else the team database shown last time (Connect to a team database… remembers it)."""
    from desktop.team_menu import TEAM_URL_KEY
    from receiver import paths
    from receiver.store.url import PostgresTarget, parse

    target = parse(store) if store else None
    if isinstance(target, PostgresTarget):
        return target.url, paths.default_db_path()
    if target is not None:
        return "", target.path
    return str(settings.value(TEAM_URL_KEY, "") or ""), paths.default_db_path()


def _team_to_show(url: str, *, from_command_line: bool) -> str | int:
    """The team database ``url`` once checked (the window waits, the dialog says so), "" for this
    computer's database instead, or the exit code: asked for on the command line, it could not be shown
    or the user cancelled."""
    from PySide6.QtWidgets import QMessageBox

    from desktop.team_connecting import CANCEL, USE_LOCAL, check_at_start
    from receiver.store.url import PostgresTarget, parse

    target = parse(url)
    assert isinstance(target, PostgresTarget)
    checked = check_at_start(target, partial(_team_problem, url), CANCEL if from_command_line else USE_LOCAL)
    if checked.gave_up and from_command_line:  # no box: the user chose to stop
        print(f"callback-monitor: stopped waiting for the team database {target.address}.", file=sys.stderr)
        return EXIT_BAD_STORE
    if checked.gave_up:  # remembered, and the user chose this computer's database: no warning either
        return ""
    if checked.reason is not None and from_command_line:  # say why, and stop
        print(f"callback-monitor: {checked.reason}", file=sys.stderr)
        QMessageBox.critical(None, "Callback Monitor cannot show the team database", checked.reason)
        return EXIT_BAD_STORE
    if checked.reason is not None:  # remembered from last time: this computer's database, and why
        QMessageBox.warning(
            None, "Callback Monitor", f"{checked.reason}\n\nShowing this computer's database instead."
        )
        return ""
    return url


def _team_problem(url: str) -> str | None:
    """Why the team database ``url`` cannot be shown (None: it can). Checked before the window opens, off
    the GUI thread (desktop/team_connecting.py); the connection's own timeout bounds the wait."""
    from receiver.store import StoreError
    from receiver.store.pg.attach import check
    from receiver.store.pg.connection import keyring_password
    from receiver.store.url import PostgresTarget, parse

    target = parse(url)
    assert isinstance(target, PostgresTarget)
    try:
        check(target, keyring_password(target))
    except StoreError as exc:
        return str(exc)
    return None


def close_on_signals(host: WindowHost) -> dict[int, Any]:
    """Ctrl+C in the terminal (SIGINT) and SIGTERM close the host's window as its Quit does: the same close
    sequence, restore first. Python runs a signal handler only between bytecodes, so a timer gives it
    a turn while Qt's event loop waits. Returns the handlers it replaced."""
    from PySide6.QtCore import QTimer

    def handler(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, lambda: host.window.close() if host.window is not None else None)

    previous: dict[int, Any] = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, handler)
    wake = QTimer(host)
    wake.timeout.connect(lambda: None)
    wake.start(200)
    return previous
