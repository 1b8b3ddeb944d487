"""The state icons, drawn with QPainter (no image files): a camera on green (on), grey (off or
starting, with a slash) or red (error, with a "!"); and the look of on/off buttons."""
from __future__ import annotations

import functools

from PySide6 import QtCore, QtGui

STATE_COLORS = {"on": "#2e9d4f", "off": "#8a9099", "starting": "#8a9099", "idle": "#8a9099", "error": "#d64541"}


@functools.cache
def state_icon(state: str) -> QtGui.QIcon:
    icon = QtGui.QIcon()
    for size in (16, 22, 24, 32, 48, 64, 128):
        icon.addPixmap(_draw(state, size))
    return icon


def _draw(state: str, size: int) -> QtGui.QPixmap:
    pixmap = QtGui.QPixmap(size, size)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    p = QtGui.QPainter(pixmap)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    s = size / 64.0
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(QtGui.QColor(STATE_COLORS.get(state, STATE_COLORS["off"])))
    p.drawEllipse(QtCore.QRectF(1 * s, 1 * s, 62 * s, 62 * s))
    white = QtGui.QColor("white")
    p.setBrush(white)
    p.drawRoundedRect(QtCore.QRectF(12 * s, 21 * s, 28 * s, 22 * s), 5 * s, 5 * s)  # camera body
    lens = QtGui.QPolygonF([QtCore.QPointF(42 * s, 32 * s), QtCore.QPointF(54 * s, 23 * s),
                            QtCore.QPointF(54 * s, 41 * s)])
    p.drawPolygon(lens)
    if state == "error":
        p.setBrush(QtGui.QColor(STATE_COLORS["error"]))
        p.drawRect(QtCore.QRectF(24 * s, 25 * s, 4 * s, 9 * s))  # "!" on the camera body
        p.drawEllipse(QtCore.QRectF(24 * s, 36 * s, 4 * s, 4 * s))
    elif state in ("off", "starting", "idle"):
        pen = QtGui.QPen(QtGui.QColor(STATE_COLORS["off"]), 4 * s)
        p.setPen(pen)
        p.drawLine(QtCore.QPointF(16 * s, 24 * s), QtCore.QPointF(36 * s, 40 * s))  # a slash: camera off
    p.end()
    return pixmap


# Checked effects must read as "on" at a glance, in light and dark themes alike.
TOGGLE_STYLE = f"""
QToolButton {{ padding: 4px 10px; border: 1px solid palette(mid); border-radius: 4px; background: palette(button); }}
QToolButton:hover {{ border-color: palette(highlight); }}
QToolButton:checked {{ background: {STATE_COLORS["on"]}; color: white; border-color: #23783c; }}
"""

# A button that opens a menu: its arrow centred in a column of its own, clear of the text.
MENU_BUTTON_STYLE = """
QToolButton { padding: 4px 22px 4px 10px; border: 1px solid palette(mid); border-radius: 4px; background: palette(button); }
QToolButton:hover { border-color: palette(highlight); }
QToolButton::menu-indicator { subcontrol-origin: padding; subcontrol-position: center right; right: 7px; }
"""
