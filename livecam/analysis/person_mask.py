"""The person-mask stage: which model runs (``auto`` resolved here), temporal smoothing, edges that
follow the frame, and the person's own colour at the edge.

Two paths fill the same Analysis fields (mask, raw_mask, small, small_mask, foreground):

- MediaPipe selfie models (landscape, general), the CPU default: the model's mask at 256 px is
  smoothed over time, then brought to half the frame's size with the frame as guide (a fast guided
  filter with a colour guide, fitted at half the model's size) and narrowed to a crisp edge; at the
  edge pixels only, the share of each pixel that is old room is replaced by the person's nearby
  colour, and handed on as those pixels alone (temporal.EdgeColour), not as a frame-size picture.
- Robust Video Matting (rvm), fetched separately: a recurrent matting network with its own alpha
  (its outline drawn at RVM_LEVEL) and foreground colour; used where the user picks it, or by
  ``auto`` when a GPU runs it or this CPU measured 25 fps with it. Live on a CPU it runs on one
  frame in three on a worker thread, and its matte and colour follow the picture in between
  (matting.Follow).
"""
from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from livecam.analysis import edge_strips
from livecam.analysis.mask_kernels import READY, area_table, halve_across
from livecam.analysis import temporal as T
from livecam.analysis.runtime import ModelError
from livecam.imaging import finite_in_unit_range
from livecam.settings import Settings
from livecam.types import Analysis

log = logging.getLogger(__name__)

# The local linear model of the frame-guided edge is fitted at half the model's size (128 px wide),
# with a colour guide: coefficients are smooth, so half the size loses nothing (on masks/dev it
# scored slightly better than the model's size with twice the radius) and costs a quarter.
GUIDE_RADIUS = 2  # half-model pixels: a 5x5 window (about 50 px at 720p)
GUIDE_EPS = 1e-4  # small: the edge follows even faint colour steps of the frame (tuned on masks/dev)
# A finer outline than this fit gives did not lower the halo of the photos as they are (stop 49, tuning
# half, final as a share of raw, light / dark: the tree 0.784 / 0.824 as the photos are; at --width 640
# and 1280 the photos not enlarged to get there 0.819 / 0.763 and 0.689 / 0.611): this fit at the
# working size 0.801 / 0.849, 0.858 / 0.808, 0.759 / 0.701; a local colour model in the band (alpha from
# the nearby sure person and room colours) 0.827 / 0.903, 0.846 / 0.834, 0.642 / 0.573; a second fit of
# the alpha at the working size (5x5, frames of HALF_FROM or more) 0.786 / 0.826, 0.811 / 0.740,
# 0.667 / 0.571 (lower at webcam sizes only, for a fit over the band: not built). Most truths are
# remove.bg cut-outs that lie outside the person (tools/halo_diag.py): an outline closer to the
# picture's edge scores worse on them.
# rvm's alpha is soft wherever it is unsure (hair, hands, dark clothes against a dark room) and
# read at 0.5 it cuts those off: on shared/data/masks/dev, drawing the outline at 0.3 raised its
# IoU from 0.946 to 0.954 and lowered its halo score from 0.75/0.77 to 0.69/0.69 of the landscape
# model's raw (0.4: 0.950, 0.71/0.72; 0.25: 0.955, 0.69/0.68). Tuned on those 55 photos, whose
# masks are mostly hard-edged cut-outs: it keeps more of the soft edge, as the issue asked
# ("fine hair wisps are cut off"), and rvm's own foreground colour fills it.
RVM_LEVEL = 0.3
RVM_EDGE_SHIFT = 0.005  # segmentation.edge = ±1 grows/shrinks rvm's matte by 0.5 % of its width (6 px at 1280)
SMALL_WIDTH = 256  # the small frame and mask handed to effects that work small (background blur)
DENSE_BAND = 0.2  # share of edge pixels above which rvm's foreground is copied densely
HALF_FROM = 512  # frames at least this wide get the edge work at half their size, smaller ones at full size
# auto's rvm on a CPU was measured once, on a quiet machine; a call app started since can take the
# cores it counted on. Every WATCH_FRAMES frames (5 s at 30 fps) the live mask stage checks that rvm
# still fits what the measurement promised, and otherwise hands over to the fast model.
WATCH_FRAMES = 150
# After a hand-over rvm itself tells when the machine has room again: once a window, one trial run on
# the worker thread (the loop goes on with the fast model), and its time against the runs' time in the
# window that was too slow scales that window's cost to now. When that fits RETRY_FIT of the budget in
# RETRY_WINDOWS trials in a row (10 s), rvm runs again. Each time it is too slow again within its first two windows,
# the trials are spaced twice as far apart (at most RETRY_MAX_GAP windows, 80 s), so a machine that
# stays busy pays one rvm run in a minute or more.
RETRY_WINDOWS = 2
RETRY_MAX_GAP = 16
# One run is a noisier sample than a window's mean: on this project's 2-core machine (load 2.4) two
# trials at 85 % and 78 % of the budget brought rvm back at 103 % (35 ms a frame), handed over again
# 20 s later. Coming back only with this margin keeps a machine near the limit on the fast model.
RETRY_FIT = 0.8


