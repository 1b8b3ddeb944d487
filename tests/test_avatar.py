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
from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.analysis.face_tracker import FaceTracker
from livecam.analysis.head_pose import head_pose
from livecam.effects import avatar as av
from livecam.effects import avatar_stage as ast
from livecam.effects import mesh_warp as mw
from livecam.settings import AvatarSettings, FaceSettings, RuntimeSettings
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
def astronaut_photo():
    return load_avatar_photo(ASTRONAUT, store=False)


def _tracked(path):
    image = cv2.imread(str(path))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    faces = []
    for _ in range(3):  # a few frames so the crop settles on the landmarks
        faces = tracker.process(image)
    assert faces, f"the face in {path.name} should be found"
    return image, faces[0]


@pytest.fixture(scope="module")
def wearer():
    """(astronaut image, its tracked Face) — the face is found once for the whole module."""
    return _tracked(ASTRONAUT)


@pytest.fixture(scope="module")
def hopper_wearer():
    return _tracked(HOPPER)


def _region(landmarks, indices, shape, erode=0):
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(regions.polygon(landmarks, indices)).astype(np.int32)], 255)
    if erode:
        mask = cv2.erode(mask, np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))
    return mask > 0


def _skin(landmarks, shape, erode=10):
    """The face's skin: the outline pulled in by ``erode`` minus the features grown by 4 px."""
    skin = _region(landmarks, regions.FACE_OVAL, shape, erode=erode)
    for idx in regions.FEATURES.values():
        feature = _region(landmarks, idx, shape).astype(np.uint8)
        skin &= ~cv2.dilate(feature, np.ones((9, 9), np.uint8)).astype(bool)
    return skin


# ---------------------------------------------------------------- face swap


def test_swap_changes_the_face_and_leaves_the_rest(hopper_photo, wearer):
    image, face = wearer
    out = av.FaceSwap(hopper_photo).render(image, face.landmarks)
    assert out.shape == image.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - image).sum(2)
    cheeks = _skin(face.landmarks, image.shape)
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


def test_swap_takes_the_live_light_and_keeps_the_photos_tone(hopper_photo, wearer):
    """Hopper's photo is darker and warmer than the astronaut: the swapped skin takes most of the
    live light's colour but keeps part of Hopper's darker skin (``avatar_light.skin_tone``;
    medians: Hopper's dark glasses frames stay dark on purpose)."""
    image, face = wearer
    out = av.FaceSwap(hopper_photo).render(image, face.landmarks)
    skin = _skin(face.landmarks, image.shape)
    live_lab = np.median(cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[skin], axis=0)
    out_lab = np.median(cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[skin], axis=0)
    photo = hopper_photo.image
    hopper_lab = np.median(cv2.cvtColor(photo, cv2.COLOR_BGR2LAB)[_skin(hopper_photo.landmarks, photo.shape)], axis=0)
    assert (np.abs(out_lab[1:] - live_lab[1:]) < 5).all()  # the colour is mostly the live light's
    assert hopper_lab[0] + 4 < out_lab[0] < live_lab[0] - 8  # part of the photo's darker skin stays
    assert np.abs(out_lab - live_lab).sum() < np.abs(hopper_lab - live_lab).sum() / 2


def _band_lab(image, landmarks, inside, lo, hi, sectors=12):
    """Mean float Lab per sector of the band ``lo``..``hi`` face widths inside (or outside) the outline."""
    fw = av.face_width(landmarks)
    oval = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(regions.polygon(landmarks, regions.FACE_OVAL)).astype(np.int32)], 1)
    dist = cv2.distanceTransform(oval if inside else 1 - oval, cv2.DIST_L2, 5) / fw
    band = (dist >= lo) & (dist < hi)
    cx, cy = landmarks[np.asarray(regions.FACE_OVAL), :2].mean(0)
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    sector = ((np.arctan2(ys - cy, xs - cx) + np.pi) / (2 * np.pi) * sectors).astype(int) % sectors
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    return np.array([lab[band & (sector == k)].mean(0) for k in range(sectors)])


def test_swap_adds_no_colour_step_at_its_border(hopper_photo, wearer):
    """Between the altered face's border band and what lies just outside it, the swap adds hardly any
    colour difference (Delta E in Lab) to the one the wearer's own face had there."""
    image, face = wearer
    out = av.FaceSwap(hopper_photo).render(image, face.landmarks)
    lm = face.landmarks
    before = np.linalg.norm(_band_lab(image, lm, True, 0.08, 0.16) - _band_lab(image, lm, False, 0.02, 0.08), axis=1)
    after = np.linalg.norm(_band_lab(out, lm, True, 0.08, 0.16) - _band_lab(out, lm, False, 0.02, 0.08), axis=1)
    assert np.median(after - before) < 3.0
    # Pasted without the relighting (Hopper's own grey skin), the step would be plain to see.
    src = av._SourceFace(hopper_photo)
    grid = mw.Grid.around(lm, av.BOX_MARGIN, (image.shape[1], image.shape[0]), av.MAP_STEP)
    raw = image.copy()
    alpha = grid.up(av.face_alpha(lm, grid, 1.0))
    from livecam.effects.background import composite

    raw[grid.slices] = composite(mw.warp(src.image, src.mesh.coarse(lm[src.points], grid), grid), image[grid.slices], alpha)
    pasted = np.linalg.norm(_band_lab(raw, lm, True, 0.08, 0.16) - _band_lab(raw, lm, False, 0.02, 0.08), axis=1)
    assert np.median(pasted - before) > np.median(after - before) + 3.0


def test_own_eyes_mouth_keeps_the_wearers_eyes_and_the_default_shows_the_photos(hopper_photo, wearer):
    image, face = wearer
    eyes = _region(face.landmarks, regions.RIGHT_EYE, image.shape, erode=2) \
        | _region(face.landmarks, regions.LEFT_EYE, image.shape, erode=2)
    assert eyes.sum() > 30
    kept = av.FaceSwap(hopper_photo, own_eyes_mouth=True).render(image, face.landmarks)
    replaced = av.FaceSwap(hopper_photo).render(image, face.landmarks)
    kept_diff = np.abs(kept.astype(int) - image).sum(2)[eyes].mean()
    replaced_diff = np.abs(replaced.astype(int) - image).sum(2)[eyes].mean()
    assert kept_diff < 12  # the wearer's eyes, with their own grain
    assert replaced_diff > 3 * kept_diff + 10


