"""What a person does with the mouse, for the GUI tests that drive the app that way."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QObject, QPoint, QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QMainWindow,
    QMenu,
    QPushButton,
    QTableWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
    QWizard,
    QWizardPage,
)
from pytestqt.qtbot import QtBot

from desktop.live.context import ON_EXIT_KEY


def click(widget: QWidget) -> None:
    """A left click where a person aims: a radio button's or check box's box (only its box and text
    take clicks, and the widget may be much wider), anything else's middle."""
    if isinstance(widget, QAbstractButton) and widget.isCheckable() and not isinstance(widget, QPushButton):
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=QPoint(8, widget.height() // 2))
    else:
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def click_menu_item(qtbot: QtBot, win: QMainWindow, menu_title: str, item: QAction) -> None:
    """Open ``menu_title`` in the menu bar with the mouse and click ``item`` in it."""
    bar = win.menuBar()
    entry = next(a for a in bar.actions() if a.text().replace("&", "") == menu_title)
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(entry).center())
    menu = entry.menu()
    assert isinstance(menu, QMenu), f"{menu_title} is not a menu"
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(item).center())


W = TypeVar("W", bound=QObject)


def child(parent: QObject, kind: type[W], name: str = "") -> W:
    """``parent``'s child of type ``kind`` (named ``name``); an AssertionError says which is missing."""
    found = parent.findChild(kind, name)
    assert found is not None, f"no {kind.__name__} {name!r} in {type(parent).__name__}"
    return found


Pg = TypeVar("Pg", bound=QWizardPage)


def current_page(wizard: QWizard, kind: type[Pg]) -> Pg:
    """The page ``wizard`` shows, which must be a ``kind`` (an AssertionError says which it is instead)."""
    page = wizard.currentPage()
    assert isinstance(page, kind), f"the wizard shows {type(page).__name__}, not {kind.__name__}"
    return page


def top_level_items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    """The rows a person sees at the top level of ``tree``, in order."""
    items = []
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        assert item is not None, f"row {i} of {tree.topLevelItemCount()} is missing"
        items.append(item)
    return items


def cell_text(table: QTableWidget, row: int, column: int) -> str:
    """A table widget's cell text, asserting the cell exists."""
    item = table.item(row, column)
    assert item is not None, (row, column)
    return item.text()


def keep_webhooks_on_exit(settings: QSettings) -> None:
    """The operator's "When the app closes: Keep the monitor's webhooks" choice (the wizard's last page):
    the window then closes without offering to restore, which is what a test's clean-up wants."""
    settings.setValue(ON_EXIT_KEY, "keep")
