"""Compiled loops (numba) for per-frame passes of the key light, the touch-up, eye contact, low light
and the badge, each giving exactly what the OpenCV and numpy calls they replace give
(``tests/test_effect_kernels.py`` checks every input value where the inputs are 8-bit, random and
recorded frames elsewhere), but the key light's float loops on its coarse grids, whose ``expf`` and
``powf`` are LLVM's: an ulp or two from numpy's, which puts a rare output value one level off (5 in
10^7 on two test clips), and its lit box (below).

- **The room's dimming** (``scale_into``): ``cv2.multiply(image, gain, scale=1/255)`` for 8-bit
  arrays, in one pass at about 0.4 of its time. OpenCV's float product rounded half to even is
  round(a b / 255), and a b / 255 is never a half (255 is odd), so it is the integer
  (a b + 127) // 255, which vectorises in 16-bit lanes.
- **The lit box** (``lit_into``): ``key_light.lit`` on its gain grid enlarged as ``cv2.resize``
  enlarges it, in one pass written straight into the output frame: no enlarged gain and no float
  planes (a resize, two passes and ``cv2.magnitude`` between them before: 0.40 -> 0.26 ms in the
  "all" pipeline at 720p). Not OpenCV's to the bit in two steps: the root is ``sqrt`` (correctly
  rounded; ``cv2.magnitude`` is an ulp off it in a third of the values) and the enlarged gain an
  ulp or so from ``cv2.resize``'s in half of them; an output value moves a level only where the
  rise or dimming lies within about 10^-5 of a half (5.6 in 10^7 values on the bench clip). Every
  other step is IEEE float32 arithmetic in the calls' order (no fused multiply-adds), and the
  8-bit conversions round half to even and saturate, as ``convertScaleAbs``, ``cv2.add`` and
  ``cv2.subtract`` do.
- **The skin's smoothing** (``unit_and_square``, ``guided_coefficients``, ``guided_to_u8``): the
  per-pixel steps of the touch-up's self-guided filter between OpenCV's box filters (which stay
  OpenCV's), and its rounding to 8 bits, in three passes instead of a dozen calls and temporaries.
- **The skin's blend** (``mix_into``): the touch-up's ``smooth a / 255 + roi (255 - a) / 255``
  (two scaled multiplies and a saturating add over the face's box) in one pass into the frame.
- **The room's gain** (``room_gain_into``): ``key_light``'s Gaussian keep-out around each face, on
  a coarse grid, in one pass instead of about twenty numpy calls a face, and with each face's
  Gaussian split into a row and a column factor (h + w exponentials instead of h w): 33 -> 10 us
  a call on the 720p room's 45 x 80 grid. An ulp or two from the numpy steps (``expf`` of a sum
  against a product of two), far below the 1/255 step the gain ends in.
- **The face's gain grid** (``face_gain``): the key light's evening, key and outline on its coarse
  grid, in one pass (float32 in the numpy steps' order; ``powf`` an ulp apart now and then).
- **The grid's encoding and reach** (``encode_reach``): the key light's gain to 8-bit encoding and
  the rows and columns it lights, in one pass.
- **The face box's first shrink** (``quarter_area``): the key light's exact-quarter ``INTER_AREA``
  resize of the box's gray, to the byte.
- **Low light's tone table** (``pairs_into``): ``cv2.LUT(image, lut)`` for one table on every
  channel, two bytes a lookup through a 65536-entry table of pairs (:func:`pair_table`; 128 KB,
  kept in the L2 cache), read and written four bytes at a time: half the lookups, 0.78 -> 0.38 ms
  on a 720p frame (one thread). The same bytes: each half of a pair is the table's value for that byte.
- **The badge's label** (``label_into``): its float32 blend over the corner, in one pass.
- **Eye contact's patch** (``eroded_inside``, ``eye_colours``): the eye's inner opening (threshold,
  3 x 3 erosion and count) and the iris's and white's mean colours with the iris's mask, two
  loops where each eye took fifteen small OpenCV calls.

Compiled at import from explicit signatures (kept on disk where numba can; ``livecam.jit``: where
it cannot compile at all, ``READY`` is False and the callers keep to the calls these replace);
``nogil`` lets the live loop's other threads run meanwhile. Unsigned loop indices: with signed
ones numba checks each index for wrap-around and LLVM does not vectorise the loop.
"""
from __future__ import annotations

