"""The live loop: source → pipeline → paced output, on its own thread.

``LiveRunner`` always takes the newest captured frame (latest frame wins), so latency cannot build
up, and hands the result to the output's pacer with the frame's capture time (the pacer's latency
figure runs from capture to sending, so it counts any wait a frame spends in the pipeline).

With ``runtime.pipelining`` on (off by default: see settings) and two or more cores, a second
thread analyses frame n+1 (person mask, faces) while frame n composites. That only happens when
frame n+1 has already been captured by then, i.e. when processing is slower than the camera; at a
camera's pace there is nothing to overlap and frames go through one at a time as before. Effects that change the picture before the
analysis (low light) need the analysis to see their output, so with one of them on, frames go
through one at a time.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from livecam.output_gate import safe_frame
from livecam.pipeline import Pipeline, describe

log = logging.getLogger(__name__)
trace = logging.getLogger("livecam.trace")


class LiveRunner:
    """Runs source → pipeline → paced output on a worker thread until stopped or ``frames`` are done."""

    def __init__(self, source, pipeline: Pipeline, sender, frames: int = 0, pipelining: bool | None = None) -> None:
        self.source = source
        self.pipeline = pipeline
        self.sender = sender
        if pipelining is None:
            runtime = getattr(getattr(pipeline, "settings", None), "runtime", None)
            pipelining = bool(getattr(runtime, "pipelining", False))
        # A source that is also the sender (the GUI's tap) pairs each input with the next output, so
        # it needs frames in lockstep.
        self.pipelining = pipelining and usable_cores() >= 2 and source is not sender
        self.overlapped = 0  # frames whose analysis ran while the frame before them composited
        self.frames = frames  # stop after this many processed frames; 0 = run until stop()
        self.processed = 0
        self.errors = 0  # frames whose processing raised (each went out as the safe frame)
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="livecam-pipeline", daemon=True)
        self.done = threading.Event()

    def start(self) -> "LiveRunner":
        self._thread.start()
        return self

    def _loop(self) -> None:
        prefetch = Prefetch(self.pipeline) if self.pipelining else None
        last, ahead = -1, None
        try:
            while not self._stop.is_set():
                if ahead is not None:
                    frame, ahead = ahead, None
                else:
                    frame = self.source.latest(after=last, timeout=0.5)
                    if frame is None or frame.index == last:
                        continue
                    if prefetch is not None:
                        prefetch.start(frame)
                last = frame.index
                if prefetch is not None:
                    # A newer frame already waiting: its analysis starts now, beside this frame's effects.
                    newer = self.source.latest(after=last, timeout=0.0)
                    if newer is not None and newer.index > last and prefetch.start(newer):
                        ahead = newer
                        self.overlapped += 1
                self.sender.submit(self._process(frame), frame.t)
                self.processed += 1
                if self.frames and self.processed >= self.frames:
                    break
        except Exception as exc:  # the source or the output broke: report, don't die silently
            self.error = f"Processing stopped: {exc}"
            log.exception("Processing stopped")
        finally:
            if prefetch is not None:
                prefetch.close()
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

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


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
    (``apply``) or a reset from meeting an analysis half-way."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._analyzer = pipeline.analyzer
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="livecam-analysis")
        self._ahead: dict[int, tuple[frozenset, Future]] = {}  # id(picture) → (needs, analysis)
        pipeline.analyzer = self

    def start(self, frame) -> bool:
        """Analyse ``frame`` ahead, unless it cannot be (a placeholder, or an effect that changes the
        picture before the analysis)."""
        if frame.placeholder or any(e.stage == "pre" for e in self._pipeline.effects):
            return False
        needs = frozenset(self._pipeline.needs())
        self._ahead[id(frame.image)] = (needs, self._pool.submit(self._analyse, frame.image, needs, frame.t))
        return True

    def _analyse(self, image, needs, t):
        t0 = time.perf_counter()
        with self._lock:
            result = self._analyzer.analyze(image, needs, t=t)
        result.timings["analysis"] = (time.perf_counter() - t0) * 1e3
        return result

    def analyze(self, image, needs, t=None):
        ahead = self._ahead.pop(id(image), None)
        if ahead is not None:
            wanted, future = ahead
            result = future.result()
            if wanted == frozenset(needs):
                return result
        self._ahead.clear()  # analysed ahead but never asked for (an effect changed the picture first)
        with self._lock:  # not analysed ahead (or for other needs): now, after anything in flight
            return self._analyzer.analyze(image, needs, t=t)

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
