"""Compiled loops (numba) for the person-mask stage, each giving exactly what the numpy and OpenCV
steps they replace give (``tests/test_mask_kernels.py``).

- **The model's input** (``tensor_into``): the small BGR frame as RGB planes with its first row
  repeated above it and its last below (``cv2.cvtColor``, then ``cv2.copyMakeBorder``'s
  BORDER_REPLICATE), normalised as ``ModelSession.normalize`` does (``float32(v) * scale + offset``:
  two roundings, no fused multiply-add), in one pass into the (1, 3, h, w) batch the selfie models
  take instead of a colour conversion, a border copy, a product, a sum and a transpose.
- **Temporal smoothing** (``smooth_into``): ``temporal.smooth_mask``'s streak count and held mix,
  numpy's float32 and int8 steps in their order per pixel, in one pass instead of some twenty
  whole-mask temporaries (the mask is the model's 256 x 131).
- **The guided fit's inputs at half size** (``halve_across``): the small frame and the mask shrunk
  to half their width and rows by OpenCV's general area shrink (the rows' factor, 131 / 65, is not
  whole), both in one pass, the frame's result rounded and scaled to 0..1 as the caller's
  ``astype`` and product did.
- **The model input's last shrink** (``area_shrink``): where the frame (1080p: 480 x 270) is not a
  whole multiple of the model's size, OpenCV's general area shrink in one compiled pass (0.35 ms
  against 0.64 at 1080p), each source row's sums made once.
- **The colour-guided fit** (``fit_products``, ``fit_solve``): ``temporal.colour_guided_fit``'s
  per-pixel products before its box filters and its 3 x 3 solve after them, numpy's float32
  expressions in their order, instead of some fifty 128 x 65 temporaries (the box filters stay
  OpenCV's, as two multi-channel calls).
- **Settling** (``settle_points``): ``temporal.settle``'s gather of the motion at the ramp's
  points and its masked copy, as one loop over the points instead of five fancy-indexing passes.
- **The edge band** (``band_points``): ``temporal.edge_band``'s choice of the ramp's points still
  on it after settling and their blocks' flat frame indices, in one pass.
- **The edge fit's products with the frame** (``times_guide``): ``edge_strips``' mixed-type
  ``cv2.multiply`` of the enlarged float32 coefficients by the uint8 working frame, which OpenCV
  makes as a conversion and a product, as one pass over a span (float32(a) x float32(g), the same
  single rounding): the edge step 0.41 -> 0.33 ms a call on 40 recorded fits of s18 at 720p.
- **The edge fit's alpha** (``edge_alpha``): ``temporal.apply_coefficients``' whole-frame step
  (coefficients enlarged by ``cv2.resize``, times the frame, summed, plus the offset, rounded to
  uint8) with the enlargement's second pass, the products, the sum and the rounding in one pass
  over each working row, without its frame-size float temporaries.
- **The frame at half its size** (``halve_into``): ``cv2.resize``'s INTER_AREA at exactly half
  the rows and columns of a BGR frame (the edge work's working frame, and the model input's
  halvings), each 2 x 2 block's sum rounded as OpenCV rounds it, in half OpenCV's time.
- **The mask at the frame's size** (``double_into``): ``temporal.upscale``'s warpAffine for a uint8
  mask enlarged exactly twice (the working size to the frame), whose weights at a 2x enlargement
  are whole sixteenths: each row's pairs (a + 3b, 3a + b) made once, then the rows' pairs,
  rounded half up as the fixed-point warp rounds. 0.06 ms against 0.18 at 720p (one thread).
- **The person's colour at the edge** (``edge_colour_into``): ``temporal.decontaminate`` of the
  frame's edge pixels, with the gathers of the pixels and their mask values, in one pass over the
  edge pixels instead of two gathers, a repeat, a product and ``cv2.add``'s mixed-type add.

Compiled at import from explicit signatures (kept on disk where numba can; ``livecam.jit``: where
it cannot compile at all, ``READY`` is False and the callers keep to their numpy paths);
``nogil`` lets the live loop's other threads run meanwhile. Unsigned loop indices: with signed ones
numba checks each index for wrap-around and LLVM does not vectorise the loop. The loops trust their
arguments' shapes: the callers check them and otherwise take the numpy path.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from livecam.jit import Kernels

_KERNELS = Kernels("the person mask's loops")


@functools.lru_cache(maxsize=16)
def area_table(size: int, out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's table for an INTER_AREA shrink of ``size`` pixels (or rows) to ``out`` by a factor
    that is not whole (``computeResizeAreaTab``, in its double arithmetic): for each source
    pixel's share of an output pixel, in OpenCV's order, the output index, the source index and
    the share as float32."""
    scale = 1.0 / (out / size)  # as cv::resize has it: the inverse of the inverse scale
    di, si, share = [], [], []
    for d in range(out):
        start = d * scale
        end = start + scale
        cell = min(scale, size - start)
        s1, s2 = math.ceil(start), math.floor(end)
        s2 = min(s2, size - 1)
        s1 = min(s1, s2)
        if s1 - start > 1e-3:
            di.append(d), si.append(s1 - 1), share.append((s1 - start) / cell)
        for s in range(s1, s2):
            di.append(d), si.append(s), share.append(1.0 / cell)
        if end - s2 > 1e-3:
            di.append(d), si.append(s2), share.append(min(min(end - s2, 1.0), cell) / cell)
    return np.array(di, np.int32), np.array(si, np.int32), np.array(share, np.float64).astype(np.float32)


