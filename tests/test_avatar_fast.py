"""The swap's per-frame photometry (``avatar_light``) is written for speed: OpenCV calls on same-shape
images instead of numpy broadcasting over the channel axis, medians by partition, Lab only for the
border ring's cells, the grain traded in 8-bit. It must give what the plain formulation gives: that
formulation (as of commit 416bf97) is kept here as the reference, and the swap with it and without it
is compared on real pairs. The swap works on pixels only over the part of its box the face's alpha
reaches (``Grid.part``): exactly the pixels it gives over the whole box; its wide 8-bit blurs
(``avatar_light.blur8``) give exactly GaussianBlur's values."""
import itertools

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, read_frames

from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import avatar as av
from livecam.effects import avatar_light as light
from livecam.effects import avatar_stage
from livecam.effects import mesh_warp
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Analysis

# ---------------------------------------------------------------- the plain reference


def ref_masked_lowpass(image, weights, sigma):
    w = weights.astype(np.float32)
    img = image.astype(np.float32)
    num = cv2.GaussianBlur(img * (w[..., None] if img.ndim == 3 else w), (0, 0), sigma)
    den = np.maximum(cv2.GaussianBlur(w, (0, 0), sigma), 1e-4)
    return num / (den[..., None] if img.ndim == 3 else den)


class RefSkinModel(light.SkinModel):
    def __init__(self, lab_image, inner, sigma):
        pixels = lab_image[inner > 0]
        if len(pixels) < 8:
            pixels = lab_image.reshape(-1, 3)
        self.median = np.median(pixels, axis=0)
        spread = 1.4826 * np.median(np.abs(pixels - self.median), axis=0)
        self.chroma_spread = max(float(np.hypot(spread[1], spread[2])), light.SKIN_CHROMA_MIN)
        self.dark_spread = max(float(spread[0]), light.SKIN_DARK_MIN)
        self.shading = ref_masked_lowpass(lab_image[..., 0], inner, sigma)

    def score(self, lab_image):
        chroma = np.hypot(lab_image[..., 1] - self.median[1], lab_image[..., 2] - self.median[2]) / self.chroma_spread
        dark = np.maximum(self.shading - lab_image[..., 0], 0.0) / self.dark_spread
        return np.sqrt(chroma * chroma + dark * dark)


def ref_shading_maps(live_low, photo_low, tone=None):
    live_lab, photo_lab = light.lab(live_low), light.lab(photo_low)
    if tone is not None:
        live_lab = live_lab - tone
    shift = live_lab - photo_lab
    shift[..., 0] = np.clip(shift[..., 0], -light.MAX_DL, light.MAX_DL)
    shift[..., 1:] = np.clip(shift[..., 1:], -light.MAX_DAB, light.MAX_DAB)
    target = light.bgr(photo_lab + shift)
    gain = np.clip((photo_lab[..., 0] + shift[..., 0] + light.DETAIL_EPS) / (photo_lab[..., 0] + light.DETAIL_EPS),
                   *light.DETAIL_GAIN)
    offset = target - gain[..., None] * photo_low
    return gain.astype(np.float32), offset.astype(np.float32)


def ref_match_residual(photo, gain, offset, live, weights, sigma, where=None):
    relit = cv2.multiply(photo, cv2.merge([gain, gain, gain]), dtype=cv2.CV_32F) + offset
    residual = ref_masked_lowpass(cv2.subtract(live, relit, dtype=cv2.CV_32F), weights, sigma)
    np.clip(residual, -light.MAX_RESIDUAL, light.MAX_RESIDUAL, out=residual)
    if where is not None:
        residual *= where[..., None]
    return offset + residual


