"""Per-pixel loops that OpenCV can only make as several frame-size passes, fused into one (numba).

Putting the person over a background is one decision per pixel (mask 0: the background, 255: the
frame, else a blend), but in OpenCV it is a search for the partial pixels, a copy of the background,
a masked copy of the frame and a gathered blend of the band: four passes over a 720p frame. Here it
is one pass that reads each pixel's mask, copies runs of whole-background or whole-person pixels
and blends the rest. On s18, inside the pipeline, frame by frame against the OpenCV calls (landscape
model, one thread, medians of CPU ms, load 4.6-6): the picture background's composite 1.13 -> 0.67
at 720p and 3.34 -> 1.94 at 1080p, the blur's 1.83 -> 1.35 and 3.35 -> 2.31.

The arithmetic is OpenCV's to the bit (float32 ``b + (f - b) * (m * (1/255))``, rounded to
nearest-even as ``saturate_cast`` rounds), so the pictures are the same as the calls' it replaces.

Every kernel has an explicit signature, so it is compiled when this module is imported, never on a
frame, and ``cache=True`` keeps the machine code on disk (beside this file, or in the user's cache
folder when that is read-only): a later start loads it instead of compiling. ``nogil``: a pipelined
frame's compositing does not hold up the other thread. The loops index with unsigned integers: numba
checks a signed index for a negative value on every access, which keeps LLVM from vectorizing the
copies (3 ms against 0.3 for a 720p frame's runs). They trust their arguments' sizes (no bounds
checks): callers check shapes first (``compositing.composite``), and an edge index outside the frame
is reported, not written.

Where numba cannot keep its machine code (no cache folder it may write, a cache file it cannot read:
cut short, or another build's), the kernels are compiled afresh at each start; where it cannot
compile at all (missing, or broken on this machine), each kernel is its numpy twin (``_*_np``): the same
pictures to the bit, a few ms slower a frame. Either way the log says so once, and the background
effects run: before, numba raising here hid every frame behind the full blur for good, with
numba's own words ("invalid load key") as the only sentence.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.jit import Kernels

_U = np.uint64  # unsigned indices (see above)
_INV255 = np.float32(1.0 / 255.0)  # the mask to alpha, in float32 as the replaced numpy code had it
_KERNELS = Kernels("the compositing loops")
_compiled = _KERNELS.compiled
_inlined = _KERNELS.inlined


def _band_bound_np(mask: np.ndarray) -> int:
    return int(mask.size)  # a bound: the exact count is taken next, which decides as the word count did


def _band_size_np(mask: np.ndarray, index: np.ndarray) -> int:
    if index.size and (index.min() < 0 or index.max() >= mask.size):
        return -1
    at = mask[index]
    return int(np.count_nonzero((mask != 0) & (mask != 255)) + np.count_nonzero((at == 0) | (at == 255)))


def _mix_np(f: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    bf = b.astype(np.float32)
    return np.rint(bf + (f.astype(np.float32) - bf) * a).astype(np.uint8)


def _person_over_np(frame, colour, back, mask, out, back_in_out) -> bool:
    f3, c3, b3, o3 = (x.reshape(-1, 3) for x in (frame, colour, back, out))
    band = np.flatnonzero((mask != 0) & (mask != 255))  # the edge: a few % of the pixels
    mixed = _mix_np(c3[band], b3[band], (mask[band].astype(np.float32) * _INV255)[:, None])  # before out is written
    if not back_in_out:
        np.copyto(o3, b3)
    person = (mask == 255).view(np.uint8).reshape(-1, 1)
    cv2.copyTo(f3.reshape(-1, 1, 3), person, o3.reshape(-1, 1, 3))  # in place: 1 ms, np.copyto's where= 10
    o3[band] = mixed
    return True


def _blend_at_np(out, colour, back, mask, index) -> bool:
    outside = np.flatnonzero((index < 0) | (index >= mask.size))
    k = int(outside[0]) if outside.size else index.size  # written up to the first index outside, as the loop
    at = index[:k]
    out.reshape(-1, 3)[at] = _mix_np(colour[:k], back[:k], (mask[at].astype(np.float32) * _INV255)[:, None])
    return k == index.size


def _blend_from_np(out, colour, back, mask, index) -> bool:
    outside = np.flatnonzero((index < 0) | (index >= mask.size))
    k = int(outside[0]) if outside.size else index.size  # written up to the first index outside, as the loop
    _blend_at_np(out, colour[:k], back.reshape(-1, 3)[index[:k]], mask, index[:k])
    return k == index.size


@_compiled("int64(uint8[::1])", _band_bound_np)
def band_bound(mask: np.ndarray) -> int:
    """At least as many as the pixels with ``mask`` 1..254: 8 for each 8-pixel word that is not all
    0 or all 255 (a word compare, vectorized: 0.04 ms at 720p against 0.1 for the exact count)."""
    n = _U(mask.size)
    words = n // _U(8)
    m64 = mask[:words * _U(8)].view(np.uint64)
    full = ~_U(0)
    count = 0
    for j in range(words):
        w = m64[j]
        count += (w != _U(0)) & (w != full)
    return 8 * count + int(n - words * _U(8))


@_compiled("int64(uint8[::1], intp[::1])", _band_size_np)
def band_size(mask: np.ndarray, index: np.ndarray) -> int:
    """How many pixels are blended: those with ``mask`` 1..254, plus those of ``index`` (flat pixel
    indices) that are not. -1 when an index lies outside the mask."""
    count = 0
    for p in range(_U(mask.size)):
        m = mask[p]
        count += (m != 0) & (m != 255)
    for k in range(index.size):
        i = index[k]
        if i < 0 or i >= mask.size:
            return -1
        if mask[i] == 0 or mask[i] == 255:
            count += 1
    return count


@_inlined
def _mix(f, b, a):
    """f over b at alpha a: float32 b + (f - b) * a, rounded to nearest-even (cv2.add's saturate_cast;
    the result lies in 0..255 for a in 0..1, so nothing needs clipping)."""
    bf = np.float32(b)
    return np.uint8(np.rint(bf + (np.float32(f) - bf) * a))


# Plain functions, which LLVM inlines: numba's own inline="always" of this one, with a loop over the
# channels, made the kernel twice as slow (1.3 against 0.6 ms at 720p).
@_inlined
def _pixel(frame, colour, back, m, out, p):
    q = _U(3) * p
    if m == 0:
        out[q] = back[q]
        out[q + _U(1)] = back[q + _U(1)]
        out[q + _U(2)] = back[q + _U(2)]
    elif m == 255:
        out[q] = frame[q]
        out[q + _U(1)] = frame[q + _U(1)]
        out[q + _U(2)] = frame[q + _U(2)]
    else:
        a = np.float32(m) * _INV255
        out[q] = _mix(colour[q], back[q], a)
        out[q + _U(1)] = _mix(colour[q + _U(1)], back[q + _U(1)], a)
        out[q + _U(2)] = _mix(colour[q + _U(2)], back[q + _U(2)], a)


@_inlined
def _run_end(m64, end, words, w):
    """The first word from ``end`` on that is not ``w`` (0: all room, all ones: all person), found
    four words a step while all four are ``w``: a quarter of the loop's turns over the long runs
    (a 720p mask is 115200 words; on recorded s18 masks at 720p the pass 0.22 -> 0.18 ms, one
    thread)."""
    if w == _U(0):
        while end + _U(4) <= words and (m64[end] | m64[end + _U(1)] | m64[end + _U(2)] | m64[end + _U(3)]) == w:
            end += _U(4)
    else:
        while end + _U(4) <= words and (m64[end] & m64[end + _U(1)] & m64[end + _U(2)] & m64[end + _U(3)]) == w:
            end += _U(4)
    while end < words and m64[end] == w:
        end += _U(1)
    return end


@_compiled("boolean(uint8[::1], uint8[::1], uint8[::1], uint8[::1], uint8[::1], boolean)", _person_over_np)
def person_over(frame, colour, back, mask, out, back_in_out) -> bool:
    """``out`` = the person over the background by ``mask`` (flat C-order bytes of same-size BGR
    pictures and their one-channel mask): ``back`` where the mask is 0, ``frame`` where it is 255,
    else ``colour`` (the frame, or the person's own edge colour) blended over ``back``.
    ``back_in_out``: ``out`` already holds the background (is ``back``), so mask-0 runs are not
    written. Returns True (numba needs a result type to compile ahead)."""
    n = _U(mask.size)
    words = n // _U(8)
    m64 = mask[:words * _U(8)].view(np.uint64)
    full = ~_U(0)
    j = _U(0)
    while j < words:
        w = m64[j]
        if w == _U(0) or w == full:
            # A run of whole 8-pixel words that are all room or all person: one plain copy.
            end = _run_end(m64, j + _U(1), words, w)
            if w == full:
                for i in range(j * _U(24), end * _U(24)):
                    out[i] = frame[i]
            elif not back_in_out:
                for i in range(j * _U(24), end * _U(24)):
                    out[i] = back[i]
            j = end
        else:
            for p in range(j * _U(8), j * _U(8) + _U(8)):
                _pixel(frame, colour, back, mask[p], out, p)
            j += _U(1)
    for p in range(words * _U(8), n):
        _pixel(frame, colour, back, mask[p], out, p)
    return True


@_compiled("boolean(uint8[::1], uint8[:, ::1], uint8[:, ::1], uint8[::1], intp[::1])", _blend_at_np)
def blend_at(out, colour, back, mask, index) -> bool:
    """``colour`` over ``back`` (N x 3 each, ``back`` the background's pixels there) at the flat
    pixel ``index`` of ``out`` (flat BGR bytes), alpha from the flat ``mask``; the same arithmetic
    as ``person_over``. False (nothing written from there on) for an index outside the frame."""
    for k in range(index.size):
        i = index[k]
        if i < 0 or i >= mask.size:
            return False
        a = np.float32(mask[i]) * _INV255
        q = _U(3) * _U(i)
        out[q] = _mix(colour[k, 0], back[k, 0], a)
        out[q + _U(1)] = _mix(colour[k, 1], back[k, 1], a)
        out[q + _U(2)] = _mix(colour[k, 2], back[k, 2], a)
    return True


@_compiled("boolean(uint8[::1], uint8[:, ::1], uint8[::1], uint8[::1], intp[::1])", _blend_from_np)
def blend_from(out, colour, back, mask, index) -> bool:
    """``blend_at`` reading the background's pixels at ``index`` from the whole background ``back``
    (flat BGR bytes, a picture other than ``out``) instead of a gathered copy of them: the same
    bytes, one gather less."""
    for k in range(index.size):
        i = index[k]
        if i < 0 or i >= mask.size:
            return False
        a = np.float32(mask[i]) * _INV255
        q = _U(3) * _U(i)
        out[q] = _mix(colour[k, 0], back[q], a)
        out[q + _U(1)] = _mix(colour[k, 1], back[q + _U(1)], a)
        out[q + _U(2)] = _mix(colour[k, 2], back[q + _U(2)], a)
    return True


FALLBACK: str | None = _KERNELS.fallback  # why the numpy twins run instead of the compiled loops, or None
