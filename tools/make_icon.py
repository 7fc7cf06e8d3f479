"""Draw the app icon and write resources/icon.png, icon.ico and icon.icns (``make icon``).

Drawn with Qt (already a dependency; its image plugins write .ico and .icns), so no image library is
needed for the build. The picture: a speech bubble (a message) carrying a delivery tick, on the blue of
the "delivered" badge. Re-run after changing the drawing and commit the three files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPainterPath, QPen

OUT = Path(__file__).resolve().parent.parent / "resources"
SIZE = 512  # icns wants 512; ico is limited to 256 (Qt writes the one size it is given)


def draw(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    s = size / 100.0
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#1f6feb"))
    p.drawRoundedRect(QRectF(4 * s, 4 * s, 92 * s, 92 * s), 20 * s, 20 * s)
    bubble = QPainterPath()
    bubble.addRoundedRect(QRectF(18 * s, 20 * s, 64 * s, 46 * s), 12 * s, 12 * s)
    tail = QPainterPath()
    tail.moveTo(QPointF(30 * s, 60 * s))
    tail.lineTo(QPointF(26 * s, 80 * s))
    tail.lineTo(QPointF(46 * s, 62 * s))
    tail.closeSubpath()
    p.setBrush(QColor("#ffffff"))
    p.drawPath(bubble.united(tail))
    pen = QPen(QColor("#1a7f37"), 8 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    tick = QPainterPath()
    tick.moveTo(QPointF(35 * s, 43 * s))
    tick.lineTo(QPointF(45 * s, 53 * s))
    tick.lineTo(QPointF(65 * s, 33 * s))
    p.drawPath(tick)
    p.end()
    return image


def main() -> int:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    image = draw(SIZE)
    small = image.scaled(
        256, 256, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    for name, picture, fmt in (
        ("icon.png", small, "PNG"),
        ("icon.ico", small, "ICO"),
        ("icon.icns", image, "ICNS"),
    ):
        target = OUT / name
        if not picture.save(str(target), fmt):
            print(
                f"error: Qt could not write {target} (is its {fmt} image plugin installed?)", file=sys.stderr
            )
            return 1
        print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
