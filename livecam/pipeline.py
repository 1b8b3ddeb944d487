"""The pipeline: capture → (pre effects) → analysis → effects → output, one frame at a time.

``Pipeline.process`` turns one image into one output image; offline rendering, the benchmark and
the live loop all use it. The chain is the effect registry (:mod:`livecam.effects`) in order.

Trust rules it keeps:

- **Fail closed, by construction.** Every frame leaves through one output gate
  (:mod:`livecam.output_gate`), which gets the frame's provenance (the effects that really applied,
  the person mask the background used, the analysis that is missing) and lets it out only when
  everything the settings hide is proven hidden; otherwise the frame leaves concealed, or as a
  solid card when even concealing fails. An effect whose ``on_failure`` is "conceal" (background,
  avatar, badge) that cannot run (it raised, its input is missing, it could not be built) marks
  the frame failed, and so does an exception anywhere in the chain: never the raw room or face.
- **Fault isolation.** An exception in one effect affects that effect for that frame only; it is
  counted, logged once (traceback at debug level, which the log file keeps), and the effect is
  retried with back-off. The stream never ends because of an effect.
- **Nobody's frame is written into.** An effect may write into the picture it is given only when
  the chain owns it (:func:`owned`: an array no one but the chain holds, which neither the camera,
  the analysis nor an earlier effect keeps); an effect that raised while writing into its picture
  may have left it half-made, so that frame is hidden.
- **Settings without stalls.** Front ends call ``apply(settings)`` from any thread. Cheap changes go
  to the live effect's ``update`` (fades, denoisers and neutral poses survive); a change that needs a
  rebuild (new picture, photo, model) is built off the processing thread when ``background_builds``
  is on, while the old effect keeps running until the new one is ready.

The live loop that feeds it is :mod:`livecam.live_runner`.
"""
from __future__ import annotations

import dataclasses
import logging
import statistics
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from livecam.analysis import Analyzer
from livecam.effects import REGISTRY, EffectSpec, build_effect, sections_for
from livecam.imaging import as_bgr8
from livecam.messages import describe, failed
from livecam.output_gate import OutputGate, Provenance
from livecam.perf import tune_allocator
from livecam.setting_fields import meta
from livecam.settings import Settings, changed_sections
from livecam.types import Analysis

log = logging.getLogger(__name__)
trace = logging.getLogger("livecam.trace")  # tracebacks: the log file keeps them, the console does not

BACKOFF_MAX_FRAMES = 64  # a failing effect is retried after 1, 2, 4 … frames, at most ~2 s apart at 30 fps
# A build that failed is tried again this many frames later (~1, 5 and 20 s at 30 fps), then left until the
# settings change: a model run that failed once while the avatar read its photo (a provider or driver
# hiccup) hid every frame for the rest of the session, and said the photo "shows 16 faces".
BUILD_RETRY_FRAMES = (30, 150, 600)
# An effect that raises frame after frame is built afresh once this many tries in a row have failed (about
# 1 s at 30 fps, with the backoff), at most FRESH_BUILDS times for the same settings: a fault on the frame
# where the photo avatar filled its caches kept a bad value there, and every frame after it was hidden for
# the rest of the session, though a new effect of the same settings works.
FRESH_AFTER = 6
FRESH_BUILDS = 3


@dataclass
class _Slot:
    """One chain position: the registry entry, its live effect and what went wrong with it."""

    spec: EffectSpec
    effect: Any = None
    error: str | None = None  # a plain sentence: why the effect is not what the settings ask for
    reason: str | None = None  # the build failure alone, without what LiveCam does about it
    failures: int = 0  # consecutive failed frames
    total_failures: int = 0
    retry_at: int = 0  # frame number from which to try the effect again
    build_failures: int = 0  # failed builds in a row for these settings
    rebuild_at: int | None = None  # frame number at which a failed build is tried again
    fresh_builds: int = 0  # effects built afresh for these settings because the last kept raising
    shows: tuple[Any, ...] | None = None  # the settings sections the live effect draws (sections_for)
    pending: Future | None = None
    pending_version: int = 0
    logged: set[str] = field(default_factory=set)


