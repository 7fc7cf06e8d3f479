"""The light or dark theme: which one the application shows, following a switch while the app runs,
and the dark palette that screenshots and tests use to see the app as an operator with a dark system
theme does. The app itself follows the system palette and never forces one.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QWidget


def is_dark_theme() -> bool:
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    return QGuiApplication.palette().window().color().lightness() < 128


class _ThemeFollower(QObject):
    """Calls ``apply`` again when the application switches between a light and a dark palette."""

    def __init__(self, widget: QWidget, apply: Callable[[], None]) -> None:
        super().__init__(widget)
        self._apply = apply
        self._dark = is_dark_theme()
        self._busy = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.PaletteChange and not self._busy:
            dark = is_dark_theme()
            if dark != self._dark:  # only on a real switch: apply() itself changes palettes
                self._dark = dark
                self._busy = True
                try:
                    self._apply()
                finally:
                    self._busy = False
        return False


def follow_theme(widget: QWidget, apply: Callable[[], None], *, now: bool = True) -> None:
    """Run ``apply`` now (unless ``now`` is False) and whenever the theme turns light or dark while the app
    runs.

    For colours that are not palette roles (badge colours, tinted notes, pixmaps already drawn): Qt
    sends every widget a PaletteChange when the system theme changes, and ``apply`` recomputes them."""
    if now:
        apply()
    widget.installEventFilter(_ThemeFollower(widget, apply))


def dark_palette() -> QPalette:
    """A typical dark desktop palette (close to Fusion's own dark scheme and to KDE Breeze Dark).

    The app follows the system palette and never forces this one; screenshots (``tools/screenshots.py
    --dark``) and tests use it to see the app as an operator with a dark system theme does."""
    pal = QPalette()
    roles = QPalette.ColorRole
    for role, hex_colour in (
        (roles.Window, "#2b2b2b"),
        (roles.WindowText, "#e6e6e6"),
        (roles.Base, "#1e1e1e"),
        (roles.AlternateBase, "#333333"),
        (roles.ToolTipBase, "#3c3c3c"),
        (roles.ToolTipText, "#e6e6e6"),
        (roles.PlaceholderText, "#9a9a9a"),
        (roles.Text, "#e6e6e6"),
        (roles.Button, "#353535"),
        (roles.ButtonText, "#e6e6e6"),
        (roles.BrightText, "#ff6b6b"),
        (roles.Light, "#4a4a4a"),
        (roles.Midlight, "#3e3e3e"),
        (roles.Mid, "#5a5a5a"),
        (roles.Dark, "#1a1a1a"),
        (roles.Shadow, "#000000"),
        (roles.Highlight, "#2f65ca"),
        (roles.HighlightedText, "#ffffff"),
        (roles.Link, "#7aa7ff"),
        (roles.LinkVisited, "#b794f6"),
    ):
        pal.setColor(role, QColor(hex_colour))
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        pal.setColor(disabled, role, QColor("#808080"))
    return pal
