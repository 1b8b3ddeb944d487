"""Compiled loops (numba) for the face stage and eye contact, each giving exactly what the calls
they replace give (``tests/test_face_kernels.py``).

- **A crop as the model's input** (``scaled_into``): ``ModelSession.normalize`` of the RGB crop
  (``float32(v) * scale + offset``: two roundings, no fused multiply-add) in one pass into the
  model's (1, n, n, 3) float32 batch, instead of a conversion, a product and a sum over three
  temporaries. The arithmetic is elementwise on 8-bit values, so the test's 256 values prove it.
- **Eye contact's backward map** (``off_path``, ``bump_angle``, ``sample_points``): the float32
  steps of ``eye_contact.sample_map`` between OpenCV's ``cv2.magnitude`` and numpy's ``np.cos``,
  which stay calls: neither is a correctly rounded function a loop could repeat (``magnitude`` even
  differs by an ulp between two calls on the same numbers, with where its buffers lie).
- **Eye contact's fill of what the move uncovers** (``known_planes``, ``fill_into``): the known
  colours and their weight as one 4-channel image (a masked copy), and the per-point mix of the
  white, the iris and the pixel, rounded to 8 bits as ``convertScaleAbs`` rounds the float patch
  the numpy steps made (float32 and float64 steps as numpy promotes them), written into the points
  alone instead of converting the whole patch to float and back.

Compiled at import from explicit signatures (kept on disk where numba can; ``livecam.jit``: where
it cannot compile at all, ``READY`` is False and the callers keep to the steps these replace);
``nogil`` lets the live loop's other threads run meanwhile. Unsigned loop indices: with signed ones
numba checks each index for wrap-around and LLVM does not vectorise the loop.
"""
from __future__ import annotations

import numpy as np
from livecam.jit import Kernels

_KERNELS = Kernels("the face stage's and eye contact's loops")


@_KERNELS.compiled("void(uint8[::1], float32, float32, float32[::1])")
def scaled_into(pixels, scale, offset, out):  # pragma: no cover - compiled
    """``out = float32(pixels) * scale + offset``, each step rounded as numpy rounds it."""
    for i in range(np.uint64(pixels.shape[0])):
        out[i] = np.float32(pixels[i]) * scale + offset


@_KERNELS.inlined(inline="always")
def _clip01(v, zero, one):  # pragma: no cover - compiled
    """np.clip(v, 0, 1) for float32: NaN kept, -0.0 kept (numpy's max/min keep the first on ties)."""
    if v != v:
        return v
    v = v if v >= zero else zero
    return v if v <= one else one


# The eye-contact move's backward map (``eye_contact.moved_eye``), around the two calls no loop can
# repeat to the bit: OpenCV's ``cv2.magnitude`` (not the correctly rounded square root) and numpy's
# float32 ``np.cos``. Each pass is numpy's float32 steps in their order, a patch's pixel (row, col)
# standing for ``_grid``'s (float32) indices. ``error_model="numpy"``: no zero-division branch.
@_KERNELS.compiled("void(float32, float32, float32, float32, float32, float32[:, ::1], float32[:, ::1])",
                    error_model="numpy")
def off_path(ix, iy, ux, uy, inv_len2, px, py):  # pragma: no cover - compiled
    """Each pixel's offset from the iris centre's path (``ex - along ux``, ``ey - along uy``) with
    ``ex = col - ix``, ``ey = row - iy`` and ``along = clip((ex ux + ey uy) inv_len2, 0, 1)``."""
    h, w = px.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    for r in range(np.uint64(h)):
        ey = np.float32(r) - iy
        x_row, y_row = px[r], py[r]
        for c in range(np.uint64(w)):
            ex = np.float32(c) - ix
            along = (ex * ux + ey * uy) * inv_len2
            along = _clip01(along, zero, one)
            x_row[c] = ex - along * ux
            y_row[c] = ey - along * uy


@_KERNELS.compiled("void(float32[:, ::1], float32, float32, float32, float32, float32[:, ::1])",
                    error_model="numpy")
def bump_angle(d, inv_r, core, inv_span, pi, out):  # pragma: no cover - compiled
    """``pi * clip((d inv_r - core) inv_span, 0, 1)``: the argument of the bump's cosine."""
    h, w = d.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    for r in range(np.uint64(h)):
        d_row, o_row = d[r], out[r]
        for c in range(np.uint64(w)):
            o_row[c] = pi * _clip01((d_row[c] * inv_r - core) * inv_span, zero, one)


