"""Eye closure from the iris model's lid contour, and the swap's two-band seam, on real pixels and
exact numbers. The blink clip comes from the shared test data (skipped where it is absent)."""
from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, tracked_frames

from livecam.analysis import face_regions as regions
from livecam.analysis.eye_closure import EyeClosure, LidReader, lid_gap
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import avatar as av
from livecam.effects import avatar_light as light
from livecam.settings import FaceSettings, RuntimeSettings

# Eyes open on frames 0-4; the lids start falling on frame 5 (dlib's eye ratio at 0.78 of its median,
# the iris model's gap at 0.87-0.88 of open), are closing on 6-7 and shut on 8-11.
BLINK_CLIP = "video/lp_s18_room_landscape.mp4"


@pytest.fixture(scope="module")
def reader():
    return LidReader()


@pytest.fixture(scope="module")
def astronaut():
    image = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    faces = FaceTracker(FaceSettings(), RuntimeSettings()).process(image)
    assert faces
    return image, faces[0]


def _clip(data_dir, count, faces_too=False):
    cap = cv2.VideoCapture(str(data_dir / BLINK_CLIP))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    out = []
    try:
        for _ in range(count):
            ok, frame = cap.read()
            assert ok
            faces = tracker.process(frame, want_iris=faces_too)
            assert faces
            out.append((frame, faces[0]) if faces_too else (frame, faces[0].landmarks))
    finally:
        cap.release()
    return out


def test_the_lid_contour_shuts_on_a_blink_where_the_mesh_stays_open(data_dir, reader):
    frames = _clip(data_dir, 11)
    (open_frame, open_lm), (shut_frame, shut_lm) = frames[0], frames[10]
    open_gaps = [lid_gap(c) for c in reader.contours(open_frame, open_lm)]
    shut_gaps = [lid_gap(c) for c in reader.contours(shut_frame, shut_lm)]
    assert min(open_gaps) > 0.3
    assert max(shut_gaps) < 0.22
    assert max(s / o for s, o in zip(shut_gaps, open_gaps)) < 0.5  # the contour closes past half
    mesh_share = av.eye_openness(shut_lm) / av.eye_openness(open_lm)
    assert mesh_share > 0.7  # the 468 mesh, on the same blink, stays mostly open


def test_a_blink_closes_the_swap_fully_where_the_mesh_alone_would_not(data_dir, hopper_photo):
    frames = _clip(data_dir, 11)
    with_contour, mesh_only = av.FaceSwap(hopper_photo), av.FaceSwap(hopper_photo)
    for frame, lm in frames[:6]:
        assert max(with_contour.lid_weights(lm, frame)) < 0.1  # open eyes stay open
        mesh_only.lid_weights(lm)
    for frame, lm in frames[6:10]:  # the lids start falling on frame 6
        with_contour.lid_weights(lm, frame)
        mesh_only.lid_weights(lm)
    frame, lm = frames[10]
    assert min(with_contour.lid_weights(lm, frame)) > 0.9
    assert max(mesh_only.lid_weights(lm)) < 0.8


def test_the_face_stages_lids_close_the_swap_without_a_second_model_run(data_dir, hopper_photo):
    """Where the face stage runs the iris model (another effect asked for it) it carries each eye's
    picture lid gap in ``Face.lids``: the swap closes the photo's lids from those, reading none itself."""
    frames = _clip(data_dir, 11, faces_too=True)
    swap = av.FaceSwap(hopper_photo)
    for frame, face in frames[:5]:
        assert max(swap.lid_weights(face.landmarks, frame, face.lids)) < 0.1
    frame, face = frames[5]  # the lids start falling: read on their first frame down
    assert min(swap.lid_weights(face.landmarks, frame, face.lids)) > 0.1
    for frame, face in frames[6:10]:
        swap.lid_weights(face.landmarks, frame, face.lids)
    frame, face = frames[10]
    assert min(swap.lid_weights(face.landmarks, frame, face.lids)) > 0.9
    assert swap.lid_reading.closure.reads == 0
    # Faces without lids (a face stage that did not run the iris model) are read by the swap itself.
    fallback = av.FaceSwap(hopper_photo)
    fallback.lid_weights(face.landmarks, frame, np.zeros(2, np.float32))
    assert fallback.lid_reading.closure.reads == 1


