"""Compiled loops (numba) for the face swap's per-frame work where OpenCV's per-call cost or
whole-buffer passes dominate, each giving exactly what the OpenCV calls they replace give.

- **The mesh raster** (``MeshWarp.coarse``): ~450 ``cv2.fillConvexPoly`` calls a frame (one per
  triangle, ~1 us of call overhead each) become one loop. ``draw_triangles`` repeats OpenCV's
  rasteriser for triangles wholly on the grid (``on_grid``): each edge an 8-connected line walked
  from its left end (``LineIterator``: after k major steps, round(k minor / major) minor steps,
  ties towards the start), then the spans of the rows but the last between the 16.16 fixed-point
  edges top-bottom and top-middle, middle-bottom (``FillConvexPoly``); later triangles overwrite.
  Off the grid OpenCV clips a line before walking it, which moves its pixels, so such meshes stay
  with the calls. ``apply_table`` then evaluates each cell's affine with the same float32 steps.
- **Relight and grain** (``relight_grain_rows``): ``avatar_light.add_grain(avatar_light.relight(face,
  gain, offset), live)`` in one pass over the face's rows instead of a dozen whole-buffer OpenCV
  passes. The relit value is the float32 product and sum rounded half to even and saturated (as
  ``cv2.add(..., dtype=CV_8U)``); each grain blur is OpenCV's bit-exact 8-bit ``GaussianBlur``
  (integer kernel summing to 256, the sum of x k_i k_j rounded over 65536 half up, borders
  reflected 101); the grain table and the trade are the same saturating steps, folded. The gain
  comes upsampled on one channel and is spread to the colours per row (a three-channel upsampling
  gives each channel those same values): a third of that upsampling and its buffer.
  It makes them over row spans (``row_spans``: a row's alpha > 0 columns and the nose lift's crop,
  and what the blur reads to make them): about a quarter of the swap's part box has alpha 0 and is
  never shown. The whole box is the spans (0, w) on every row; one loop for both, which is also
  faster on the whole box than the loop it replaced was (0.33 against 0.40 ms for 270 x 320).

- **The blend** (``blend_into``): ``compositing.blend`` into the output frame in one pass;
  ``blend_rows`` over the same spans (where alpha is 0 the blend is the frame, which the output holds).
- **The nose lift's blend** (``lift_toward``): ``avatar_pose_shade.lift_nose_base``'s last four calls
  (subtract, merge, multiply, add) on its ~100 px box, where the calls' overhead was most of the cost.
- **The nose lift's share to fill** (``nose_fill``): its ~25 numpy calls at half size (the two
  darknesses, the share, the region's weight, the gate's counts and the box) in one pass.
- **The skin's statistics** (``skin_statistics``): ``avatar_light.SkinModel``'s three medians and
  three median absolute deviations (six ``np.partition`` calls, their gathers and checks) in one
  pass; order statistics, so the same values whatever the selection's order.
- **The 8-bit blur's kernel** (``gaussian_kernel``): ``avatar_light._bit_exact_kernel``'s Python
  loops, which ran on nearly every call (the feathering sigmas follow the face width).

Tried and not kept: the frame's copy and the blend in one loop (numba's row copies were slower
than numpy's), and the gain and offset upsampled inside the relight loop (1.07 -> 1.00 ms, a level or two
off ``cv2.resize``'s rounding). The gain reaches ``relight_grain_rows`` upsampled on one channel and is
spread to the colours per row (a three-channel upsampling gives each channel those same values).
Exact but not faster, so not kept: the nose lift's INTER_AREA shrinks at a fractional scale (OpenCV's
weights and order repeated; a table-driven loop is no faster than OpenCV's), its closing and
8-bit blur on ~30 px images (slower than the calls), the grid's cell means (the frame's box is read
from memory either way). Compiled at import from explicit signatures (kept on
disk where numba can; ``livecam.jit``: where it cannot compile at all, ``READY`` is False and the
callers keep to the OpenCV calls); ``nogil`` lets the live loop's other threads run meanwhile.
"""
from __future__ import annotations

import math

import numpy as np
from livecam.jit import Kernels

_KERNELS = Kernels("the face swap's loops")

_U8_2D = "uint8[:, ::1]"
_F32_2D = "float32[:, ::1]"


