"""The analysis stage: runs only the models that the enabled effects need and returns an Analysis.

It never changes pixels. When inference fails it logs once and keeps the last good result, so a
bad frame never drops the person from the picture.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from livecam.settings import Settings
from livecam.types import Analysis

log = logging.getLogger(__name__)

# The settings sections whose change means new model sessions (expensive); everything else is cheap.
SESSION_SECTIONS = {"segmentation": ("model",), "face": ("detector",), "runtime": ("provider", "threads")}


class Analyzer:
    """``offline`` (``render``, ``eval``): no real-time limit, so a matting model may use its full
    input size even on the CPU."""

    def __init__(self, settings: Settings, offline: bool = False) -> None:
        self.settings = settings
        self.offline = offline
        self._person = None  # the person-mask stage (livecam.analysis.person_mask), opened lazily
        self._tracker = None
        self._last = Analysis()
        self._failed: set[str] = set()
        self.broken: dict[str, str] = {}  # what cannot run until settings change → why (plain sentence)

    # Sessions open lazily, on the first frame that needs them, so "blur off" costs no model load.
    @property
    def person(self):
        if self._person is None:
            from livecam.analysis.person_mask import PersonMask

            self._person = PersonMask(self.settings, offline=self.offline)
            if self._person.notice:
                self.broken["rvm"] = self._person.notice  # shown to the user; the mask still runs
        return self._person

    @property
    def segmentation_model(self) -> str | None:
        """The model that really makes the mask ("auto" resolved; None before the first mask)."""
        return self._person.model if self._person is not None else None

    @property
    def tracker(self):
        if self._tracker is None:
            from livecam.analysis.face_tracker import FaceTracker

            self._tracker = FaceTracker(self.settings.face, self.settings.runtime)
        return self._tracker

    def providers(self) -> dict[str, str]:
        """Model name → the provider it really runs on, for the models opened so far."""
        out = {}
        if self._person is not None:
            out.update(self._person.providers())
        if self._tracker is not None and hasattr(self._tracker, "providers"):
            out.update(self._tracker.providers())
        return out

    def apply(self, settings: Settings) -> None:
        old, self.settings = self.settings, settings
        for section, keys in SESSION_SECTIONS.items():
            if any(getattr(getattr(old, section), k) != getattr(getattr(settings, section), k) for k in keys):
                if section in ("segmentation", "runtime"):
                    self._person = None
                    self.broken.pop("mask", None)
                    self.broken.pop("rvm", None)
                if section in ("face", "runtime"):
                    self._tracker = None
                    self.broken.pop("faces", None)
        if self._person is not None and not self._person.update(settings):
            self._person = None
        if self._tracker is not None and old.face != settings.face and hasattr(self._tracker, "apply"):
            self._tracker.apply(settings.face)

    def reset(self) -> None:
        """A new source: temporal state (held masks, the matting network's memory) starts afresh."""
        if self._person is not None:
            self._person.reset()

    def analyze(self, image: np.ndarray, needs: set[str] | frozenset[str], t: float | None = None) -> Analysis:
        """``t`` is the capture time (seconds); the landmark jitter filter uses the real frame spacing."""
        result = Analysis()
        timings = result.timings
        if "mask" in needs and "mask" not in self.broken:
            self._segment(image, result, timings, needs)
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

    # Backgrounds that are not the room itself: there the old room's tint on the person's edge shows,
    # so the mask stage estimates the person's own colour there (0.7-1 ms at 720p). A blurred room
    # behind the person matches the tint, so blur goes without.
    FOREGROUND_MODES = ("image", "video", "color")

    def _wants_foreground(self, needs) -> bool:
        return "foreground" in needs or self.settings.background.mode in self.FOREGROUND_MODES

    def _segment(self, image: np.ndarray, result: Analysis, timings: dict[str, float], needs=frozenset({"mask"})) -> None:
        h, w = image.shape[:2]
        person = self._open("mask", lambda: self.person)
        if person is None:
            return
        try:
            person.process(image, result, foreground=self._wants_foreground(needs))
            self._failed.discard("mask")
        except Exception as exc:
            self._warn_once("mask", exc)
            if self._last.mask is not None and self._last.mask.shape == (h, w):
                result.mask, result.foreground = self._last.mask, self._last.foreground
            return

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
