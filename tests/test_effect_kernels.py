"""The compiled loops of ``livecam.effects.effect_kernels`` give exactly what the OpenCV calls they
replace give: the key light's room dimming (every value and gain), its lit box (random frames,
gains and boxes, against ``key_light.lit``; from a coarse grid within a level of it), the
touch-up's self-guided skin (against ``self_guided`` and its 8-bit rounding) and its blend (every smooth, roi and alpha triple); and the
key light and the touch-up draw the same pixels with them as without them, on real frames."""
import cv2
import numpy as np
import pytest

pytest.importorskip("numba")

from conftest import clip_frames  # noqa: E402

from livecam.effects import effect_kernels as kernels  # noqa: E402
from livecam.effects import key_light  # noqa: E402
from livecam.effects import touch_up  # noqa: E402
from livecam.effects import BackgroundSettings, KeyLightSettings  # noqa: E402
from livecam.settings import TouchUpSettings  # noqa: E402
from livecam.types import Analysis  # noqa: E402

_VALUES = np.arange(256, dtype=np.uint8)


def test_the_room_dimming_is_cv2_multiply_for_every_value_and_gain():
    values, gains = (np.ascontiguousarray(a) for a in np.meshgrid(_VALUES, _VALUES, indexing="ij"))
    # 3 x 65,536 bytes, so OpenCV's vector loop and its tail both see each pair somewhere.
    values, gains = (np.repeat(a.reshape(-1, 1), 3, 1).reshape(256, 256, 3) for a in (values, gains))
    got = np.empty_like(values)
    kernels.scale_into(values.reshape(-1), gains.reshape(-1), got.reshape(-1))
    np.testing.assert_array_equal(got, cv2.multiply(values, gains, scale=1.0 / 255.0))
    for width in (1, 5, 17, 33):  # short rows: OpenCV's scalar path
        v, g = values[:1, :width], gains[:1, :width]
        got = np.empty_like(v)
        kernels.scale_into(v.reshape(-1), g.reshape(-1), got.reshape(-1))
        np.testing.assert_array_equal(got, cv2.multiply(v, g, scale=1.0 / 255.0))


def _frame_and_gain(rng, rows, cols):
    frame = rng.integers(0, 256, (rows, cols, 3), np.uint8)
    frame[rng.random((rows, cols)) < 0.1] = rng.integers(240, 256, 3)  # near the shoulder's top
    gain = rng.uniform(0.6, 2.4, (rows, cols)).astype(np.float32)
    gain[rng.random((rows, cols)) < 0.2] = 1.0  # untouched pixels
    gain[rng.random((rows, cols)) < 0.05] = 0.0
    return frame, gain


def test_the_lit_box_is_lit_for_random_frames_gains_and_boxes():
    rng = np.random.default_rng(7)
    pixels = 0
    for _ in range(300):
        rows, cols = (int(v) for v in rng.integers(1, 120, 2))
        frame, _ = _frame_and_gain(rng, rows, cols)
        y0, x0 = int(rng.integers(0, rows)), int(rng.integers(0, cols))
        y1, x1 = int(rng.integers(y0, rows + 1)), int(rng.integers(x0, cols + 1))
        if (y1 - y0) * (x1 - x0) == 1:
            continue  # lit()'s OpenCV calls read a (1, 1) box's scratch unset (its output varies run to run)
        # The gain and luma buffers are bigger than the box, which starts at ``at`` in them.
        r0, c0 = (int(v) for v in rng.integers(0, 6, 2))
        _, gain = _frame_and_gain(rng, y1 - y0 + r0 + int(rng.integers(0, 4)), x1 - x0 + c0 + int(rng.integers(0, 4)))
        luma = rng.integers(0, 256, gain.shape, np.uint8)
        luma[r0:r0 + y1 - y0, c0:c0 + x1 - x0] = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY) \
            if y1 > y0 and x1 > x0 else 0
        base = rng.integers(0, 256, frame.shape, np.uint8)
        expected = base.copy()
        if y1 > y0 and x1 > x0:
            expected[y0:y1, x0:x1] = key_light.lit(frame[y0:y1, x0:x1], gain[r0:r0 + y1 - y0, c0:c0 + x1 - x0],
                                                   key_light.Scratch(), luma[r0:r0 + y1 - y0, c0:c0 + x1 - x0])
        got = base.copy()
        key_light.lit_box(frame, got, (x0, y0, x1, y1), gain, luma, (r0, c0), key_light.Scratch())
        np.testing.assert_array_equal(got, expected)  # the box as lit() makes it, the rest untouched
        pixels += (y1 - y0) * (x1 - x0)
    assert pixels > 50_000


