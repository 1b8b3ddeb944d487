"""Python's cycle collector, run on the GUI thread only while the tray app runs.

The collector runs in whichever thread happens to allocate when a threshold is passed: in the tray app
that is mostly the camera, pipeline and control threads. A Qt object freed there (a window, a store or
a bridge left in a reference cycle) cannot stop its timers from that thread, so they stay registered in
the GUI thread's event loop and Qt's next timer event reaches freed memory: the process dies with a
segmentation fault ("QObject::~QObject: Timers cannot be stopped from another thread" just before).
pyqtgraph's GarbageCollector answers the same crash the same way: automatic collection off, the same
generational schedule run from a timer on the GUI thread.
"""
from __future__ import annotations

import gc

from PySide6 import QtCore

INTERVAL_MS = 1000  # cyclic garbage waits at most this long; acyclic objects still go at once


class GuiThreadCollector(QtCore.QObject):
    """While started, Python's automatic collection is off and this collects on its own (the GUI) thread."""

    def __init__(self, parent: QtCore.QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QtCore.QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self._was_enabled = False

    def start(self) -> None:
        if self._timer.isActive():
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        if not self._timer.isActive():
            return
        self._timer.stop()
        self.collect_due()
        if self._was_enabled:
            gc.enable()

    @staticmethod
    def collect_due() -> None:
        """Collect the oldest generation whose count has passed its threshold, as automatic collection does
        (a full collection after every 11 of the middle one with the default thresholds; a 720p session
        with the GUI's heap takes ~40 ms for one, every minute or two)."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if thresholds[generation] and counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return