def test_own_eyes_mouth_keeps_an_open_mouth_interior(hopper_photo, wearer):
    image, face = wearer
    lm = face.landmarks.copy()
    lower = [i for i in regions.LIPS_INNER if lm[i, 1] > lm[13, 1] + 1]
    lm[lower, 1] += 10  # open wider than the smile: well past the keep ramp
    mouth = _region(lm, regions.LIPS_INNER, image.shape, erode=2)
    assert mouth.sum() > 30
    kept = av.FaceSwap(hopper_photo, own_eyes_mouth=True).render(image, lm)
    assert np.abs(kept.astype(int) - image).sum(2)[mouth].mean() < 12


def test_a_closed_mouth_shows_no_bright_line(astronaut_photo, hopper_wearer):
    """The astronaut smiles with her teeth showing; swapped onto Hopper's closed mouth, the teeth must
    not survive as a light stripe between the lips."""
    image, face = hopper_wearer
    out = av.FaceSwap(astronaut_photo).render(image, face.landmarks)
    lm = face.landmarks
    line = np.zeros(image.shape[:2], np.uint8)
    cv2.polylines(line, [np.round(regions.polygon(lm, regions.LIPS_INNER)).astype(np.int32)], True, 255, 2)
    lips = _region(lm, regions.LIPS_OUTER, image.shape) & (line == 0)
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(float)
    assert grey[line > 0].mean() <= grey[lips].mean() + 5


def test_relighting_cannot_blotch_on_a_dark_photo(hopper_photo, wearer):
    """A photo lit from one side, its shadow side nearly black: the swapped face has no grey
    patches or white hotspots, its skin stays as smooth as the wearer's."""
    photo = hopper_photo.image.copy()
    h, w = photo.shape[:2]
    ramp = np.clip(np.linspace(1.2, 0.08, w), 0, None)[None, :, None]
    dark = replace(hopper_photo, image=np.clip(photo * ramp, 0, 255).astype(np.uint8))
    image, face = wearer
    out = av.FaceSwap(dark).render(image, face.landmarks)
    skin = _skin(face.landmarks, image.shape, erode=16)
    low_out = cv2.GaussianBlur(cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[..., 0].astype(float), (0, 0), 4)[skin]
    low_in = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[..., 0].astype(float), (0, 0), 4)[skin]
    assert low_out.max() <= low_in.max() + 15  # no hotspot
    # No black or grey hole: no deeper below the face's own level than the wearer's skin dips below
    # its own (the level itself is partly the photo's darker tone; Hopper's dark frames stay dark).
    assert np.median(low_out) - low_out.min() <= np.median(low_in) - low_in.min() + 25
    # As even as the wearer's skin (its level is not the wearer's: the photo's darker skin median,
    # shadow and all, is partly kept as its tone).
    def spread(v):
        return np.percentile(v, 95) - np.percentile(v, 5)

    assert spread(low_out) < spread(low_in) + 10


def test_swap_keeps_the_wearers_grain(hopper_photo, wearer):
    image, face = wearer
    rng = np.random.default_rng(5)
    noisy = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    clean_out = av.FaceSwap(hopper_photo).render(image, face.landmarks)
    noisy_out = av.FaceSwap(hopper_photo).render(noisy, face.landmarks)
    skin = _skin(face.landmarks, image.shape, erode=16)
    added = (noisy_out.astype(float) - clean_out)[skin]
    assert added.std() > 2.5  # the camera noise comes along onto the swapped face


def test_glasses_and_hair_in_front_stay_in_front(hopper_photo, wearer):
    """A dark bar (a glasses frame, a strand of hair) across the wearer's forehead stays visible."""
    image, face = wearer
    lm = face.landmarks
    occluded = image.copy()
    y = int(round((lm[10, 1] + lm[9, 1]) / 2))
    x0, x1 = int(lm[54, 0]), int(lm[284, 0])
    cv2.line(occluded, (x0, y), (x1, y), (25, 20, 20), 7)
    out = av.FaceSwap(hopper_photo).render(occluded, lm)
    bar = np.zeros(image.shape[:2], np.uint8)
    cv2.line(bar, (x0 + 15, y), (x1 - 15, y), 255, 3)
    assert cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[bar > 0].mean() < 70
    plain = av.FaceSwap(hopper_photo).render(image, lm)
    assert np.abs(plain.astype(int) - image).sum(2)[bar > 0].mean() > 15  # without it, the face is Hopper's there


def test_no_face_leaves_the_frame_unchanged_and_not_altered(hopper_photo, wearer):
    image, _ = wearer
    swap = av.FaceSwap(hopper_photo)
    analysis = Analysis()
    out, outputs = swap.apply(image, analysis)
    assert out is image and outputs == {"altered": False}
    assert analysis == Analysis()  # untouched


def test_swap_reports_altered_once_it_shows(hopper_photo, wearer):
    image, face = wearer
    swap = av.FaceSwap(hopper_photo)
    out, outputs = swap.apply(image, Analysis(faces=[face]))
    assert outputs["altered"] is True and out is not image


def test_a_face_already_in_view_is_swapped_at_full_strength_at_once(hopper_photo, wearer):
    # Switched on with the face in view, there is no pop to hide: the first frame is the whole swap.
    image, face = wearer
    swap = av.FaceSwap(hopper_photo)
    first, _ = swap.apply(image, Analysis(faces=[face]))
    assert np.array_equal(first, swap.render(image, swap._last, 1.0, swap._lids, wearer=face.landmarks))  # the photo-shaped mesh
    swap.apply(image, Analysis())  # one frame lost: held (a face at the detector's threshold)
    assert swap._opacity == 1.0
    swap.apply(image, Analysis())  # lost: fades out, and a face coming back fades in again
    assert 0.0 < swap._opacity < 1.0
    swap.apply(image, Analysis(faces=[face]))
    assert swap._opacity < 1.0


def test_losing_the_face_fades_back_to_the_live_frame(hopper_photo, wearer):
    image, face = wearer
    swap = av.FaceSwap(hopper_photo)
    for _ in range(20):  # fade in to full strength
        swap.apply(image, Analysis(faces=[face]))
    change, altered = [], []
    for _ in range(30):
        out, outputs = swap.apply(image, Analysis())
        change.append(np.abs(out.astype(int) - image).mean())
        altered.append(outputs["altered"])
    assert change[0] > 0
    assert all(b <= a for a, b in pairwise(change))  # monotonic, no pop
    assert change[1] < change[0] and change[-1] == 0.0
    assert altered[0] and not altered[-1]  # the badge goes exactly when the face is gone


