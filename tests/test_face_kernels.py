"""The face stage's and eye contact's compiled loops (``livecam.analysis.face_kernels``) and shortcuts
give exactly what the calls they replace give: the model input for every 8-bit value against
``ModelSession.normalize``; the eye move's map and fill loops against their numpy steps on random
cases, and the known colours' planes against OpenCV's masked split and merge; the head's rotation
against ``rigid_fit``; the scalar clip against ``np.clip``; and on real frames the tracker's faces
(with irises) and eye contact's pixels are the same with them as without."""
import math

import cv2
import numpy as np
import pytest

pytest.importorskip("numba")

from conftest import video_frames  # noqa: E402

from livecam.analysis import face_kernels as kernels  # noqa: E402
from livecam.analysis import face_landmarker, face_tracker, head_pose  # noqa: E402
from livecam.analysis.runtime import load_model  # noqa: E402
from livecam.effects import EyeContactSettings  # noqa: E402
from livecam.effects import eye_contact as ec  # noqa: E402
from livecam.settings import FaceSettings, RuntimeSettings  # noqa: E402
from livecam.types import Analysis  # noqa: E402


@pytest.mark.parametrize("model", ["face_landmark", "iris_landmark", "face_detection_short_range"])
def test_the_model_input_is_normalize_for_every_value(model):
    session = load_model(model, provider="cpu", threads=1)
    rng = np.random.default_rng(3)
    every = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(16, 16, 3)
    for rgb in [every, every[:, :, ::-1].copy(), rng.integers(0, 256, (192, 192, 3), np.uint8),
                rng.integers(0, 256, (1, 5, 3), np.uint8)]:
        got = face_landmarker.model_input(session, rgb)
        want = session.normalize(rgb)
        assert got.dtype == want.dtype and got.shape == want.shape and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)


