"""The compiled loops of ``livecam.effects.swap_kernels`` give exactly what the OpenCV calls they
replace give: the mesh raster (one ``cv2.fillConvexPoly`` per triangle) and its table lookup, and the
relight with the grain traded (``avatar_light.relight`` then ``add_grain``), the nose lift's share
to fill (its numpy steps) and its blend, the 8-bit blur's integer kernel and the skin's medians;
and the swap and the photo avatar draw the same pixels with them as without them, on real frames."""

import cv2
import numpy as np
import pytest

pytest.importorskip("numba")

from conftest import FIXTURES, read_frames  # noqa: E402

from livecam.analysis.avatar_photo import load_avatar_photo  # noqa: E402
from livecam.analysis.face_tracker import FaceTracker  # noqa: E402
from livecam.effects import avatar as av  # noqa: E402
from livecam.effects import avatar_light as light  # noqa: E402
from livecam.effects import avatar_pose_shade as pose_shade  # noqa: E402
from livecam.effects import mesh_warp  # noqa: E402
from livecam.effects import swap_kernels as kernels  # noqa: E402
from livecam.settings import FaceSettings, RuntimeSettings  # noqa: E402
from livecam.types import Analysis  # noqa: E402


def _meshes(rng, count):
    """Random triangle lists on random small grids: free triangles, slivers and collinear corners,
    repeated corners, near-degenerate ones."""
    for trial in range(count):
        rows, cols = (int(v) for v in rng.integers(1, 40, 2))
        m = int(rng.integers(1, 30))
        kind = trial % 4
        top = [cols - 1, rows - 1]
        if kind == 0:
            c = rng.integers(0, [cols, rows], (m, 3, 2))
        elif kind == 1:
            start, step = rng.integers(0, [cols, rows], (m, 1, 2)), rng.integers(-5, 6, (m, 1, 2))
            c = np.clip(start + step * rng.integers(0, 4, (m, 3, 1)), 0, top)
        elif kind == 2:
            c = np.repeat(rng.integers(0, [cols, rows], (m, 1, 2)), 3, axis=1)
            c[:, 2] = rng.integers(0, [cols, rows], (m, 2))
        else:
            c = rng.integers(0, [cols, rows], (m, 3, 2))
            c[:, 1] = np.clip(c[:, 0] + rng.integers(-1, 2, (m, 2)), 0, top)
        yield rows, cols, np.ascontiguousarray(c, np.int32), rng.permutation(np.arange(1, m + 1)).astype(np.int32)


def test_the_raster_is_one_fillconvexpoly_per_triangle():
    rng = np.random.default_rng(3)
    cells = 0
    for rows, cols, corners, labels in _meshes(rng, 1200):
        calls = np.zeros((rows, cols), np.int32)
        for label, tri in zip(labels.tolist(), corners):
            cv2.fillConvexPoly(calls, tri, label)
        drawn = np.zeros((rows, cols), np.int32)
        assert kernels.on_grid(corners, rows, cols)
        kernels.draw_triangles(corners, labels, drawn)
        np.testing.assert_array_equal(drawn, calls)
        cells += drawn.size
    assert cells > 300_000


def test_a_mesh_off_the_grid_is_left_to_the_calls():
    corners = np.array([[[0, 0], [5, 0], [0, 5]], [[3, 3], [12, 3], [3, 4]]], np.int32)
    assert kernels.on_grid(corners, 10, 13)
    assert not kernels.on_grid(corners, 10, 12)  # x = 12 is off a 12-column grid
    assert not kernels.on_grid(corners - 4, 10, 13)