def test_the_lit_box_takes_views_through_lit():
    rng = np.random.default_rng(8)
    frame, gain = _frame_and_gain(rng, 40, 60)
    luma = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    expected = frame.copy()
    expected[5:30, 10:50] = key_light.lit(frame[5:30, 10:50], gain[5:30, 10:50], key_light.Scratch(), luma[5:30, 10:50])
    wide = np.zeros((40, 120, 3), np.uint8)
    wide[:, ::2] = frame  # a strided frame: not the compiled loop's, so lit() draws it
    got = frame.copy()
    key_light.lit_box(wide[:, ::2], got, (10, 5, 50, 30), gain, luma, (5, 10), key_light.Scratch())
    np.testing.assert_array_equal(got, expected)


def test_the_lit_box_from_a_grid_is_the_enlarged_gain_lit_within_a_level():
    """The key light's loop enlarges its coarse gain grid itself (one row at a time, as
    cv2.resize's INTER_LINEAR places it) instead of reading a resized gain: an ulp from
    cv2.resize's values and a root an ulp from cv2.magnitude's put a rare pixel a level apart."""
    rng = np.random.default_rng(17)
    values = changed = 0
    for _ in range(120):
        gh, gw = (int(v) for v in rng.integers(2, 30, 2))
        span = (int(rng.integers(gh, 8 * gh + 2)), int(rng.integers(gw, 8 * gw + 2)))  # (h, w) the grid covers
        frame, _ = _frame_and_gain(rng, span[0] + 7, span[1] + 9)
        by, bx = int(rng.integers(0, 8)), int(rng.integers(0, 10))  # where the span starts in the frame
        grid = rng.uniform(0.6, 2.4, (gh, gw)).astype(np.float32)
        luma = cv2.cvtColor(np.ascontiguousarray(frame[by:by + span[0], bx:bx + span[1]]), cv2.COLOR_BGR2GRAY)
        r0, c0 = int(rng.integers(0, span[0])), int(rng.integers(0, span[1]))
        r1, c1 = int(rng.integers(r0 + 1, span[0] + 1)), int(rng.integers(c0 + 1, span[1] + 1))
        box = (bx + c0, by + r0, bx + c1, by + r1)
        gain = cv2.resize(grid, (span[1], span[0]), interpolation=cv2.INTER_LINEAR)
        expected = frame.copy()
        if (r1 - r0) * (c1 - c0) > 1:  # lit()'s OpenCV calls read a (1, 1) box's scratch unset
            expected[by + r0:by + r1, bx + c0:bx + c1] = key_light.lit(
                frame[by + r0:by + r1, bx + c0:bx + c1], gain[r0:r1, c0:c1], key_light.Scratch(), luma[r0:r1, c0:c1])
        got = frame.copy()
        key_light.lit_box(frame, got, box, grid, luma, (r0, c0), key_light.Scratch(), span)
        if (r1 - r0) * (c1 - c0) == 1:
            continue
        diff = np.abs(got.astype(int) - expected)
        assert diff.max() <= 1
        outside = np.ones(frame.shape[:2], bool)
        outside[by + r0:by + r1, bx + c0:bx + c1] = False
        np.testing.assert_array_equal(got[outside], frame[outside])  # nothing written past the box
        values += 3 * (r1 - r0) * (c1 - c0)
        changed += int(np.count_nonzero(diff))
    assert values > 50_000 and changed <= 1e-4 * values, (values, changed)