@_KERNELS.compiled("void(uint8[:, ::1], int64, float32, float32, float32[:, :, ::1])")
def tensor_into(bgr, top, scale, offset, out):  # pragma: no cover - compiled
    """``out[c, r, x] = float32(bgr[clamp(r - top), 3 x + 2 - c]) * scale + offset``: plane c of
    ``out`` is the frame's RGB channel c (rows of BGR pixels flattened in ``bgr``); rows above and
    below the frame repeat its first and last row."""
    last = bgr.shape[0] - 1
    for r in range(out.shape[1]):
        s_row = bgr[min(max(r - top, 0), last)]
        red, green, blue = out[0, r], out[1, r], out[2, r]
        # One pass over the row storing to the three planes: 10 us at 256 x 144 where a pass per
        # plane, reading every third byte, was not vectorised (62 us).
        for x in range(np.uint64(out.shape[2])):
            i = 3 * x
            blue[x] = np.float32(s_row[i]) * scale + offset
            green[x] = np.float32(s_row[i + 1]) * scale + offset
            red[x] = np.float32(s_row[i + 2]) * scale + offset


@_KERNELS.compiled("void(float32[:, ::1], float32[:, ::1], float32[:, ::1], float32, int8[:, ::1], float32[:, ::1], "
                   "int8[:, ::1], float32, int64)")
def smooth_into(previous, current, motion, strength, streak, out, streak_out, delta, frames):  # pragma: no cover
    """``temporal.smooth_mask`` per pixel: the streak of same-direction disagreements beyond
    ``delta`` (clipped to +-``frames``), and ``current - keep * (current - previous)`` with
    ``keep = strength * clip(1 - 10 * motion, 0, 1)``, zero where the streak reached ``frames``."""
    h, w = current.shape
    one, zero, ten = np.float32(1.0), np.float32(0.0), np.float32(10.0)
    limit = np.int8(frames)
    for r in range(np.uint64(h)):
        p_row, c_row, m_row, s_row = previous[r], current[r], motion[r], streak[r]
        o_row, t_row = out[r], streak_out[r]
        for x in range(np.uint64(w)):
            c = c_row[x]
            diff = c - p_row[x]
            direction = np.int8(diff > delta) - np.int8(diff < -delta)
            s = s_row[x]
            s = direction + s if s * direction > 0 else direction
            s = min(max(s, -limit), limit)
            t_row[x] = s
            k = one - m_row[x] * ten
            k = max(k, zero)  # np.clip: motion is finite, so no NaN to carry
            k = min(k, one)
            k = strength * k
            if not abs(s) < limit:
                k = k * zero
            o_row[x] = c - k * diff


@_KERNELS.compiled("void(uint8[:, ::1], uint8[:, ::1], float32[:, ::1], int32[:, ::1], intp[::1], intp[::1], "
                   "float32)")
