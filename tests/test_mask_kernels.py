"""The person-mask stage's compiled loops (``livecam.analysis.mask_kernels``) give exactly what the
numpy and OpenCV steps they replaced give. Each replaced step (``_*_before``) is the library's own
numpy fallback where it keeps one (run with the loops switched off), else kept here as it was, and
compared on random cases with the values where the arithmetic turns (the release threshold,
ties in rounding, flat pictures), and on real frames the whole mask stage's outputs are compared
with the stage run on the steps as they were."""
import cv2
import numpy as np
import pytest

pytest.importorskip("numba")

from conftest import mask_stage_outputs, video_frames  # noqa: E402

from livecam.analysis import mask_kernels as K  # noqa: E402
from livecam.analysis import person_mask as PM  # noqa: E402
from livecam.analysis import temporal as T  # noqa: E402
from livecam.analysis.segmenter import Segmenter, TOP_MARGIN  # noqa: E402


# ---------------------------------------------------------------- the steps as they were


def _numpy_path(function):
    """``function`` as it runs without the compiled loops (``K.READY`` False): the numpy steps the loops
    replaced, which stay in ``temporal`` as its fallback, so the reference is the path the library
    really takes where numba cannot compile."""
    def run(*args, **kwargs):
        ready = K.READY
        K.READY = False
        try:
            return function(*args, **kwargs)
        finally:
            K.READY = ready

    return run


_smooth_before = _numpy_path(T.smooth_mask)
_fit_before = _numpy_path(T.colour_guided_fit)


