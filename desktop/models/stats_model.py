"""The statistics panel's table model (a few precomputed rows).

The figures themselves come from the core: ``Reader.delivery_stats`` (receiver/store/stats_reads.py)
returns ``receiver.stats_queries.DeliveryStats``; the view runs it off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

ModelIndex = QModelIndex | QPersistentModelIndex


class RowsModel(QAbstractTableModel):
    """A read-only table of a few precomputed rows (statistics tables: tens of rows, never more).

    ``icons`` (optional) gives a decoration for column 0 of each row; cells of the ``right`` columns
    (counts, percentages) are right-aligned. Ints are shown with thousands separators, so identifiers
    such as error codes should be passed as strings.
    """

    def __init__(
        self, headers: Sequence[str], parent: QObject | None = None, *, right: Sequence[int] = ()
    ) -> None:
        super().__init__(parent)
        self._headers = tuple(headers)
        self._right = frozenset(right)
        self._rows: list[tuple[Any, ...]] = []
        self._icons: list[Any] = []
        self._tips: list[str | None] = []

    def set_rows(
        self,
        rows: Sequence[Sequence[Any]],
        icons: Sequence[Any] | None = None,
        tips: Sequence[str | None] | None = None,
    ) -> None:
        self.beginResetModel()
        self._rows = [tuple(r) for r in rows]
        self._icons = list(icons) if icons is not None else []
        self._tips = list(tips) if tips is not None else []
        self.endResetModel()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._headers):
            return self._headers[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        row, col = index.row(), index.column()
        if not (0 <= row < len(self._rows) and 0 <= col < len(self._headers)):
            return None
        value = self._rows[row][col]
        if role == Qt.ItemDataRole.DisplayRole:
            if isinstance(value, int) and not isinstance(value, bool):
                return f"{value:,}"
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.DecorationRole and col == 0 and row < len(self._icons):
            return self._icons[row]
        if role == Qt.ItemDataRole.ToolTipRole and row < len(self._tips):
            return self._tips[row]
        if role == Qt.ItemDataRole.TextAlignmentRole and col in self._right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
