"""Photometry for the face swap: relighting that cannot blotch, the wearer's grain, occluders.

All statistics are taken on small images (the swap's coarse grid, a few thousand cells), so the
colour space can be perceptual at no cost; only a gain and an offset per pixel reach full size.

- **Skin likelihood.** Each face's skin colour is measured robustly (median and spread in Lab over
  the skin between the features); a cell counts as skin by its chroma distance from that and by how
  much darker it is than the smooth skin shading around it. Glasses frames, hair, the photo's
  background and shadows in nostrils drop out of every average, so no dark pixel can pull a
  low-pass down (the grey patches) and none is divided by.
- **Relighting** moves only the low frequencies: the photo's skin low-pass is replaced by the
  wearer's (at ``SHADE_SIGMA``, coarser than the features, whose relief stays the photo's),
  computed in Lab with clamped lightness and chroma shifts, and the photo's detail around it is
  scaled by a clamped lightness ratio (detail fades in dim light, as in a real camera). The
  wearer's low-pass reaches a little past the face outline onto jaw, ears and neck, so the altered
  face's edge takes the colour of the skin beside it and the seam disappears.
- **Tone** (:func:`skin_tone`): the photo supplies the skin, the wearer the light. The difference
  between the two faces' skin medians is split into the scene's light (exposure, colour cast:
  passed on) and the two people's skin (taken back off the wearer's low-pass, so the photo's tone
  stays), by the share of each cause's variance (a Bayes shrinkage; a darker wearer counts as
  mostly a dimmer room). Inside the face only: it comes in over a wide ramp from the border band,
  where the face still continues the wearer's neck and ears.
- **Border** (:func:`match_border`): a membrane across the seam. The relit face's low band near the
  outline is moved to the wearer's skin just *outside* it, carried inwards, where that skin runs on
  across the outline; elsewhere (hair, background beside the face) to the wearer's own colour at the
  same place. The skin's part can be carried deeper than the band (``deep``): the wearer's own colour
  cannot, deeper in it would be the wearer's face.
- **Grain.** The wearer's finest band (camera noise, pores) is added back onto the swapped face,
  with a soft limit so strong edges (their eyelashes, wrinkles) do not come along.
- **Occluders.** Where the wearer's upper face should be skin but is confidently not (glasses
  frames, hair over the forehead; ``SkinModel.likelihoods`` at OCCLUDER_SCORE, read in the same
  pass as the skin the light is matched on), the swap leaves the wearer's pixels in front.

Speed (all of this runs every frame, on grids of a few thousand cells, where a call's overhead is
most of its cost): a per-cell factor is applied to a colour image by OpenCV on two images of the same
shape (``_planes``), never by numpy broadcasting over the 3-channel axis, which is several times
slower there; medians are partitions of contiguous planes; Lab is taken only for the cells that need
it. Each of these gives the plain formulation's numbers (``tests/test_avatar_fast.py`` keeps that
formulation and compares). At full resolution the relight with the grain traded and the blend into
the frame run as compiled loops (``swap_kernels``, numba) where it is installed: the same values
(``tests/test_swap_kernels.py``), a dozen whole-buffer OpenCV passes fewer.
"""
from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from livecam.effects.compositing import blend

from livecam.effects import swap_kernels

# The compiled loops (numba) where they could be made (``livecam.jit``); else the same values from OpenCV calls.
_kernels = swap_kernels if swap_kernels.READY else None

LIGHT_SIGMA = 0.10  # lighting low-pass, fraction of the face width
# The scale at which the wearer's light replaces the photo's (the relighting's two low-passes;
# fraction of the face width): twice LIGHT_SIGMA, at which skin is measured and the seam passes work.
# At LIGHT_SIGMA the wearer's shading of their own eye sockets, cheekbones and nose sides came
# across and the photo's own was divided out, identity both ways; at this scale the photo keeps its
# relief and the wearer still lends exposure, colour cast and the direction of the light. Tuning
# half (60 frames, 12 pairs), against LIGHT_SIGMA: lowest id margin 0.154 -> 0.193, median 0.285 ->
# 0.295, swap SSIM 0.968 and blink r (0.75 -> 0.78) kept, seam dE 3.10 -> 3.22. 0.3 gave no more
# identity (0.291) for seam 3.43; LIGHT_SIGMA kept within 0.10 of the outline (ramping to this by
# 0.25) kept seam 3.13 but lost the median gain (0.284) and 0.02 of mouth r.
SHADE_SIGMA = 0.20
MAX_DL = 45.0  # largest lightness shift (Lab L, 0..100) the relighting may apply
MAX_DAB = 25.0  # largest chroma shift (Lab a, b)
DETAIL_GAIN = (0.85, 1.2)  # the photo's detail scaled by the lightness ratio, within these limits
DETAIL_EPS = 25.0  # added to both lightnesses in that ratio: dark pixels never divide
SKIN_CHROMA_MIN = 3.0  # floor of the skin chroma spread (a, b), so a very even face is not too strict
SKIN_DARK_MIN = 8.0  # floor of the skin lightness spread
SKIN_SCORE = (2.5, 4.0)  # combined distance where a cell stops counting as skin, fully / at all
OCCLUDER_SCORE = (3.5, 5.5)  # stricter, for leaving the wearer's pixels in front
MAX_RESIDUAL = 20.0  # largest correction (BGR levels) of the residual pass
GRAIN_SIGMA = 1.0  # the wearer's band finer than this (pixels) is carried onto the swapped face
GRAIN_KEEP = (4, 12)  # grain amplitude (levels) kept whole, and from which it is dropped