def ref_match_border(photo, gain, offset, live, support, ring, skin, sigma, where, limit, hairline=None, deep=None):
    relit = cv2.multiply(photo, cv2.merge([gain, gain, gain]), dtype=cv2.CV_32F) + offset
    h, w = where.shape
    small = (max(1, w // 2), max(1, h // 2))
    masks = cv2.resize(cv2.merge([np.asarray(m, np.float32) for m in
                                  (support, ring, skin, np.zeros_like(where) if hairline is None else hairline)]),
                       small, interpolation=cv2.INTER_AREA)
    inside, geometry, skin_s, line = cv2.split(masks)
    live_s = cv2.resize(live, small, interpolation=cv2.INTER_AREA)
    colours = cv2.merge([live_s, cv2.resize(relit, small, interpolation=cv2.INTER_AREA)])
    s = sigma / 2
    both = cv2.GaussianBlur(colours * inside[..., None], (0, 0), s)
    both /= np.maximum(cv2.GaussianBlur(inside, (0, 0), s), 1e-4)[..., None]
    own, relit_low = both[..., :3], both[..., 3:]
    ring = geometry * skin_s
    if ring.max() > 0.0:
        inner = inside * skin_s
        core = cv2.erode(inside, np.ones((3, 3), np.uint8)) * skin_s
        refs = cv2.GaussianBlur(cv2.merge([live_s * inner[..., None], live_s * core[..., None], inner, core]),
                                (0, 0), s)
        ref = refs[..., :3] / np.maximum(refs[..., 6], 1e-4)[..., None]
        pair = light.lab(np.vstack([live_s, ref]))
        diff = pair[: small[1]] - pair[small[1]:]
        lo, hi = light.BORDER_RUNS_ON
        ring *= np.clip((hi - cv2.sqrt(cv2.transform(diff * diff, np.ones((1, 3), np.float32)))) / (hi - lo), 0.0, 1.0)
        if hairline is not None:
            top = light.lab(refs[..., 3:6] / np.maximum(refs[..., 7], 1e-4)[..., None])[..., 0]
            lo, hi = light.HAIRLINE_DARK
            ring *= 1.0 - line + line * np.clip((hi - (top - pair[: small[1], :, 0])) / (hi - lo), 0.0, 1.0)
    further = None
    if ring.max() <= 0.0:
        step = own - relit_low
    else:
        spread = cv2.GaussianBlur(cv2.merge([live_s * ring[..., None], ring, geometry]), (0, 0), 2 * s)
        weight = spread[..., 3]
        outer = spread[..., :3] / np.maximum(weight, 1e-4)[..., None]
        conf = np.clip(weight / np.maximum(spread[..., 4] * light.BORDER_SKIN, 1e-6), 0.0, 1.0)[..., None]
        step = conf * (outer - own) + own - relit_low
        if deep is not None:  # the skin's part alone, on from ``where`` to ``deep``
            further = cv2.resize(np.clip(conf * (outer - relit_low), -limit, limit), (w, h),
                                 interpolation=cv2.INTER_LINEAR) * (np.maximum(deep, where) - where)[..., None]
    np.clip(step, -limit, limit, out=step)
    out = offset + cv2.resize(step, (w, h), interpolation=cv2.INTER_LINEAR) * where[..., None]
    return out if further is None else out + further


def ref_grain(image):
    blurred = cv2.GaussianBlur(image, (5, 5), light.GRAIN_SIGMA)
    return cv2.LUT(cv2.addWeighted(image, 1.0, blurred, -1.0, 128.0), light._GRAIN_LUT)


def ref_add_grain(face, live):
    return cv2.addWeighted(cv2.subtract(ref_grain(live), ref_grain(face), dtype=cv2.CV_16S), 1.0, face, 1.0, 0.0,
                           dtype=cv2.CV_8U)


REFERENCE = {"masked_lowpass": ref_masked_lowpass, "SkinModel": RefSkinModel, "shading_maps": ref_shading_maps,
             "match_residual": ref_match_residual, "match_border": ref_match_border, "add_grain": ref_add_grain}


# ---------------------------------------------------------------- unit level, no data needed


def _smooth(rng, shape, scale, lo, hi):
    """A smooth random field (blurred noise) from lo to hi."""
    noise = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), scale)
    noise = (noise - noise.min()) / max(float(noise.max() - noise.min()), 1e-6)
    return (lo + (hi - lo) * noise).astype(np.float32)