def test_the_quarter_area_step_is_resizes_to_the_byte():
    rng = np.random.default_rng(12)
    frames, _ = clip_frames("lp_s18_room_landscape.mp4", 3)
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    grays += [rng.integers(0, 256, (int(h), int(w)), np.uint8) for h, w in rng.integers(4, 300, (200, 2))]
    grays += [rng.choice(np.uint8([0, 255]), (97, 131)), np.full((8, 8), 7, np.uint8)]  # halves: to even
    for gray in grays:
        h, w = gray.shape[0] // 4, gray.shape[1] // 4
        got = np.empty((h, w), np.uint8)
        kernels.quarter_area(gray, got)
        np.testing.assert_array_equal(got, cv2.resize(gray[:4 * h, :4 * w], (w, h), interpolation=cv2.INTER_AREA))


def _ulps(got, expected):
    expected = np.asarray(expected, np.float32)
    return float((np.abs(got.astype(np.float64) - expected) / np.spacing(np.abs(expected))).max())


def test_the_room_gain_loop_is_the_numpy_steps_within_two_ulps():
    rng = np.random.default_rng(13)
    room = key_light.KeyLight(KeyLightSettings(strength=70), BackgroundSettings(mode="off"))
    for _ in range(200):
        lights = []
        for _ in range(int(rng.integers(1, 4))):
            light = key_light._Light(np.zeros((468, 3), np.float32), opacity=float(rng.uniform(0, 1)))
            light.follow(light.landmarks, rng.uniform(0, 1280, 2).astype(np.float32), float(rng.uniform(20, 400)))
            lights.append(light)
        rows, cols = (int(v) for v in rng.integers(1, 90, 2))
        origin, cell = tuple(rng.integers(0, 900, 2)), tuple(rng.uniform(1, 30, 2))
        shift = 0.5 if rng.random() < 0.5 else 0.0
        ys, xs = key_light._cells(rows, cols)
        expected = room._room_gain((xs + 0.5) * cell[0] + origin[0] - shift, (ys + 0.5) * cell[1] + origin[1] - shift,
                                   lights)
        got = room._room_grid((rows, cols), origin, cell, shift, lights)
        assert got.dtype == np.float32 and _ulps(got, expected) <= 2


def test_the_face_gain_and_encoding_loops_are_the_numpy_steps_within_two_ulps(monkeypatch):
    rng = np.random.default_rng(14)
    for k in range(200):
        shape = tuple(int(v) for v in rng.integers(2, 50, 2))
        smooth, facing, mask, neck = (rng.uniform(0, 1, shape).astype(np.float32) for _ in range(4))
        smooth[rng.random(shape) < 0.1] = 0.0
        prev = rng.uniform(1, 2, shape).astype(np.float32) if k % 2 else None
        ref, strength, opacity = (float(v) for v in rng.uniform(0, 1, 3))
        grid = rng.uniform(0.5, 1.002, shape).astype(np.float32)
        grid[rng.random(shape) < (0.05 if k % 3 else 0.0)] = 1.5  # some lit cells, or none

        def both():
            even, gain = key_light.face_gain(smooth, ref, None if prev is None else prev.copy(), facing, mask, neck,
                                             strength, opacity)
            return even, gain, *key_light.encode_reach(grid)

        fast = both()
        with monkeypatch.context() as patch:
            patch.setattr(kernels, "READY", False)
            slow = both()
        for a, b in zip(fast[:3], slow[:3]):
            assert a.dtype == np.float32 and a.shape == shape and _ulps(a, b) <= 2
        assert fast[3] == slow[3]  # the same rows and columns lit


