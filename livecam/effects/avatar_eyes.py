"""Which of the wearer's lids closes, for the face swap's drawing of the photo's shut eyes.

A blink drops the upper lid; a smile or a squint raises the lower one. Drawn always as a falling
upper lid (LID_MEET 0.8 of the way down), a broad smile read as shut eyes (lp_d12 frames 48-52: the
photo's eyes drawn shut on an open-eyed, smiling wearer) and the photo's lower lid barely moved on a
squint (lp_d3's worst self-reenactment frames). Each mesh margin's place across the eye (eye widths
below the line through the corners, so it carries from the wearer's eye to the photo's whatever the
faces' sizes and roll) is kept against its own open rest (the most open it has been lately, as the
usual open gap is), and a closure is split between the lids as the wearer's own two margins moved.
"""
from __future__ import annotations

import numpy as np

from livecam.analysis.eye_look import EYE_CORNERS

# Lid margins per eye as (upper, lower) pairs from the outer corner in (MediaPipe's eye "upper 0" and
# "lower 0" contours), the eyes in EYE_CORNERS order (the subject's right eye first).
MARGINS = (
    ((246, 7), (161, 163), (160, 144), (159, 145), (158, 153), (157, 154), (173, 155)),
    ((466, 249), (388, 390), (387, 373), (386, 374), (385, 380), (384, 381), (398, 382)),
)
OPEN_RISE, OPEN_FALL = 0.3, 0.01  # a margin's open rest follows a more open place fast, a closer one slowly
# About the mesh's frame-to-frame jitter of a lid margin (eye widths; lp_d12's open frames 0-5 vary
# by 0.005-0.01): movements this small leave the split at its prior (a closure the mesh barely
# shows, read on the picture only).
MARGIN_JITTER = 0.01


def eye_axes(landmarks: np.ndarray, eye: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One eye's outer corner, unit vectors along it (outer to inner) and across it (down the face),
    and its width in pixels."""
    _, outer, inner = EYE_CORNERS[eye]
    a = landmarks[outer, :2].astype(np.float64)
    axis = landmarks[inner, :2] - a
    width = max(float(np.hypot(*axis)), 1e-6)
    along = axis / width
    across = np.array([-along[1], along[0]])
    if across[1] < 0.0:
        across = -across
    return a, along, across, width


def margins(landmarks: np.ndarray, eye: int) -> tuple[float, float]:
    """The upper and lower lid margins' mean place across one eye (eye widths below the corners' line)."""
    a, _, across, width = eye_axes(landmarks, eye)
    pairs = np.asarray(MARGINS[eye])
    upper = float(np.dot(landmarks[pairs[:, 0], :2].mean(0) - a, across)) / width
    lower = float(np.dot(landmarks[pairs[:, 1], :2].mean(0) - a, across)) / width
    return upper, lower


class LidSplit:
    """Per eye, the share of a closure the upper lid makes (the rest, the lower lid rising), from how
    far the wearer's two mesh margins moved from their open rests: a blink drops the upper margin, a
    smile raises the lower one."""

    def __init__(self, prior: float) -> None:
        self.prior = prior  # the split where the margins have not moved (a closure seen on the picture only)
        self.reset()

    def reset(self) -> None:
        self._rest: list[list[float] | None] = [None, None]

    def update(self, landmarks: np.ndarray) -> list[float]:
        split = []
        for k in (0, 1):
            upper, lower = margins(landmarks, k)
            rest = self._rest[k] or [upper, lower]
            # More open is higher for the upper margin, lower for the lower one.
            rest[0] += (OPEN_RISE if upper < rest[0] else OPEN_FALL) * (upper - rest[0])
            rest[1] += (OPEN_RISE if lower > rest[1] else OPEN_FALL) * (lower - rest[1])
            self._rest[k] = rest
            drop, rise = max(upper - rest[0], 0.0), max(rest[1] - lower, 0.0)
            split.append((drop + self.prior * MARGIN_JITTER) / (drop + rise + MARGIN_JITTER))
        return split
