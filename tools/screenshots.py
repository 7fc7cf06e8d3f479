"""Re-runnable screenshots of every view, for the README and for reviewing the UI.

Seeds a fresh demo database by running the traffic simulator against the embedded receiver, opens the
main window offscreen and saves PNGs into docs/screenshots/: at 1400×850 as ``<view>.png`` (the README's
pictures), and at each extra ``--sizes`` as ``<view>-<W>x<H>.png`` (1024×700, the smallest window the app
is laid out for, and 1600×1000 by default). Nothing of the user's is touched: database, settings and logs
live in a temporary folder, and secrets stay in memory.

    .venv/bin/python tools/screenshots.py [--out docs/screenshots] [--messages 120] [--dark]
                                          [--sizes 1024x700,1600x1000]

Files are saved with a 256-colour palette (UI pictures barely change; the files are about a third).

``--dark`` renders with the Fusion style and a dark palette (``theme.dark_palette``), as an operator with
a dark system theme sees the app, and writes ``dark-*.png`` instead.

Offscreen rendering needs fonts; on a bare Debian: ``apt-get install -y fonts-dejavu-core``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = (1400, 850)
EXTRA_SIZES = "1024x700,1600x1000"


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        width, _, height = part.lower().partition("x")
        sizes.append((int(width), int(height)))
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--messages", type=int, default=120)
    parser.add_argument("--dark", action="store_true", help="dark palette; files are named dark-*.png")
    parser.add_argument(
        "--sizes", default=EXTRA_SIZES, help="extra window sizes, WxH,WxH (files named <view>-WxH.png)"
    )
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="cm-shots-"))
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["CALLBACK_MONITOR_HOME"] = str(tmp)
    sys.path.insert(0, str(ROOT))

    import keyring.backends.null
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication, QWidget

    from desktop.main_window import MainWindow
    from desktop.models.message_query import MessageFilter
    from desktop.receiver_controller import ReceiverController
    from receiver import simulate
    from receiver.secrets import TWILIO_AUTH_TOKEN, SecretStore
    from receiver.simulate_plan import DEMO_AUTH_TOKEN, SimConfig

    app = QApplication([])
    prefix = ""
    if args.dark:
        from desktop.theme import dark_palette

        app.setStyle("Fusion")
        app.setPalette(dark_palette())
        prefix = "dark-"
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def pump(seconds: float, until: Callable[[], bool] | None = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            if until is not None and until():
                return
            time.sleep(0.02)

    sizes = [(SIZE, "")] + [(size, f"-{size[0]}x{size[1]}") for size in parse_sizes(args.sizes)]

    def save(window: QWidget, path: Path) -> None:
        # 8-bit PNGs keep the repo small; the colour table is the image's own 256 most frequent colours,
        # not Qt's fixed 216-colour cube, which merged the dark theme's window, list and check-box greys
        # into one and made frames and boxes vanish from the dark screenshots
        full = window.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        counts = Counter(
            full.pixel(x, y) for y in range(0, full.height(), 2) for x in range(0, full.width(), 2)
        )
        table = [colour for colour, _ in counts.most_common(256)]
        image = full.convertToFormat(
            QImage.Format.Format_Indexed8,
            table,
            Qt.ImageConversionFlag.ThresholdDither | Qt.ImageConversionFlag.AvoidDither,  # flat stays flat
        )
        image.save(str(path), "PNG")
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    def shoot(window: QWidget, name: str, *, resize: bool = True) -> None:
        for size, suffix in sizes if resize else [(None, "")]:
            if size is not None:
                window.resize(*size)
            pump(0.4)
            save(window, out / f"{prefix}{name}{suffix}.png")
        if resize:
            window.resize(*SIZE)

    secrets = SecretStore(keyring.backends.null.Keyring())  # type: ignore[no-untyped-call]  # session only
    # first launch: an empty database shows what to do
    empty = ReceiverController(tmp / "empty.db", secrets=secrets)
    empty.start()
    window = MainWindow(empty)
    window.resize(*SIZE)
    window.show()
    shoot(window, "first-launch")
    window.close()
    empty.stop()

    controller = ReceiverController(tmp / "demo.db", secrets=secrets)
    controller.start()
    controller.set_simulating(True)  # the demo token validates local traffic only while asked for
    result = simulate.run(
        SimConfig(
            target=controller.local_url,
            public_url=controller.webhook_base,
            auth_token=DEMO_AUTH_TOKEN,
            messages=args.messages,
            rate=0,
            seed=7,
        )
    )
    print(f"simulated {result.sent} requests ({result.by_status})")
    controller.set_simulating(False)
    # the views as a configured operator sees them: an auth token in the (session-only) keyring
    secrets.set(TWILIO_AUTH_TOKEN, "0" * 32)
    window = MainWindow(controller)
    window.resize(*SIZE)
    window.show()
    pump(1.0)
    view = window.messages
    view.refresh()

    failed = (
        controller.read()
        .conn.execute(
            "SELECT sid, error_code FROM messages WHERE status = 'undelivered' AND error_code IS NOT NULL "
            "ORDER BY first_seen DESC"
        )
        .fetchone()
    )
    error_code = 30003
    if failed is not None:
        view.select_sid(failed[0])
        error_code = int(failed[1])
    shoot(window, "messages")

    view.filter_bar.presets.button(1).click()  # Inbound
    inbound = (
        controller.read().conn.execute("SELECT message_sid FROM media ORDER BY id DESC LIMIT 1").fetchone()
        or controller.read()
        .conn.execute("SELECT sid FROM messages WHERE direction = 'inbound' ORDER BY first_seen DESC")
        .fetchone()
    )
    if inbound is not None:
        view.select_sid(inbound[0])
    shoot(window, "inbound")
    view.filter_bar.set_filter(MessageFilter())

    for cls, name in (
        ("RequestInspector", "requests"),
        ("ErrorLookupPanel", "errors"),
        ("StatsView", "stats"),
    ):
        tab = window.extra_tabs[cls]
        window.tabs.setCurrentWidget(tab)
        if cls == "ErrorLookupPanel" and hasattr(tab, "show_code"):
            tab.show_code(error_code)
        if cls == "RequestInspector":
            table = getattr(tab, "table", None)
            if table is not None and table.model() is not None and table.model().rowCount() > 0:
                table.selectRow(0)
        pump(1.5)
        shoot(window, name)

    # the warning every view carries while signatures are not checked
    window.tabs.setCurrentWidget(window.messages)
    controller.set_validate(False)
    shoot(window, "validation-off")
    controller.set_validate(True)

    # the set-up wizard's first page (no Twilio call happens until Next)
    wizard = window.live.open_wizard()
    shoot(wizard, "wizard", resize=False)  # a dialog: its own size
    wizard.close()

    window.close()
    controller.stop()
    # tear Qt down in order: PySide can crash in the interpreter's final GC if widgets outlive the app
    window.deleteLater()
    app.processEvents()
    del window
    app.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
