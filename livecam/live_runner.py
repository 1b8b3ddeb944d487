"""The live loop: source → pipeline → paced output, on its own thread.

``LiveRunner`` always takes the newest captured frame (latest frame wins), so latency cannot build
up, and hands the result to the output's pacer with the frame's capture time (the pacer's latency
figure runs from capture to sending, so it counts any wait a frame spends in the pipeline).

With pipelining on and two or more cores, a second thread analyses frame n+1 (person mask, faces)
while frame n composites. That only happens when frame n+1 has already been captured by then, i.e.
when processing is slower than the camera; at a camera's pace there is nothing to overlap and
frames go through one at a time as before. Effects that change the picture before the analysis
(low light) need the analysis to see their output, so with one of them on, frames go through one
at a time. ``runtime.pipelining`` "auto" (the default) turns it on and off as the loop runs
(AutoPipelining): only while one frame at a time takes most of the camera's frame interval, and
only while it really shortens the time between frames.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import statistics
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from livecam.imaging import as_bgr8, cover_fit
from livecam.messages import describe
from livecam.not_running import NOT_RUNNING_S
from livecam.output_gate import OutputGate, safe_frame
from livecam.pipeline import Pipeline, as_picture

log = logging.getLogger(__name__)
trace = logging.getLogger("livecam.trace")


class LiveRunner:
    """Runs source → pipeline → paced output on a worker thread until stopped or ``frames`` are done."""

    def __init__(self, source, pipeline: Pipeline, sender, frames: int = 0, pipelining: bool | str | None = None) -> None:
        """``pipelining``: True/"on", False/"off" or "auto"; None: as the pipeline's settings say."""
        self.source = source
        self.pipeline = pipeline
        self.sender = sender
        if pipelining is None:
            runtime = getattr(getattr(pipeline, "settings", None), "runtime", None)
            pipelining = getattr(runtime, "pipelining", "off")
        mode = ("on" if pipelining else "off") if isinstance(pipelining, bool) else pipelining
        # A source that is also the sender (the GUI's tap) pairs each input with the next output, so
        # it needs frames in lockstep.
        possible = usable_cores() >= 2 and source is not sender
        self.pipelining = mode == "on" and possible  # now; "auto" changes it as the loop runs
        self.auto = AutoPipelining() if mode == "auto" and possible else None
        self.overlapped = 0  # frames whose analysis ran while the frame before them composited
        self.frames = frames  # stop after this many processed frames; 0 = run until stop()
        self.processed = 0
        self.errors = 0  # frames whose processing raised (each went out as the safe frame)
        self.error: str | None = None
        self._logged: set[str] = set()  # sentences already logged once
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="livecam-pipeline", daemon=True)
        self.done = threading.Event()

    def start(self) -> "LiveRunner":
        self._thread.start()
        return self

    def _loop(self) -> None:
        prefetch = Prefetch(self.pipeline) if self.pipelining else None
        self.pipeline.pipelined = prefetch is not None
        last, ahead = -1, None
        try:
            while not self._stop.is_set():
                if ahead is not None:
                    frame, ahead = ahead, None
                else:
                    frame = self.source.latest(after=last, timeout=0.5)
                    if frame is None or frame.index == last:
                        continue
                    frame = _as_picture(frame)
                    if prefetch is not None:
                        prefetch.start(frame)
                last = frame.index
                if prefetch is not None and (self.auto is None or self.auto.on):  # auto going off: drain
                    # A newer frame already waiting: its analysis starts now, beside this frame's effects.
                    newer = self.source.latest(after=last, timeout=0.0)
                    newer = _as_picture(newer) if newer is not None and newer.index > last else None
                    if newer is not None and prefetch.start(newer):
                        ahead = newer
                        self.overlapped += 1
                self._submit(self._process(frame), frame.t)
                self.processed += 1
                if self.frames and self.processed >= self.frames:
                    break
                if self.auto is not None and not frame.placeholder and frame.t is not None:
                    want = self.auto.observe(frame.index, frame.t, self.pipeline.last_timings, time.perf_counter())
                    if want != (prefetch is not None) and ahead is None:  # switched between frames, none in flight
                        if want:
                            prefetch = Prefetch(self.pipeline)
                        else:
                            prefetch.close()
                            prefetch = None
                        self.pipelining = self.pipeline.pipelined = want
                        log.info("Pipelining %s: %s", "on" if want else "off", self.auto.reason)
        except Exception as exc:  # the source or the output broke: report, don't die silently
            self.error = f"Processing stopped: {exc}"
            log.exception("Processing stopped")
        finally:
            if prefetch is not None:
                prefetch.close()
            self.pipeline.pipelined = False
            self.done.set()

    def _process(self, frame) -> np.ndarray:
        if frame.placeholder:
            return frame.image  # the "camera disconnected" card goes out unprocessed
        try:
            return self.pipeline.process(frame.image, frame.t)
        except Exception as exc:  # noqa: BLE001 - the pipeline isolates effects; this guards the rest
            self.errors += 1
            if self.errors == 1:
                log.error("Processing a frame failed (%s); the frame went out hidden and LiveCam carries on.",
                          describe(exc))
                trace.debug("frame failed", exc_info=exc)
            return safe_frame(frame.image, getattr(self.pipeline, "gate", None))  # cannot raise

    def _submit(self, image: np.ndarray, t: float) -> None:
        """Hand ``image`` to the sender; a frame the output refuses (another size or layout) goes out
        fitted to the output, or as its card, and costs that frame, not the stream: raised, it ended the
        live loop (nothing sent again, the preview frozen) for one odd frame."""
        try:
            self.sender.submit(image, t)
            return
        except (TypeError, ValueError) as exc:
            output = getattr(self.sender, "output", None)
            if output is None or not hasattr(output, "width"):
                raise
            refused = exc
        self.errors += 1
        size = (int(output.width), int(output.height))
        if "refused" not in self._logged:
            self._logged.add("refused")
            log.error("The %s refused a frame (%s); LiveCam fits such frames to %dx%d and carries on.",
                      getattr(output, "description", "output"), refused, *size)
        fitted = as_bgr8(image)  # a safe frame already: fitting it shows no more than it does
        gate = getattr(self.pipeline, "gate", None)
        try:
            fitted = cover_fit(fitted, size) if fitted is not None else None
        except Exception as exc:  # noqa: BLE001 - a picture OpenCV cannot scale: the card
            trace.debug("fitting a refused frame failed", exc_info=exc)
            fitted = None
        if fitted is None:
            fitted = (gate if isinstance(gate, OutputGate) else OutputGate()).card(shape=(size[1], size[0]))
        self.sender.submit(fitted, t)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