def _reference_skin(small, radius, tone=None):
    """touch_up's steps before the compiled loops: self_guided, x 255, the tone, rounded."""
    x = small.astype(np.float32) * np.float32(1 / 255)
    smooth = touch_up.self_guided(x, radius, touch_up.GUIDED_EPS) * np.float32(255)
    if tone is not None:
        smooth += tone
    return np.clip(smooth + 0.5, 0, 255).astype(np.uint8)


def test_the_smoothed_skin_is_the_self_guided_filter(astronaut, hopper):
    rng = np.random.default_rng(9)
    cases = [rng.integers(0, 256, (int(h), int(w), 3), np.uint8) for h, w in rng.integers(1, 70, (40, 2))]
    cases += [cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA) for p in (astronaut, hopper)
              for w, h in ((128, 150), (97, 113))]
    cases += [np.full((30, 40, 3), 255, np.uint8), np.zeros((30, 40, 3), np.uint8)]
    for small in cases:
        for radius in (1, 3, 5):
            tone = rng.uniform(-30, 30, small.shape).astype(np.float32)
            for t in (None, tone):
                got = touch_up.smoothed_skin(small, radius, t)
                np.testing.assert_array_equal(got, _reference_skin(small, radius, t))


def _reference_blend(smooth, alpha, roi):
    """touch_up's blend before the compiled loop, into ``roi`` (a view of the frame)."""
    alpha3 = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)
    term = cv2.multiply(smooth, alpha3, scale=1 / 255)
    cv2.bitwise_not(alpha3, dst=alpha3)
    cv2.add(term, cv2.multiply(roi, alpha3, scale=1 / 255, dst=alpha3), dst=roi)


def test_the_skin_blend_is_the_calls_for_every_smooth_roi_and_alpha():
    smooth, roi = (np.repeat(a[..., None], 3, 2) for a in np.meshgrid(_VALUES, _VALUES, indexing="ij"))
    smooth, roi = np.ascontiguousarray(smooth), np.ascontiguousarray(roi)
    for a in range(256):
        alpha = np.full((256, 256), a, np.uint8)
        expected, got = roi.copy(), roi.copy()
        _reference_blend(smooth, alpha, expected)
        assert touch_up._blend(got, smooth, alpha, 0, 0)
        np.testing.assert_array_equal(got, expected)


def test_the_skin_blend_writes_its_box_only_and_refuses_one_off_the_frame():
    rng = np.random.default_rng(10)
    frame = rng.integers(0, 256, (50, 70, 3), np.uint8)
    smooth, alpha = rng.integers(0, 256, (20, 30, 3), np.uint8), rng.integers(0, 256, (20, 30), np.uint8)
    expected, got = frame.copy(), frame.copy()
    _reference_blend(smooth, alpha, expected[12:32, 25:55])
    assert touch_up._blend(got, smooth, alpha, 25, 12)
    np.testing.assert_array_equal(got, expected)
    for x0, y0 in ((41, 0), (0, 31), (-1, 0)):
        assert not touch_up._blend(got, smooth, alpha, x0, y0)
    np.testing.assert_array_equal(got, expected)  # nothing written past the frame