def test_large_head_turns_fade_out(hopper_photo, wearer):
    _, face = wearer
    swap = av.FaceSwap(hopper_photo)
    assert swap.target_opacity(face.landmarks, (0.0, 0.0, 0.0)) == pytest.approx(1.0)
    assert 0.0 < swap.target_opacity(face.landmarks, (38.0, 0.0, 0.0)) < 1.0
    assert swap.target_opacity(face.landmarks, (-60.0, 0.0, 0.0)) == 0.0
    mirrored = face.landmarks.copy()
    mirrored[:, 0] = 2 * mirrored[:, 0].mean() - mirrored[:, 0]  # every triangle inside out
    assert swap.target_opacity(mirrored, (0.0, 0.0, 0.0)) == 0.0


def _turned(landmarks: np.ndarray, degrees: float) -> np.ndarray:
    """``landmarks`` turned about the vertical axis through their centre (a head turning)."""
    lm = landmarks.astype(np.float64).copy()
    c, a = lm.mean(0), np.radians(degrees)
    x, z = lm[:, 0] - c[0], lm[:, 2] - c[2]
    lm[:, 0] = c[0] + x * np.cos(a) + z * np.sin(a)
    lm[:, 2] = c[2] - x * np.sin(a) + z * np.cos(a)
    return lm.astype(np.float32)


def test_a_turned_heads_far_cheek_folding_at_the_silhouette_does_not_fade_the_swap(hopper_photo, wearer):
    """At 20 degrees the far cheek's triangles face away and fold over at the outline (5 % of the
    photo's face area: the old measure faded the swap to 0.6 there); they lie under the feathered
    edge, so the swap stays whole. Turned further, folds reach the shown face and it fades."""
    _, face = wearer
    swap = av.FaceSwap(hopper_photo)
    src = swap.source
    turned = _turned(face.landmarks, 20.0)
    pose = head_pose(turned)
    assert abs(pose[0]) == pytest.approx(20.0, abs=1.5)
    assert mw.fold_share(src.control, turned[src.points], src.triangles) > av.FOLD_FADE[0] + 0.02
    assert swap.target_opacity(turned, pose) == pytest.approx(1.0)
    further = _turned(face.landmarks, 35.0)
    assert swap.target_opacity(further, (0.0, 0.0, 0.0)) < 0.7  # by the folds alone
    assert 0.0 < src.fold_weight.min() < 0.5 < src.fold_weight.max() <= 1.0


def _squint(landmarks: np.ndarray, share: float) -> np.ndarray:
    """``landmarks`` with every lid margin pair moved together to ``share`` of its gap (the mesh
    closes only partly on a real blink)."""
    out = landmarks.copy()
    for pairs in av.LID_PAIRS:
        for upper, lower in pairs:
            mid = (out[upper, :2] + out[lower, :2]) / 2
            half = (out[upper, :2] - out[lower, :2]) * share / 2
            out[upper, :2], out[lower, :2] = mid + half, mid - half
    return out


@pytest.mark.parametrize("own", [True, False])
def test_blinks_are_measured_against_the_usual_open_eye(hopper_photo, wearer, own):
    _, face = wearer
    swap = av.FaceSwap(hopper_photo, own_eyes_mouth=own)
    for _ in range(20):  # the usual open gap is learnt
        assert swap.lid_weights(face.landmarks) == [0.0, 0.0]  # eyes open
    assert swap.lid_weights(_squint(face.landmarks, 0.6)) == [1.0, 1.0]  # the mesh's "closed"


def test_a_blink_right_after_the_first_face_is_measured_against_its_open_eye(hopper_photo, wearer):
    """The first face seen starts the usual open gap: a blink on the next frames reads as one (from
    zero the gap took ~6 frames to rise and lp_s18's first blink went unread)."""
    _, face = wearer
    swap = av.FaceSwap(hopper_photo)
    assert swap.lid_weights(face.landmarks) == [0.0, 0.0]
    assert min(swap.lid_weights(_squint(face.landmarks, 0.75))) > 0.6


def test_a_blink_closes_the_photos_own_lids(hopper_photo, wearer):
    """The mesh's lids close only partly on a blink (here to 0.6 of the open gap); the photo's eye
    must still shut: its dark iris gives way to lid skin."""
    image, face = wearer
    swap = av.FaceSwap(hopper_photo)
    blink = _squint(face.landmarks, 0.6)
    opened = swap.render(image, blink, lids=(0.0, 0.0))
    shut = swap.render(image, blink, lids=(1.0, 1.0))
    eyes = _region(blink, regions.RIGHT_EYE, image.shape, erode=1) | _region(blink, regions.LEFT_EYE, image.shape, erode=1)
    assert eyes.sum() > 20
    grey_open = cv2.cvtColor(opened, cv2.COLOR_BGR2GRAY)[eyes].astype(float)
    grey_shut = cv2.cvtColor(shut, cv2.COLOR_BGR2GRAY)[eyes].astype(float)
    assert grey_shut.mean() > grey_open.mean() + 10  # lid skin where the iris was
    assert (grey_shut < 40).mean() < 0.5 * (grey_open < 40).mean()  # the dark of the iris is mostly gone
    outside = ~cv2.dilate((eyes * 255).astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert np.abs(opened.astype(int) - shut)[outside].mean() < 0.5  # only the eyes change
    # The wearer's own eyes are not what closes them.
    own = av.FaceSwap(hopper_photo, own_eyes_mouth=True).render(image, blink, lids=(1.0, 1.0))
    assert np.abs(own.astype(int) - shut)[eyes].mean() > 8


def test_a_shut_photo_eye_is_light_lid_skin(astronaut_photo):
    """The photo's shut eye is its light lid skin across the whole opening: no iris, eye white,
    lashes or socket shadow left there (dlib read a darkened eye as still open)."""
    src = av.FaceSwap(astronaut_photo).source
    closed, lash = src.closed, src.lash
    image, lm = src.image, src.landmarks
    grey_open, grey_shut = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(float) for x in (image, closed))
    for outline in av.KEEP_POLYS:
        eye = _region(lm, outline, image.shape)
        ring = cv2.dilate(eye.astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool) & ~cv2.dilate(
            eye.astype(np.uint8), np.ones((11, 11), np.uint8)).astype(bool)
        skin = np.percentile(grey_open[ring], 75)
        assert grey_open[eye].min() < 0.5 * skin  # the open eye has its dark iris
        assert grey_shut[eye].min() > 0.75 * skin  # the shut one nothing darker than light skin
        assert grey_shut[eye].std() < 0.5 * grey_open[eye].std()  # and no eye pattern left
    assert float(np.dot(lash, (0.114, 0.587, 0.299))) < 0.5 * skin  # the lashes are dark