def lab(bgr: np.ndarray) -> np.ndarray:
    """float32 Lab (L 0..100) of a small BGR uint8 or 0..255 float image."""
    return cv2.cvtColor(np.asarray(bgr, np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)


def bgr(lab_image: np.ndarray) -> np.ndarray:
    """float32 BGR 0..255 of a float32 Lab image."""
    return cv2.cvtColor(lab_image.astype(np.float32), cv2.COLOR_Lab2BGR) * np.float32(255)


def _bit_exact_kernel(size: int, sigma: float) -> np.ndarray:
    """The integer Gaussian kernel (summing to 256) OpenCV's bit-exact 8-bit GaussianBlur uses: the
    kernel normalised in double precision, then rounded to 1/256 with the rounding error carried
    from the tails inwards, the centre taking what is left (imgproc's getGaussianKernelBitExact and
    getGaussianKernelFixedPoint_ED)."""
    half = (size - 1) // 2
    tails = [math.exp(x * x * (-0.125 / (sigma * sigma))) for x in range(1 - size, 0, 2)]
    total = 0.0
    for t in tails:  # summed left to right, as OpenCV does (Python's sum() compensates from 3.12 on)
        total += t
    norm = 1.0 / (2.0 * total + 1.0)
    kernel = np.empty(size, np.float32)
    err, total = 0.0, 0
    for i, t in enumerate(tails):
        value = t * norm * 256.0 + err
        fixed = round(value)  # half to even, as cvRound
        err = value - fixed
        kernel[i] = kernel[size - 1 - i] = fixed
        total += fixed
    kernel[half] = 256 - 2 * total
    return kernel


@functools.lru_cache(maxsize=64)
def _kernel_for(sigma: float) -> tuple[int, np.ndarray]:
    size = int(round(sigma * 6 + 1)) | 1  # GaussianBlur's own size for 8-bit images
    if _kernels is not None and size >= 3:  # the same kernel (``swap_kernels.gaussian_kernel``)
        kernel = np.empty(size, np.float32)
        _kernels.gaussian_kernel(sigma, kernel)
        if kernel.sum() == 256:  # never a broken kernel kept in the cache (NaN sums to NaN)
            return size, kernel
    return size, _bit_exact_kernel(size, sigma)


def blur8(image: np.ndarray, sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur(image, (0, 0), sigma)`` of an 8-bit image, the same values at a third of
    its cost once the kernel is wide (a 72x85 alpha at sigma 2.9: 35 against 104 us). OpenCV's
    bit-exact 8-bit path sums x * k_i * k_j with integer kernels (each summing to 256) and rounds
    the sum over 65536 half up; those sums stay below 2^24, so one float sepFilter2D holds them
    exactly and the same rounding follows. Narrow kernels stay on GaussianBlur (no gain there)."""
    size, kernel = _kernel_for(float(sigma))
    if size < 7:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    total = cv2.sepFilter2D(image, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REFLECT_101)
    if not cv2.checkRange(total, True)[0]:
        # NaN casts to 0: a face swap's cover feathered so came out empty, and the wearer's own face
        # left under the badge as if swapped. Raised, the avatar's frame is hidden.
        raise ValueError("a feathering blur came out as something that is not a number")
    total += np.float32(32768.0)
    total *= np.float32(1.0 / 65536.0)
    return total.astype(np.uint8)  # truncates: with the 0.5 added, rounds half up


def _planes(m: np.ndarray, n: int) -> np.ndarray:
    """``m`` (h, w) repeated into ``n`` channels: numpy broadcasts a per-cell factor over a short
    channel axis several times slower than OpenCV multiplies two images of the same shape."""
    return cv2.merge([m] * n)


def masked_lowpass(image: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: the blur of ``image`` where ``weights`` is high, spread smoothly elsewhere."""
    w = np.asarray(weights, np.float32)
    img = np.asarray(image, np.float32)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    if den.dtype != np.float32:  # rounded weights relight a face with the wearer's light: fail, hide
        raise ValueError(f"the light's weight blur came back as {den.dtype}, not float32")
    den = np.maximum(den, 1e-4)
    if img.ndim == 2:
        return cv2.GaussianBlur(img * w, (0, 0), sigma) / den
    c = img.shape[2]
    return cv2.divide(cv2.GaussianBlur(cv2.multiply(img, _planes(w, c)), (0, 0), sigma), _planes(den, c))


def wide_lowpass(image: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """``masked_lowpass`` for a sigma of many cells: worked on cells halved in size (what it keeps
    is far coarser than a cell), at a fraction of the cost of the full grid's wide kernels."""
    if sigma < 6.0 or min(weights.shape[:2]) < 8:
        return masked_lowpass(image, weights, sigma)
    h, w = weights.shape[:2]
    size = ((w + 1) // 2, (h + 1) // 2)
    half = masked_lowpass(cv2.resize(np.asarray(image, np.float32), size, interpolation=cv2.INTER_AREA),
                          cv2.resize(np.asarray(weights, np.float32), size, interpolation=cv2.INTER_AREA), 0.5 * sigma)
    return cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)


SKIN_CELLS_LEAST = 8  # fewer skin cells than this: the statistics are taken over every cell


def _median(values: np.ndarray):
    """``np.median`` of a 1-D array, the same value: its checks and its axis handling cost several
    times the partition itself on a few thousand cells."""
    k = values.size // 2
    if values.size % 2:
        return np.partition(values, k)[k]
    return np.mean(np.partition(values, (k - 1, k))[k - 1: k + 1])


def skin_statistics(columns: list[np.ndarray], dtype) -> tuple[np.ndarray, np.ndarray]:
    """Median and robust spread (the median absolute deviation, scaled to a standard deviation) of
    each Lab channel of skin samples (``columns``: L, a and b, one 1-D array each)."""
    dtype = dtype if np.issubdtype(dtype, np.floating) else np.float64  # as np.median
    median = np.array([_median(c) for c in columns], dtype)
    spread = 1.4826 * np.array([_median(np.abs(c - m)) for c, m in zip(columns, median)], dtype)
    return median, spread


def _skin_statistics_where(lab_image: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``skin_statistics`` of ``lab_image``'s cells where ``where`` (bool) is set, of every cell where
    fewer than SKIN_CELLS_LEAST are (a face too small for statistics: everything is accepted as skin).
    One compiled pass (``swap_kernels.skin_statistics``, the same values) where it can run."""
    if (_kernels is not None and lab_image.dtype == np.float32 and lab_image.ndim == 3 and lab_image.shape[2] == 3
            and lab_image.flags.c_contiguous and where.shape == lab_image.shape[:2] and where.flags.c_contiguous):
        median, mad = np.empty(3, np.float32), np.empty(3, np.float32)
        if (_kernels.skin_statistics(lab_image, where.view(np.uint8), SKIN_CELLS_LEAST, median, mad) > 0
                and np.isfinite(median).all() and np.isfinite(mad).all()):
            return median, 1.4826 * mad  # as skin_statistics scales it (float32)
    # Per channel on contiguous planes: a boolean mask over an (h, w, 3) image and a median
    # along its first axis are slow in numpy.
    planes = cv2.split(lab_image)
    if np.count_nonzero(where) < SKIN_CELLS_LEAST:
        columns = [p.reshape(-1) for p in planes]
    else:
        columns = [p[where] for p in planes]
    return skin_statistics(columns, lab_image.dtype)


def chroma_spread(spread: np.ndarray) -> float:
    """How far skin's colour (a, b) typically strays, from ``skin_statistics``' spreads, floored so
    a very even face is not too strict."""
    return max(float(np.hypot(spread[1], spread[2])), SKIN_CHROMA_MIN)


class SkinModel:
    """One face's skin colour: Lab median and spreads over the cells where ``inner`` is set."""

    def __init__(self, lab_image: np.ndarray, inner: np.ndarray, sigma: float) -> None:
        where = np.asarray(inner) > 0
        self.median, spread = _skin_statistics_where(lab_image, where)
        self.chroma_spread = chroma_spread(spread)
        self.dark_spread = max(float(spread[0]), SKIN_DARK_MIN)
        # The smooth shading of the skin, to judge "darker than the skin around it", not than the median.
        self.shading = masked_lowpass(lab_image[..., 0], inner, sigma)

    def score(self, lab_image: np.ndarray) -> np.ndarray:
        """Per cell, how far from this skin in spreads (0 = typical skin)."""
        light, a, b = cv2.split(lab_image)
        chroma = np.hypot(a - self.median[1], b - self.median[2]) / self.chroma_spread
        dark = np.maximum(self.shading - light, 0.0) / self.dark_spread
        return np.sqrt(chroma * chroma + dark * dark)

    def likelihood(self, lab_image: np.ndarray, limits: tuple[float, float] = SKIN_SCORE) -> np.ndarray:
        return self.likelihoods(lab_image, limits)[0]

    def likelihoods(self, lab_image: np.ndarray, *limits: tuple[float, float]) -> list[np.ndarray]:
        """``likelihood`` for each of ``limits`` from one score (the swap asks for two a frame)."""
        score = self.score(lab_image)
        return [np.clip((hi - score) / (hi - lo), 0.0, 1.0).astype(np.float32) for lo, hi in limits]


_SHIFT_MAX = (MAX_DL, MAX_DAB, MAX_DAB, 0.0)
_SHIFT_MIN = tuple(-v for v in _SHIFT_MAX)

# Share of the difference between the two faces' skin medians (wearer - photo; Lab L, a, b) that is
# put down to the scene's light (exposure, colour cast) rather than to the two people's skin. The
# two are confounded in one face: a dim room and a darker skin both lower L. Taken as independent
# causes, the expected share of light in a difference is the light's variance over the total
# (a Wiener / Bayes shrinkage); on the tuning side, the same person across clips and photos
# (lp_d18/lp_d19/lp_d19.jpg, lp_d12 clip/photo, fr_biden/fr_biden2) differs by about
# (63, 20, 14) in variance, different people by (153, 28, 25): (0.4, 0.7, 0.55).
LIGHT_SHARE = (0.4, 0.7, 0.55)
# A wearer darker than the photo: the light's share of L when the wearer's face is the darker one.
# Webcam light is skewed dark (small sensors, dim rooms; in all three same-person pairs above the
# webcam face was the darker one, by 2-8 L), so a darker wearer is mostly a dimmer scene, while a
# photo darker than the wearer is mostly darker skin. Tuning half, 60 frames: 0.4 lost 0.03-0.04
# id margin on the dim and the backlit clip (lp_d20, lp_d3), 0.8 about half of that; 150 frames:
# 1.0 (only the hue kept) lost lp_d19 <- astronaut's gain (0.176 -> 0.137) and 0.007 of the mean.
DIM_SHARE = 0.8
# The photo's tone comes in between these depths inside the outline (fractions of the face width),
# inside the border band the seam membrane grades to the wearer's skin beside the face (seam dE is
# measured on 8-16 %): (0.10, 0.35) took the tuning half's seam dE 3.21 -> 3.74, this 3.18 (60 frames).
TONE_DEPTH = (0.16, 0.36)
# Skin chroma (Lab a, b length) under which a face is grey (a B&W photo or camera): it shows no skin
# colour, and its grey level is the print's or scan's, not a skin tone (the tuning half's B&W Julia
# Roberts reads L 93: kept, her face's middle came out washed pale, brow dE 7.7 -> 9.1).
NO_COLOUR = 3.0


def skin_tone(wearer: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """The part of the difference between the wearer's and the photo's skin medians (Lab) that is
    the two people's skin rather than the light (LIGHT_SHARE, DIM_SHARE): subtracted from the
    wearer's low-pass, the photo's tone is kept while the wearer's shading pattern and the scene's
    share of exposure and cast reach the face. A grey photo or a grey camera shows no skin tone:
    all of the difference is then taken as the light's (``NO_COLOUR``)."""
    wearer, photo = np.asarray(wearer, np.float64), np.asarray(photo, np.float64)
    keep = 1.0 - np.array(LIGHT_SHARE)
    if wearer[0] < photo[0]:
        keep[0] = 1.0 - DIM_SHARE
    if min(np.hypot(wearer[1], wearer[2]), np.hypot(photo[1], photo[2])) < NO_COLOUR:
        keep[:] = 0.0
    return (keep * (wearer - photo)).astype(np.float32)


def tone_map(tone: np.ndarray, depth: np.ndarray, edge: tuple[float, float]) -> np.ndarray:
    """``tone`` (Lab) per cell (h, w, 3): none up to ``edge[0]`` inside the face outline, in full
    from ``edge[1]`` (``depth``: per cell, how far inside, same units). The wearer's neck, ears and
    jaw beside the face keep their own tone, so the face's edge must too; the photo's tone comes in
    over a wide, smooth ramp that reads as shading, not as a mask's edge."""
    lo, hi = edge
    ramp = cv2.min(cv2.max(np.asarray(depth, np.float32), lo), hi)
    ramp -= lo
    scale = np.asarray(tone, np.float64) / (hi - lo)
    return cv2.multiply(_planes(ramp, 3), (float(scale[0]), float(scale[1]), float(scale[2]), 0.0))


def toned(cells: np.ndarray, tone: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """BGR 0..255 float32 ``cells`` with ``tone`` (Lab, ``tone_map``) taken off: the wearer's cells
    as they would be with the photo's skin. The Lab step is turned into BGR by its derivative at
    the wearer's skin colour ``skin`` (Lab), exact to first order on skin, where it is used (within
    0.3 Delta E there on a real face; a Lab round trip of every cell cost more than the rest of the
    tone's work together)."""
    at = np.asarray(skin, np.float32)
    steps = bgr((at + _UNIT_STEPS)[None])[0]
    jacobian = (steps[1:] - steps[0]).T  # BGR per unit of L, a, b
    out = cv2.subtract(np.asarray(cells, np.float32), cv2.transform(tone, jacobian))
    return cv2.min(cv2.max(out, (0.0,) * 4), (255.0,) * 4)  # per channel: a bare number is channel 0's only


_UNIT_STEPS = np.vstack([np.zeros(3), np.eye(3)]).astype(np.float32)


def shading_maps(live_low: np.ndarray, photo_low: np.ndarray,
                 tone: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell detail gain (h, w) and offset (h, w, 3) such that ``photo * gain + offset`` has the
    wearer's low-frequency shading: both low-passes are BGR 0..255 float32 of the same cells.
    With ``tone`` (``tone_map``, Lab per cell), that much of the wearer's skin colour is left out,
    so the photo's own tone stays."""
    live_lab, photo_lab = lab(live_low), lab(photo_low)
    if tone is not None:
        live_lab = cv2.subtract(live_lab, tone)
    # Per-channel limits as OpenCV scalars: numpy clips against a 3-vector ten times slower.
    shift = cv2.min(cv2.max(cv2.subtract(live_lab, photo_lab), _SHIFT_MIN), _SHIFT_MAX)
    target = bgr(photo_lab + shift)
    gain = np.clip((photo_lab[..., 0] + shift[..., 0] + DETAIL_EPS) / (photo_lab[..., 0] + DETAIL_EPS), *DETAIL_GAIN)
    gain = gain.astype(np.float32)
    offset = cv2.subtract(target, cv2.multiply(np.asarray(photo_low, np.float32), _planes(gain, 3)))
    return gain, offset


def match_residual(photo: np.ndarray, gain: np.ndarray, offset: np.ndarray, live: np.ndarray,
                   weights: np.ndarray, sigma: float, where: np.ndarray | None = None) -> np.ndarray:
    """``offset`` corrected so that the relit photo (``photo * gain + offset``, both on the grid's
    cells) has the wearer's (``live``) low-pass over the cells where both are skin (``weights``);
    the correction is clamped and, with ``where``, scaled by it. The first pass matched two
    low-passes taken over different skin (the photo's shadow at the jaw line or hair at the temples
    falls where the wearer has skin); what it left shows as a colour step at the seam."""
    relit = cv2.multiply(photo, _planes(gain, 3), dtype=cv2.CV_32F)
    relit += offset
    residual = masked_lowpass(cv2.subtract(live, relit, dtype=cv2.CV_32F), weights, sigma)
    np.clip(residual, -MAX_RESIDUAL, MAX_RESIDUAL, out=residual)
    if where is not None:
        residual = cv2.multiply(residual, _planes(where, 3))
    residual += offset
    return residual


def relight(face: np.ndarray, gain: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """uint8 ``face * gain + offset`` (maps already at the face's size; saturating). ``gain`` has
    one channel or one per colour channel."""
    g3 = gain if gain.ndim == 3 else cv2.merge([gain, gain, gain])
    # The face made float first and multiplied in place: the same products, a quarter cheaper than
    # OpenCV's mixed-type multiply (which converts through buffers of its own).
    relit = face.astype(np.float32)
    cv2.multiply(relit, g3, dst=relit)
    return cv2.add(relit, offset, dtype=cv2.CV_8U)


def relight_with_grain(face: np.ndarray, gain: np.ndarray, offset: np.ndarray, at: tuple[int, int],
                       frame: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """``add_grain(relight(face, gain, offset), live)`` with ``gain`` (one channel, or one per colour)
    and ``offset`` (3-channel) float32 maps read from row, column ``at`` on and ``live`` the frame's
    pixels under the face (``origin``: its top-left x, y in ``frame``). One compiled pass
    (``swap_kernels``): the same values, about half the cost of the dozen whole-buffer OpenCV passes."""
    h, w = face.shape[:2]
    (gy, gx), (x0, y0) = at, origin
    gc = 1 if gain.ndim == 2 else gain.shape[2]
    ok = (_kernels is not None and face.dtype == np.uint8 and frame.dtype == np.uint8
          and gain.dtype == np.float32 and offset.dtype == np.float32 and gain.shape[:2] == offset.shape[:2]
          and gc in (1, 3) and face.ndim == offset.ndim == frame.ndim == 3
          and face.shape[2] == offset.shape[2] == frame.shape[2] == 3
          and face.flags.c_contiguous and gain.flags.c_contiguous and offset.flags.c_contiguous
          and frame.flags.c_contiguous and _grain_span_exact() and min(gy, gx, x0, y0) >= 0
          and gy + h <= gain.shape[0] and gx + w <= gain.shape[1]  # the loop reads unchecked
          and y0 + h <= frame.shape[0] and x0 + w <= frame.shape[1])
    if not ok:
        return add_grain(relight(face, gain[gy:gy + h, gx:gx + w], offset[gy:gy + h, gx:gx + w]),
                         frame[y0:y0 + h, x0:x0 + w])
    whole = np.empty((h, 6), np.int64)
    whole[:, 0::2], whole[:, 1::2] = 0, w  # every row made, blurred and read over the whole box
    return _relight_kernel(face, gain, gc, offset, at, frame, origin, whole)


def blend_face(face: np.ndarray, alpha: np.ndarray, frame: np.ndarray, origin: tuple[int, int],
               out: np.ndarray) -> None:
    """``compositing.blend(face, live, alpha)`` written into ``out`` at ``origin`` (x, y), ``live``
    being ``frame``'s pixels there (``out`` is a copy of ``frame``): the same values in one compiled
    pass instead of five OpenCV ones."""
    h, w = face.shape[:2]
    x0, y0 = origin
    ok = (_kernels is not None and face.dtype == frame.dtype == out.dtype == alpha.dtype == np.uint8
          and face.ndim == frame.ndim == out.ndim == 3 and face.shape[2] == frame.shape[2] == 3
          and frame.shape == out.shape and alpha.shape == (h, w) and face.flags.c_contiguous
          and frame.flags.c_contiguous and out.flags.c_contiguous and min(x0, y0) >= 0
          and y0 + h <= frame.shape[0] and x0 + w <= frame.shape[1])  # the loop writes unchecked
    if not ok:
        blend(face, frame[y0:y0 + h, x0:x0 + w], alpha, dst=out[y0:y0 + h, x0:x0 + w])
        return
    _kernels.blend_into(face.reshape(h, -1), frame.reshape(frame.shape[0], -1), alpha, y0, x0,
                        out.reshape(out.shape[0], -1))


def spans_fit(image: np.ndarray) -> bool:
    """Whether the face can be made over row spans: the compiled loops are there and the frame is
    as they read it (else the whole box's calls, which make the same pixels)."""
    return (_kernels is not None and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            and image.flags.c_contiguous and _grain_span_exact())


def relight_rows(warped: np.ndarray, gain: np.ndarray, offset: np.ndarray, at: tuple[int, int],
                 frame: np.ndarray, origin: tuple[int, int], spans: np.ndarray) -> np.ndarray:
    """``relight_with_grain`` made within ``spans`` only (``mesh_warp.row_spans``): the same pixels
    there; the rest of the result holds nothing. The whole box where the compiled loop cannot read
    these maps (it reads unchecked)."""
    h, w = warped.shape[:2]
    (gy, gx), (x0, y0) = at, origin
    gc = 1 if gain.ndim == 2 else gain.shape[2]
    if not (warped.dtype == np.uint8 and warped.ndim == 3 and warped.shape[2] == 3 and warped.flags.c_contiguous
            and gain.dtype == offset.dtype == np.float32 and gc in (1, 3) and offset.ndim == 3 and offset.shape[2] == 3
            and gain.shape[:2] == offset.shape[:2] and gain.flags.c_contiguous and offset.flags.c_contiguous
            and spans.shape == (h, 6) and min(gy, gx, x0, y0) >= 0 and gy + h <= gain.shape[0]
            and gx + w <= gain.shape[1] and y0 + h <= frame.shape[0] and x0 + w <= frame.shape[1]):
        return relight_with_grain(warped, gain, offset, at, frame, origin)
    return _relight_kernel(warped, gain, gc, offset, at, frame, origin, spans)


def _relight_kernel(warped: np.ndarray, gain: np.ndarray, gc: int, offset: np.ndarray, at: tuple[int, int],
                    frame: np.ndarray, origin: tuple[int, int], spans: np.ndarray) -> np.ndarray:
    """``swap_kernels.relight_grain_rows`` on maps its callers have checked (it reads unchecked)."""
    h = warped.shape[0]
    (gy, gx), (x0, y0) = at, origin
    out = np.empty_like(warped)
    lo, hi = GRAIN_KEEP
    _kernels.relight_grain_rows(warped.reshape(h, -1), gain.reshape(gain.shape[0], -1), gc,
                                offset.reshape(offset.shape[0], -1), gy, gx, frame.reshape(frame.shape[0], -1),
                                y0, x0, _GRAIN_KERNEL, np.float32(hi), np.float32(1.0 / (hi - lo)), spans,
                                out.reshape(h, -1))
    return out


def blend_rows(face: np.ndarray, alpha: np.ndarray, frame: np.ndarray, origin: tuple[int, int], out: np.ndarray,
               spans: np.ndarray) -> None:
    """``blend_face`` within ``spans`` only, where ``alpha`` is 0 outside them: there the blend gives
    the frame's pixels, which ``out`` (its copy) holds already. The whole blend where the compiled
    loop cannot take these (it writes unchecked)."""
    h, w = face.shape[:2]
    x0, y0 = origin
    if not (face.dtype == alpha.dtype == out.dtype == np.uint8 and face.ndim == 3 and face.shape[2] == 3
            and face.flags.c_contiguous and out.flags.c_contiguous and out.shape == frame.shape
            and alpha.shape == (h, w) and spans.shape == (h, 6) and min(x0, y0) >= 0
            and y0 + h <= frame.shape[0] and x0 + w <= frame.shape[1]):
        blend_face(face, alpha, frame, origin, out)
        return
    _kernels.blend_rows(face.reshape(h, -1), frame.reshape(frame.shape[0], -1), alpha, spans, y0, x0,
                        out.reshape(out.shape[0], -1))


def _grain_span_exact() -> bool:
    """The kernel's product with one over GRAIN_KEEP's span is the table's division only for a
    power-of-two span."""
    span = GRAIN_KEEP[1] - GRAIN_KEEP[0]
    return span > 0 and float(span).is_integer() and (int(span) & (int(span) - 1)) == 0


def _grain_lut() -> np.ndarray:
    x = np.arange(256, dtype=np.float32) - 128
    lo, hi = GRAIN_KEEP
    keep = np.clip((hi - np.abs(x)) / (hi - lo), 0.0, 1.0)
    return np.clip(np.round(128 + x * keep), 0, 255).astype(np.uint8)


_GRAIN_LUT = _grain_lut()
_GRAIN_KERNEL = _bit_exact_kernel(5, GRAIN_SIGMA)  # _grain's 5-tap 8-bit GaussianBlur, in integers


def _grain(image: np.ndarray) -> np.ndarray:
    """The finest band of ``image`` at small amplitudes only, offset by 128 (uint8)."""
    # A 5-tap kernel (+-2 sigma) instead of OpenCV's 7 for 8-bit: half the cost, at most 1 level apart.
    blurred = cv2.GaussianBlur(image, (5, 5), GRAIN_SIGMA)
    # image - blurred + 128, saturated, from the difference's two 8-bit parts (one of them is 0): the
    # same values as a float addWeighted, in cheaper passes. The 128 is added to one plane of all
    # the channels (a scalar on a 3-channel image would reach the first channel only).
    up = cv2.subtract(image, blurred)
    plane = up.reshape(up.shape[0], -1)
    cv2.add(plane, 128, dst=plane)
    return cv2.LUT(cv2.subtract(up, cv2.subtract(blurred, image)), _GRAIN_LUT)


def add_grain(face: np.ndarray, live: np.ndarray) -> np.ndarray:
    """``face`` with its own grain (the photo's noise and pores, small amplitudes only: its strong
    fine edges stay) traded for the wearer's, so the swapped face carries this camera's noise."""
    theirs, own = _grain(live), _grain(face)
    # face + theirs - own, saturating, in 8-bit: the difference's positive and negative parts
    # (at most one is not 0), instead of a 16-bit difference and a float sum over the whole box.
    return cv2.subtract(cv2.add(face, cv2.subtract(theirs, own)), cv2.subtract(own, theirs))


# Delta E of a cell just outside the outline from the wearer's skin just inside: still the same skin
# running on, and surely not (the metric's own test for "skin runs on" is under 6).
BORDER_RUNS_ON = (6.0, 10.0)
BORDER_SKIN = 0.5  # share of skin along the ring just outside from which the border takes it in full
HAIRLINE_DARK = (2.0, 5.0)  # at the hairline, ring cells this much darker (Lab L) than the face start / stop counting


def match_border(photo: np.ndarray, gain: np.ndarray, offset: np.ndarray, live: np.ndarray,
                 support: np.ndarray, ring: np.ndarray, skin: np.ndarray, sigma: float, where: np.ndarray,
                 limit: float, hairline: np.ndarray | None = None, deep: np.ndarray | None = None) -> np.ndarray:
    """``offset`` corrected so that the relit photo's low band (scale ``sigma``, over ``support``:
    inside the face) at the face's border becomes the wearer's skin *just outside* it (``ring``: the
    cells of a ring beyond the outline, ``skin``: how surely each is skin), spread inwards by
    ``where`` (0..1 per cell) and at most ``limit`` levels: a membrane across the seam, so the
    swapped face's edge continues the jaw, neck and ear skin beside it instead of repeating the
    wearer's own shading step at the outline. Along stretches of the ring with no skin running on
    (hair, background) the border takes the wearer's own colour at the same place instead, as
    the earlier two-band blend did. The photo's beard or temple hair at the border moves with it.
    ``hairline`` (0..1 per cell): where ring cells darker than the face's colour beside them
    (HAIRLINE_DARK, Lab L) do not count: hair passes a skin model fitted on a pale face. ``deep``
    (0..1 per cell): how far in the ring's skin alone is carried where it reaches past ``where`` (a
    seam is seen over a band, so the correction must reach past it); the same values as without
    it wherever it is no larger than ``where``."""
    relit = cv2.multiply(photo, _planes(gain, 3), dtype=cv2.CV_32F)
    relit += offset
    h, w = where.shape
    small = (max(1, w // 2), max(1, h // 2))
    # Everything at half the cells, in as few calls as possible (this runs every frame).
    masks = cv2.resize(cv2.merge([np.asarray(m, np.float32) for m in
                                  (support, ring, skin, np.zeros_like(where) if hairline is None else hairline)]),
                       small, interpolation=cv2.INTER_AREA)
    inside, geometry, skin_s, line = cv2.split(masks)
    live_s = cv2.resize(live, small, interpolation=cv2.INTER_AREA)
    colours = cv2.merge([live_s, cv2.resize(relit, small, interpolation=cv2.INTER_AREA)])
    s = sigma / 2
    # The wearer's and the relit photo's colours inside the face, in one blur.
    both = cv2.GaussianBlur(cv2.multiply(colours, _planes(inside, 6)), (0, 0), s)
    den = np.maximum(cv2.GaussianBlur(inside, (0, 0), s), 1e-4)
    both = cv2.divide(both, _planes(den, 6))
    own, relit_low = both[..., :3], both[..., 3:]
    ring = geometry * skin_s
    cells = np.flatnonzero(ring)
    if cells.size:
        # Only skin that runs on across the outline: ginger hair or a tanned ear beside a pale
        # face pass the skin model but are not where the face's colour goes on.
        # Against the wearer's *skin* just inside (hair inside the outline would let hair outside
        # pass); at the hairline a cell further in, as the outline itself often runs on hair there.
        # Lab only for the ring's cells (a quarter of them).
        inner = inside * skin_s
        core = cv2.erode(inside, np.ones((3, 3), np.uint8))
        core *= skin_s
        refs = cv2.merge([cv2.multiply(live_s, _planes(inner, 3)), cv2.multiply(live_s, _planes(core, 3)), inner, core])
        refs = cv2.GaussianBlur(refs, (0, 0), s).reshape(-1, 8)[cells]
        n = cells.size
        # The ring's cells, their references and (at the hairline) the cells further in, as one
        # row of pixels: cvtColor pays per row.
        pixels = np.empty((1, 3 * n if hairline is not None else 2 * n, 3), np.float32)
        pixels[0, :n] = live_s.reshape(-1, 3)[cells]
        np.divide(refs[:, :3], np.maximum(refs[:, 6:7], 1e-4), out=pixels[0, n: 2 * n])
        if hairline is not None:
            np.divide(refs[:, 3:6], np.maximum(refs[:, 7:8], 1e-4), out=pixels[0, 2 * n:])
        pair = lab(pixels)[0]
        diff = pair[:n] - pair[n: 2 * n]
        lo, hi = BORDER_RUNS_ON
        distance = cv2.sqrt(cv2.transform((diff * diff)[None], np.ones((1, 3), np.float32))).reshape(-1)
        runs_on = np.clip((hi - distance) / (hi - lo), 0.0, 1.0)
        if hairline is not None:
            lo, hi = HAIRLINE_DARK
            at_line = line.reshape(-1)[cells]
            runs_on *= 1.0 - at_line + at_line * np.clip((hi - (pair[2 * n:, 0] - pair[:n, 0])) / (hi - lo), 0.0, 1.0)
        ring.reshape(-1)[cells] *= runs_on
    deeper = None
    if not ring.any():
        step = cv2.subtract(own, relit_low)
    else:
        # The ring's skin colour and its share of skin, carried inwards at twice the band's scale
        # (a local average: pull-push mixed the neck's shade into the cheeks).
        spread = cv2.GaussianBlur(cv2.merge([cv2.multiply(live_s, _planes(ring, 3)), ring, geometry]), (0, 0), 2 * s)
        weight = spread[..., 3]
        step = cv2.divide(spread[..., :3], _planes(np.maximum(weight, 1e-4), 3))
        conf = np.clip(weight / np.maximum(spread[..., 4] * BORDER_SKIN, 1e-6), 0.0, 1.0)
        if deep is not None:
            # The ring's skin alone is carried on past ``where`` as far as ``deep``; the wearer's
            # own colour (beside hair or background) is not: deeper in, that is the wearer's face.
            further = cv2.max(np.asarray(deep, np.float32), np.asarray(where, np.float32))
            further -= where
            skin_step = cv2.multiply(cv2.subtract(step, relit_low), _planes(conf, 3))
            np.clip(skin_step, -limit, limit, out=skin_step)
            deeper = cv2.multiply(cv2.resize(skin_step, (w, h), interpolation=cv2.INTER_LINEAR), _planes(further, 3))
        step -= own
        step = cv2.multiply(step, _planes(conf, 3))
        step += own
        step -= relit_low
    np.clip(step, -limit, limit, out=step)
    step = cv2.multiply(cv2.resize(step, (w, h), interpolation=cv2.INTER_LINEAR), _planes(where, 3))
    step += offset
    if deeper is not None:
        step += deeper
    return step
