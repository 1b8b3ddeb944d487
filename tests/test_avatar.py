"""Avatar effects on real pixels: the NASA astronaut portrait is the wearer, Grace Hopper's the avatar
photo (both public domain). The geometry helpers are checked on exact numbers first."""
import logging
from dataclasses import replace
from itertools import pairwise

import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from livecam.analysis import face_regions as regions
from livecam.analysis.avatar_photo import AvatarPhotoError, load_avatar_photo
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import avatar as av
from livecam.effects import mesh_warp as mw
from livecam.settings import AvatarSettings, FaceSettings, RuntimeSettings, config_dir
from livecam.types import Analysis

HOPPER = FIXTURES / "mpl_grace_hopper.jpg"
ASTRONAUT = FIXTURES / "sk_astronaut.png"


# ---------------------------------------------------------------- geometry


def test_triangulate_covers_a_grid_without_degenerate_triangles():
    ys, xs = np.mgrid[0:5, 0:6]
    points = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64) * 10
    tris = mw.triangulate(points)
    areas = np.abs(mw.signed_areas(points, tris))
    assert tris.min() >= 0 and tris.max() < len(points)
    assert areas.min() > 1.0
    assert areas.sum() == pytest.approx(50 * 40)  # the hull exactly, no overlaps


def test_triangle_affines_send_each_destination_corner_to_its_source_corner():
    rng = np.random.default_rng(1)
    src = rng.random((30, 2)) * 100
    dst = src * 1.3 + rng.random((30, 2)) * 5 + 20
    tris = mw.triangulate(dst)
    a = mw.triangle_affines(src, dst, tris)
    for m, tri in enumerate(tris, start=1):
        got = np.hstack([dst[tri], np.ones((3, 1))]) @ a[m]
        assert np.allclose(got, src[tri], atol=1e-2)


def test_identity_warp_reproduces_the_picture():
    picture = (np.random.default_rng(2).random((120, 160, 3)) * 255).astype(np.uint8)
    ys, xs = np.mgrid[10:111:20, 10:151:20]
    points = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    tris = mw.triangulate(points)
    grid = mw.Grid(0, 0, 40, 30, 4)
    out = mw.warp(picture, mw.coarse_map(points, points, tris, grid), grid)
    assert out.shape == picture.shape
    assert np.abs(out.astype(int) - picture).max() <= 1


def test_shifted_warp_moves_the_picture():
    picture = np.zeros((120, 160, 3), np.uint8)
    cv2.circle(picture, (80, 60), 12, (255, 255, 255), -1)
    ys, xs = np.mgrid[0:121:20, 0:161:20]
    src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    dst = src + (8, 4)  # the picture's content should land 8 px right, 4 px down
    grid = mw.Grid(0, 0, 40, 30, 4)
    out = mw.warp(picture, mw.coarse_map(src, dst, mw.triangulate(src), grid), grid)
    ys_, xs_ = np.nonzero(out[..., 0] > 127)
    assert xs_.mean() == pytest.approx(88, abs=0.5) and ys_.mean() == pytest.approx(64, abs=0.5)


def test_warp_points_keep_every_outline_point():
    layout = np.random.default_rng(3).random((468, 2))
    chosen = mw.warp_points(layout, 240, av.OUTLINES)
    assert len(chosen) == 240 and len(set(chosen.tolist())) == 240
    outline = {i for poly in av.OUTLINES for i in poly}
    assert outline <= set(chosen.tolist())


def test_fold_share_sees_a_mirrored_mesh():
    points = np.random.default_rng(4).random((40, 2)) * 100
    tris = mw.triangulate(points)
    assert mw.fold_share(points, points, tris) == 0.0
    assert mw.fold_share(points, points * (-1, 1), tris) == pytest.approx(1.0)


# ---------------------------------------------------------------- fixtures on real faces


