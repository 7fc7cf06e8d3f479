"""What a person does with the mouse, for the GUI tests that drive the app that way."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest


def click_menu_item(qtbot: Any, win: Any, menu_title: str, item: Any) -> None:
    """Open ``menu_title`` in the menu bar with the mouse and click ``item`` in it."""
    bar = win.menuBar()
    entry = next(a for a in bar.actions() if a.text().replace("&", "") == menu_title)
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(entry).center())
    menu = entry.menu()
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(item).center())