def test_a_half_closed_lid_covers_the_eye_from_the_top(astronaut_photo, hopper_wearer):
    """Half a blink lowers the photo's upper lid over the top of its eye (lid skin and lashes there),
    while the bottom of the opening still shows the eye: openness follows the wearer."""
    image, face = hopper_wearer
    swap = av.FaceSwap(astronaut_photo)
    lm = face.landmarks
    grey = [cv2.cvtColor(swap.render(image, lm, lids=(v, v)), cv2.COLOR_BGR2GRAY).astype(float) for v in (0.0, 0.5, 1.0)]
    ys, xs = np.mgrid[:image.shape[0], :image.shape[1]]
    for pairs, outline in zip(av.LID_PAIRS, av.KEEP_POLYS):
        eye = _region(lm, outline, image.shape)
        mid = np.mean([(lm[u, 1] + lm[d, 1]) / 2 for u, d in pairs])
        gap = np.mean([lm[d, 1] - lm[u, 1] for u, d in pairs])
        x0, x1 = lm[[pairs[2][0], pairs[4][0]], 0]
        centre = (xs >= min(x0, x1)) & (xs <= max(x0, x1))  # over the iris, away from the corners
        top, bottom = eye & centre & (ys < mid - 0.2 * gap), eye & centre & (ys > mid + 0.2 * gap)
        assert top.sum() > 5 and bottom.sum() > 5
        change = [g - grey[0] for g in grey[1:]]
        # Half closed: the top of the opening changed (lid and lashes over it), the bottom less.
        assert np.abs(change[0][top]).mean() > 2 * np.abs(change[0][bottom]).mean()
        # Shut: the bottom is covered too.
        assert np.abs(change[1][bottom]).mean() > 1.5 * np.abs(change[0][bottom]).mean()


def test_swap_update_keeps_its_state(hopper_photo, wearer, caplog):
    image, face = wearer
    swap = av.FaceSwap(hopper_photo, photo_setting=str(HOPPER))
    for _ in range(6):
        swap.apply(image, Analysis(faces=[face]))
    opacity = swap._opacity
    settings = AvatarSettings(mode="swap", photo=str(HOPPER), own_eyes_mouth=True)
    assert swap.update(settings) is True
    assert swap.own_eyes_mouth is True and swap._opacity == opacity  # the fade did not restart
    assert swap.update(replace(settings, photo=str(ASTRONAUT))) is False  # another photo: rebuild
    assert swap.update(replace(settings, mode="animate")) is False


# ---------------------------------------------------------------- photo avatar


@pytest.fixture(scope="module")
def portrait(hopper_photo):
    return av.PhotoAvatar(hopper_photo)


POSE_CENTRE = 1  # nose tip


def test_photo_avatar_shows_the_portrait_not_the_wearer(portrait, wearer):
    image, face = wearer
    portrait.recapture()
    analysis = Analysis(faces=[face])
    out, outputs = portrait.apply(image, analysis)
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    assert out.shape == image.shape
    # The neutral frame is the portrait at rest: the stage canvas, not the astronaut.
    assert np.abs(out.astype(int) - stage.canvas).mean() < 1.0
    assert np.abs(out.astype(int) - image).mean() > 30
    # The background effect composes by the portrait's person mask, handed on as an output.
    assert analysis == Analysis(faces=[face])  # never mutated
    assert outputs["altered"] is True
    assert outputs["mask"].shape == image.shape[:2] and outputs["mask"].dtype == np.uint8
    # The blur's small picture is the portrait at rest (the same arrays every frame: blurred once).
    from livecam.effects.background import BLUR_SCALE
    small, small_mask = stage.small((image.shape[1] // BLUR_SCALE, image.shape[0] // BLUR_SCALE))
    assert outputs["small"] is small and outputs["small_mask"] is small_mask
    cx, cy = stage.landmarks[POSE_CENTRE, :2].astype(int)
    assert outputs["mask"][cy, cx] > 200 and outputs["mask"][5, 5] < 50


def test_a_photo_of_the_frames_size_keeps_its_own_framing(wearer):
    """The portrait is not shrunk or moved against its own framing: a photo as big as the frame lands
    pixel for pixel (the self-reenactment score depends on it)."""
    image, face = wearer
    photo = load_avatar_photo(ASTRONAUT, store=False)
    avatar = av.PhotoAvatar(photo)
    out, _ = avatar.apply(image, Analysis(faces=[face]))
    mask = avatar.stage_for((image.shape[1], image.shape[0])).mask
    person = cv2.erode(mask, np.ones((9, 9), np.uint8)) > 250
    assert np.abs(out.astype(int) - image)[person].mean() < 2.0


def test_photo_avatar_is_composed_over_the_chosen_background(portrait, wearer):
    from livecam.effects.background import BlurBackground, ColorBackground

    image, face = wearer
    portrait.recapture()
    out, outputs = portrait.apply(image, Analysis(faces=[face], mask=np.full(image.shape[:2], 255, np.uint8)))
    out = ColorBackground("#00ff00").apply(out, Analysis(mask=outputs["mask"]))[0]
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    cx, cy = stage.landmarks[POSE_CENTRE, :2].astype(int)
    assert np.abs(out[cy, cx].astype(int) - stage.canvas[cy, cx]).max() <= 4  # the portrait's face
    assert (out[5, 5] == (0, 255, 0)).all()  # the chosen background where the portrait has none
    # With the segmenter's small frame present, the blur gets the portrait's, never the wearer's.
    small = np.zeros((144, 256, 3), np.uint8)
    analysis = Analysis(faces=[face], small=small, small_mask=np.ones((144, 256), np.float32))
    out, outputs = portrait.apply(image, analysis)
    assert analysis.small is small  # untouched
    assert outputs["small"].shape == small.shape and outputs["small"].mean() > 20
    assert outputs["small_mask"].shape == (144, 256) and outputs["small_mask"].max() <= 1.0
    blurred = BlurBackground(60).apply(out, Analysis(mask=outputs["mask"], small=outputs["small"],
                                                     small_mask=outputs["small_mask"]))[0]
    assert np.abs(blurred[cy, cx].astype(int) - stage.canvas[cy, cx]).max() <= 4


def _moved(face, dx=0.0, dy=0.0, scale=1.0, angle=0.0):
    """The face moved rigidly: rotated by ``angle`` degrees (roll) and scaled about its centre, then shifted."""
    lm = face.landmarks.astype(np.float64)
    c = lm[:, :2].mean(0)
    a = np.radians(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    out = lm.copy()
    out[:, :2] = (lm[:, :2] - c) @ rot.T * scale + c + (dx, dy)
    out[:, 2] *= scale
    return replace(face, landmarks=out.astype(np.float32), raw_landmarks=None)  # the picture's points moved too


def _phase_shift(stage, out):
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.float32)
    rest = cv2.cvtColor(stage.canvas, cv2.COLOR_BGR2GRAY).astype(np.float32)
    x0, y0 = stage.landmarks[:, :2].min(0).astype(int)
    x1, y1 = stage.landmarks[:, :2].max(0).astype(int)
    window = cv2.createHanningWindow((x1 - x0, y1 - y0), cv2.CV_32F)
    return cv2.phaseCorrelate(rest[y0:y1, x0:x1], grey[y0:y1, x0:x1], window)[0]


def test_photo_avatar_follows_head_translation(portrait, wearer):
    image, face = wearer
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))  # neutral
    out, _ = portrait.apply(image, Analysis(faces=[_moved(face, dx=12)]))
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    k = stage.face_width / av.face_width(face.landmarks)
    dx, dy = _phase_shift(stage, out)
    assert dx == pytest.approx(12 * k, abs=2.0) and abs(dy) < 2.0


