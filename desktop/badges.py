"""Status badges: a word plus a drawn icon whose *shape* tells the status, so colour is never the only cue.

Colours come from a small palette that is lightened on dark themes (judged from the application palette's
window colour), so the same badge reads on light and dark backgrounds. Icons are drawn with QPainter and
cached per (kind, theme): a table with a million rows asks for the same dozen pixmaps.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from desktop.theme import is_dark_theme
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
    # text, not badges: an error or a success line in a form (BusyLine, dialogs)
    "error": ("#b00020", "#ff8a80"),
    "success": ("#1b5e20", "#81c784"),
}
# surfaces: (light, dark) backgrounds that keep the palette's text colour readable on them
_SURFACES: dict[str, tuple[str, str]] = {
    "note": ("#fff8e1", "#3b3323"),  # a pale (or deep) amber panel for advice and warnings
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


def colour_for(kind: str, dark: bool | None = None) -> QColor:
    light_hex, dark_hex = _COLOURS.get(kind, _COLOURS["unknown"])
    return QColor(dark_hex if (is_dark_theme() if dark is None else dark) else light_hex)


def surface_for(kind: str, dark: bool | None = None) -> QColor:
    """A background for a panel of ordinary text (``"note"``): amber-tinted, light or dark per theme."""
    light_hex, dark_hex = _SURFACES[kind]
    return QColor(dark_hex if (is_dark_theme() if dark is None else dark) else light_hex)


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio of two colours (1.0 … 21.0); tests hold the palette to it."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def ink_on(fill: QColor) -> QColor:
    """White or near-black, whichever reads better on ``fill`` (the X inside the red "bad" disc)."""
    white, black = QColor("white"), QColor("#1e1e1e")
    return white if contrast_ratio(white, fill) >= contrast_ratio(black, fill) else black


def tint(widget: QWidget, kind: str | None, role: QPalette.ColorRole = QPalette.ColorRole.WindowText) -> None:
    """Colour ``widget``'s ``role`` with ``colour_for(kind)`` (None: back to the inherited palette colour).

    A palette colour instead of a style sheet: the rest of the palette (and the style) stays the system's."""
    if kind is None:
        if widget.testAttribute(Qt.WidgetAttribute.WA_SetPalette):
            widget.setPalette(QPalette())  # nothing resolved: every role inherited again
        return
    pal = widget.palette()
    colour = colour_for(kind)
    if pal.color(role) != colour:  # status bars re-tint every second: no needless palette events
        pal.setColor(role, colour)
        widget.setPalette(pal)


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
    elif kind == "bad":  # filled circle with an X in white (light theme) or black (dark theme's pale red)
        p.setBrush(colour)
        p.drawEllipse(circle)
        p.setPen(QPen(ink_on(colour), 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
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
