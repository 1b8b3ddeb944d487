"""Two reads that only bring memory into cache ahead of a scattered read of it: the face swap's photo
before its remap (``imaging.read_ahead``), and the frame under the face mesh's crop before the crop
(``face_landmarker._warm_box``). Reads only: the pictures, the face stage's meshes and every frame
the swap draws stay the same to the bit."""

import numpy as np
import pytest

from conftest import FIXTURES, picked_faces, video_frames

from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.analysis import face_landmarker
from livecam.analysis.face_landmarker import Roi
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import avatar as av
from livecam.imaging import read_ahead
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Analysis


def test_warming_leaves_the_picture_as_it_was():
    rng = np.random.default_rng(5)
    for shape in [(669, 642, 3), (1, 1, 3), (0, 4, 3), (63, 1), (130,)]:
        picture = rng.integers(0, 256, shape, dtype=np.uint8)
        kept = picture.copy()
        assert read_ahead(picture) is None
        np.testing.assert_array_equal(picture, kept)
    view = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)[:, ::2]  # not contiguous: nothing read, nothing raised
    kept = view.copy()
    read_ahead(view)
    np.testing.assert_array_equal(view, kept)


@pytest.mark.parametrize("clip, picks", [("lp_s18_room_landscape.mp4", (5, 40, 80, 119)),
                                         ("lp_d3_expressions.mp4", (20, 160, 250, 280))])
@pytest.mark.parametrize("photo", ["mpl_grace_hopper.jpg", "sk_astronaut.png"])
def test_the_swap_draws_the_same_frames_with_and_without_the_warming(clip, picks, photo, monkeypatch):
    """Real 720p frames (the bench clip, and turned heads), both swap modes: the frames with the
    photo warmed are those of the code without it, and the warming reads the photo the remap reads."""
    frames, faces = picked_faces(clip, picks)
    picture = load_avatar_photo(FIXTURES / photo, store=False)

    def run():
        effects = [av.FaceSwap(picture), av.FaceSwap(picture, own_eyes_mouth=True)]
        return effects, [[e.apply(f, Analysis(faces=fc))[0] for f, fc in zip(frames, faces)] for e in effects]

    warmed, warm = [], read_ahead
    with monkeypatch.context() as patch:
        patch.setattr(av, "read_ahead", lambda p: warmed.append(p) or warm(p))
        effects, fast = run()
    assert len(warmed) == 2 * len(frames)
    assert all(p is e.source.image for p, e in zip(warmed, [effects[0]] * len(frames) + [effects[1]] * len(frames)))
    assert all(e.source.image.flags.c_contiguous for e in effects)  # else the warming reads nothing
    with monkeypatch.context() as patch:
        patch.setattr(av, "read_ahead", lambda p: None)
        _, plain = run()
    for a_frames, b_frames in zip(fast, plain):
        for frame, a, b in zip(frames, a_frames, b_frames):
            assert np.abs(a.astype(np.int16) - frame).max() > 60  # the effect drew a face
            np.testing.assert_array_equal(a, b)


def test_warming_the_crops_box_leaves_the_frame_as_it_was():
    """Boxes inside, across and wholly off the frame, turned, of no size and of no numbers."""
    rng = np.random.default_rng(6)
    frame = rng.integers(0, 256, (72, 128, 3), dtype=np.uint8)
    kept = frame.copy()
    for roi in [Roi(64, 36, 40, 0.3), Roi(2, 3, 90, -0.8), Roi(500, -300, 50, 0.0), Roi(64, 36, 0, 0.0),
                Roi(float("nan"), 36, 40, 0.0), Roi(64, 36, float("inf"), 0.0)]:
        assert face_landmarker._warm_box(frame, roi) is None
    face_landmarker._warm_box(frame[:, ::2], Roi(30, 30, 20, 0.0))  # a view: nothing read, nothing raised
    face_landmarker._warm_box(frame[..., 0], Roi(30, 30, 20, 0.0))  # no channels: nothing read
    np.testing.assert_array_equal(frame, kept)


@pytest.mark.parametrize("clip", ["lp_s18_room_landscape.mp4", "lp_d3_expressions.mp4"])
def test_the_face_stage_reads_the_same_meshes_with_and_without_the_warming(clip, monkeypatch):
    """A run of real 720p frames through the face tracker (its crops follow its own meshes): the same
    faces, points and scores to the bit, and the warming read each frame's crop box."""
    frames = video_frames(clip, 60, (1280, 720))

    def run():
        tracker = FaceTracker(FaceSettings(), RuntimeSettings())
        return [tracker.process(f) for f in frames]

    boxes, warm = [], face_landmarker._warm_box
    with monkeypatch.context() as patch:
        patch.setattr(face_landmarker, "_warm_box", lambda image, roi: boxes.append(roi) or warm(image, roi))
        warmed = run()
    assert len(boxes) >= len(frames)
    with monkeypatch.context() as patch:
        patch.setattr(face_landmarker, "_warm_box", lambda image, roi: None)
        plain = run()
    assert all(warmed)
    for a_faces, b_faces in zip(warmed, plain):
        assert len(a_faces) == len(b_faces)
        for a, b in zip(a_faces, b_faces):
            np.testing.assert_array_equal(a.landmarks, b.landmarks)
            np.testing.assert_array_equal(a.raw_landmarks, b.raw_landmarks)
            assert a.score == b.score and a.pose == b.pose
