"""The face swap's tone: the photo supplies the skin, the wearer the light. A tuning-half wearer's
own frame, its skin moved darker (or redder) inside the face, is the photo: the swapped face keeps
that tone where the old relighting handed back the wearer's; the same wearer dimmed or under a warm
lamp still dims or warms the face; and the seam stays within its bound."""
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam.analysis import face_regions as regions
from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import avatar as av
from livecam.effects import avatar_light as light
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Analysis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import eval_avatar  # noqa: E402

sys.path.pop(0)

CLIP = "lp_d18_frontal_plain.mp4"  # a tuning-half wearer (tools/avatar_pairs.csv)
FRAMES = 16
SCORED = range(8, FRAMES)  # after the swap has settled


def _lab(image):
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)


def _centre(image, landmarks):
    """Lab median of the middle of the face (deeper than 0.3 of the face width inside the outline,
    where the photo's tone is kept in full), eyes, brows and lips left out."""
    fw = av.face_width(landmarks)
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(landmarks[np.asarray(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    features = np.zeros_like(inside)
    cv2.fillPoly(features, [np.round(landmarks[np.asarray(p), :2]).astype(np.int32) for p in av.FEATURE_POLYS], 1)
    r = max(1, int(0.04 * fw))
    features = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    mask = (cv2.distanceTransform(inside, cv2.DIST_L2, 5) > 0.3 * fw) & (features == 0)
    return np.median(_lab(image)[mask], axis=0)


def _shift_skin(image, landmarks, shift):
    """``image`` with the face (inside its outline, feathered) moved by ``shift`` in Lab."""
    inside = np.zeros(image.shape[:2], np.float32)
    cv2.fillPoly(inside, [np.round(landmarks[np.asarray(regions.FACE_OVAL), :2]).astype(np.int32)], 1.0)
    inside = cv2.GaussianBlur(inside, (0, 0), 0.03 * av.face_width(landmarks))
    moved = _lab(image) + inside[..., None] * np.float32(shift)
    return np.clip(cv2.cvtColor(moved, cv2.COLOR_Lab2BGR) * 255, 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def clip():
    from conftest import shared_data

    path = shared_data() / "video" / CLIP
    if not path.is_file():
        pytest.skip(f"shared test data not found at {path}")
    cap = cv2.VideoCapture(str(path))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    frames = []
    for _ in range(FRAMES):
        ok, frame = cap.read()
        assert ok
        faces = tracker.process(frame)
        assert faces
        frames.append((frame, faces))
    cap.release()
    return frames


def _swap(photo_image, frames, light_of=lambda f: f):
    """The centre's Lab (output, wearer) medians over the scored frames and the seam scores, with
    ``photo_image`` as the photo on the wearer's frames as ``light_of`` lights them (the wearer's
    landmarks kept: the geometry is the same)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.png"
        cv2.imwrite(str(path), photo_image)
        swap = av.FaceSwap(load_avatar_photo(path, store=False))
    outs, wearers, seams = [], [], []
    for i, (frame, faces) in enumerate(frames):
        lit = light_of(frame)
        out = swap.apply(lit, Analysis(faces=faces))[0]
        if i in SCORED:
            lm = faces[0].landmarks
            outs.append(_centre(out, lm))
            wearers.append(_centre(lit, lm))
            seams += [s[0] for s in eval_avatar.seam_scores(lit, out, lm)]
    return np.median(outs, 0), np.median(wearers, 0), seams


def test_the_photos_own_tone_survives_on_a_wearer_of_another_tone(clip):
    frame, faces = clip[0]
    lm = faces[0].landmarks
    same, wearer, _ = _swap(frame, clip)
    assert np.abs(same - wearer).max() < 1.5  # the wearer's own frame: nothing to keep
    darker = _shift_skin(frame, lm, (-18.0, 3.0, 2.0))
    photo = _centre(darker, lm)
    out, wearer, seams = _swap(darker, clip)
    # The old relighting gave the wearer's lightness back (within 1 L); now the middle of the face
    # stays at least a third of the way down to the photo's darker skin.
    assert out[0] < wearer[0] - (wearer[0] - photo[0]) / 3
    assert out[0] > photo[0]  # the scene's share still comes from the wearer
    # The seam still continues the wearer's skin just outside.
    assert len(seams) > 10 and np.median(seams) < 4.0
    redder = _shift_skin(frame, lm, (0.0, 14.0, 0.0))
    out, wearer, _ = _swap(redder, clip)
    assert out[1] > wearer[1] + 2.0  # old: the wearer's a within 1


def test_the_wearers_dim_light_and_colour_cast_still_reach_the_face(clip):
    frame, _ = clip[0]
    plain, wearer, _ = _swap(frame, clip)

    def dim(f):
        return (f * np.float32(0.55)).astype(np.uint8)

    def warm(f):
        return np.clip(f * np.float32((0.75, 0.95, 1.1)), 0, 255).astype(np.uint8)

    out, dimmed, seams = _swap(frame, clip, dim)
    drop = wearer[0] - dimmed[0]
    assert drop > 15.0
    # Most of the wearer's darkening (a darker wearer is mostly a dimmer room: DIM_SHARE) reaches
    # the middle of the face.
    assert plain[0] - out[0] > 0.5 * drop
    assert np.median(seams) < 4.0
    out, warmed, _ = _swap(frame, clip, warm)
    assert warmed[2] - wearer[2] > 10.0
    assert out[2] - plain[2] > 0.4 * (warmed[2] - wearer[2])


def test_the_tone_is_kept_inside_the_face_only_and_never_the_hue_of_a_grey_photo():
    wearer, photo = np.array([55.0, 17.0, 14.0]), np.array([40.0, 20.0, 16.0])
    tone = light.skin_tone(wearer, photo)
    keep = 1.0 - np.array(light.LIGHT_SHARE)
    np.testing.assert_allclose(tone, keep * (wearer - photo), atol=1e-5)
    darker_wearer = light.skin_tone(wearer, np.array([70.0, 20.0, 16.0]))  # mostly the room
    assert darker_wearer[0] == pytest.approx((1.0 - light.DIM_SHARE) * -15.0)
    grey = light.skin_tone(wearer, np.array([40.0, 0.5, 0.8]))  # a B&W photo shows no skin tone
    np.testing.assert_array_equal(grey, 0.0)
    lo, hi = light.TONE_DEPTH
    depth = np.array([[0.0, lo, (lo + hi) / 2, hi, 1.0]], np.float32)
    ramp = light.tone_map(tone, depth, light.TONE_DEPTH)
    np.testing.assert_allclose(ramp[0, :, 0], [0.0, 0.0, tone[0] / 2, tone[0], tone[0]], atol=1e-4)