# "auto" pipelining. It pays only where frames wait on processing: one frame at a time taking more
# than AUTO_ON of the camera's frame interval (at a camera's pace there is nothing to overlap, and
# the second thread's hand-offs only add latency); it goes off again under AUTO_OFF (a gap, so it
# does not flip on every window). Decided every AUTO_WINDOW frames, from means. On a 2-core
# machine another program may hold the second core: then the frames come no faster pipelined, and
# it stays off for AUTO_RETRY windows before trying again.
AUTO_ON = 0.8
AUTO_OFF = 0.6
AUTO_WINDOW = 30
AUTO_RETRY = 10
AUTO_GAIN = 0.95  # pipelined, the time between frames must fall below this share of one at a time
_NOT_WORK = frozenset({"total", "analysis"})  # "analysis" is the pipelined stages' sum, counted once


class AutoPipelining:
    """Decides, frame by frame, whether pipelining would lower the time between frames now.

    ``observe`` takes each processed frame's camera index and capture time, the pipeline's stage
    timings and the time it went out, and returns whether pipelining should be on. The work of one
    frame is the sum of its stages (the analysis counts whether it ran on this thread or beside
    it), the camera's frame interval is measured from the capture times, and the time between
    frames from when they went out."""

    def __init__(self) -> None:
        self.on = False
        self.reason = "not measured yet"
        self._work: deque[float] = deque(maxlen=AUTO_WINDOW)
        self._period: deque[float] = deque(maxlen=AUTO_WINDOW)
        self._first: tuple[int, float] | None = None  # (camera index, capture time) at the window's start
        self._last: tuple[int, float] | None = None
        self._out: float | None = None
        self._serial_period: float | None = None  # ms between frames one at a time, before switching on
        self._wait = 0  # windows left before another try after pipelining did not help

    def observe(self, index: int, t: float, timings: dict[str, float], now: float) -> bool:
        self._work.append(sum(v for k, v in timings.items() if k not in _NOT_WORK))
        if self._out is not None:
            self._period.append((now - self._out) * 1e3)
        self._out = now
        if self._first is None:
            self._first = (index, t)
        self._last = (index, t)
        if len(self._work) < AUTO_WINDOW or len(self._period) < AUTO_WINDOW - 1:
            return self.on
        (i0, t0), (i1, t1) = self._first, self._last
        interval = (t1 - t0) * 1e3 / (i1 - i0) if i1 > i0 and t1 > t0 else None
        # Means: with the model on one frame in two, frames alternate between two costs.
        work, period = statistics.fmean(self._work), statistics.fmean(self._period)
        # A frame that went out a second or more later than the window's usual spacing spans time
        # the process did not run (stopped and continued) or a stall: its timings say nothing of the
        # load. Counted, pipelining turned on for a window after every Ctrl+Z and fg.
        gap = max(self._period) - statistics.median(self._period) > NOT_RUNNING_S * 1e3
        self._work.clear()
        self._period.clear()
        self._first = None
        if interval is not None and not gap:
            self.on = self._decide(work, period, interval)
        return self.on

    def _decide(self, work: float, period: float, interval: float) -> bool:
        share = f"one frame takes {work:.1f} ms of the camera's {interval:.1f} ms"
        if not self.on:
            if self._wait > 0:
                self._wait -= 1
                return False
            if work > AUTO_ON * interval:
                self._serial_period, self.reason = period, share
                return True
            self.reason = share
            return False
        if work < AUTO_OFF * interval:
            self.reason = share
            return False
        serial = self._serial_period
        # Only where frames waited on processing one at a time can the gain be seen in their spacing.
        if serial is not None and serial > 1.1 * interval and period > AUTO_GAIN * serial:
            self._wait = AUTO_RETRY
            self.reason = (f"frames came {period:.1f} ms apart pipelined against {serial:.1f} one at a time "
                           "(another program may hold the second core)")
            return False
        return True


