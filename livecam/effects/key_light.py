"""Key light: a soft virtual light from in front of the face, and a slightly dimmer real room.

Per face, on a coarse grid over the face's box (about ``GRID`` cells across the face):

1. the mesh's depth (z) is spread over the grid by normalised convolution and its slope gives a
   surface normal per cell; a light just above the camera lights each cell by how squarely it faces
   it (Lambert), so cheeks and forehead turned to the light get more than the sides, the ears and
   the underside of the jaw;
2. the face's own light, heavily smoothed, says which parts are darker than the lit side: those are
   lifted towards it (evening out a window on one side) — low frequencies only, so eyes, brows and
   beard keep their contrast;
3. both become one gain per cell in linear light, shaped by the face outline pulled in by the feather
   width (the light fades to nothing at the outline: no bright rim on the room, no halo), and the
   neck below the chin gets a weaker share.

The gain reaches full resolution inside the face's box only and acts on the luma: what it adds is
added to all three channels alike (no colour shift), through a soft shoulder on the brightest
channel, so a lit highlight rolls off below white instead of clipping. When the room is real
(background off or blurred) the rest of the frame is dimmed a little, fading to nothing around the
face and shoulders; a replaced background is a picture, never dimmed.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import face_width
from livecam.effects import BackgroundSettings, KeyLightSettings
from livecam.effects import effect_kernels
from livecam.effects.base import NO_OUTPUTS, EffectBase, Outputs
from livecam.types import Analysis

GRID = 20  # coarse cells across the face: the light is smooth, so this is plenty
KEY_GAIN = 0.6  # linear-light gain added at strength 100 where the face looks straight at the light
EVEN = 0.8  # exponent of the lift that brings darker parts towards the lit side, at strength 100
EVEN_MAX = 2.0  # the most (linear) that evening lifts a part of the face
EVEN_SIGMA = 0.18  # smoothing of the face's light before evening, of the face width: low frequencies only
LIGHT_DIR = np.array([0.0, -0.3, 1.0]) / np.hypot(0.3, 1.0)  # camera axes (x right, y down, z to camera)
SOFTNESS = 0.35  # Lambert term raised to this power: a big soft source, not a spotlight
FEATHER = 0.09  # the outline's feather, of the face width; the mask is pulled in by as much
NECK = 0.45  # share of the key light the neck gets (it is not evened: clothing may be near)
ROOM_DIM = 0.16  # linear-light dimming of a real room at strength 100 (about -7 % in 8-bit values)
ROOM_KEEP = 1.6  # face widths around the face centre (more below, for the shoulders) the room dimming spares
TOP = 253.4  # the shoulder approaches this and never reaches it: a lit pixel never rounds to 254 or 255
FADE = 0.25  # per-frame step of a face's light towards on (face seen) or off (face lost)
GAMMA = 2.2  # encoded gain = linear gain ** (1 / GAMMA): close enough for a smooth, gentle gain
# The face's shape on the grid is redrawn once a landmark has moved this share of a cell (a cell is
# a twentieth of the face): below it the light is off by a few levels at most where it is steepest
# (as much as the box's own one-pixel steps move it), and a face that holds still skips the
# mesh-to-grid work (on the talking-head clips, half the frames or more).
MOVE_CELLS = 0.1

_OVAL = np.asarray(regions.FACE_OVAL)
_CHIN = 152
_FOREHEAD = 10


@dataclass(eq=False)  # compared by identity: field-wise == on the landmark arrays raised with two faces
class _Light:
    landmarks: np.ndarray
    opacity: float = 0.0
    even: np.ndarray | None = None  # evening gain on the last grid, smoothed over time
    grid_key: tuple[int, int] | None = None
    # The face's shape on the grid (box, cell, outline and neck masks, Lambert term) and the landmarks
    # it was drawn from: kept while the face moves less than MOVE_CELLS of a cell.
    geometry: tuple | None = None
    drawn_from: np.ndarray | None = None
    # The landmarks' centre and face width, measured once when the landmarks are set: the tracking
    # and the room's gain (twice a frame) read them, and each measure cost a few numpy calls.
    centre: np.ndarray | None = None
    width: float = 0.0

    def follow(self, landmarks: np.ndarray, centre: np.ndarray, width: float) -> None:
        """This frame's landmarks, with their centre and face width."""
        self.landmarks, self.centre, self.width = landmarks, centre, width


