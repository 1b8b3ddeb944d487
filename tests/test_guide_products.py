"""The edge step's products of the enlarged coefficients with the working frame
(``mask_kernels.times_guide``, in ``edge_strips.apply_coefficients``) are exactly the mixed-type
``cv2.multiply`` they replaced: on random spans of random pictures (NaN, infinities and values far
apart included) and through ``apply_coefficients`` on the fits of real frames."""
import cv2
import numpy as np
import pytest

pytest.importorskip("numba")

from conftest import video_frames  # noqa: E402

from livecam.analysis import edge_strips as ES  # noqa: E402
from livecam.analysis import mask_kernels as K  # noqa: E402
from livecam.analysis import person_mask as PM  # noqa: E402
from livecam.settings import Settings, update  # noqa: E402
from livecam.types import Analysis  # noqa: E402

pytestmark = pytest.mark.skipif(not K.READY, reason="numba cannot compile here: the edge step keeps to OpenCV")


def _multiply_before(products, guide_span):
    """The step as it was (265095d): OpenCV's float32 x uint8 product, in place."""
    cv2.multiply(products, guide_span, dst=products, dtype=cv2.CV_32F)
    return products


@pytest.fixture
def counted(monkeypatch):
    calls = []
    loop = K.times_guide

    def counting(products, guide, top, left):
        calls.append(products.shape)
        loop(products, guide, top, left)

    monkeypatch.setattr(K, "times_guide", counting)
    return calls


def test_the_products_are_opencvs_to_the_bit():
    rng = np.random.default_rng(19)
    h, w = 360, 640
    guide = rng.integers(0, 256, (h, w, 3), np.uint8)
    guide[:20] = 0
    guide[-20:] = 255
    for _ in range(400):
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        n, k = int(rng.integers(1, h - y0 + 1)), int(rng.integers(1, w - x0 + 1))
        products = (rng.standard_normal((n, k, 3)) * rng.choice([1e-40, 1e-3, 1.0, 60.0, 1e37])).astype(np.float32)
        if rng.random() < 0.2:
            products.reshape(-1)[rng.integers(0, products.size, 3)] = [np.nan, np.inf, -np.inf]
        want = _multiply_before(products.copy(), guide[y0:y0 + n, x0:x0 + k])
        got = products.copy()
        K.times_guide(got.reshape(n, k * 3), guide.reshape(h, w * 3), y0, 3 * x0)
        assert got.tobytes() == want.tobytes()  # bytes: NaN and the sign of zero count too


def _fits(count: int):
    """(a8, b8, working frame) as the mask stage hands them to apply_coefficients on real frames."""
    frames = video_frames("lp_s18_room_landscape.mp4", count, (1280, 720))
    fits = []
    step = ES.apply_coefficients

    def keeping(a8, b8, guide8, space):
        fits.append((a8.copy(), b8.copy(), guide8.copy()))
        return step(a8, b8, guide8, space)

    settings = update(Settings(), segmentation={"model": "landscape"}, runtime={"threads": 1, "provider": "cpu"})
    stage = PM.PersonMask(settings)
    original = PM.edge_strips.apply_coefficients
    PM.edge_strips.apply_coefficients = keeping
    try:
        for frame in frames:
            stage.process(frame, Analysis(), True)
    finally:
        PM.edge_strips.apply_coefficients = original
    return fits


def test_the_edge_step_gives_what_it_gave_before_on_real_fits(monkeypatch, counted):
    fits = _fits(12)
    assert len(fits) >= 6
    now = [ES.in_strips(a8, b8, guide, {}) for a8, b8, guide in fits]
    assert len(counted) >= len(fits)  # every fit's spans went through the loop
    monkeypatch.setattr(K, "READY", False)  # the OpenCV multiply, as before
    before = [ES.in_strips(a8, b8, guide, {}) for a8, b8, guide in fits]
    for got, want in zip(now, before):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    # The fits' alpha has an outline to work: the comparison covered worked spans, not only fills.
    assert all(np.count_nonzero((got > 0) & (got < 255)) > 100 for got in now)


def test_a_guide_the_loop_cannot_read_keeps_opencvs_multiply(counted):
    rng = np.random.default_rng(4)
    a8 = (rng.standard_normal((65, 128, 3)) * 30).astype(np.float32)
    b8 = (rng.standard_normal((65, 128)) * 300 + 128).astype(np.float32)
    guide = rng.integers(0, 256, (360, 1280, 3), np.uint8)[:, ::2]  # a view, not one block
    got = ES.in_strips(a8, b8, guide, {})
    assert not counted
    assert got.tobytes() == ES.in_strips(a8, b8, np.ascontiguousarray(guide), {}).tobytes()
    assert counted
