"""The frame-guided edge's per-pixel step: one compiled pass over the working frame, or (without
numba) OpenCV calls worked in cache-sized strips, and only where the alpha can be other than 0 or 255.

Compiled (``mask_kernels.edge_alpha``): the coefficient maps are enlarged across by ``cv2.resize``
(65 cell rows), and one loop per working row makes the enlargement's second pass, the products with
the frame, their sum and the rounding, with no frame-size float temporary; a pixel whose four
coefficient cells are all certain (the bound below) is filled, not worked. It is
``temporal.apply_coefficients``' whole-frame step within one level, and the same bytes at all but 16
of 20 million pixels on 40 s18 fits at 720p and 1080p (the strips: 24). On recorded s18 fits at
720p, one thread: 0.16 against 0.25 ms a call; in the pipeline the refine stage 1.30 -> 1.14 ms.
The strips below stay the path without numba, and for maps with a NaN or infinite cell.

``temporal.apply_coefficients`` turns the guided fit's small coefficient maps into the uint8 alpha at
the working size (half the frame) through frame-size float32 temporaries: at 720p a 3-channel one
of 2.8 MB and two of 0.9 MB, each written out to memory and read back by the next step. The same
arithmetic on strips of STRIP_ROWS rows keeps the temporaries in the core's cache. On the s18 clip at
720p, one thread: 0.51 ms against 0.69-0.84 (same run, load 5). The coefficients are enlarged by
``warpAffine`` (positions exact to 1/32 of a coefficient cell) instead of ``resize``: within one
level of ``apply_coefficients`` everywhere.

Most of the working frame is deep inside the room or the person, where the coefficients put the
alpha hundreds of levels past 0 or 255 whatever the guide's colour. Each coefficient cell's bound
over all guide colours (b8 -/+ 255 · sum|a8|) says where that is certain; a pixel is filled with 0
or 255 when every cell its bilinear enlargement reads is certain and agrees, and only the column
spans between are worked (the outline's, on each side of the person): on s18 about 40 % of the
720p working frame. Inside the pipeline (frame by frame against the whole-frame strips, medians,
load ~2) 1.00 -> 0.89 ms at 720p and 2.17 -> 1.46 at 1080p; at 640x480 (a 4:3 squash of the clip,
the person filling more of it) 0.36 -> 0.41 on replayed fits. The result is the whole-frame step's
to within one level (the enlargement's fixed-point positions round differently when the map is
shifted to a span's corner: 38 of 18 million alpha pixels on 78 frames of s18 at 720p).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from livecam.analysis import mask_kernels
from livecam.analysis.temporal import buffer

# Whole-frame strips of 64 rows kept the float temporaries in cache (0.51 ms at 720p against
# 0.69-0.84 for whole-frame passes). Worked only on the outline's spans, the temporaries are small
# anyway, and fewer, taller strips cost fewer calls. Inside the pipeline on s18 at 720p (landscape
# model, one thread, alternating with the 64-row whole-frame step, medians, load ~2): 90 / 120 / 180
# / 360 rows 0.85 / 0.82 / 0.81 / 1.11 ms against 0.95-0.97; SPLIT_GAP 6 / 12 / 24 at 180 rows
# 0.88 / 0.81 / 0.97 against 0.95-1.00.
STRIP_ROWS = 180
_ONES3 = np.ones((1, 3), np.float32)
# Levels past 0 or 255 that a cell's bound must reach to be certain: the enlargement's weights are
# float and sum to one within rounding, so any margin over the final rounding's half level holds.
SURE_MARGIN = 2.0
# A run of at least this many certain cells inside a strip's worked span splits it in two (the
# person's inside between the outline's two sides); narrower gaps cost less worked than a call.
SPLIT_GAP = 12

_SPAN3 = np.full((1, 3), 255, np.float32)
_GROW = np.ones((5, 3), np.uint8)  # rows, columns
_TAPS: dict[tuple, object] = {}


def _cells(size: int, cells: int) -> np.ndarray:
    """The cell each of ``size`` output positions falls in (the enlargement reads it or a neighbour)."""
    key = (size, cells)
    if key not in _TAPS:
        _TAPS[key] = np.minimum((np.arange(size) * cells) // size, cells - 1)
    return _TAPS[key]


def _starts(size: int, cells: int) -> tuple[list[int], np.ndarray]:
    """The first of ``size`` output positions falling in each cell (and ``size`` after the last),
    and how many fall in each."""
    key = (size, cells, "starts")
    if key not in _TAPS:
        starts = np.searchsorted(_cells(size, cells), np.arange(cells + 1))
        _TAPS[key] = starts.tolist(), np.diff(starts)
    return _TAPS[key]


def _spans(work: np.ndarray) -> list[tuple[int, int, int]]:
    """(row, start, end) spans covering every 255 of each row of ``work`` (uint8 0 / 255), in row
    order, split at gaps of SPLIT_GAP or more (searched in bytes: a few hundred cells, where numpy's
    calls cost more than the search)."""
    gap = bytes(SPLIT_GAP)
    spans = []
    for i, row in enumerate(work):
        line = row.tobytes()
        x0 = line.find(255)
        while x0 >= 0:
            x1 = line.find(gap, x0)
            end = len(line) if x1 < 0 else x1
            last = line.rfind(255, x0, end) + 1
            spans.append((i, x0, last))
            x0 = -1 if x1 < 0 else line.find(255, x1)
    return spans


@functools.lru_cache(maxsize=8)
def _row_taps(size: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``size`` output rows, the cell row ``cv2.resize``'s INTER_LINEAR starts from and
    the weight of the next (its float arithmetic, clamped at both ends as it clamps them)."""
    position = ((np.arange(size) + 0.5) * (1.0 / (size / cells)) - 0.5).astype(np.float32)  # resize's scale
    first = np.floor(position)
    weight = position - first
    low, high = first < 0, first >= cells - 1
    weight[low | high] = 0.0
    first[low], first[high] = 0, cells - 1
    return first.astype(np.int64), weight.astype(np.float32)