def test_open_eyes_are_read_only_to_refresh_their_usual_gap(astronaut, hopper_photo):
    """The contour costs about 1 ms an eye: while the mesh sees open eyes it is read every 8th frame."""
    image, face = astronaut
    swap = av.FaceSwap(hopper_photo)
    for _ in range(16):
        assert swap.lid_weights(face.landmarks, image) == [0.0, 0.0]
    assert swap.lid_reading.closure.reads == 2


def test_a_closing_reading_is_followed_every_second_frame(astronaut, reader):
    image, face = astronaut
    closure = EyeClosure(reader, every=2, refresh=8)
    for _ in range(8):
        closure.update(image, face.landmarks, narrowed=True)
    assert closure.reads == 4


def test_a_one_eye_closure_is_kept_as_far_as_the_mesh_does_not_see_that_eye_wider():
    span = 0.16
    # The mesh sees the eye the iris model reads shut as the narrower one: a wink, kept.
    assert EyeClosure.mesh_agrees([0.9, 0.1], [0.7, 0.9], span) == [0.9, 0.1]
    # The mesh sees it as wide as the other: kept.
    assert EyeClosure.mesh_agrees([0.4, 0.0], [0.9, 0.9], span) == [0.4, 0.0]
    # Wider by half the span: half the one-eye part; wider by the span or more: none of it.
    assert EyeClosure.mesh_agrees([0.4, 0.0], [0.98, 0.9], span) == pytest.approx([0.2, 0.0])
    assert EyeClosure.mesh_agrees([0.4, 0.0], [1.1, 0.9], span) == [0.0, 0.0]
    # What both eyes read shut stays, whatever the mesh: only the one-eye part is checked.
    assert EyeClosure.mesh_agrees([1.0, 0.6], [1.2, 0.8], span) == [0.6, 0.6]
    assert EyeClosure.mesh_agrees([1.0, 1.0], [1.2, 0.8], span) == [1.0, 1.0]


# ---------------------------------------------------------------- the seam's low band


def test_the_border_takes_the_wearers_own_colour_where_no_skin_runs_on_beyond_the_outline():
    photo = np.full((20, 40, 3), 100.0, np.float32)
    live = np.zeros((20, 40, 3), np.float32)
    live[:] = (60.0, 120.0, 170.0)  # a warm skin against the photo's grey
    gain = np.ones((20, 40), np.float32)
    offset = np.zeros((20, 40, 3), np.float32)
    where = np.zeros((20, 40), np.float32)
    where[:, :20] = 1.0
    none = np.zeros((20, 40), np.float32)  # no skin ring outside: hair or background there
    out = light.match_border(photo, gain, offset, live, np.ones((20, 40), np.float32), none, none, 2.0, where, 100.0)
    relit = photo + out
    assert np.abs(relit[:, :20] - live[:, :20]).max() < 1.0
    assert np.abs(out[:, 20:]).max() < 1e-3  # untouched where not asked
    capped = light.match_border(photo, gain, offset, live, np.ones((20, 40), np.float32), none, none, 2.0, where, 5.0)
    assert np.abs(capped[:, :20]).max() == pytest.approx(5.0)  # each level's correction capped