def test_photo_avatar_follows_head_scale_and_roll(portrait, wearer):
    image, face = wearer
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))
    face_now, _, _ = portrait.driven_points(stage, _moved(face, scale=1.1).landmarks)
    assert av.face_width(face_now) == pytest.approx(1.1 * stage.face_width, rel=0.03)
    face_now, _, _ = portrait.driven_points(stage, _moved(face, angle=12).landmarks)
    eyes = face_now[263, :2] - face_now[33, :2]
    rest = stage.landmarks[263, :2] - stage.landmarks[33, :2]
    turned = np.degrees(np.arctan2(eyes[1], eyes[0]) - np.arctan2(rest[1], rest[0]))
    assert turned == pytest.approx(12, abs=1.5)


def test_what_the_moving_head_uncovers_is_background_not_a_stretched_band(portrait, wearer):
    image, face = wearer
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    k = stage.face_width / av.face_width(face.landmarks)
    out, outputs = portrait.apply(image, Analysis(faces=[_moved(face, dx=25 / k)]))
    # Strip just left of the head at rest that the head moved away from (beside the temple).
    oval = stage.landmarks[np.asarray(regions.FACE_OVAL), :2]
    left = int(oval[:, 0].min())
    ys = slice(int(stage.landmarks[10, 1]) + 10, int(stage.landmarks[152, 1]) - 30)
    strip = np.zeros(image.shape[:2], bool)
    strip[ys, left - 2:left + 12] = True
    uncovered = strip & (stage.mask > 200) & (outputs["mask"] < 30)
    assert uncovered.sum() > 50
    # There the frame shows the clean plate (the portrait's own background), not stretched person.
    assert np.abs(out.astype(int) - stage.plate)[uncovered].mean() < 4