@_KERNELS.inlined(inline="always")
def reflect101(p, n):  # pragma: no cover - compiled
    """OpenCV's ``borderInterpolate(p, n, BORDER_REFLECT_101)``."""
    if n == 1:
        return 0
    while p < 0 or p >= n:
        p = -p if p < 0 else 2 * n - 2 - p
    return p


@_KERNELS.inlined(inline="always")
def _kept(x, hi, inv):  # pragma: no cover - compiled
    """``avatar_light._GRAIN_LUT[x + 128] - 128`` without the table (a per-value gather kept the
    loop from vectorising, 8x slower): the table's float32 steps, its division by ``hi - lo`` as a
    product with ``inv`` (the same values while ``hi - lo`` is a power of two; the tests check)."""
    keep = min(max((hi - abs(x)) * inv, np.float32(0.0)), np.float32(1.0))
    return np.rint(x * keep)


@_KERNELS.inlined(inline="always")
def _spread(g1, g3, count):  # pragma: no cover - compiled
    """The gain's one value a pixel spread to its three colours (a third of the upsampling and its buffer)."""
    for x in range(count):
        v = g1[x]
        g3[3 * x] = v
        g3[3 * x + 1] = v
        g3[3 * x + 2] = v


@_KERNELS.inlined(inline="always")
def _relit_and_live(wr, g, o, fr, r, lv, m):  # pragma: no cover - compiled
    """The first ``m`` values of a row: ``wr`` relit (``* g + o``, rounded, saturated) into ``r``, the
    wearer's ``fr`` into ``lv``, both as float32."""
    zero, top = np.float32(0.0), np.float32(255.0)
    for j in range(m):
        r[j] = min(max(np.rint(np.float32(wr[j]) * g[j] + o[j]), zero), top)
        lv[j] = np.float32(fr[j])


@_KERNELS.inlined(inline="always")
def _trade_grain(rm2, rm1, r0, rp1, rp2, lm2, lm1, l0, lp1, lp2, rv, lv, dst, kernel, hi, inv, m):  # pragma: no cover - compiled
    """``dst[:m]``: the relit row ``rv`` with its grain traded for the live row ``lv``'s, from the
    rows' horizontal blurs two above and below (``rm2`` .. ``rp2``, ``lm2`` .. ``lp2``)."""
    k0, k1, k2 = kernel[0], kernel[1], kernel[2]
    zero, top, half, unit = np.float32(0.0), np.float32(255.0), np.float32(0.5), np.float32(1.0 / 65536.0)
    lo_d, hi_d = np.float32(-128.0), np.float32(127.0)
    for j in range(m):
        # OpenCV's rounding of the fixed-point sum: (sum + 2^15) >> 16.
        br = np.floor((k0 * (rm2[j] + rp2[j]) + k1 * (rm1[j] + rp1[j]) + k2 * r0[j]) * unit + half)
        bl = np.floor((k0 * (lm2[j] + lp2[j]) + k1 * (lm1[j] + lp1[j]) + k2 * l0[j]) * unit + half)
        # _grain: the table at image - blurred + 128, saturated; add_grain: face + theirs - own, saturated.
        gr = _kept(min(max(rv[j] - br, lo_d), hi_d), hi, inv)
        gl = _kept(min(max(lv[j] - bl, lo_d), hi_d), hi, inv)
        dst[j] = np.uint8(min(max(rv[j] + gl - gr, zero), top))


@_KERNELS.inlined(inline="always")
def _blur_span(s, d, kernel, a, b):  # pragma: no cover - compiled
    """Pixels ``a`` to ``b`` of a row of pixels of 3 values times the 5-tap ``kernel`` (it reads up
    to two pixels either side, reflected 101 at the row's ends)."""
    w = s.shape[0] // 3
    k0, k1, k2 = kernel[0], kernel[1], kernel[2]
    xa, xb = max(a, 2), min(b, w - 2)
    if xb > xa:
        # Offset slices, not index arithmetic: a negative-looking index (j - 6) keeps numba's
        # wrap-around test in the loop and LLVM from vectorising it (12x slower).
        lo, m = 3 * (xa - 2), 3 * (xb - xa)
        s0, s3, s6, s9, s12 = s[lo:lo + m], s[lo + 3:lo + m + 3], s[lo + 6:lo + m + 6], s[lo + 9:lo + m + 9], \
            s[lo + 12:lo + m + 12]
        dd = d[lo + 6:lo + m + 6]
        for i in range(m):
            dd[i] = k0 * (s0[i] + s12[i]) + k1 * (s3[i] + s9[i]) + k2 * s6[i]
    else:
        xa, xb = b, b  # no inner pixels: every one is an end's
    for x in range(a, xa):
        _blur_end(s, d, k0, k1, k2, x, w)
    for x in range(xb, b):
        _blur_end(s, d, k0, k1, k2, x, w)