def as_picture(image: object) -> np.ndarray | None:
    """A frame as the effects take it: contiguous BGR uint8 (:func:`as_bgr8`, the same object when it
    already is one) in writable memory. The compiled loops (compositing, the swap's) are typed for
    writable arrays: a frame in read-only memory (a view of a read-only buffer, from a source or a
    program using LiveCam as a library) made them raise on every frame, and every frame was hidden."""
    frame = as_bgr8(image)
    return frame.copy() if frame is not None and not frame.flags.writeable else frame


_BUILDER: ThreadPoolExecutor | None = None
_BUILDER_LOCK = threading.Lock()


def _shared_builder() -> ThreadPoolExecutor:
    """One builder thread for the whole process, never shut down. A thread per pipeline, ended with
    it, crashed the GUI tests now and then (SIGSEGV/SIGBUS in 3 of 20 runs, 0 of 30 with this):
    threads that used OpenCV ending while others draw with it."""
    global _BUILDER
    with _BUILDER_LOCK:
        if _BUILDER is None:
            _BUILDER = ThreadPoolExecutor(1, thread_name_prefix="livecam-build")
        return _BUILDER


class Pipeline:
    def __init__(self, settings: Settings, background_builds: bool = False, offline: bool = False) -> None:
        """``offline`` (render, eval): no real-time limit, so the models may run at full size."""
        tune_allocator()
        self.settings = settings
        self.analyzer = Analyzer(settings, offline=offline)
        self._slots = [_Slot(spec) for spec in REGISTRY]
        self._pending: Settings | None = None
        self._lock = threading.Lock()
        self._version = 0
        self._builder = _shared_builder() if background_builds else None
        self._analysis = Analysis()
        self._effective = settings
        self._frame = 0
        self._timings: dict[str, deque[float]] = {}
        self.last_timings: dict[str, float] = {}
        self.gate = OutputGate()
        self.concealed = 0  # frames that went out as the safe frame
        # Set by the live loop: the analysis runs on a second thread beside the effects, so the
        # "total" stage is this thread's part alone (status lines say so; latency is the pacer's).
        self.pipelined = False
        self._analysis_logged: set[str] = set()
        for slot in self._slots:
            self._build_now(slot, settings)

    # ------------------------------------------------------------ settings
    def apply(self, settings: Settings) -> None:
        """Use ``settings`` from the next frame on (thread-safe, non-blocking)."""
        with self._lock:
            self._pending = settings

    def _swap(self) -> None:
        self._collect_builds()
        for slot in self._slots:
            if slot.rebuild_at is not None and slot.rebuild_at <= self._frame and slot.pending is None:
                slot.rebuild_at = None
                if slot.effect is None and slot.spec.enabled(self.settings):
                    self._start_build(slot, self.settings)
        with self._lock:
            new, self._pending = self._pending, None
        if new is not None and new != self.settings:
            changed = changed_sections(self.settings, new)
            self.analyzer.apply(new)
            self.settings = new
            self._version += 1
            for slot in self._slots:
                if changed.intersection(slot.spec.sections):
                    self._reconfigure(slot, new)
            log.debug("settings changed: %s", ", ".join(sorted(changed)))
        if not any(slot.pending is not None for slot in self._slots):
            self._effective = self.settings

    def _reconfigure(self, slot: _Slot, settings: Settings) -> None:
        slot.build_failures, slot.rebuild_at, slot.fresh_builds = 0, None, 0  # new settings: a fresh series of tries
        if not slot.spec.enabled(settings):
            self._install(slot, None)
            return
        if slot.effect is not None and slot.pending is None:
            try:
                if slot.effect.update(*sections_for(slot.spec, settings)):
                    slot.error, slot.shows = None, sections_for(slot.spec, settings)
                    return
            except Exception as exc:  # noqa: BLE001 - a failed in-place update means: rebuild
                trace.debug("%s update failed", slot.spec.name, exc_info=exc)
        self._start_build(slot, settings)

    def _start_build(self, slot: _Slot, settings: Settings) -> None:
        if self._builder is None:
            self._build_now(slot, settings)
        else:
            if slot.pending is not None:
                # Superseded before it was ready: nothing will install it, so it is closed when done
                # (left open, a background video's decoder thread ran for the rest of the session).
                slot.pending.add_done_callback(_close_built)
            slot.pending_version = self._version
            slot.pending = self._builder.submit(build_effect, slot.spec, settings)

    def _build_now(self, slot: _Slot, settings: Settings) -> None:
        try:
            effect = build_effect(slot.spec, settings)
        except Exception as exc:  # noqa: BLE001 - builders report bad files and models as exceptions
            self._build_failed(slot, exc)
            return
        self._install(slot, effect)

    def _collect_builds(self) -> None:
        for slot in self._slots:
            future = slot.pending
            if future is None or not future.done():
                continue
            slot.pending = None
            try:
                effect = future.result()
            except Exception as exc:  # noqa: BLE001
                if slot.pending_version == self._version:
                    self._build_failed(slot, exc)
                continue
            if slot.pending_version == self._version:
                self._install(slot, effect)
            elif effect is not None:
                effect.close()  # settings moved on while it was being built

    def _build_failed(self, slot: _Slot, exc: BaseException) -> None:
        sentence = failed(f"{slot.spec.label} could not be started", exc)  # the library's words: the log's
        if (slot.effect is not None and slot.spec.on_failure == "conceal"
                and not stands_in(slot.spec, slot.shows, sections_for(slot.spec, self.settings))):
            # A blur of 0 stood in for a background picture that vanished before it loaded, and the
            # room left while the settings said "image".
            self._install(slot, None)
        if slot.effect is not None:
            consequence = f"LiveCam keeps the previous {slot.spec.label.lower()}."
        elif slot.spec.on_failure == "conceal":
            consequence = "LiveCam hides the picture behind a full blur until this is fixed."
        else:
            consequence = f"{slot.spec.label} is off until this is fixed."
        slot.error, slot.reason = f"{sentence} {consequence}", sentence
        if slot.effect is None and slot.build_failures < len(BUILD_RETRY_FRAMES):
            slot.rebuild_at = self._frame + BUILD_RETRY_FRAMES[slot.build_failures]
            slot.build_failures += 1
        else:
            slot.rebuild_at = None
        # Front ends say it (the CLI once at start, the GUI on its status line): problems() holds it.
        trace.debug("building %s failed", slot.spec.name, exc_info=exc)

    def _install(self, slot: _Slot, effect: Any) -> None:
        if slot.error is not None and effect is not None:
            log.info("%s works again.", slot.spec.label)  # after the sentence that said it could not be built
        previous, slot.effect = slot.effect, effect
        slot.shows = sections_for(slot.spec, self.settings) if effect is not None else None
        slot.error, slot.reason, slot.failures, slot.retry_at = None, None, 0, 0
        slot.build_failures, slot.rebuild_at = 0, None
        if not slot.fresh_builds:  # one built afresh for the same settings says the same things once
            slot.logged = set()
        if previous is not None and previous is not effect:
            previous.close()

    # ------------------------------------------------------------ chain
    @property
    def effects(self) -> list[Any]:
        return [slot.effect for slot in self._slots if slot.effect is not None]

    def needs(self) -> set[str]:
        """What the analyzer must compute this frame: the effects' needs less what effects provide."""
        live = [s.effect for s in self._slots if s.effect is not None and s.retry_at <= self._frame]
        needs = set().union(*(e.needs for e in live)) if live else set()
        provided = set().union(*(e.provides for e in live if e.stage == "post")) if live else set()
        return needs - provided

    def _wanted_but_missing(self, slot: _Slot) -> bool:
        """The settings ask for this effect but it is not there: it could not be built, or it is still
        being built and nothing older stands in. For a "conceal" effect the older one stands in only if
        it hides at least as much: a weak blur kept while the chosen background picture loaded let the
        room out, nearly sharp, under "image"."""
        if not slot.spec.enabled(self.settings):
            return False
        if slot.effect is None:
            return slot.error is not None or slot.pending is not None
        return (slot.pending is not None and slot.spec.on_failure == "conceal"
                and not stands_in(slot.spec, slot.shows, sections_for(slot.spec, self.settings)))

    @property
    def effective_settings(self) -> Settings:
        """The settings the last frame really showed: the newest ones once every build is in."""
        return self._effective

    # ------------------------------------------------------------ frames
    def process(self, image: np.ndarray, t: float | None = None) -> np.ndarray:
        """One BGR uint8 frame in, one out (same size). ``t``: capture time, when known."""
        self._frame += 1
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        # Every source's frame is made BGR uint8 here, once: a camera's grey, BGRA, 16-bit or
        # float frames would otherwise leave as they came (the gate compared them to themselves).
        frame = as_picture(image)
        proof = Provenance(shape=frame.shape if frame is not None else _size_of(image))
        try:
            if frame is None:
                raise ValueError(f"the source sent something that is not a picture ({_describe_array(image)})")
            out = self._chain(frame, t, timings, proof)
        except Exception as exc:  # noqa: BLE001 - a bug anywhere in the chain costs this frame, hidden
            self._log_once(self._analysis_logged, f"Processing a frame failed ({describe(exc).rstrip('.')}); "
                           "frames that fail go out hidden.", exc)
            out, proof.failed = frame, True
        tg = time.perf_counter()
        gated = self.gate.check(out, self.settings, proof)
        if gated is not out:
            self.concealed += 1
        t1 = time.perf_counter()
        timings["gate"] = (t1 - tg) * 1e3
        timings["total"] = (t1 - t0) * 1e3
        self.last_timings = timings
        for name, ms in timings.items():
            self._timings.setdefault(name, deque(maxlen=120)).append(ms)
        return gated

    def _chain(self, image: np.ndarray, t: float | None, timings: dict[str, float], proof: Provenance) -> np.ndarray:
        """The effects and the analysis; what the frame went through is written into ``proof``."""
        self._swap()
        for slot in self._slots:
            if slot.effect is not None and slot.effect.stage == "pre":
                image, _, failed = self._run(slot, image, self._analysis, timings, proof)
                proof.failed |= failed
        needs = self.needs()
        try:
            analysis = self.analyzer.analyze(image, needs, t=t)
            proof.missing = set(getattr(self.analyzer, "missing", ()))
        except Exception as exc:  # noqa: BLE001 - the analyzer keeps its own last-good results; this is a bug guard
            self._log_once(self._analysis_logged, f"Analysis failed: {describe(exc)}", exc)
            analysis = Analysis()
            # An analysis that raised proves nothing; the analyzer's own ``missing`` was reset at the
            # start of the call, so reading it let a face swap's frame out unhidden.
            proof.missing = set(needs)
        timings.update(analysis.timings)
        self._analysis = analysis
        own = owned(image)
        for slot in self._slots:
            if proof.failed:
                break  # the frame is hidden anyway: later effects would be wasted work
            if self._wanted_but_missing(slot):
                proof.failed = slot.spec.on_failure == "conceal"
                continue
            if slot.effect is None or slot.effect.stage != "post":
                continue
            image, analysis, failed = self._run(slot, image, analysis, timings, proof, own)
            proof.failed |= failed
            own = owned(image)  # here ``image`` is this frame's one reference left in the chain
        return image

    def _run(self, slot: _Slot, image: np.ndarray, analysis: Analysis, timings: dict[str, float],
             proof: Provenance, own: bool = False) -> tuple[np.ndarray, Analysis, bool]:
        """Apply one effect; returns (image, analysis for the next effects, concealed). ``own``: the
        chain owns ``image`` (:func:`owned`), so an effect that writes in place may write into it."""
        effect = slot.effect
        if slot.retry_at > self._frame:
            return image, analysis, slot.spec.on_failure == "conceal"
        if "mask" in effect.needs and analysis.mask is None:
            # The person mask could not be made (broken model, failed inference): the background
            # cannot hide the room, so the frame is hidden instead.
            if "mask" in getattr(self.analyzer, "broken", {}):
                # Given up until the settings change (problems() says so once): no failure counted, whose
                # backoff would outlast the change and whose "retrying" would contradict it.
                return image, analysis, slot.spec.on_failure == "conceal"
            return image, analysis, self._failed(slot, "the person mask is not available", None)
        if effect.needs & proof.missing:
            # What it needs could not be made this frame, and the gate hides the frame for that: run, it
            # would take the gap for "no face" and fade a swap out, showing the wearer's face as it fades back.
            proof.applied[slot.spec.name] = effect.needs  # what it would have used: the gate hides for the gap
            return image, analysis, False
        ts = time.perf_counter()
        in_place = own and getattr(effect, "in_place", False)
        try:
            result = effect.apply(image, analysis, own=True) if in_place else effect.apply(image, analysis)
        except Exception as exc:  # noqa: BLE001 - any effect bug must cost one frame of that effect only
            hidden = self._failed(slot, describe(exc), exc)
            # Written into, the picture may be half-made: not what the settings chose, so it is hidden.
            return image, analysis, hidden or in_place
        timings[slot.spec.name] = (time.perf_counter() - ts) * 1e3
        result, outputs = result
        if outputs:
            undeclared = set(outputs) - effect.provides
            if undeclared:
                return image, analysis, self._failed(slot, f"it provided undeclared data {sorted(undeclared)}", None)
            if "mask" in outputs and "foreground" not in outputs:
                outputs = {**outputs, "foreground": None}  # the old person's edge colour belongs to the old mask
            analysis_out = dataclasses.replace(analysis, **outputs)
        else:
            analysis_out = analysis
        slot.failures = 0
        proof.applied[slot.spec.name] = effect.needs
        if "mask" in effect.needs and slot.spec.on_failure == "conceal":
            proof.mask, proof.small_mask = analysis.mask, analysis.small_mask  # the mask this effect hid with
            proof.raw_mask = analysis.raw_mask
        return result, analysis_out, False

    def _failed(self, slot: _Slot, reason: str, exc: BaseException | None) -> bool:
        slot.failures += 1
        slot.total_failures += 1
        slot.retry_at = self._frame + min(BACKOFF_MAX_FRAMES, 2 ** (slot.failures - 1))
        hidden = slot.spec.on_failure == "conceal"
        what = "the picture is hidden behind a full blur" if hidden else "it is skipped"
        if (exc is not None and slot.failures == FRESH_AFTER and slot.fresh_builds < FRESH_BUILDS
                and slot.pending is None and slot.spec.enabled(self.settings)):
            slot.fresh_builds += 1
            trace.debug("%s kept failing; building it afresh (%d of %d)", slot.spec.name, slot.fresh_builds, FRESH_BUILDS)
            self._start_build(slot, self.settings)
        self._log_once(slot.logged, f"{slot.spec.label} failed ({reason.rstrip('.')}); {what} while LiveCam retries.", exc)
        return hidden

    @staticmethod
    def _log_once(logged: set[str], sentence: str, exc: BaseException | None) -> None:
        if sentence in logged:
            return
        logged.add(sentence)
        log.error("%s", sentence)
        if exc is not None:
            trace.debug("%s", sentence, exc_info=exc)

    def reset_temporal(self) -> None:
        """A new or resumed source: what was smoothed over time (mask history, recurrent state) starts
        over, so the first frames never blend with a picture from before."""
        self.analyzer.reset()
        self.gate.reset()
        for effect in self.effects:
            effect.reset()

    def recapture_neutral(self) -> None:
        """Photo avatar: take the wearer's next face as the new neutral pose."""
        for slot in self._slots:
            if slot.effect is not None:
                slot.effect.recapture()

    @property
    def last_analysis(self) -> Analysis:
        return self._analysis

    def stage_ms(self) -> dict[str, float]:
        """Median milliseconds per stage over the last ~120 frames."""
        # list() snapshots: front ends call this from their own threads while frames add stages.
        return {k: statistics.median(list(v)) for k, v in list(self._timings.items()) if v}

    def failure_counts(self) -> dict[str, int]:
        return {slot.spec.name: slot.total_failures for slot in self._slots if slot.total_failures}

    def providers(self) -> dict[str, str]:
        from livecam.analysis import runtime

        # The pool holds every session (the avatar's too); the analyzer's own entries win for a model
        # open on two providers during a provider change.
        found = runtime.open_models()
        found.update(self.analyzer.providers())
        return found

    def problems(self) -> list[str]:
        """Plain sentences: what the pipeline cannot do as the settings ask, right now."""
        out = [slot.error for slot in self._slots if slot.error]
        out += [f"{slot.spec.label} keeps failing; LiveCam is retrying." for slot in self._slots
                if slot.failures >= 3 and slot.spec.enabled(self.settings)]
        if self.gate.problem:
            out.append(self.gate.problem)
        return out + list(self.analyzer.broken.values())

    def unbuildable(self) -> list[str]:
        """Why effects the settings ask for could not be built (one sentence each)."""
        return [slot.reason for slot in self._slots if slot.reason]

    def wait_for_builds(self, timeout: float = 30.0) -> None:
        """Block until background builds are done and installed (tests and render use this)."""
        deadline = time.monotonic() + timeout
        while any(slot.pending is not None for slot in self._slots) and time.monotonic() < deadline:
            for slot in self._slots:
                if slot.pending is not None:
                    try:
                        slot.pending.exception(timeout=max(0.0, deadline - time.monotonic()))
                    except Exception:  # noqa: BLE001 - a timeout leaves it pending
                        pass
            self._collect_builds()

    def close(self) -> None:
        """Close every effect. A build still running (a photo being fitted, a model loading, numba
        compiling on a first start) is not waited for: Quit waited on it for the bridge's whole 10 s.
        It is left on the builder thread, and what it makes is closed when it ends."""
        for slot in self._slots:
            pending, slot.pending = slot.pending, None
            if pending is not None:
                pending.add_done_callback(_close_built)  # at once if it is already done
            self._install(slot, None)


