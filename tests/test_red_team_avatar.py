"""Red team (redteam4): the face swap and the photo avatar attacked at the library boundary.

Wild but finite meshes, NaN and infinity in the points, the pose and the lid gaps, a faulty iris
model in the middle of a blink, odd frame sizes, odd portraits and settings flipped between frames.
The promises: no crash, no freeze, no unbounded cost, and fail closed (under a swap the wearer's
own face never shows; the photo avatar never shows the wearer). Six faults were found and fixed
in the same stop (a faulty iris model, NaN in the first face or the pose, a face far wider than
the frame, a face found every other frame, a torn mesh); their tests fail on the code before. Cost is measured in the report, never asserted here: these tests assert
what bounds it (the grid a face is worked on) and what a fault does to the frames.
"""
from __future__ import annotations

import math
import os
from dataclasses import replace

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from conftest import FIXTURES, shared_data, tracked_frames
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from livecam import settings as S
from livecam.analysis.avatar_photo import AvatarPhotoError, load_avatar_photo
from livecam.analysis.face_measures import face_width
from livecam.effects import avatar as av
from livecam.effects.mesh_warp import Grid
from livecam.pipeline import Pipeline
from livecam.types import Analysis

# NaN and infinity are fed in on purpose; numpy's warnings about them are the attack, not a finding.
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")]