def test_key_light_and_touch_up_draw_the_same_pixels_with_the_kernels_and_without(monkeypatch):
    frames, faces = clip_frames("lp_s18_room_landscape.mp4", 30)
    assert sum(bool(f) for f in faces) >= 25

    def run():
        effects = [key_light.KeyLight(KeyLightSettings(strength=70), BackgroundSettings(mode=mode))
                   for mode in ("blur", "image")] + [touch_up.TouchUp(TouchUpSettings(strength=s)) for s in (60, 100)]
        return [[e.apply(f, Analysis(faces=fc))[0] for f, fc in zip(frames, faces)] for e in effects]

    fast = run()
    with monkeypatch.context() as patch:
        patch.setattr(key_light, "_c_ordered", lambda *_: False)
        patch.setattr(touch_up, "_blendable", lambda *_: False)
        patch.setattr(touch_up, "smoothed_skin", _reference_skin)
        slow = run()
    with monkeypatch.context() as patch:  # numba unable to compile the loops (livecam.jit)
        patch.setattr(kernels, "READY", False)
        without = run()
    # The touch-up's loops give its calls' bytes. The key light's lit box takes an exact root where
    # lit() has cv2.magnitude and enlarges its gain an ulp from cv2.resize, and its room gain takes
    # LLVM's exp where numpy has its own: a level apart now and then, nowhere more (tests above
    # bound each loop on its own).
    changed = 0
    for k, (outs_fast, outs_slow, outs_without) in enumerate(zip(fast, slow, without)):
        for frame, a, b, c in zip(frames, outs_fast, outs_slow, outs_without):
            for other in (b, c):
                diff = np.abs(a.astype(int) - other)
                if k < 2:
                    assert diff.max() <= 1 and np.count_nonzero(diff) <= 1e-4 * diff.size, (k, diff.max())
                else:
                    np.testing.assert_array_equal(a, other)
            changed += int((a != frame).any())
    assert changed >= 4 * 20  # the effects did draw on these frames


def _eye_patch(rng):
    """A random eye-sized BGR patch as a view into a larger frame (not C-ordered, as eye contact's
    are), its inner opening (a feathered random blob) and an iris centre and radius on it."""
    h, w = int(rng.integers(4, 60)), int(rng.integers(6, 90))
    frame = rng.integers(0, 256, (h + 5, w + 7, 3), dtype=np.uint8)
    blob = np.where(rng.random((h, w)) < rng.uniform(0.2, 1.0), 255, 0).astype(np.uint8)
    inner = np.where(cv2.GaussianBlur(blob, (0, 0), 0.8) > 127, 255, 0).astype(np.uint8)
    return frame[2:2 + h, 3:3 + w], inner, rng.uniform(-2, w + 2), rng.uniform(-2, h + 2), rng.uniform(1, 20)


def test_the_eye_colours_loop_is_the_calls():
    """Eye contact's iris and white colours and the iris's mask, from the loop and from the OpenCV
    calls it stands for, on random patches: the same to the bit (the loop's float32 root and
    cv2.magnitude could put a pixel lying on a radius on either side; none of these cases does)."""
    from livecam.effects import eye_contact

    rng = np.random.default_rng(11)
    whites = 0
    for _ in range(1500):
        roi, inner, ix, iy, r = _eye_patch(rng)
        fast, calls = eye_contact._colours(roi, inner, ix, iy, r), eye_contact._colours_calls(roi, inner, ix, iy, r)
        assert fast[0].dtype == fast[1].dtype == np.float32
        for a, b in zip(fast, calls):
            np.testing.assert_array_equal(a, b)
        whites += not np.array_equal(fast[0], fast[1])
    assert whites > 500  # the white's own colour was found, not only the iris's


def test_the_eroded_inside_is_erode_of_the_threshold():
    """Eye contact's inner opening: erode(compare(opening, 127, GT)) and its count, every size from
    2 x 2 (OpenCV treats a 1 x 1 array as a scalar; the effect never makes one smaller than 4 x 6)."""
    from livecam.effects import eye_contact

    rng = np.random.default_rng(12)
    for n in range(2000):
        h, w = int(rng.integers(2, 50)), int(rng.integers(2, 80))
        opening = rng.integers(0, 256, (h, w), dtype=np.uint8)
        if n % 2:  # an antialiased opening, as the effect draws
            opening = cv2.GaussianBlur(np.where(rng.random((h, w)) < 0.7, 255, 0).astype(np.uint8), (0, 0), 1.0)
        inner = np.empty_like(opening)
        count = kernels.eroded_inside(opening, inner)
        expected = cv2.erode(cv2.compare(opening, 127, cv2.CMP_GT), np.ones((3, 3), np.uint8))
        np.testing.assert_array_equal(inner, expected)
        assert count == cv2.countNonZero(expected)