def settle_points(alpha, previous, motion, points, cols, rows, still):  # pragma: no cover - compiled
    """``alpha[y, x] = previous[y, x]`` at each point (x, y) whose motion, read at the nearest
    motion pixel (``cols[x]``, ``rows[y]``), is under ``still``."""
    for i in range(np.uint64(points.shape[0])):
        x, y = points[i, 0], points[i, 1]
        if motion[rows[y], cols[x]] < still:
            alpha[y, x] = previous[y, x]



@_KERNELS.compiled("void(float32[:, :, ::1], float32[:, ::1], float32[:, :, ::1])")
def fit_products(guide, src, planes):  # pragma: no cover - compiled
    """The channels ``temporal.colour_guided_fit`` box-filters, per pixel in ``planes`` (h x w x
    14): the guide's three channels (c0, c1, c2), the mask ``p``, and the products c0 p, c1 p,
    c2 p, c0 c0, c0 c1, c0 c2, c1 c1, c1 c2, c2 c2, p p, in that order."""
    h, w = src.shape
    for r in range(np.uint64(h)):
        for x in range(np.uint64(w)):
            c0, c1, c2, p = guide[r, x, 0], guide[r, x, 1], guide[r, x, 2], src[r, x]
            planes[r, x, 0], planes[r, x, 1], planes[r, x, 2], planes[r, x, 3] = c0, c1, c2, p
            planes[r, x, 4], planes[r, x, 5], planes[r, x, 6] = c0 * p, c1 * p, c2 * p
            planes[r, x, 7], planes[r, x, 8], planes[r, x, 9] = c0 * c0, c0 * c1, c0 * c2
            planes[r, x, 10], planes[r, x, 11], planes[r, x, 12], planes[r, x, 13] = c1 * c1, c1 * c2, c2 * c2, p * p


@_KERNELS.compiled("void(float32[:, :, ::1], float32, float32, float32, float32[:, :, ::1], float32[:, ::1], "
                   "float32[:, :, ::1], boolean)", error_model="numpy")
def fit_solve(means, eps, slope_eps, scale, a, offset, shift, with_shift):  # pragma: no cover - compiled
    """From the box means of ``fit_products``' channels (same order), each window's linear model
    ``a`` (h x w x 3) and ``offset`` (h x w), and with ``with_shift`` the person - room colour
    ``shift`` (h x w x 3), each float32 step in the order of ``colour_guided_fit``'s numpy
    expressions (``scale``: its 255, ``slope_eps``: its 0.03)."""
    h, w = offset.shape
    one = np.float32(1.0)
    for r in range(np.uint64(h)):
        for c in range(np.uint64(w)):
            mr, mg, mb, mp = means[r, c, 0], means[r, c, 1], means[r, c, 2], means[r, c, 3]
            x, y, z = means[r, c, 4] - mr * mp, means[r, c, 5] - mg * mp, means[r, c, 6] - mb * mp
            rr, rg, rb = means[r, c, 7] - mr * mr + eps, means[r, c, 8] - mr * mg, means[r, c, 9] - mr * mb
            gg, gb, bb = means[r, c, 10] - mg * mg + eps, means[r, c, 11] - mg * mb, means[r, c, 12] - mb * mb + eps
            c00, c01, c02 = gg * bb - gb * gb, rb * gb - rg * bb, rg * gb - rb * gg
            c11, c12, c22 = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
            inv_det = one / (rr * c00 + rg * c01 + rb * c02)
            ar = (c00 * x + c01 * y + c02 * z) * inv_det
            ag = (c01 * x + c11 * y + c12 * z) * inv_det
            ab = (c02 * x + c12 * y + c22 * z) * inv_det
            a[r, c, 0], a[r, c, 1], a[r, c, 2] = ar, ag, ab
            offset[r, c] = mp - ar * mr - ag * mg - ab * mb
            if with_shift:
                slope = scale / (means[r, c, 13] - mp * mp + slope_eps)
                shift[r, c, 0], shift[r, c, 1], shift[r, c, 2] = x * slope, y * slope, z * slope



@_KERNELS.compiled("void(uint8[:, :, ::1], float32[:, ::1], int32[::1], int32[::1], float32[::1], float32, "
                   "float32[:, :, ::1], float32[:, ::1])")