def test_the_model_input_falls_back_to_normalize_for_other_normalisations():
    class Session:
        spec = {"normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}}

        @staticmethod
        def normalize(rgb):
            return np.full((1, *rgb.shape), 7.0, np.float32)

    rgb = np.zeros((4, 4, 3), np.uint8)
    assert (face_landmarker.model_input(Session(), rgb) == 7.0).all()
    Session.spec = {"normalization": {"scale": 0.5, "offset": 0.0}}
    strided = np.zeros((4, 8, 3), np.uint8)[:, ::2]  # not C-ordered: normalize takes it
    assert (face_landmarker.model_input(Session(), strided) == 7.0).all()


def _random_map_case(rng, i):
    rows, cols = int(rng.integers(1, 80)), int(rng.integers(1, 120))
    ix, iy = float(rng.uniform(-10, cols + 10)), float(rng.uniform(-10, rows + 10))
    ux, uy = (float(v) for v in rng.normal(size=2) * rng.choice([0.001, 0.5, 3.0, 10.0]))
    if i % 50 == 0:
        ux = uy = 0.0
    return rows, cols, ix, iy, ux, uy, float(rng.uniform(1.0, 25.0))


def test_the_eye_maps_loops_are_its_numpy_steps():
    """Each of the three loops against the numpy lines it stands for, fed the same ``cv2.magnitude`` and
    ``np.cos`` results (those two are calls in both; OpenCV's magnitude can differ by an ulp between
    two calls on the same numbers, with where its buffers lie, so the loops are compared around it)."""
    rng = np.random.default_rng(5)
    for i in range(600):
        rows, cols, ix, iy, ux, uy, r_iris = _random_map_case(rng, i)
        ys, xs = (np.ascontiguousarray(a) for a in np.mgrid[0:rows, 0:cols].astype(np.float32))
        ex, ey = xs - ix, ys - iy
        along = np.clip((ex * ux + ey * uy) * (1.0 / max(ux * ux + uy * uy, 1e-6)), 0.0, 1.0)
        want_x, want_y = ex - along * ux, ey - along * uy
        px, py = np.empty_like(xs), np.empty_like(xs)
        kernels.off_path(np.float32(ix), np.float32(iy), np.float32(ux), np.float32(uy),
                         np.float32(1.0 / max(ux * ux + uy * uy, 1e-6)), px, py)
        np.testing.assert_array_equal(px, want_x)
        np.testing.assert_array_equal(py, want_y)

        d = cv2.magnitude(want_x, want_y)
        t = np.clip((d * (1.0 / r_iris) - ec.CORE) * (1.0 / (ec.REACH - ec.CORE)), 0.0, 1.0)
        angle = np.empty_like(d)
        kernels.bump_angle(d, np.float32(1.0 / r_iris), np.float32(ec.CORE), np.float32(1.0 / (ec.REACH - ec.CORE)),
                           np.float32(np.pi), angle)
        np.testing.assert_array_equal(angle, np.float32(np.pi) * t)

        cosine = np.cos(angle)
        bump = 0.5 + 0.5 * cosine
        sx, sy = np.empty_like(d), np.empty_like(d)
        kernels.sample_points(cosine, np.float32(ux), np.float32(uy), sx, sy)
        np.testing.assert_array_equal(sx, xs - ux * bump)
        np.testing.assert_array_equal(sy, ys - uy * bump)


def test_the_fill_loop_is_the_numpy_steps_rounded_as_convert_scale_abs():
    rng = np.random.default_rng(7)
    cases = 0
    for i in range(600):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 60))
        moved = rng.integers(0, 256, (h, w, 3), np.uint8)
        spread = rng.integers(0, 256, (h, w, 4), np.uint8)
        if i % 7 == 0:
            spread[..., 3] = 0  # nothing known near: the white's own colour
        uncovered = rng.integers(0, 256, (h, w), np.uint8)
        if i % 5 == 0:
            uncovered[:] = rng.choice([0, 13, 255], (h, w)).astype(np.uint8)
        rows, cols = np.nonzero(uncovered > 12)
        if not len(rows):
            continue
        cases += 1
        r_iris = float(rng.uniform(1.0, 20.0))
        hyp = (rng.random((1, len(rows))) * 3 * r_iris).astype(np.float32)
        iris_px = rng.integers(0, 256, (len(rows), 3), np.uint8)
        seen = rng.integers(0, 256, len(rows), np.uint8)
        white, iris = np.float32(rng.uniform(0, 255, 3)), np.float32(rng.uniform(0, 255, 3))
        if i % 3 == 0:
            white = iris
        prior = ec.WHITE_PRIOR * float(rng.random()) ** 2 + 2.0
        assert ec._fits_fill(spread, uncovered, moved, rows, hyp, iris_px, seen)
        want = cv2.convertScaleAbs(ec._fill_steps(moved, rows, cols, spread, uncovered, hyp, iris_px, seen,
                                                  white, iris, prior, r_iris))
        got = moved.copy()
        kernels.fill_into(spread, uncovered, rows.astype(np.int64), cols.astype(np.int64), hyp[0], iris_px, seen,
                          white, np.concatenate([iris, iris * 1.2]), np.float32(prior), np.float32(r_iris + 0.5), got)
        np.testing.assert_array_equal(got, want)
    assert cases > 500


def test_the_known_planes_loop_is_the_masked_split_and_merge():
    rng = np.random.default_rng(8)
    for i in range(600):
        h, w = int(rng.integers(1, 50)), int(rng.integers(1, 70))
        seed = rng.integers(0, 256, (h, w, 3), np.uint8)
        known = ((rng.random((h, w)) < 0.6).astype(np.uint8) * 255 if i % 2
                 else rng.integers(0, 256, (h, w), np.uint8))  # any nonzero value is known to bitwise_and
        np.testing.assert_array_equal(ec._known_planes(seed, known), ec._known_planes_calls(seed, known))


def _rigid_fit_rotation(landmarks):
    p = landmarks[head_pose.POSE_INDICES].astype(np.float64) * np.array([1.0, -1.0, -1.0])
    return head_pose.rigid_fit(head_pose.CANONICAL, p)[1]


