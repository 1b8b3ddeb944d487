"""The mask's 2x enlargement to the frame (``mask_kernels.double_into``, taken by ``temporal.upscale``)
gives exactly the bytes of the warpAffine it replaced. The warp is kept here as it was
(``_upscale_before``) and compared on random masks, on values whose sums fall on rounding ties, on hard
0/255 masks, at the real working sizes, with OpenCV on one thread and on several, and through the
whole mask stage on real frames."""
import cv2
import numpy as np
import pytest

pytest.importorskip("numba")

from conftest import mask_stage_outputs, video_frames  # noqa: E402

from livecam.analysis import mask_kernels as K  # noqa: E402
from livecam.analysis import temporal as T  # noqa: E402

pytestmark = pytest.mark.skipif(not K.READY, reason="numba cannot compile here: upscale keeps to the warp")


def _upscale_before(image, size, dst=None):
    """temporal.upscale as it was (265095d): the warp for every picture."""
    h, w = image.shape[:2]
    fx, fy = w / size[0], h / size[1]
    m = np.float32([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5]])
    return cv2.warpAffine(image, m, size, dst=dst, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _equal(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def _masks(rng, h, w):
    """A random mask, one of levels whose weighted sums land on halves (rounding ties), a hard 0/255
    one, and a soft outline like the edge work's."""
    ties = rng.choice(np.array([0, 8, 16, 24, 120, 128, 136, 248, 255], np.uint8), (h, w))
    hard = (rng.integers(0, 2, (h, w)) * 255).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    soft = np.clip((w / 3 - np.hypot(xx - w / 2, yy - h) * 0.6) * 40 + 128, 0, 255).astype(np.uint8)
    return [rng.integers(0, 256, (h, w), dtype=np.uint8), ties, hard, soft]


@pytest.fixture
def counted(monkeypatch):
    calls = []
    loop = K.double_into

    def counting(src, out):
        calls.append(src.shape)
        loop(src, out)

    monkeypatch.setattr(K, "double_into", counting)
    return calls


@pytest.mark.parametrize("threads", [1, 4])
def test_the_2x_enlargement_is_the_warp_to_the_bit(threads, counted):
    rng = np.random.default_rng(19)
    sizes = [(360, 640), (540, 960), (361, 641), (16, 16), (17, 16), (16, 33)]
    sizes += [(int(rng.integers(16, 400)), int(rng.integers(16, 700))) for _ in range(60)]
    old = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        for h, w in sizes:
            for mask in _masks(rng, h, w):
                _equal(T.upscale(mask, (2 * w, 2 * h)), _upscale_before(mask, (2 * w, 2 * h)))
    finally:
        cv2.setNumThreads(old)
    assert len(counted) == 4 * len(sizes)  # every case ran the compiled loop


def test_a_given_buffer_is_written_and_handed_back(counted):
    mask = _masks(np.random.default_rng(3), 90, 160)[3]
    dst = np.full((180, 320), 7, np.uint8)
    out = T.upscale(mask, (320, 180), dst=dst)
    assert out is dst and len(counted) == 1
    _equal(dst, _upscale_before(mask, (320, 180)))


@pytest.mark.parametrize("case", ["tiny", "not 2x", "colour", "float", "strided", "odd buffer"])
def test_other_pictures_keep_the_warp(case, counted):
    rng = np.random.default_rng(5)
    mask = rng.integers(0, 256, (40, 60), dtype=np.uint8)
    size, dst = (120, 80), None
    if case == "tiny":  # OpenCV warps sources of one or two pixels a side with other rounding
        mask = rng.integers(0, 256, (2, 2), dtype=np.uint8)
        size = (4, 4)
    elif case == "not 2x":
        size = (150, 100)
    elif case == "colour":
        mask = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    elif case == "float":
        mask = rng.random((40, 60), dtype=np.float32)
    elif case == "strided":
        mask = rng.integers(0, 256, (40, 120), dtype=np.uint8)[:, ::2]
    else:
        dst = np.zeros((80, 120), np.float32)
    expected = _upscale_before(mask, size)
    _equal(T.upscale(mask, size, dst=dst), expected)
    assert not counted


def test_the_tiny_sources_opencv_rounds_otherwise_stay_below_the_threshold():
    """Why DOUBLE_FROM exists: the loop's rounding is not OpenCV's for a 2 x 2 source (which OpenCV
    warps by another path), and the threshold keeps such sources on the warp."""
    rng = np.random.default_rng(2)
    differs = False
    for _ in range(50):
        mask = rng.integers(0, 256, (2, 2), dtype=np.uint8)
        out = np.empty((4, 4), np.uint8)
        K.double_into(mask, out)
        differs |= out.tobytes() != _upscale_before(mask, (4, 4)).tobytes()
    assert differs
    assert T.DOUBLE_FROM > 3


def test_the_mask_stage_gives_what_it_gave_before_on_real_frames(monkeypatch, counted):
    frames = video_frames("lp_s18_room_landscape.mp4", 16, (1280, 720))
    now = mask_stage_outputs(frames)
    assert len(counted) >= len(frames) // 2  # the frames' masks went through the loop (still frames reuse theirs)
    monkeypatch.setattr(T, "upscale", _upscale_before)
    before = mask_stage_outputs(frames)
    assert len(now) == len(before) == len(frames)
    for got, want in zip(now, before):
        for g, w in zip(got, want):
            _equal(g, w)
