"""Answers from LiveCam's worker threads (file checks, thumbnails, folder listings, device checks, the
live loop's control and processing threads), delivered on the GUI thread to the object that asked,
only while it still exists.

Each of those threads used to emit a queued signal of the object waiting for its answer. When that
object was being deleted on the GUI thread at the same moment (the app quitting, a test's app torn
down), the event could be posted after Qt had cleared the object's pending events and before its
memory was freed: the GUI thread then delivered it to a freed object and the process died of a
segmentation fault (1 run in 8 of the GUI tests). The threads now emit on one relay that lives as long
as the process, and the relay calls the receiver on the GUI thread if it is still there.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any, Callable

from PySide6 import QtCore
from shiboken6 import isValid


class _Relay(QtCore.QObject):
    _call = QtCore.Signal(object, object)  # weakref.WeakMethod, tuple of arguments

    def __init__(self) -> None:
        super().__init__()
        self._call.connect(self._deliver, QtCore.Qt.ConnectionType.QueuedConnection)

    def send(self, method: Callable[..., Any] | weakref.WeakMethod, args: tuple) -> None:
        target = method if isinstance(method, weakref.WeakMethod) else weakref.WeakMethod(method)
        self._call.emit(target, args)

    @staticmethod
    def _deliver(target: weakref.WeakMethod, args: tuple) -> None:
        method = target()
        if method is not None and isValid(method.__self__):
            method(*args)


_RELAY: _Relay | None = None
_LOCK = threading.Lock()


def on_gui_thread() -> None:
    """Make the relay, on the GUI thread (its events run where it was made): called by each object
    that will get answers, when it is made."""
    global _RELAY
    with _LOCK:
        if _RELAY is None:
            _RELAY = _Relay()


def answer(method: Callable[..., Any] | weakref.WeakMethod, *args: Any) -> None:
    """From any thread: call the bound ``method`` of a QObject with ``args`` on the GUI thread, unless
    that object has been deleted (or collected) by then. A thread that must not keep its object alive
    passes a ``weakref.WeakMethod``: the last reference let go of on a worker thread frees a QObject
    there, where Qt cannot stop its timers or delete its widgets."""
    relay = _RELAY
    if relay is not None:
        relay.send(method, args)
