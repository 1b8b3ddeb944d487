"""Auto-framing: keep the face framed the way a camera operator would.

The operator picks a head-and-shoulders framing around the tracked face (the face a third of the
picture's height, the eyes a little above the middle, zoomed in far enough to centre a face that
sits off to one side), moves only when the face leaves a dead zone
around the current framing (so a talking head never makes the picture twitch), and gets there on a
critically damped spring (eases in and out, never overshoots). When the face is lost it holds the
last framing for a moment, in case the face comes back, then eases back out to the whole picture.

The picture is cut on whole pixels and scaled back up in one bilinear pass, which keeps the effect
under a millisecond at 720p.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from livecam.effects.base import NO_OUTPUTS, EffectBase, Outputs
from livecam.effects.scaling import upscale_colour
from livecam.types import Analysis

FACE_SHARE = 0.30  # face box height / framing height: head and shoulders
EYE_LINE = 0.42  # where the face centre sits, from the top of the framing
MAX_FACE_SHARE = 0.75  # zooming to centre a face stops before the face fills more of the framing
DEAD_ZONE = 0.06  # the face may wander this share of the framing before the operator moves
ZOOM_DEAD_ZONE = 0.10  # relative zoom change needed before the framing is resized
HOLD_S = 2.0  # a lost face keeps its framing this long before the picture eases back out
SLOW_S, FAST_S = 1.6, 0.35  # settle time of the spring at follow speed 0 and 1
SETTLED = 1e-3  # zoom within this of 1 and at rest: the frame goes out untouched


@dataclass
class Framing:
    """Centre (x, y) in frame pixels and zoom (1 = the whole frame)."""

    x: float
    y: float
    zoom: float

    def as_array(self) -> np.ndarray:
        return np.array([self.x, self.y, self.zoom], np.float64)


def target_framing(box: np.ndarray, size: tuple[int, int], max_zoom: float) -> Framing:
    """The framing an operator would pick for a face ``box`` (x0, y0, x1, y1) in a (w, h) frame.

    The zoom is the larger of two: the one that makes the face a head-and-shoulders share of the
    picture, and the one that leaves room to pan the face to the centre (a face near an edge can
    only be centred in a cut-out narrower than twice its distance to that edge). Both stay within
    ``max_zoom``, so a face too far out for it ends up as near the centre as the limit allows.
    """
    w, h = size
    face_h = max(1.0, float(box[3] - box[1]))
    cx = 0.5 * float(box[0] + box[2])
    fy = 0.5 * float(box[1] + box[3])
    by_size = FACE_SHARE * h / face_h
    by_pan = max(w / max(1.0, 2.0 * min(cx, w - cx)),  # cut-out narrow enough to centre cx
                 EYE_LINE * h / max(1.0, fy),  # short enough to put the face at the eye line ...
                 (1.0 - EYE_LINE) * h / max(1.0, h - fy))  # ... without running off the bottom
    # Panning alone never pushes a large face out of the cut-out.
    fits = max(1.0, MAX_FACE_SHARE * h / face_h)
    zoom = min(max(by_size, min(by_pan, fits), 1.0), max_zoom)  # plain floats: np.clip costs 10x on scalars
    crop_h = h / zoom
    cy = fy + (0.5 - EYE_LINE) * crop_h
    return clamp(Framing(cx, cy, zoom), size)


def clamp(f: Framing, size: tuple[int, int]) -> Framing:
    """Keep the framing inside the picture (no borders ever show)."""
    w, h = size
    zoom = max(1.0, f.zoom)
    half_w, half_h = 0.5 * w / zoom, 0.5 * h / zoom
    return Framing(min(max(float(f.x), half_w), w - half_w), min(max(float(f.y), half_h), h - half_h), zoom)


class AutoFrame(EffectBase):
    """``apply(frame, analysis)`` → the frame cut to the current framing, scaled back to full size."""

    needs = frozenset({"faces_carried"})

    def __init__(self, settings, output=None) -> None:
        self.max_zoom = settings.max_zoom
        self.speed = settings.speed
        self.fps = float(getattr(output, "fps", 30) or 30)
        self.reset()

    def reset(self) -> None:
        """A new or resumed source: framing starts from the whole picture, as when switched on, not
        from where the last picture's framing was (a glide across somebody else's room)."""
        self._size: tuple[int, int] | None = None
        self._state: np.ndarray | None = None  # x, y, zoom
        self._velocity = np.zeros(3)
        self._aim = np.zeros(3)  # the goal, smoothed: what the spring pulls towards
        self._goal: Framing | None = None
        self._lost_for = 0.0

    def update(self, settings, output=None) -> bool:
        """Zoom limit and speed change in place: the camera keeps its current framing and eases on."""
        self.max_zoom = settings.max_zoom
        self.speed = settings.speed
        if output is not None:
            self.fps = float(output.fps)
        return settings.enabled

    @property
    def framing(self) -> Framing | None:
        return None if self._state is None else Framing(*self._state)

    def _settle_time(self) -> float:
        return SLOW_S + (FAST_S - SLOW_S) * float(np.clip(self.speed, 0.0, 1.0))

    def _choose_goal(self, analysis: Analysis, size: tuple[int, int], dt: float) -> Framing:
        w, h = size
        whole = Framing(0.5 * w, 0.5 * h, 1.0)
        if analysis.faces:
            self._lost_for = 0.0
            face = max(analysis.faces, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
            wanted = target_framing(face.box, size, self.max_zoom)
            goal = self._goal
            if goal is None:
                return wanted
            crop_w, crop_h = w / goal.zoom, h / goal.zoom
            moved = max(abs(wanted.x - goal.x) / crop_w, abs(wanted.y - goal.y) / crop_h)
            resized = abs(math.log(wanted.zoom / goal.zoom))
            if moved > DEAD_ZONE or resized > math.log1p(ZOOM_DEAD_ZONE):
                return wanted
            return goal
        self._lost_for += dt
        if self._goal is not None and self._lost_for < HOLD_S:
            return self._goal
        return whole

    def apply(self, image: np.ndarray, analysis: Analysis) -> tuple[np.ndarray, Outputs]:
        h, w = image.shape[:2]
        size = (w, h)
        dt = 1.0 / self.fps
        if size != self._size:
            self._size, self._state, self._goal = size, None, None
            self._velocity[:] = 0.0
        self._goal = clamp(self._choose_goal(analysis, size, dt), size)
        goal = self._goal.as_array()
        if self._state is None:
            self._state = np.array([0.5 * w, 0.5 * h, 1.0])  # start from the whole picture and ease in
            self._aim = self._state.copy()
        # The aim glides to the goal (first order), and the framing follows the aim on a critically
        # damped spring: together they start with zero acceleration (a gentle ease-in), slow down
        # into the goal (ease-out) and never overshoot. Semi-implicit Euler is stable with ω·dt ≪ 1.
        omega = 6.0 / self._settle_time()
        self._aim += (goal - self._aim) * (1.0 - math.exp(-omega * dt))
        accel = omega * omega * (self._aim - self._state) - 2.0 * omega * self._velocity
        self._velocity += accel * dt
        self._state += self._velocity * dt
        f = clamp(Framing(*self._state), size)
        self._state[:] = (f.x, f.y, f.zoom)
        if f.zoom - 1.0 < SETTLED and np.abs(self._velocity).max() < SETTLED:
            return image, NO_OUTPUTS
        # A whole-pixel cut scaled up in one pass: a sub-pixel cut cost 8-9 ms at 720p on one thread.
        # The framing moves in source-pixel steps, which the easing keeps rare and small at the ends
        # of a move. The scaling is temporal.upscale's warpAffine, resize's pixel centres: 0.6 ms
        # against resize's 1.5 (1280x720 from a 990x557 cut), within a level of resize's values (its
        # own rounding: 1 at most on camera frames, on hard black-white steps and on noise).
        cw, ch = min(w, max(2, round(w / f.zoom))), min(h, max(2, round(h / f.zoom)))
        x0 = min(max(0, round(f.x - 0.5 * cw)), w - cw)
        y0 = min(max(0, round(f.y - 0.5 * ch)), h - ch)
        if (cw, ch) == (w, h):
            return image, NO_OUTPUTS
        return upscale_colour(image[y0: y0 + ch, x0: x0 + cw], size), NO_OUTPUTS