import numpy as np
from livecam.jit import Kernels

_KERNELS = Kernels("the key light's, touch-up's, eye contact's, low light's and badge's loops")

_U8_1D = "uint8[::1]"
_U8_2D = "uint8[:, ::1]"
_U8_3D = "uint8[:, :, ::1]"
_F32_2D = "float32[:, ::1]"
_F32_3D = "float32[:, :, ::1]"


@_KERNELS.inlined(inline="always")
def _over255(v):  # pragma: no cover - compiled
    """round(v / 255) for the products of two 8-bit values (no halves: 255 is odd)."""
    return (v + np.uint32(127)) // np.uint32(255)


@_KERNELS.compiled(f"void({_U8_1D}, {_U8_1D}, {_U8_1D})")
def scale_into(values, gain, out):  # pragma: no cover - compiled
    """``out = cv2.multiply(values, gain, scale=1/255)`` for flat 8-bit arrays of one size."""
    for i in range(np.uint64(values.shape[0])):
        out[i] = np.uint8(_over255(np.uint32(values[i]) * np.uint32(gain[i])))


@_KERNELS.inlined(inline="always")
def _to_u8(v):  # pragma: no cover - compiled
    """``convertScaleAbs`` of a value >= 0: rounded half to even, saturated."""
    v = np.rint(v)
    return np.int32(v if v < np.float32(255.0) else np.float32(255.0))


@_KERNELS.inlined(inline="always")
def _shifted(v, rise, fall):  # pragma: no cover - compiled
    """``cv2.subtract(cv2.add(v, rise), fall)`` on 8 bits: each step saturates."""
    s = np.int32(v) + rise
    s = (s if s < np.int32(255) else np.int32(255)) - fall
    return np.uint8(s if s > np.int32(0) else np.int32(0))


@_KERNELS.inlined
def _linear_taps(first, n, size, span):  # pragma: no cover - compiled
    """``cv2.resize``'s INTER_LINEAR taps for destination places ``first`` .. ``first + n - 1`` of
    ``span`` enlarged from ``size`` source places: (left source, right source, their weights), as
    OpenCV places them (float32 position, clamped at both ends)."""
    scale = 1.0 / (span / size)
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    w0 = np.empty(n, np.float32)
    w1 = np.empty(n, np.float32)
    for i in range(n):
        f = np.float32((first + i + 0.5) * scale - 0.5)
        s = np.int64(np.floor(f))
        f = f - np.float32(s)
        if s < 0:
            s, f = 0, np.float32(0.0)
        if s >= size - 1:
            s, f = size - 1, np.float32(0.0)
        lo[i], hi[i] = s, min(s + 1, size - 1)
        w0[i], w1[i] = np.float32(1.0) - f, f
    return lo, hi, w0, w1


# error_model="numpy": a float division by zero gives inf instead of raising, so the loop has no
# test and vectorises; the root is >= 0.001 here anyway.
@_KERNELS.compiled(f"void({_U8_2D}, {_U8_2D}, uint64, uint64, uint64, uint64, {_U8_2D}, uint64, uint64, {_F32_2D}, "
                    "int64, int64, int64, int64, float32)", error_model="numpy")
