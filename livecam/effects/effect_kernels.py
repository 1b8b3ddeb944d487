"""Compiled loops (numba) for per-frame passes of the key light, the touch-up and the badge, each
giving exactly what the OpenCV and numpy calls they replace give (``tests/test_effect_kernels.py``
checks every input value where the inputs are 8-bit, random and recorded frames elsewhere).

- **The room's dimming** (``scale_into``): ``cv2.multiply(image, gain, scale=1/255)`` for 8-bit
  arrays, in one pass at about 0.4 of its time. OpenCV's float product rounded half to even is
  round(a b / 255), and a b / 255 is never a half (255 is odd), so it is the integer
  (a b + 127) // 255, which vectorises in 16-bit lanes.
- **The lit box** (``lit_spread``, ``lit_into``): ``key_light.lit``'s OpenCV calls but one in two
  passes, written straight into the output frame. ``cv2.magnitude`` stays OpenCV's own call
  between them: it is not the correctly rounded square root (an ulp off an exact ``sqrt`` in a
  third of the values), so no loop could repeat it. Every other step is IEEE float32 arithmetic
  in the calls' order (no fused multiply-adds), and the 8-bit conversions round half to even and
  saturate, as ``convertScaleAbs``, ``cv2.add`` and ``cv2.subtract`` do.
- **The skin's smoothing** (``unit_and_square``, ``guided_coefficients``, ``guided_to_u8``): the
  per-pixel steps of the touch-up's self-guided filter between OpenCV's box filters (which stay
  OpenCV's), and its rounding to 8 bits, in three passes instead of a dozen calls and temporaries.
- **The skin's blend** (``mix_into``): the touch-up's ``smooth a / 255 + roi (255 - a) / 255``
  (two scaled multiplies and a saturating add over the face's box) in one pass into the frame.
- **The badge's label** (``label_into``): its float32 blend over the corner, in one pass.

Compiled at import from explicit signatures (kept on disk where numba can; ``livecam.jit``: where
it cannot compile at all, ``READY`` is False and the callers keep to the calls these replace);
``nogil`` lets the live loop's other threads run meanwhile. Unsigned loop indices: with signed
ones numba checks each index for wrap-around and LLVM does not vectorise the loop.
"""
from __future__ import annotations

import numpy as np
from livecam.jit import Kernels

_KERNELS = Kernels("the key light's, touch-up's and badge's loops")

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


@_KERNELS.compiled(f"void({_U8_2D}, uint64, uint64, {_U8_2D}, uint64, uint64, {_F32_2D}, uint64, uint64, float32, "
                    f"{_F32_2D}, {_F32_2D}, {_F32_2D})")
def lit_spread(image, y0, x0, luma, ly, lx, gain, gy, gx, top, delta, up, room):  # pragma: no cover - compiled
    """``key_light.lit`` up to its ``cv2.magnitude``: for the box of ``delta``'s shape at (y0, x0)
    in ``image`` (BGR rows as (H, 3 W); its luma at (ly, lx) in ``luma``, its gain at (gy, gx) in
    ``gain``), the change ``delta = Y (gain - 1)``, its rise ``up = max(delta, 0)`` and the
    headroom ``room = max(top - max(B, G, R), 0.001)``, all float32."""
    h, w = delta.shape
    one, floor, zero = np.float32(1.0), np.float32(1e-3), np.float32(0.0)
    three = np.uint64(3)
    # Comparisons written out: the builtin max and min keep LLVM from vectorising the loop.
    for r in range(np.uint64(h)):
        row, lrow, grow = image[y0 + r], luma[ly + r], gain[gy + r]
        d_row, u_row, r_row = delta[r], up[r], room[r]
        for c in range(np.uint64(w)):
            j = three * (x0 + c)
            b, g, rr = row[j], row[j + np.uint64(1)], row[j + np.uint64(2)]
            m = b if b > g else g
            m = m if m > rr else rr
            v = top - np.float32(m)
            r_row[c] = v if v > floor else floor
            d = np.float32(lrow[lx + c]) * (grow[gx + c] - one)
            d_row[c] = d
            u_row[c] = d if d > zero else zero


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


# error_model="numpy": a float division by zero gives inf instead of raising, so the loop has no
# test and vectorises (7x faster); ``hyp`` >= 0.001 here anyway.
@_KERNELS.compiled(f"void({_U8_2D}, {_U8_2D}, uint64, uint64, {_F32_2D}, {_F32_2D}, {_F32_2D}, {_F32_2D})",
                    error_model="numpy")
def lit_into(image, out, y0, x0, delta, up, room, hyp):  # pragma: no cover - compiled
    """The rest of ``key_light.lit``, written into ``out``'s box at (y0, x0) (both BGR rows as
    (H, 3 W)): the rise softened to ``up room / hyp`` (``hyp``: ``cv2.magnitude(up, room)``) and
    the dimming ``-min(delta, 0)``, each rounded to 8 bits, added to and taken from the box's
    pixels with saturation."""
    h, w = delta.shape
    zero = np.float32(0.0)
    one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
    for r in range(np.uint64(h)):
        src, dst = image[y0 + r], out[y0 + r]
        d_row, u_row, r_row, h_row = delta[r], up[r], room[r], hyp[r]
        for c in range(np.uint64(w)):
            rise = _to_u8((u_row[c] * r_row[c]) / h_row[c])
            d = d_row[c]
            fall = _to_u8(-d if d < zero else zero)
            j = three * (x0 + c)
            dst[j] = _shifted(src[j], rise, fall)
            dst[j + one] = _shifted(src[j + one], rise, fall)
            dst[j + two] = _shifted(src[j + two], rise, fall)


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


READY: bool = _KERNELS.fallback is None
"""Whether every loop compiled: where not (``livecam.jit``), the callers take their OpenCV and numpy steps."""
