"""The analysis stage: runs only the models that the enabled effects need and returns an Analysis.

It never changes pixels. When inference fails it logs once and keeps the last good result for
HOLD_FRAMES frames, so a bad frame never drops the person from the picture; a model that keeps
failing makes the result missing (``missing``), and the output gate hides the frame.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from livecam.analysis import face_regions as regions
from livecam.messages import describe
from livecam.settings import Settings
from livecam.types import Analysis

log = logging.getLogger(__name__)

# A failed inference is bridged with the last good result for this many frames (0.1 s at 30 fps):
# longer, and a person who moves meanwhile leaves the held mask or face behind.
HOLD_FRAMES = 3
# A model that fails now and then (one run in three) said its sentence at every failure after a good
# frame: ten lines a second, and the one that mattered scrolled away. It is said again only once the
# model has answered well for this many frames in a row (5 s at 30 fps).
RESAY_AFTER = 150
# What a failed model costs, said with its sentence. The mask and the faces are bridged, then missing
# (the gate hides the picture, the effects that need them are paused); the hands are only lost
# (``_find_hands``): said like the others, a hand model's fault promised a hidden picture, or paused
# "hands effects", that never came, and named nothing of what did happen.
AFTER_A_FAILURE = "LiveCam bridges a few frames with the last good result, then hides the picture, and keeps trying."
HANDS_LOST = "a face effect may draw over a hand raised to your face (the picture is not hidden for it)"
# The settings sections whose change means new model sessions (expensive); everything else is cheap.
SESSION_SECTIONS = {"segmentation": ("model",), "face": ("detector",), "runtime": ("provider", "threads")}
# The needs the face tracker serves; "faces_carried" alone (no effect wants every frame's own mesh)
# lets it carry the mesh between reads (livecam.effects.base).
FACE_NEEDS = frozenset({"faces", "faces_carried", "iris"})


class Analyzer:
    """``offline`` (``render``, ``eval``): no real-time limit, so a matting model may use its full
    input size even on the CPU."""

    def __init__(self, settings: Settings, offline: bool = False) -> None:
        self.settings = settings
        self.offline = offline
        self._person = None  # the person-mask stage (livecam.analysis.person_mask), opened lazily
        self._tracker = None
        self._hands = None
        self._last = Analysis()
        self._last_iris = False  # whether the last faces came with their irises
        # Whether the last frame's faces were read (or held), so that they may stand in for a failed
        # read or a still frame; the empty list of a frame whose faces were missing, not needed, or of
        # another source may not: an effect would take it for no face in view.
        self._faces_read = False
        self._failed: set[str] = set()  # said to have failed, and not answered well for RESAY_AFTER frames since
        self._good: dict[str, int] = {}  # per result in ``_failed``: good answers in a row since it last failed
        self._misses: dict[str, int] = {}  # frames in a row whose inference failed, per result
        self.missing: set[str] = set()  # wanted this frame but neither made nor held ("mask", "faces")
        self.broken: dict[str, str] = {}  # what cannot run until settings change → why (plain sentence)

    # Sessions open lazily, on the first frame that needs them, so "blur off" costs no model load.
    @property
    def person(self):
        if self._person is None:
            from livecam.analysis.person_mask import PersonMask

            self._person = PersonMask(self.settings, offline=self.offline)
        return self._person

    @property
    def segmentation_model(self) -> str | None:
        """The model that really makes the mask ("auto" resolved; None before the first mask)."""
        return self._person.model if self._person is not None else None

    @property
    def segmentation_reason(self) -> str:
        """One sentence: which model makes the mask and why ("" before the first mask)."""
        return self._person.reason if self._person is not None else ""

    @property
    def profile(self) -> str:
        """The named way the models run, for summaries: "live" or "offline", with the mask model's
        profile (rvm's names its sizes, threads and precision), e.g. "live (rvm-cpu-live-int8)"."""
        backend = getattr(self._person, "_backend", None)
        detail = getattr(getattr(backend, "profile", None), "name", "") or (
            f"{self.segmentation_model} mask" if self._person is not None else "no mask")
        return f"{'offline' if self.offline else 'live'} ({detail})"

    @property
    def tracker(self):
        if self._tracker is None:
            from livecam.analysis.face_tracker import FaceTracker

            self._tracker = FaceTracker(self.settings.face, self.settings.runtime)
        return self._tracker

    @property
    def hand_tracker(self):
        if self._hands is None:
            from livecam.analysis.hands import HandTracker

            self._hands = HandTracker(self.settings.runtime.provider, self.settings.runtime.threads)
        return self._hands

    def providers(self) -> dict[str, str]:
        """Model name → the provider it really runs on, for the models opened so far."""
        out = {}
        if self._person is not None:
            out.update(self._person.providers())
        if self._tracker is not None:
            out.update(self._tracker.providers())
        if self._hands is not None:
            out.update(self._hands.providers())
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
                if section == "runtime":
                    self._hands = None
                    self.broken.pop("hands", None)
        if self._person is not None and not self._person.update(settings):
            self._person = None
        if self._tracker is not None and old.face != settings.face:
            self._tracker.apply(settings.face)

    def reset(self) -> None:
        """A new source: temporal state (held masks, the matting network's memory, the face tracks
        and their jitter filter) starts afresh."""
        if self._person is not None:
            self._person.reset()
        if self._tracker is not None:
            # Kept, the old source's face crop and filtered mesh were the new source's first faces:
            # 0.37 of the face's width off on the first frame of lp_d20 after lp_d12, 0.12 on the second.
            self._tracker.reset()
        # Nor may the old source's mask or faces stand in for a failed inference on the new one's
        # first frames: the held mask cut the old person's outline out of the new room's blur.
        self._last, self._faces_read = Analysis(), False
        self._misses.clear()
        if self._hands is not None:
            self._hands.reset()

    def analyze(self, image: np.ndarray, needs: set[str] | frozenset[str], t: float | None = None) -> Analysis:
        """``t`` is the capture time (seconds); the landmark jitter filter uses the real frame spacing."""
        result = Analysis()
        timings = result.timings
        self.missing = {"mask"} & needs & self.broken.keys()
        if "faces" in self.broken and needs & FACE_NEEDS:
            self.missing |= self._no_faces(needs)
        if "mask" in needs and "mask" not in self.broken:
            self._segment(image, result, timings, needs)
        if needs & FACE_NEEDS and "faces" not in self.broken:
            t0 = time.perf_counter()
            if self._faces_read and self._still(result) and ("iris" not in needs or self._last_iris):
                # The motion gate found the picture unchanged: the faces are where they were.
                result.faces, result.hands = self._last.faces, self._last.hands
                timings["faces"] = (time.perf_counter() - t0) * 1e3
                self._last = result
                return result
            self._last_iris = "iris" in needs
            try:
                tracker = self._open("faces", lambda: self.tracker)
                if tracker is None:
                    # Missing on the frame the model failed to open too, not from the next one on:
                    # unmarked, the effects took the empty list for no face in view, and the gate
                    # let the frame out.
                    self.missing |= self._no_faces(needs)
                    self._faces_read = False
                    return result
                # "faces": a swap or the photo avatar draws over the face where the mesh puts it.
                result.faces = tracker.process(image, want_iris="iris" in needs, t=t,
                                               carry="faces" not in needs and "faces_carried" in needs,
                                               verify="faces" in needs)
                if "faces" in needs and getattr(tracker, "wearer_lost", False):
                    # The first face (the one a swap or the photo avatar covers: the effects that read every
                    # frame's faces) lost beside someone else: the swap went to the other face, and the
                    # wearer's own face, in view but unread, left unswapped.
                    self.missing |= self._no_faces(needs)
                self._faces_read = True
                self._answered("faces")
            except Exception as exc:  # keep the last faces rather than dropping the effect for a frame
                if self._run_failed("faces", exc):
                    self.missing |= self._no_faces(needs)
                elif getattr(self._tracker, "seeking", False):
                    # A face lost a moment ago is being looked for: the last faces may lack it. Back in
                    # view beside someone else, the swap went to the other face (the last faces' only
                    # one) and the wearer's own face left unswapped.
                    self.missing |= self._no_faces(needs)
                elif not self._hold("faces", self._no_faces(needs)):
                    pass  # held long enough: missing
                elif self._faces_read:
                    result.faces = self._last.faces
                else:  # nothing read to stand in (the first frames, a new source): missing, not "no face"
                    self.missing |= self._no_faces(needs)
            timings["faces"] = (time.perf_counter() - t0) * 1e3
            if "hands" in needs and "hands" not in self.broken:
                self._find_hands(image, result, timings)
        if "faces" in self.missing or "faces" not in timings:
            self._faces_read = False
        self._last = result
        return result

    def _find_hands(self, image: np.ndarray, result: Analysis, timings: dict[str, float]) -> None:
        """Hands around the first face. A failure only loses the hands (the face effect then draws
        over a hand, which shows no more of the room), so nothing is held or hidden for it."""
        t0 = time.perf_counter()
        tracker = self._open("hands", lambda: self.hand_tracker)
        if tracker is None:
            return
        try:
            face = result.faces[0] if result.faces else None
            outline = None if face is None else regions.polygon(face.landmarks, regions.FACE_OVAL)
            result.hands = tracker.process(image, None if face is None else face.box, outline)
            self._answered("hands")
        except Exception as exc:  # noqa: BLE001 - any fault in the hand models costs the hands alone
            self._run_failed("hands", exc)
            tracker.reset()
        timings["hands"] = (time.perf_counter() - t0) * 1e3

    def _still(self, result: Analysis) -> bool:
        """Whether the person-mask stage reused its last mask this frame because nothing moved."""
        person = self._person
        return (person is not None and getattr(person, "still", False) and result.mask is not None
                and self._last.mask is not None and "faces" in self._last.timings)

    @staticmethod
    def _wants_foreground(needs) -> bool:
        """An effect that puts the person over something other than the room declares "foreground":
        there the old room's tint on the edge shows, so the mask stage estimates the person's own
        colour there (0.7-1 ms at 720p)."""
        return "foreground" in needs

    def _segment(self, image: np.ndarray, result: Analysis, timings: dict[str, float], needs=frozenset({"mask"})) -> None:
        h, w = image.shape[:2]
        person = self._open("mask", lambda: self.person)
        if person is None:
            return
        try:
            person.process(image, result, foreground=self._wants_foreground(needs))
            self._answered("mask")
        except Exception as exc:
            result.mask = result.small_mask = None  # nothing half-made by the failed attempt
            if self._run_failed("mask", exc):
                self.missing.add("mask")  # a mask seconds old is no stand-in
            elif self._hold("mask") and self._last.mask is not None and self._last.mask.shape == (h, w):
                result.mask, result.foreground = self._last.mask, self._last.foreground
        finally:
            if person.notice:
                # Shown to the user while the mask still runs: rvm unusable at open, or handed over
                # to the fast model during this frame.
                self.broken["rvm"] = person.notice
            else:  # the live watch gave rvm back its place
                self.broken.pop("rvm", None)

    def _answered(self, what: str) -> None:
        """A good result: the failures in a row start over, and after RESAY_AFTER of them in a row a
        new failure is said again."""
        self._misses.pop(what, None)
        if what in self._failed:
            self._good[what] = self._good.get(what, 0) + 1
            if self._good[what] >= RESAY_AFTER:
                self._failed.discard(what)
                del self._good[what]

    def _hold(self, what: str, gap: set[str] | None = None) -> bool:
        """After a failed inference: whether the last good result may still stand in (else ``gap``, by
        default ``what``, is missing)."""
        self._misses[what] = self._misses.get(what, 0) + 1
        if self._misses[what] <= HOLD_FRAMES:
            return True
        self.missing |= gap or {what}
        return False

    @staticmethod
    def _no_faces(needs) -> set[str]:
        """What is missing when the faces are: "faces", and the carried kind where an effect asked for it
        (the pipeline and the gate match an effect's own needs against what is missing)."""
        return {"faces"} | (needs & {"faces_carried"})

    def _open(self, what: str, opener):
        """Open a model once; a load failure (missing/corrupt file) is remembered, not retried per frame."""
        from livecam.analysis.runtime import ModelError

        try:
            return opener()
        except (ModelError, ValueError, ImportError) as exc:
            self.broken[what] = str(exc)
            log.error("%s %s", exc, f"Until the settings change, {HANDS_LOST}." if what == "hands"
                      else f"The {what} effects are paused until the settings change.")
            return None

    def _run_failed(self, what: str, exc: Exception) -> bool:
        """After a run raised: True when its model hung, which is given up until the settings change
        (the run guard has said so in one sentence); anything else is one bad frame, and is retried."""
        from livecam.analysis.runtime import ModelHung

        if isinstance(exc, ModelHung):
            self.broken[what] = str(exc)
            return True
        self._warn_once(what, exc)
        return False

    def _warn_once(self, what: str, exc: Exception) -> None:
        self._good[what] = 0
        if what not in self._failed:
            log.error("Analysis (%s) failed: %s %s", what, describe(exc),
                      f"Until it answers again, {HANDS_LOST}; LiveCam keeps trying." if what == "hands" else AFTER_A_FAILURE)
            self._failed.add(what)