@pytest.fixture(scope="module")
def hopper_photo():
    return load_avatar_photo(HOPPER, store=False)


@pytest.fixture(scope="module")
def wearer():
    """(astronaut image, its tracked Face) — the face is found once for the whole module."""
    image = cv2.imread(str(ASTRONAUT))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    faces = []
    for _ in range(3):  # a few frames so the crop settles on the landmarks
        faces = tracker.process(image)
    assert faces, "the astronaut's face should be found"
    return image, faces[0]


def _region(landmarks, indices, shape, erode=0):
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(regions.polygon(landmarks, indices)).astype(np.int32)], 255)
    if erode:
        mask = cv2.erode(mask, np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))
    return mask > 0


# ---------------------------------------------------------------- face swap


def test_swap_changes_the_face_and_leaves_the_rest(hopper_photo, wearer):
    image, face = wearer
    out = av.FaceSwap(hopper_photo).render(image, face.landmarks)
    assert out.shape == image.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - image).sum(2)
    inside = _region(face.landmarks, regions.FACE_OVAL, image.shape, erode=8)
    cheeks = inside & ~_region(face.landmarks, regions.LIPS_OUTER, image.shape) \
        & ~_region(face.landmarks, regions.RIGHT_EYE, image.shape) & ~_region(face.landmarks, regions.LEFT_EYE, image.shape)
    assert diff[cheeks].mean() > 20  # Hopper's skin and glasses replaced the astronaut's
    grid = mw.Grid.around(face.landmarks, av.BOX_MARGIN, (image.shape[1], image.shape[0]), av.MAP_STEP)
    outside = np.ones(image.shape[:2], bool)
    outside[grid.slices] = False
    assert (diff[outside] == 0).all()
    # Nothing beyond the face outline and its feather (4 sigma of the blur, two grid cells of upsampling).
    reach = int(4 * av.FEATHER * av.face_width(face.landmarks)) + 2 * av.MAP_STEP
    outline = _region(face.landmarks, regions.FACE_OVAL, image.shape).astype(np.uint8)
    far = ~cv2.dilate(outline, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)).astype(bool)
    assert (diff[far] == 0).all()


def test_swap_matches_the_live_skin_colour(hopper_photo, wearer):
    """Hopper's photo is pale and cool; on the astronaut the swapped skin takes the live skin tone."""
    image, face = wearer
    out = av.FaceSwap(hopper_photo).render(image, face.landmarks)
    skin = _region(face.landmarks, regions.FACE_OVAL, image.shape, erode=10)
    for idx in regions.FEATURES.values():
        skin &= ~_region(face.landmarks, idx, image.shape)
    live_lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[skin].mean(0)
    out_lab = cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[skin].mean(0)
    photo = hopper_photo.image
    hopper_skin = _region(hopper_photo.landmarks, regions.FACE_OVAL, photo.shape, erode=10)
    hopper_lab = cv2.cvtColor(photo, cv2.COLOR_BGR2LAB)[hopper_skin].mean(0)
    # Lightness may sit a little lower: Hopper's dark glasses frames lie on the skin and stay.
    assert (np.abs(out_lab - live_lab) < (12, 5, 5)).all()
    assert np.abs(out_lab - live_lab).sum() < np.abs(hopper_lab - live_lab).sum() / 2


def test_keep_eyes_mouth_keeps_the_wearers_eyes(hopper_photo, wearer):
    image, face = wearer
    eyes = _region(face.landmarks, regions.RIGHT_EYE, image.shape, erode=2) \
        | _region(face.landmarks, regions.LEFT_EYE, image.shape, erode=2)
    assert eyes.sum() > 30
    kept = av.FaceSwap(hopper_photo, keep_eyes_mouth=True).render(image, face.landmarks)
    replaced = av.FaceSwap(hopper_photo, keep_eyes_mouth=False).render(image, face.landmarks)
    kept_diff = np.abs(kept.astype(int) - image).sum(2)[eyes].mean()
    replaced_diff = np.abs(replaced.astype(int) - image).sum(2)[eyes].mean()
    assert kept_diff < 6
    assert replaced_diff > 4 * kept_diff + 10


