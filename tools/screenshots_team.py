"""Screenshots of a window attached to a team database, offscreen, for reviewing the viewer's look.

Starts a throw-away PostgreSQL (tests/pg/cluster.py), copies a bench database into it (bench/pg_load.py),
registers two receivers, opens the attached window and saves: the window at 1024×700 and 1600×1000, the
Tools menu (what a viewer cannot do, greyed), and the status bar once the listener's connection was cut.

    .venv/bin/python bench/make_db.py --messages 20000 --events 60000 --requests 20000 --out /tmp/small.db
    .venv/bin/python tools/screenshots_team.py --db /tmp/small.db --out /tmp/shots [--dark]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a database built by bench/make_db.py")
    parser.add_argument("--out", required=True)
    parser.add_argument("--dark", action="store_true", help="dark palette; files are named dark-*.png")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="cm-team-shots-"))
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["CALLBACK_MONITOR_HOME"] = str(tmp)
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

    import keyring.backends.null
    import psycopg
    from pg_load import copy_sqlite
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from tests.pg.cluster import PASSWORD, Cluster

    os.environ["PGPASSWORD"] = PASSWORD  # the throw-away cluster's; the receivers and the window use it
    cluster = Cluster()
    cluster.start()
    try:
        cluster.admin("CREATE DATABASE callbacks")
        url = cluster.url("callbacks")
        with psycopg.connect(url, autocommit=True) as conn:
            copy_sqlite(args.db, conn)
        app = QApplication([])
        prefix = ""
        if args.dark:
            from desktop.theme import dark_palette

            app.setStyle("Fusion")
            app.setPalette(dark_palette())
            prefix = "dark-"
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
        from desktop.main_window import MainWindow
        from desktop.receiver_controller import ReceiverController
        from desktop.team_source import TeamSource
        from receiver.secrets import SecretStore
        from receiver.store.pg.store import PgStore
        from receiver.store.url import PostgresTarget, parse

        target = parse(url)
        assert isinstance(target, PostgresTarget)
        receivers = [PgStore(target, listen="0.0.0.0:8080"), PgStore(target, listen="10.0.0.7:8080")]

        def pump(seconds: float, until: Callable[[], bool] | None = None) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end and not (until is not None and until()):
                app.processEvents()
                time.sleep(0.02)

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        team = TeamSource(target)
        team.start()
        controller = ReceiverController(
            tmp / "local.db", secrets=SecretStore(keyring.backends.null.Keyring())
        )  # type: ignore[no-untyped-call]
        window = MainWindow(controller, team=team)
        window.show()
        pump(5, lambda: window.messages.model.rowCount() > 0 and "receivers" in window.status.store.text())
        for width, height in ((1024, 700), (1600, 1000)):
            window.resize(width, height)
            pump(0.6)
            window.grab().save(str(out / f"{prefix}team-{width}x{height}.png"))
        window.resize(1024, 700)
        pump(0.3)
        window.tools_menu.popup(window.mapToGlobal(window.rect().topLeft()))
        pump(0.5)
        window.tools_menu.grab().save(str(out / f"{prefix}team-tools-menu.png"))
        window.tools_menu.hide()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'callback-monitor listener'"
            )
        pump(3, lambda: window.status.connection.text().startswith("connection lost"))
        pump(0.4)
        window.grab().save(str(out / f"{prefix}team-lost-1024x700.png"))
        window.close()
        for receiver in receivers:
            receiver.close()
        print(f"wrote {out}/{prefix}team-*.png")
    finally:
        cluster.destroy()
    os._exit(0)  # skip the interpreter's teardown of PySide6 objects (nothing left that the OS keeps)


if __name__ == "__main__":
    sys.exit(main())