def stands_in(spec: EffectSpec, old: tuple[Any, ...] | None, new: tuple[Any, ...]) -> bool:
    """Whether the effect built from sections ``old`` may stand in for one of ``new`` that could not be
    built: it is the same but for a file (the last good picture or photo), or it hides at least as much
    (``spec.hides``: a colour for a picture)."""
    if old is None:
        return False
    if spec.hides is not None and spec.hides(old[0]) >= spec.hides(new[0]):
        return True
    return only_files_differ(old, new)


def only_files_differ(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """Whether settings sections ``new`` differ from ``old`` in nothing but fields that name a file."""
    if len(old) != len(new):
        return False
    for before, after in zip(old, new):
        if type(before) is not type(after):
            return False
        for f in dataclasses.fields(after):
            if getattr(before, f.name) != getattr(after, f.name) and meta(f).file is None:
                return False
    return True


def _counted_inside(frame: object) -> int:
    """``sys.getrefcount(frame)`` from inside a function handed ``frame``, as :func:`owned` counts."""
    return sys.getrefcount(frame)


def _one_holder() -> int:
    """The count :func:`owned` sees for an array that one local variable of its caller alone holds
    (that variable, the parameter, the call's argument): measured the same way, not assumed, so it
    holds whatever a CPython version counts for the last two. Measured in each shape the chain calls
    :func:`owned` in, and the smallest kept: a version that counts the shapes differently (3.14 loads
    some locals without taking a reference) can then only make a frame read as held by others (a
    copy), never one that another holder still references read as the chain's."""
    frame = np.empty(1, np.uint8)
    return min(_counted_inside(frame), _ChainShape().count())


class _ChainShape:
    """:meth:`Pipeline._chain`'s way of calling :func:`owned`: from a method, on a loop's variable
    that each step rebinds from a tuple."""

    def count(self) -> int:
        image, counted = np.empty(1, np.uint8), []
        for _ in range(2):
            counted.append(_counted_inside(image))
            image, _, _ = np.empty(1, np.uint8), None, False
        return min(counted)


_ONE_HOLDER = _one_holder()


def owned(frame: object) -> bool:
    """Whether ``frame``, held by one variable of the caller, is the chain's alone to write into: a
    writable, C-ordered array with memory of its own (no view of another array) that nothing else
    references (an effect or the analysis keeping it, a view of it, a queue or another thread holding
    it each count). The camera's frame is held by the source and by :meth:`Pipeline.process`, so it
    is never owned; nor is a picture the analysis or an effect keeps, or one that left earlier."""
    return (type(frame) is np.ndarray and frame.base is None and frame.flags.writeable
            and frame.flags.c_contiguous and sys.getrefcount(frame) <= _ONE_HOLDER)


def _close_built(future: Future) -> None:
    """Close the effect a superseded build made (a build that failed made none)."""
    try:
        effect = None if future.cancelled() else future.result()
        if effect is not None:
            effect.close()
    except Exception as exc:  # noqa: BLE001 - its failure no longer concerns anyone
        trace.debug("closing a superseded build failed", exc_info=exc)


def _size_of(image: Any) -> tuple[int, int, int] | None:
    """The (height, width, 3) of a frame that is no picture LiveCam can read but has a height and width
    (a camera's raw two-channel YUYV): its card must fit the output, which is the camera's size (the
    last good frame's size, 1280x720 before any, stopped the live loop for a smaller camera)."""
    if isinstance(image, np.ndarray) and image.ndim in (2, 3) and image.shape[0] > 0 and image.shape[1] > 0:
        return int(image.shape[0]), int(image.shape[1]), 3
    return None


def _describe_array(image: Any) -> str:
    if isinstance(image, np.ndarray):
        return f"{image.dtype} array of shape {image.shape}"
    return type(image).__name__