def test_keep_eyes_mouth_keeps_an_open_mouth_interior(hopper_photo, wearer):
    image, face = wearer
    mouth = _region(face.landmarks, regions.LIPS_INNER, image.shape, erode=2)
    if mouth.sum() < 10:  # the astronaut smiles with parted lips; guard against a closed fit
        pytest.skip("mouth closed in this fit")
    kept = av.FaceSwap(hopper_photo).render(image, face.landmarks)
    assert np.abs(kept.astype(int) - image).sum(2)[mouth].mean() < 6


def test_no_face_leaves_the_frame_unchanged(hopper_photo, wearer):
    image, _ = wearer
    swap = av.FaceSwap(hopper_photo)
    assert swap.apply(image, Analysis()) is image


def test_losing_the_face_fades_back_to_the_live_frame(hopper_photo, wearer):
    image, face = wearer
    swap = av.FaceSwap(hopper_photo)
    for _ in range(20):  # fade in to full strength
        swap.apply(image, Analysis(faces=[face]))
    change = []
    for _ in range(30):
        out = swap.apply(image, Analysis())
        change.append(np.abs(out.astype(int) - image).mean())
    assert change[0] > 0
    assert all(b <= a for a, b in pairwise(change))  # monotonic, no pop
    assert change[1] < change[0] and change[-1] == 0.0


def test_large_head_turns_fade_out(hopper_photo, wearer):
    _, face = wearer
    swap = av.FaceSwap(hopper_photo)
    assert swap.target_opacity(face.landmarks, (0.0, 0.0, 0.0)) == pytest.approx(1.0)
    assert 0.0 < swap.target_opacity(face.landmarks, (38.0, 0.0, 0.0)) < 1.0
    assert swap.target_opacity(face.landmarks, (-60.0, 0.0, 0.0)) == 0.0
    mirrored = face.landmarks.copy()
    mirrored[:, 0] = 2 * mirrored[:, 0].mean() - mirrored[:, 0]  # every triangle inside out
    assert swap.target_opacity(mirrored, (0.0, 0.0, 0.0)) == 0.0


def test_blinks_show_the_wearers_own_lids(hopper_photo, wearer):
    _, face = wearer
    swap = av.FaceSwap(hopper_photo)
    for _ in range(5):
        assert swap.lid_weights(face.landmarks) == [0.0, 0.0]  # eyes open: the photo's lids
    closed = face.landmarks.copy()
    for _, _, (upper, lower, _, _) in av.EYES:
        mid = (closed[upper] + closed[lower]) / 2
        closed[upper], closed[lower] = mid, mid
    assert swap.lid_weights(closed) == [1.0, 1.0]


def test_mouth_fill_darkens_an_opened_mouth(wearer):
    image, face = wearer
    opened = face.landmarks.copy()
    lower = [i for i in regions.LIPS_INNER if opened[i, 1] > opened[13, 1] + 1]
    opened[lower, 1] += 15
    grid = mw.Grid.around(opened, av.BOX_MARGIN, (image.shape[1], image.shape[0]), 1)
    patch = np.full((grid.rows, grid.cols, 3), 200, np.uint8)
    av.fill_mouth(patch, opened, grid, source_open=0.0)
    inside = _region(opened, regions.LIPS_INNER, image.shape, erode=3)[grid.slices]
    assert inside.sum() > 20
    assert patch[inside].mean() < 150 and patch[~inside].mean() > 195


# ---------------------------------------------------------------- photo avatar


@pytest.fixture(scope="module")
def portrait(hopper_photo):
    return av.PhotoAvatar(hopper_photo)


