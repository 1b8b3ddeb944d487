"""scaling.upscale_colour: temporal.upscale's bytes for BGR pictures, through a four-channel warp."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecam.analysis.temporal import upscale
from livecam.effects.scaling import upscale_colour


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 300), st.integers(2, 400), st.integers(2, 1300), st.integers(2, 760), st.integers(0, 2 ** 32 - 1),
       st.sampled_from([np.uint8, np.float32]))
def test_the_same_values_as_the_three_channel_warp(h, w, out_w, out_h, seed, dtype):
    rng = np.random.default_rng(seed)
    whole = rng.integers(0, 256, (h + 3, w + 5, 3)).astype(dtype)
    if dtype == np.float32:
        whole = whole * np.float32(1 / 255) - np.float32(0.3)  # signed, as the touch-up's tone offsets
    cut = whole[1:1 + h, 2:2 + w]  # a strided view, as auto-framing's cut
    got = upscale_colour(cut, (out_w, out_h))
    assert got.dtype == cut.dtype and got.shape == (out_h, out_w, 3)
    assert np.array_equal(got, upscale(cut, (out_w, out_h)))


def test_hard_steps_and_a_real_frame_cut_as_auto_framing_cuts_it():
    steps = np.zeros((557, 990, 3), np.uint8)
    steps[::2, :, 0] = 255
    steps[:, ::2, 1] = 255
    steps[::3, ::3, 2] = 255
    frame = cv2.imread(str(__import__("conftest").FIXTURES / "mpl_grace_hopper.jpg"))
    frame = cv2.resize(frame, (1280, 720))
    for picture in (steps, frame[80:80 + 557, 150:150 + 990]):
        assert np.array_equal(upscale_colour(picture, (1280, 720)), upscale(picture, (1280, 720)))


@pytest.mark.parametrize("picture", [np.zeros((5, 6), np.uint8), np.zeros((5, 6, 4), np.uint8),
                                     np.zeros((5, 6, 3), np.float64), np.zeros((5, 6, 3), np.int16)])
def test_other_pictures_go_to_upscale_as_they_are(picture):
    picture = picture + np.arange(picture.size, dtype=picture.dtype).reshape(picture.shape) % 7
    assert np.array_equal(upscale_colour(picture, (13, 11)), upscale(picture, (13, 11)))
