"""The background pictures' thumbnails (the tray's Background menu, the settings window's picture
list), decoded off the GUI thread.

Decoded there, a 12 MP PNG froze the tray and the settings window for 0.42 s when a list first
showed it (a picked picture right after its check passed off the GUI thread; the menu's first
opening, once per such picture among the user's backgrounds), and a picture on a drive that stopped
answering froze them for good. Now a list shows an empty icon until its thumbnail is made, and
``ready`` says when it is.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path

from PySide6 import QtCore, QtGui

from livecam.gui import relay

log = logging.getLogger(__name__)

SIZE = (64, 36)  # the lists' icon size, in pixels


def thumbnail_image(path: Path) -> QtGui.QImage | None:
    """The thumbnail of the picture at ``path``, or None where it is no picture LiveCam can read; safe
    off the GUI thread (a QImage, not a pixmap).

    Decoded by LiveCam's own reader: QImage(path) opened a FIFO named *.jpg among the user's
    backgrounds and never returned, freezing the tray (redteam7); the reader takes regular files
    only, bounded, and decodes at thumbnail size where the format allows."""
    from livecam.media import read_image

    try:
        picture = read_image(path, cover=SIZE)
    except ValueError:  # ImageError: not a picture (a video, a broken or odd file)
        return None
    h, w = picture.shape[:2]
    image = QtGui.QImage(picture.data, w, h, 3 * w, QtGui.QImage.Format.Format_BGR888).copy()
    return image.scaled(*SIZE, QtCore.Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                        QtCore.Qt.TransformationMode.SmoothTransformation)


class Thumbnails(QtCore.QObject):
    """Each picture's icon, made once, on a daemon thread that runs while there are some to make (a
    daemon: a read that never returns must not keep LiveCam from quitting; it holds up only the
    thumbnails behind it)."""

    ready = QtCore.Signal(object)  # the Path whose icon ``icon`` now gives

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._icons: dict[Path, QtGui.QIcon] = {}
        self._asked: set[Path] = set()
        self._jobs: deque[Path] = deque()
        self._lock = threading.Lock()
        self._working = False
        relay.on_gui_thread()  # the thread's thumbnails come back through it

    def icon(self, path: Path) -> QtGui.QIcon:
        """The thumbnail of ``path`` when made (an empty icon for a file that is no picture), else an
        empty icon now, and it is made."""
        made = self._icons.get(path)
        if made is not None:
            return made
        if path not in self._asked:
            self._asked.add(path)
            with self._lock:
                self._jobs.append(path)
                start, self._working = not self._working, True
            if start:
                threading.Thread(target=self._work, name="livecam-thumbnails", daemon=True).start()
        return QtGui.QIcon()

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._working = False
                    return
                path = self._jobs.popleft()
            try:
                image = thumbnail_image(path)
            except Exception:  # noqa: BLE001 - a thumbnail that cannot be made is an empty icon, not a dead thread
                log.debug("The thumbnail of %s could not be made", path, exc_info=True)
                image = None
            relay.answer(self._made, path, image)  # dropped if the list is gone (the app quit)

    def _made(self, path: Path, image: QtGui.QImage | None) -> None:
        self._asked.discard(path)
        self._icons[path] = QtGui.QIcon(QtGui.QPixmap.fromImage(image)) if image is not None else QtGui.QIcon()
        self.ready.emit(path)