def test_each_fast_function_gives_the_plain_formulation():
    rng = np.random.default_rng(7)
    h, w = 61, 53
    yy, xx = np.mgrid[:h, :w]
    oval = ((((yy - 30) / 24.0) ** 2 + ((xx - 26) / 19.0) ** 2) < 1).astype(np.uint8)
    reach = cv2.dilate(oval, np.ones((7, 7), np.uint8))
    live = _smooth(rng, (h, w, 3), 3, 40, 220) + rng.normal(0, 4, (h, w, 3)).astype(np.float32)
    photo = _smooth(rng, (h, w, 3), 2, 30, 230)
    lab_live = light.lab(np.clip(live, 0, 255))
    for inner in (cv2.erode(oval, np.ones((9, 9), np.uint8)), np.zeros_like(oval)):  # and a face too small
        fast, ref = light.SkinModel(lab_live, inner, 4.0), RefSkinModel(lab_live, inner, 4.0)
        np.testing.assert_allclose(fast.median, ref.median, atol=1e-4)
        assert fast.chroma_spread == pytest.approx(ref.chroma_spread, abs=1e-4)
        assert fast.dark_spread == pytest.approx(ref.dark_spread, abs=1e-4)
        np.testing.assert_allclose(fast.likelihood(lab_live), ref.likelihood(lab_live), atol=1e-4)
    weights = _smooth(rng, (h, w), 2, 0, 1) * reach
    for image in (live, live[..., 0]):
        np.testing.assert_allclose(light.masked_lowpass(image, weights, 5.0), ref_masked_lowpass(image, weights, 5.0),
                                   atol=1e-3)
    gain, offset = light.shading_maps(light.masked_lowpass(live, weights, 5.0), photo)
    ref_gain, ref_offset = ref_shading_maps(ref_masked_lowpass(live, weights, 5.0), photo)
    assert gain.dtype == np.float32 and offset.dtype == np.float32
    np.testing.assert_allclose(gain, ref_gain, atol=1e-5)
    np.testing.assert_allclose(offset, ref_offset, atol=1e-3)
    # With the photo's tone kept (a per-cell Lab map, as the swap passes it).
    tone = light.tone_map(np.array([-12.0, 4.0, -3.0], np.float32), _smooth(rng, (h, w), 3, 0, 0.5), (0.1, 0.35))
    kept = light.shading_maps(light.masked_lowpass(live, weights, 5.0), photo, tone)
    ref_kept = ref_shading_maps(ref_masked_lowpass(live, weights, 5.0), photo, tone)
    np.testing.assert_allclose(kept[0], ref_kept[0], atol=1e-5)
    np.testing.assert_allclose(kept[1], ref_kept[1], atol=1e-3)
    assert np.abs(kept[1] - offset).max() > 10.0
    # The shifts really are clamped somewhere (the per-channel limits are exercised).
    assert np.abs(light.lab(live) - light.lab(photo)).max() > light.MAX_DAB
    where = _smooth(rng, (h, w), 3, 0, 1)
    np.testing.assert_allclose(light.match_residual(photo, gain, offset, live, weights, 1.5, where),
                               ref_match_residual(photo, gain, offset, live, weights, 1.5, where), atol=1e-3)
    skin = _smooth(rng, (h, w), 2, 0, 1)
    for hairline in (None, _smooth(rng, (h, w), 4, 0, 1)):
        for ring in (reach - oval, np.zeros_like(oval)):
            args = (photo, gain, offset, live, oval, ring, skin, 2.5, where, 60.0, hairline)
            np.testing.assert_allclose(light.match_border(*args), ref_match_border(*args), atol=1e-3)
            deep = _smooth(rng, (h, w), 3, 0, 1)
            np.testing.assert_allclose(light.match_border(*args, deep), ref_match_border(*args, deep), atol=1e-3)
    face = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
    frame = np.clip(live, 0, 255).astype(np.uint8)
    frame[:5] = 255  # saturated rows: the 8-bit sum must clip as the 16-bit one did
    face[-5:] = 0
    np.testing.assert_array_equal(light.add_grain(face, frame), ref_add_grain(face, frame))
    np.testing.assert_array_equal(light._grain(frame[3:40, 2:30]), ref_grain(frame[3:40, 2:30]))  # a view too


