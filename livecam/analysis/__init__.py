"""The analysis stage: runs only the models that the enabled effects need and returns an Analysis.

It never changes pixels. When inference fails it logs once and keeps the last good result, so a
bad frame never drops the person from the picture.
"""
from __future__ import annotations

import logging
import time

import numpy as np

import cv2

from livecam.analysis.temporal import frame_motion, refine_mask, smooth_mask, to_frame_mask
from livecam.settings import Settings
from livecam.types import Analysis

log = logging.getLogger(__name__)

# The settings sections whose change means new model sessions (expensive); everything else is cheap.
SESSION_SECTIONS = {"segmentation": ("model",), "face": ("detector",), "runtime": ("provider", "threads")}


class Analyzer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._segmenter = None
        self._tracker = None
        self._mask: np.ndarray | None = None  # smoothed model-resolution mask of the previous frame
        self._grey: np.ndarray | None = None  # previous small grey frame, for motion-adaptive smoothing
        self._last = Analysis()
        self._failed: set[str] = set()
        self.broken: dict[str, str] = {}  # what cannot run until settings change → why (plain sentence)

    # Sessions open lazily, on the first frame that needs them, so "blur off" costs no model load.
    @property
    def segmenter(self):
        if self._segmenter is None:
            from livecam.analysis.segmenter import Segmenter

            s = self.settings
            self._segmenter = Segmenter(s.segmentation.model, s.runtime.provider, s.runtime.threads)
        return self._segmenter

    @property
    def tracker(self):
        if self._tracker is None:
            from livecam.analysis.face_tracker import FaceTracker

            self._tracker = FaceTracker(self.settings.face, self.settings.runtime)
        return self._tracker

    def providers(self) -> dict[str, str]:
        """Model name → the provider it really runs on, for the models opened so far."""
        out = {}
        if self._segmenter is not None:
            out[self._segmenter.session.name] = self._segmenter.provider
        if self._tracker is not None and hasattr(self._tracker, "providers"):
            out.update(self._tracker.providers())
        return out

    def apply(self, settings: Settings) -> None:
        old, self.settings = self.settings, settings
        for section, keys in SESSION_SECTIONS.items():
            if any(getattr(getattr(old, section), k) != getattr(getattr(settings, section), k) for k in keys):
                if section in ("segmentation", "runtime"):
                    self._segmenter, self._mask, self._grey = None, None, None
                    self.broken.pop("mask", None)
                if section in ("face", "runtime"):
                    self._tracker = None
                    self.broken.pop("faces", None)
        if self._tracker is not None and old.face != settings.face and hasattr(self._tracker, "apply"):
            self._tracker.apply(settings.face)

    def analyze(self, image: np.ndarray, needs: set[str] | frozenset[str], t: float | None = None) -> Analysis:
        """``t`` is the capture time (seconds); the landmark jitter filter uses the real frame spacing."""
        result = Analysis()
        timings = result.timings
        if "mask" in needs and "mask" not in self.broken:
            self._segment(image, result, timings)
        if ("faces" in needs or "iris" in needs) and "faces" not in self.broken:
            t0 = time.perf_counter()
            try:
                tracker = self._open("faces", lambda: self.tracker)
                if tracker is None:
                    return result
                result.faces = tracker.process(image, want_iris="iris" in needs, t=t)
                self._failed.discard("faces")
            except Exception as exc:  # keep the last faces rather than dropping the effect for a frame
                self._warn_once("faces", exc)
                result.faces = self._last.faces
            timings["faces"] = (time.perf_counter() - t0) * 1e3
        self._last = result
        return result

    def _segment(self, image: np.ndarray, result: Analysis, timings: dict[str, float]) -> None:
        h, w = image.shape[:2]
        seg = self._open("mask", lambda: self.segmenter)
        if seg is None:
            return
        try:
            t0 = time.perf_counter()
            small = seg.shrink(image)
            tensor = seg.to_tensor(small)
            t1 = time.perf_counter()
            raw = seg.infer(tensor)
            t2 = time.perf_counter()
            self._failed.discard("mask")
        except Exception as exc:
            self._warn_once("mask", exc)
            if self._last.mask is not None and self._last.mask.shape == (h, w):
                result.mask = self._last.mask
            return
        seg_settings = self.settings.segmentation
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        self._mask = smooth_mask(self._mask, raw, frame_motion(self._grey, grey), seg_settings.temporal_smoothing)
        self._grey = grey
        refined = refine_mask(grey, self._mask) if seg_settings.refine else self._mask
        result.raw_mask, result.small, result.small_mask = raw, small, refined
        result.mask = to_frame_mask(refined, (w, h))
        t3 = time.perf_counter()
        timings.update(preprocess=(t1 - t0) * 1e3, inference=(t2 - t1) * 1e3, refine=(t3 - t2) * 1e3)

    def _open(self, what: str, opener):
        """Open a model once; a load failure (missing/corrupt file) is remembered, not retried per frame."""
        from livecam.analysis.runtime import ModelError

        try:
            return opener()
        except (ModelError, ValueError, ImportError) as exc:
            self.broken[what] = str(exc)
            log.error("%s The %s effects are paused until the settings change.", exc, what)
            return None

    def _warn_once(self, what: str, exc: Exception) -> None:
        if what not in self._failed:
            log.error("Analysis (%s) failed: %s. LiveCam keeps the last good result and keeps trying.", what, exc)
            self._failed.add(what)