def _splat(points: np.ndarray, values: np.ndarray, shape: tuple[int, int], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised convolution: the values at grid positions ``points`` spread by a Gaussian; returns
    (value field, weight field). Where the weight is ~0 the value means nothing."""
    h, w = shape
    ix = np.clip(np.rint(points[:, 0]).astype(np.intp), 0, w - 1)
    iy = np.clip(np.rint(points[:, 1]).astype(np.intp), 0, h - 1)
    cells = iy * w + ix
    num = np.bincount(cells, values, h * w).astype(np.float32).reshape(shape)
    den = np.bincount(cells, None, h * w).astype(np.float32).reshape(shape)
    num = cv2.GaussianBlur(num, (0, 0), sigma)
    den = cv2.GaussianBlur(den, (0, 0), sigma)
    return num / np.maximum(den, 1e-6), den


def lambert(landmarks: np.ndarray, origin: np.ndarray, cell: float, shape: tuple[int, int]) -> np.ndarray:
    """How squarely each grid cell of the face faces the light (0..1), from the mesh's depth."""
    pts = (landmarks[:, :2] - origin) / cell
    toward = -landmarks[:, 2] / cell  # MediaPipe's z grows away from the camera; here in cells
    depth, weight = _splat(pts, toward, shape, sigma=1.2)
    dzdy, dzdx = np.gradient(depth)
    # Surface z towards the camera as a function of image x, y (y down): normal (-dz/dx, -dz/dy, 1).
    lx, ly, lz = LIGHT_DIR
    dot = (lz - lx * dzdx - ly * dzdy) / np.sqrt(dzdx * dzdx + dzdy * dzdy + 1.0)
    facing = np.clip(dot, 0.0, 1.0) ** SOFTNESS
    return np.where(weight > 1e-3, facing, 0.0).astype(np.float32)


def face_mask(landmarks: np.ndarray, origin: np.ndarray, cell: float, shape: tuple[int, int],
              feather_cells: float) -> tuple[np.ndarray, np.ndarray]:
    """0..1 on the grid: the face outline pulled in by the feather and feathered (so it reaches ~0
    at the outline), and, apart, the neck below the chin, feathered."""
    scale = 16.0  # fixed-point polygon edges: a steady mask under sub-cell motion
    oval = ((landmarks[_OVAL, :2] - origin) / cell * scale).astype(np.int32)
    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [oval], 1.0, cv2.LINE_AA, 4)
    inset = max(1, round(feather_cells))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * inset + 1, 2 * inset + 1)))
    neck = np.zeros(shape, np.float32)
    chin = (landmarks[_CHIN, :2] - origin) / cell
    forehead = (landmarks[_FOREHEAD, :2] - origin) / cell
    length = float(np.linalg.norm(chin - forehead))
    centre = chin + (chin - forehead) / max(length, 1e-6) * 0.25 * length
    axes = (max(1, int(0.22 * length * scale)), max(1, int(0.2 * length * scale)))
    angle = float(np.degrees(np.arctan2(chin[1] - forehead[1], chin[0] - forehead[0])))
    cv2.ellipse(neck, (int(centre[0] * scale), int(centre[1] * scale)), axes, angle, 0, 360, 1.0, -1,
                cv2.LINE_AA, 4)
    neck = np.maximum(neck - mask, 0.0)
    sigma = max(feather_cells * 0.6, 0.5)
    return cv2.GaussianBlur(mask, (0, 0), sigma), cv2.GaussianBlur(neck, (0, 0), 1.5 * sigma)