def _compiled(a8: np.ndarray, b8: np.ndarray, guide8: np.ndarray, space: dict) -> np.ndarray:
    h, w = guide8.shape[:2]
    ch, cw = b8.shape
    across_a = cv2.resize(a8, (w, ch), dst=buffer(space, "across_a", (ch, w, 3)), interpolation=cv2.INTER_LINEAR)
    across_b = cv2.resize(b8, (w, ch), dst=buffer(space, "across_b", (ch, w)), interpolation=cv2.INTER_LINEAR)
    rows, weights = _row_taps(h, ch)
    # Pixels whose four cells all certainly give 0 (or 255) are filled, not worked: on s18 at 720p
    # four fifths of the working frame (the kernel 0.07 against 0.14 ms). Coefficients finer than
    # the frame: every pixel is worked.
    margin = np.float32(-1.0 if cw > w or ch > h else SURE_MARGIN)
    out = np.empty((h, w), np.uint8)  # handed out (the caller keeps it for settling): never reused
    mask_kernels.edge_alpha(np.ascontiguousarray(a8).reshape(ch, -1), np.ascontiguousarray(b8), across_a.reshape(ch, -1),
                            across_b, guide8.reshape(h, -1), rows, weights, _column_starts(w, cw), margin, out)
    return out


@functools.lru_cache(maxsize=8)
def _column_starts(size: int, cells: int) -> np.ndarray:
    """The first of ``size`` columns whose enlargement starts from each cell column (and ``size``)."""
    first = _row_taps(size, cells)[0]
    return np.searchsorted(first, np.arange(cells + 1)).astype(np.int64)


def apply_coefficients(a8: np.ndarray, b8: np.ndarray, guide8: np.ndarray, space: dict) -> np.ndarray:
    """uint8 alpha at the guide's size: a8 · guide8 + b8, saturated to 0..255, with ``a8`` (h, w, 3)
    and ``b8`` (h, w) the small coefficient maps of ``temporal.curve_coefficients`` enlarged
    bilinearly (pixel centres on pixel centres, as ``cv2.resize``) and ``guide8`` the uint8 BGR
    working frame. ``space``: the caller's dict, in which the work buffers live between frames."""
    h, w = guide8.shape[:2]
    ch, cw = b8.shape[:2]
    if (mask_kernels.READY and guide8.dtype == np.uint8 and guide8.shape == (h, w, 3) and guide8.flags.c_contiguous
            and a8.dtype == np.float32 and a8.shape == (ch, cw, 3) and b8.dtype == np.float32 and b8.ndim == 2
            and ch and cw and np.isfinite(a8).all() and np.isfinite(b8).all()):
        # Finite maps only: resize's pass down (the identity here) still takes each row plus the
        # next at weight 0, and inf x 0 is NaN, so a broken cell would reach the row above it. A
        # NaN or infinite cell goes the strips' way, which keeps it to the pixels that read it.
        return _compiled(a8, b8, guide8, space)
    return in_strips(a8, b8, guide8, space)


