"""Answers from LiveCam's worker threads (file checks, thumbnails, folder listings, device checks, the
live loop's control and processing threads), delivered on the GUI thread to the object that asked,
only while it still exists.

Each of those threads used to emit a queued signal of the object waiting for its answer. When that
object was being deleted on the GUI thread at the same moment (the app quitting, a test's app torn
down), the event could be posted after Qt had cleared the object's pending events and before its
memory was freed: the GUI thread then delivered it to a freed object and the process died of a
segmentation fault (1 run in 8 of the GUI tests). The threads now emit on one relay that lives as long
as the process, and the relay calls the receiver on the GUI thread if it is still there.

A Qt object that a worker thread's object owns (``livecam run``'s preview window, owned by the output the
sender thread holds) is freed wherever that owner's last reference goes: on the sender's thread, a
widget deleted there while the GUI thread delivered its queued frame died of a bus error. Such an object
is :func:`hold`-en here instead, its owner keeping a weak reference, and :func:`release` lets go of it on
the GUI thread whichever thread asks.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any, Callable

from PySide6 import QtCore
from shiboken6 import isValid


class _Relay(QtCore.QObject):
    _call = QtCore.Signal(object, object)  # weakref.WeakMethod, tuple of arguments
    _release = QtCore.Signal(object)  # weakref.ref to an object held in _HELD

    def __init__(self) -> None:
        super().__init__()
        self.thread_id = threading.get_ident()
        self._call.connect(self._deliver, QtCore.Qt.ConnectionType.QueuedConnection)
        self._release.connect(_let_go, QtCore.Qt.ConnectionType.QueuedConnection)

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
_HELD: dict[int, QtCore.QObject] = {}  # read and changed on the GUI thread only


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


def hold(obj: QtCore.QObject) -> weakref.ref:
    """On the GUI thread: keep ``obj`` here until :func:`release`, so that its owner, which keeps only the
    weak reference returned, may be let go of on any thread without freeing ``obj`` there."""
    on_gui_thread()
    _HELD[id(obj)] = obj
    return weakref.ref(obj)


def release(ref: weakref.ref) -> None:
    """From any thread: free what :func:`hold` kept, at once on the GUI thread, else when its events run
    next (``ref`` is never followed off the GUI thread: the strong reference made would be the last)."""
    relay = _RELAY
    if relay is None:
        return
    if threading.get_ident() == relay.thread_id:
        _let_go(ref)
    else:
        relay._release.emit(ref)


def _let_go(ref: weakref.ref) -> None:
    obj = ref()
    if obj is not None and _HELD.get(id(obj)) is obj:
        del _HELD[id(obj)]