def lit_into(image, out, y0, x0, h, w, luma, ly, lx, grid, span_h, span_w, gy, gx, top):  # pragma: no cover - compiled
    """``key_light.lit`` in one pass, written into ``out``'s box of h x w at (y0, x0) (``image`` and
    ``out``: BGR rows as (H, 3 W); the box's luma at (ly, lx) in ``luma``), its gain ``grid``
    enlarged bilinearly over a span of ``span_h`` x ``span_w`` pixels, of which the box is the part
    from (gy, gx) on (as ``cv2.resize`` INTER_LINEAR places it; across first, then down, as it
    does, but without the enlarged gain, of which the loop needs one row at a time): the change
    ``delta = Y (gain - 1)``, its rise ``up = max(delta, 0)`` softened to ``up room /
    hypot(up, room)`` against the headroom ``room = max(top - max(B, G, R), 0.001)``, and the
    dimming ``-min(delta, 0)``, each rounded to 8 bits, added to and taken from the box's pixels
    with saturation. Float32 in ``lit``'s order (no fused multiply-adds). Two steps are not
    OpenCV's to the bit: the root is ``sqrt`` correctly rounded where ``lit`` has ``cv2.magnitude``
    (an ulp apart in a third of the values), and the gain an ulp from ``cv2.resize``'s in half of
    them; either moves a rise or a dimming to the next level only when it lies within about
    10^-5 of a half."""
    gh, gw = grid.shape
    c_lo, c_hi, c_w0, c_w1 = _linear_taps(gx, w, gw, span_w)
    r_lo, r_hi, r_w0, r_w1 = _linear_taps(gy, h, gh, span_h)
    across = np.empty((gh, w), np.float32)  # each grid row enlarged across the box's columns
    for g in range(gh):
        row = grid[g]
        for c in range(w):
            across[g, c] = row[c_lo[c]] * c_w0[c] + row[c_hi[c]] * c_w1[c]
    one, floor, zero = np.float32(1.0), np.float32(1e-3), np.float32(0.0)
    u1, u2, three = np.uint64(1), np.uint64(2), np.uint64(3)
    # Each row in three loops: the pixels' brightest channel (strided), then the float steps over
    # contiguous rows (they vectorise: 0.14 -> 0.105 ms on a 320 x 290 box against one loop), then
    # the change onto the three channels.
    brightest = np.empty(w, np.float32)
    rise = np.empty(w, np.int32)
    fall = np.empty(w, np.int32)
    for r in range(h):
        src, dst, lrow = image[y0 + r], out[y0 + r], luma[ly + r]
        upper, lower, b0, b1 = across[r_lo[r]], across[r_hi[r]], r_w0[r], r_w1[r]
        for c in range(w):
            j = three * (x0 + c)
            b, g, rr = src[j], src[j + u1], src[j + u2]
            m = b if b > g else g
            brightest[c] = np.float32(m if m > rr else rr)
        for c in range(w):
            room = top - brightest[c]
            room = room if room > floor else floor
            d = np.float32(lrow[lx + c]) * ((upper[c] * b0 + lower[c] * b1) - one)
            up = d if d > zero else zero
            rise[c] = _to_u8((up * room) / np.sqrt(up * up + room * room))
            fall[c] = _to_u8(-d if d < zero else zero)
        for c in range(w):
            j = three * (x0 + c)
            lift, dim = rise[c], fall[c]
            dst[j] = _shifted(src[j], lift, dim)
            dst[j + u1] = _shifted(src[j + u1], lift, dim)
            dst[j + u2] = _shifted(src[j + u2], lift, dim)


@_KERNELS.compiled(f"void({_U8_2D}, {_U8_2D}, {_U8_2D}, uint64, uint64)")
def mix_into(smooth, alpha, out, y0, x0):  # pragma: no cover - compiled
    """``roi = cv2.add(cv2.multiply(smooth, a, scale=1/255), cv2.multiply(roi, 255 - a, scale=1/255))``
    with ``roi`` the box of ``alpha``'s shape at (y0, x0) in ``out`` and ``a`` the 8-bit ``alpha``
    on all three channels (``smooth`` and ``out``: BGR rows as (h, 3 w) and (H, 3 W))."""
    h, w = alpha.shape
    one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
    full = np.uint32(255)
    for r in range(np.uint64(h)):
        s_row, a_row, o_row = smooth[r], alpha[r], out[y0 + r]
        for c in range(np.uint64(w)):
            a = np.uint32(a_row[c])
            keep = full - a
            i, j = three * c, three * (x0 + c)
            for k in (np.uint64(0), one, two):
                v = _over255(np.uint32(s_row[i + k]) * a) + _over255(np.uint32(o_row[j + k]) * keep)
                o_row[j + k] = np.uint8(v if v < full else full)