def test_a_body_that_rises_moves_up_whole_instead_of_stretching_its_clothes(hopper_photo, portrait, wearer):
    image, _ = wearer
    h, w = image.shape[:2]
    portrait = av.PhotoAvatar(hopper_photo, mask=portrait._mask)  # its own framing: the photo covers the frame
    stage = portrait.stage_for((w, h))
    assert stage.rect[3] > h + 40  # and runs on below it
    d = 40.0  # the whole person, head and torso, 40 px up
    up = np.array([0.0, -d, 0.0])
    out, mask, _ = stage.render(stage.landmarks + up, stage.ring + up, np.stack([up[:2], up[:2]]))
    # The photo runs on past the frame's bottom: what rises into view are its own rows, unstretched.
    scale, tx, ty = ast.layout((portrait.photo.image.shape[1], portrait.photo.image.shape[0]),
                               portrait.photo.landmarks, (w, h), stage.target)
    tall = ast.place(portrait.photo.image, scale, tx, ty, (w, h + int(d)))
    tall_mask = ast.place(portrait._mask, scale, tx, ty, (w, h + int(d)))
    rows = slice(h - 3 * int(d), h - 2)
    cols = slice(w // 3, 2 * w // 3)
    solid = (mask[rows, cols] > 250) & (tall_mask[rows.start + int(d):rows.stop + int(d), cols] > 250)
    assert solid.mean() > 0.9  # the person still reaches the frame's bottom
    moved = tall[rows.start + int(d):rows.stop + int(d), cols].astype(int)
    assert np.abs(out[rows, cols].astype(int) - moved)[solid].mean() < 4
    assert np.abs(out[rows, cols].astype(int) - tall[rows, cols])[solid].mean() > 8  # it did move


def test_clothes_made_up_below_the_photo_go_on_as_they_leave_it():
    h, w = 40, 200
    person = np.zeros((h, w, 4), np.uint8)
    for y in range(h):  # shoulders sloping out a pixel a row, a lighter stripe down the middle
        person[y, 80 - y:120 + y] = (90, 60, 30, 255)
        person[y, 98:102, :3] = (200, 200, 200)
    person[:, :40 - h + 2, 3] = 40  # the mask's soft tail over the room beside the shoulders
    ext = ast.extend_below(person, 30)
    assert ext.shape == (70, w, 4) and np.array_equal(ext[:h], person)
    below = ext[h:]
    covered = below[..., 3] > 127
    lefts = np.array([np.flatnonzero(r)[0] for r in covered])
    rights = np.array([np.flatnonzero(r)[-1] for r in covered])
    # The outline goes on widening at its own slope and never narrows; inside it the clothes are
    # solid in the clothing's colour, the narrow stripe spread along the row (a column carried
    # straight down is a streak as long as the body rises), and beside it the room stays clear.
    assert np.polyfit(np.arange(30), lefts, 1)[0] == pytest.approx(-1.0, abs=0.1)
    assert np.polyfit(np.arange(30), rights, 1)[0] == pytest.approx(1.0, abs=0.1)
    assert lefts[-1] < 80 - h - 20 and rights[-1] > 120 + h + 20
    solid = below[..., 3] == 255
    assert solid[:, 70:130].all()
    off = np.abs(below[..., :3].astype(int) - (90, 60, 30))
    away = solid.copy()
    away[:, 84:117] = False
    assert off[away].max() <= 2
    contrast = np.abs(np.subtract((200, 200, 200), (90, 60, 30)))
    assert (off[:, 98:102].max(axis=(0, 1)) < 0.5 * contrast).all()  # old code: the stripe whole
    assert (below[..., 3][~covered] < 128).all() and (below[:, :10, 3] == 0).all()
    narrowing = person[::-1].copy()
    ext = ast.extend_below(narrowing, 30)
    cover = ext[h:, :, 3] > 127  # goes straight down, as wide as the photo's last rows
    assert (cover == cover[0]).all() and abs(int(cover[0].sum()) - int((narrowing[-1, :, 3] > 127).sum())) <= 2


def test_a_head_that_travels_far_takes_the_untracked_body_along(portrait, wearer):
    image, face = wearer
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))
    fw = av.face_width(face.landmarks)
    reach, lift = av.NECK_REACH * stage.face_width, av.NECK_LIFT * stage.face_width
    for dx, dy in ((-0.2, 0.0), (0.0, 0.2)):  # slid sideways, ducked: within a neck's reach the body stays
        _, _, (_, body) = portrait.driven_points(stage, _moved(face, dx=dx * fw, dy=dy * fw).landmarks)
        assert np.abs(body).max() < 0.5
    # Lifted level (no nod) further than a neck lifts it: the wearer sits up, the body goes along
    # by the rest (old code: it stayed within a quarter face width whichever way the head went).
    _, _, (_, body) = portrait.driven_points(stage, _moved(face, dy=-0.2 * fw).landmarks)
    assert body[1] == pytest.approx(-0.2 * stage.face_width + lift, abs=1.0)
    _, _, (_, body) = portrait.driven_points(stage, _moved(face, dy=-1.0 * fw).landmarks)
    assert body[1] == pytest.approx(-stage.face_width + lift, abs=1.0)  # sitting up: a neck's lift behind
    _, _, (_, body) = portrait.driven_points(stage, _moved(face, dx=1.0 * fw).landmarks)
    assert body[0] == pytest.approx(stage.face_width - reach, abs=1.0)


@pytest.mark.parametrize("pitch, yaw, roll", [(20, 0, 0), (0, 25, 0), (0, 0, 25), (0, 20, -25), (-25, 0, 20)])
def test_a_head_that_nods_or_turns_on_its_neck_leaves_the_untracked_body(portrait, wearer, pitch, yaw, roll):
    """The wearer's mesh turned about the neck's top (under the ears, at the chin's height): all of
    the face's travel is the head's own turn and the body stays. A head tilted 25 degrees
    towards a shoulder takes the face's centre 0.3 face widths sideways, further than a neck slides a
    level head (old code: the body went along by the rest)."""
    from livecam.analysis.head_pose import POSE_INDICES
    from livecam.analysis.torso_motion import neck_top

    image, face = wearer
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))
    lm = face.landmarks.astype(np.float64)
    rot = cv2.Rodrigues(np.radians([pitch, yaw, roll]))[0]
    neck = neck_top(lm)
    turned = (lm - neck) @ rot.T + neck
    travel = (turned[POSE_INDICES] - lm[POSE_INDICES]).mean(0)[:2] / av.face_width(lm)
    assert not roll or abs(travel[0]) > av.NECK_REACH  # the tilts: further than a neck slides a level head
    _, _, (_, body) = portrait.driven_points(stage, turned.astype(np.float32))
    assert np.abs(body).max() < 0.5, (travel, body)


def test_photo_avatar_opens_its_mouth_with_the_wearers_teeth(portrait, wearer):
    """The wearer opens wide and shows (white) teeth: the portrait's mouth opens and shows them too,
    not a dark smear."""
    image, face = wearer
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))
    lm = face.landmarks.copy()
    lower = [i for i in range(468) if lm[i, 1] > lm[14, 1] - 1 and abs(lm[i, 0] - lm[14, 0]) < 40]
    lm[lower, 1] += 14  # the jaw drops
    toothy = image.copy()
    inner = np.round(regions.polygon(lm, regions.LIPS_INNER)).astype(np.int32)
    cv2.fillPoly(toothy, [inner], (40, 30, 60))
    top = int(lm[13, 1])
    teeth = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(teeth, [inner], 255)
    teeth[top + 7:] = 0
    toothy[teeth > 0] = (235, 240, 240)
    out, _ = portrait.apply(toothy, Analysis(faces=[replace(face, landmarks=lm, raw_landmarks=None)]))
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    driven = portrait._offset[0] + stage.landmarks
    mouth = _region(driven, regions.LIPS_INNER, image.shape, erode=1)
    assert mouth.sum() > 40
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[mouth].astype(float)
    assert (grey > 170).mean() > 0.15  # teeth
    assert (grey < 90).mean() > 0.15  # and the dark of the mouth behind them
    assert np.abs(out.astype(int) - stage.canvas)[mouth].mean() > 20


def test_photo_avatar_relaxes_when_the_face_is_lost(portrait, wearer):
    image, face = wearer
    portrait.recapture()
    portrait.apply(image, Analysis(faces=[face]))
    portrait.apply(image, Analysis(faces=[_moved(face, dx=15, dy=5)]))
    stage = portrait.stage_for((image.shape[1], image.shape[0]))
    gaps = [np.abs(portrait.apply(image, Analysis())[0].astype(int) - stage.canvas).mean() for _ in range(60)]
    assert all(b <= a + 0.05 for a, b in pairwise(gaps))  # eases back, no pop
    assert gaps[0] > 1.0 and gaps[-1] == 0.0