def working_scale(width: int, height: int) -> int:
    """2 when the edge work runs at exactly half the frame's size, else 1 (small or odd frames)."""
    return 2 if width >= HALF_FROM and width % 2 == 0 and height % 2 == 0 else 1


class PersonMask:
    """Makes the person mask for each frame. ``offline`` (``render``, ``eval``) lets rvm use its full
    input size even on the CPU. Raises ModelError/ValueError when no model can be opened at all."""

    def __init__(self, settings: Settings, offline: bool = False, rvm_profile=None) -> None:
        self.settings = settings
        self.offline = offline
        self._rvm_profile = rvm_profile  # how rvm runs live on the CPU (matting.Profile); None: as auto found
        self.notice = ""  # one sentence when the chosen model could not be used and another runs
        self.reason = ""  # one sentence: which model makes the mask and why (GUI, doctor)
        self._auto_cpu_rvm = False  # rvm runs because auto measured it fast enough on this CPU
        self.model, self._backend = self._open(settings)
        self._space: dict[str, np.ndarray] = {}  # frame-size work buffers, reused from frame to frame
        self._watch: list[float] | None = [] if self._auto_cpu_rvm else None  # ms per frame of the rvm stage
        if self._watch is not None:
            self._backend.run_ms = []  # the network's own run times too (worker-thread profiles)
        self._watched = 0  # windows the watch has looked at
        self._spare = None  # after a hand-over: rvm's stream, kept open for a try later
        self._rvm_over = 1.0  # how far over its budget rvm was in the window that handed over
        self._rvm_run = 0.0  # the mean ms of its runs in that window
        self._trial = None  # a trial run of rvm in progress on its worker thread (a Future)
        self._frames = 0  # frames in this window of the fast model
        self._wait = 0  # windows until the next trial
        self._gap = 1  # windows between trials
        self._quiet = 0  # trials in a row that said rvm fits
        self.reset()

    # ------------------------------------------------------------------ choosing the model

    def _open(self, settings: Settings):
        wanted = settings.segmentation.model
        runtime = settings.runtime
        if wanted in ("rvm", "auto"):
            matting = self._open_rvm(wanted, runtime.provider, runtime.threads)
            if matting is not None:
                return "rvm", matting
            self.reason = self.reason or ("Person mask: the fast model, because rvm is not usable here."
                                          if settings.segmentation.model == "auto" else self.notice)
            wanted = "landscape"
        self.reason = self.reason or f"Person mask: the {wanted} model, because it was chosen."
        from livecam.analysis.segmenter import Segmenter

        return wanted, Segmenter(wanted, runtime.provider, runtime.threads)

    def _open_rvm(self, wanted: str, provider: str, threads: int):
        from livecam.analysis.matting import Matting

        gpu = _gpu_possible(provider)
        if wanted == "auto" and not gpu and not self._rvm_fast_here(threads):
            return None  # auto on a CPU too slow for rvm (or without it): the fast model
        try:
            matting = Matting(provider, threads, offline=self.offline, gpu_possible=gpu, cpu_profile=self._rvm_profile)
        except ModelError as exc:
            if wanted == "rvm":
                self.notice = f"{exc} (until then the person mask comes from the landscape model)"
                log.warning("%s", self.notice)
            else:
                log.debug("auto: rvm is not usable (%s); using the landscape model.", exc)
            return None
        if wanted == "auto" and not matting.on_gpu and gpu:
            if not self._rvm_fast_here(threads):
                log.debug("auto: rvm would run on the CPU, too slowly here; using the landscape model.")
                return None
            if self._rvm_profile is not None and self._rvm_profile != matting.profile:  # the one measured here
                matting = Matting("cpu", threads, gpu_possible=False, cpu_profile=self._rvm_profile)
        self._auto_cpu_rvm = wanted == "auto" and not matting.on_gpu and not self.offline
        if wanted == "rvm" or matting.on_gpu:
            self.reason = f"Person mask: rvm ({matting.profile.name}), " + (
                "because it was chosen." if wanted == "rvm" else "because a GPU runs it.")
        return matting

    def _rvm_fast_here(self, threads: int) -> bool:
        """auto on a CPU: rvm only where its live profile measured 25 fps here (``render`` without
        --like-live keeps the fast model, as before)."""
        if self.offline:
            self.reason = "Person mask: the fast model, because auto keeps it on a CPU in renders (add --like-live)."
            return False
        from livecam.analysis.rvm_live import auto_choice

        choice = auto_choice(threads)
        self.reason = choice.reason
        self._rvm_profile = self._rvm_profile or choice.profile
        return choice.use_rvm

    def update(self, settings: Settings) -> bool:
        """Take new settings in place when only cheap fields changed (edge, refine, smoothing);
        False when the model, provider or threads changed and the stage must be rebuilt."""
        old = self.settings
        if (old.segmentation.model, old.runtime.provider, old.runtime.threads) != (
                settings.segmentation.model, settings.runtime.provider, settings.runtime.threads):
            return False
        self.settings = settings
        self._last = None  # the edge or smoothing may have changed: the next frame is worked out afresh
        return True

    def reset(self) -> None:
        """Forget the previous frames (new source, scene cut)."""
        self._held: np.ndarray | None = None  # smoothed model-size mask
        self._streak: np.ndarray | None = None
        self._grey: np.ndarray | None = None  # small grey frame the model last saw, for motion
        self._thumb: np.ndarray | None = None
        self._alpha_work: np.ndarray | None = None  # last edge alpha at the working size, for settling
        self._last: Analysis | None = None  # the last frame the model saw, for the motion gate
        self._last_colour = False  # whether that frame's band carries the person's colour
        self._texture: np.ndarray | None = None  # T.texture of that frame, for the small-motion tier
        self._skips = 0  # frames in a row without a model run (the mask reused, or held and refined)
        self.still = False  # the last frame reused the mask: the picture had not changed
        self.held = False  # the last frame refined the held mask without a model run: it hardly moved
        if self.model == "rvm":
            self._backend.reset()

    def providers(self) -> dict[str, str]:
        return {self._backend.session.name: self._backend.provider}

    # ------------------------------------------------------------------ per frame

    def process(self, image: np.ndarray, result: Analysis, foreground: bool = True) -> None:
        """Fill result.mask (uint8, frame size), raw_mask, small, small_mask, the preprocess/
        inference/refine timings and, with ``foreground``, result.foreground. Inference errors
        propagate (the Analyzer keeps the last good mask)."""
        if self.model == "rvm":
            t0 = time.perf_counter()
            self._matte(image, result, foreground)
            if self._watch is not None:
                self._check_live((time.perf_counter() - t0) * 1e3)
        else:
            self._segment(image, result, foreground)
            if self._spare is not None:  # rvm handed over: it is tried again now and then
                self._check_return(image)

    def _check_live(self, frame_ms: float) -> None:
        """auto's rvm on a CPU: after each WATCH_FRAMES frames, the fast model takes over when rvm no
        longer keeps TARGET_FPS here (the stage's mean per frame over the budget auto measured
        against, or a worker-thread run taking longer than the frames it has)."""
        from livecam.analysis.rvm_live import TARGET_FPS, budget_ms

        self._watch.append(frame_ms)
        if len(self._watch) < WATCH_FRAMES:
            return
        matting = self._backend
        stage = sum(self._watch) / len(self._watch)
        runs, matting.run_ms = matting.run_ms, []
        self._watch = []
        self._watched += 1
        if self._watched == 1:
            return  # the first window is the session warming up (first runs are several times slower)
        profile = matting.profile
        run = sum(runs) / len(runs) if runs else 0.0
        if stage <= budget_ms() and not (profile.lag and run > profile.every * 1000.0 / TARGET_FPS):
            return
        from livecam.analysis.segmenter import Segmenter

        cost = f"{stage:.0f} ms a frame" if stage > budget_ms() else f"{run:.0f} ms a run every {profile.every} frames"
        try:
            fast = self._fast or Segmenter("landscape", self.settings.runtime.provider, self.settings.runtime.threads)
        except (ModelError, ValueError) as exc:
            log.warning("rvm is slow here (%s), and the fast model could not be opened (%s).", cost, exc)
            self._watch = None
            return
        # Too slow again soon after coming back: the machine is still busy, so trials are spaced further apart.
        returned = self._fast is not None
        self._gap = min(2 * self._gap, RETRY_MAX_GAP) if returned and self._watched <= 3 else 1
        self.notice = self.reason = (
            f"Person mask: the fast model for now, because rvm took {cost} live here, too slow for "
            f"{TARGET_FPS} fps (another program may be using the CPU); LiveCam tries rvm again when the CPU has room.")
        log.warning("%s", self.notice)
        matting.reset()  # a run in progress on the worker ends; the stream waits, open, for a try later
        self._rvm_over = max(stage / budget_ms(), run / (profile.every * 1000.0 / TARGET_FPS) if profile.lag else 0.0, 1.0)
        self._rvm_run, self._trial, self._frames, self._wait, self._quiet = run, None, 0, self._gap - 1, 0
        self.model, self._backend, self._spare, self._watch = "landscape", fast, matting, None
        self.reset()

    @property
    def _fast(self):
        """The fast model kept from an earlier hand-over, while rvm runs again (else None)."""
        return self._spare if self.model == "rvm" else None

    def _check_return(self, image: np.ndarray) -> None:
        """After a hand-over: at the end of each WATCH_FRAMES frames, read the last trial run of rvm
        and start the next; after RETRY_WINDOWS trials in a row that say it fits, rvm runs again."""
        from livecam.analysis.rvm_live import TARGET_FPS

        self._frames += 1
        if self._frames < WATCH_FRAMES:
            return
        self._frames = 0
        matting = self._spare
        if self._trial is not None:
            if not self._trial.done():
                return  # not judged until it ends (a run this slow will say so)
            trial, self._trial = self._trial, None
            try:
                trial.result()
            except Exception as exc:  # noqa: BLE001 - rvm failing here means: the fast model stays
                log.warning("rvm is not tried again here: its trial run failed (%s).", exc)
                self._spare = None
                return
            scale = matting.run_ms[-1] / self._rvm_run if matting.run_ms and self._rvm_run > 0 else float("inf")
            self._quiet = self._quiet + 1 if self._rvm_over * scale <= RETRY_FIT else 0
            log.debug("rvm trial run: %.0f ms (%.0f ms when too slow): %.0f%% of its budget.",
                      matting.run_ms[-1] if matting.run_ms else -1, self._rvm_run, 100 * self._rvm_over * scale)
            matting.run_ms = []
            if self._quiet >= RETRY_WINDOWS:
                self._rvm_again(matting, self._rvm_over * scale, TARGET_FPS)
                return
            self._wait = 0 if self._quiet else self._gap - 1
        if self._wait > 0:
            self._wait -= 1
            return
        self._trial = matting.start(matting.to_tensor(matting.input_for(image)))

    def _rvm_again(self, matting, share: float, target_fps: int) -> None:
        """rvm takes the mask back (its trial runs said it fits ``share`` of its budget)."""
        self.reason = (f"Person mask: rvm ({matting.profile.name}) again, because its trial runs here took "
                       f"{share:.0%} of what {target_fps} fps allows.")
        self.notice = ""
        log.warning("%s", self.reason)
        self.model, self._backend, self._spare = "rvm", matting, self._backend
        self._watch, self._watched, matting.run_ms = [], 1, []  # its session is warm: the first window is judged
        self.reset()

    def _new_scene(self, small: np.ndarray) -> bool:
        thumb = T.thumbnail(small)
        cut = T.scene_cut(self._thumb, thumb)
        if cut:
            log.debug("Scene cut: the mask starts afresh.")
            self.reset()
        self._thumb = thumb
        return cut

    def _segment(self, image: np.ndarray, result: Analysis, foreground: bool = True) -> None:
        seg = self._backend
        h, w = image.shape[:2]
        timings = result.timings
        t0 = time.perf_counter()
        s = self.settings.segmentation
        scale = working_scale(w, h) if s.refine else 1
        half = None
        if scale == 2:  # not kept in the result, so it can live in a reused buffer
            half = T.halve(image, T.buffer(self._space, "half", (h // 2, w // 2, 3), np.uint8))
        small = seg.shrink(image, half)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        motion = T.frame_motion(self._grey, grey)  # against the last frame the model saw
        if self._reusable(motion, (h, w), foreground):
            self.still, self.held = True, False
            self._skips += 1
            last = self._last
            result.raw_mask, result.small, result.small_mask, result.mask = last.raw_mask, small, last.small_mask, last.mask
            result.foreground = last.foreground
            t1 = time.perf_counter()
            timings.update(preprocess=(t1 - t0) * 1e3, inference=0.0, refine=0.0)
            return
        self.still = False
        self.held = self._holdable(motion)
        if self.held:
            # The picture moved by less than the model resolves: its last output stands for this
            # frame's, and the held mask is fitted afresh to this frame below. Smoothed against it as a
            # run's output would be, so the streak counter keeps counting frames: a held error leaves
            # when it would have. (Motion stays measured against the frame the model saw: moves add up.)
            self._skips += 1
            raw = self._last.raw_mask
            t1 = t2 = time.perf_counter()
        else:
            self._skips = 0
            tensor = seg.to_tensor(small)
            t1 = time.perf_counter()
            raw = seg.infer(tensor)
            t2 = time.perf_counter()
            if self._held is not None and self._held.shape != raw.shape:
                self.reset()
                motion = None
            self._grey, self._texture = grey, None
        self._held, self._streak = T.smooth_mask(self._held, raw, motion, s.temporal_smoothing, self._streak)
        held = self._held
        centre = T.edge_centre(s.edge)
        if s.refine:
            work = image if half is None else half
            guide, held_half = _halved(small, held)
            a, b, shift = T.colour_guided_fit(guide, held_half, GUIDE_RADIUS, GUIDE_EPS, foreground, self._space)
            a8, b8 = T.curve_coefficients(a, b, centre, T.EDGE_GAIN)
            alpha_work = edge_strips.apply_coefficients(a8, b8, work, self._space)
            ramp = T.ramp(alpha_work)  # found once, for settling and the edge colour
            if motion is not None and s.temporal_smoothing > 0 and self._alpha_work is not None \
                    and self._alpha_work.shape == alpha_work.shape:
                T.settle(alpha_work, self._alpha_work, motion, ramp)
            self._alpha_work = alpha_work
            mask = T.upscale(alpha_work, (w, h)) if scale == 2 else alpha_work
            if foreground:
                result.foreground = self._foreground(image, mask, alpha_work, scale, shift, ramp)
        else:
            # Without refinement the edge control still moves the outline (no narrowing).
            mask = T.to_frame_mask(T.level_curve(held, centre), (w, h))
        result.raw_mask, result.small, result.small_mask, result.mask = raw, small, held, mask
        self._last = result
        self._last_colour = foreground
        t3 = time.perf_counter()
        timings.update(preprocess=(t1 - t0) * 1e3, inference=(t2 - t1) * 1e3, refine=(t3 - t2) * 1e3)
        if not finite_in_unit_range(held):
            # A NaN (from the model's output, OpenCV's motion or a compiled loop) held over time stays
            # for good, NaN times the weight kept being NaN: every later frame went out hidden. This
            # frame keeps it (the output gate hides it); the next starts afresh.
            log.debug("The held person mask is not finite in 0..1; the mask starts afresh.")
            self.reset()

    def _reusable(self, motion: np.ndarray | None, size: tuple[int, int], foreground: bool) -> bool:
        """Whether the last frame's mask serves this one: the picture has not changed since the
        model last saw it, the held mask has settled (no pixel is on its way to being released by
        the streak counter, so no held error is carried along), and the model ran not long ago."""
        last = self._last
        if (motion is None or last is None or last.mask is None or last.mask.shape != size
                or not self.settings.runtime.motion_gate or self._skips >= T.GATE_MAX_SKIPS
                or (foreground and not self._last_colour) or not T.still(motion)):
            return False
        return self._streak is None or not self._streak.any()

    def _holdable(self, motion: np.ndarray | None) -> bool:
        """Whether the model may rest this frame and its held mask be refined against the frame
        (the small-motion tier): the picture moved by less than T.HOLD_SHIFT of a model pixel since
        the model last ran, and it ran on the frame before at the latest (T.HOLD_MAX_SKIPS)."""
        last = self._last
        if (motion is None or self._held is None or last is None or last.raw_mask is None
                or last.raw_mask.shape != self._held.shape or not self.settings.runtime.motion_gate
                or self._skips >= T.HOLD_MAX_SKIPS):
            return False
        if self._texture is None:  # once per model run, from the frame it saw
            self._texture = T.texture(self._grey)
        return T.small_motion(motion, self._texture)

    @staticmethod
    def _foreground(image, mask, alpha_work, scale, shift, ramp=None) -> T.EdgeColour:
        """The person's own colour on the edge pixels, from the edge fit's person - room colours."""
        points, flat = T.edge_band(alpha_work, scale, ramp)
        if not len(flat):
            return T.EdgeColour(flat, np.zeros((0, 3), np.uint8), image.shape)
        work_size = (alpha_work.shape[1], alpha_work.shape[0])
        # The colours are smooth: sampled once per working-size point, shared by its block.
        local = T.sample(shift, points, work_size)
        return T.EdgeColour(flat, T.edge_colour(image, mask, flat, local), image.shape)

    def _matte(self, image: np.ndarray, result: Analysis, want_foreground: bool = True) -> None:
        matting = self._backend
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        net_input = matting.input_for(image)
        self._new_scene(net_input)
        follow = matting.follow
        grey = None
        if follow is not None:
            grey = follow.grey(net_input)
            follow.advance()
        if follow is None or follow.due(grey, self.settings.runtime.motion_gate) and (not follow.ready or not follow.lag):
            tensor = matting.to_tensor(net_input)
            t1 = time.perf_counter()
            alpha, fgr = matting.infer(tensor)
            t2 = time.perf_counter()
            if follow is not None:
                follow.started(grey)
                follow.keep(grey, alpha, fgr)
            self.still = False
        else:  # rvm rests or runs beside this frame: its last matte moves with the picture
            if follow.due(grey, self.settings.runtime.motion_gate):
                follow.started(grey, matting.start(matting.to_tensor(net_input)))
            t1 = time.perf_counter()
            alpha, fgr = follow.carry(grey)
            t2 = time.perf_counter()
            self.still = follow.held
        # The outline at rvm's alpha RVM_LEVEL (0 stays 0, RVM_LEVEL becomes 0.5, 2 x RVM_LEVEL and
        # more is solid): one scale, no negatives for convertScaleAbs to fold.
        alpha8 = T.shift_edge(cv2.convertScaleAbs(alpha, alpha=255.0 / (2 * RVM_LEVEL)),
                              round(self.settings.segmentation.edge * RVM_EDGE_SHIFT * alpha.shape[1]))
        if follow is not None and self.settings.segmentation.temporal_smoothing > 0:
            # One frame in three rvm's fresh matte replaces the carried one, and on still edges that
            # step shows as shimmer; settled as the fast model's edge is, still-pixel flicker fell
            # from 0.76 to 0.30 (x1000, clips d12, d20, s32; rvm on every frame: 0.65) and on the
            # green-screen clip from 0.195 to 0.042 with its IoU 0.950 either way.
            previous, motion = self._alpha_work, T.frame_motion(self._grey, grey)
            if previous is not None and motion is not None and previous.shape == alpha8.shape:
                T.settle(alpha8, previous, motion)
            self._alpha_work, self._grey = alpha8, grey
        ah, aw = alpha8.shape
        mask = alpha8 if (aw, ah) == (w, h) else cv2.resize(alpha8, (w, h), interpolation=cv2.INTER_LINEAR)
        if want_foreground:
            result.foreground = self._rvm_foreground(image, mask, alpha8, fgr)
        small_size = (SMALL_WIDTH, max(1, round(SMALL_WIDTH * h / w)))
        result.raw_mask = alpha
        result.small = cv2.resize(net_input, small_size, interpolation=cv2.INTER_AREA)
        result.small_mask = cv2.resize(alpha8, small_size, interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)
        result.mask = mask
        t3 = time.perf_counter()
        result.timings.update(preprocess=(t1 - t0) * 1e3, inference=(t2 - t1) * 1e3, refine=(t3 - t2) * 1e3)

    @staticmethod
    def _rvm_foreground(image: np.ndarray, mask: np.ndarray, alpha8: np.ndarray,
                        fgr: np.ndarray) -> np.ndarray | T.EdgeColour:
        """rvm's own estimate of the person's colour on the edge pixels: the frame with it there
        (a wide band or an odd size), else the edge pixels alone."""
        h, w = image.shape[:2]
        ah, aw = alpha8.shape
        scale = w // aw if (aw, ah) in ((w, h), (w // 2, h // 2)) and w % aw == 0 and h % ah == 0 else 1
        band = cv2.inRange(alpha8, 5, 250)
        if cv2.countNonZero(band) > DENSE_BAND * band.size or scale == 1 and (aw, ah) != (w, h):
            # A wide band (a blurred matte) or an odd size: one dense pass is cheaper than pixel lists.
            foreground = image.copy()
            fgr_up = fgr if (aw, ah) == (w, h) else cv2.resize(fgr, (w, h), interpolation=cv2.INTER_LINEAR)
            cv2.copyTo(fgr_up, cv2.inRange(mask, 5, 250), foreground)
            return foreground
        points, flat = T.edge_band(alpha8, scale)
        if not len(flat):  # no edge in the picture (all person, or none)
            return T.EdgeColour(flat, np.zeros((0, 3), np.uint8), image.shape)
        colour = np.repeat(T.sample(fgr, points, (aw, ah)), scale * scale, axis=0)
        colour += np.float32(0.5)
        return T.EdgeColour(flat, np.clip(colour, 0, 255).astype(np.uint8), image.shape)


def _halved(small: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model-size frame (as float32 0..1) and mask at half their size, for the guided fit."""
    h, w = mask.shape[:2]
    size = (max(1, w // 2), max(1, h // 2))
    if (READY and w % 2 == 0 and h > 2 and h % size[1] and small.shape == (h, w, 3) and small.dtype == np.uint8
            and mask.dtype == np.float32 and small.flags.c_contiguous and mask.flags.c_contiguous):
        # An odd number of rows (the landscape model's 131): OpenCV's general area shrink, as the
        # two resizes below make it, in one compiled pass (mask_kernels.halve_across).
        guide, half_mask = np.empty((size[1], size[0], 3), np.float32), np.empty((size[1], size[0]), np.float32)
        halve_across(small, mask, *area_table(h, size[1]), np.float32(1 / 255), guide, half_mask)
        return guide, half_mask
    guide = cv2.resize(small, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    guide *= np.float32(1 / 255)
    return guide, cv2.resize(mask, size, interpolation=cv2.INTER_AREA)


def _gpu_possible(provider: str) -> bool:
    """Whether this provider setting can give a GPU at all (without opening a session)."""
    if provider == "cpu":
        return False
    from livecam.analysis.runtime import provider_list

    try:
        return any(p != "CPUExecutionProvider" for p in provider_list(provider))
    except ModelError:
        return False