def test_the_8_bit_blur_is_opencvs_gaussian_exactly():
    """``blur8`` rebuilds OpenCV's bit-exact 8-bit Gaussian (its integer kernel and rounding): the same
    values as ``cv2.GaussianBlur``, for narrow and wide kernels, 1, 3 and 4 channels, views, flat and
    saturated images, and kernels wider than the image."""
    rng = np.random.default_rng(11)
    checked = 0
    for shape in ((73, 85), (40, 61, 3), (64, 64, 4), (9, 7), (5, 120)):
        noise = rng.integers(0, 256, shape).astype(np.uint8)
        edges = cv2.GaussianBlur(((rng.random(shape) > 0.6) * 255).astype(np.uint8), (0, 0), 1.0)
        for image in (noise, edges, np.full(shape, 255, np.uint8), noise[2:-1, 3:-2]):
            for sigma in (0.4, 0.9, 1.3125, 2.2, 2.886, 4.5, 7.0, 12.0):
                np.testing.assert_array_equal(light.blur8(image, sigma), cv2.GaussianBlur(image, (0, 0), sigma))
                checked += 1
    assert checked == 5 * 4 * 8


def test_the_maps_padding_is_numpys_odd_reflection():
    """``mesh_warp._pad_odd`` (``Grid.up_map``'s cell of extrapolation round the coarse map) gives
    exactly ``np.pad(..., mode="reflect", reflect_type="odd")``: float32 and float64, one or two
    values a cell, grids down to a single row or column (those stay with np.pad)."""
    rng = np.random.default_rng(21)
    for trial in range(600):
        h, w = (int(v) for v in rng.integers(1, 14, 2))
        shape = (h, w, 2 if trial % 3 else 1)
        a = (rng.normal(0.0, 1.0, shape) * 10.0 ** rng.uniform(-3, 4)).astype(np.float32 if trial % 2 else np.float64)
        got = mesh_warp._pad_odd(a)
        assert got.dtype == a.dtype
        np.testing.assert_array_equal(got, np.pad(a, ((1, 1), (1, 1), (0, 0)), mode="reflect", reflect_type="odd"))


