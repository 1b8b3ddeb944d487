"""The dark under the nose follows the wearer's pose (issue 18): a portrait that shows its nostrils
(taken from below, a broad smile) no longer paints a dark triangle under the nose of a wearer who
faces the camera, and a photo of the wearer's own face is drawn as before."""
import cv2
import numpy as np
import pytest
from conftest import shared_data, tracked_frames

from livecam.analysis import face_regions as regions
from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.analysis.face_measures import face_width
from livecam.effects import avatar as av
from livecam.effects import avatar_pose_shade as shade
from livecam.types import Analysis

WEARER = "video/lp_d12_talking_indoor.mp4"  # tuning half: a man facing the camera
PHOTO = "faces/single/dl_tom_cruise.jpg"  # tuning half: a broad smile, the nostrils in view
FRAMES = 16


def _nose_base(landmarks, shape):
    """uint8 mask: the hull of the nose base's mesh points."""
    region = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(region, cv2.convexHull(np.round(landmarks[list(shade.NOSE_BASE), :2]).astype(np.int32)), 1)
    return region


def _dark_share(image, landmarks):
    """Share of the nose base (the hull of its mesh points) darker than 0.6 of the skin beside it
    (a closing wide enough to fill the nostrils): an independent reading, not the effect's own rule."""
    region = _nose_base(landmarks, image.shape)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    k = int(round(0.2 * face_width(landmarks))) | 1
    skin = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return float(((grey < 0.6 * skin) & (region > 0)).sum() / max(int(region.sum()), 1))


def _swap(frames, photo):
    swap = av.FaceSwap(photo)
    return [swap.apply(frame, Analysis(faces=faces))[0] for frame, faces in frames]


@pytest.fixture(scope="module")
def frames():
    root = shared_data()
    if not root.is_dir():
        pytest.skip(f"shared test data not found at {root}")
    return tracked_frames(root / WEARER, FRAMES), load_avatar_photo(root / PHOTO, store=False)


def test_no_dark_triangle_under_the_nose(frames, monkeypatch):
    clip, photo = frames
    wearer = np.median([_dark_share(f, fc[0].landmarks) for f, fc in clip])
    swapped = np.median([_dark_share(o, fc[0].landmarks) for o, (f, fc) in zip(_swap(clip, photo), clip)])
    monkeypatch.setattr(shade.NoseBase, "lift", lambda *_: None)
    before = np.median([_dark_share(o, fc[0].landmarks) for o, (f, fc) in zip(_swap(clip, photo), clip)])
    assert before > max(0.2, 4 * wearer)  # the case is there: without the lift the triangle shows
    assert swapped < 0.5 * before  # measured: 0.33 -> 0.11 (the wearer: 0.008)


def test_the_wearers_own_face_is_left_as_it_is(frames, monkeypatch, tmp_path):
    """Self-reenactment (the photo is the wearer's own first frame): the nose base comes out at
    least as close to the wearer's real frame as without the lift (its nostrils are the wearer's;
    what moves them since the first frame is the wearer's pose)."""
    clip, _photo = frames
    cv2.imwrite(str(tmp_path / "own.png"), clip[0][0])
    photo = load_avatar_photo(tmp_path / "own.png", store=False)
    with_lift = _swap(clip, photo)
    monkeypatch.setattr(shade.NoseBase, "lift", lambda *_: None)
    without = _swap(clip, photo)
    errors = []
    for (frame, faces), a, b in zip(clip, with_lift, without):
        lm = faces[0].landmarks
        region = _nose_base(lm, frame.shape)
        errors.append([float(cv2.absdiff(o, frame)[region > 0].mean()) for o in (a, b)])
        assert float(cv2.absdiff(a, b)[region > 0].mean()) < 6.0  # a small change, not a repaint
    lifted, plain = np.median(errors, axis=0)
    assert lifted <= plain + 0.25


def test_lift_never_darkens_and_stays_in_the_nose_base():
    """Synthetic: a dark blob under a drawn nose on the swapped face, none on the wearer: the blob
    is lifted towards the skin, nothing gets darker, and pixels far from the nose base are untouched."""
    rng = np.random.default_rng(0)
    skin = np.full((200, 200, 3), (120, 150, 200), np.uint8)
    skin = cv2.add(skin, rng.integers(0, 6, skin.shape, dtype=np.uint8))
    live = skin.copy()
    face = skin.copy()
    cv2.ellipse(face, (100, 110), (18, 10), 0, 0, 360, (30, 35, 50), -1)
    # A mesh whose nose base sits around (100, 110) and whose face is ~160 px wide.
    landmarks = np.zeros((478, 3), np.float32)
    landmarks[:, :2] = (100, 110)
    oval = list(regions.FACE_OVAL)
    angles = np.linspace(0, 2 * np.pi, len(oval), endpoint=False)
    landmarks[oval, :2] = np.stack([100 + 80 * np.cos(angles), 100 + 80 * np.sin(angles)], 1)
    ring = np.stack([np.cos(np.linspace(0, 2 * np.pi, len(shade.NOSE_BASE))),
                     np.sin(np.linspace(0, 2 * np.pi, len(shade.NOSE_BASE)))], 1)
    landmarks[list(shade.NOSE_BASE), :2] = (100, 110) + ring * (20, 12)
    before = face.copy()
    shade.lift_nose_base(face, live, landmarks, (0, 0))
    grey0 = cv2.cvtColor(before, cv2.COLOR_BGR2GRAY).astype(int)
    grey1 = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(int)
    assert (grey1 >= grey0 - 1).all()  # never darker
    assert grey1[110, 100] > grey0[110, 100] + 60  # the blob's centre lifted towards the skin
    assert np.array_equal(face[:30], before[:30]) and np.array_equal(face[-20:], before[-20:])


def test_the_gate_is_read_every_frame_while_it_lifts_and_now_and_then_while_it_finds_nothing(monkeypatch):
    """The gate's reading is most of the lift's cost and most photos never need the lift: while it
    finds nothing it is read on every RECHECK-th frame; once it lifts, on every frame until it stops."""
    answers = iter([False, False, False, True, True, False, False])
    frame, read = 0, []
    monkeypatch.setattr(shade, "lift_nose_base", lambda *a: read.append(frame) or next(answers))
    nose = shade.NoseBase()
    for frame in range(4 * shade.RECHECK + 3):
        nose.lift(None, None, None, (0, 0))
    r = shade.RECHECK
    assert read == [0, r, 2 * r, 3 * r, 3 * r + 1, 3 * r + 2, 4 * r + 2]
