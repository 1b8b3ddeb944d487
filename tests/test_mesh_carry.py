"""The face mesh carried on every other frame (``FaceTracker.process(carry=True)``): only where every
effect that reads faces takes a carried mesh, never across a cut, never for a face that left, and close
to the mesh read on every frame."""
import numpy as np
import pytest
from conftest import counting_mesh_runs, video_frames

from livecam import settings as S
from livecam.analysis import Analyzer
from livecam.analysis.face_measures import face_width
from livecam.analysis.face_tracker import FaceTracker, carried_mesh
from livecam.effects.auto_frame import AutoFrame
from livecam.effects.avatar import FaceSwap, PhotoAvatar
from livecam.effects.eye_contact import EyeContact
from livecam.effects.key_light import KeyLight
from livecam.effects.touch_up import TouchUp

SIZE = (1280, 720)
STUDIO = (TouchUp, KeyLight, EyeContact, AutoFrame)


def _reads(needs, frames) -> int:
    analyzer = Analyzer(S.Settings())
    runs = counting_mesh_runs(analyzer.tracker)
    for frame in frames:
        assert analyzer.analyze(frame, needs).faces
    return runs[0]


def test_a_swap_or_the_photo_avatar_beside_the_studio_effects_gets_every_frame_read():
    frames = video_frames("lp_s18_room_landscape.mp4", 12, SIZE)
    studio = frozenset().union(*(effect.needs for effect in STUDIO))
    assert "faces" not in studio  # each studio effect declares that a carried mesh will do
    assert _reads(studio, frames) <= 8  # the studio effects alone: about every other frame carried
    for avatar in (FaceSwap, PhotoAvatar):
        assert "faces" in avatar.needs and "faces_carried" not in avatar.needs
        assert _reads(studio | avatar.needs, frames) == len(frames), avatar.__name__


def _tracked_until_a_carry(frames) -> tuple[FaceTracker, list[int], int]:
    """A tracker run with ``carry`` over ``frames`` up to a frame on which it would carry the mesh: the
    tracker, its mesh-run counter and that frame's index."""
    tracker = FaceTracker(S.FaceSettings(), S.RuntimeSettings(provider="cpu"))
    runs = counting_mesh_runs(tracker)
    for i, frame in enumerate(frames):
        if i > 2 and tracker._tracks and carried_mesh(frame, tracker._tracks[0], tracker._frame + 1) is not None:
            return tracker, runs, i
        assert tracker.process(frame, carry=True)
    raise AssertionError("no frame would carry the mesh")


def test_a_cut_is_read_not_carried():
    # The looped clip's cut (its last frame, then its first) and a cut to another person and room.
    for clip, after in (("lp_d3_expressions.mp4", None), ("lp_d3_expressions.mp4", "lp_s18_room_landscape.mp4")):
        frames = video_frames(clip, 40, SIZE)
        tracker, runs, i = _tracked_until_a_carry(frames[20:])
        cut = frames[0] if after is None else video_frames(after, 1, SIZE)[0]
        before = runs[0]
        tracker.process(cut, carry=True)
        assert runs[0] == before + 1  # read
        if tracker._tracks:  # else the old crop found no face: lost, and the detector looks next frame
            truth = FaceTracker(S.FaceSettings(smoothing=False), S.RuntimeSettings(provider="cpu")).process(cut)[0]
            # The read mesh is the new picture's face (unread, the old face moved on would be drawn on).
            read = tracker._tracks[0].reads[-1][1]
            assert np.abs(read[:, :2] - truth.landmarks[:, :2]).max() < 0.05 * face_width(truth.landmarks)


def test_a_face_that_leaves_is_not_drawn_on():
    frames = video_frames("lp_s18_room_landscape.mp4", 30, SIZE)
    tracker, runs, i = _tracked_until_a_carry(frames)
    # The same room without its person: a blank wall where the face was.
    room = frames[i].copy()
    x0, y0, x1, y1 = tracker._tracks[0].roi.box().astype(int)
    room[max(0, y0):y1, max(0, x0):x1] = np.median(room.reshape(-1, 3), axis=0).astype(np.uint8)
    before = runs[0]
    assert tracker.process(room, carry=True) == []
    assert runs[0] == before + 1


@pytest.mark.parametrize("clip", ["lp_d3_expressions.mp4", "lp_s18_room_landscape.mp4"])
def test_carried_meshes_stay_close_to_every_frame_read(clip):
    frames = video_frames(clip, 60, SIZE)
    every = FaceTracker(S.FaceSettings(), S.RuntimeSettings(provider="cpu"))
    carrying = FaceTracker(S.FaceSettings(), S.RuntimeSettings(provider="cpu"))
    runs = counting_mesh_runs(carrying)
    errors = []
    for frame in frames:
        a, b = every.process(frame)[0], carrying.process(frame, carry=True)[0]
        errors.append(np.hypot(*(a.landmarks[:, :2] - b.landmarks[:, :2]).T).mean() / face_width(a.landmarks))
    assert runs[0] <= 0.6 * len(frames)
    assert np.median(errors) < 0.005 and np.percentile(errors, 95) < 0.015


def test_faces_that_cannot_be_made_are_missing_for_the_carried_kind_too(astronaut):
    analyzer = Analyzer(S.Settings())
    analyzer.broken["faces"] = "The face model could not be opened."
    for needs in ({"faces_carried"}, EyeContact.needs):
        analyzer.analyze(astronaut, needs)
        assert analyzer.missing == {"faces", "faces_carried"}  # the pipeline and the gate match needs to it