def _halved_before(small, mask):
    h, w = mask.shape[:2]
    size = (max(1, w // 2), max(1, h // 2))
    guide = cv2.resize(small, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    guide *= np.float32(1 / 255)
    return guide, cv2.resize(mask, size, interpolation=cv2.INTER_AREA)


_settle_before = _numpy_path(T.settle)
_edge_band_before = _numpy_path(T.edge_band)


def _shrink_before(segmenter, image_bgr, half=None):
    h, w = image_bgr.shape[:2]
    size = (segmenter.width, segmenter.rows(w, h))
    src = image_bgr if half is None else half
    while src.shape[1] >= 2 * size[0] and src.shape[0] >= 2 * size[1]:
        src = cv2.resize(src, (src.shape[1] // 2, src.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if src.shape[1] > 1.5 * size[0] or src.shape[0] > 1.5 * size[1]:
        return cv2.resize(src, size, interpolation=cv2.INTER_AREA)
    return cv2.resize(src, size, interpolation=cv2.INTER_LINEAR)


def _tensor_before(segmenter, small_bgr):
    """The model input as the NHWC models took it (conversion, border, normalisation), as planes."""
    rgb = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2RGB)
    rows = rgb.shape[0]
    top = round(TOP_MARGIN * rows)
    if rows + top > segmenter.input_height:
        top = 0
    bottom = segmenter.input_height - rows - top
    if top or bottom:
        rgb = cv2.copyMakeBorder(rgb, top, bottom, 0, 0, cv2.BORDER_REPLICATE)
    norm = segmenter.session.spec["normalization"]
    x = rgb.astype(np.float32) * np.float32(norm["scale"]) + np.float32(norm["offset"])
    return np.ascontiguousarray(x[None].transpose(0, 3, 1, 2))


def _counted(monkeypatch, module, name: str) -> list:
    """Calls of ``module.name`` from now on (so a test knows the compiled loop was the one compared)."""
    calls: list = []
    real = getattr(module, name)

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(module, name, counting)
    return calls


def _equal(got, want):
    """The same arrays to the bit (NaN where NaN, the same sign of zero)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


# ---------------------------------------------------------------- temporal smoothing


def _smooth_case(rng, i):
    h, w = int(rng.integers(1, 40)), int(rng.integers(1, 60))
    previous = rng.random((h, w), np.float32)
    if i % 3 == 0:  # differences at the release threshold and one float step either side of it
        edge = np.float32(T.RELEASE_DELTA)
        steps = np.array([np.nextafter(edge, np.float32(0)), edge, np.nextafter(edge, np.float32(1))], np.float32)
        d = rng.choice(np.concatenate([steps, -steps, [np.float32(0)]]), (h, w)).astype(np.float32)
        previous = np.full((h, w), 0.25, np.float32)
        current = (previous + d).astype(np.float32)
    else:
        current = rng.random((h, w), np.float32)
        if i % 3 == 1:
            current = np.where(rng.random((h, w)) < 0.5, current, previous).astype(np.float32)
    motion = (rng.random((h, w), np.float32) * np.float32(rng.choice([0.05, 0.12, 1.0]))).astype(np.float32)
    motion[rng.random((h, w)) < 0.2] = np.float32(T.MOTION_FULL)  # keep exactly 0 there
    streak = rng.integers(-T.RELEASE_FRAMES, T.RELEASE_FRAMES + 1, (h, w)).astype(np.int8)
    strength = float(rng.choice([0.3, 0.8, 0.9, 1.0]))
    return previous, current, motion, strength, streak


def test_smoothing_is_the_numpy_steps_to_the_bit(monkeypatch):
    calls = _counted(monkeypatch, K, "smooth_into")
    rng = np.random.default_rng(19)
    for i in range(600):
        previous, current, motion, strength, streak = _smooth_case(rng, i)
        got = T.smooth_mask(previous, current, motion, strength, streak.copy())
        want = _smooth_before(previous, current, motion, strength, streak.copy())
        _equal(got[0], want[0])
        _equal(got[1], want[1])
    assert len(calls) == 600


def test_smoothing_chains_as_before_over_frames():
    """Forty frames fed back as the stage feeds them: the held mask and streak stay the same."""
    rng = np.random.default_rng(5)
    held = want_held = None
    streak = want_streak = None
    for _ in range(40):
        current = np.clip(rng.normal(0.5, 0.4, (30, 50)), 0, 1).astype(np.float32)
        motion = (rng.random((30, 50), np.float32) * np.float32(0.15)).astype(np.float32)
        held, streak = T.smooth_mask(held, current, motion, 0.9, streak)
        want_held, want_streak = _smooth_before(want_held, current, motion, 0.9, want_streak)
        _equal(held, want_held)
        _equal(streak, want_streak)


def test_smoothing_hands_out_new_arrays():
    """The held mask goes out with the frame's analysis: the next call must not write into it."""
    previous = np.full((4, 4), 0.5, np.float32)
    motion = np.zeros((4, 4), np.float32)
    out, streak = T.smooth_mask(previous, np.full((4, 4), 0.6, np.float32), motion, 0.9)
    kept = out.copy()
    T.smooth_mask(out, np.full((4, 4), 0.1, np.float32), motion, 0.9, streak)
    _equal(out, kept)


# ---------------------------------------------------------------- the colour-guided fit


def _fit_case(rng, i):
    h, w = (65, 128) if i % 4 == 0 else (int(rng.integers(1, 70)), int(rng.integers(1, 130)))
    guide = rng.random((h, w, 3), np.float32)
    if i % 5 == 1:  # flat colour: the covariance is eps alone
        guide[:] = rng.random(3).astype(np.float32)
    if i % 5 == 2:  # 8-bit levels, as the stage's guide
        guide = (rng.integers(0, 256, (h, w, 3)).astype(np.float32) * np.float32(1 / 255)).astype(np.float32)
    src = rng.random((h, w), np.float32)
    if i % 3 == 0:
        src = (src > 0.5).astype(np.float32)
    return guide, src


@pytest.mark.parametrize("with_shift", [True, False])
def test_the_fit_is_the_numpy_steps_to_the_bit(with_shift, monkeypatch):
    calls = _counted(monkeypatch, K, "fit_solve")
    rng = np.random.default_rng(7)
    space: dict = {}
    for i in range(150):
        guide, src = _fit_case(rng, i)
        radius = int(rng.choice([1, 2, 3]))
        got = T.colour_guided_fit(guide, src, radius, 1e-4, with_shift, space)
        want = _fit_before(guide, src, radius, 1e-4, with_shift)
        for g, w in zip(got, want):
            if w is None:
                assert g is None
            else:
                _equal(g, w)
    assert len(calls) == 150


def test_the_fit_hands_out_its_own_arrays():
    """Its results outlive the next call (the work buffers in ``space`` are reused)."""
    rng = np.random.default_rng(1)
    space: dict = {}
    first = T.colour_guided_fit(*_fit_case(rng, 0), 2, 1e-4, True, space)
    kept = [a.copy() for a in first]
    T.colour_guided_fit(*_fit_case(rng, 0), 2, 1e-4, True, space)
    for a, b in zip(first, kept):
        _equal(a, b)


# ---------------------------------------------------------------- the half-size fit inputs


def test_the_half_size_inputs_are_the_resizes_to_the_bit():
    """OpenCV's general area shrink (an odd number of rows) repeated: random pictures, flat ones
    (ties in the rounding), hard masks, and the landscape model's 256 x 131 most often."""
    rng = np.random.default_rng(11)
    compiled = 0
    for i in range(500):
        if i % 2:
            h, w = 131, 256
        else:
            h, w = int(rng.integers(1, 200)), 2 * int(rng.integers(1, 150)) - int(rng.integers(0, 2))
        small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 4 == 0:
            small[:] = rng.integers(0, 256, 3)
        mask = (rng.random((h, w), np.float32) ** np.float32(rng.uniform(0.3, 4))).astype(np.float32)
        if i % 5 == 0:
            mask = (mask > 0.5).astype(np.float32)
        got, want = PM._halved(small, mask), _halved_before(small, mask)
        _equal(got[0], want[0])
        _equal(got[1], want[1])
        compiled += w % 2 == 0 and h > 2 and h % max(1, h // 2) != 0
    assert compiled > 250  # the compiled pass was the one compared


def test_the_area_table_is_opencvs():
    """One source pixel shared out as OpenCV shares it: resizing a single bright row or column
    gives each output the table's share of it."""
    for size, out in [(131, 65), (7, 3), (100, 33), (5, 2)]:
        di, si, share = K.area_table(size, out)
        for s in range(size):
            line = np.zeros((size, 1), np.float32)
            line[s] = 1.0
            want = cv2.resize(line, (1, out), interpolation=cv2.INTER_AREA)[:, 0]
            got = np.zeros(out, np.float32)
            np.add.at(got, di[si == s], share[si == s])
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- settling


def test_settling_is_the_numpy_steps_to_the_bit(monkeypatch):
    calls = _counted(monkeypatch, K, "settle_points")
    rng = np.random.default_rng(3)
    for i in range(300):
        h, w = int(rng.integers(2, 90)), int(rng.integers(2, 160))
        alpha = rng.integers(0, 256, (h, w), dtype=np.uint8)
        alpha[rng.random((h, w)) < 0.5] = rng.choice([0, 255])
        previous = rng.integers(0, 256, (h, w), dtype=np.uint8)
        mh, mw = max(1, h // int(rng.integers(1, 4))), max(1, w // int(rng.integers(1, 4)))
        motion = (rng.random((mh, mw), np.float32) * np.float32(0.04)).astype(np.float32)
        motion[rng.random((mh, mw)) < 0.1] = np.float32(T.SETTLE_STILL)  # the bound itself is not still
        points = T.ramp(alpha) if i % 2 else None
        got = T.settle(alpha.copy(), previous, motion, points)
        want = _settle_before(alpha.copy(), previous, motion, points)
        _equal(got, want)
    assert len(calls) > 250  # all but pictures without a ramp


# ---------------------------------------------------------------- the edge band


def test_the_edge_band_is_the_numpy_steps_to_the_bit(monkeypatch):
    """The ramp's points found before settling, some of them settled off the ramp since."""
    calls = _counted(monkeypatch, K, "band_points")
    rng = np.random.default_rng(8)
    for i in range(300):
        h, w = int(rng.integers(1, 90)), int(rng.integers(1, 160))
        alpha = rng.choice(np.array([0, 3, 4, 5, 6, 128, 249, 250, 251, 255], np.uint8), (h, w))
        candidates = T.ramp(alpha)
        alpha[rng.random((h, w)) < 0.3] = rng.choice([0, 4, 251, 255])
        scale = int(rng.choice([1, 2, 3]))
        got = T.edge_band(alpha, scale, candidates)
        want = _edge_band_before(alpha, scale, candidates)
        _equal(got[0], want[0])
        _equal(got[1], want[1])
    assert len(calls) == 300



# ---------------------------------------------------------------- the edge colour


def _edge_colour_before(image, mask, flat, shift):
    return T.decontaminate(T.take_pixels(image, flat), np.take(mask.reshape(-1), flat), shift)


def test_the_edge_colour_is_the_gathers_and_decontaminate_to_the_bit(monkeypatch):
    """Random frames, masks and shifts, 1, 4 or 9 pixels a shift (the working scale 1, 2, 3):
    shifts whose room share lands on halves (ties of cv2.add's rounding to whole numbers), shifts
    past saturation both ways, NaN and infinite ones; an index outside the frame is the numpy
    steps' IndexError, as before."""
    calls = _counted(monkeypatch, K, "edge_colour_into")
    rng = np.random.default_rng(11)
    for i in range(300):
        h, w = int(rng.integers(1, 60)), int(rng.integers(1, 90))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        mask = rng.choice(np.array([0, 1, 127, 128, 254, 255], np.uint8), (h, w)) if i % 3 == 0 else \
            rng.integers(0, 256, (h, w), dtype=np.uint8)
        block = int(rng.choice([1, 4, 9]))
        m = int(rng.integers(0, 40))
        flat = rng.integers(0, h * w, m * block).astype(np.intp)
        shift = (rng.standard_normal((m, 3)) * 120).astype(np.float32)
        if i % 4 == 1:
            shift = (rng.integers(-300, 300, (m, 3)) + np.float32(0.5)).astype(np.float32)
        if i % 10 == 7 and m:
            shift.reshape(-1)[rng.integers(0, 3 * m, 3)] = [np.nan, np.inf, -np.inf]
            shift.reshape(-1)[rng.integers(0, 3 * m)] = np.float32(1e12)
        got = T.edge_colour(image, mask, flat, shift)
        with np.errstate(invalid="ignore"):  # inf x 0 in the numpy steps: NaN, which OpenCV saturates
            want = _edge_colour_before(image, mask, flat, shift)
        _equal(got, want)
    assert len(calls) > 250  # all but the cases without a shift
    image, mask = np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5), np.uint8)
    with pytest.raises(IndexError):
        T.edge_colour(image, mask, np.array([3, 20], np.intp), np.ones((2, 3), np.float32))

# ---------------------------------------------------------------- the model input


def test_the_general_area_shrink_is_opencvs_to_the_bit():
    """Random sizes shrunk by factors that are not whole, 1080p's 480 x 270 to 256 x 131 most
    often; flat pictures (ties in the rounding) and hard black and white ones."""
    rng = np.random.default_rng(4)
    for i in range(400):
        w, h = (480, 270) if i % 3 == 0 else (int(rng.integers(2, 500)), int(rng.integers(2, 300)))
        dw, dh = (256, 131) if i % 3 == 0 else (int(rng.integers(1, w + 1)), int(rng.integers(1, h + 1)))
        if w % dw == 0 and h % dh == 0:
            continue
        picture = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 4 == 1:
            picture[:] = rng.integers(0, 256, 3)
        if i % 7 == 2:
            picture = (picture > 127).astype(np.uint8) * 255
        got = np.empty((dh, dw * 3), np.uint8)
        K.area_shrink(picture.reshape(h, -1), *K.area_table(w, dw), *K.area_table(h, dh), got)
        _equal(got.reshape(dh, dw, 3), cv2.resize(picture, (dw, dh), interpolation=cv2.INTER_AREA))


def test_the_half_frame_is_opencvs_area_shrink_to_the_bit(monkeypatch):
    """Frames halved (the edge work's working frame, the model input's halvings) against
    cv2.resize's INTER_AREA: 720p and 1080p, random even and odd sizes (odd ones keep to OpenCV),
    flat pictures and pairs of values whose block sums end in every rounding (sum % 4), hard black
    and white, a view that is not one block of memory, and a caller's buffer."""
    calls = _counted(monkeypatch, K, "halve_into")
    rng = np.random.default_rng(8)
    sizes = [(1280, 720), (1920, 1080), (640, 360), (2, 2), (4, 6)] + [
        (int(rng.integers(1, 400)), int(rng.integers(1, 300))) for _ in range(120)]
    even = 0
    for i, (w, h) in enumerate(sizes):
        picture = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 4 == 1:
            picture[:] = rng.integers(0, 256, 3)
        if i % 5 == 2:
            picture = (picture > 127).astype(np.uint8) * 255
        if i % 6 == 3:  # two values a level or two apart: every remainder of the four-pixel sums
            picture = (rng.integers(0, 2, (h, w, 3)) + rng.integers(0, 254)).astype(np.uint8)
        if w // 2 and h // 2:
            want = cv2.resize(picture, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            _equal(T.halve(picture), want)
            into = np.empty_like(want)
            assert T.halve(picture, into) is into
            _equal(into, want)
            even += w % 2 == 0 and h % 2 == 0
    wide = rng.integers(0, 256, (720, 1400, 3), dtype=np.uint8)[:, :1280]
    _equal(T.halve(wide), cv2.resize(wide, (640, 360), interpolation=cv2.INTER_AREA))
    frame = video_frames("lp_s18_room_landscape.mp4", 1, (1280, 720))[0]
    _equal(T.halve(frame), cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA))
    assert len(calls) == 2 * even + 1  # every even-sized contiguous BGR frame took the compiled loop


@pytest.mark.parametrize("model", ["landscape", "general"])
def test_the_model_sized_frame_is_the_resizes_to_the_bit(model, monkeypatch):
    import livecam.analysis.segmenter as segmenter_module

    calls = _counted(monkeypatch, segmenter_module, "area_shrink")
    seg = Segmenter(model, "cpu", 1)
    rng = np.random.default_rng(6)
    for w, h in [(1920, 1080), (1280, 720), (640, 480), (1000, 562), (2560, 1440), (300, 200), (3840, 2160)]:
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        _equal(seg.shrink(frame), _shrink_before(seg, frame))
        if w % 2 == 0 and h % 2 == 0:
            half = cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            _equal(seg.shrink(frame, half), _shrink_before(seg, frame, half))
    assert calls  # 1080p's last step is the compiled one


@pytest.mark.parametrize("model", ["landscape", "general"])
def test_the_model_input_is_the_conversion_border_and_normalize(model, monkeypatch):
    import livecam.analysis.segmenter as segmenter_module

    calls = _counted(monkeypatch, segmenter_module, "tensor_into")
    seg = Segmenter(model, "cpu", 1)
    rng = np.random.default_rng(2)
    every = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(-1, 16, 3)
    heights = {seg.rows(1280, 720), seg.rows(640, 480), seg.input_height, 1, 3}
    for rows in sorted(heights):
        for small in (rng.integers(0, 256, (rows, seg.width, 3), np.uint8),
                      np.resize(every, (rows, seg.width, 3)).astype(np.uint8)):
            want = _tensor_before(seg, small)
            got = seg.to_tensor(small)
            _equal(got, want)
            padded = np.zeros((rows, seg.width, 4), np.uint8)
            padded[..., :3] = small
            _equal(seg.to_tensor(padded[..., :3]), want)  # not contiguous: the OpenCV steps
            assert seg._top == (round(TOP_MARGIN * rows) if rows + round(TOP_MARGIN * rows) <= seg.input_height else 0)
    assert len(calls) == 2 * len(heights)


# ---------------------------------------------------------------- the stage on real frames


def _stage_outputs(frames, monkeypatch=None, before=False):
    if before:
        monkeypatch.setattr(T, "smooth_mask", _smooth_before)
        monkeypatch.setattr(T, "colour_guided_fit", lambda g, s, r, e, w=True, space=None: _fit_before(g, s, r, e, w))
        monkeypatch.setattr(T, "settle", _settle_before)
        monkeypatch.setattr(T, "edge_band", _edge_band_before)
        monkeypatch.setattr(T, "edge_colour", _edge_colour_before)
        monkeypatch.setattr(PM, "_halved", _halved_before)
        monkeypatch.setattr(T, "halve", lambda image, dst=None: cv2.resize(
            image, (image.shape[1] // 2, image.shape[0] // 2), dst=dst, interpolation=cv2.INTER_AREA))
        monkeypatch.setattr(Segmenter, "to_tensor", lambda self, small: _tensor_before_keeping(self, small))
    return mask_stage_outputs(frames)


def _tensor_before_keeping(segmenter, small):
    rows = small.shape[0]
    segmenter._rows, segmenter._top = rows, round(TOP_MARGIN * rows)
    if rows + segmenter._top > segmenter.input_height:
        segmenter._top = 0
    return _tensor_before(segmenter, small)


def test_the_mask_stage_gives_what_it_gave_before_on_real_frames(monkeypatch):
    frames = video_frames("lp_s18_room_landscape.mp4", 24, (1280, 720))
    now = _stage_outputs(frames)
    before = _stage_outputs(frames, monkeypatch, before=True)
    assert len(now) == len(before) == len(frames)
    for got, want in zip(now, before):
        for g, w in zip(got, want):
            _equal(g, w)
