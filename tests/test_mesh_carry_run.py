"""Runs of carried meshes (``face_tracker.CARRY_RUN``, ``CARRY_MISS``): a still face is carried up to
three frames in a row, a faster one fewer; a swap or the photo avatar still gets every frame read; a
cut or a face that leaves inside a run is read; the disclosure badge shows as with every frame read."""
import cv2
import numpy as np
import pytest
from conftest import counting_mesh_runs, video_frames

from livecam import settings as S
from livecam.analysis import Analyzer
from livecam.analysis import face_tracker as ft
from livecam.analysis.face_tracker import FaceTracker, _look, _Track, carried_mesh
from livecam.analysis.face_landmarker import Roi
from livecam.effects.auto_frame import AutoFrame
from livecam.effects.avatar import FaceSwap, PhotoAvatar
from livecam.effects.badge import Badge
from livecam.effects.eye_contact import EyeContact
from livecam.effects.key_light import KeyLight
from livecam.effects.touch_up import TouchUp

SIZE = (1280, 720)
STUDIO = frozenset().union(*(e.needs for e in (TouchUp, KeyLight, EyeContact, AutoFrame)))


def _track(speed: float) -> tuple[np.ndarray, _Track]:
    """A smooth picture and a track whose two reads (frames 1 and 2) show a 200 px face moving right by
    ``speed`` of its width a frame, its grey view taken on the last read."""
    rng = np.random.default_rng(7)
    image = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), (0, 0), 12)
    image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)
    grid = np.stack(np.meshgrid(np.linspace(0, 200, 10), np.linspace(0, 240, 10)), -1).reshape(-1, 2)
    m1 = np.concatenate([grid + (540, 240), np.zeros((100, 1))], 1).astype(np.float32)
    m0 = m1 - np.float32([speed * 200, 0, 0])
    track = _Track(1, Roi(640, 360, 300, 0.0), None)
    track.reads = [(1, m0), (2, m1)]
    track.look = _look(image, ft._bounds(m1))
    return image, track


@pytest.mark.parametrize("speed, run", [(0.0, 3), (0.008, 3), (0.012, 2), (0.025, 1), (0.035, 0)])
def test_the_faster_the_face_the_fewer_frames_are_carried(speed, run):
    # A carried mesh misses by up to half its velocity a frame: CARRY_MISS (1.5 % of the face's width)
    # allows three frames at 1 % a frame, two at 1.5 %, one at 3 %, none faster; never more than three.
    image, track = _track(speed)
    carried = [carried_mesh(image, track, 2 + ahead) is not None for ahead in (1, 2, 3, 4)]
    assert carried == [ahead <= run for ahead in (1, 2, 3, 4)]
    if run:  # moved on by half the reads' velocity a frame
        mesh = carried_mesh(image, track, 2 + run)
        np.testing.assert_allclose(mesh - track.reads[1][1], [[0.5 * run * speed * 200, 0, 0]] * 100, atol=1e-3)


def test_nothing_is_carried_onto_a_read_frame_or_from_reads_with_a_gap_between():
    image, track = _track(0.0)
    assert carried_mesh(image, track, 2) is None  # the last read's own frame
    m0, m1 = track.reads[0][1], track.reads[1][1]
    track.reads = [(1, m0), (5, m1)]  # three carried frames between: a run's own reads
    assert carried_mesh(image, track, 6) is not None
    track.reads = [(0, m0), (5, m1)]  # four frames between (the face was lost, or not tracked): a gap
    assert carried_mesh(image, track, 6) is None


def test_a_still_face_is_read_one_frame_in_four_and_a_swap_or_avatar_every_frame():
    frames = video_frames("lp_s18_room_landscape.mp4", 24, SIZE)

    def reads(needs) -> int:
        analyzer = Analyzer(S.Settings())
        runs = counting_mesh_runs(analyzer.tracker)
        for frame in frames:
            assert analyzer.analyze(frame, needs).faces
        return runs[0]

    assert reads(STUDIO) <= 0.34 * len(frames)  # every other frame, as before, read 12 of these 24
    for avatar in (FaceSwap, PhotoAvatar):
        assert reads(STUDIO | avatar.needs) == len(frames), avatar.__name__


def _carried_twice(frames) -> tuple[FaceTracker, list[int], int]:
    """A tracker run with ``carry`` over ``frames`` up to a frame that would be the second carried in a
    row: the tracker, its mesh-run counter and that frame's index."""
    tracker = FaceTracker(S.FaceSettings(), S.RuntimeSettings(provider="cpu"))
    runs = counting_mesh_runs(tracker)
    for i, frame in enumerate(frames):
        track = tracker._tracks[0] if tracker._tracks else None
        if (i > 2 and track is not None and track.reads[-1][0] == tracker._frame - 1
                and carried_mesh(frame, track, tracker._frame + 1) is not None):
            return tracker, runs, i
        assert tracker.process(frame, carry=True)
    raise AssertionError("no frame would be carried twice in a row")


def test_a_cut_or_a_face_that_leaves_inside_a_run_is_read():
    frames = video_frames("lp_s18_room_landscape.mp4", 30, SIZE)
    for cut in ("lp_d3_expressions.mp4", None):
        tracker, runs, i = _carried_twice(frames)
        if cut is not None:  # another person in another room
            picture = video_frames(cut, 1, SIZE)[0]
        else:  # the same room without its person: a blank wall where the face was
            picture = frames[i].copy()
            x0, y0, x1, y1 = tracker._tracks[0].roi.box().astype(int)
            picture[max(0, y0):y1, max(0, x0):x1] = np.median(picture.reshape(-1, 3), axis=0).astype(np.uint8)
        before = runs[0]
        faces = tracker.process(picture, carry=True)
        assert runs[0] == before + 1  # read, not carried
        if cut is None:
            assert faces == []  # nothing drawn on the wall


def _badge_shown(frames, needs) -> list[bool]:
    """Per frame, whether the badge's label is in the corner after eye contact, with the faces ``needs``."""
    settings = S.Settings()
    analyzer, eyes, badge = Analyzer(settings), EyeContact(settings.eye_contact, settings.avatar), Badge()
    x0, y0, x1, y1 = badge.position(SIZE)
    shown = []
    for frame in frames:
        analysis = analyzer.analyze(frame, needs)
        out, outputs = eyes.apply(frame, analysis)
        analysis.altered = bool(outputs.get("altered"))
        labelled = badge.apply(out, analysis)[0]
        shown.append(bool((labelled[y0:y1, x0:x1] != out[y0:y1, x0:x1]).any()))
    return shown


def test_the_badge_shows_on_the_same_frames_as_with_every_mesh_read():
    # lp_d3 turns its head and narrows its eyes, so eye contact alters some frames and not others.
    frames = video_frames("lp_d3_expressions.mp4", 90, SIZE)
    carried = _badge_shown(frames, EyeContact.needs)
    read = _badge_shown(frames, EyeContact.needs | {"faces"})
    assert any(read)
    toggles = [int(np.abs(np.diff(np.array(s, int))).sum()) for s in (read, carried)]
    assert toggles[1] <= toggles[0]
    assert sum(a != b for a, b in zip(read, carried)) <= 1  # at most the first altered frame apart