def halve_across(small, mask, ydi, ysi, yalpha, scale, guide, mask_out):  # pragma: no cover - compiled
    """``cv2.resize(..., INTER_AREA)`` of the small frame and of the mask to exactly half their
    width and to ``guide``'s rows, as OpenCV's general area shrink (``ResizeArea_Invoker``) sums:
    each source row's pairs of pixels weighted 0.5 each into a float32 row (its table for a width
    halved exactly), those rows weighted by ``yalpha`` into each output row in turn (``ydi``,
    ``ysi``: OpenCV's row table, in its order), float32 throughout. The frame's result is rounded
    as ``saturate_cast<uchar>`` rounds (nearest, ties to even, clamped to 0..255) and multiplied by
    ``scale``; the mask's is written as summed."""
    w = np.uint64(mask_out.shape[1])
    half, zero, one, top = np.float32(0.5), np.float32(0.0), np.float32(1.0), np.float32(255.0)
    acc = np.zeros((mask_out.shape[1], 4), np.float32)
    prev = ydi[0]
    for j in range(np.uint64(ydi.shape[0]) + np.uint64(1)):
        end = j == np.uint64(ydi.shape[0])
        first = False
        if end or ydi[j] != prev:
            g_row, m_row = guide[np.uint64(prev)], mask_out[np.uint64(prev)]
            for d in range(w):
                g_row[d, 0] = min(max(np.rint(acc[d, 0]), zero), top) * scale
                g_row[d, 1] = min(max(np.rint(acc[d, 1]), zero), top) * scale
                g_row[d, 2] = min(max(np.rint(acc[d, 2]), zero), top) * scale
                m_row[d] = acc[d, 3]
            if end:
                break
            prev, first = ydi[j], True
        beta = yalpha[j]
        s_row, p_row = small[np.uint64(ysi[j])], mask[np.uint64(ysi[j])]
        # OpenCV's row buffer starts at 0 and adds each pixel's share; its sum likewise, except
        # that an output row's first source row is taken as it is (``first``).
        keep = zero if first else one
        for d in range(w):
            x = d + d
            for c in range(3):
                b = (zero + np.float32(s_row[x, c]) * half) + np.float32(s_row[x + 1, c]) * half
                acc[d, c] = acc[d, c] * keep + beta * b
            b = (zero + p_row[x] * half) + p_row[x + 1] * half
            acc[d, 3] = acc[d, 3] * keep + beta * b



@_KERNELS.compiled("int64(uint8[:, ::1], int32[:, ::1], int64, int32[:, ::1], intp[::1])")
def band_points(alpha, candidates, scale, points, flat):  # pragma: no cover - compiled
    """``temporal.edge_band`` over ``candidates`` (x, y rows, in row order): the candidates whose
    alpha is 5..250 go to ``points`` in their order, and the flat frame indices of each one's
    ``scale`` x ``scale`` block (row by row) to ``flat``. Returns how many points."""
    w = np.uint64(alpha.shape[1])
    fw = w * np.uint64(scale)
    step = np.uint64(scale)
    n = np.uint64(0)
    at = np.uint64(0)
    for i in range(np.uint64(candidates.shape[0])):
        x, y = candidates[i, 0], candidates[i, 1]
        v = alpha[np.uint64(y), np.uint64(x)]
        if v < 5 or v > 250:
            continue
        points[n, 0], points[n, 1] = x, y
        n += np.uint64(1)
        top = np.uint64(y) * step * fw + np.uint64(x) * step
        for r in range(step):
            row = top + r * fw
            for c in range(step):
                flat[at] = row + c
                at += np.uint64(1)
    return n



@_KERNELS.compiled("void(uint8[:, ::1], int32[::1], int32[::1], float32[::1], int32[::1], int32[::1], float32[::1], "
                   "uint8[:, ::1])")