@_KERNELS.inlined(inline="always")
def _blur_end(s, d, k0, k1, k2, x, w):  # pragma: no cover - compiled
    """One pixel of :func:`_blur_span`'s row ends, its neighbours reflected 101."""
    p, q = 3 * reflect101(x - 2, w), 3 * reflect101(x - 1, w)
    e, f = 3 * reflect101(x + 2, w), 3 * reflect101(x + 1, w)
    for c in range(3):
        j = 3 * x + c
        d[j] = k0 * (s[p + c] + s[e + c]) + k1 * (s[q + c] + s[f + c]) + k2 * s[j]


@_KERNELS.compiled(f"void({_U8_2D}, {_F32_2D}, int64, {_F32_2D}, int64, int64, {_U8_2D}, int64, int64, float32[::1], "
                    f"float32, float32, int64[:, ::1], {_U8_2D})")
def relight_grain_rows(warped, gain, gc, offset, gy, gx, frame, y0, x0, kernel, hi, inv, spans, out):  # pragma: no cover - compiled
    """``out`` (h, 3w: BGR rows) = the relit ``warped`` (``* gain + offset``, read from row ``gy``,
    pixel ``gx`` on; ``gain`` with ``gc`` values a pixel: 1, the same for the three colours, or 3)
    with its own grain traded for the grain of the wearer's pixels under it,
    ``frame[y0:y0 + h, 3 x0:3 (x0 + w)]`` (all as (rows, 3 columns)). ``kernel``: the 5-tap
    bit-exact Gaussian (integers summing to 256); ``hi``, ``inv``: ``avatar_light.GRAIN_KEEP``'s
    upper end and one over its span.

    Made only where it is needed: row ``y`` of ``out`` over pixels ``spans[y, 0]`` to
    ``spans[y, 1]``, its grain blurs over ``spans[y, 2:4]`` and its relit and live pixels over
    ``spans[y, 4:6]`` (:func:`mesh_warp.row_spans`: each a hull of the one before over the blur's
    reach, two rows and two pixels; (0, w) all six for the whole box). ``warped`` is read within
    ``spans[:, 4:6]`` only; the rest of ``out`` is left as it was. Every value made is the whole
    box's.

    All in float32, exactly: the blur's integer sums stay under 2^24 (255 x 256 x 256), and numba
    would widen int32 arithmetic to int64 (half the vector lanes). Rows are made as the blur's
    five-row window reaches them, into rings of five, so the working rows stay in cache."""
    h, n = warped.shape[0], warped.shape[1]
    relit = np.empty((5, n), np.float32)
    live = np.empty((5, n), np.float32)
    hr = np.empty((5, n), np.float32)
    hl = np.empty((5, n), np.float32)
    g3 = np.empty(n, np.float32)
    made = 0
    for y in range(h):
        while made < min(y + 3, h):
            k = made % 5
            a, b = spans[made, 4], spans[made, 5]
            if b > a:
                # Slices from the span's start, indexed from 0: an index numba cannot prove is not
                # negative keeps its wrap-around test in the loop and the loop from vectorising.
                m = 3 * (b - a)
                o = offset[gy + made, 3 * (gx + a):3 * (gx + b)]
                if gc == 1:
                    _spread(gain[gy + made, gx + a:gx + b], g3, b - a)
                    g = g3[:m]
                else:
                    g = gain[gy + made, 3 * (gx + a):3 * (gx + b)]
                _relit_and_live(warped[made, 3 * a:3 * b], g, o, frame[y0 + made, 3 * (x0 + a):3 * (x0 + b)],
                                relit[k, 3 * a:3 * b], live[k, 3 * a:3 * b], m)
                _blur_span(relit[k], hr[k], kernel, spans[made, 2], spans[made, 3])
                _blur_span(live[k], hl[k], kernel, spans[made, 2], spans[made, 3])
            made += 1
        a, b = spans[y, 0], spans[y, 1]
        if b <= a:
            continue
        ym2, ym1 = reflect101(y - 2, h) % 5, reflect101(y - 1, h) % 5
        yp1, yp2 = reflect101(y + 1, h) % 5, reflect101(y + 2, h) % 5
        c0, c1 = 3 * a, 3 * b
        _trade_grain(hr[ym2, c0:c1], hr[ym1, c0:c1], hr[y % 5, c0:c1], hr[yp1, c0:c1], hr[yp2, c0:c1],
                     hl[ym2, c0:c1], hl[ym1, c0:c1], hl[y % 5, c0:c1], hl[yp1, c0:c1], hl[yp2, c0:c1],
                     relit[y % 5, c0:c1], live[y % 5, c0:c1], out[y, c0:c1], kernel, hi, inv, c1 - c0)