class Scratch:
    """Reused work arrays. A fresh array the size of a face is mapped anew by the allocator and
    faulted in page by page on first touch, which cost more than the arithmetic itself (2.4 ms against
    0.4 ms for :func:`lit` on a 720p face); these stay mapped, each a view of a flat buffer that only
    grows, so a box a few pixels bigger than the last one allocates nothing either."""

    def __init__(self) -> None:
        self._flat: dict[tuple[str, np.dtype], np.ndarray] = {}

    def __call__(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        size = math.prod(shape)  # np.prod's setup cost more than the product (7 calls a frame)
        flat = self._flat.get((name, np.dtype(dtype)))
        if flat is None or flat.size < size:
            flat = np.empty(int(size * 1.25) + 64, dtype)
            self._flat[(name, np.dtype(dtype))] = flat
        return flat[:size].reshape(shape)


def lit(values: np.ndarray, gain: np.ndarray, scratch: Scratch | None = None,
        luma: np.ndarray | None = None) -> np.ndarray:
    """``values`` (uint8 BGR) lit by the per-pixel encoded ``gain``, on the luma only.

    The light raises each pixel's luma Y by Y (gain - 1) and adds that same amount to all three
    channels: the differences between the channels, and with them hue and chroma, stay as they were
    (scaling the channels instead grew CIELAB chroma with the cube root of the light: ΔE 3 at +20 %).
    A soft shoulder keeps the brightest channel below white: against the headroom r left above it,
    an increase d becomes r h(d / r) with h(t) = t / sqrt(1 + t^2), which is d itself while d is
    small against r and never reaches r. A pixel the light does not touch stays exactly as it was.
    All in OpenCV ops writing into ``scratch`` (no temporaries); the change goes onto the three
    channels as two saturating 8-bit ops (what adds, what takes away). The result is a ``scratch``
    array: copy it out before the next call. ``luma``: the values' gray, when already made."""
    scratch = scratch if scratch is not None else Scratch()
    if gain.shape[1] == 1:
        # OpenCV takes a float array of (1, 1) or (4, 1) beside a number for a Scalar, not a picture
        # (a box one pixel wide came out black): such a box is lit as two columns, and one kept.
        doubled = (lambda a: None if a is None else np.repeat(a, 2, axis=1))
        return lit(doubled(values), doubled(gain), scratch, doubled(luma))[:, :1]
    shape = gain.shape[:2]
    y, b, g, r, small = (scratch(k, shape, np.uint8) for k in ("y", "b", "g", "r", "small"))
    room, delta, up, t = (scratch(k, shape) for k in ("room", "delta", "up", "t"))
    three, out = scratch("three", shape + (3,), np.uint8), scratch("out", shape + (3,), np.uint8)
    if luma is None:
        cv2.cvtColor(values, cv2.COLOR_BGR2GRAY, dst=y)
    else:
        y = luma
    cv2.split(values, [b, g, r])
    cv2.max(b, g, dst=b)
    cv2.max(b, r, dst=b)
    cv2.subtract(TOP, b, dst=room, dtype=cv2.CV_32F)
    cv2.max(room, 1e-3, dst=room)
    cv2.subtract(gain, 1.0, dst=delta)
    cv2.multiply(y, delta, dst=delta, dtype=cv2.CV_32F)
    cv2.max(delta, 0.0, dst=up)
    cv2.magnitude(up, room, magnitude=t)  # r h(d / r) = d r / sqrt(d^2 + r^2)
    cv2.multiply(up, room, dst=up)
    cv2.divide(up, t, dst=up)
    cv2.convertScaleAbs(up, dst=small)
    cv2.cvtColor(small, cv2.COLOR_GRAY2BGR, dst=three)
    cv2.add(values, three, dst=out)
    cv2.min(delta, 0.0, dst=t)  # the room's dimming, where it reaches the box
    cv2.convertScaleAbs(t, dst=small)
    cv2.cvtColor(small, cv2.COLOR_GRAY2BGR, dst=three)
    cv2.subtract(out, three, dst=out)
    return out


def _c_ordered(*arrays: np.ndarray) -> bool:
    return all(a.flags.c_contiguous for a in arrays)


def lit_box(image: np.ndarray, out: np.ndarray, box: tuple[int, int, int, int], grid: np.ndarray,
            luma: np.ndarray, at: tuple[int, int], scratch: Scratch, span: tuple[int, int] | None = None) -> None:
    """``out[box] = lit(image[box], gain[at:], scratch, luma[at:])``, ``gain`` being ``grid``
    enlarged bilinearly (``cv2.resize``, INTER_LINEAR) to ``span`` (h, w: the box ``grid`` covers,
    of which ``box`` is the part from (row, column) ``at`` on; the grid's own size when None, for a
    gain given pixel by pixel); ``luma`` holds the span's gray. Through one compiled pass
    (:func:`effect_kernels.lit_into`: no enlarged gain, no float planes; its root is ``sqrt`` where
    :func:`lit` has ``cv2.magnitude`` and its gain an ulp or so from ``cv2.resize``'s, so a rare
    pixel is a level apart; with the resize it saves, 0.40 -> 0.26 ms in the "all" pipeline at 720p)
    where the arrays are whole C-ordered frames and buffers (and the loops compiled:
    ``effect_kernels.READY``), else through :func:`lit`."""
    x0, y0, x1, y1 = box
    r0, c0 = at
    h, w = y1 - y0, x1 - x0
    span = grid.shape if span is None else span
    if h <= 0 or w <= 0:
        return  # nothing to light
    fits = (effect_kernels.READY and image.dtype == out.dtype == luma.dtype == np.uint8 and grid.dtype == np.float32
            and image.ndim == 3 and image.shape[2] == 3 and out.shape == image.shape
            and grid.ndim == luma.ndim == 2 and _c_ordered(image, out, grid, luma)
            and 0 <= y0 and y1 <= image.shape[0] and 0 <= x0 and x1 <= image.shape[1]
            and 0 <= r0 and r0 + h <= min(span[0], luma.shape[0])
            and 0 <= c0 and c0 + w <= min(span[1], luma.shape[1]))
    if fits:
        effect_kernels.lit_into(image.reshape(image.shape[0], -1), out.reshape(out.shape[0], -1), y0, x0, h, w, luma,
                                r0, c0, grid, span[0], span[1], r0, c0, np.float32(TOP))
        return
    gain = grid if tuple(span) == grid.shape else cv2.resize(grid, (span[1], span[0]), dst=scratch("gain", tuple(span)),
                                                             interpolation=cv2.INTER_LINEAR)
    out[y0:y1, x0:x1] = lit(image[y0:y1, x0:x1], gain[r0:r0 + h, c0:c0 + w], scratch, luma[r0:r0 + h, c0:c0 + w])


_LINEAR = (np.arange(256, dtype=np.float32) / 255.0) ** GAMMA


@functools.lru_cache(maxsize=8)
def _cells(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (float32) of a rows x cols grid, made once per size (read-only)."""
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    ys.flags.writeable = xs.flags.writeable = False
    return ys, xs


def face_gain(smooth: np.ndarray, ref: float, prev: np.ndarray | None, facing: np.ndarray, mask: np.ndarray,
              neck: np.ndarray, strength: float, opacity: float) -> tuple[np.ndarray, np.ndarray]:
    """The face's evening (``smooth``: its light on the grid; ``ref``: the lit side's level; ``prev``:
    the last frame's evening on this grid, which it follows gently) and its linear-light gain on the
    grid (the key by how squarely each cell faces the light, inside the outline and on the neck, none
    on the grid's edge): (evening, gain), float32. One compiled pass (``effect_kernels.face_gain``)
    where the loops compiled and the grids are C-ordered float32, else these numpy steps."""
    grids = (smooth, facing, mask, neck) if prev is None else (smooth, facing, mask, neck, prev)
    if effect_kernels.READY and all(g.dtype == np.float32 and g.flags.c_contiguous and g.shape == smooth.shape
                                    for g in grids):
        even = prev if prev is not None else np.empty(smooth.shape, np.float32)
        gain = np.empty(smooth.shape, np.float32)
        effect_kernels.face_gain(smooth, np.float32(ref), np.float32(EVEN_MAX), np.float32(EVEN * strength), even,
                                 prev is not None, facing, mask, neck, np.float32(KEY_GAIN * strength),
                                 np.float32(KEY_GAIN * strength * NECK), np.float32(opacity), gain)
        return even, gain
    even = np.clip(ref / np.maximum(smooth, 1e-4), 1.0, EVEN_MAX) ** (EVEN * strength)
    if prev is not None:
        even = prev + 0.3 * (even - prev)
    gain = (1.0 + KEY_GAIN * strength * facing) * even
    lift = (gain - 1.0) * mask + KEY_GAIN * strength * NECK * neck
    lift[[0, -1], :] = 0.0  # the box's edge gets no light at all: no seam where the box ends
    lift[:, [0, -1]] = 0.0
    return even, (1.0 + lift * opacity).astype(np.float32)


REACHED = 1.0005  # a grid gain above this lights its cell


def encode_reach(grid: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The linear gain ``grid`` encoded (float32) and the first and last rows and columns it lights
    (above REACHED; all -1 where it lights nothing): ``effect_kernels.encode_reach`` where the loops
    compiled and the grid is C-ordered float32, else numpy steps."""
    if effect_kernels.READY and grid.dtype == np.float32 and grid.ndim == 2 and grid.flags.c_contiguous:
        encoded = np.empty(grid.shape, np.float32)
        return encoded, effect_kernels.encode_reach(grid, np.float32(1.0 / GAMMA), np.float32(REACHED), encoded)
    reached = grid > REACHED
    rows, cols = np.nonzero(reached.any(1))[0], np.nonzero(reached.any(0))[0]
    if not len(rows):
        return grid ** (1.0 / GAMMA), (-1, -1, -1, -1)
    return grid ** (1.0 / GAMMA), (int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1]))


class KeyLight(EffectBase):
    """``strength`` 0..100 (0 is off); the room is dimmed only when ``background.mode`` is off or blur."""

    needs = frozenset({"faces_carried"})

    def __init__(self, settings: KeyLightSettings, background: BackgroundSettings | None = None) -> None:
        self._lights: list[_Light] = []
        self._scratch = Scratch()
        self._room_small: np.ndarray | None = None  # the coarse 8-bit room gain the full one was drawn from
        self._room_full = np.empty((0, 0, 3), np.uint8)
        self.update(settings, background if background is not None else BackgroundSettings(mode="off"))

    def update(self, settings: KeyLightSettings, background: BackgroundSettings, *_reads) -> bool:
        self.strength = settings.strength / 100.0
        self.real_room = background.mode in ("off", "blur")
        return True

    def apply(self, image: np.ndarray, analysis: Analysis) -> tuple[np.ndarray, Outputs]:
        self._track(analysis.faces)
        lights = [light for light in self._lights if light.opacity > 0.01]
        if self.strength <= 0 or not lights:
            return image, NO_OUTPUTS
        out = self._dim_room(image, lights) if self.real_room else image.copy()
        for light in lights:
            self._light_face(image, out, light, lights)
        return out, NO_OUTPUTS

    # ------------------------------------------------------------ per face
    def _track(self, faces) -> None:
        """Match this frame's faces to the lights by nearest centre; a lost face fades on its last landmarks."""
        seen: list[_Light] = []
        for face in faces:
            centre = face.landmarks[:, :2].mean(0)
            width = face_width(face.landmarks)
            free = [l for l in self._lights if l not in seen]
            distance = {id(l): float(np.linalg.norm(l.centre - centre)) for l in free}  # each measured once
            best = min(free, key=lambda l: distance[id(l)], default=None)
            if best is None or distance[id(best)] > width:
                best = _Light(face.landmarks)
                self._lights.append(best)
            best.follow(face.landmarks, centre, width)
            best.opacity = min(1.0, best.opacity + FADE)
            seen.append(best)
        for light in self._lights:
            if light not in seen:
                light.opacity = max(0.0, light.opacity - FADE)
        self._lights = [l for l in self._lights if l in seen or l.opacity > 0.0]

    def _box(self, landmarks: np.ndarray, fw: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """Where the light reaches, with room for its feather to end inside: the face outline and the neck."""
        xy = landmarks[:, :2]
        x0, y0 = xy.min(0) - (0.12 * fw, 0.12 * fw)
        x1, y1 = xy.max(0) + (0.12 * fw, 0.75 * fw)
        h, w = shape
        # Clamped, then rounded, as plain floats (the same ints): np.clip and np.floor on numpy scalars
        # cost 23 of this method's 63 us.
        return (math.floor(min(max(float(x0), 0.0), w)), math.floor(min(max(float(y0), 0.0), h)),
                math.ceil(min(max(float(x1), 0.0), w)), math.ceil(min(max(float(y1), 0.0), h)))

    def _geometry(self, landmarks: np.ndarray, frame: tuple[int, int]) -> tuple | None:
        """The face's shape on its grid: (frame size, box, cell, grid shape, outline mask, neck
        mask, Lambert term, the outline's inside and its spread for the evening's normalised
        convolution), or None for a face too small to light."""
        fw = face_width(landmarks)
        if fw < 8:
            return None
        x0, y0, x1, y1 = self._box(landmarks, fw, frame)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        cell = fw / GRID
        shape = (max(2, int(np.ceil((y1 - y0) / cell))), max(2, int(np.ceil((x1 - x0) / cell))))
        origin = np.array([x0, y0], np.float32)
        mask, neck = face_mask(landmarks, origin, cell, shape, FEATHER * GRID)
        facing = lambert(landmarks, origin, cell, shape)
        weight = (mask > 0.5).astype(np.float32)
        spread = np.maximum(cv2.GaussianBlur(weight, (0, 0), EVEN_SIGMA * GRID), 1e-3)
        return frame, (x0, y0, x1, y1), cell, shape, mask, neck, facing, weight, spread

    def gain_grid(self, image: np.ndarray, light: _Light) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """The linear-light gain on the coarse grid over the face's box, and that box."""
        landmarks = light.landmarks
        geometry = light.geometry
        if geometry is not None and light.drawn_from is not None and image.shape[:2] == geometry[0]:
            cell = geometry[2]
            moved = float(np.abs(landmarks[:, :2] - light.drawn_from[:, :2]).max())
            if moved > MOVE_CELLS * cell:
                geometry = None
        else:
            geometry = None
        if geometry is None:
            geometry = self._geometry(landmarks, image.shape[:2])
            if geometry is None:
                return None
            light.geometry, light.drawn_from = geometry, landmarks
        _, (x0, y0, x1, y1), cell, shape, mask, neck, facing, weight, spread = geometry
        s = self.strength
        # The face's light at the grid's size, smoothed to its low frequencies (linear light).
        gray = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY,
                            dst=self._scratch("gray", (y1 - y0, x1 - x0), np.uint8))  # lit() reads it too
        # Two area steps: an exact quarter first (OpenCV's fast path; the last 0-3 rows and columns
        # are left out), so the fractional step to the grid reads a sixteenth of the pixels.
        q = 4 if cell >= 8 else 1  # a grid cell still spans two or more quarter pixels
        hq, wq = (y1 - y0) // q * q, (x1 - x0) // q * q
        if q == 4 and effect_kernels.READY:
            shrunk = np.empty((hq // q, wq // q), np.uint8)
            effect_kernels.quarter_area(gray, shrunk)  # the same bytes in a third of the time
            gray = shrunk
        else:
            gray = cv2.resize(gray[:hq, :wq], (wq // q, hq // q), interpolation=cv2.INTER_AREA)
        small = cv2.resize(gray, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        level = _LINEAR[small]
        smooth = cv2.GaussianBlur(level * weight, (0, 0), EVEN_SIGMA * GRID) / spread
        inside = weight > 0
        count = int(np.count_nonzero(inside))
        if count < 4:
            return None
        k = int(0.8 * (count - 1))
        ref = float(np.partition(smooth[inside], k)[k])
        prev = light.even if light.even is not None and light.grid_key == shape else None
        light.even, gain = face_gain(smooth, ref, prev, facing, mask, neck, s, light.opacity)
        light.grid_key = shape
        return gain, (x0, y0, x1, y1)

    def _light_face(self, image: np.ndarray, out: np.ndarray, light: _Light, lights: list[_Light]) -> None:
        made = self.gain_grid(image, light)
        if made is None:
            return
        grid, (bx0, by0, bx1, by1) = made
        gh, gw = grid.shape
        # Only where the light reaches (a cell of slack around it): elsewhere in the box ``out``
        # already holds the frame or the dimmed room.
        encoded, (first_row, last_row, first_col, last_col) = encode_reach(grid)
        if first_row < 0:
            return
        if self.real_room:
            # ``out`` holds the dimmed room: the lit part is redone from the original with both
            # gains, so nothing is rounded twice. The room's gain is smooth: taken on the grid.
            encoded *= self._room_grid((gh, gw), (bx0, by0), ((bx1 - bx0) / gw, (by1 - by0) / gh), 0.5, lights)
        sy, sx = (by1 - by0) / gh, (bx1 - bx0) / gw
        r0, r1 = max(0, int((first_row - 1) * sy)), min(by1 - by0, int(np.ceil((last_row + 2) * sy)))
        c0, c1 = max(0, int((first_col - 1) * sx)), min(bx1 - bx0, int(np.ceil((last_col + 2) * sx)))
        x0, y0, x1, y1 = bx0 + c0, by0 + r0, bx0 + c1, by0 + r1
        luma = self._scratch("gray", (by1 - by0, bx1 - bx0), np.uint8)  # made by gain_grid
        lit_box(image, out, (x0, y0, x1, y1), encoded, luma, (r0, c0), self._scratch, (by1 - by0, bx1 - bx0))

    # ------------------------------------------------------------ the room
    def _room_gain(self, xs: np.ndarray, ys: np.ndarray, lights: list[_Light]) -> np.ndarray:
        """Encoded room gain at frame points (xs, ys): 1 around the faces and shoulders, a little
        lower beyond."""
        keep = np.zeros(xs.shape, np.float32)
        for light in lights:
            fw = light.width
            cx, cy = light.centre
            r = ROOM_KEEP * fw
            dy = ys - cy
            dy = np.where(dy > 0, dy / 2.0, dy)  # shoulders and chest below the face are spared too
            near = np.exp(-((xs - cx) ** 2 + dy ** 2) / (2 * r * r)) * light.opacity
            keep = np.maximum(keep, near)
        return (1.0 - (1.0 - self._far_gain()) * (1.0 - keep)).astype(np.float32)

    def _room_field(self, shape: tuple[int, int], lights: list[_Light]) -> np.ndarray:
        """Encoded room gain on a coarse frame grid (see :meth:`_room_gain`)."""
        h, w = shape
        step = max(8, int(max(h, w) / 80))
        return self._room_grid((-(-h // step), -(-w // step)), (0, 0), (step, step), 0.0, lights)

    def _room_grid(self, shape: tuple[int, int], origin: tuple[float, float], cell: tuple[float, float],
                   shift: float, lights: list[_Light]) -> np.ndarray:
        """:meth:`_room_gain` on a ``shape`` grid whose cell (r, c) is the frame point
        ((c + 0.5) cell x + origin x - shift, likewise y): one compiled pass where the loops compiled
        (the numpy steps cost about 20 calls a face on a few thousand cells), else those steps."""
        (ox, oy), (dx, dy) = origin, cell
        if not effect_kernels.READY:
            ys, xs = _cells(*shape)
            return self._room_gain((xs + 0.5) * dx + ox - shift, (ys + 0.5) * dy + oy - shift, lights)
        out = np.empty(shape, np.float32)
        effect_kernels.room_gain_into(np.float32(ox), np.float32(dx), np.float32(oy), np.float32(dy), np.float32(shift),
                                      self._room_lights(lights), np.float32(1.0 - self._far_gain()), out)
        return out

    @staticmethod
    def _room_lights(lights: list[_Light]) -> np.ndarray:
        """(centre x, centre y, reach, opacity) of each light, as :meth:`_room_gain` reads them."""
        return np.array([(*light.centre, ROOM_KEEP * light.width, light.opacity) for light in lights], np.float64)

    def _far_gain(self) -> float:
        """The room's encoded gain far from every face."""
        return (1.0 - ROOM_DIM * self.strength) ** (1.0 / GAMMA)

    def _dim_room(self, image: np.ndarray, lights: list[_Light]) -> np.ndarray:
        h, w = image.shape[:2]
        field = self._room_field((h, w), lights)
        # 8-bit arithmetic for the whole frame (a gain below 1 in 1/255 steps is smooth enough), the
        # three channels merged while the field is small.
        g8 = cv2.convertScaleAbs(field, alpha=255.0)
        last = self._room_small
        if last is None or last.shape != g8.shape or self._room_full.shape[:2] != (h, w) or \
                cv2.norm(g8, last, cv2.NORM_INF) > 1:
            # The full-size field is one more pass over the frame: it is redrawn only when the coarse
            # one has moved by more than a 1/255 step somewhere (a face moving or fading), so a still
            # face costs the one multiply.
            self._room_small = g8
            self._room_full = cv2.resize(cv2.merge([g8, g8, g8]), (w, h), interpolation=cv2.INTER_LINEAR)
        room = self._room_full
        if not (effect_kernels.READY and image.dtype == np.uint8 and image.shape == room.shape
                and _c_ordered(image, room)):
            return cv2.multiply(image, room, scale=1.0 / 255.0)
        out = np.empty_like(image)  # cv2.multiply's pixels in 0.4 of its time (0.33 ms at 720p)
        effect_kernels.scale_into(image.reshape(-1), room.reshape(-1), out.reshape(-1))
        return out