def test_photo_avatar_update_keeps_the_neutral_pose(hopper_photo, wearer):
    image, face = wearer
    avatar = av.PhotoAvatar(hopper_photo, photo_setting=str(HOPPER))
    avatar.apply(image, Analysis(faces=[face]))
    neutral = avatar._neutral
    settings = AvatarSettings(mode="animate", photo=str(HOPPER))
    assert avatar.update(settings) is True
    assert avatar._neutral is neutral
    assert avatar.update(replace(settings, own_eyes_mouth=True)) is True and avatar.wearer_mouth  # swap's option
    assert avatar.update(replace(settings, mode="swap")) is False
    assert avatar.update(replace(settings, photo=str(ASTRONAUT))) is False


# ---------------------------------------------------------------- the builder


def test_build_avatar_picks_the_effect(caplog):
    runtime = RuntimeSettings(provider="cpu", threads=1)
    assert av.build_avatar(AvatarSettings(mode="off"), runtime) is None
    assert not AvatarSettings().own_eyes_mouth  # the photo's eyes and mouth unless asked
    swap = av.build_avatar(AvatarSettings(mode="swap", photo=str(HOPPER), own_eyes_mouth=True), runtime)
    assert isinstance(swap, av.FaceSwap) and swap.own_eyes_mouth
    assert swap.needs == frozenset({"faces", "hands"}) and swap.stage == "post"
    assert swap.provides == frozenset({"altered"})
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    animate = av.build_avatar(AvatarSettings(mode="animate", photo=str(HOPPER)), runtime)
    assert isinstance(animate, av.PhotoAvatar) and animate.provides == frozenset({"mask", "altered", "small", "small_mask"})


def test_old_settings_files_drop_keep_eyes_mouth():
    """Older versions wrote ``avatar.keep_eyes_mouth: true`` whether or not anyone chose it: such a
    file loads, and the swap shows the photo's eyes and mouth."""
    from livecam.settings import from_dict

    for old in (True, False):
        loaded = from_dict({"avatar": {"mode": "swap", "photo": "x.jpg", "keep_eyes_mouth": old}})
        assert loaded.avatar.mode == "swap" and loaded.avatar.own_eyes_mouth is False
    assert from_dict({"avatar": {"own_eyes_mouth": True}}).avatar.own_eyes_mouth is True


def test_build_avatar_refuses_a_bad_photo_as_a_value_error(tmp_path):
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), np.full((300, 400, 3), 128, np.uint8))
    with pytest.raises(ValueError, match="shows no face"):
        av.build_avatar(AvatarSettings(mode="animate", photo=str(path)), RuntimeSettings())


# ---------------------------------------------------------------- what covers the photo's face


def _lab_mean(image, mask):
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[mask > 0].mean(0)


def test_hair_over_the_photos_forehead_is_filled_with_its_skin_and_a_moustache_stays(astronaut_photo):
    """A dark brown band painted across the astronaut's forehead down to her brows (a fringe) is
    found and filled from her own skin, so the swap never pastes it; the same band under her nose (a
    moustache) is the person's own and stays."""
    lm = astronaut_photo.landmarks
    painted = astronaut_photo.image.copy()
    brow_top = int(lm[[105, 334], 1].min()) - 4
    cv2.rectangle(painted, (int(lm[54, 0]), brow_top - 14), (int(lm[284, 0]), brow_top - 2), (30, 45, 70), -1)
    moustache = (int(lm[61, 0]), int(lm[2, 1]) + 2, int(lm[291, 0]), int(lm[0, 1]) - 2)
    cv2.rectangle(painted, moustache[:2], moustache[2:], (30, 45, 70), -1)
    source = av._SourceFace(replace(astronaut_photo, image=painted))
    clean = av._SourceFace(astronaut_photo)
    slm = source.landmarks
    s = (slm[454, 0] - slm[234, 0]) / (lm[454, 0] - lm[234, 0])  # photo -> source pixels
    shift = slm[1, :2] - lm[1, :2] * s
    face = _region(slm, regions.FACE_OVAL, source.image.shape, erode=3) > 0

    def box(x0, y0, x1, y1):
        mask = np.zeros(source.image.shape[:2], bool)
        (a, b), (c, d) = np.round(np.array([[x0, y0], [x1, y1]]) * s + shift).astype(int)
        mask[b + 2:d - 1, a + 2:c - 1] = True
        return mask & face

    band = box(int(lm[54, 0]), brow_top - 14, int(lm[284, 0]), brow_top - 2)
    lip = box(*moustache)
    assert band.sum() > 200 and lip.sum() > 30
    cheeks = np.zeros(source.image.shape[:2], np.uint8)
    for k in (50, 280):
        cv2.circle(cheeks, tuple(int(v) for v in slm[k, :2]), 10, 1, -1)
    skin = _lab_mean(source.image, cheeks)
    paint = _lab_mean(np.full((1, 1, 3), (30, 45, 70), np.uint8), np.ones((1, 1)))
    assert np.linalg.norm(paint - skin) > 45
    assert np.linalg.norm(_lab_mean(source.image, band) - skin) < 12  # her skin is back (forehead shade), not the band
    assert np.linalg.norm(_lab_mean(source.image, lip) - _lab_mean(clean.image, lip)) > 25  # the moustache stays


