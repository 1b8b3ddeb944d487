"""The one compositing helper every background effect shares: the person over a new background (and,
with the same arithmetic, a live hand back over what a face effect drew).

All of it is 8-bit OpenCV arithmetic: a float blend in numpy costs 9-13 ms per 720p frame,
``cv2.multiply`` + ``cv2.add`` about 1 ms. Only the outline band mixes person and background: the
rest is the background with the solid person copied over it, and the band's pixels (found with
one pass over the mask, 1-3 % of a 720p frame with the frame-guided edge) are blended alone. On
s18 at 720p that is 0.73 ms against 1.16 for a full-frame blend. A wide band (a blurred matte)
costs more gathered than streamed, and gets the full-frame blend. A background effect keeps a Band,
so a mask the motion gate hands on again is not searched for its band again.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis.hands import Hand, hand_mask
from livecam.analysis.temporal import EdgeColour, put_pixels, take_pixels

# The band's share of the frame above which the full-frame blend is cheaper: a band pixel gathered
# and blended costs ~20 ns, a frame pixel streamed ~1.3 ns (720p, one thread).
BAND_SHARE = 0.05


class Band:
    """The outline band's pixels of the last mask an effect composited with, kept by the effect: when
    the motion gate reuses the last mask (the same array, and the same edge colour), finding the band
    again is a frame-size search for the same answer (0.16 ms at 720p, quiet). Masks are never
    changed once handed out, and the reference kept here keeps the array's identity meaningful."""

    __slots__ = ("mask", "foreground", "index")

    def __init__(self) -> None:
        self.mask = self.foreground = self.index = None

    def find(self, mask: np.ndarray, foreground, edge: EdgeColour | None) -> np.ndarray:
        """band_index(mask, edge), found again only for another mask or edge colour."""
        if mask is self.mask and foreground is self.foreground:
            return self.index
        index = band_index(mask, edge)
        self.mask, self.foreground, self.index = mask, foreground, index
        return index


def band_index(mask: np.ndarray, edge: EdgeColour | None) -> np.ndarray:
    """The flat indices (row * width + col, in row order) of the band's pixels: mask 1..254, less
    the edge pixels that carry the person's own colour (blended apart)."""
    band = cv2.inRange(mask, 1, 254)
    if edge is not None:
        np.put(band.reshape(-1), edge.index, 0)
    points = cv2.findNonZero(band)
    if points is None:
        return np.zeros(0, np.intp)
    points = points.reshape(-1, 2)
    return points[:, 1].astype(np.intp) * mask.shape[1] + points[:, 0]


def composite(frame: np.ndarray, background: np.ndarray, mask: np.ndarray,
              foreground: np.ndarray | EdgeColour | None = None, scratch: bool = False,
              band: Band | None = None) -> np.ndarray:
    """Person from ``frame`` over ``background`` by uint8 ``mask`` (255 = person).

    ``foreground``: the person's own colour on the edge, where the frame's pixels are part old room
    (``Analysis.foreground``): either the edge pixels alone (EdgeColour, the selfie-model path) or a
    frame-size BGR uint8 picture of which only the partial-mask pixels (1..254) are used. Everywhere
    else the frame is taken as it is now, so what effects did to it after the analysis (touch-up,
    face swap) stays. ``scratch``: the background is the caller's to overwrite (made for this
    frame), and the result is written into it instead of a copy. ``band``: the caller's Band, which
    remembers the last mask's band pixels.
    """
    dense = isinstance(foreground, np.ndarray) and foreground.shape == frame.shape
    edge = foreground if isinstance(foreground, EdgeColour) and foreground.shape == frame.shape else None
    index = band_index(mask, edge) if band is None else band.find(mask, foreground, edge)
    count = len(index) + (0 if edge is None else len(edge))
    edge_back = take_pixels(background, edge.index) if edge is not None and len(edge) else None
    if count > BAND_SHARE * mask.size:
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
        out = background if scratch else background.copy()
        back = take_pixels(background, index)  # before the copy below: ``out`` may be ``background``
        # The frame wherever the mask is not 0: the band's pixels are blended over right after, so
        # the mask serves as it is, without a thresholded copy of it (one frame-size pass less).
        cv2.copyTo(frame, mask, out)
        if len(index):
            # A frame-size foreground is read at the band's pixels alone: no copy of the frame.
            _blend_pixels(out, take_pixels(foreground if dense else frame, index), back, mask, index)
    if edge_back is not None:
        # The edge pixels (on the ramp, so not in the band's list) with the person's own colour in
        # place of the frame's.
        _blend_pixels(out, edge.colour, edge_back, mask, edge.index)
    return out


def blend(person: np.ndarray, background: np.ndarray, mask: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
    """person x mask + background x (255 - mask), in 8 bits (BGR images, a one-channel uint8 mask),
    written into ``dst`` when given (it may be ``background`` itself: that is read first)."""
    alpha = cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR)
    out = cv2.multiply(person, alpha, scale=1 / 255)
    # Reuse the alpha buffer for the background term: two fewer 720p buffers per frame, -0.4 ms.
    cv2.bitwise_not(alpha, dst=alpha)
    cv2.multiply(background, alpha, dst=alpha, scale=1 / 255)
    return cv2.add(out, alpha, dst=out if dst is None else dst)


def _blend_pixels(out: np.ndarray, colour: np.ndarray, back: np.ndarray, mask: np.ndarray,
                  index: np.ndarray) -> None:
    """Blend ``colour`` over ``back`` (N x 3 uint8 each, the background's pixels) at the flat
    ``index`` (row * width + col) of ``out``: B + a (F - B), a from the mask."""
    a = np.take(mask.reshape(-1), index).astype(np.float32)
    a *= np.float32(1 / 255)
    blend = colour.astype(np.float32)
    blend -= back
    blend *= a[:, None]
    put_pixels(out, index, cv2.add(back, blend, dtype=cv2.CV_8U))  # rounds and saturates


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