def _band_de(inp, out, landmarks):
    """Delta E between the swap's border band (8-16 % of the face width inside the outline, below
    the nose tip: jaw and chin) and the wearer's own colour there, band mean against band mean."""
    fw = av.face_width(landmarks)
    inside = np.zeros(inp.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(landmarks[np.asarray(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5) / fw
    lower = np.zeros_like(inside, bool)
    lower[int(landmarks[1, 1]):] = True  # below the nose tip: jaw and chin over the neck
    band = (d_in >= 0.08) & (d_in < 0.16) & lower
    lab_in, lab_out = light.lab(inp), light.lab(out)
    return float(np.linalg.norm(lab_out[band].mean(0) - lab_in[band].mean(0)))


def _bearded(photo):
    """``photo`` with its jaw and chin darkened to a third (a dark beard along the outline)."""
    lm = photo.landmarks
    fw = av.face_width(lm)
    inside = np.zeros(photo.image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(lm[np.asarray(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5) / fw
    beard = (d_in > 0) & (d_in < 0.2)
    beard[: int(lm[1, 1])] = False
    image = photo.image.copy()
    image[beard] = image[beard] // 3
    return replace(photo, image=image)


def test_a_beard_at_the_photos_jaw_blends_into_the_wearers_colour(astronaut, hopper_photo, monkeypatch):
    """The relighting matches skin only; the border's low band also takes what is not skin on the
    photo (a beard) to the wearer's colour at the outline, fading out inwards. Here with no skin
    running on beyond the outline (the fallback: the wearer's own colour at the same place); the
    skin just outside is taken where there is some (``test_avatar_seam``)."""
    image, face = astronaut
    monkeypatch.setattr(light, "BORDER_SKIN", 1e9)
    photo = _bearded(hopper_photo)
    with_band = av.FaceSwap(photo).render(image, face.landmarks)
    monkeypatch.setattr(av, "MAX_SEAM", 0.0)
    without = av.FaceSwap(photo).render(image, face.landmarks)
    near, far = _band_de(image, with_band, face.landmarks), _band_de(image, without, face.landmarks)
    assert far > 10  # the beard shows as a dark band without it
    assert near < 0.85 * far  # the outer part of the band (full to 5 %, gone at 16 % in) is blended


def test_a_look_down_reads_part_way_shut_while_open_eyes_stay_open(data_dir):
    """lp_d19 (glasses, tuning half) looks down on frames 84-95: dlib reads her eyes at 0.6-0.66 of
    their median ratio, the iris gap is 0.78-0.84 of its usual open value. With the ramp starting at
    0.85 the swap read that as 0.04 / 0.18 shut; from 0.95 it reads a part-way closure on both eyes,
    while her open frames 104-115 stay at 0."""
    lids, read = av.WearerLids("auto", 1), []
    for frame, faces in tracked_frames(data_dir / "video/lp_d19_frontal_glasses.mp4", 116):
        assert faces
        read.append(lids.read(faces[0].landmarks, frame))
    read = np.array(read)
    assert read[84:96].mean(0).min() >= 0.2, read[84:96].mean(0)
    assert read[104:116].max() == 0.0, read[104:116].max(0)


def test_one_eye_read_shut_behind_glasses_needs_the_mesh_to_agree_while_a_real_squint_stays(data_dir):
    """lp_d12 (glasses, tuning half), frames 32-47: both eyes open (dlib's eye ratio at its median on
    both), but the iris model reads her left eye 0.23-0.46 shut (mean 0.31) and the right one open;
    the mesh sees that left eye the wider of the two. lp_d3 (tuning half), frames 34-46: she squints
    her right eye (dlib 0.9-1.1 of its median against 1.3-1.5 on the left), and the mesh sees it
    narrower too: that one-eye closure stays."""
    def read(clip, count):
        lids, out = av.WearerLids("auto", 1), []
        for frame, faces in tracked_frames(data_dir / "video" / clip, count):
            assert faces
            out.append(lids.read(faces[0].landmarks, frame))
        return np.array(out)

    glasses = read("lp_d12_talking_indoor.mp4", 48)[32:48]
    assert glasses.mean(0).max() < 0.1, glasses.mean(0)
    squint = read("lp_d3_expressions.mp4", 47)[34:47].mean(0)
    assert squint[0] > 0.8 and squint[1] < 0.3, squint