@_KERNELS.compiled("void(float32[:, ::1], float32, float32, float32[:, ::1], float32[:, ::1])",
                    error_model="numpy")
def sample_points(cosine, ux, uy, sx, sy):  # pragma: no cover - compiled
    """``bump = 0.5 + 0.5 cosine``; ``sx = col - ux bump``, ``sy = row - uy bump``."""
    h, w = cosine.shape
    half = np.float32(0.5)
    for r in range(np.uint64(h)):
        c_row, x_row, y_row = cosine[r], sx[r], sy[r]
        row = np.float32(r)
        for c in range(np.uint64(w)):
            bump = half + half * c_row[c]
            x_row[c] = np.float32(c) - ux * bump
            y_row[c] = row - uy * bump


@_KERNELS.compiled("void(uint8[:, :, ::1], uint8[:, ::1], int64[::1], int64[::1], float32[::1], uint8[:, ::1], "
                    "uint8[::1], float32[::1], float32[::1], float32, float32, uint8[:, :, ::1])", error_model="numpy")
def fill_into(spread, uncovered, rows, cols, hyp, iris_px, seen, white, iris, prior, reach,  # pragma: no cover
              out):
    """The tail of ``eye_contact._fill_uncovered`` for the uncovered points (``rows``, ``cols``), written
    into ``out`` (the moved patch, 8-bit BGR) as ``convertScaleAbs`` would round the float patch:

    - the white drawn from around: ``(spread[:3] 255 + prior white) / (spread[3] + prior)`` (float32);
    - how far the point lies on the iris: ``clip(reach - hyp, 0, 1)`` (float32; ``reach`` = r + 0.5);
    - the iris: ``seen / 255 min(iris_px, 1.2 iris) + (1 - seen / 255) iris`` (float64, as numpy mixes
      the 8-bit remap with the float32 colours);
    - the fill ``on iris + (1 - on) white`` (float64 plus float32) mixed with the pixel by
      ``uncovered / 255`` (float64), stored as float32, then rounded half to even to 8 bits.

    ``white``: the white's colour (3 float32); ``iris``: the iris's colour, then that times 1.2 as
    numpy's float32 product (6 float32); ``prior``: float32; ``spread``, ``uncovered``: the patch's
    (colour, weight) box average and uncovered amount; ``hyp``, ``iris_px``, ``seen``: per point."""
    inv = 1.0 / 255.0
    f255 = np.float32(255.0)
    zero, one = np.float32(0.0), np.float32(1.0)
    for j in range(rows.shape[0]):
        r, c = rows[j], cols[j]
        at = spread[r, c]
        weight = at[3]
        on = _clip01(reach - hyp[j], zero, one)
        off = one - on
        s = np.float64(seen[j]) * inv
        k = np.float64(uncovered[r, c]) * inv
        px = out[r, c]
        for ch in range(3):
            white_at = (np.float32(at[ch]) * f255 + prior * white[ch]) / (np.float32(weight) + prior)
            iris_at = min(np.float32(iris_px[j, ch]), iris[3 + ch])
            iris_fill = s * np.float64(iris_at) + (1.0 - s) * np.float64(iris[ch])
            fill = np.float64(on) * iris_fill + np.float64(off * white_at)
            v = abs(np.float32(np.float64(np.float32(px[ch])) * (1.0 - k) + fill * k))
            v = np.rint(v)
            px[ch] = np.uint8(v if v < f255 else f255)


@_KERNELS.compiled("void(uint8[:, :, ::1], uint8[:, ::1], uint8[:, :, ::1])")
def known_planes(seed, known, out):  # pragma: no cover - compiled
    """``cv2.merge([*cv2.split(cv2.bitwise_and(seed, seed, mask=known)), known])``: the BGR pixels where
    ``known`` is not 0 (0 elsewhere) and ``known`` as the fourth channel, in one pass."""
    h, w, _ = seed.shape
    zero = np.uint8(0)
    for r in range(np.uint64(h)):
        s_row, k_row, o_row = seed[r], known[r], out[r]
        for c in range(np.uint64(w)):
            k = k_row[c]
            keep = k != zero
            px, dst = s_row[c], o_row[c]
            dst[0] = px[0] if keep else zero
            dst[1] = px[1] if keep else zero
            dst[2] = px[2] if keep else zero
            dst[3] = k


READY: bool = _KERNELS.fallback is None
"""Whether every loop compiled: where not (``livecam.jit``), the callers take the numpy and OpenCV
steps these replace."""