@_KERNELS.compiled("void(uint8[:, :], int64, int64, int64, int64, int64[:, ::1])")
def row_spans(alpha, x0, y0, x1, y1, spans):  # pragma: no cover - compiled
    """``mesh_warp.row_spans`` into ``spans`` (h, 6): one pass over ``alpha`` instead of a dozen
    numpy calls (a quarter of a millisecond)."""
    h, w = alpha.shape
    for y in range(h):
        row = alpha[y]
        a, b = w, 0
        for x in range(w):
            if row[x] > 0:
                a = x
                break
        for x in range(w - 1, a - 1, -1):
            if row[x] > 0:
                b = x + 1
                break
        if x1 > x0 and y0 <= y < y1:
            a, b = min(a, max(x0, 0)), max(b, min(x1, w))
        spans[y, 0], spans[y, 1] = a, b
    for y in range(h):
        a, b = w, 0
        for k in range(max(y - 2, 0), min(y + 3, h)):
            a, b = min(a, spans[k, 0]), max(b, spans[k, 1])
        spans[y, 2], spans[y, 3] = a, b
        if b > a:
            spans[y, 4], spans[y, 5] = max(a - 2, 0), min(b + 2, w)
        else:
            spans[y, 4], spans[y, 5] = w, 0


@_KERNELS.compiled(f"void({_U8_2D}, {_U8_2D}, uint8[:, :], int64[:, ::1], int64, int64, {_U8_2D})")
def blend_rows(face, frame, alpha, spans, y0, x0, out):  # pragma: no cover - compiled
    """:func:`blend_into` over pixels ``spans[y, 0]`` to ``spans[y, 1]`` of each row only: elsewhere
    ``alpha`` is 0, where the blend gives the frame's pixel, which ``out`` (its copy) holds."""
    h, n = face.shape[0], face.shape[1]
    a3 = np.empty(n, np.float32)
    inv, half, top = np.float32(1.0 / 255.0), np.float32(0.5), np.float32(255.0)
    for y in range(h):
        a, b = spans[y, 0], spans[y, 1]
        if b <= a:
            continue
        al = alpha[y, a:b]
        for x in range(b - a):
            v = np.float32(al[x])
            a3[3 * x] = v
            a3[3 * x + 1] = v
            a3[3 * x + 2] = v
        c0, c1 = 3 * a, 3 * b
        f, bk, d = face[y, c0:c1], frame[y0 + y, 3 * x0 + c0:3 * x0 + c1], out[y0 + y, 3 * x0 + c0:3 * x0 + c1]
        for j in range(c1 - c0):
            v = a3[j]
            v = np.floor(np.float32(f[j]) * v * inv + half) + np.floor(np.float32(bk[j]) * (top - v) * inv + half)
            d[j] = np.uint8(min(v, top))


@_KERNELS.compiled(f"void({_U8_2D}, {_U8_2D}, uint8[:, :], int64, int64, {_U8_2D})")
def blend_into(face, frame, alpha, y0, x0, out):  # pragma: no cover - compiled
    """``out[y0:y0 + h, x0:x0 + w] = face * a + frame[...] * (255 - a)`` over 255, each product
    rounded, the sum saturated (``compositing.blend``; the images as (rows, 3 columns), ``alpha``
    one value a pixel). Neither product is ever within 1/510 of a half, so float32 rounds them as
    OpenCV's float path does. One pass instead of five (a third cheaper)."""
    h, n = face.shape[0], face.shape[1]
    w = n // 3
    a3 = np.empty(n, np.float32)
    inv, half, top = np.float32(1.0 / 255.0), np.float32(0.5), np.float32(255.0)
    for y in range(h):
        al = alpha[y]
        for x in range(w):
            v = np.float32(al[x])
            a3[3 * x] = v
            a3[3 * x + 1] = v
            a3[3 * x + 2] = v
        f, b, d = face[y], frame[y0 + y, 3 * x0:3 * x0 + n], out[y0 + y, 3 * x0:3 * x0 + n]
        for j in range(n):
            a = a3[j]
            v = np.floor(np.float32(f[j]) * a * inv + half) + np.floor(np.float32(b[j]) * (top - a) * inv + half)
            d[j] = np.uint8(min(v, top))