@pytest.mark.parametrize("spread", [0.3, 1.0, 1.6])  # inside the grid, and reaching off it
def test_the_coarse_map_is_the_calls_and_the_numpy_table(monkeypatch, spread):
    """``MeshWarp.coarse`` with the kernels gives the map the calls and numpy's float32 arithmetic give,
    folded meshes and the on-top order included; off the grid it is the calls' map anyway."""
    rng = np.random.default_rng(7)
    src = rng.uniform(0, 200, (60, 2))
    warp = mesh_warp.MeshWarp(src, mesh_warp.triangulate(src))
    grid = mesh_warp.Grid(10, 20, 55, 50, 4)
    for _ in range(20):
        dst = 120 + (src - 100) * spread * rng.uniform(0.8, 1.2) + rng.normal(0, 6, src.shape)
        on_top = rng.random(len(warp.triangles)) < 0.5
        fast = [warp.coarse(dst, grid), warp.coarse(dst, grid, on_top)]
        with monkeypatch.context() as patch:
            patch.setattr(mesh_warp, "kernels", None)
            calls = [warp.coarse(dst, grid), warp.coarse(dst, grid, on_top)]
        for a, b in zip(fast, calls):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_array_equal(a, b)


def test_the_grain_table_is_the_kernels_arithmetic():
    lo, hi = light.GRAIN_KEEP
    assert light._grain_span_exact()  # else relight_with_grain stays with OpenCV

    from numba import njit

    @njit("float32(float32)")
    def kept(x):
        return kernels._kept(x, np.float32(hi), np.float32(1.0 / (hi - lo)))

    table = np.array([kept(np.float32(v - 128)) + 128 for v in range(256)])
    np.testing.assert_array_equal(table, light._GRAIN_LUT)


def test_relight_with_grain_is_relight_then_add_grain():
    """Any size (1 px on), the gain (one channel or three) and offset read from inside bigger maps,
    the wearer's pixels anywhere in the frame; smooth and noisy pictures, gains that saturate."""
    rng = np.random.default_rng(1)
    for trial in range(80):
        h, w = (int(v) for v in rng.integers(1, 50, 2)) if trial < 75 else (300, 260)
        frame = rng.integers(0, 256, (h + int(rng.integers(0, 20)), w + int(rng.integers(0, 20)), 3), np.uint8)
        face = rng.integers(0, 256, (h, w, 3), np.uint8)
        if trial % 2:
            frame, face = cv2.GaussianBlur(frame, (0, 0), 1.5), cv2.GaussianBlur(face, (0, 0), 1.0)
        y0, x0 = int(rng.integers(0, frame.shape[0] - h + 1)), int(rng.integers(0, frame.shape[1] - w + 1))
        gy, gx = (int(v) for v in rng.integers(0, 6, 2))
        gain = rng.uniform(0.3, 2.2, (h + gy + 3, w + gx + 1, 3)).astype(np.float32)
        offset = rng.uniform(-70, 70, gain.shape).astype(np.float32)
        if trial % 3 == 0:  # one gain for the three colours, as the swap passes it
            gain = np.ascontiguousarray(gain[..., 0])
        expected = light.add_grain(light.relight(face, gain[gy:gy + h, gx:gx + w], offset[gy:gy + h, gx:gx + w]),
                                   frame[y0:y0 + h, x0:x0 + w])
        got = light.relight_with_grain(face, gain, offset, (gy, gx), frame, (x0, y0))
        np.testing.assert_array_equal(got, expected)


def test_the_blend_into_the_frame_is_compositings_blend():
    """Every alpha and colour pair, alpha given as a view (the upsampled alpha's crop), any place."""
    rng = np.random.default_rng(2)
    for trial in range(60):
        frame, face, (y0, x0) = _placed_face(rng)
        h, w = face.shape[:2]
        alpha = rng.integers(0, 256, (h + 2, w + 3), np.uint8)[1:h + 1, 3:]
        if trial == 0:  # all 65536 products
            frame = np.repeat(np.arange(256, dtype=np.uint8), 3 * 256).reshape(256, 256, 3)
            face, alpha, (y0, x0) = frame.copy(), np.ascontiguousarray(frame[..., 0].T), (0, 0)
        _assert_blend_face_is_blend(face, alpha, frame, (y0, x0))


def _placed_face(rng):
    """A random frame (2..79 px a side), a random face box inside it and where it sits (y0, x0)."""
    rows, cols = (int(v) for v in rng.integers(2, 80, 2))
    h, w = int(rng.integers(1, rows + 1)), int(rng.integers(1, cols + 1))
    y0, x0 = int(rng.integers(0, rows - h + 1)), int(rng.integers(0, cols - w + 1))
    return rng.integers(0, 256, (rows, cols, 3), np.uint8), rng.integers(0, 256, (h, w, 3), np.uint8), (y0, x0)