def test_the_head_rotation_is_rigid_fits_own():
    rng = np.random.default_rng(9)
    for i in range(2000):
        landmarks = (rng.random((468, 3)) * rng.uniform(1, 600) + rng.uniform(-100, 600)).astype(np.float32)
        if i % 2:  # a real face's points: the canonical face turned (and mirrored: a reflection to undo)
            q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
            landmarks[head_pose.POSE_INDICES] = (head_pose.CANONICAL @ q.T * rng.uniform(1, 30)
                                                 * np.array([1.0, -1.0, -1.0]) + rng.uniform(0, 500, 3))
        np.testing.assert_array_equal(head_pose.rotation_matrix(landmarks), _rigid_fit_rotation(landmarks))


def test_the_scalar_clip_is_np_clip():
    values = [0.0, -0.0, 1.0, -1.0, 0.5, math.nan, math.inf, -math.inf, 1e-300, -1e-300, 0.12, -0.12, 0.4]
    values += list(np.random.default_rng(1).normal(size=500) * 2)
    for lo, hi in ((0.0, 1.0), (-0.12, 0.12), (-0.4, 0.4)):
        for v in values:
            for x in (v, np.float64(v)):
                want, got = float(np.clip(x, lo, hi)), ec._clip(x, lo, hi)
                assert (math.isnan(want) and math.isnan(got)) or (
                    want == got and math.copysign(1, want) == math.copysign(1, got))


def test_the_meshs_box_is_read_once_with_the_same_answers():
    rng = np.random.default_rng(4)
    for _ in range(300):
        landmarks = (rng.random((468, 3)) * rng.uniform(0, 400) + rng.uniform(0, 800)).astype(np.float32)
        box = face_tracker._bounds(landmarks)
        size = float(rng.uniform(1, 2000))
        assert face_tracker._spread(landmarks, size, box) == face_tracker._spread(landmarks, size)
        assert face_landmarker.roi_from_landmarks(landmarks, box) == face_landmarker.roi_from_landmarks(landmarks)


def test_the_tracker_and_eye_contact_give_the_same_with_the_loops_and_without(monkeypatch):
    frames = video_frames("lp_s18_room_landscape.mp4", 40, (1280, 720))

    def run():
        tracker = face_tracker.FaceTracker(FaceSettings(), RuntimeSettings(threads=1, provider="cpu"))
        effect = ec.EyeContact(EyeContactSettings(enabled=True))
        out = []
        for frame in frames:
            faces = tracker.process(frame, want_iris=True)
            out.append((faces, effect.apply(frame, Analysis(faces=faces))[0]))
        return out

    fast = run()
    with monkeypatch.context() as patch:
        patch.setattr(face_landmarker, "model_input", lambda session, rgb: session.normalize(rgb))
        patch.setattr(head_pose, "rotation_matrix", _rigid_fit_rotation)
        spread, roi = face_tracker._spread, face_landmarker.roi_from_landmarks
        patch.setattr(face_tracker, "_spread", lambda landmarks, size, box=None: spread(landmarks, size))
        patch.setattr(face_tracker, "roi_from_landmarks", lambda landmarks, box=None: roi(landmarks))
        patch.setattr(ec, "_fits_fill", lambda *_: False)
        patch.setattr(ec, "_known_planes", ec._known_planes_calls)
        slow = run()
        # Where numba cannot compile the loops (livecam.jit): every step the numpy and OpenCV way.
        patch.setattr(face_landmarker, "READY", False)
        patch.setattr(ec, "READY", False)
        without = run()
    for (faces_a, out_a), (faces_b, out_b) in zip(slow, without):
        for a, b in zip(faces_a, faces_b):
            np.testing.assert_array_equal(a.landmarks, b.landmarks)
        np.testing.assert_array_equal(out_a, out_b)
    moved = 0
    for frame, (faces_a, out_a), (faces_b, out_b) in zip(frames, fast, slow):
        assert len(faces_a) == len(faces_b) == 1
        for a, b in zip(faces_a, faces_b):
            for name in ("box", "landmarks", "raw_landmarks", "iris", "lids", "eye_openings"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
            assert a.pose == b.pose and a.score == b.score
        np.testing.assert_array_equal(out_a, out_b)
        moved += int((out_a != frame).any())
    assert moved >= 20  # eye contact did move the eyes on these frames
