"""Touch-up: softer, more even skin; eyes, brows, lips, nostrils and hair stay sharp.

Per face, only inside the face's box: the skin mask (face oval minus the features, feathered) and an
edge-preserving smoothing of the skin (a self-guided filter, which keeps real edges such as the
nose and jaw and flattens low-contrast texture) are computed at a reduced resolution where the face
is about ``WORK_SIZE`` pixels across; the smoothed skin is blended back by mask x strength with
8-bit OpenCV arithmetic. The tone is evened by averaging chroma over skin only (normalised
convolution), so redness evens out without lip colour bleeding into the skin around the mouth.

Against flicker: each face has an opacity that ramps over ``fade_frames`` when it appears or is
lost (a face lost for a frame keeps its effect, fading on its last landmarks), the reduction factor
and the face size that sets radii and line widths change only with hysteresis, and the working
grid is anchored to the frame, so a still face gives the same pixels frame after frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.temporal import upscale
from livecam.imaging import box_iou
from livecam.settings import TouchUpSettings
from livecam.effects import effect_kernels
from livecam.effects.base import NO_OUTPUTS, EffectBase, Outputs
from livecam.types import Analysis

WORK_SIZE = 112  # face size, in working pixels, at which skin is smoothed (0.7x to 1.4x of it)
MAX_AMOUNT = 0.85  # blend at strength 100: a trace of the original texture keeps skin looking real
GUIDED_RADIUS = 0.03  # of the face size
GUIDED_EPS = 0.005  # (0..1 intensities)^2: texture below ~7 % contrast is flattened, edges above stay
TONE = 0.5  # how far chroma moves towards its skin-only local mean at strength 100
FEATHER = 0.02  # mask feather (Gaussian sigma), of the face size
FEATURE_MARGIN = 0.01  # extra room kept sharp around eyes, brows, lips and nostrils, of the face size
EDGE = 1.5  # feathers between a feature's edge and the mask's half-way line: 7 % leaks onto it
OVAL_EDGE = 2.5  # the same inside the face outline: 0.6 % reaches it, and nothing passes it
SIZE_STEP = 0.05  # a still face's size jitters; integer radii and line widths must not toggle with it
SHIFT = 4  # fixed-point bits for sub-pixel polygon edges (steady masks under sub-pixel motion)
# The skin mask (and what is drawn from it: the tone's weight and the blend's alpha) is kept while
# the working box stays and no landmark has moved this share of a mask cell (two working pixels)
# since it was drawn: on the bench clip (lp_s18, 720p) it is redrawn on 0.47 of the frames instead
# of all of them, ~-0.1 ms a frame. Against a mask drawn anew every frame: 3 levels at most on
# lp_s18 and 5 on lp_d3 (turns, expressions), more than 2 only along the mask's edge, a level or
# two over the skin where the tone's skin-only mean moves (tests/test_touch_up_kept_mask.py).
MASK_MOVE = 0.25


@dataclass
class _FaceFade:
    landmarks: np.ndarray
    box: np.ndarray
    opacity: float = 0.0
    factor: int = 0  # working-resolution reduction, kept unless the face size clearly changes
    size: float = 0.0  # face size that sets radius, feather and margins; steps only by SIZE_STEP
    seen: bool = True
    # The last skin mask, what it was drawn for (box, size, landmarks) and the pictures made from it
    # (its enlargement for the tone, the blend's alpha and the weight that alpha was made with).
    mask_key: tuple | None = None
    mask_from: np.ndarray | None = None
    mask: np.ndarray | None = None
    mask_up: np.ndarray | None = None
    tone_weights: tuple[np.ndarray, np.ndarray] | None = None
    alpha: np.ndarray | None = None
    alpha_weight: float = -1.0


def _reduction(size: float, previous: int) -> int:
    """Power-of-two reduction (OpenCV's fast INTER_AREA path) bringing the face near WORK_SIZE;
    kept until the face size is clearly in another octave, so it never toggles frame to frame."""
    ideal = np.log2(max(1.0, size / WORK_SIZE))
    if previous and abs(ideal - np.log2(previous)) < 0.75:
        return previous
    return 1 << int(round(ideal))


def self_guided(x: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with each channel as its own guide (float32 0..1): flattens
    variation below sqrt(eps) and keeps stronger edges. OpenCV arithmetic, no temporaries in numpy."""
    k = (2 * radius + 1, 2 * radius + 1)
    mean = cv2.blur(x, k)
    var = cv2.subtract(cv2.blur(cv2.multiply(x, x), k), cv2.multiply(mean, mean))
    a = cv2.divide(var, var + np.float32(eps))  # numpy: cv2.add(x, scalar) would touch channel 0 only
    b = cv2.subtract(mean, cv2.multiply(a, mean))
    return cv2.add(cv2.multiply(cv2.blur(a, k), x), cv2.blur(b, k))


def smoothed_skin(small: np.ndarray, radius: int, tone: np.ndarray | None = None,
                  eps: float = GUIDED_EPS) -> np.ndarray:
    """``small`` (uint8 BGR) through :func:`self_guided` (x 255, ``tone`` added when
    given), rounded to 8 bits: the same bytes as those float32 steps, with the per-pixel ones
    between the box filters in three compiled passes (:mod:`effect_kernels`) instead of a dozen
    OpenCV and numpy calls and their temporaries (where the loops could not be compiled, those
    steps themselves)."""
    k = (2 * radius + 1, 2 * radius + 1)
    small = np.ascontiguousarray(small)
    if tone is not None:
        tone = np.ascontiguousarray(tone, np.float32)
        if tone.shape != small.shape:
            raise ValueError(f"a tone of shape {tone.shape} for skin of shape {small.shape}")
    if not effect_kernels.READY:
        smooth = self_guided(small.astype(np.float32) * np.float32(1 / 255), radius, eps) * np.float32(255)
        if tone is not None:
            smooth += tone
        return np.clip(smooth + 0.5, 0, 255).astype(np.uint8)
    x, xx, a, b = (np.empty(small.shape, np.float32) for _ in range(4))
    effect_kernels.unit_and_square(small, x, xx)
    effect_kernels.guided_coefficients(cv2.blur(x, k), cv2.blur(xx, k), np.float32(eps), a, b)
    out = np.empty(small.shape, np.uint8)
    effect_kernels.guided_to_u8(cv2.blur(a, k), cv2.blur(b, k), x, x if tone is None else tone, tone is not None, out)
    return out


# The outline and the features' outlines as one index list: their fixed-point points in one pass
# (the same element-wise round and cast per point as one region's at a time), cut apart at _ENDS.
_REGIONS = (regions.FACE_OVAL, *regions.FEATURES.values())
_ALL = np.concatenate([np.asarray(indices) for indices in _REGIONS])
_ENDS = np.cumsum([len(indices) for indices in _REGIONS])[:-1]


def _polys(landmarks: np.ndarray) -> list[np.ndarray]:
    """The fixed-point outline of the face, then of each of ``regions.FEATURES``: (1, N, 2) int32 each."""
    points = np.round(regions.polygon(landmarks, _ALL) * (1 << SHIFT)).astype(np.int32)
    return [part[None] for part in np.split(points, _ENDS)]


def skin_mask(landmarks: np.ndarray, shape: tuple[int, int], face_size: float) -> np.ndarray:
    """uint8 skin weight (255 = skin) on the grid the landmarks are given in: the face oval shrunk
    by OVAL_EDGE feathers and cut at the oval itself, so hairline, jaw and background stay as they
    are; minus eyes, brows, lips and nostrils grown by EDGE feathers; Gaussian-feathered."""
    sigma = max(0.6, FEATHER * face_size)
    oval, *features = _polys(landmarks)
    inside = np.zeros(shape, np.uint8)
    cv2.fillPoly(inside, oval, 255, lineType=cv2.LINE_8, shift=SHIFT)
    mask = inside.copy()
    cv2.polylines(mask, oval, True, 0, thickness=max(1, int(round(2 * OVAL_EDGE * sigma))), lineType=cv2.LINE_8,
                  shift=SHIFT)
    grow = max(1, int(round(2 * (FEATURE_MARGIN * face_size + EDGE * sigma))))
    for feature in features:  # one at a time: one fillPoly of several outlines fills where they overlap by parity
        cv2.fillPoly(mask, feature, 0, lineType=cv2.LINE_8, shift=SHIFT)
    # Each outline is stroked on its own within the one call; all in 0, so the order does not matter.
    cv2.polylines(mask, [feature[0] for feature in features], True, 0, thickness=grow, lineType=cv2.LINE_8,
                  shift=SHIFT)
    return cv2.min(cv2.GaussianBlur(mask, (0, 0), sigma), inside)


# YCrCb -> BGR: how one level of Cr and Cb moves B, G, R with luma held (ITU-R BT.601, as OpenCV).
_CHROMA_TO_BGR = np.array([[0.0, 1.773], [-0.714, -0.344], [1.403, 0.0]], dtype=np.float32)


def tone_weights(mask: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The skin weight of :func:`tone_shift` at a quarter of ``mask``'s size (float32 0..1) and its
    Gaussian average (plus a floor): a function of the mask alone, so kept with a kept mask."""
    h, w = mask.shape[:2]
    qw, qh = max(1, w // 4), max(1, h // 4)
    wq = cv2.resize(mask, (qw, qh), interpolation=cv2.INTER_AREA).astype(np.float32) * (1 / 255)
    return wq, cv2.GaussianBlur(wq, (0, 0), max(0.5, sigma / 4)) + 1e-3


def tone_shift(small_bgr: np.ndarray, mask: np.ndarray, sigma: float, amount: float,
               weights: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """BGR offset (float32, working size) that moves chroma towards its local mean over skin only,
    with luma (the face's shading) held. Tone is a low frequency, so this runs at a quarter size;
    averaging over skin alone (normalised convolution) keeps lip red and hair out of the mean.
    ``weights``: :func:`tone_weights` of ``mask`` and ``sigma``, when kept from an earlier frame."""
    h, w = small_bgr.shape[:2]
    qw, qh = max(1, w // 4), max(1, h // 4)
    ycc = cv2.cvtColor(cv2.resize(small_bgr, (qw, qh), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2YCrCb)
    chroma = ycc[:, :, 1:].astype(np.float32)
    wq, norm = tone_weights(mask, sigma) if weights is None else weights
    s = max(0.5, sigma / 4)
    mean = cv2.GaussianBlur(chroma * wq[:, :, None], (0, 0), s) / norm[:, :, None]
    shift = (mean - chroma) @ (amount * _CHROMA_TO_BGR.T)  # (Cr, Cb) delta -> (B, G, R) delta
    return upscale(shift, (w, h))


def _blendable(out: np.ndarray, smooth: np.ndarray, alpha: np.ndarray) -> bool:
    """Whether :func:`effect_kernels.mix_into` (compiled) takes these: C-ordered 8-bit BGR frame and box."""
    return (effect_kernels.READY and out.dtype == smooth.dtype == alpha.dtype == np.uint8
            and out.ndim == smooth.ndim == 3 and out.shape[2] == smooth.shape[2] == 3 and smooth.shape[:2] == alpha.shape
            and out.flags.c_contiguous and smooth.flags.c_contiguous and alpha.flags.c_contiguous)


def _blend(out: np.ndarray, smooth: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> bool:
    """``smooth`` blended by ``alpha`` into ``out``'s box at (x0, y0) by the compiled loop; False
    (nothing written) where the arrays are not ones it takes or the box leaves the frame."""
    h, w = alpha.shape
    if not (_blendable(out, smooth, alpha) and 0 <= y0 and 0 <= x0 and y0 + h <= out.shape[0]
            and x0 + w <= out.shape[1]):
        return False
    effect_kernels.mix_into(smooth.reshape(h, -1), alpha, out.reshape(out.shape[0], -1), y0, x0)
    return True


class TouchUp(EffectBase):
    """``apply(frame, analysis)`` smooths the skin of every face in ``analysis.faces``."""

    needs = frozenset({"faces_carried"})
    in_place = True

    def __init__(self, settings: TouchUpSettings, fade_frames: int = 8, even_tone: bool = True) -> None:
        self.settings = settings
        self.amount = settings.strength / 100.0
        self.fade_step = 1.0 / max(1, fade_frames)
        self.even_tone = even_tone
        self._faces: list[_FaceFade] = []
        self._shape: tuple[int, ...] | None = None

    def update(self, settings: TouchUpSettings, *_reads) -> bool:
        """A new strength takes effect at once; the faces' fade-in state is kept (no restart from 0)."""
        self.settings = settings
        self.amount = self.settings.strength / 100.0
        return True

    def apply(self, image: np.ndarray, analysis: Analysis, own: bool = False) -> tuple[np.ndarray, Outputs]:
        if self.amount <= 0:
            return image, NO_OUTPUTS
        if image.shape != self._shape:
            self._faces, self._shape = [], image.shape
        self._update_fades(analysis.faces)
        if not self._faces:
            return image, NO_OUTPUTS
        out = image if own else image.copy()  # each face reads and writes ``out`` alone
        for face in self._faces:
            self._touch_up(out, face)
        return out, NO_OUTPUTS

    def _update_fades(self, faces) -> None:
        for state in self._faces:
            state.seen = False
        for face in faces:
            if face.landmarks is None or len(face.landmarks) < 468 or not np.isfinite(face.landmarks).all():
                continue
            box = np.asarray(face.box, dtype=np.float64)
            candidates = [s for s in self._faces if not s.seen]
            match = max(candidates, key=lambda s: box_iou(s.box, box), default=None)
            if match is None or box_iou(match.box, box) < 0.3:
                match = _FaceFade(face.landmarks, box)
                self._faces.append(match)
            match.landmarks, match.box, match.seen = face.landmarks, box, True
        for state in self._faces:
            step = self.fade_step if state.seen else -self.fade_step
            state.opacity = min(1.0, max(0.0, state.opacity + step))
        self._faces = [s for s in self._faces if s.seen or s.opacity > 0]

    def _touch_up(self, out: np.ndarray, face: _FaceFade) -> None:
        weight = self.amount * face.opacity
        if weight <= 0:
            return
        h, w = out.shape[:2]
        oval = face.landmarks[np.asarray(regions.FACE_OVAL), :2]
        lo, hi = oval.min(0), oval.max(0)
        if not face.size or abs(max(hi - lo) - face.size) > SIZE_STEP * face.size:
            face.size = float(max(hi - lo))
        size = face.size
        if size < 8:  # too small to show any skin texture
            return
        face.factor = f = _reduction(size, face.factor)
        pad = 0.05 * size
        # Work box on a grid of twice the reduction (the mask is drawn at half the working size),
        # anchored to the frame, so a still face always samples the same pixels and cells.
        g = 2 * f
        x0 = max(0, int(np.floor((lo[0] - pad) / g)) * g)
        y0 = max(0, int(np.floor((lo[1] - pad) / g)) * g)
        mw = (min(w, int(np.ceil(hi[0] + pad))) - x0) // g
        mh = (min(h, int(np.ceil(hi[1] + pad))) - y0) // g
        if mw < 4 or mh < 4:
            return
        x1, y1 = x0 + mw * g, y0 + mh * g
        sw, sh = 2 * mw, 2 * mh
        roi = out[y0:y1, x0:x1]
        small = cv2.resize(roi, (sw, sh), interpolation=cv2.INTER_AREA) if f > 1 else roi
        small_size = size / f
        mask, mask_up = self._mask(face, (x0, y0, mw, mh, g, size))
        if mask is None:
            return
        radius = max(1, int(round(GUIDED_RADIUS * small_size)))
        tone = None
        if self.even_tone:
            if face.tone_weights is None:
                face.tone_weights = tone_weights(mask_up, 0.15 * small_size)
            tone = tone_shift(small, mask_up, 0.15 * small_size, TONE * self.amount, face.tone_weights)
        smooth = smoothed_skin(small, radius, tone)
        if f > 1:
            # Enlarged by warpAffine (temporal.upscale): within a level of resize's values, in half the time.
            smooth = upscale(smooth, (x1 - x0, y1 - y0))
        if face.alpha is None or face.alpha_weight != weight:
            face.alpha = upscale(cv2.convertScaleAbs(mask, alpha=MAX_AMOUNT * weight), (x1 - x0, y1 - y0))
            face.alpha_weight = weight
        alpha = face.alpha
        # 8-bit blend; where alpha is 0 it is roi * 255 / 255 + 0, the input exactly, so nothing
        # outside the skin changes by even one level. The compiled loop gives the OpenCV calls'
        # bytes (every smooth, roi, alpha triple is tested) in one pass (0.17 -> 0.05 ms on a 720p face).
        if _blend(out, smooth, alpha, x0, y0):
            return
        alpha3 = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)  # a new array: the kept alpha stays as it is
        # Both terms reuse their own buffers, and the sum is written straight into the frame's box
        # (OpenCV takes the strided view as it is).
        term = cv2.multiply(smooth, alpha3, scale=1 / 255, dst=smooth)
        cv2.bitwise_not(alpha3, dst=alpha3)
        cv2.add(term, cv2.multiply(roi, alpha3, scale=1 / 255, dst=alpha3), dst=roi)

    @staticmethod
    def _mask(face: _FaceFade, key: tuple) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The face's skin mask on the working box ``key`` (x0, y0, mask width and height, cell, face
        size) and its enlargement to the working size: the kept ones while the box is the same and no
        landmark has moved MASK_MOVE of a cell since they were drawn; (None, None) for no skin."""
        x0, y0, mw, mh, g, size = key
        xy = face.landmarks[:, :2]
        if (face.mask_key == key and face.mask_from is not None and face.mask_from.shape == xy.shape
                and float(np.abs(xy - face.mask_from).max()) < MASK_MOVE * g):
            return face.mask, face.mask_up
        lm_mask = (xy - (x0, y0) + 0.5) / g - 0.5  # pixel centres to pixel centres
        mask = skin_mask(lm_mask, (mh, mw), size / g)
        face.mask_key, face.mask_from, face.alpha, face.tone_weights = key, xy.copy(), None, None
        face.mask, face.mask_up = (mask, upscale(mask, (2 * mw, 2 * mh))) if mask.any() else (None, None)
        return face.mask, face.mask_up
