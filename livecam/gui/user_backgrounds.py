"""The pictures and videos in the user's "My backgrounds" folder, listed off the GUI thread.

Listed there (``is_dir``, then ``iterdir``) each time the tray's Background menu opened or the
settings window's picture list filled, a folder on a mount that stopped answering froze the tray
and the settings window for good. Now the lists show the last listing (none before the first),
refill when a new one differs, and say in one sentence when the folder does not answer in time.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from PySide6 import QtCore

from livecam.gui import relay
from livecam.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from livecam.messages import shown

log = logging.getLogger(__name__)

LIST_LIMIT_S = 5.0  # a local folder lists in milliseconds; past this it is a drive that does not answer


def list_folder(folder: Path) -> list[Path]:
    """The pictures and videos in ``folder`` by name; none when there is no such folder."""
    if not folder.is_dir():
        return []
    suffixes = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in suffixes), key=lambda p: p.name.casefold())


class UserBackgrounds(QtCore.QObject):
    """``paths``: the folder's last listing (None before the first came back); ``sentence``: why it is
    missing when the folder did not answer within LIST_LIMIT_S. ``changed`` when either changes.

    One listing at a time, on a daemon thread (a listing that never returns must not keep LiveCam
    from quitting); asked again meanwhile, the running one serves."""

    changed = QtCore.Signal()

    def __init__(self, folder: Callable[[], Path], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._folder = folder
        self.paths: list[Path] | None = None
        self.sentence = ""
        self._asked: Path | None = None  # the folder being listed
        relay.on_gui_thread()  # the thread's listing comes back through it
        self._limit = QtCore.QTimer(self, singleShot=True, interval=int(LIST_LIMIT_S * 1000))
        self._limit.timeout.connect(self._overdue)

    def refresh(self) -> None:
        """List the folder again, off the GUI thread."""
        if self._asked is not None:
            return
        self._asked = folder = self._folder()
        self._limit.start()
        threading.Thread(target=self._work, args=(folder,), name="livecam-my-backgrounds", daemon=True).start()

    def _work(self, folder: Path) -> None:
        try:
            listing: list[Path] | OSError = list_folder(folder)
        except OSError as exc:
            listing = exc
        relay.answer(self._got, folder, listing)  # dropped if the lists are gone (the app quit)

    def _got(self, folder: Path, listing: list[Path] | OSError) -> None:
        self._asked = None
        self._limit.stop()
        sentence = ""
        if isinstance(listing, OSError):
            log.warning("The folder %s could not be listed: %s", folder, listing)
            sentence = f"The folder {shown(folder)} could not be read ({listing.strerror or listing})."
            listing = []
        if (listing, sentence) != (self.paths, self.sentence):
            self.paths, self.sentence = listing, sentence
            self.changed.emit()

    def _overdue(self) -> None:
        log.warning("The folder %s did not answer within %g s.", self._asked, LIST_LIMIT_S)
        self.sentence = (f"The folder {shown(self._asked)} does not answer (is it on a drive that is away?), so its "
                         "pictures are not listed.")
        self.changed.emit()