def _as_picture(frame):
    """``frame`` with its picture made BGR uint8 here, once (``Pipeline.process`` would do it too, but to
    a new array): the analysis started ahead must be of the very picture the pipeline composites, or a
    BGRA, 16-bit or strided camera frame was analysed twice, the first time as it came."""
    if frame.placeholder:
        return frame
    image = as_picture(frame.image)
    return frame if image is None or image is frame.image else dataclasses.replace(frame, image=image)


def usable_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Prefetch:
    """Stands in for the pipeline's analyzer while the runner pipelines: ``start(frame)`` analyses a
    frame on a second thread; when the pipeline then asks for that very picture's analysis it gets
    the result (waiting for it if need be), and anything else is analysed on the spot. Frames are
    analysed in the order they were started, so the analyzer's memory of earlier frames (smoothed
    mask, motion gate, face tracking) sees them in order. One lock keeps a settings change
    (``apply``) or a reset from meeting an analysis half-way.

    ``missing`` is the analyzer's ``missing`` as the analysis of the picture last asked for left it:
    the analyzer's own attribute already belongs to the next frame, whose analysis resets it at its
    start (read there, a face model failing on every frame let frames out unhidden)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._analyzer = pipeline.analyzer
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="livecam-analysis")
        # id(picture) → (picture, needs, analysis); the picture is held so that its id cannot be
        # reused by a later picture while the entry stands.
        self._ahead: dict[int, tuple[np.ndarray, frozenset, Future]] = {}
        self.missing: set[str] = set(getattr(self._analyzer, "missing", ()))
        self._refused = False  # the pool's thread could not start: nothing is analysed ahead
        pipeline.analyzer = self

    def start(self, frame) -> bool:
        """Analyse ``frame`` ahead, unless it cannot be (a placeholder, or an effect that changes the
        picture before the analysis)."""
        if frame.placeholder or any(e.stage == "pre" for e in self._pipeline.effects):
            return False
        if as_picture(frame.image) is not frame.image:
            return False  # not a picture the pipeline analyses as it is (it makes the card of it)
        needs = frozenset(self._pipeline.needs())
        try:
            analysis = self._pool.submit(self._analyse, frame.image, needs, frame.t)
        except RuntimeError as exc:
            # No second thread to be had ("can't start new thread": the process or the system at its limit):
            # this frame and every later one is analysed in line, as without pipelining. It used to end
            # processing ("Processing stopped") with a traceback. The item the pool queued before its
            # thread failed is dropped, never analysed late, out of order, by a thread started later.
            self._pool.shutdown(wait=False, cancel_futures=True)
            if not self._refused:
                self._refused = True
                log.warning("Pipelining off: LiveCam could not start its second thread (%s); each frame is "
                            "analysed in turn.", exc)
            return False
        self._ahead[id(frame.image)] = (frame.image, needs, analysis)
        return True

    def _analyse(self, image, needs, t):
        """(the analysis, what it left missing)."""
        t0 = time.perf_counter()
        with self._lock:
            result = self._analyzer.analyze(image, needs, t=t)
            missing = set(self._analyzer.missing)
        result.timings["analysis"] = (time.perf_counter() - t0) * 1e3
        return result, missing

    def analyze(self, image, needs, t=None):
        # Until an analysis says otherwise, everything asked for is missing (one that raises proves nothing).
        self.missing = set(needs)
        key = id(image)
        if key in self._ahead:
            for older in list(self._ahead):
                if older == key:
                    break
                del self._ahead[older]  # started before this picture and never asked for
        ahead = self._ahead.pop(key, None)
        if ahead is not None and ahead[0] is image:
            _, wanted, future = ahead
            if wanted == frozenset(needs):
                result, self.missing = future.result()
                return result
            try:
                future.result()  # in order: it finishes before this picture is analysed again
            except Exception:  # noqa: BLE001 - its result is not used
                pass
        self._ahead.clear()  # analysed ahead but never asked for (an effect changed the picture first)
        with self._lock:  # not analysed ahead (or for other needs): now, after anything in flight
            result = self._analyzer.analyze(image, needs, t=t)
            self.missing = set(self._analyzer.missing)
        return result

    def apply(self, settings) -> None:
        with self._lock:
            self._analyzer.apply(settings)

    def reset(self) -> None:
        with self._lock:
            self._analyzer.reset()

    def __getattr__(self, name):
        return getattr(self._analyzer, name)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._ahead.clear()
        self._pipeline.analyzer = self._analyzer
