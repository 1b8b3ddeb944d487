"""Small widgets the settings window is built from: a slider bound to one numeric setting, and the
before/after preview."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from livecam import settings as S

PREVIEW_SIZE = (448, 252)  # each of the two pictures, 16:9


def field_type(key: str) -> type:
    section, name = key.split(".")
    return type(getattr(getattr(S.Settings(), section), name))


MENU_ROOM = 10  # px: extra width for each menu item, so a submenu arrow is not pinned to the edge


class RoomyMenuStyle(QtWidgets.QProxyStyle):
    """The platform's menu style with the submenu arrow moved in from the edge and the shortcut
    column a little wider: Fusion draws the arrow 3 px from the border, against the shortcuts."""

    def sizeFromContents(self, kind, option, size, widget=None):
        size = super().sizeFromContents(kind, option, size, widget)
        if kind == QtWidgets.QStyle.ContentsType.CT_MenuItem:
            size.setWidth(size.width() + MENU_ROOM)
        return size

    def drawPrimitive(self, element, option, painter, widget=None):
        if element == QtWidgets.QStyle.PrimitiveElement.PE_IndicatorArrowRight and isinstance(widget, QtWidgets.QMenu):
            option = QtWidgets.QStyleOption(option)
            option.rect = option.rect.translated(-(MENU_ROOM // 2 + 2), 0)
        super().drawPrimitive(element, option, painter, widget)


_MENU_STYLE: list[RoomyMenuStyle] = []  # one per process, alive as long as the menus using it


def roomy(*menus: QtWidgets.QMenu) -> None:
    if not _MENU_STYLE:
        _MENU_STYLE.append(RoomyMenuStyle(QtWidgets.QApplication.style().name()))
    for menu in menus:
        menu.setStyle(_MENU_STYLE[0])


class SettingSlider(QtWidgets.QWidget):
    """Slider and value for one "section.field" whose range comes from ``settings.RANGES``.

    ``label`` is a separate widget for the caller's form layout. QSlider only knows integers, so a
    float setting moves in ``step`` units.
    """

    edited = QtCore.Signal(str, object)  # key, value (int or float, like the field)

    def __init__(self, key: str, label: str, step: float = 1, fmt: Callable[[float], str] = str,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.kind = field_type(key)
        self.lo, self.hi = S.RANGES[key]
        self.step = step
        self.fmt = fmt
        self.label = QtWidgets.QLabel(label)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, round((self.hi - self.lo) / step))
        self.slider.setPageStep(max(1, self.slider.maximum() // 10))
        self.slider.setAccessibleName(label)
        self.value_label = QtWidgets.QLabel()
        self.value_label.setMinimumWidth(80)
        self.value_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.value_label)
        self.slider.valueChanged.connect(self._moved)

    def value(self) -> int | float:
        raw = self.lo + self.slider.value() * self.step
        return int(round(raw)) if self.kind is int else round(raw, 4)

    def set_value(self, value: float) -> None:
        """Show ``value`` without emitting ``edited`` (the settings already hold it)."""
        self.slider.blockSignals(True)
        self.slider.setValue(round((value - self.lo) / self.step))
        self.slider.blockSignals(False)
        self.value_label.setText(self.fmt(value))

    def _moved(self) -> None:
        value = self.value()
        self.value_label.setText(self.fmt(value))
        self.edited.emit(self.key, value)


def to_pixmap(image: np.ndarray) -> QtGui.QPixmap:
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    qimage = QtGui.QImage(image.data, w, h, image.strides[0], QtGui.QImage.Format.Format_BGR888)
    return QtGui.QPixmap.fromImage(qimage)  # copies, so `image` may go


class PreviewPane(QtWidgets.QWidget):
    """The camera picture before and after the effects, side by side."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(8)
        layout.setVerticalSpacing(2)
        self.before = self._picture()
        self.after = self._picture()
        for column, (caption, picture) in enumerate((("Before", self.before), ("After", self.after))):
            layout.addWidget(picture, 0, column)
            label = QtWidgets.QLabel(caption)
            label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            font = label.font()
            font.setBold(True)
            label.setFont(font)
            layout.addWidget(label, 1, column)

    @staticmethod
    def _picture() -> QtWidgets.QLabel:
        label = QtWidgets.QLabel()
        label.setFixedSize(*PREVIEW_SIZE)
        label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        label.setStyleSheet("background: #1b1d21; color: #c9cdd3; border-radius: 4px;")
        label.setText("waiting for video…")
        return label

    def show_frames(self, before: np.ndarray | None, after: np.ndarray | None) -> None:
        if before is not None:
            self.before.setPixmap(to_pixmap(before))
        if after is not None:
            self.after.setPixmap(to_pixmap(after))

    def clear(self, text: str) -> None:
        for picture in (self.before, self.after):
            picture.clear()
            picture.setText(text)