def test_photo_avatar_shows_the_portrait_not_the_wearer(portrait, wearer):
    image, face = wearer
    portrait.recapture()
    analysis = Analysis(faces=[face])
    out = portrait.apply(image, analysis)
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    assert out.shape == image.shape
    # The neutral frame is the portrait at rest: the stage canvas, not the astronaut.
    assert np.abs(out.astype(int) - stage.canvas).mean() < 1.0
    assert np.abs(out.astype(int) - image).mean() > 30
    # The background effect composes by the portrait's person mask from here on.
    assert analysis.mask is not None and analysis.mask.shape == image.shape[:2]
    assert analysis.small is None and analysis.small_mask is None
    cx, cy = stage.landmarks[POSE_CENTRE, :2].astype(int)
    assert analysis.mask[cy, cx] > 200 and analysis.mask[5, 5] < 50


POSE_CENTRE = 1  # nose tip


def test_photo_avatar_is_composed_over_the_chosen_background(portrait, wearer):
    from livecam.effects.background import BlurBackground, ColorBackground

    image, face = wearer
    portrait.recapture()
    analysis = Analysis(faces=[face], mask=np.full(image.shape[:2], 255, np.uint8))  # the wearer's mask
    out = ColorBackground("#00ff00").apply(portrait.apply(image, analysis), analysis)
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    cx, cy = stage.landmarks[POSE_CENTRE, :2].astype(int)
    assert (out[cy, cx] == stage.canvas[cy, cx]).all()  # the portrait's face
    assert (out[5, 5] == (0, 255, 0)).all()  # the chosen background where the portrait has none
    # With the segmenter's small frame present, the blur gets the portrait's, never the wearer's.
    small = np.zeros((144, 256, 3), np.uint8)
    analysis = Analysis(faces=[face], small=small, small_mask=np.ones((144, 256), np.float32))
    blurred = BlurBackground(60).apply(portrait.apply(image, analysis), analysis)
    assert analysis.small.shape == small.shape and analysis.small.mean() > 20
    assert analysis.small_mask.shape == (144, 256) and analysis.small_mask.max() <= 1.0
    assert (blurred[cy, cx] == stage.canvas[cy, cx]).all()


def test_photo_avatar_follows_head_motion(portrait, wearer):
    image, face = wearer
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))  # neutral
    moved = replace(face, landmarks=face.landmarks + np.float32([12, 0, 0]))
    out = portrait.apply(image, Analysis(faces=[moved]))
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    k = stage.face_width / av.face_width(face.landmarks)
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.float32)
    rest = cv2.cvtColor(stage.canvas, cv2.COLOR_BGR2GRAY).astype(np.float32)
    x0, y0 = stage.landmarks[:, :2].min(0).astype(int)
    x1, y1 = stage.landmarks[:, :2].max(0).astype(int)
    window = cv2.createHanningWindow((x1 - x0, y1 - y0), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(rest[y0:y1, x0:x1], grey[y0:y1, x0:x1], window)
    assert dx == pytest.approx(12 * k, abs=2.0) and abs(dy) < 2.0


def test_photo_avatar_opens_its_mouth_with_the_wearer(portrait, wearer):
    image, face = wearer
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))
    opened = face.landmarks.copy()
    lower = [i for i in range(468) if opened[i, 1] > opened[14, 1] - 1
             and abs(opened[i, 0] - opened[14, 0]) < 40]  # the jaw below the lower lip drops
    opened[lower, 1] += 12
    out = portrait.apply(image, Analysis(faces=[replace(face, landmarks=opened)]))
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    mouth = _region(stage.landmarks, regions.LIPS_OUTER, image.shape)
    below = np.zeros_like(mouth)
    ys, xs = np.nonzero(mouth)
    below[ys.max(): ys.max() + 10, xs.min(): xs.max()] = True
    assert np.abs(out.astype(int) - stage.canvas)[mouth | below].mean() > 10