@_KERNELS.compiled(f"void({_U8_3D}, {_F32_3D}, {_F32_3D})")
def unit_and_square(small, x, xx):  # pragma: no cover - compiled
    """``x = small / 255`` (as ``small.astype(float32) * float32(1 / 255)``) and ``xx = x * x``:
    the touch-up's self-guided filter's inputs, in one pass."""
    s, xf, xxf = small.reshape(-1), x.reshape(-1), xx.reshape(-1)
    scale = np.float32(1.0 / 255.0)
    for i in range(np.uint64(s.shape[0])):
        v = np.float32(s[i]) * scale
        xf[i] = v
        xxf[i] = v * v


@_KERNELS.compiled(f"void({_F32_3D}, {_F32_3D}, float32, {_F32_3D}, {_F32_3D})", error_model="numpy")
def guided_coefficients(mean, mean_sq, eps, a, b):  # pragma: no cover - compiled
    """The guided filter's per-pixel line, from the box means of x and x^2: ``var = mean_sq -
    mean^2``, ``a = var / (var + eps)``, ``b = mean - a mean`` (float32, in OpenCV's order)."""
    m, m2, af, bf = mean.reshape(-1), mean_sq.reshape(-1), a.reshape(-1), b.reshape(-1)
    for i in range(np.uint64(m.shape[0])):
        mi = m[i]
        var = m2[i] - mi * mi
        ai = var / (var + eps)
        af[i] = ai
        bf[i] = mi - ai * mi


@_KERNELS.compiled(f"void({_F32_3D}, {_F32_3D}, {_F32_3D}, {_F32_3D}, boolean, {_U8_3D})")
def guided_to_u8(mean_a, mean_b, x, tone, toned, out):  # pragma: no cover - compiled
    """``np.clip((mean_a x + mean_b) * 255 [+ tone] + 0.5, 0, 255).astype(uint8)``: the filtered
    skin (``tone`` added when ``toned``) in 8 bits, float32 steps in that order."""
    ma, mb, xf, tf, of = mean_a.reshape(-1), mean_b.reshape(-1), x.reshape(-1), tone.reshape(-1), out.reshape(-1)
    full, half, zero = np.float32(255.0), np.float32(0.5), np.float32(0.0)
    for i in range(np.uint64(ma.shape[0])):
        v = (ma[i] * xf[i] + mb[i]) * full
        if toned:
            v = v + tf[i]
        v = v + half
        v = v if v > zero else zero
        of[i] = np.uint8(v if v < full else full)


@_KERNELS.compiled(f"void({_F32_3D}, {_F32_2D}, {_U8_2D}, uint64, uint64)")
def label_into(colour, alpha, out, y0, x0):  # pragma: no cover - compiled
    """The badge's label over ``out``'s box of ``alpha``'s shape at (y0, x0) (BGR rows as
    (H, 3 W)): ``np.clip(colour a + under (1 - a), 0, 255).astype(uint8)`` in float32, in that
    order, truncated."""
    h, w = alpha.shape
    one, full, zero = np.float32(1.0), np.float32(255.0), np.float32(0.0)
    three = np.uint64(3)
    for r in range(np.uint64(h)):
        c_row, a_row, o_row = colour[r], alpha[r], out[y0 + r]
        for c in range(np.uint64(w)):
            a = a_row[c]
            keep = one - a
            j = three * (x0 + c)
            for k in range(three):
                v = c_row[c, k] * a + np.float32(o_row[j + k]) * keep
                v = v if v > zero else zero
                o_row[j + k] = np.uint8(v if v < full else full)