HOPPER = FIXTURES / "mpl_grace_hopper.jpg"
ASTRONAUT = FIXTURES / "sk_astronaut.png"
FAST = hsettings(max_examples=12, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def photo():
    return load_avatar_photo(HOPPER, store=False)


@pytest.fixture(scope="module")
def s18():
    """14 frames of lp_s18 (720p; a blink from frame 6) with the face stage's faces."""
    clip = shared_data() / "video" / "lp_s18_room_landscape.mp4"
    if not clip.is_file():
        pytest.skip("shared test data (video) not found")
    return tracked_frames(clip, 14)


@pytest.fixture(scope="module")
def portrait_mask(photo):
    return av.person_mask(photo.image)


def _same(out: np.ndarray, frame: np.ndarray, box=None) -> float:
    """Share of pixels (of ``box``: x0, y0, x1, y1) within 3 levels of the wearer's own frame."""
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, y0 = max(x0, 0), max(y0, 0)
        out, frame = out[y0:y1, x0:x1], frame[y0:y1, x0:x1]
    return float((np.abs(out.astype(np.int16) - frame).max(axis=2) <= 3).mean())


# ---------------------------------------------------------------- wild but finite meshes

# A real mesh taken somewhere wild: scaled (a face 10 px wide to one wider than the frame), moved
# over or past the border, mirrored, with its eyes collapsed, or partly scrambled (a torn mesh).
wild = st.fixed_dictionaries({
    "scale": st.floats(0.04, 5.0),
    "shift": st.tuples(st.floats(-1.2, 1.2), st.floats(-1.2, 1.2)),
    "mirror": st.booleans(),
    "collapse_eyes": st.booleans(),
    "scramble": st.floats(0.0, 1.0),
    "seed": st.integers(0, 2 ** 16),
})


def _wild(landmarks: np.ndarray, size, p) -> np.ndarray:
    w, h = size
    lm = landmarks.astype(np.float32).copy()
    c = lm[:, :2].mean(0)
    lm[:, :2] = (w / 2, h / 2) + p["scale"] * (lm[:, :2] - c) + np.float32(p["shift"]) * (w, h)
    if p["mirror"]:
        lm[:, 0] = 2 * lm[:, 0].mean() - lm[:, 0]
    if p["collapse_eyes"]:
        for _, lids, _ in av.EYES:
            idx = np.asarray(lids)
            lm[idx, :2] = lm[idx, :2].mean(0)
    rng = np.random.default_rng(p["seed"])
    torn = rng.random(len(lm)) < p["scramble"]
    lm[torn, :2] = rng.uniform(0, 1, (int(torn.sum()), 2)) * (w, h)
    return lm


@FAST
@given(p=wild)
def test_the_coarse_map_of_any_finite_mesh_stays_inside_the_photo(photo, s18, p):
    """``MeshWarp.coarse`` on any finite mesh: a finite map on a grid clipped to the frame (its cost is
    bounded by the frame: 1.5 ms for the real face, 5.5 ms at worst on torn meshes, 720p), and every
    cell a triangle covers reads inside the photo's points (each is clipped to its triangle's box)."""
    image, faces = s18[6]
    src = av.FaceSwap(photo).source
    lm = _wild(faces[0].landmarks, (image.shape[1], image.shape[0]), p)
    grid = Grid.around(lm, av.BOX_MARGIN, (image.shape[1], image.shape[0]), av.MAP_STEP)
    if grid is None:
        return
    assert grid.x0 >= 0 and grid.y0 >= 0
    assert grid.x0 + grid.cols * grid.step <= image.shape[1] and grid.y0 + grid.rows * grid.step <= image.shape[0]
    coarse = src.mesh.coarse(lm[src.points], grid)
    assert coarse.shape == (grid.rows, grid.cols, 2) and np.isfinite(coarse).all()
    # Outside the mesh the least-squares affine of all points continues the map (unbounded, read
    # with a replicated border); inside, each cell stays in its own triangle's source box.
    ids = np.zeros((grid.rows, grid.cols), np.int32)
    corners = np.round(grid.to_cells(lm[src.points])[src.mesh.triangles]).astype(np.int32)
    for tri in corners:
        cv2.fillConvexPoly(ids, tri, 1)
    pts = src.mesh.src
    inside = coarse[ids > 0]
    assert (inside >= pts.min(0) - 2.01).all() and (inside <= pts.max(0) + 2.01).all()


@FAST
@given(p=wild.filter(lambda p: p["scale"] <= 1.6))
def test_the_swap_of_any_finite_mesh_changes_nothing_outside_the_faces_box(photo, s18, p):
    """``FaceSwap.render`` on a wild mesh (scaled up to 1.6x the real face, moved past the border,
    mirrored, or torn across the frame): a frame of the same shape, unchanged outside the face's box,
    or the frame itself where the face is too small."""
    image, faces = s18[6]
    h, w = image.shape[:2]
    lm = _wild(faces[0].landmarks, (w, h), p)
    out = av.FaceSwap(photo).render(image, lm, 1.0, (0.5, 0.5), (0.0, 0.0), lm)
    assert out.shape == image.shape and out.dtype == np.uint8
    lo, hi = lm[:, :2].min(0), lm[:, :2].max(0)
    pad = av.BOX_MARGIN * (hi - lo).max()
    inside = np.zeros((h, w), bool)
    x0, y0 = np.maximum(np.floor(lo - pad).astype(int), 0)
    x1, y1 = np.ceil(hi + pad).astype(int) + 1
    inside[y0:max(y1, y0), x0:max(x1, x0)] = True
    assert np.array_equal(out[~inside], image[~inside])


def test_a_face_far_wider_than_the_frame_is_refused_not_drawn(photo, s18):
    image, faces = s18[6]
    lm = faces[0].landmarks.astype(np.float32).copy()
    c = lm[:, :2].mean(0)
    lm[:, :2] = (640, 360) + 4000 / face_width(lm) * (lm[:, :2] - c)
    with pytest.raises(ValueError):
        av.FaceSwap(photo).render(image, lm, 1.0, (1.0, 1.0), (0.0, 0.0), lm)


def test_a_close_face_is_worked_on_a_bounded_number_of_cells(photo, s18, monkeypatch):
    image, faces = s18[6]
    lm = faces[0].landmarks.astype(np.float32).copy()
    c = lm[:, :2].mean(0)
    lm[:, :2] = (640, 360) + 900 / face_width(lm) * (lm[:, :2] - c)
    steps = []
    real = Grid.around.__func__

    def around(cls, points, margin, frame_size, step):
        steps.append(step)
        return real(cls, points, margin, frame_size, step)

    monkeypatch.setattr(Grid, "around", classmethod(around))
    av.FaceSwap(photo).render(image, lm, 1.0, (0.0, 0.0), (0.0, 0.0), lm)
    assert steps and face_width(lm) / steps[0] <= 101


# ---------------------------------------------------------------- NaN and infinity from the face stage


def test_a_nan_pose_does_not_leave_the_photos_face_in_the_air(photo, s18):
    image, faces = s18[0]
    swap = av.FaceSwap(photo)
    swap.apply(image, Analysis(faces=faces))
    try:
        swap.apply(image, Analysis(faces=[replace(faces[0], pose=(math.nan, 0.0, 0.0))]))
    except ValueError:
        pass  # hidden by the pipeline: fine
    for _ in range(30):
        out, outputs = swap.apply(image, Analysis())
    assert out is image and outputs == {"altered": False}


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_face_with_a_non_finite_point_costs_its_own_frame_only(photo, s18, bad):
    """The frame with the bad point raises (the pipeline hides it) or draws; the next real face is
    swapped as fully as before, never the wearer's own face."""
    image, faces = s18[0]
    swap = av.FaceSwap(photo)
    swap.apply(image, Analysis(faces=faces))
    lm = faces[0].landmarks.copy()
    lm[10, 0] = bad
    with pytest.raises((ValueError, OverflowError)):
        swap.apply(image, Analysis(faces=[replace(faces[0], landmarks=lm)]))
    assert swap._opacity == 1.0
    out, outputs = swap.apply(image, Analysis(faces=faces))
    assert outputs["altered"] and _same(out, image, faces[0].box) < 0.3


@pytest.mark.parametrize("gaps", [(np.nan, 0.3), (np.inf, np.inf), (0.0, 0.0), (-1.0, 0.2), (0.3, np.nan)])
def test_lid_gaps_that_are_not_a_reading_are_not_read(photo, s18, gaps):
    """``Face.lids`` with NaN, infinity, zero or a negative gap: the swap reads the lids itself, the
    usual open gaps stay finite, and the closure is a number in 0..1."""
    swap = av.FaceSwap(photo)
    for image, faces in s18[:3]:
        lids = swap.lid_weights(faces[0].landmarks, image, np.array(gaps, np.float32))
        assert all(np.isfinite(v) and 0.0 <= v <= 1.0 for v in lids)
    assert np.isfinite(swap.lid_reading.closure._open).all() and np.isfinite(swap.lid_reading._open).all()
    assert swap.lid_reading.closure.reads >= 1  # its own reading: the face stage's was refused


def test_the_photo_avatar_survives_a_first_face_with_a_nan_point(photo, s18, portrait_mask):
    avatar = av.PhotoAvatar(photo, mask=portrait_mask)
    image, faces = s18[0]
    lm = faces[0].landmarks.copy()
    lm[1, 0] = np.nan
    try:
        avatar.apply(image, Analysis(faces=[replace(faces[0], landmarks=lm, raw_landmarks=lm)]))
    except Exception:  # noqa: BLE001 - this frame may fail (hidden)
        pass
    for image, faces in s18[1:5]:
        out, outputs = avatar.apply(image, Analysis(faces=faces))
        assert _same(out, image) < 0.5


def test_the_photo_avatar_survives_one_infinite_unfiltered_point(photo, s18, portrait_mask):
    avatar = av.PhotoAvatar(photo, mask=portrait_mask)
    for i, (image, faces) in enumerate(s18[:8]):
        face = faces[0]
        if i == 3:
            raw = face.landmarks.copy()
            raw[1, 0] = np.inf
            face = replace(face, raw_landmarks=raw)
        try:
            avatar.apply(image, Analysis(faces=[face]))
        except Exception:  # noqa: BLE001
            if i != 3:
                raise


@hsettings(max_examples=6, deadline=None, database=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(p=wild.filter(lambda p: p["scale"] <= 2.0), start=st.integers(1, 3))
def test_the_photo_avatar_never_shows_the_wearer_under_wild_meshes(photo, s18, portrait_mask, p, start):
    """From ``start`` on the wearer's mesh is taken somewhere wild; whatever the avatar draws is the
    portrait (an exception would hide the frame), never the wearer's frame."""
    avatar = av.PhotoAvatar(photo, mask=portrait_mask)
    for i, (image, faces) in enumerate(s18[:start + 3]):
        face = faces[0]
        if i >= start:
            lm = _wild(face.landmarks, (image.shape[1], image.shape[0]), p)
            face = replace(face, landmarks=lm, raw_landmarks=None)
        out, outputs = avatar.apply(image, Analysis(faces=[face]))
        assert out.shape == image.shape and outputs["mask"].shape == image.shape[:2]
        assert _same(out, image) < 0.5


# ---------------------------------------------------------------- the iris model misbehaving mid-blink


@pytest.fixture
def iris_fault(monkeypatch):
    """ORT's run of the iris model answering wrongly while ``kind`` is set."""
    real = ort.InferenceSession.run

    class Fault:
        kind: str | None = None

    def run(self, names, feeds, *args, **kwargs):
        out = real(self, names, feeds, *args, **kwargs)
        if Fault.kind and "iris" in os.path.basename(self._model_path):
            if Fault.kind == "nan":
                return [np.full_like(o, np.nan) for o in out]
            if Fault.kind == "shape":
                return [o.reshape(-1)[: o.size // 2] for o in out]
            if Fault.kind == "raise":
                raise RuntimeError("injected ORT failure")
            if Fault.kind == "zeros":
                return [np.zeros_like(o) for o in out]
        return out

    monkeypatch.setattr(ort.InferenceSession, "run", run)
    return Fault


def _hidden_pattern(pipeline: Pipeline, frames) -> str:
    marks = []
    for image, _ in frames:
        before = pipeline.gate.hidden
        pipeline.process(image)
        marks.append("H" if pipeline.gate.hidden > before else ".")
    return "".join(marks)


@pytest.mark.parametrize("mode,kind", [
    ("swap", k) for k in ("nan", "shape", "raise")] + [("animate", "nan"), ("swap", "zeros")])
def test_an_iris_model_fault_mid_blink_hides_no_avatar_frame(s18, iris_fault, mode, kind):
    """The iris model only refines the blink (the mesh reads the lids too): its fault must not cost
    frames. ``zeros`` (finite nonsense) already passes."""
    pipeline = Pipeline(S.update(S.Settings(), avatar={"mode": mode, "photo": str(HOPPER)}, background={"mode": "off"}))
    try:
        pipeline.wait_for_builds()
        iris_fault.kind = kind
        pattern = _hidden_pattern(pipeline, s18)
    finally:
        iris_fault.kind = None
        pipeline.close()
    assert pattern == "." * len(s18), pattern


# ---------------------------------------------------------------- frames, portraits, settings


@pytest.mark.parametrize("mode", ["swap", "animate"])
def test_odd_frame_sizes_never_raise_and_keep_their_shape(astronaut, mode):
    """Odd widths and heights, one row, one column, portrait orientation: every frame leaves with its
    own shape as 8-bit BGR, and no frame too small for a face raises out of process()."""
    pipeline = Pipeline(S.update(S.Settings(), avatar={"mode": mode, "photo": str(HOPPER)},
                                 background={"mode": "blur", "blur": 80}))
    try:
        for h, w in [(511, 383), (333, 777), (1, 640), (640, 1), (2, 3), (721, 405)]:
            frame = cv2.resize(astronaut, (w, h), interpolation=cv2.INTER_AREA)
            for _ in range(2):
                out = pipeline.process(frame)
                assert out.shape == frame.shape and out.dtype == np.uint8
    finally:
        pipeline.close()


FLIPS = [
    {"mode": "swap", "photo": str(HOPPER)},
    {"mode": "swap", "photo": str(HOPPER), "own_eyes_mouth": True},
    {"mode": "animate", "photo": str(HOPPER)},
    {"mode": "swap", "photo": str(ASTRONAUT)},
    {"mode": "swap", "photo": str(HOPPER), "own_eyes_mouth": False},
    {"mode": "animate", "photo": str(ASTRONAUT)},
]


def test_settings_flipped_between_frames_never_show_the_wearers_face(s18):
    """Photo, mode and own-eyes-mouth changed between frames (every second frame): no frame shows the
    wearer's own face in its box (the share of it left as it came is under a half)."""
    pipeline = Pipeline(S.update(S.Settings(), avatar=FLIPS[0], background={"mode": "off"}))
    worst = 0.0
    try:
        for i, (image, faces) in enumerate(s18[:12]):
            if i and i % 2 == 0:
                pipeline.apply(S.update(pipeline.settings, avatar=FLIPS[(i // 2) % len(FLIPS)]))
            out = pipeline.process(image)
            worst = max(worst, _same(out, image, faces[0].box))
    finally:
        pipeline.close()
    assert worst < 0.5, worst


@pytest.mark.parametrize("name,make", [
    ("grey", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)),
    ("16-bit", lambda im: im.astype(np.uint16) * 257),
    ("rgba", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA)),
    ("rgba-clear", lambda im: np.dstack([im, np.zeros(im.shape[:2], np.uint8)])),
])
def test_a_portrait_in_any_pixel_format_loads_as_8_bit_bgr(tmp_path, name, make):
    path = tmp_path / "portrait.png"
    cv2.imwrite(str(path), make(cv2.imread(str(HOPPER))))
    loaded = load_avatar_photo(path, store=False)
    assert loaded.image.dtype == np.uint8 and loaded.image.ndim == 3 and loaded.image.shape[2] == 3
    assert np.isfinite(loaded.landmarks).all()


@pytest.mark.parametrize("name,make", [
    ("tiny", lambda im: cv2.resize(im, (48, 60), interpolation=cv2.INTER_AREA)),
    ("cut", lambda im: im[:, : im.shape[1] // 2 + 40]),
])
def test_a_tiny_or_cut_portrait_is_refused_with_a_sentence(tmp_path, name, make):
    path = tmp_path / "portrait.png"
    cv2.imwrite(str(path), make(cv2.imread(str(HOPPER))))
    with pytest.raises(AvatarPhotoError) as err:
        load_avatar_photo(path, store=False)
    assert str(err.value).endswith(".") and "portrait.png" in str(err.value)


@pytest.mark.parametrize("fill", [0, 255])
def test_a_portrait_whose_person_mask_is_empty_or_everything(photo, s18, fill):
    """The photo avatar built on an empty or a full person mask draws every frame, hands on a mask
    of the frame's size, and never shows the wearer."""
    avatar = av.PhotoAvatar(photo, mask=np.full(photo.image.shape[:2], fill, np.uint8))
    for image, faces in s18[:4]:
        out, outputs = avatar.apply(image, Analysis(faces=faces))
        assert out.shape == image.shape and outputs["mask"].shape == image.shape[:2]
        assert _same(out, image) < 0.5


def test_a_face_found_every_other_frame_keeps_the_swap_whole(photo, s18):
    image, faces = s18[0]
    swap = av.FaceSwap(photo)
    shown = []
    for i in range(12):
        swap.apply(image, Analysis(faces=faces if i % 2 == 0 else []))
        shown.append(swap._opacity)
    assert min(shown) >= 0.95, [round(v, 2) for v in shown]


def test_a_face_that_leaves_still_fades_out_and_is_forgotten(photo, s18):
    """The swap of a face that is gone fades to nothing within a second and forgets the wearer."""
    image, faces = s18[0]
    swap = av.FaceSwap(photo)
    swap.apply(image, Analysis(faces=faces))
    outs = [swap.apply(image, Analysis()) for _ in range(30)]
    assert outs[-1][0] is image and outs[-1][1] == {"altered": False}
    assert swap._shape is None  # forgotten
    first_gone = next(i for i, (out, _) in enumerate(outs) if out is image)
    assert first_gone <= 20


def test_two_faces_swapping_order_each_frame_swap_the_first_at_once(photo):
    """Two tracked faces (max_faces 2) whose order flips every frame: the swap follows the first
    face of each frame at full strength, no fade in between (the other face is left as it is: the
    swap draws one face, so a wearer listed second shows; see the report)."""
    path = shared_data() / "faces" / "multi" / "fr_two_people.jpg"
    if not path.is_file():
        pytest.skip("shared test data (faces) not found")
    from livecam.analysis.face_tracker import FaceTracker
    from livecam.settings import FaceSettings, RuntimeSettings

    image = cv2.imread(str(path))
    tracker = FaceTracker(FaceSettings(max_faces=2), RuntimeSettings())
    for _ in range(6):
        faces = tracker.process(image)
    assert len(faces) == 2
    swap = av.FaceSwap(photo)
    for i in range(6):
        order = faces if i % 2 == 0 else faces[::-1]
        out, outputs = swap.apply(image, Analysis(faces=order))
        assert outputs["altered"] and swap._opacity == 1.0
        assert _same(out, image, order[0].box) < 0.35  # measured 0.23-0.24
        assert _same(out, image, order[1].box) > 0.95


def test_a_torn_mesh_fades_the_swap_out_on_the_last_whole_face(photo, s18):
    image, faces = s18[6]
    h, w = image.shape[:2]
    swap = av.FaceSwap(photo)
    swap.apply(image, Analysis(faces=faces))
    shape = swap._shape.copy()
    grid = Grid.around(swap._last, av.BOX_MARGIN, (w, h), av.MAP_STEP)
    rows, cols = grid.slices
    inside = np.zeros((h, w), bool)
    inside[rows, cols] = True
    rng = np.random.default_rng(5)
    for _ in range(6):
        lm = faces[0].landmarks.copy()
        lm[:, :2] = rng.uniform(0, 1, (len(lm), 2)) * (w, h)
        out, _ = swap.apply(image, Analysis(faces=[replace(faces[0], landmarks=lm)]))
        assert np.array_equal(out[~inside], image[~inside])
    assert 0.0 < swap._opacity < 1.0  # still fading
    assert np.array_equal(swap._shape, shape)