def test_the_badge_draws_the_label_as_its_float_steps_do():
    from livecam.effects.badge import Badge

    rng = np.random.default_rng(11)
    for h, w in ((720, 1280), (1080, 1920), (240, 320), (60, 90), (12, 40)):
        frame = rng.integers(0, 256, (h, w, 3), np.uint8)
        badge = Badge()
        got, _ = badge.apply(frame, Analysis(altered=True))
        x0, y0, x1, y1 = badge.position((w, h))
        colour, alpha = badge._label_for(h)
        colour, alpha = colour[: y1 - y0, : x1 - x0], alpha[: y1 - y0, : x1 - x0]
        expected = frame.copy()
        a = alpha[..., None]
        under = frame[y0:y1, x0:x1].astype(np.float32)
        expected[y0:y1, x0:x1] = np.clip(colour * a + under * (1 - a), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(got, expected)
        assert (got != frame).any() and got is not frame
        with pytest.MonkeyPatch.context() as patch:  # numba unable to compile the loop (livecam.jit)
            patch.setattr(kernels, "READY", False)
            np.testing.assert_array_equal(Badge().apply(frame, Analysis(altered=True))[0], expected)


def test_the_tone_pairs_are_cv2_lut_for_every_byte_pair_and_frame_shape():
    from livecam.effects.low_light import Tone, to_lut, tone_curve

    rng = np.random.default_rng(3)
    # Every (first, second) byte pair at every offset from a four-byte boundary in the frame.
    pairs = np.stack(np.meshgrid(_VALUES, _VALUES, indexing="ij"), -1).reshape(-1)
    frame = np.tile(np.concatenate([np.roll(pairs, -k) for k in range(4)]), 3).reshape(512, 1024, 3)
    for lut in (to_lut(tone_curve(0.08)), to_lut(tone_curve(2.0, 0.6, 1.2)), rng.permutation(_VALUES)):
        tone = Tone(lut)
        assert tone.pairs is not None
        np.testing.assert_array_equal(tone.apply(frame), cv2.LUT(frame, lut))
        odd_start = frame.reshape(-1)[2:602].reshape(10, 20, 3)  # even, not a multiple of four
        locked = frame[:8].copy()
        locked.flags.writeable = False
        for view in (frame[:5, :7], frame[1:4], frame[:3, :3], np.ascontiguousarray(frame[:3, :3]), odd_start, locked):
            # views that are not C-ordered, of a size or start that is no multiple of 4 bytes, read-only: cv2.LUT
            np.testing.assert_array_equal(tone.apply(view), cv2.LUT(view, lut))
    warm = rng.integers(0, 256, (1, 256, 3), np.uint8)  # one table a channel: cv2.LUT
    assert Tone(warm).pairs is None
    np.testing.assert_array_equal(Tone(warm).apply(frame), cv2.LUT(frame, warm))


def test_low_light_draws_the_same_pixels_with_the_pairs_and_without(monkeypatch, astronaut):
    from livecam.effects.low_light import LowLight
    from livecam.settings import LowLightSettings

    def frames(ready):
        with monkeypatch.context() as patch:
            patch.setattr(kernels, "READY", ready)
            outs = []
            for settings in (LowLightSettings(mode="manual", exposure=0.7, shadows=0.8),
                             LowLightSettings(mode="manual", exposure=0.7, warmth=30)):
                effect = LowLight(settings)
                outs.append(effect.enhance(astronaut, Analysis()))
            dark = (astronaut // 4).astype(np.uint8)
            effect = LowLight(LowLightSettings(mode="auto"))
            outs += [effect.enhance(dark, Analysis()) for _ in range(3)]
            return outs

    for got, want in zip(frames(True), frames(False), strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(frames(True)[0], astronaut)  # it did lift
