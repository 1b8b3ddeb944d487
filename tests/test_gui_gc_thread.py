"""The tray app's cycle collector runs on the GUI thread: a Qt object with a running timer, left in a reference
cycle, is freed there, not on a worker thread that happens to allocate (there Qt cannot stop its timer, and the
next timer event crashes the process)."""
from __future__ import annotations

import gc
import threading

import pytest

pytest.importorskip("PySide6")


def _garbage_on_a_worker(cycles: int = 50_000) -> None:
    """Allocate on a worker thread as the pipeline does, leaving cyclic garbage (which only a collection frees)."""
    def churn():
        for _ in range(cycles):
            a = []
            a.append(a)

    worker = threading.Thread(target=churn, name="worker")
    worker.start()
    worker.join()


class _Freed:
    def __init__(self, where: list) -> None:
        self.where = where

    def __del__(self) -> None:
        self.where.append(threading.current_thread().name)


def test_without_the_collector_a_cycle_is_freed_on_the_thread_that_allocates():
    """self-check: the failure needs nothing but a worker allocating (no Qt object here: that would crash)."""
    assert gc.isenabled()
    where: list = []
    cycle = [_Freed(where)]
    cycle.append(cycle)
    del cycle
    _garbage_on_a_worker()
    assert where == ["worker"]


def test_a_qt_object_with_a_running_timer_in_a_cycle_is_freed_on_the_gui_thread(qtbot, qtlog):
    from PySide6 import QtCore

    from livecam.gui.gc_thread import GuiThreadCollector

    class Holder(QtCore.QObject):
        def __init__(self, where: list) -> None:
            super().__init__()
            self.timer = QtCore.QTimer(self, interval=50)
            self.timer.timeout.connect(self.tick)  # a bound method: the holder is in a cycle with its timer
            self.timer.start()
            self.freed = _Freed(where)
            self.me = self

        def tick(self) -> None:
            pass

    collector = GuiThreadCollector(interval_ms=20)
    collector.start()
    try:
        where: list = []
        holder = Holder(where)
        qtbot.wait(120)  # its timer really runs
        del holder
        for _ in range(400):  # a pipeline thread allocating between the collector's ticks
            _garbage_on_a_worker(2_000)
            assert "worker" not in where, "the worker's allocations freed the Qt object on the worker thread"
            qtbot.wait(25)
            if where:
                break
        assert where == [threading.main_thread().name]
        qtbot.wait(120)  # a timer event for a freed object would arrive here
    finally:
        collector.stop()
    assert gc.isenabled(), "automatic collection was not given back"
    assert not [r for r in qtlog.records if "another thread" in r.message]


def test_the_collector_keeps_the_generational_schedule():
    """Each generation is collected as often as its threshold says, and no more: cyclic garbage goes, and a
    full collection (the only one that takes tens of ms on the GUI thread) stays rare."""
    from livecam.gui.gc_thread import GuiThreadCollector

    gc.collect()
    before = [stat["collections"] for stat in gc.get_stats()]
    thresholds = gc.get_threshold()
    gc.disable()
    try:
        for _ in range(2 * (thresholds[1] + 2) * (thresholds[2] + 2)):
            for _ in range(2 * thresholds[0]):
                junk = []
                junk.append(junk)  # garbage only a collection frees, as automatic collection counts it
            del junk
            GuiThreadCollector.collect_due()
    finally:
        gc.enable()
    young, middle, full = (stat["collections"] - b for stat, b in zip(gc.get_stats(), before))
    assert young > 0 and 1 <= middle <= young // thresholds[1] + 1 and 1 <= full <= middle // thresholds[2] + 1, \
        (young, middle, full)
