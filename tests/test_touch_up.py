"""Touch-up on real faces, measured in pixels: skin texture down, eyes and mouth untouched, nothing
outside the skin changed, 0 = identity, fades instead of popping.

Landmarks come from the recorded MediaPipe goldens, so these tests need no model."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam.analysis import face_regions as regions
from livecam.effects.touch_up import (
    EDGE,
    FEATHER,
    FEATURE_MARGIN,
    OVAL_EDGE,
    SHIFT,
    TouchUp,
    skin_mask,
)
from livecam.settings import TouchUpSettings
from livecam.types import Analysis, Face

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from eval_face import region_ssim, skin_texture  # noqa: E402  the measures eval_face reports

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "face_golden"
FADE = 8


def _poly(landmarks: np.ndarray, indices: tuple[int, ...]) -> np.ndarray:
    return np.round(regions.polygon(landmarks, indices) * (1 << SHIFT)).astype(np.int32)[None]


def _skin_mask_calls(landmarks: np.ndarray, shape: tuple[int, int], face_size: float) -> np.ndarray:
    """:func:`skin_mask` as it was drawn before: each region's points apart, each feature filled and
    stroked in turn (the reference its test holds it to)."""
    sigma = max(0.6, FEATHER * face_size)
    oval = _poly(landmarks, regions.FACE_OVAL)
    inside = np.zeros(shape, np.uint8)
    cv2.fillPoly(inside, oval, 255, lineType=cv2.LINE_8, shift=SHIFT)
    mask = inside.copy()
    cv2.polylines(mask, oval, True, 0, thickness=max(1, int(round(2 * OVAL_EDGE * sigma))), lineType=cv2.LINE_8,
                  shift=SHIFT)
    grow = max(1, int(round(2 * (FEATURE_MARGIN * face_size + EDGE * sigma))))
    for indices in regions.FEATURES.values():
        feature = _poly(landmarks, indices)
        cv2.fillPoly(mask, feature, 0, lineType=cv2.LINE_8, shift=SHIFT)
        cv2.polylines(mask, feature, True, 0, thickness=grow, lineType=cv2.LINE_8, shift=SHIFT)
    return cv2.min(cv2.GaussianBlur(mask, (0, 0), sigma), inside)


def golden_face(stem: str) -> Face:
    lm = np.load(GOLDEN / f"{stem}.npz")["landmarks"][0]
    xy = lm[:, :2]
    return Face(box=np.concatenate([xy.min(0), xy.max(0)]), score=1.0, landmarks=lm)


@pytest.fixture(params=["sk_astronaut", "mpl_grace_hopper"])
def portrait(request, astronaut, hopper):
    image = astronaut if request.param == "sk_astronaut" else hopper
    return image, golden_face(request.param)


def settled(effect: TouchUp, image: np.ndarray, faces: list[Face]) -> np.ndarray:
    for _ in range(FADE):
        out = effect.apply(image, Analysis(faces=faces))[0]
    return out


def face_size(face: Face) -> float:
    return float(np.ptp(face.landmarks[list(regions.FACE_OVAL), :2], axis=0).max())


def test_effect_contract():
    effect = TouchUp(TouchUpSettings(strength=60))
    assert effect.needs == frozenset({"faces_carried"}) and effect.stage == "post"


def test_strength_zero_is_the_input_bit_for_bit(portrait):
    image, face = portrait
    out = settled(TouchUp(TouchUpSettings(strength=0)), image, [face])
    assert out is image or np.array_equal(out, image)


def test_no_face_changes_nothing(astronaut):
    effect = TouchUp(TouchUpSettings(strength=100))
    for _ in range(3):
        out = effect.apply(astronaut, Analysis())[0]
        assert np.array_equal(out, astronaut)


def test_strength_100_halves_skin_texture_and_keeps_eyes_and_mouth(portrait):
    image, face = portrait
    before = image.copy()
    out = settled(TouchUp(TouchUpSettings(strength=100)), image, [face])
    assert np.array_equal(image, before), "the input frame must not be modified"
    assert skin_texture(out, face.landmarks) <= 0.5 * skin_texture(image, face.landmarks)
    for name in ("right_eye", "left_eye", "lips"):
        assert region_ssim(image, out, face.landmarks, regions.FEATURES[name]) >= 0.95, name


def test_only_skin_changes(portrait):
    image, face = portrait
    out = settled(TouchUp(TouchUpSettings(strength=100)), image, [face])
    changed = np.any(out != image, axis=2)
    oval = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(face.landmarks[list(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    assert changed.sum() > 0.3 * oval.sum()
    # The mask is drawn at a reduced size; allow its interpolation a ring of 3 % of the face size,
    # where a change may round to one level. Beyond it hair, background and clothes stay bit for bit.
    ring = int(np.ceil(0.03 * face_size(face)))
    near = cv2.dilate(oval, np.ones((2 * ring + 1, 2 * ring + 1), np.uint8))
    assert not changed[near == 0].any()
    assert np.abs(out.astype(int) - image)[(near > 0) & (oval == 0)].max() <= 1


def test_strength_scales_the_change(astronaut):
    face = golden_face("sk_astronaut")
    diff = {}
    for strength in (30, 100):
        out = settled(TouchUp(TouchUpSettings(strength=strength)), astronaut, [face])
        diff[strength] = np.abs(out.astype(int) - astronaut).mean()
    assert 0 < diff[30] < 0.6 * diff[100]


def test_no_seam_at_the_mask_border(hopper):
    """Across the mask edge the change ramps: no step between neighbouring pixels."""
    face = golden_face("mpl_grace_hopper")
    out = settled(TouchUp(TouchUpSettings(strength=100)), hopper, [face])
    change = np.abs(out.astype(np.float32) - hopper).mean(axis=2)
    weight = skin_mask(face.landmarks[:, :2], hopper.shape[:2], face_size(face)).astype(np.float32) / 255
    ramp = (weight > 0.02) & (weight < 0.5)
    # the change follows the mask weight smoothly: its local jump never exceeds a few levels
    step = np.abs(np.diff(change, axis=1))[ramp[:, 1:]]
    assert np.percentile(step, 99) < 6


def test_fades_in_and_out_instead_of_popping(astronaut):
    face = golden_face("sk_astronaut")
    effect = TouchUp(TouchUpSettings(strength=100), fade_frames=FADE)
    changes = []
    for _ in range(FADE + 2):
        changes.append(np.abs(effect.apply(astronaut, Analysis(faces=[face]))[0].astype(int) - astronaut).mean())
    assert all(b >= a for a, b in zip(changes, changes[1:]))
    assert changes[0] < 0.3 * changes[-1] and changes[-1] == changes[-2]
    gone = []
    for _ in range(FADE + 1):  # the face is lost: the effect fades on its last landmarks
        gone.append(np.abs(effect.apply(astronaut, Analysis())[0].astype(int) - astronaut).mean())
    assert all(b <= a for a, b in zip(gone, gone[1:]))
    assert gone[0] > 0 and gone[-1] == 0


def test_a_one_frame_dropout_does_not_restart_the_fade(astronaut):
    face = golden_face("sk_astronaut")
    effect = TouchUp(TouchUpSettings(strength=100), fade_frames=FADE)
    full = settled(effect, astronaut, [face])
    effect.apply(astronaut, Analysis())[0]
    back = effect.apply(astronaut, Analysis(faces=[Face(face.box, 1.0, face.landmarks, track_id=7)]))[0]
    assert np.abs(back.astype(int) - full).mean() < 0.05 * np.abs(full.astype(int) - astronaut).mean() + 0.01


def test_still_frame_gives_identical_output(hopper):
    face = golden_face("mpl_grace_hopper")
    effect = TouchUp(TouchUpSettings(strength=70))
    a = settled(effect, hopper, [face])
    b = effect.apply(hopper, Analysis(faces=[face]))[0]
    assert np.array_equal(a, b)


def test_faces_at_the_frame_edge_and_several_faces(astronaut):
    face = golden_face("sk_astronaut")
    cut = int(face.landmarks[1, 0])
    part = np.ascontiguousarray(astronaut[:, cut:])
    shifted = Face(face.box - (cut, 0, cut, 0), 1.0, face.landmarks - (cut, 0, 0))
    out = settled(TouchUp(TouchUpSettings(strength=100)), part, [shifted])
    assert out.shape == part.shape and not np.array_equal(out, part)
    pair = np.hstack([astronaut, astronaut])
    right = Face(face.box + (512, 0, 512, 0), 1.0, face.landmarks + (512, 0, 0))
    out = settled(TouchUp(TouchUpSettings(strength=100)), pair, [face, right])
    assert skin_texture(out[:, :512], face.landmarks) < 0.5 * skin_texture(astronaut, face.landmarks)
    assert skin_texture(out[:, 512:], face.landmarks) < 0.5 * skin_texture(astronaut, face.landmarks)


def test_bad_landmarks_are_ignored(astronaut):
    face = golden_face("sk_astronaut")
    broken = Face(face.box, 1.0, np.full_like(face.landmarks, np.nan))
    tiny = Face(np.array([10, 10, 12, 12], np.float32), 1.0, face.landmarks * 0.01)
    out = settled(TouchUp(TouchUpSettings(strength=100)), astronaut, [broken, tiny])
    assert np.array_equal(out, astronaut)


@pytest.mark.parametrize("stem", ["sk_astronaut", "mpl_grace_hopper"])
def test_the_skin_mask_is_the_one_drawn_region_by_region(stem):
    """skin_mask's points in one pass and its features stroked in one call: the same bytes as the
    regions' points made apart and each feature filled and stroked in turn, on the golden faces
    moved, scaled and shaken (up to torn meshes) onto work grids of every size the effect uses."""
    lm = golden_face(stem).landmarks[:, :2]
    rng = np.random.default_rng(7)
    for _ in range(300):
        scale = rng.uniform(0.5, 8.0)
        points = (lm - rng.uniform(-50, 400, 2)) / scale + rng.normal(0, rng.choice([0.0, 0.5, 5.0, 40.0]), lm.shape)
        shape = (int(rng.integers(4, 200)), int(rng.integers(4, 200)))
        size = float(rng.uniform(2, 300))
        assert np.array_equal(skin_mask(points, shape, size), _skin_mask_calls(points, shape, size))
