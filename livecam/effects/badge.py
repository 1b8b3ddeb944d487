"""The disclosure badge: a small "AI-altered" label in a corner of every frame that an effect
altered (face swap, photo avatar, eye contact), and of the HOLD_FRAMES after the last such frame, so
that it does not blink. It runs last in the chain so nothing paints over it.

The label is drawn once per frame size into a small patch (text plus a rounded, semi-opaque dark
plate) and blended into the corner each frame, which costs a few hundred microseconds at 720p.
The registry builds it while any face-altering effect is on; its own section (``badge.enabled``,
on by default) says whether it is drawn. Turning it off is logged here, the one place that sees it.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from livecam.effects import BadgeSettings, effect_kernels
from livecam.effects.base import NO_OUTPUTS, EffectBase, Outputs
from livecam.types import Analysis

log = logging.getLogger(__name__)

BADGE_OFF_WARNING = "The AI-altered badge is off; viewers will not be told this video is altered."

TEXT = "AI-altered"
TEXT_HEIGHT = 0.028  # cap height as a share of the frame height: ~20 px at 720p, legible in a call tile
MIN_TEXT_PX = 9
MARGIN = 0.025  # gap to the frame edges, share of the frame height
PLATE_OPACITY = 0.6  # the plate darkens what is under it; the text itself is opaque white
FONT = cv2.FONT_HERSHEY_SIMPLEX
# The label stays this many frames after the last altered one (1.5 s at 30 fps). Eye contact alters
# only the frames where you look at the screen: on a head-turn clip (lp_d3) the label went on and
# off 12 times in 160 frames, a blinking corner that reads as a glitch and, off between glances,
# as unaltered video. Shown a little longer than needed, never shorter.
HOLD_FRAMES = 45


def render_label(frame_height: int) -> tuple[np.ndarray, np.ndarray]:
    """The label for frames ``frame_height`` tall: BGR colour and float32 alpha (0..1) patches."""
    text_px = max(MIN_TEXT_PX, int(round(TEXT_HEIGHT * frame_height)))
    # Hershey glyphs are drawn at 4x and shrunk with area averaging: smooth edges at small sizes.
    k = 4
    scale = cv2.getFontScaleFromHeight(FONT, text_px * k)
    thickness = max(1, int(round(text_px * k / 9)))
    (tw, th), base = cv2.getTextSize(TEXT, FONT, scale, thickness)
    pad_x, pad_y = int(0.6 * th), int(0.45 * th)
    w, h = tw + 2 * pad_x, th + base + 2 * pad_y
    text = np.zeros((h, w), np.uint8)
    cv2.putText(text, TEXT, (pad_x, pad_y + th), FONT, scale, 255, thickness, cv2.LINE_AA)
    plate = np.zeros((h, w), np.uint8)
    r = h // 3
    cv2.rectangle(plate, (r, 0), (w - 1 - r, h - 1), 255, -1)
    cv2.rectangle(plate, (0, r), (w - 1, h - 1 - r), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(plate, (cx, cy), r, 255, -1, cv2.LINE_AA)
    size = (max(1, w // k), max(1, h // k))
    text = cv2.resize(text, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    plate = cv2.resize(plate, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    alpha = np.maximum(plate * PLATE_OPACITY, text)
    # Premultiplied: white where the text is, black plate elsewhere; colour = text / alpha.
    colour = np.where(alpha > 0, text / np.maximum(alpha, 1e-6), 0.0) * 255
    return cv2.merge([colour, colour, colour]).astype(np.float32), alpha


class Badge(EffectBase):
    """Draws the "AI-altered" label in the top-right corner, scaled to the frame."""

    in_place = True

    def __init__(self, settings: BadgeSettings | None = None, *_reads) -> None:
        self._height = -1
        self._label: tuple[np.ndarray, np.ndarray] | None = None
        self.visible = True if settings is None else bool(settings.enabled)
        self._held = 0  # frames the label still stays after the last altered one
        if not self.visible:
            log.warning(BADGE_OFF_WARNING)

    def position(self, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 of the label in a frame of (w, h)."""
        w, h = frame_size
        colour, _ = self._label_for(h)
        lh, lw = colour.shape[:2]
        lw, lh = min(lw, w), min(lh, h)
        m = int(round(MARGIN * h))
        x1, y0 = max(lw, w - m), min(m, h - lh)
        return x1 - lw, y0, x1, y0 + lh

    def _label_for(self, height: int) -> tuple[np.ndarray, np.ndarray]:
        if self._label is None or self._height != height:
            colour, alpha = render_label(height)
            # Kept for the session: a label drawn wrong once (OpenCV drew no text, or NaN) left every
            # altered frame after it without a readable badge. Refused, this frame fails (hidden).
            text = alpha >= 0.95
            if not (np.isfinite(colour).all() and np.isfinite(alpha).all() and text.any()
                    and colour.shape[:2] == alpha.shape and (colour[text] >= 200).all()):
                raise ValueError("the AI-altered label came out without its white text")
            self._label = colour, alpha
            self._height = height
        return self._label

    def update(self, settings: BadgeSettings, *_reads) -> bool:
        """Shown or hidden in place: a rebuild would leave altered frames without a badge (concealed)
        for the frame it takes."""
        if self.visible and not settings.enabled:
            log.warning(BADGE_OFF_WARNING)
        self.visible = bool(settings.enabled)
        return True

    def apply(self, image: np.ndarray, analysis: Analysis, own: bool = False) -> tuple[np.ndarray, Outputs]:
        if analysis.altered:
            self._held = HOLD_FRAMES
        elif self._held:
            self._held -= 1
        else:
            return image, NO_OUTPUTS  # nothing altered in the last HOLD_FRAMES frames
        if not self.visible:
            return image, NO_OUTPUTS
        h, w = image.shape[:2]
        x0, y0, x1, y1 = self.position((w, h))
        colour, alpha = self._label_for(h)
        colour, alpha = colour[: y1 - y0, : x1 - x0], alpha[: y1 - y0, : x1 - x0]
        out = image if own else image.copy()  # the label alone is written: the frame's own, when it is ours
        if (effect_kernels.READY and out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
                and out.flags.c_contiguous):
            # The same float32 steps in one compiled pass over the label (~0.06 ms less at 720p).
            effect_kernels.label_into(np.ascontiguousarray(colour), np.ascontiguousarray(alpha),
                                      out.reshape(h, -1), y0, x0)
            return out, NO_OUTPUTS
        under = out[y0:y1, x0:x1].astype(np.float32)
        a = alpha[..., None]
        out[y0:y1, x0:x1] = np.clip(colour * a + under * (1 - a), 0, 255).astype(np.uint8)
        return out, NO_OUTPUTS