def test_photo_avatar_relaxes_when_the_face_is_lost(portrait, wearer):
    image, face = wearer
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))
    moved = replace(face, landmarks=face.landmarks + np.float32([15, 5, 0]))
    portrait.apply(image, Analysis(faces=[moved]))
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    gaps = [np.abs(portrait.apply(image, Analysis()).astype(int) - stage.canvas).mean() for _ in range(60)]
    assert all(b <= a + 0.05 for a, b in pairwise(gaps))  # eases back, no pop
    assert gaps[0] > 1.0 and gaps[-1] == 0.0


# ---------------------------------------------------------------- photos and the builder


def test_photo_without_a_face_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), np.full((300, 400, 3), 128, np.uint8))
    with pytest.raises(AvatarPhotoError, match="shows no face"):
        load_avatar_photo(path)


def test_photo_with_two_faces_is_refused(tmp_path):
    two = np.hstack([cv2.resize(cv2.imread(str(HOPPER)), (512, 512)), cv2.imread(str(ASTRONAUT))])
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), two)
    with pytest.raises(AvatarPhotoError, match="shows 2 faces; crop it"):
        load_avatar_photo(path)


def test_photo_with_a_tiny_face_is_refused(tmp_path):
    path = tmp_path / "tiny.png"
    cv2.imwrite(str(path), cv2.resize(cv2.imread(str(HOPPER)), (128, 150), interpolation=cv2.INTER_AREA))
    with pytest.raises(AvatarPhotoError, match="pixels wide; use a photo where it is at least"):
        load_avatar_photo(path)


def test_missing_or_unreadable_photo_is_refused(tmp_path):
    with pytest.raises(AvatarPhotoError, match="does not exist"):
        load_avatar_photo(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a picture")
    with pytest.raises(AvatarPhotoError, match="cannot be read as an image"):
        load_avatar_photo(bad)
    with pytest.raises(AvatarPhotoError, match="No avatar photo is set"):
        load_avatar_photo("")


def test_accepted_photo_is_kept_in_the_config_folder(tmp_path):
    original = tmp_path / "me.jpg"
    original.write_bytes(HOPPER.read_bytes())
    photo = load_avatar_photo(original)
    assert photo.path.parent == config_dir() / "avatars"
    assert photo.path.read_bytes() == HOPPER.read_bytes()
    original.unlink()  # the stored copy keeps working without the original
    assert load_avatar_photo(photo.path).path == photo.path
    assert load_avatar_photo(original).path == photo.path  # the setting still names the original


def test_build_avatar_picks_the_effect_and_logs_a_hidden_badge(caplog):
    assert av.build_avatar(AvatarSettings(mode="off")) is None
    swap = av.build_avatar(AvatarSettings(mode="swap", photo=str(HOPPER), keep_eyes_mouth=False))
    assert isinstance(swap, av.FaceSwap) and not swap.keep_eyes_mouth
    assert swap.needs == frozenset({"faces"}) and swap.stage == "post"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    with caplog.at_level(logging.WARNING):
        av.build_avatar(AvatarSettings(mode="swap", photo=str(HOPPER), badge=False))
    assert av.BADGE_OFF_WARNING in caplog.text


def test_build_avatar_refuses_a_bad_photo_as_a_value_error(tmp_path):
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), np.full((300, 400, 3), 128, np.uint8))
    with pytest.raises(ValueError, match="shows no face"):
        av.build_avatar(AvatarSettings(mode="animate", photo=str(path)))


def test_pipeline_recapture_reaches_the_photo_avatar():
    from livecam.pipeline import Pipeline

    calls = []

    class FakeAvatar:
        needs, stage = frozenset(), "post"

        def apply(self, image, analysis):
            return image

        def recapture(self):
            calls.append(1)

    from livecam import settings as S

    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "off"}))
    pipeline._effects["avatar"] = FakeAvatar()
    pipeline.recapture_neutral()
    assert calls == [1]