def _assert_blend_face_is_blend(face, alpha, frame, origin):
    """``avatar_light.blend_face`` gives ``compositing.blend``'s pixels, the rest of the frame kept."""
    (y0, x0), (h, w) = origin, face.shape[:2]
    expected = frame.copy()
    av.blend(face, frame[y0:y0 + h, x0:x0 + w], alpha, dst=expected[y0:y0 + h, x0:x0 + w])
    got = frame.copy()
    light.blend_face(face, alpha, frame, (x0, y0), got)
    np.testing.assert_array_equal(got, expected)


def _oval_alpha(rng, h, w):
    """An alpha like the face's: random values inside a random ellipse, 0 outside (rows that are 0
    end to end, zero runs at each row's ends), some isolated zeros inside."""
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(-0.2, 1.2) * h, rng.uniform(-0.2, 1.2) * w
    ry, rx = rng.uniform(0.1, 0.7) * h + 0.5, rng.uniform(0.1, 0.7) * w + 0.5
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1.0
    alpha = rng.integers(0, 256, (h, w), np.uint8) * inside
    return alpha.astype(np.uint8)


def test_the_blend_leaves_the_frame_where_the_alpha_is_0():
    """Rows whose alpha is 0 at either end or end to end (the face's oval in its box): the output is
    still compositing's blend, the frame's own pixels there (also for a loop that skips them)."""
    rng = np.random.default_rng(5)
    for trial in range(60):
        frame, face, origin = _placed_face(rng)
        _assert_blend_face_is_blend(face, _oval_alpha(rng, *face.shape[:2]), frame, origin)


def test_the_nose_lifts_blend_is_the_four_calls():
    """``avatar_pose_shade.lift_toward`` (the nose lift's full-size blend) with the kernel against the
    subtract, merge, multiply and add it replaces: any box of the skin and fill put anywhere in the
    face, fills outside 0..1, exact halves (rounded to even), skin a level or two off the face, every
    (face, skin) pair; the rest of the face untouched."""
    rng = np.random.default_rng(5)

    def by_calls(face, at, skin, fill, box):
        (x, y), (bx0, by0, bx1, by1) = at, box
        part, skin, fill = face[y:y + by1 - by0, x:x + bx1 - bx0], skin[by0:by1, bx0:bx1], fill[by0:by1, bx0:bx1]
        step = cv2.subtract(skin, part, dtype=cv2.CV_32F)
        part[:] = cv2.add(part, cv2.multiply(step, cv2.merge([fill, fill, fill])), dtype=cv2.CV_8U)

    for trial in range(400):
        sh, sw = (int(v) for v in rng.integers(1, 90, 2))
        by0, bx0 = int(rng.integers(0, sh)), int(rng.integers(0, sw))
        by1, bx1 = int(rng.integers(by0 + 1, sh + 1)), int(rng.integers(bx0 + 1, sw + 1))
        face = rng.integers(0, 256, (sh + int(rng.integers(0, 9)), sw + int(rng.integers(0, 9)), 3), np.uint8)
        at = (int(rng.integers(0, face.shape[1] - (bx1 - bx0) + 1)),
              int(rng.integers(0, face.shape[0] - (by1 - by0) + 1)))
        skin = rng.integers(0, 256, (sh, sw, 3), np.uint8)
        if trial % 3 == 0:
            skin = np.clip(face[:sh, :sw].astype(np.int16) + rng.integers(-3, 4, (sh, sw, 3)), 0, 255).astype(np.uint8)
        fill = rng.random((sh, sw), dtype=np.float32)
        if trial % 4 == 0:
            fill = np.round(fill * 8) / np.float32(8)  # exact halves after the multiply
        if trial % 5 == 0:
            fill = fill * np.float32(1.3) - np.float32(0.1)
        expected, got = face.copy(), face.copy()
        by_calls(expected, at, skin, fill, (bx0, by0, bx1, by1))
        pose_shade.lift_toward(got, at, skin, fill, (bx0, by0, bx1, by1))
        np.testing.assert_array_equal(got, expected)
    levels = np.arange(256, dtype=np.uint8)
    a, b = np.meshgrid(levels, levels)
    face = np.ascontiguousarray(np.stack([a, b, a], -1))
    skin = np.ascontiguousarray(np.stack([b, a, 255 - b], -1))
    for share in (0.0, 0.125, 0.25, 0.3, 0.5, 0.75, 1.0):
        fill = np.full((256, 256), share, np.float32)
        expected, got = face.copy(), face.copy()
        by_calls(expected, (0, 0), skin, fill, (0, 0, 256, 256))
        pose_shade.lift_toward(got, (0, 0), skin, fill, (0, 0, 256, 256))
        np.testing.assert_array_equal(got, expected)