def test_gaze_moves_the_photos_iris_and_nothing_else(hopper_photo, wearer):
    """A shift of a tenth of the eye's width moves what shows inside the eye outlines (the photo's
    iris slides along its eye); outside the eyes nothing changes."""
    image, face = wearer
    swap = av.FaceSwap(hopper_photo)
    ahead = swap.render(image, face.landmarks)
    aside = swap.render(image, face.landmarks, gaze=(0.1, 0.1))
    eyes = _region(face.landmarks, regions.RIGHT_EYE, image.shape, erode=1) \
        | _region(face.landmarks, regions.LEFT_EYE, image.shape, erode=1)
    near = cv2.dilate(eyes.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0  # the feather, the grain
    assert np.abs(ahead.astype(int) - aside)[eyes > 0].mean() > 4
    assert np.array_equal(ahead[~near], aside[~near])


def test_the_gaze_follows_the_wearers_irises(hopper_photo, wearer):
    image, face = wearer
    swap = av.FaceSwap(hopper_photo)
    for _ in range(4):
        swap.apply(image, Analysis(faces=[face]))
    assert all(g is not None for g in swap._gaze)
    # The photo's irises sit where the photo has them; the shift closes the gap to the wearer's.
    assert swap.gaze_shift() == pytest.approx(
        tuple(np.clip(p - g, -av.GAZE_MAX, av.GAZE_MAX) for p, g in zip(swap.source.iris, swap._gaze)))


def test_a_photo_with_teeth_keeps_them_on_an_open_mouth(astronaut_photo, hopper_wearer):
    """The astronaut smiles with her teeth showing; on Hopper with her jaw dropped, the mouth shows
    those teeth (light) and the dark between them, not stretched lips."""
    image, face = hopper_wearer
    lm = face.landmarks.copy()
    upper = {13, 82, 81, 80, 191, 312, 311, 310, 415, 78, 308}  # the upper inner lip and the corners
    lower = [i for i in range(468) if lm[i, 1] > lm[14, 1] - 1 and abs(lm[i, 0] - lm[14, 0]) < 40 and i not in upper]
    lm[lower, 1] += 30  # the jaw drops, the mouth opens wider than in her photo
    swap = av.FaceSwap(astronaut_photo)
    assert av.mouth_openness(lm) > 1.2 * swap.source.mouth_open
    out = swap.render(image, lm)
    mouth = _region(lm, regions.LIPS_INNER, image.shape, erode=1)
    assert mouth.sum() > 40
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[mouth > 0].astype(float)
    assert (grey > 130).mean() > 0.1  # teeth (in Hopper's dimmer light)
    assert (grey < 80).mean() > 0.1  # and the dark between them


def _proportions(landmarks):
    """Eye spacing over eyes-to-mouth height, and brow height over it, on the pose-free shape."""
    shape = av.canonical_shape(landmarks)[0][:, :2]
    eyes = [shape[list(outline)].mean(0) for outline in av.KEEP_POLYS]
    mouth = shape[list(regions.LIPS_OUTER)].mean(0)
    brows = shape[list(regions.RIGHT_BROW) + list(regions.LEFT_BROW)].mean(0)
    mid = (eyes[0] + eyes[1]) / 2
    height = np.linalg.norm(mid - mouth)
    return np.array([np.linalg.norm(eyes[0] - eyes[1]) / height, np.linalg.norm(brows - mid) / height])


def test_the_swap_takes_the_photos_proportions_and_keeps_the_wearers_outline_lids_and_mouth(
        hopper_photo, wearer):
    """Hopper's eye spacing and brow height go (SHAPE_AMOUNT of the way) onto the astronaut; the
    jaw line, how far the mouth and the eyes are open stay the wearer's (they are the motion)."""
    _, face = wearer
    swap = av.FaceSwap(hopper_photo)
    shaped = swap.photo_shape(face.landmarks)
    before, photo, after = (_proportions(p) for p in (face.landmarks, hopper_photo.landmarks, shaped))
    assert np.abs(before - photo).max() > 0.01  # two different faces (proportions differ by a few %)
    moved = float(np.dot(before - after, before - photo) / np.dot(before - photo, before - photo))
    assert 0.5 * av.SHAPE_AMOUNT < moved < 1.5 * av.SHAPE_AMOUNT  # that share of the way to the photo's
    oval = list(regions.FACE_OVAL)
    assert np.abs(shaped[oval, :2] - face.landmarks[oval, :2]).max() < 1e-3
    fw = av.face_width(face.landmarks)
    for upper, lower in ((13, 14), (159, 145), (386, 374)):
        gaps = [p[lower, 1] - p[upper, 1] for p in (shaped, face.landmarks)]
        assert abs(gaps[0] - gaps[1]) < 0.01 * fw
    swap.own_eyes_mouth = True
    image, _ = wearer
    assert swap.apply(image, Analysis(faces=[face]))[1]["altered"]
    assert swap._last is face.landmarks  # own eyes and mouth: the wearer's own shape


def _open_wide(face, drop):
    """``face``'s landmarks with the jaw dropped by ``drop`` px (upper lip and corners stay)."""
    lm = face.landmarks.copy()
    upper = {13, 82, 81, 80, 191, 312, 311, 310, 415, 78, 308}
    lower = [i for i in range(468) if lm[i, 1] > lm[14, 1] - 1 and abs(lm[i, 0] - lm[14, 0]) < 40 and i not in upper]
    lm[lower, 1] += drop
    return lm


GREEN_MOUTH = (70, 160, 60)  # the wearer's own mouth interior, painted so it can be told apart


def _swap_over_a_green_mouth(photo, wearer, drop: int):
    """(output, swap): ``photo`` swapped onto ``wearer`` whose jaw dropped ``drop`` px, the wearer's
    open mouth painted GREEN_MOUTH."""
    image, face = wearer
    swap = av.FaceSwap(photo)
    lm = _open_wide(face, drop)
    painted = image.copy()
    cv2.fillPoly(painted, [np.round(regions.polygon(lm, regions.LIPS_INNER)).astype(np.int32)], GREEN_MOUTH)
    out, _ = swap.apply(painted, Analysis(faces=[replace(face, landmarks=lm)]))
    return out, swap


def test_a_photo_without_teeth_opens_onto_the_wearers_own_interior(hopper_photo, wearer):
    """Hopper's photo shows no teeth (its pixels say so); the wearer opens wide onto an interior of
    their own (painted green here so it can be told apart): the swap's open mouth shows it, in the
    frame's light, where it used to paint a dark, bluish-black hole in Hopper's lip colours."""
    out, swap = _swap_over_a_green_mouth(hopper_photo, wearer, 16)
    assert not swap.source.teeth
    mouth = _region(swap._last, regions.LIPS_INNER, out.shape, erode=2)
    assert mouth.sum() > 40
    assert np.abs(out[mouth].astype(int) - GREEN_MOUTH).mean() < 20


def test_a_photo_with_teeth_shows_its_own_not_the_wearers(astronaut_photo, hopper_wearer):
    """The astronaut's photo shows teeth: the open mouth shows them (light) moved with her lips, and
    none of the wearer's own interior (painted green) comes through."""
    out, swap = _swap_over_a_green_mouth(astronaut_photo, hopper_wearer, 30)
    assert swap.source.teeth
    mouth = _region(swap._last, regions.LIPS_INNER, out.shape, erode=1)
    assert mouth.sum() > 40
    green = (out[..., 1].astype(int) - out[..., [0, 2]].max(2)) > 40
    assert green[mouth].mean() < 0.02
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[mouth].astype(float)
    assert (grey > 130).mean() > 0.1