@_KERNELS.compiled(f"void({_U8_2D}, int64, int64, {_U8_2D}, {_F32_2D}, int64, int64, int64, int64)")
def lift_toward(face, fy, fx, skin, fill, y0, x0, h, w):  # pragma: no cover - compiled
    """``part += (skin - part) * fill`` in place, ``part`` the box ``h`` x ``w`` at ``fy``, ``fx`` of
    ``face`` and ``skin``, ``fill`` read at ``y0``, ``x0`` (the images as (rows, 3 columns)), as
    ``avatar_pose_shade.lift_nose_base``'s four calls (``cv2.subtract`` to float32, ``cv2.merge``,
    ``cv2.multiply``, ``cv2.add`` to uint8): the difference is exact in float32, the product and sum
    are float32 operations in the same order, the result rounded half to even and saturated
    (``saturate_cast<uchar>``). The box is ~100 px: the calls' overhead is what this saves."""
    n = 3 * w
    f3 = np.empty(n, np.float32)
    top, zero = np.float32(255.0), np.float32(0.0)
    for y in range(h):
        fr = fill[y0 + y]
        for x in range(w):
            v = fr[x0 + x]
            f3[3 * x] = v
            f3[3 * x + 1] = v
            f3[3 * x + 2] = v
        d, s = face[fy + y, 3 * fx:3 * fx + n], skin[y0 + y, 3 * x0:3 * x0 + n]
        for j in range(n):
            p = np.float32(d[j])
            v = np.rint(p + (np.float32(s[j]) - p) * f3[j])
            d[j] = np.uint8(min(max(v, zero), top))


@_KERNELS.inlined
def _line(ids, ax, ay, bx, by, label):  # pragma: no cover - compiled
    """OpenCV's 8-connected line (``LineIterator``, walked from its left end) of ``label``."""
    if bx < ax:
        ax, ay, bx, by = bx, by, ax, ay
    dx, dy = bx - ax, by - ay
    sy = -1 if dy < 0 else 1
    ady = dy * sy
    major, minor = max(ady, dx), min(ady, dx)
    # After k major steps the minor steps are round(k minor / major), ties towards the start.
    for k in range(major + 1):
        m = (2 * minor * k + max(major - 1, 0)) // max(2 * major, 1)
        if ady > dx:
            ids[ay + sy * k, ax + m] = label
        else:
            ids[ay + sy * m, ax + k] = label


@_KERNELS.inlined(inline="always")
def _edge_step(dx, h):  # pragma: no cover - compiled
    """An edge's 16.16 step a row: ``(dx 2^17 + h) / 2h``, truncated towards 0 as in C."""
    num = dx * (1 << 17) + h
    den = max(2 * h, 1)
    q = abs(num) // den
    return -q if num < 0 else q


@_KERNELS.inlined
def _triangle(ids, p, label):  # pragma: no cover - compiled
    """``cv2.fillConvexPoly(ids, p, label)`` for a triangle ``p`` (3, 2) wholly on ``ids`` (integer
    corners, shift 0, 8-connected): its outline, then the spans of its rows but the last between
    the 16.16 fixed-point edges top-bottom and top-middle, middle-bottom."""
    for i in range(3):
        j = (i + 1) % 3
        _line(ids, np.int64(p[i, 0]), np.int64(p[i, 1]), np.int64(p[j, 0]), np.int64(p[j, 1]), label)
    x0, y0, x1, y1, x2, y2 = p[0, 0], p[0, 1], p[1, 0], p[1, 1], p[2, 0], p[2, 1]
    if y1 < y0:
        x0, y0, x1, y1 = x1, y1, x0, y0
    if y2 < y1:
        x1, y1, x2, y2 = x2, y2, x1, y1
    if y1 < y0:
        x0, y0, x1, y1 = x1, y1, x0, y0
    one = np.int64(1 << 16)
    h0, h1, h2 = y2 - y0, y1 - y0, y2 - y1
    s0 = _edge_step(x2 - x0, h0)
    s1 = _edge_step(x1 - x0, h1)
    s2 = _edge_step(x2 - x1, h2)
    f0 = x0 * one + one // 2
    f1 = f0
    f2 = x1 * one + one // 2
    for r in range(h0):
        xl = f0 + r * s0
        xs = f1 + r * s1 if r < h1 else f2 + (r - h1) * s2
        a, b = min(xl, xs) >> 16, max(xl, xs) >> 16
        row = ids[y0 + r]
        for x in range(a, b + 1):
            row[x] = label