@_KERNELS.compiled(f"void(float32, float32, float32, float32, float32, float64[:, ::1], float32, {_F32_2D})",
                    error_model="numpy")
def room_gain_into(ox, dx, oy, dy, shift, lights, far, out):  # pragma: no cover - compiled
    """``key_light.KeyLight._room_gain`` on a grid: cell (r, c) is the frame point
    ((c + 0.5) dx + ox - shift, (r + 0.5) dy + oy - shift); ``lights`` rows are (centre x, centre
    y, reach, opacity) of each face; ``far``: 1 less the encoded gain far from every face. Each
    face's Gaussian is a product of a column and a row factor (exp(a + b) = exp(a) exp(b)), so a
    grid of h x w cells takes h + w exponentials a face instead of h w."""
    h, w = out.shape
    n = lights.shape[0]
    zero, half, one = np.float32(0.0), np.float32(0.5), np.float32(1.0)
    across = np.empty((n, w), np.float32)
    down = np.empty((n, h), np.float32)
    for k in range(n):
        cx, cy = np.float32(lights[k, 0]), np.float32(lights[k, 1])
        spread = np.float32(2.0 * lights[k, 2] * lights[k, 2])
        opacity = np.float32(lights[k, 3])
        for c in range(w):
            e = (np.float32(c) + half) * dx + ox - shift - cx
            across[k, c] = np.exp(-(e * e) / spread)
        for r in range(h):
            e = (np.float32(r) + half) * dy + oy - shift - cy
            if e > zero:
                e = e / np.float32(2.0)  # shoulders and chest below the face are spared too
            down[k, r] = np.exp(-(e * e) / spread) * opacity
    for r in range(h):
        o_row = out[r]
        for c in range(w):
            o_row[c] = zero
        for k in range(n):
            f, a_row = down[k, r], across[k]
            for c in range(w):
                v = f * a_row[c]
                o_row[c] = o_row[c] if o_row[c] > v else v
        for c in range(w):
            o_row[c] = one - far * (one - o_row[c])


@_KERNELS.compiled(f"void({_U8_2D}, {_U8_2D})")
def quarter_area(image, small):  # pragma: no cover - compiled
    """``small = cv2.resize(image[:4 sh, :4 sw], (sw, sh), interpolation=INTER_AREA)`` for ``small``
    of shape (sh, sw): each 4 x 4 block's mean rounded half to even, as OpenCV's whole-factor area
    step gives it (random blocks checked in tests/test_effect_kernels.py; its 2x step rounds
    otherwise), at about a third of its time: a band's four rows are summed first, in 16-bit lanes."""
    sh, sw = small.shape
    four = np.uint64(4)
    width = np.uint64(sw) * four
    rows = np.empty(width, np.uint16)
    for band in range(np.uint64(sh)):
        top = band * four
        r0, r1 = image[top], image[top + np.uint64(1)]
        r2, r3 = image[top + np.uint64(2)], image[top + np.uint64(3)]
        for c in range(width):
            rows[c] = np.uint16(r0[c]) + np.uint16(r1[c]) + np.uint16(r2[c]) + np.uint16(r3[c])
        s_row = small[band]
        for b in range(np.uint64(sw)):
            j = b * four
            total = rows[j] + rows[j + np.uint64(1)] + rows[j + np.uint64(2)] + rows[j + np.uint64(3)]
            s_row[b] = np.uint8(np.rint(np.float32(total) * np.float32(1.0 / 16.0)))


@_KERNELS.compiled(f"void({_F32_2D}, float32, float32, float32, {_F32_2D}, boolean, {_F32_2D}, {_F32_2D}, {_F32_2D}, "
                    f"float32, float32, float32, {_F32_2D})", error_model="numpy")