def area_shrink(src, xdi, xsi, xalpha, ydi, ysi, yalpha, out):  # pragma: no cover - compiled
    """``cv2.resize(src, ..., INTER_AREA)`` of a BGR picture (rows of pixels flattened) by factors
    that are not whole, as OpenCV's general area shrink (``ResizeArea_Invoker``) sums: each source
    row's pixels shared out across (``x*``: area_table across, its entries for one output pixel
    added in their order onto 0) into a float32 row, made once per source row (OpenCV makes it
    again for each output row that reads it: the same numbers), those rows weighted into each
    output row in turn (``y*``: area_table down), float32 throughout, and each result rounded as
    ``saturate_cast<uchar>`` rounds (nearest, ties to even, clamped)."""
    rows, dw = src.shape[0], out.shape[1] // 3
    taps = np.zeros(dw + 1, np.int64)  # where each output pixel's entries start in the x table
    for k in range(xdi.shape[0]):
        taps[xdi[k] + 1] = k + 1
    for d in range(1, dw + 1):  # an output pixel without entries (none has any) starts where the last ended
        taps[d] = max(taps[d], taps[d - 1])
    across = np.empty((rows, out.shape[1]), np.float32)
    zero, top = np.float32(0.0), np.float32(255.0)
    for r in range(np.uint64(rows)):
        s_row, a_row = src[r], across[r]
        for d in range(np.uint64(dw)):
            b0 = b1 = b2 = zero
            for k in range(np.uint64(taps[d]), np.uint64(taps[d + np.uint64(1)])):
                s, alpha = np.uint64(xsi[k]) * np.uint64(3), xalpha[k]
                b0 = b0 + np.float32(s_row[s]) * alpha
                b1 = b1 + np.float32(s_row[s + np.uint64(1)]) * alpha
                b2 = b2 + np.float32(s_row[s + np.uint64(2)]) * alpha
            q = d * np.uint64(3)
            a_row[q], a_row[q + np.uint64(1)], a_row[q + np.uint64(2)] = b0, b1, b2
    width = np.uint64(out.shape[1])
    acc = np.zeros(out.shape[1], np.float32)
    prev = ydi[0]
    for j in range(np.uint64(ydi.shape[0]) + np.uint64(1)):
        end = j == np.uint64(ydi.shape[0])
        if end or ydi[j] != prev:
            o_row = out[np.uint64(prev)]
            for i in range(width):
                o_row[i] = np.uint8(min(max(np.rint(acc[i]), zero), top))
            if end:
                break
        a_row, beta = across[np.uint64(ysi[j])], yalpha[j]
        if ydi[j] != prev:  # OpenCV takes an output row's first source row as it is
            for i in range(width):
                acc[i] = beta * a_row[i]
            prev = ydi[j]
        else:  # and adds the others (the first output row's first too, onto its zeros)
            for i in range(width):
                acc[i] = acc[i] + beta * a_row[i]


@_KERNELS.compiled("void(float32[:, ::1], uint8[:, ::1], int64, int64)")
def times_guide(products, guide, top, left):  # pragma: no cover - compiled
    """``products`` (n rows of m values) times the uint8 ``guide`` (rows of pixels flattened) from
    row ``top`` and value ``left`` on, in place, each product rounded once to float32, as
    ``cv2.multiply(products, guide[...], dtype=CV_32F)`` makes it."""
    m = np.uint64(products.shape[1])
    for r in range(products.shape[0]):
        p_row, g_row = products[r], guide[top + r]
        for i in range(m):
            p_row[i] = p_row[i] * np.float32(g_row[np.uint64(left) + i])


@_KERNELS.inlined
def _pairs(src, out):  # pragma: no cover - compiled
    """One source row enlarged twice across, times 4: (3a + b, a + 3b) between each pair of pixels,
    4x the first and last (the warp's replicated border)."""
    w = np.uint64(src.shape[0])
    out[0] = np.uint16(4) * np.uint16(src[0])
    for j in range(np.uint64(1), w):
        a, b = np.uint16(src[j - np.uint64(1)]), np.uint16(src[j])
        out[np.uint64(2) * j - np.uint64(1)] = np.uint16(3) * a + b
        out[np.uint64(2) * j] = a + np.uint16(3) * b
    out[np.uint64(2) * w - np.uint64(1)] = np.uint16(4) * np.uint16(src[w - np.uint64(1)])