@_KERNELS.compiled("boolean(int32[:, :, ::1], int64, int64)")
def on_grid(corners, rows, cols):  # pragma: no cover - compiled
    """Whether every corner lies on a rows x cols grid (off it, OpenCV clips its lines first,
    which moves their pixels: those meshes stay with the calls)."""
    for t in range(corners.shape[0]):
        for i in range(3):
            x, y = corners[t, i, 0], corners[t, i, 1]
            if x < 0 or y < 0 or x >= cols or y >= rows:
                return False
    return True


@_KERNELS.compiled("void(int32[:, :, ::1], int32[::1], int32[:, ::1])")
def draw_triangles(corners, labels, ids):  # pragma: no cover - compiled
    """One ``cv2.fillConvexPoly(ids, corners[i], labels[i])`` after another, for meshes wholly on
    ``ids`` (``on_grid``): ~450 triangles in a few microseconds instead of ~450 calls."""
    for t in range(corners.shape[0]):
        _triangle(ids, corners[t], labels[t])


@_KERNELS.compiled("void(int32[:, ::1], float32[:, ::1], float32[::1], float32[::1], float32[:, :, ::1])")
def apply_table(ids, table, xs, ys, out):  # pragma: no cover - compiled
    """``out[i, j] = clip(A x + b)`` with cell (i, j)'s affine from ``table[ids[i, j]]`` (six affine
    terms, then the clip box's x0, y0, x1, y1), at (``xs[j]``, ``ys[i]``): ``MeshWarp.coarse``'s
    gather and float32 arithmetic, in the same order."""
    rows, cols = ids.shape[0], ids.shape[1]
    for i in range(rows):
        y = ys[i]
        for j in range(cols):
            t = table[ids[i, j]]
            x = xs[j]
            mx = t[0] * x + t[2] * y + t[4]
            my = t[1] * x + t[3] * y + t[5]
            out[i, j, 0] = min(max(mx, t[6]), t[8])
            out[i, j, 1] = min(max(my, t[7]), t[9])


@_KERNELS.compiled(f"float32({_U8_2D}, {_U8_2D}, {_U8_2D}, {_U8_2D}, {_U8_2D}, float32, float32, float32, {_F32_2D}, "
                    "int64[::1])")
def nose_fill(mine, mine_skin, theirs, theirs_skin, region, slack, strong, least, fill, stats):  # pragma: no cover
    """``avatar_pose_shade.lift_nose_base``'s share to fill at half size from its greys there (the
    face's and the wearer's, each with its skin's): the two darknesses (the grey over its skin's at
    least 1, at most 1), the share that brings the face to within ``slack`` of the wearer's
    (clipped to 0..1, over 1 - the face's darkness at least 0.001), times the region's weight
    (``region`` / 255), all in float32 in numpy's order, into ``fill``. ``stats``: the pixels weighted
    over 0.5, those of them filled by more than ``strong``, and the first and last row and column
    filled by more than ``least``. Returns the largest share. One pass instead of ~25 numpy calls."""
    one, zero, eps, inv = np.float32(1.0), np.float32(0.0), np.float32(1e-3), np.float32(1.0 / 255.0)
    top, inside, strong_n = np.float32(-np.inf), 0, 0
    r0, r1, c0, c1 = fill.shape[0], -1, fill.shape[1], -1
    for y in range(fill.shape[0]):
        fr, a, b, c, d, g = fill[y], mine[y], mine_skin[y], theirs[y], theirs_skin[y], region[y]
        for x in range(fill.shape[1]):  # no branches: this loop vectorises
            m = min(np.float32(a[x]) / max(np.float32(b[x]), one), one)
            t = min(np.float32(c[x]) / max(np.float32(d[x]), one), one)
            f = min(max((t - slack - m) / max(one - m, eps), zero), one)
            fr[x] = f * (np.float32(g[x]) * inv)
        for x in range(fill.shape[1]):
            f = fr[x]
            top = max(top, f)
            if np.float32(g[x]) * inv > np.float32(0.5):
                inside += 1
                if f > strong:
                    strong_n += 1
            if f > least:
                r0, r1, c0, c1 = min(r0, y), max(r1, y), min(c0, x), max(c1, x)
    stats[0], stats[1], stats[2], stats[3], stats[4], stats[5] = inside, strong_n, r0, r1, c0, c1
    return top