def face_gain(smooth, ref, most, power, even, evened, facing, mask, neck, key, neck_key, opacity,
              gain):  # pragma: no cover - compiled
    """``key_light.KeyLight.gain_grid``'s last steps on the face's grid, float32 in their order: the
    evening ``clip(ref / max(smooth, 1e-4), 1, most) ** power`` (moved 0.3 of the way from
    ``even``'s values where ``evened``, and written into ``even``), the key ``(1 + key facing)
    even`` inside the outline ``mask`` and ``neck_key`` on the neck, none on the grid's edge, by
    ``opacity``, into ``gain``. One pass instead of a dozen numpy calls on a few hundred cells (their
    overhead was the cost); ``**`` is LLVM's ``powf``, an ulp from numpy's now and then."""
    h, w = smooth.shape
    one, least = np.float32(1.0), np.float32(1e-4)
    follow = np.float32(0.3)
    last_r, last_c = h - 1, w - 1
    for r in range(h):
        for c in range(w):
            v = smooth[r, c]
            e = ref / (v if v > least else least)
            e = (e if e > one else one) if e < most else most
            e = e ** power
            if evened:
                e = even[r, c] + follow * (e - even[r, c])
            even[r, c] = e
            if r == 0 or c == 0 or r == last_r or c == last_c:
                gain[r, c] = one  # the box's edge gets no light at all: no seam where the box ends
                continue
            lift = ((one + key * facing[r, c]) * e - one) * mask[r, c] + neck_key * neck[r, c]
            gain[r, c] = one + lift * opacity


@_KERNELS.compiled(f"UniTuple(int64, 4)({_F32_2D}, float32, float32, {_F32_2D})")
def encode_reach(gain, power, above, encoded):  # pragma: no cover - compiled
    """``encoded = gain ** power`` (float32) and the first and last rows and columns where ``gain >
    above`` (where the light reaches): (first row, last row, first column, last column), all -1
    where it reaches nowhere. One pass for six numpy calls on the key light's grid."""
    h, w = gain.shape
    r0 = r1 = c0 = c1 = -1
    for r in range(h):
        for c in range(w):
            v = gain[r, c]
            encoded[r, c] = v ** power
            if v > above:
                if r0 < 0:
                    r0 = r
                r1 = r
                if c0 < 0 or c < c0:
                    c0 = c
                if c > c1:
                    c1 = c
    return r0, r1, c0, c1


@_KERNELS.compiled("void(uint32[::1], uint16[::1], uint32[::1])")
def pairs_into(values, pairs, out):  # pragma: no cover - compiled
    """Each 16-bit half of ``values`` (an 8-bit picture read four bytes at a time) through ``pairs``
    (:func:`pair_table`) into ``out``: four bytes a load and a store, two lookups."""
    low, shift = np.uint32(0xFFFF), np.uint32(16)
    for i in range(np.uint64(values.shape[0])):
        v = values[i]
        out[i] = np.uint32(pairs[v & low]) | (np.uint32(pairs[v >> shift]) << shift)


def pair_table(lut: np.ndarray) -> np.ndarray:
    """The 65536 uint16 entries that map a byte pair (read as one uint16) to the pair of its bytes'
    ``lut`` values: symmetric in the two bytes' roles, so right on either byte order (and so are the
    two halves of a uint32 that :func:`pairs_into` looks up)."""
    lut = np.asarray(lut, np.uint16).reshape(256)
    return (lut[:, None] << 8 | lut[None, :]).reshape(-1)


READY: bool = _KERNELS.fallback is None
"""Whether every loop compiled: where not (``livecam.jit``), the callers take their OpenCV and numpy steps."""


@_KERNELS.compiled(f"int64(uint8[:, :, :], {_U8_2D}, {_U8_2D}, float32, float32, float32, float32, {_U8_2D}, "
                    "float64[::1])")