@_KERNELS.compiled("void(uint8[:, ::1], uint8[:, ::1])")
def double_into(src, out):  # pragma: no cover - compiled
    """``out`` (twice ``src``'s rows and columns) = ``src`` enlarged bilinearly with the border
    replicated, as ``temporal.upscale``'s fixed-point warp makes it at exactly 2x: output pixels
    sit a quarter of a source pixel from their nearest source pixels, so every weight is 1, 3 or 9
    sixteenths, and ``(sum + 8) >> 4`` is the warp's ``(sum * 2048 + 2^14) >> 15``. Rows enlarged
    across are kept three at a time (16 bits: at most 4 x 255 each)."""
    h = src.shape[0]
    n = np.uint64(out.shape[1])
    rows = np.empty((3, out.shape[1]), np.uint16)
    _pairs(src[0], rows[0])
    if h > 1:
        _pairs(src[1], rows[1])
    three, eight, four = np.uint32(3), np.uint32(8), np.uint32(4)
    for i in range(h):
        mid = rows[i % 3]
        up = rows[(i - 1) % 3] if i > 0 else mid
        down = rows[(i + 1) % 3] if i + 1 < h else mid
        # One loop per output row, in 32-bit sums: with both rows written in one loop LLVM did not
        # vectorise it (0.37 ms against 0.04 at 720p).
        o = out[2 * i]
        for j in range(n):
            o[j] = np.uint8((np.uint32(up[j]) + three * np.uint32(mid[j]) + eight) >> four)
        o = out[2 * i + 1]
        for j in range(n):
            o[j] = np.uint8((np.uint32(down[j]) + three * np.uint32(mid[j]) + eight) >> four)
        if i + 2 < h:  # into the slot of the row above this one, done with
            _pairs(src[i + 2], rows[(i + 2) % 3])


@_KERNELS.compiled("void(uint8[:, ::1], uint8[:, ::1])")
def halve_into(src, out):  # pragma: no cover - compiled
    """``out`` = the BGR ``src`` (rows of pixels flattened) shrunk to exactly half its rows and
    columns, as ``cv2.resize``'s INTER_AREA makes it at a whole factor of 2: each output value is
    ``(a + b + c + d + 2) >> 2`` of its 2 x 2 block. OpenCV's pass costs twice this one (0.21 against
    0.10 ms for a 720p frame, one thread)."""
    n = np.uint64(out.shape[1]) // np.uint64(3)
    two, three = np.uint16(2), np.uint64(3)
    for y in range(out.shape[0]):
        a, b, o = src[2 * y], src[2 * y + 1], out[y]
        for x in range(n):
            k, j = np.uint64(6) * x, three * x
            for c in range(three):
                o[j + c] = np.uint8((np.uint16(a[k + c]) + np.uint16(a[k + c + three]) + np.uint16(b[k + c])
                                     + np.uint16(b[k + c + three]) + two) >> two)


@_KERNELS.inlined
def _cell_states(a8, b8, margin, state):  # pragma: no cover - compiled
    """state[r, c]: 0 where the cells (r, c) .. (r + 1, c + 1) (clamped at the last row and column)
    each certainly give 0 whatever the frame's colour (b8 + 255 · sum|a8| below -margin), 1 where
    each certainly gives 255 (b8 - 255 · sum|a8| above 255 + margin), else 2. A NaN or infinite
    coefficient is never certain."""
    ch, cw = b8.shape[0], b8.shape[1]
    zero = np.empty((ch, cw), np.bool_)
    full = np.empty((ch, cw), np.bool_)
    for r in range(ch):
        for c in range(cw):
            reach = np.float32(255.0) * (abs(a8[r, 3 * c]) + abs(a8[r, 3 * c + 1]) + abs(a8[r, 3 * c + 2]))
            zero[r, c] = b8[r, c] + reach < -margin
            full[r, c] = b8[r, c] - reach > np.float32(255.0) + margin
    for r in range(ch):
        r1 = min(r + 1, ch - 1)
        for c in range(cw):
            c1 = min(c + 1, cw - 1)
            if zero[r, c] and zero[r, c1] and zero[r1, c] and zero[r1, c1]:
                state[r, c] = 0
            elif full[r, c] and full[r, c1] and full[r1, c] and full[r1, c1]:
                state[r, c] = 1
            else:
                state[r, c] = 2


@_KERNELS.compiled("void(float32[:, ::1], float32[:, ::1], float32[:, ::1], float32[:, ::1], uint8[:, ::1], int64[::1], "
                   "float32[::1], int64[::1], float32, uint8[:, ::1])")
