"""The pipeline: capture → (pre effects) → analysis → effects → output, one frame at a time.

``Pipeline.process`` turns one image into one output image; offline rendering, the benchmark and
the live loop all use it. ``LiveRunner`` owns the live loop on its own thread: it always takes the
newest captured frame (latest frame wins, one in flight), so latency cannot build up, and hands the
result to the output's pacer. Settings swap between frames: front ends call ``apply(settings)``
from any thread and the very next frame uses them.
"""
from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from livecam.analysis import Analyzer
from livecam.effects import EFFECT_BUILDERS, EFFECT_SECTIONS
from livecam.perf import tune_allocator
from livecam.settings import Settings, changed_sections
from livecam.types import Analysis

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, settings: Settings) -> None:
        tune_allocator()
        self.settings = settings
        self.analyzer = Analyzer(settings)
        self.errors: dict[str, str] = {}  # chain slot → plain sentence of why it is not what was asked
        self._effects: dict[str, Any] = {}
        self._pending: Settings | None = None
        self._lock = threading.Lock()
        self._analysis = Analysis()
        self._timings: dict[str, deque[float]] = {}
        self.last_timings: dict[str, float] = {}
        for slot in EFFECT_BUILDERS:
            self._build(slot, settings)

    # ------------------------------------------------------------ settings
    def apply(self, settings: Settings) -> None:
        """Use ``settings`` from the next frame on (thread-safe, non-blocking)."""
        with self._lock:
            self._pending = settings

    def _swap(self) -> None:
        with self._lock:
            new, self._pending = self._pending, None
        if new is None or new == self.settings:
            return
        changed = changed_sections(self.settings, new)
        self.analyzer.apply(new)
        old, self.settings = self.settings, new
        for slot, sections in EFFECT_SECTIONS.items():
            if changed.intersection(sections):
                self._build(slot, new, fallback=self._effects.get(slot))
        log.debug("settings changed: %s", ", ".join(sorted(changed)))
        del old

    def _build(self, slot: str, settings: Settings, fallback: Any = None) -> None:
        try:
            effect = EFFECT_BUILDERS[slot](settings)
        except (ValueError, RuntimeError, OSError, ImportError) as exc:
            # A bad file (unreadable background, avatar photo without a face) keeps the last good effect.
            self.errors[slot] = str(exc)
            log.error("%s Keeping the previous %s setting.", exc, slot.replace("_", " "))
            return
        self.errors.pop(slot, None)
        previous = self._effects.get(slot)
        if previous is not None and previous is not effect and hasattr(previous, "close"):
            previous.close()
        if effect is None:
            self._effects.pop(slot, None)
        else:
            self._effects[slot] = effect

    @property
    def effects(self) -> list[Any]:
        return [effect for _, effect in self._chain()]

    def _chain(self) -> list[tuple[str, Any]]:
        return [(slot, self._effects[slot]) for slot in EFFECT_BUILDERS if slot in self._effects]

    def needs(self) -> set[str]:
        return set().union(*(e.needs for e in self.effects)) if self._effects else set()

    # ------------------------------------------------------------ frames
    def process(self, image: np.ndarray, t: float | None = None) -> np.ndarray:
        """One BGR uint8 frame in, one out (same size). ``t``: capture time, when known."""
        self._swap()
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        chain = self._chain()
        for slot, effect in chain:
            if effect.stage == "pre":
                ts = time.perf_counter()
                image = effect.apply(image, self._analysis)
                timings[slot] = (time.perf_counter() - ts) * 1e3
        analysis = self.analyzer.analyze(image, self.needs(), t=t)
        timings.update(analysis.timings)
        for slot, effect in chain:
            if effect.stage == "post":
                ts = time.perf_counter()
                image = effect.apply(image, analysis)
                timings[slot] = (time.perf_counter() - ts) * 1e3
        timings["total"] = (time.perf_counter() - t0) * 1e3
        self._analysis = analysis
        self.last_timings = timings
        for name, ms in timings.items():
            self._timings.setdefault(name, deque(maxlen=120)).append(ms)
        return image

    def recapture_neutral(self) -> None:
        """Photo avatar: take the wearer's next face as the new neutral pose."""
        effect = self._effects.get("avatar")
        if hasattr(effect, "recapture"):
            effect.recapture()

    @property
    def last_analysis(self) -> Analysis:
        return self._analysis

    def stage_ms(self) -> dict[str, float]:
        """Median milliseconds per stage over the last ~120 frames."""
        # list() snapshots: front ends call this from their own threads while frames add stages.
        return {k: statistics.median(list(v)) for k, v in list(self._timings.items()) if v}

    def providers(self) -> dict[str, str]:
        return self.analyzer.providers()

    def problems(self) -> list[str]:
        return list(self.errors.values()) + list(self.analyzer.broken.values())

    def close(self) -> None:
        for effect in self.effects:
            if hasattr(effect, "close"):
                effect.close()


class LiveRunner:
    """Runs source → pipeline → paced output on a worker thread until stopped or ``frames`` are done."""

    def __init__(self, source, pipeline: Pipeline, sender, frames: int = 0) -> None:
        self.source = source
        self.pipeline = pipeline
        self.sender = sender
        self.frames = frames  # stop after this many processed frames; 0 = run until stop()
        self.processed = 0
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
                if frame.placeholder:
                    out = frame.image  # the "camera disconnected" card goes out unprocessed
                else:
                    out = self.pipeline.process(frame.image, frame.t)
                self.sender.submit(out, frame.t)
                self.processed += 1
                if self.frames and self.processed >= self.frames:
                    break
        except Exception as exc:  # report, don't die silently: front ends show this sentence
            self.error = f"Processing stopped: {exc}"
            log.exception("Processing stopped")
        finally:
            self.done.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)