def eye_colours(roi, grey, inner, ix, iy, on_radius, white_radius, on, out):  # pragma: no cover - compiled
    """Eye contact's iris and white colours (``eye_contact._colours_calls``, a dozen OpenCV calls on
    the eye's patch) in two passes: ``out[:3]`` the mean BGR of ``inner``'s pixels nearer the iris
    centre (ix, iy) than ``on_radius`` (255 in ``on`` there, 0 elsewhere; of all ``inner``'s where
    none is), ``out[3:]`` the mean of
    those further than ``white_radius`` whose ``grey`` (``roi``'s, from ``cv2.cvtColor``: OpenCV's
    own rounding) is at least their mean grey. Means as ``cv2.mean`` takes them (the sum times 1 / count); distances are
    float32 ``sqrt`` where the calls take ``cv2.magnitude`` (an ulp apart now and then, which moves
    a pixel across a radius only when it lies on it). Returns how many pixels the white's mean
    took: 0 where fewer than 4 lie past ``white_radius`` or none of them is as light as their mean
    (the caller keeps the iris's colour for the white there)."""
    h, w = inner.shape
    n_inner = n_on = n_white = 0
    s_inner = np.zeros(3, np.int64)
    s_on = np.zeros(3, np.int64)
    s_grey = np.int64(0)
    for r in range(np.uint64(h)):
        dy = np.float32(r) - iy
        for c in range(np.uint64(w)):
            on[r, c] = 0
            if inner[r, c] == 0:
                continue
            b, g, rr = np.int64(roi[r, c, 0]), np.int64(roi[r, c, 1]), np.int64(roi[r, c, 2])
            n_inner += 1
            s_inner[0] += b
            s_inner[1] += g
            s_inner[2] += rr
            dx = np.float32(c) - ix
            d = np.sqrt(dx * dx + dy * dy)
            if d < on_radius:
                on[r, c] = 255
                n_on += 1
                s_on[0] += b
                s_on[1] += g
                s_on[2] += rr
            elif d > white_radius:
                n_white += 1
                s_grey += np.int64(grey[r, c])
    if n_on:
        for k in range(3):
            out[k] = np.float64(s_on[k]) * (1.0 / n_on)
    else:
        for k in range(3):
            out[k] = np.float64(s_inner[k]) * (1.0 / max(n_inner, 1))
    if n_white < 4:
        return 0
    threshold = np.float64(s_grey) * (1.0 / n_white)
    n_light = 0
    s_light = np.zeros(3, np.int64)
    for r in range(np.uint64(h)):
        dy = np.float32(r) - iy
        for c in range(np.uint64(w)):
            if inner[r, c] == 0:
                continue
            dx = np.float32(c) - ix
            if not np.sqrt(dx * dx + dy * dy) > white_radius:
                continue
            if np.float64(grey[r, c]) >= threshold:
                b, g, rr = np.int64(roi[r, c, 0]), np.int64(roi[r, c, 1]), np.int64(roi[r, c, 2])
                n_light += 1
                s_light[0] += b
                s_light[1] += g
                s_light[2] += rr
    for k in range(3):
        out[3 + k] = np.float64(s_light[k]) * (1.0 / max(n_light, 1))
    return n_light


@_KERNELS.compiled(f"int64({_U8_2D}, {_U8_2D})")
def eroded_inside(opening, inner):  # pragma: no cover - compiled
    """``inner = cv2.erode(cv2.compare(opening, 127, cv2.CMP_GT), ones((3, 3)))`` (erode's border:
    what lies outside the patch does not count) in one pass; returns its ``countNonZero``."""
    h, w = opening.shape
    across = np.empty((h, w), np.uint8)  # over half covered, and so are both row neighbours
    last = w - 1
    for r in range(h):
        row, out = opening[r], across[r]
        for c in range(w):
            v = row[c] > 127
            if c > 0:
                v = v and row[c - 1] > 127
            if c < last:
                v = v and row[c + 1] > 127
            out[c] = v
    count = 0
    for r in range(h):
        above, here, below = across[max(r - 1, 0)], across[r], across[min(r + 1, h - 1)]
        out = inner[r]
        for c in range(w):
            v = above[c] & here[c] & below[c]
            out[c] = 255 if v else 0
            count += v
    return count
