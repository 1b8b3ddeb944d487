"""The one compositing helper every background effect shares: the person over a new background (and,
with the same arithmetic, a live hand back over what a face effect drew).

All of it is 8-bit arithmetic: a float blend in numpy costs 9-13 ms per 720p frame. Only the outline
band mixes person and background: the rest is the background with the solid person copied over it.
For a narrow band (1-3 % of a 720p frame with the frame-guided edge) that is one fused pass over the
frame (``kernels.person_over``: copies of the whole-room and whole-person runs, the band's pixels
blended as they come), which replaced a band search, a background copy, a masked copy and a gathered
band blend (4 OpenCV passes): on s18 at 720p, in the pipeline, 1.13 -> 0.67 ms a frame (1080p 3.34 ->
1.94), the same picture to the bit. A wide band (a blurred matte, the photo avatar's soft portrait) gets
``blend``'s full blend over the person's box, as before: its rounding differs from the band blend's
by a level, and the avatar's pictures are kept as they were.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.effects import composite_kernels as kernels
from livecam.analysis.hands import Hand, hand_mask
from livecam.analysis.temporal import EdgeColour, take_pixels

# The blended share of the frame above which ``blend`` over the person's box is used instead of the
# band blend (the two differ by rounding; the switch is kept where it was, so every picture stays
# the one it was).
BAND_SHARE = 0.05
_NO_PIXELS = np.zeros(0, np.intp)


def composite(frame: np.ndarray, background: np.ndarray, mask: np.ndarray,
              foreground: np.ndarray | EdgeColour | None = None, scratch: bool = False) -> np.ndarray:
    """Person from ``frame`` over ``background`` by uint8 ``mask`` (255 = person).

    ``foreground``: the person's own colour on the edge, where the frame's pixels are part old room
    (``Analysis.foreground``): either the edge pixels alone (EdgeColour, the selfie-model path) or a
    frame-size BGR uint8 picture of which only the partial-mask pixels (1..254) are used. Everywhere
    else the frame is taken as it is now, so what effects did to it after the analysis (touch-up,
    face swap) stays. ``scratch``: the background is the caller's to overwrite (made for this
    frame), and the result is written into it instead of a copy. Raises ValueError for pictures
    that do not fit each other (the kernels read them as flat bytes and would read past them).
    """
    _check(frame, background, mask)
    dense = isinstance(foreground, np.ndarray) and foreground.shape == frame.shape
    edge = foreground if isinstance(foreground, EdgeColour) and foreground.shape == frame.shape else None
    if dense and foreground.dtype != np.uint8:
        raise ValueError(f"the person's colour picture is {foreground.dtype}, not uint8")
    index = _NO_PIXELS if edge is None else np.ascontiguousarray(edge.index, np.intp)
    flat_mask = np.ascontiguousarray(mask).reshape(-1)
    most = BAND_SHARE * mask.size
    # Counted exactly only when a cheap bound cannot tell: the edge work's bands are far below it.
    count = 0 if kernels.band_bound(flat_mask) + len(index) <= most else kernels.band_size(flat_mask, index)
    if count < 0:
        raise ValueError("edge colour pixels lie outside the frame")
    # Gathered before ``out`` may overwrite the background (scratch); else read from it at the end.
    edge_back = take_pixels(background, index) if len(index) and scratch else None
    if count > most:
        # Blended over the person's box alone: outside it the mask is 0 and the blend gives the
        # background exactly (the photo avatar's soft portrait fills a third of the frame).
        out = background if scratch else background.copy()
        x, y, bw, bh = cv2.boundingRect(mask)
        rows, cols = slice(y, y + bh), slice(x, x + bw)
        person = frame[rows, cols]
        if dense:
            person = person.copy()
            cv2.copyTo(foreground[rows, cols], cv2.inRange(mask[rows, cols], 1, 254), person)
        if bw and bh:
            blend(person, background[rows, cols], mask[rows, cols], dst=out[rows, cols])
    else:
        back = np.ascontiguousarray(background)
        if scratch and back is background:
            out = background
        else:
            out = np.empty(frame.shape, np.uint8)
        person = np.ascontiguousarray(frame).reshape(-1)
        colour = np.ascontiguousarray(foreground).reshape(-1) if dense else person
        kernels.person_over(person, colour, back.reshape(-1), flat_mask, out.reshape(-1), out is background)
        if scratch and out is not background:  # a view that is not one block of memory
            background[...] = out
            out = background
    if len(index):
        # The edge pixels with the person's own colour in place of the frame's.
        colour = np.ascontiguousarray(edge.colour, np.uint8)
        if colour.shape != (len(index), 3):
            raise ValueError(f"{len(index)} edge pixels but {len(colour)} edge colours")
        target = out if out.flags.c_contiguous else np.ascontiguousarray(out)
        if edge_back is None:  # ``out`` is another picture than the background
            done = kernels.blend_from(target.reshape(-1), colour, np.ascontiguousarray(background).reshape(-1),
                                      flat_mask, index)
        else:
            done = kernels.blend_at(target.reshape(-1), colour, edge_back, flat_mask, index)
        if not done:
            raise ValueError("edge colour pixels lie outside the frame")
        if target is not out:
            out[...] = target
    return out


def _check(frame: np.ndarray, background: np.ndarray, mask: np.ndarray) -> None:
    """The pictures the kernels may read as flat bytes: BGR uint8 of one size and its uint8 mask."""
    if frame.dtype != np.uint8 or background.dtype != np.uint8 or mask.dtype != np.uint8:
        raise ValueError(f"composite needs uint8 pictures, got {frame.dtype}, {background.dtype}, {mask.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3 or background.shape != frame.shape or mask.shape != frame.shape[:2]:
        raise ValueError(f"composite needs BGR pictures and a mask of one size, got {frame.shape}, "
                         f"{background.shape}, {mask.shape}")


def blend(person: np.ndarray, background: np.ndarray, mask: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
    """person x mask + background x (255 - mask), in 8 bits (BGR images, a one-channel uint8 mask),
    written into ``dst`` when given (it may be ``background`` itself: that is read first)."""
    alpha = cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR)
    out = cv2.multiply(person, alpha, scale=1 / 255)
    # Reuse the alpha buffer for the background term: two fewer 720p buffers per frame, -0.4 ms.
    cv2.bitwise_not(alpha, dst=alpha)
    cv2.multiply(background, alpha, dst=alpha, scale=1 / 255)
    made = cv2.add(out, alpha, dst=out if dst is None else dst)
    if dst is not None and made is not dst:
        # OpenCV writes into ``dst`` only a sum of its type and size; any other it hands back as a new
        # array, ``dst`` untouched. The callers read ``dst``: a swap's face box kept the wearer's face.
        raise ValueError(f"the blend came out {made.dtype} {made.shape}, not into the {dst.dtype} {dst.shape} picture")
    return made


def keep_in_front(out: np.ndarray, live: np.ndarray, hands: list[Hand]) -> np.ndarray:
    """``out`` (a face effect's frame) with the ``live`` frame's hands put back on top, softly: a
    hand raised to the face stays in front of whatever the effect drew there."""
    mask = hand_mask(hands, live.shape)
    if mask is None or out is live:
        return out
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:  # the hands lie wholly outside the frame
        return out
    rows, cols = slice(y, y + h), slice(x, x + w)
    out = out.copy()
    # The hand is the "person" here, over what the effect drew.
    out[rows, cols] = composite(live[rows, cols], out[rows, cols], mask[rows, cols], scratch=True)
    return out
