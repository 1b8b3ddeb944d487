"""Answers from daemon threads reach the object that asked on the GUI thread, and never an object
deleted meanwhile (livecam.gui.relay). Before, each thread emitted a queued signal of the receiver
itself, and the GUI tests died of a segmentation fault about one run in eight when a test's app was
torn down while a thumbnail or a folder listing came back."""
from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

QtCore = pytest.importorskip("PySide6.QtCore")
shiboken6 = pytest.importorskip("shiboken6")

from livecam.gui import relay  # noqa: E402


class _Asker(QtCore.QObject):
    def __init__(self) -> None:
        super().__init__()
        relay.on_gui_thread()
        self.got: list[tuple] = []
        self.on = threading.get_ident()

    def take(self, *args) -> None:
        self.got.append((threading.get_ident(), args))


def _from_a_thread(method, *args) -> None:
    thread = threading.Thread(target=relay.answer, args=(method, *args))
    thread.start()
    thread.join()


def test_an_answer_reaches_its_asker_on_the_gui_thread(qapp):
    asker = _Asker()
    _from_a_thread(asker.take, 1, "one")
    assert asker.got == []  # not called on the thread that answered
    qapp.processEvents()
    assert asker.got == [(asker.on, (1, "one"))]


def test_an_answer_to_a_deleted_asker_is_dropped(qapp):
    asker = _Asker()
    _from_a_thread(asker.take, 2)
    shiboken6.delete(asker)  # the app quit between the answer and its delivery
    qapp.processEvents()
    assert not shiboken6.isValid(asker) and asker.got == []


def test_an_answer_to_a_collected_asker_is_dropped(qapp):
    asker = _Asker()
    got = asker.got
    _from_a_thread(asker.take, 3)
    del asker
    qapp.processEvents()
    assert got == []
