"""Model runs with a deadline: a run that never returns costs the live loop seconds, not the session.

ONNX Runtime's ``run`` cannot be interrupted from outside (a GPU driver that stops answering, a
provider deadlocked in its own thread pool, a kernel that never ends), and the live loop calls it
on its only processing thread: one such run would leave the call on the "catching up" card for
good. So each session's runs happen on a thread of its own and the caller waits for the result
with a deadline. Past it the model is given up: the call raises the session's error (a
``ModelError``, so the analysis stage stops using that model and says so in one sentence, and the
output gate hides whatever needed it), every later call raises at once, and the stuck thread is
left behind, never handed another run. The first run gets far longer: providers build and tune
their kernels then (TensorRT's engines take minutes).

The hop costs two thread wake-ups a run (tens of microseconds), against 1-70 ms for the run. On a
machine whose cores are all busy each wake-up can wait for a core: with other programs keeping 2 cores
at load 4, the bench's "all" frames took 0.9-2.1 ms more wall time on average (median 0-0.5 ms, CPU
the same) than with the models run inline. That is the price of the deadline, and it is wall time only.
"""
from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import weakref
from typing import Any, Callable

from livecam.not_running import not_running_for

log = logging.getLogger(__name__)

HANG_S = 10.0  # no model LiveCam runs takes a tenth of this on a working CPU or GPU, even contended
FIRST_RUN_S = 60.0  # the first run allocates and plans; on a CPU it is a few times a normal run
FIRST_RUN_GPU_S = 900.0  # TensorRT builds its engine on the first run
# While a run given up elsewhere has not returned (a stalled driver stops every model at once), a
# warm model is given up after this, so the live loop pays one deadline, not one per model.
STALLED_S = 2.0
# An offline render keeps no viewer waiting, and at 8K one matting run takes seconds here (more on a
# slow laptop): only a run this long is a hang there.
OFFLINE_HANG_S = 300.0
_patient_s: float | None = None  # set while a render runs (see patience)

_stalled: set = set()  # jobs given up whose run has not returned yet
_stalled_lock = threading.Lock()


@contextlib.contextmanager
def patience(hang_s: float = OFFLINE_HANG_S):
    """Within this block a run is given up only after ``hang_s`` (an offline render: nobody watches
    the frames go by, so a slow run is no stall). The whole process waits this long: use it where
    nothing live runs beside, as ``livecam render`` does."""
    global _patient_s
    before, _patient_s = _patient_s, hang_s
    try:
        yield
    finally:
        _patient_s = before


def _limits(first_run_s: float, warm: bool) -> float:
    if _patient_s is not None:
        return max(_patient_s, first_run_s) if not warm else _patient_s
    limit = HANG_S if warm else first_run_s
    return min(limit, STALLED_S) if warm and _stalled else limit


class _Job:
    __slots__ = ("fn", "args", "box", "started", "__weakref__")

    def __init__(self, fn: Callable[..., Any], args: tuple) -> None:
        self.fn, self.args, self.box, self.started = fn, args, queue.SimpleQueue(), None


class RunGuard:
    """Runs one session's calls on a thread of its own, each with a deadline.

    ``error`` is the exception type raised when a run hangs (and on every call after); its message
    is one sentence naming ``name``. Calls from several threads queue up: a session runs one call
    at a time here, as the live loop asks it anyway.
    """

    def __init__(self, name: str, error: type[Exception], gpu: bool = False) -> None:
        self.name = name
        self.error = error
        self.first_run_s = FIRST_RUN_GPU_S if gpu else FIRST_RUN_S
        self.hung: str | None = None  # the sentence, once a run has not returned in time
        self._runs = 0
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # The worker holds only the queue, so a guard nobody uses any more ends its thread.
        weakref.finalize(self, self._jobs.put, None)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.hung:
            raise self.error(self.hung)
        self._start()
        job = _Job(fn, args)
        self._jobs.put(job)
        limit = _limits(self.first_run_s, warm=self._runs > 0)
        excused = 0.0  # seconds of the run's time the process was seen not to run
        while True:
            started = job.started
            asked = time.monotonic()
            # The deadline runs from the start of this run: one queued behind another caller's run waits for it.
            wait = limit if started is None else started + excused + limit - asked
            try:
                ok, value = job.box.get(timeout=max(0.0, wait))
                break
            except queue.Empty:
                pass
            now = time.monotonic()
            if not_running_for(asked, wait, now) and job.started is not None:
                # Stopped and continued: the run gets its deadline afresh from now. Judged on the
                # clock, a Ctrl+Z of 10 s gave the person mask model up for good ("restart LiveCam").
                excused = now - job.started
                continue
            if job.started is None and not self.hung:
                continue  # still queued behind a run that has its own deadline
            if job.started is not None and now - job.started - excused < limit:
                continue
            with _stalled_lock:
                if not job.box.empty():  # it returned just now
                    ok, value = job.box.get()
                    break
                if job.started is not None:
                    _stalled.add(job)
            if not self.hung:
                self.hung = (f"The {self.name} model stopped answering (no result in {limit:g} s: a driver or model "
                             "fault); LiveCam goes on without it and hides the picture wherever an effect you chose "
                             "cannot work without it. Restart LiveCam; if it happens again, run livecam doctor or "
                             "choose the CPU as the provider.")
                log.error("%s", self.hung)
            raise self.error(self.hung) from None
        self._runs += 1
        if not ok:
            raise value
        return value

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=_serve, args=(self._jobs,), daemon=True,
                                          name=f"livecam-model-{self.name}")
                # Kept only once it runs: a start that failed ("can't start new thread", the process at its
                # thread limit) left a thread that never ran, and every later call queued behind it for good.
                thread.start()
                self._thread = thread


def _serve(jobs: queue.SimpleQueue) -> None:
    while (job := jobs.get()) is not None:
        job.started = time.monotonic()
        try:
            out = (True, job.fn(*job.args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised on its thread
            out = (False, exc)
        with _stalled_lock:
            _stalled.discard(job)
            job.box.put(out)
        del job, out  # nothing of a finished run (its arrays, its session) stays referenced