def edge_alpha(a8, b8, across_a, across_b, guide, rows, row_w, starts, margin, out):  # pragma: no cover - compiled
    """The edge fit's alpha at the working size: ``a8 · guide + b8`` rounded and saturated to uint8,
    the coefficients enlarged bilinearly as ``cv2.resize`` enlarges them. ``across_a`` (cell rows
    of w x 3 values) and ``across_b`` (cell rows of w): the coefficient maps already enlarged
    across by ``cv2.resize``; ``rows[y]`` and ``row_w[y]``: the cell row output row y starts from
    and the weight of the one below it, as resize's second pass takes them; ``starts[c]`` the first
    column whose enlargement starts from cell column c. A pixel's alpha is a mix of its four cells'
    affine values for its colour: where each of them certainly gives 0 (or 255) by more than
    ``margin`` levels (``a8`` as cell rows of cw x 3, ``b8``), so does the pixel, and it is filled,
    not worked (a negative ``margin``: every pixel is worked). Worked
    columns: the enlarged ``a8`` times the frame (one float32 rounding each, as ``cv2.multiply``),
    the three products summed in order and ``b8`` added (as ``cv2.transform`` and ``cv2.add``),
    rounded half to even and saturated; NaN gives 0 (OpenCV's saturate_cast). Each run of worked
    cells is two passes over contiguous values."""
    last = across_b.shape[0] - 1
    cells = b8.shape[1]
    state = np.empty((b8.shape[0], cells), np.uint8)
    if margin < 0:
        state[:] = 2
    else:
        _cell_states(a8, b8, margin, state)
    products = np.empty(3 * out.shape[1], np.float32)
    three, one, two = np.uint64(3), np.uint64(1), np.uint64(2)
    for y in range(out.shape[0]):
        r0 = rows[y]
        r1 = min(r0 + 1, last)
        t = row_w[y]
        s = np.float32(1.0) - t
        a0, a1, b0, b1, g, o, kinds = across_a[r0], across_a[r1], across_b[r0], across_b[r1], guide[y], out[y], state[r0]
        c = 0
        while c < cells:
            kind = kinds[c]
            e = c + 1
            while e < cells and kinds[e] == kind:
                e += 1
            x0, x1 = np.uint64(starts[c]), np.uint64(starts[e])
            if kind == 0:
                o[x0:x1] = 0
            elif kind == 1:
                o[x0:x1] = 255
            else:
                for i in range(three * x0, three * x1):
                    products[i] = (a0[i] * s + a1[i] * t) * np.float32(g[i])
                for x in range(x0, x1):
                    p = three * x
                    val = products[p] + products[p + one] + products[p + two] + (b0[x] * s + b1[x] * t)
                    val = val if val > np.float32(0.0) else np.float32(0.0)  # NaN too
                    val = val if val < np.float32(255.0) else np.float32(255.0)
                    o[x] = np.uint8(np.rint(val))
            c = e


@_KERNELS.compiled("boolean(uint8[::1], uint8[::1], intp[::1], float32[:, ::1], uint8[:, ::1])")
def edge_colour_into(image, mask, flat, shift, out):  # pragma: no cover - compiled
    """``temporal.decontaminate`` of the frame's pixels at ``flat`` (flat pixel indices of the BGR
    ``image`` and its ``mask``, as flat bytes), each of ``shift``'s rows serving ``len(flat) //
    len(shift)`` pixels in a row, into ``out`` (one row a pixel): the room's share
    ``float32(255 - m) * float32(1/255)`` times the shift, added to the pixel in float32 as
    ``cv2.add``'s mixed-type step adds, rounded half to even and saturated to 0..255 (NaN: 255, as
    OpenCV gives). False (the rest not written) at the first index outside the mask."""
    n = flat.shape[0]
    block = n // max(1, shift.shape[0])
    inv = np.float32(1.0 / 255.0)
    three = np.uint64(3)
    for k in range(n):
        if flat[k] < 0 or flat[k] >= mask.shape[0]:
            return False
        p = np.uint64(flat[k])
        share = np.float32(np.uint8(255) - mask[p]) * inv
        row = k // block
        for c in range(three):
            r = np.rint(np.float32(image[three * p + c]) + shift[row, c] * share)
            r = r if r < np.float32(255.0) else np.float32(255.0)  # NaN too, as OpenCV's conversion
            out[k, c] = np.uint8(r if r > np.float32(0.0) else np.float32(0.0))
    return True


# Every loop compiled: otherwise (numba missing, broken, or its cache unusable and no compile
# possible) the callers keep to their numpy paths, the same numbers a little slower.
READY: bool = _KERNELS.fallback is None