def in_strips(a8: np.ndarray, b8: np.ndarray, guide8: np.ndarray, space: dict) -> np.ndarray:
    """``apply_coefficients`` by OpenCV calls over the spans of cache-sized strips that are not
    certain (the path without numba, and for maps with a NaN or infinite cell)."""
    h, w = guide8.shape[:2]
    ch, cw = b8.shape[:2]
    fx, fy = cw / w, ch / h
    rows = min(STRIP_ROWS, h)
    q = buffer(space, "strip_a", (rows * w * 3,))
    s = buffer(space, "strip_sum", (rows * w,))
    b = buffer(space, "strip_b", (rows * w,))
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    # Each cell's alpha over every guide colour lies within b8 -/+ 255 · sum|a8|. Per cell: whether
    # it certainly gives 0 (channel 0) or certainly 255 (channel 1), written so that a NaN or
    # infinite coefficient is uncertain and worked as before. Shrunk by a cell across and two down,
    # a cell's flags hold for every cell the enlargement reads for the pixels whose position falls
    # in it or in the cell below (a strip's last cell row is the next strip's first).
    reach = cv2.transform(np.abs(a8), _SPAN3)
    certain = cv2.merge([cv2.compare(cv2.add(b8, reach), -SURE_MARGIN, cv2.CMP_LT),
                         cv2.compare(cv2.subtract(b8, reach), 255 + SURE_MARGIN, cv2.CMP_GT)])
    if cw > w or ch > h:  # coefficients finer than the frame: no cell covers whole pixels
        certain[:] = 0
    cell_rows, (starts, counts) = _cells(h, ch), _starts(w, cw)
    tops = list(range(0, h, rows))
    strips = np.minimum.reduceat(cv2.erode(certain, _GROW), cell_rows[tops], axis=0)
    # The certain pixels' value (255 where certainly 255, else 0), each cell's repeated across its
    # pixels and each strip's row down the strip.
    fill = np.repeat(strips[:, :, 1], counts, axis=1)
    out = np.repeat(fill, [min(rows, h - y0) for y0 in tops], axis=0)
    work = cv2.bitwise_not(cv2.bitwise_or(strips[:, :, 0], strips[:, :, 1]))
    # The products with the frame in one compiled pass (mask_kernels.times_guide): OpenCV's
    # mixed-type multiply converts the frame's span first, and was a third of this step.
    flat_guide = guide8.reshape(h, w * 3) if (mask_kernels.READY and guide8.dtype == np.uint8
                                             and guide8.shape == (h, w, 3) and guide8.flags.c_contiguous) else None
    for i, c0, c1 in _spans(work):
        y0, x0, x1 = i * rows, starts[c0], starts[c1]
        n, k = min(rows, h - y0), x1 - x0
        # Rows y0 .. y0 + n, columns x0 .. x1 of the whole enlargement: the inverse map shifted.
        m = np.float32([[fx, 0, fx * (x0 + 0.5) - 0.5], [0, fy, fy * (y0 + 0.5) - 0.5]])
        qs = cv2.warpAffine(a8, m, (k, n), dst=q[:n * k * 3].reshape(n, k, 3), flags=flags,
                            borderMode=cv2.BORDER_REPLICATE)
        if flat_guide is not None:
            mask_kernels.times_guide(qs.reshape(n, k * 3), flat_guide, y0, 3 * x0)
        else:
            cv2.multiply(qs, guide8[y0:y0 + n, x0:x1], dst=qs, dtype=cv2.CV_32F)
        total = cv2.transform(qs, _ONES3, dst=s[:n * k].reshape(n, k))  # a · guide: the three products summed
        bs = cv2.warpAffine(b8, m, (k, n), dst=b[:n * k].reshape(n, k), flags=flags,
                            borderMode=cv2.BORDER_REPLICATE)
        cv2.add(total, bs, dst=out[y0:y0 + n, x0:x1], dtype=cv2.CV_8U)  # rounds and saturates both ends
    return out
