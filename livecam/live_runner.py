"""The live loop: source → pipeline → paced output, on its own thread.

``LiveRunner`` always takes the newest captured frame (latest frame wins, one in flight), so latency
cannot build up, and hands the result to the output's pacer.
"""
from __future__ import annotations

import logging
import threading

import numpy as np

from livecam.effects.conceal import conceal
from livecam.pipeline import Pipeline, describe

log = logging.getLogger(__name__)
trace = logging.getLogger("livecam.trace")


class LiveRunner:
    """Runs source → pipeline → paced output on a worker thread until stopped or ``frames`` are done."""

    def __init__(self, source, pipeline: Pipeline, sender, frames: int = 0) -> None:
        self.source = source
        self.pipeline = pipeline
        self.sender = sender
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
        last = -1
        try:
            while not self._stop.is_set():
                frame = self.source.latest(after=last, timeout=0.5)
                if frame is None or frame.index == last:
                    continue
                last = frame.index
                self.sender.submit(self._process(frame), frame.t)
                self.processed += 1
                if self.frames and self.processed >= self.frames:
                    break
        except Exception as exc:  # the source or the output broke: report, don't die silently
            self.error = f"Processing stopped: {exc}"
            log.exception("Processing stopped")
        finally:
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
            return conceal(frame.image)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)