@_KERNELS.inlined
def _kth(v, k):  # pragma: no cover - compiled
    """The ``k``-th smallest of ``v`` (0-based), ``v`` reordered so that nothing before ``k`` is larger
    (quickselect, median-of-three pivots). An order statistic: the value np.partition gives."""
    lo, hi = 0, v.size - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        a, b, c = v[lo], v[mid], v[hi]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
        if a > b:
            b = a
        i, j = lo, hi
        while i <= j:
            while v[i] < b:
                i += 1
            while v[j] > b:
                j -= 1
            if i <= j:
                v[i], v[j] = v[j], v[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return v[k]


@_KERNELS.inlined
def _median(v):  # pragma: no cover - compiled
    """``avatar_light._median`` of float32 ``v`` (reordered): the middle value, or the float32 mean of
    the two middle ones (np.mean's float32 sum over 2)."""
    k = v.size // 2
    upper = _kth(v, k)
    if v.size % 2:
        return upper
    lower = v[0]
    for i in range(1, k):  # the largest of those below k: the (k-1)-th smallest
        lower = max(lower, v[i])
    return (lower + upper) / np.float32(2.0)


@_KERNELS.compiled("int64(float32[:, :, ::1], uint8[:, ::1], int64, float32[::1], float32[::1])")
def skin_statistics(lab, where, least, median, spread):  # pragma: no cover - compiled
    """``avatar_light.SkinModel``'s statistics: per channel of ``lab`` the median and the median
    absolute deviation (unscaled) over the cells ``where`` is set, over every cell where fewer than
    ``least`` are. Returns the number of cells used (0: nothing written; -1: a NaN met, numpy's
    path is the one that knows what to make of it). Six ``np.partition`` calls
    and their gathers and checks in one pass (~110 -> ~30 us on the swap's ~60 x 60 cells)."""
    h, w = where.shape
    n = 0
    for y in range(h):
        for x in range(w):
            n += where[y, x] != 0
    every = n < least
    if every:
        n = h * w
    if n == 0:
        return 0
    buf = np.empty(n, np.float32)
    for c in range(3):
        i = 0
        for y in range(h):
            for x in range(w):
                if every or where[y, x] != 0:
                    v = lab[y, x, c]
                    if v != v:  # NaN: the selection's comparisons would run off the ends
                        return -1
                    buf[i] = v
                    i += 1
        m = _median(buf)
        for i in range(n):
            buf[i] = abs(buf[i] - m)
        median[c], spread[c] = m, _median(buf)
    return n


@_KERNELS.compiled("void(float64, float32[::1])")
def gaussian_kernel(sigma, kernel):  # pragma: no cover - compiled
    """``avatar_light._bit_exact_kernel(kernel.size, sigma)`` into ``kernel``: the same double steps
    in the same order (libm's exp, left-to-right sums, half-to-even rounding). Its Python loops took
    ~15 us a call, and the swap's feathering sigmas follow the face width, so a cache never hits."""
    size = kernel.size
    half = (size - 1) // 2
    scale = -0.125 / (sigma * sigma)
    total = 0.0
    for i in range(half):
        x = float(1 - size + 2 * i)
        total += math.exp(x * x * scale)
    norm = 1.0 / (2.0 * total + 1.0)
    err, fixed_total = 0.0, 0
    for i in range(half):
        x = float(1 - size + 2 * i)
        value = math.exp(x * x * scale) * norm * 256.0 + err
        fixed = np.rint(value)
        err = value - fixed
        kernel[i] = kernel[size - 1 - i] = fixed
        fixed_total += int(fixed)
    kernel[half] = 256 - 2 * fixed_total


READY: bool = _KERNELS.fallback is None
"""Whether every loop compiled: where not (``livecam.jit``), the callers take the OpenCV calls these replace."""
