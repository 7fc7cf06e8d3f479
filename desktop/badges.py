"""Status badges: a word plus a drawn icon whose *shape* tells the status, so colour is never the only cue.

Colours come from a small palette that is lightened on dark themes (judged from the application palette's
window colour), so the same badge reads on light and dark backgrounds. Icons are drawn with QPainter and
cached per (kind, theme): a table with a million rows asks for the same dozen pixmaps.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPainterPath, QPen, QPixmap

from receiver import statuses


@dataclass(frozen=True)
class Badge:
    """What a status cell shows: ``text`` (always), ``kind`` (selects the icon shape and colour),
    ``tooltip`` (what the status means for an operator)."""

    text: str
    kind: str
    tooltip: str


_KINDS: dict[str, tuple[str, str]] = {
    # status -> (kind, explanation)
    "scheduled": ("pending", "Scheduled: Twilio will send it later."),
    "accepted": ("pending", "Accepted by a Messaging Service, waiting for a sender."),
    "queued": ("pending", "Queued at Twilio, not yet handed to the carrier/WhatsApp."),
    "sending": ("pending", "Being handed to the carrier/WhatsApp."),
    "sent": ("sent", "Sent: the carrier/WhatsApp accepted it; no delivery receipt yet."),
    "receiving": ("pending", "Inbound message still arriving (media)."),
    "received": ("inbound", "Inbound message received."),
    "delivered": ("ok", "Delivered: the handset confirmed receipt."),
    "read": ("read", "Read: WhatsApp/RCS read receipt."),
    "partially_delivered": ("partial", "Partially delivered: some segments or recipients failed."),
    "undelivered": ("bad", "Undelivered: the carrier could not deliver it (see the error code)."),
    "failed": ("bad", "Failed: Twilio could not send it (see the error code)."),
    "canceled": ("canceled", "Canceled before sending."),
}

# kind -> (light-theme colour, dark-theme colour); chosen for contrast against white / #2b2b2b.
_COLOURS: dict[str, tuple[str, str]] = {
    "pending": ("#6b7280", "#a1a1aa"),
    "sent": ("#2563eb", "#7aa7ff"),
    "inbound": ("#7c3aed", "#b794f6"),
    "ok": ("#15803d", "#4ade80"),
    "read": ("#0f766e", "#2dd4bf"),
    "partial": ("#b45309", "#fbbf24"),
    "bad": ("#dc2626", "#f87171"),
    "canceled": ("#6b7280", "#a1a1aa"),
    "unknown": ("#6b7280", "#a1a1aa"),
}

_cache: dict[tuple[str, bool], QIcon] = {}


def badge_for(status: str | None) -> Badge:
    """The badge for a message status (unknown statuses keep their own text and get a "?" icon)."""
    key = (status or "").strip().lower()
    kind, tip = _KINDS.get(key, ("unknown", "A status this version does not know; shown as Twilio sent it."))
    text = key.replace("_", " ") if key else "—"
    if key and not statuses.is_known(key):
        text = f"{key} (?)"
    return Badge(text=text, kind=kind, tooltip=tip)


def is_dark_theme() -> bool:
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    return QGuiApplication.palette().window().color().lightness() < 128


def colour_for(kind: str, dark: bool | None = None) -> QColor:
    light_hex, dark_hex = _COLOURS.get(kind, _COLOURS["unknown"])
    return QColor(dark_hex if (is_dark_theme() if dark is None else dark) else light_hex)


def icon_for(status: str | None) -> QIcon:
    """A cached 16×16 icon for ``status`` (shape per kind, colour per theme)."""
    kind = badge_for(status).kind
    return kind_icon(kind)


def kind_icon(kind: str) -> QIcon:
    dark = is_dark_theme()
    icon = _cache.get((kind, dark))
    if icon is None:
        icon = QIcon()
        for size in (16, 32):
            icon.addPixmap(_draw(kind, colour_for(kind, dark), size))
        _cache[(kind, dark)] = icon
    return icon


def warning_icon(size: int = 16) -> QIcon:
    """A triangle with "!" — the status bar's warning marker (always with text beside it)."""
    return QIcon(_draw("warning", colour_for("partial"), size))


def _draw(kind: str, colour: QColor, size: int) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 16.0, size / 16.0)
    pen = QPen(colour, 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    circle = QRectF(1.5, 1.5, 13, 13)
    if kind == "ok":  # check mark in a ring
        p.drawEllipse(circle)
        _poly(p, [(4.5, 8.2), (7, 10.6), (11.5, 5.6)])
    elif kind == "read":  # double check
        _poly(p, [(1.2, 8.5), (4, 11.3), (9.2, 5)])
        _poly(p, [(6.2, 10), (7.5, 11.3), (14.8, 4.6)])
    elif kind == "bad":  # filled circle with a white X
        p.setBrush(colour)
        p.drawEllipse(circle)
        p.setPen(QPen(QColor("white"), 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawLine(QPointF(5.5, 5.5), QPointF(10.5, 10.5))
        p.drawLine(QPointF(10.5, 5.5), QPointF(5.5, 10.5))
    elif kind == "sent":  # arrow to the right
        p.drawLine(QPointF(2, 8), QPointF(13.5, 8))
        _poly(p, [(9, 3.8), (13.5, 8), (9, 12.2)])
    elif kind == "inbound":  # arrow down into a tray
        p.drawLine(QPointF(8, 1.5), QPointF(8, 9.5))
        _poly(p, [(4.5, 6.5), (8, 10), (11.5, 6.5)])
        _poly(p, [(2, 10.5), (2, 14), (14, 14), (14, 10.5)])
    elif kind == "pending":  # clock
        p.drawEllipse(circle)
        _poly(p, [(8, 4.5), (8, 8), (10.8, 9.6)])
    elif kind == "partial":  # half-filled circle
        p.drawEllipse(circle)
        path = QPainterPath()
        path.moveTo(8, 1.5)
        path.arcTo(circle, 90, 180)
        path.closeSubpath()
        p.fillPath(path, colour)
    elif kind == "canceled":  # circle with a slash
        p.drawEllipse(circle)
        p.drawLine(QPointF(3.6, 12.4), QPointF(12.4, 3.6))
    elif kind == "warning":
        p.setBrush(colour)
        tri = QPainterPath()
        tri.moveTo(8, 1.2)
        tri.lineTo(15, 14.5)
        tri.lineTo(1, 14.5)
        tri.closeSubpath()
        p.drawPath(tri)
        p.setPen(QPen(QColor("black"), 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawLine(QPointF(8, 5.5), QPointF(8, 9.5))
        p.drawPoint(QPointF(8, 12.2))
    else:  # unknown: a question mark in a ring
        p.drawEllipse(circle)
        path = QPainterPath()
        path.moveTo(5.8, 6.3)
        path.cubicTo(5.8, 3.6, 10.4, 3.6, 10.4, 6.3)
        path.cubicTo(10.4, 7.8, 8, 8, 8, 9.6)
        p.drawPath(path)
        p.drawPoint(QPointF(8, 11.8))
    p.end()
    return pix


def _poly(p: QPainter, points: list[tuple[float, float]]) -> None:
    path = QPainterPath()
    path.moveTo(*points[0])
    for x, y in points[1:]:
        path.lineTo(x, y)
    p.drawPath(path)