def test_the_swaps_shared_cell_geometry_is_each_helpers_own():
    """What ``FaceSwap.render`` works out once a frame and hands to its helpers (the landmarks in
    1/16 cells, the face oval's cells, the up axis and cell centres) gives each helper exactly what
    it works out alone: real landmarks, moved and scaled, on grids of several steps."""
    landmarks = load_avatar_photo(FIXTURES / "mpl_grace_hopper.jpg", store=False).landmarks.astype(np.float32)
    rng = np.random.default_rng(8)
    checked = 0
    for trial in range(24):
        lm = landmarks * np.float32(rng.uniform(0.3, 1.6)) + rng.uniform(-40, 300, 3).astype(np.float32)
        lm = lm + rng.normal(0, 0.7, lm.shape).astype(np.float32)
        fw = av.face_width(lm)
        grid = mesh_warp.Grid.around(lm, av.BOX_MARGIN, (1280, 720), int(rng.integers(2, 7)))
        if grid is None:
            continue
        points = av.cell_points(lm, grid)
        for poly in (av.regions.FACE_OVAL, *av.FEATURE_POLYS):
            np.testing.assert_array_equal(points[np.asarray(poly)], grid.cell_polys(lm, poly))
        oval = av.oval_cells(lm, grid, points)
        np.testing.assert_array_equal(oval, av.oval_cells(lm, grid))
        grows = (-av.SKIN_INSET, av.SKIN_REACH, 0.0)
        for a, b in zip(av.skin_cells(lm, grid, grows, fw, points, oval), av.skin_cells(lm, grid, grows)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(av.face_alpha(lm, grid, 0.8, fw, points), av.face_alpha(lm, grid, 0.8))
        np.testing.assert_array_equal(av.depth_inside(lm, grid, fw, oval), av.depth_inside(lm, grid))
        axis = av.up_axis(lm, grid)
        np.testing.assert_array_equal(av.upper_face(lm, grid, axis), av.upper_face(lm, grid))
        np.testing.assert_array_equal(av.below_brows(lm, grid, fw, axis), av.below_brows(lm, grid))
        # The brows' top: their mean as np.mean takes it.
        np.testing.assert_array_equal((lm[105, :2] + lm[334, :2]) / 2, lm[[105, 334], :2].mean(0))
        assert oval.any()
        checked += 1
    assert checked >= 20


def test_a_part_of_the_grid_upsamples_to_the_whole_grids_pixels():
    """``Grid.up``/``up_map`` over a part (from ``Grid.part``) give exactly the whole grid's pixels there,
    at the grid's edges (clamped or extrapolated) as inside it."""
    rng = np.random.default_rng(3)
    grid = mesh_warp.Grid(13, 7, 40, 47, 4)
    boxes = [(10, 12, 20, 25), (0, 0, 5, 9), (35, 30, 47, 40), (0, 20, 47, 40), (22, 22, 23, 23)]
    for r0, c0, r1, c1 in boxes:
        cells = np.zeros((grid.rows, grid.cols), np.uint8)
        cells[r0:r1, c0:c1] = 7
        for grow in (0, 1, 2):
            part = grid.part(cells, grow)
            rows, cols = grid.cells_of(part)
            assert rows.start == max(0, r0 - grow) and cols.stop == min(grid.cols, c1 + grow)
            at = (slice(rows.start * 4, rows.stop * 4), slice(cols.start * 4, cols.stop * 4))
            for image in (rng.random((grid.rows, grid.cols), np.float32), rng.random((grid.rows, grid.cols, 3),
                          np.float32) * 90, rng.integers(0, 256, (grid.rows, grid.cols), np.uint8)):
                np.testing.assert_array_equal(grid.up(image, part), grid.up(image)[at])
            coarse = (rng.random((grid.rows, grid.cols, 2)) * 300).astype(np.float32)
            np.testing.assert_array_equal(grid.up_map(coarse, part), grid.up_map(coarse)[at])
    assert grid.part(np.zeros((grid.rows, grid.cols), np.uint8)) is grid  # nothing set: the whole grid


# ---------------------------------------------------------------- the swap on real pairs


def _swap_both(photo_path, frames, monkeypatch):
    """The swap's output per frame, with the fast functions and with the reference ones (each effect
    built under its own functions, as the photo's preparation uses them too)."""
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    faces = [tracker.process(f, want_iris="iris" in av.FaceSwap.needs) for f in frames]
    photo = load_avatar_photo(photo_path, store=False)
    fast = [av.FaceSwap(photo).apply(f, Analysis(faces=fc))[0] for f, fc in zip(frames, faces)]
    with monkeypatch.context() as patch:
        for name, ref in REFERENCE.items():
            patch.setattr(light, name, ref)
        plain = [av.FaceSwap(photo).apply(f, Analysis(faces=fc))[0] for f, fc in zip(frames, faces)]
    return fast, plain


@pytest.mark.parametrize("clip, photo, size", [
    ("lp_s18_room_landscape.mp4", None, (1280, 720)),  # the speed target's own pair: Hopper at 720p
    ("lp_d20_talking_dim.mp4", "faces/single/fr_biden2.jpg", None),  # a tuning pair, dim light
])
def test_the_swap_is_the_reference_within_one_level_on_a_real_pair(data_dir, monkeypatch, clip, photo, size):
    frames = read_frames(data_dir / "video" / clip, 8, size)
    fast, plain = _swap_both(FIXTURES / "mpl_grace_hopper.jpg" if photo is None else data_dir / photo,
                             frames, monkeypatch)
    for frame, a, b in zip(frames, fast, plain):
        assert np.abs(b.astype(np.int16) - frame).max() > 60  # the swap drew a face
        assert np.abs(a.astype(np.int16) - b).max() <= 1


@pytest.mark.parametrize("own", [False, True])
def test_the_swap_works_on_its_alpha_part_with_the_whole_boxs_pixels(data_dir, monkeypatch, own):
    """The pixels are worked on over the alpha's part of the box only: the output is exactly the one
    worked on the whole box (Grid.part made to give the whole grid), in both modes."""
    frames = read_frames(data_dir / "video" / "lp_s18_room_landscape.mp4", 6, (1280, 720))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    faces = [tracker.process(f) for f in frames]
    photo = load_avatar_photo(FIXTURES / "mpl_grace_hopper.jpg", store=False)
    swap = av.FaceSwap(photo, own_eyes_mouth=own)
    parts = [swap.apply(f, Analysis(faces=fc))[0] for f, fc in zip(frames, faces)]
    with monkeypatch.context() as patch:
        patch.setattr(mesh_warp.Grid, "part", lambda self, cells, grow=1: self)
        whole = av.FaceSwap(photo, own_eyes_mouth=own)
        boxes = [whole.apply(f, Analysis(faces=fc))[0] for f, fc in zip(frames, faces)]
    for frame, a, b in zip(frames, parts, boxes):
        assert np.abs(a.astype(np.int16) - frame).max() > 60  # the swap drew a face
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- the photo avatar's stage


def ref_draw(stage, full, fixed=False):
    """``Stage.draw`` with the whole box remapped (through the float map, or as of commit 4ef76b2
    through OpenCV's fixed-point form of it) and blended over the plate."""
    rows, cols = stage.grid.slices
    out, mask = stage.canvas.copy(), stage.mask.copy()
    if fixed:
        warped, maps = mesh_warp.remap_fixed(stage.person4, full)
    else:
        warped = cv2.remap(stage.person4, full, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        maps = (full[..., 0], full[..., 1])
    alpha = cv2.extractChannel(warped, 3)
    behind = cv2.multiply(stage.plate[rows, cols], cv2.merge([cv2.bitwise_not(alpha)] * 3), scale=1 / 255)
    cv2.add(cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR), behind, dst=out[rows, cols])
    mask[rows, cols] = alpha
    return out, mask, maps


def test_the_stages_clear_columns_are_those_that_remap_to_nothing():
    """Every column a band leaves out of its span remaps the person layer to 0 in all four channels,
    wherever the map points (far outside the picture too), at every block alignment."""
    rng = np.random.default_rng(5)
    person = np.zeros((90, 130, 4), np.uint8)
    person[10:30, 10:40] = rng.integers(1, 256, (20, 30, 4))
    lone = ((64, 96), (71, 119))  # lone pixels at a block's first and a block's last row and column
    for y, x in lone:
        person[y, x] = 255
    stage = avatar_stage.Stage.__new__(avatar_stage.Stage)
    stage.person4, stage._solid = person, None
    for trial in range(120):
        shape = (int(rng.integers(1, 140)), int(rng.integers(1, 170)))
        near = trial % 2  # every other map looks closely round the lone pixel
        x = rng.uniform(*((86, 102) if near else (-60, 190)), 4).astype(np.float32)
        y = rng.uniform(*((56, 70) if near else (-60, 150)), 4).astype(np.float32)
        full = cv2.merge([cv2.resize(x.reshape(2, 2), shape[::-1]), cv2.resize(y.reshape(2, 2), shape[::-1])])
        full += rng.normal(0, 3, full.shape).astype(np.float32)
        full[rng.random(shape) < 0.01] = rng.integers(-3, 3, 2) + np.float32(rng.choice([0.0, 1e-6, 1 - 1e-6]))
        warped = cv2.remap(person, full, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        spans = stage._spans(full)
        assert [s[:2] for s in spans] == [(r, min(r + avatar_stage.DRAW_BAND, shape[0]))
                                          for r in range(0, shape[0], avatar_stage.DRAW_BAND)]
        for r0, r1, c0, c1 in spans:
            band = warped[r0:r1].copy()
            band[:, c0:max(c0, c1)] = 0
            assert not band.any(), trial
    # Maps that only just reach a lone pixel, or only just miss it, from each side, with every rounding.
    skipped = 0
    for (y, x), dx, dy in itertools.product(lone, (-2.5, -1.0, -0.99, -0.5, -1e-4, 0.0, 0.01, 0.5, 0.999, 2.0),
                                            (-2.5, -0.5, 0.0, 0.5, 2.0)):
        full = np.zeros((3, 5, 2), np.float32)
        full[..., 0], full[..., 1] = x + dx, y + dy
        warped = cv2.remap(person, full, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        (r0, r1, c0, c1), = stage._spans(full)
        assert (c0, c1) == (0, 5) or not warped.any(), (x, y, dx, dy)
        skipped += c1 <= c0
    assert skipped >= 20  # and the clear ones are found clear


@pytest.mark.parametrize("clip", ["lp_s18_room_landscape.mp4", "lp_d12_talking_indoor.mp4"])
def test_the_photo_avatar_draws_the_whole_boxs_pixels(data_dir, monkeypatch, tmp_path, clip):
    """The stage remaps and blends only the columns of each band that read the person layer, and
    copies the plate beside them: frame and mask are exactly the whole box's, frame by frame; and
    within a level or two of the fixed-point remap's."""
    frames = read_frames(data_dir / "video" / clip, 150)[::15]
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    faces = [tracker.process(f) for f in frames]
    cv2.imwrite(str(tmp_path / "f0.png"), frames[0])  # the wearer's own first frame as the portrait
    photo = load_avatar_photo(tmp_path / "f0.png", store=False)
    fast = [av.PhotoAvatar(photo)]
    outs = [fast[0].apply(f, Analysis(faces=fc)) for f, fc in zip(frames, faces)]
    with monkeypatch.context() as patch:
        patch.setattr(avatar_stage.Stage, "draw", ref_draw)
        plain = av.PhotoAvatar(photo)
        refs = [plain.apply(f, Analysis(faces=fc)) for f, fc in zip(frames, faces)]
    with monkeypatch.context() as patch:
        patch.setattr(avatar_stage.Stage, "draw", lambda stage, full: ref_draw(stage, full, fixed=True))
        old = av.PhotoAvatar(photo)
        olds = [old.apply(f, Analysis(faces=fc)) for f, fc in zip(frames, faces)]
    moved = 0
    for frame, (a, a_out), (b, b_out), (c, c_out) in zip(frames, outs, refs, olds):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a_out["mask"], b_out["mask"])
        # The float map against OpenCV's fixed-point remap (the stage's before): a level or two.
        assert np.abs(a.astype(np.int16) - c).max() <= 3 and np.abs(a_out["mask"].astype(np.int16) - c_out["mask"]).max() <= 3
        moved += int(np.abs(a.astype(np.int16) - fast[0]._stage.canvas).max() > 30)
    assert moved >= len(frames) // 2  # the portrait moved: the warp drew those frames
