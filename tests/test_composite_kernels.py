"""The fused compositing pass (livecam.effects.composite_kernels) against the OpenCV calls it
replaced, on random sizes, masks, edge colours and backgrounds: the same bytes, every time."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecam.effects import composite_kernels as kernels
from livecam.analysis.temporal import EdgeColour, put_pixels, take_pixels
from livecam.effects.compositing import composite


def _reference(frame, back, mask, foreground=None):
    """The narrow-band composite as OpenCV calls (what compositing did before the kernel): the band's
    pixels searched, the background copied, the frame copied where the mask is not 0, the band's
    pixels blended in float32 and rounded by cv2.add, then the edge colours blended the same way."""
    edge = foreground if isinstance(foreground, EdgeColour) else None
    dense = isinstance(foreground, np.ndarray)

    def blend_pixels(out, colour, bpix, index):
        a = np.take(mask.reshape(-1), index).astype(np.float32) * np.float32(1 / 255)
        mix = colour.astype(np.float32) - bpix
        mix *= a[:, None]
        put_pixels(out, index, cv2.add(bpix, mix, dtype=cv2.CV_8U))

    band = cv2.inRange(mask, 1, 254)
    if edge is not None:
        np.put(band.reshape(-1), edge.index, 0)
    index = np.flatnonzero(band.reshape(-1))
    out = back.copy()
    cv2.copyTo(frame, mask, out)
    if len(index):
        blend_pixels(out, take_pixels(foreground if dense else frame, index), take_pixels(back, index), index)
    if edge is not None and len(edge):
        blend_pixels(out, edge.colour, take_pixels(back, edge.index), edge.index)
    return out


@st.composite
def _scenes(draw):
    h = draw(st.integers(1, 70))
    w = draw(st.integers(1, 90))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["noise", "disc", "soft disc", "flat 0", "flat 255", "bars"]))
    edges = draw(st.integers(0, 40))
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    if kind == "noise":
        mask = rng.integers(0, 256, (h, w)).astype(np.uint8)
    elif kind in ("disc", "soft disc"):
        cv2.circle(mask, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(1, 60)), 255, -1,
                   cv2.LINE_AA)
        if kind == "soft disc":
            mask = cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(0.5, 4)))
    elif kind == "flat 255":
        mask[:] = 255
    elif kind == "bars":  # runs of whole words, partial pixels at word joins
        mask[:, (np.arange(w) // 7) % 2 == 1] = 255
        mask[:, ::9] = rng.integers(1, 255, (h, 1)).astype(np.uint8)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    back = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    index = np.sort(rng.choice(h * w, size=min(edges, h * w), replace=False)).astype(np.intp)
    edge = EdgeColour(index, rng.integers(0, 256, (len(index), 3), dtype=np.uint8), frame.shape)
    dense = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return frame, back, mask, edge, dense


@settings(max_examples=300, deadline=None)
@given(_scenes())
def test_the_fused_pass_gives_the_opencv_calls_bytes(scene):
    frame, back, mask, edge, dense = scene
    n = mask.size
    partial = int(np.count_nonzero((mask > 0) & (mask < 255)))
    assert kernels.band_size(mask.reshape(-1), np.zeros(0, np.intp)) == partial
    assert kernels.band_bound(mask.reshape(-1)) >= partial
    on_ramp = np.isin(np.arange(n), edge.index) & ((mask.reshape(-1) == 0) | (mask.reshape(-1) == 255))
    assert kernels.band_size(mask.reshape(-1), edge.index) == partial + int(on_ramp.sum())
    for foreground in (None, edge, dense):
        expected = _reference(frame, back, mask, foreground)
        colour = dense if foreground is dense else frame
        out = np.empty_like(frame)
        kernels.person_over(frame.reshape(-1), colour.reshape(-1), back.reshape(-1), mask.reshape(-1),
                            out.reshape(-1), False)
        inplace = back.copy()
        kernels.person_over(frame.reshape(-1), colour.reshape(-1), inplace.reshape(-1), mask.reshape(-1),
                            inplace.reshape(-1), True)
        if foreground is edge:
            read = out.copy()  # the background read where it lies, not gathered first
            assert kernels.blend_from(read.reshape(-1), edge.colour, back.reshape(-1), mask.reshape(-1), edge.index)
            assert np.array_equal(read, expected)
            for target in (out, inplace):
                kernels.blend_at(target.reshape(-1), edge.colour, take_pixels(back, edge.index), mask.reshape(-1),
                                 edge.index)
        assert np.array_equal(out, expected)
        assert np.array_equal(inplace, expected)
        if partial + int(on_ramp.sum()) <= 0.05 * n:  # the band path of composite itself
            assert np.array_equal(composite(frame, back, mask, foreground), expected)


def test_an_edge_index_outside_the_frame_is_reported_and_not_written():
    mask = np.full(16, 128, np.uint8)
    out = np.zeros(48, np.uint8)
    colour = np.full((2, 3), 200, np.uint8)
    assert kernels.band_size(mask, np.array([3, 16], np.intp)) == -1
    assert kernels.band_size(mask, np.array([-1], np.intp)) == -1
    assert not kernels.blend_at(out, colour, colour, mask, np.array([16, 3], np.intp))
    assert not kernels.blend_from(out, colour, np.full(48, 9, np.uint8), mask, np.array([16, 3], np.intp))
    assert not kernels.blend_from(out, colour, np.full(48, 9, np.uint8), mask, np.array([-1], np.intp))
    assert not out.any()


@pytest.mark.parametrize("array", ["frame", "mask"])
def test_a_wrong_dtype_or_layout_is_refused_by_the_kernel_itself(array):
    """The signatures are explicit: numba refuses anything else with a TypeError (no silent cast)."""
    frame = np.zeros(24, np.uint8)
    mask = np.zeros(8, np.uint8)
    if array == "frame":
        frame = frame.astype(np.uint16)
    else:
        mask = np.zeros(16, np.uint8)[::2]
    with pytest.raises(TypeError):
        kernels.person_over(frame, np.zeros(24, np.uint8), np.zeros(24, np.uint8), mask, np.zeros(24, np.uint8), False)


def test_runs_of_every_length_around_the_four_word_step():
    """Runs of all-room and all-person words of 1 to 13 words (the run search takes four words a
    step, then one), between mixed words and at the mask's end, with a tail of single pixels."""
    rng = np.random.default_rng(19)
    for trial in range(60):
        parts = []
        while sum(len(p) for p in parts) < 8 * 200:
            kind = rng.integers(3)
            words = int(rng.integers(1, 14))
            parts.append(np.full(8 * words, 0 if kind == 0 else 255, np.uint8) if kind < 2
                         else rng.integers(0, 256, 8 * words).astype(np.uint8))
        flat = np.concatenate(parts)[:8 * 200 + trial % 8]  # a tail shorter than a word
        mask = flat.reshape(1, -1)
        frame = rng.integers(0, 256, (1, flat.size, 3), dtype=np.uint8)
        back = rng.integers(0, 256, (1, flat.size, 3), dtype=np.uint8)
        out = np.empty_like(frame)
        assert kernels.person_over(frame.reshape(-1), frame.reshape(-1), back.reshape(-1), flat, out.reshape(-1), False)
        assert np.array_equal(out, _reference(frame, back, mask))