def test_the_nose_fill_is_the_numpy_steps(monkeypatch):
    """``avatar_pose_shade._fill`` with ``swap_kernels.nose_fill`` against its numpy steps: the share
    to fill (every value), the gate's answer and the box the share reaches, on random greys and
    skins (skins of 0, greys lighter than their skin, flat and noisy), regions soft, hard, empty
    and full; both of the gate's answers occur."""
    rng = np.random.default_rng(13)
    answers = set()
    for trial in range(600):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        mine, theirs = rng.integers(0, 256, (2, h, w), np.uint8)
        mine_skin = np.clip(mine.astype(np.int16) + rng.integers(-20, 120, (h, w)), 0, 255).astype(np.uint8)
        their_skin = np.clip(theirs.astype(np.int16) + rng.integers(-20, 60, (h, w)), 0, 255).astype(np.uint8)
        if trial % 7 == 0:
            mine_skin[rng.random((h, w)) < 0.3] = 0
        if trial % 5 == 0:
            mine = (mine // 32 * 8).astype(np.uint8)  # dark nostrils against a light wearer
        region = cv2.GaussianBlur((rng.random((h, w)) < 0.5).astype(np.uint8) * 255, (0, 0), 2.0)
        if trial % 11 == 0:
            region[:] = 0 if trial % 2 else 255
        greys = (mine, mine_skin, theirs, their_skin)
        got = pose_shade._fill(greys, region)
        with monkeypatch.context() as patch:
            patch.setattr(pose_shade, "_kernels", None)
            expected = pose_shade._fill(greys, region)
        answers.add(expected is None)
        if expected is None:
            assert got is None
            continue
        np.testing.assert_array_equal(got[0], expected[0])
        assert got[1] == expected[1]
    assert answers == {True, False}


def test_the_gaussian_kernel_is_the_python_loops():
    """``swap_kernels.gaussian_kernel`` against ``avatar_light._bit_exact_kernel`` (OpenCV's integer
    kernel, summing to 256), every tap, over sigmas from narrow to wide and densely where the face
    width puts the swap's feathers; and the 8-bit blur it feeds is GaussianBlur's."""
    rng = np.random.default_rng(17)
    sigmas = np.concatenate([rng.uniform(0.25, 16.0, 4000), np.arange(0.5, 6.0, 0.0013), [1.3125, 2.886]])
    for sigma in sigmas.tolist():
        size = int(round(sigma * 6 + 1)) | 1
        got = np.full(size, -1, np.float32)
        kernels.gaussian_kernel(sigma, got)
        expected = light._bit_exact_kernel(size, sigma)
        np.testing.assert_array_equal(got, expected)
        assert got.sum() == 256
    image = rng.integers(0, 256, (47, 53), np.uint8)
    for sigma in rng.uniform(1.2, 9.0, 40).tolist():
        np.testing.assert_array_equal(light.blur8(image, sigma), cv2.GaussianBlur(image, (0, 0), sigma))


def _statistics_by_np_median(lab, where):
    """The skin statistics as ``np.median`` itself takes them (what ``skin_statistics`` repeats)."""
    pixels = lab[where] if np.count_nonzero(where) >= light.SKIN_CELLS_LEAST else lab.reshape(-1, 3)
    median = np.median(pixels, axis=0).astype(np.float32)
    return median, 1.4826 * np.median(np.abs(pixels - median), axis=0).astype(np.float32)


def test_the_skin_statistics_are_np_medians(monkeypatch):
    """``SkinModel``'s medians and spreads with ``swap_kernels.skin_statistics`` against ``np.median``
    and against its numpy path, every value and its dtype: odd and even counts, ties (rounded Lab),
    one repeated value, fewer skin cells than SKIN_CELLS_LEAST (every cell then), and a NaN (left
    to numpy's path)."""
    rng = np.random.default_rng(19)
    for trial in range(800):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        lab = rng.random((h, w, 3), dtype=np.float32) * np.float32(100.0) - np.float32(trial % 2 * 40)
        if trial % 3 == 0:
            lab = np.round(lab)
        if trial % 17 == 0:
            lab[:] = 42.5
        lab = np.ascontiguousarray(lab, np.float32)
        where = rng.random((h, w)) < (0.001 if trial % 9 == 0 else rng.random())
        got = light._skin_statistics_where(lab, where)
        np.testing.assert_array_equal(got[0], _statistics_by_np_median(lab, where)[0])
        np.testing.assert_array_equal(got[1], _statistics_by_np_median(lab, where)[1])
        with monkeypatch.context() as patch:
            patch.setattr(light, "_kernels", None)
            expected = light._skin_statistics_where(lab, where)
        for a, b in zip(got, expected):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_array_equal(a, b)
    lab = np.ascontiguousarray(rng.random((20, 20, 3), dtype=np.float32))
    lab[3, 4, 1] = np.nan
    where = np.ones((20, 20), bool)
    median, spread = np.empty(3, np.float32), np.empty(3, np.float32)
    assert kernels.skin_statistics(lab, where.view(np.uint8), light.SKIN_CELLS_LEAST, median, spread) == -1
    with monkeypatch.context() as patch:
        patch.setattr(light, "_kernels", None)
        expected = light._skin_statistics_where(lab, where)
    np.testing.assert_array_equal(light._skin_statistics_where(lab, where)[0], expected[0])


def test_the_avatars_draw_the_same_pixels_with_the_kernels_and_without(data_dir, monkeypatch, tmp_path):
    """The swap (both modes) and the photo avatar on real 720p frames: identical with the compiled
    loops and with the OpenCV calls they replace."""
    frames = read_frames(data_dir / "video" / "lp_s18_room_landscape.mp4", 6, (1280, 720))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    faces = [tracker.process(f) for f in frames]
    photo = load_avatar_photo(FIXTURES / "mpl_grace_hopper.jpg", store=False)
    cv2.imwrite(str(tmp_path / "portrait.png"), frames[0])
    portrait = load_avatar_photo(tmp_path / "portrait.png", store=False)

    def run():
        effects = [av.FaceSwap(photo), av.FaceSwap(photo, own_eyes_mouth=True), av.PhotoAvatar(portrait)]
        return [[e.apply(f, Analysis(faces=fc))[0] for f, fc in zip(frames, faces)] for e in effects]

    lifts, compiled = [], kernels.lift_toward
    fills, compiled_fill = [], kernels.nose_fill
    with monkeypatch.context() as patch:
        patch.setattr(kernels, "lift_toward", lambda *args: lifts.append(1) or compiled(*args))
        patch.setattr(kernels, "nose_fill", lambda *args: fills.append(1) or compiled_fill(*args))
        fast = run()
    assert lifts and fills  # the nose lift's share and blend ran on these frames
    with monkeypatch.context() as patch:
        patch.setattr(mesh_warp, "kernels", None)
        patch.setattr(light, "_kernels", None)
        patch.setattr(pose_shade, "_kernels", None)
        calls = run()
    for a_frames, b_frames in zip(fast, calls):
        for frame, a, b in zip(frames, a_frames, b_frames):
            assert np.abs(a.astype(np.int16) - frame).max() > 60  # the effect drew a face
            np.testing.assert_array_equal(a, b)
