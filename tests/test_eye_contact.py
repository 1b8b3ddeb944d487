"""Eye contact: eyes that look below the lens are turned to meet it (measured again with the face
and iris models on the output), nothing outside the eye openings changes, and the correction stays
off when the eyes close, the head turns away or the gaze leaves the screen; failures show the
wearer's own eyes."""
from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from livecam import cli
from livecam import settings as S
from livecam.analysis import Analyzer
from livecam.effects import (
    SPECS,
    AvatarSettings,
    EyeContactSettings,
    build_effect,
    sections_for,
)
from livecam.effects.eye_contact import (
    EYES,
    MAX_SHIFT,
    EyeContact,
    eye_regions,
    eyeball_centres,
    gaze_angles,
    visible_iris,
)
from livecam.types import Analysis

PHOTO = FIXTURES / "mpl_grace_hopper.jpg"


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(S.Settings())


def _analyse(analyzer, image, needs=frozenset({"faces", "iris"})):
    analysis = analyzer.analyze(image, needs)
    assert analysis.faces and analysis.faces[0].iris is not None
    return analysis


@pytest.fixture(scope="module")
def looking_down(analyzer):
    """The portrait, and its analysis with the irises the model found moved down by 12° of gaze:
    the effect sees a wearer looking at a screen below the camera (the pixels are the photo's)."""
    image = cv2.imread(str(PHOTO))
    analysis = _analyse(analyzer, image)
    face = analysis.faces[0]
    iris = face.iris.copy()
    before = gaze_angles(face.landmarks, iris)
    for (_, radius), (_, _, rows) in zip(eyeball_centres(face.landmarks), EYES):
        iris[rows, 1] += radius * (np.sin(np.radians(12)) - np.sin(np.radians(before[1])))
    return image, Analysis(faces=[replace(face, iris=iris)])


def _run(effect, image, analysis, frames=12):
    for _ in range(frames):  # the correction fades in
        out, outputs = effect.apply(image, analysis)
    return out, outputs


def test_a_gaze_below_the_lens_moves_the_irises_up_by_the_gaze(looking_down):
    """Eyes painted where the analysis says they are (a white opening, a blue iris 12° below the lens,
    hidden where it reaches past the lids): each iris comes up by about the eyeball radius times
    sin 12°, and stays whole."""
    photo, analysis = looking_down
    face = analysis.faces[0]
    image = photo.copy()
    iris = face.iris.copy()
    for contour, _, rows in EYES:
        opening = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(opening, [np.rint(face.landmarks[contour, :2] * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        painted = image.copy()
        painted[:] = (235, 235, 235)
        c = iris[rows.start, :2]
        r = 4.0
        iris[rows.start + 1: rows.stop, :2] = c + r * np.array([[1, 0], [0, -1], [-1, 0], [0, 1]])
        cv2.circle(painted, tuple(np.rint(c * 16).astype(int)), int(r * 16), (170, 110, 0), -1, cv2.LINE_AA, 4)
        a = opening[..., None].astype(np.float32) / 255.0
        image = np.rint(painted * a + image * (1.0 - a)).astype(np.uint8)
    face = replace(face, iris=iris, eye_openings=None)  # the painted opening is the mesh's
    analysis = Analysis(faces=[face])
    out, outputs = _run(EyeContact(EyeContactSettings(enabled=True)), image, analysis)
    assert outputs == {"altered": True}
    for (_, radius), (contour, _, rows) in zip(eyeball_centres(face.landmarks), EYES):
        inside = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(inside, [np.rint(face.landmarks[contour, :2]).astype(np.int32)], 255)
        # The painted iris by its colour, a blue no skin, lash or lid has. Its top edge over the
        # middle columns: the lower lid may hide its bottom, before or after.
        blue = [(np.abs(img.astype(int) - (170, 110, 0)).max(2) < 25) & (inside > 0) for img in (image, out)]
        cx = round(float(face.iris[rows.start, 0]))
        tops = [np.array([np.argmax(d[:, x]) for x in range(cx - 2, cx + 3)], float) for d in blue]
        rise = float(np.mean(tops[0] - tops[1]))
        r_iris = np.linalg.norm(face.iris[rows.start + 1: rows.stop, :2] - face.iris[rows.start, :2], axis=1).mean()
        expected = min(radius * np.sin(np.radians(12)), MAX_SHIFT * r_iris)
        assert 0.6 * expected < rise < 1.3 * expected
        assert blue[1].sum() > 0.7 * blue[0].sum()  # the iris is moved, not wiped out


def test_the_gaze_is_read_against_the_eyes_as_the_picture_shows_them_not_the_lagging_mesh(looking_down):
    """A nodding head: the jitter filter's mesh trails the picture by 4 px, the iris (found on the
    picture) and ``raw_landmarks`` do not. The effect reads and moves the eyes on the picture's
    points: the same pixels as with no lag at all. Read against the lagging corners, the same eyes
    would look 4 px / radius off and be moved that much further."""
    image, analysis = looking_down
    face = analysis.faces[0]
    lagging = face.landmarks.copy()
    lagging[:, 1] += 4.0
    moving = replace(face, landmarks=lagging, raw_landmarks=face.landmarks)
    still = replace(face, raw_landmarks=None)
    out = [_run(EyeContact(EyeContactSettings(enabled=True)), image, Analysis(faces=[f]))[0] for f in (moving, still)]
    assert (out[0] == out[1]).all() and not (out[0] == image).all()
    wrong = _run(EyeContact(EyeContactSettings(enabled=True)), image,
                 Analysis(faces=[replace(face, landmarks=lagging, raw_landmarks=None)]))[0]
    assert np.abs(wrong.astype(int) - out[1]).max() > 40


def test_an_eye_is_corrected_again_within_frames_of_a_blink(looking_down):
    """After a blink (the picture's lids shut for 3 frames) the eye's correction is back in full
    within 4 frames of the lids reopening, not the face's slower fade-in."""
    image, analysis = looking_down
    face = analysis.faces[0]
    effect = EyeContact(EyeContactSettings(enabled=True))
    _run(effect, image, analysis)
    assert min(effect.eye_weight) == pytest.approx(1.0)
    _run(effect, image, Analysis(faces=[replace(face, lids=face.lids * 0.2)]), frames=3)
    assert max(effect.eye_weight) == 0.0
    _run(effect, image, analysis, frames=4)
    assert min(effect.eye_weight) == pytest.approx(1.0)


def _painted_eyes(face, image, down_deg: float, r: float):
    """``image`` with each eye opening painted white (235) and a blue iris of radius ``r`` where a
    gaze ``down_deg`` below the lens puts it (hidden where it reaches past the lids); the face with
    those irises."""
    iris = face.iris.copy()
    for (centre, radius), (contour, _, rows) in zip(eyeball_centres(face.landmarks), EYES):
        opening = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(opening, [np.rint(face.landmarks[contour, :2] * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        painted = image.copy()
        painted[:] = (235, 235, 235)
        c = centre + (0.0, radius * np.sin(np.radians(down_deg)))
        iris[rows, :2] = c + r * np.array([[0, 0], [1, 0], [0, -1], [-1, 0], [0, 1]])
        cv2.circle(painted, tuple(np.rint(c * 16).astype(int)), int(r * 16), (170, 110, 0), -1, cv2.LINE_AA, 4)
        a = opening[..., None].astype(np.float32) / 255.0
        image = np.rint(painted * a + image * (1.0 - a)).astype(np.uint8)
    return image, replace(face, iris=iris, eye_openings=None)  # the painted opening is the mesh's


def test_a_large_move_shows_white_where_the_iris_was_not_a_grey_patch(looking_down):
    """A large iris looking 25° below the lens, low in the opening: it moves up by the most allowed,
    and what it uncovers from under the lower lid reads as the white around it (235), not as a grey
    or blue patch (where little white is near, the fill leans on the white's colour, not the iris's)."""
    photo, analysis = looking_down
    image, face = _painted_eyes(analysis.faces[0], photo, 25.0, 6.0)
    out, _ = _run(EyeContact(EyeContactSettings(enabled=True)), image, Analysis(faces=[face]))
    blue = [np.abs(img.astype(int) - (170, 110, 0)).max(2) < 60 for img in (image, out)]
    for contour, _, rows in EYES:
        inner = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(inner, [np.rint(face.landmarks[contour, :2] * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
        inner = cv2.erode(inner, np.ones((3, 3), np.uint8)) > 0  # the feathered lid line is the wearer's
        white = inner & ~(cv2.dilate(blue[1].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        ys = np.nonzero(blue[1] & inner)[0]
        assert ys.min() < np.nonzero(blue[0] & inner)[0].min() - 2, "the iris did not move up"
        # The white, and what the move uncovered from under the lower lid: white (shaded towards the
        # lid it meets), not a grey or blue patch.
        seen = out[white].astype(int)
        assert np.abs(seen - 235).max() < 60 and np.abs(seen - 235).max(1).mean() < 15
        assert (seen[:, 0] - seen[:, 2]).max() < 30  # no iris blue in it


def test_visible_iris_is_the_picture_lid_gap_over_the_iris_diameter(looking_down):
    _, analysis = looking_down
    face = analysis.faces[0]
    shown = visible_iris(face.landmarks, face.iris, face.lids)
    assert all(0.6 < v < 1.3 for v in shown)  # an open eye shows most of its iris
    half = visible_iris(face.landmarks, face.iris, np.asarray(face.lids) * 0.5)
    assert half == pytest.approx([0.5 * v for v in shown])


def test_nothing_changes_outside_the_eye_openings(looking_down):
    image, analysis = looking_down
    out, _ = _run(EyeContact(EyeContactSettings(enabled=True)), image, analysis)
    face = analysis.faces[0]
    eyes = eye_regions(face.landmarks, image.shape, face.eye_openings, face.iris)
    changed = np.abs(out.astype(int) - image).max(2) > 0
    assert changed.any() and not changed[eyes == 0].any()


def test_an_eye_open_wider_than_the_mesh_moves_its_whole_iris_no_second_pupil(looking_down):
    """A wide-open eye: the picture's opening (``Face.eye_openings``, the iris model's lid contour)
    reaches 60 % further down than the mesh's, and the low iris crosses the mesh's lower lid. With the
    picture's opening the whole iris moves up (its lowest row rises as its top does) and no blue is
    left behind below it; inside the mesh's opening alone the part past it stayed: a cut iris."""
    photo, analysis = looking_down
    face = analysis.faces[0]
    image, openings = photo.copy(), []
    iris = face.iris.copy()
    for (centre, radius), (contour, _, rows) in zip(eyeball_centres(face.landmarks), EYES):
        mesh = face.landmarks[contour, :2].astype(np.float64)
        mid = mesh.mean(0)
        wide = mesh.copy()
        wide[:, 1] = np.where(wide[:, 1] > mid[1], mid[1] + 1.6 * (wide[:, 1] - mid[1]), wide[:, 1])
        openings.append(wide)
        opening = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(opening, [np.rint(wide * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        low = float(mesh[:, 1].max())
        r = 5.0
        c = np.array([centre[0], low - 0.3 * r])  # the iris's lower part lies below the mesh's lid
        iris[rows, :2] = c + r * np.array([[0, 0], [1, 0], [0, -1], [-1, 0], [0, 1]])
        painted = image.copy()
        painted[:] = (235, 235, 235)
        cv2.circle(painted, tuple(np.rint(c * 16).astype(int)), int(r * 16), (170, 110, 0), -1, cv2.LINE_AA, 4)
        a = opening[..., None].astype(np.float32) / 255.0
        image = np.rint(painted * a + image * (1.0 - a)).astype(np.uint8)
    wide_face = replace(face, iris=iris, eye_openings=np.stack(openings).astype(np.float32))
    outs = [_run(EyeContact(EyeContactSettings(enabled=True)), image, Analysis(faces=[f]))[0]
            for f in (wide_face, replace(wide_face, eye_openings=None))]
    eyes = eye_regions(face.landmarks, image.shape, wide_face.eye_openings, iris)
    assert not (np.abs(outs[0].astype(int) - image).max(2) > 0)[eyes == 0].any()
    rises = []
    for out in outs:
        blue = [np.abs(img.astype(int) - (170, 110, 0)).max(2) < 40 for img in (image, out)]
        for (_, _, rows), k in zip(EYES, (0, 1)):
            cx = round(float(iris[rows.start, 0]))
            cols = slice(cx - 2, cx + 3)
            top = [np.nonzero(b[:, cols].any(1))[0].min() for b in blue]
            bottom = [np.nonzero(b[:, cols].any(1))[0].max() for b in blue]
            rises.append((top[0] - top[1], bottom[0] - bottom[1]))
    with_openings, mesh_only = rises[:2], rises[2:]
    for top, bottom in with_openings:
        assert top >= 2 and bottom >= top - 1  # the whole iris moved
    assert all(bottom <= 0 for _, bottom in mesh_only)  # the defect this fixes: the iris's foot stayed


def test_on_a_clip_looking_below_the_lens_the_angle_to_it_shrinks(data_dir):
    """lp_d6: the speaker's gaze is 5-20° below the lens in most frames (own estimate)."""
    from livecam.analysis.face_tracker import FaceTracker

    cap = cv2.VideoCapture(str(data_dir / "video" / "lp_d6_expressions.mp4"))
    analyzer = Analyzer(S.Settings(), offline=True)
    judge = FaceTracker(S.FaceSettings(smoothing=False), S.RuntimeSettings(provider="cpu"))
    effect = EyeContact(EyeContactSettings(enabled=True))
    before, after = [], []
    for n in range(40):
        ok, frame = cap.read()
        assert ok
        analysis = _analyse(analyzer, frame)
        out, _ = effect.apply(frame, analysis)
        face = analysis.faces[0]
        angle = gaze_angles(face.landmarks, face.iris)
        if n >= 8 and angle[1] > 5:
            judged = judge.process(out, want_iris=True, fresh_iris=True)[0]
            before.append(np.hypot(*angle))
            after.append(np.hypot(*gaze_angles(judged.landmarks, judged.iris)))
    assert len(before) >= 15
    assert np.median(after) < 0.65 * np.median(before)


@pytest.mark.parametrize("clip, frames", [("lp_d18_frontal_plain.mp4", 100), ("lp_d6_expressions.mp4", 60)])
def test_on_real_blinks_a_shut_eye_keeps_its_own_pixels(data_dir, clip, frames):
    """Real blinks (lp_d18 at frame ~95, where the mesh barely moves one eye's lids; lp_d6 at ~50,
    one or two frames long): wherever the iris model's lid contour on the input finds an eye shut
    (lid gap under 60 % of that eye's median), the eye's opening keeps its pixels, while open eyes
    looking below the lens are moved on other frames."""
    from livecam.analysis.face_tracker import FaceTracker

    cap = cv2.VideoCapture(str(data_dir / "video" / clip))
    analyzer = Analyzer(S.Settings(), offline=True)
    judge = FaceTracker(S.FaceSettings(smoothing=False), S.RuntimeSettings(provider="cpu"))
    effect = EyeContact(EyeContactSettings(enabled=True))
    rows = []  # per frame and eye: the picture's lid gap, mean and largest change in the opening
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        analysis = _analyse(analyzer, frame, effect.needs)  # as live: every other mesh carried
        out, _ = effect.apply(frame, analysis)
        seen = judge.process(frame, want_iris=True, fresh_iris=True)[0].lids
        diff = np.abs(out.astype(int) - frame).max(2)
        for k, (contour, _, _) in enumerate(EYES):
            opening = np.zeros(frame.shape[:2], np.uint8)
            cv2.fillPoly(opening, [np.rint(analysis.faces[0].landmarks[contour, :2]).astype(np.int32)], 255)
            inside = diff[opening > 0]
            rows.append((k, seen[k], inside.mean(), inside.max()))
    rows = np.array(rows)
    shut = np.zeros(len(rows), bool)
    for k in (0, 1):
        eye = rows[:, 0] == k
        shut |= eye & (rows[:, 1] < 0.6 * np.median(rows[eye, 1]))
    assert shut.sum() >= 2, "the clip's blink was not found"
    assert rows[shut, 2].max() < 0.5 and rows[shut, 3].max() <= 8
    assert rows[~shut, 2].max() > 2.0  # open eyes were moved


def test_the_compiled_loops_and_the_calls_move_real_eyes_to_the_same_pixels(data_dir, monkeypatch):
    """lp_d6 (gaze below the lens): the eye's inner opening and the colours of what it uncovers from the
    compiled loops (effect_kernels) give the pixels of the OpenCV calls they stand for (as where numba
    cannot compile), and the eyes were moved."""
    from livecam.effects import effect_kernels

    cap = cv2.VideoCapture(str(data_dir / "video" / "lp_d6_expressions.mp4"))
    analyzer = Analyzer(S.Settings(), offline=True)
    frames = []
    for _ in range(24):
        ok, frame = cap.read()
        assert ok
        frames.append((frame, _analyse(analyzer, frame)))

    def run():
        effect = EyeContact(EyeContactSettings(enabled=True))
        return [effect.apply(frame, analysis)[0] for frame, analysis in frames]

    fast = run()
    with monkeypatch.context() as patch:
        patch.setattr(effect_kernels, "READY", False)
        slow = run()
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)
    assert sum(np.abs(a.astype(int) - f).max() > 20 for a, (f, _) in zip(fast, frames)) >= 12


def test_closed_eyes_turned_head_and_a_look_away_are_left_alone(looking_down):
    image, analysis = looking_down
    face = analysis.faces[0]
    effect = EyeContact(EyeContactSettings(enabled=True))
    _run(effect, image, analysis)
    assert effect.weight > 0.9
    # A blink: both upper lids come down onto the lower ones; the correction fades out within frames.
    shut = face.landmarks.copy()
    for _, (upper, lower, _, _), _ in EYES:
        shut[upper] = shut[lower]
    blink = Analysis(faces=[replace(face, landmarks=shut, raw_landmarks=shut)])
    out, outputs = _run(effect, image, blink, frames=3)
    assert (out == image).all() and not outputs
    # The head turned past 25°.
    turned = Analysis(faces=[replace(face, pose=(32.0, 0.0, 0.0))])
    assert (_run(EyeContact(EyeContactSettings(enabled=True)), image, turned)[0] == image).all()
    # The gaze clearly away: 20° above the lens with the camera above the screen; 20° below it with
    # the camera below the screen (the irises the models report moved, the picture as it is).
    radius = eyeball_centres(face.landmarks)[0][1]
    for camera, sign in (("above", -1), ("below", 1)):
        iris = face.iris.copy()
        iris[:, 1] += radius * (sign * np.sin(np.radians(20)) - np.sin(np.radians(12)))
        away = Analysis(faces=[replace(face, iris=iris)])
        assert gaze_angles(face.landmarks, iris)[1] == pytest.approx(sign * 20, abs=1)
        effect = EyeContact(EyeContactSettings(enabled=True, camera=camera))
        assert (_run(effect, image, away)[0] == image).all()
    # No irises (the model could not run): the frame's own eyes, never a guess.
    effect = EyeContact(EyeContactSettings(enabled=True))
    assert _run(effect, image, Analysis(faces=[replace(face, iris=None)]))[0] is image


def test_a_photo_avatar_leaves_eye_contact_idle(looking_down):
    image, analysis = looking_down
    effect = EyeContact(EyeContactSettings(enabled=True), AvatarSettings(mode="animate"))
    assert _run(effect, image, analysis)[0] is image
    swap = AvatarSettings(mode="swap")
    own_eyes = {f: True for f in ("own_eyes_mouth", "keep_eyes_mouth") if hasattr(swap, f)}
    assert effect.update(EyeContactSettings(enabled=True), replace(swap, **{f: False for f in own_eyes})) is True
    assert _run(effect, image, analysis)[0] is image  # the photo's eyes go out: not the wearer's to turn
    assert effect.update(EyeContactSettings(enabled=True), replace(swap, **own_eyes)) is True
    assert not (_run(effect, image, analysis)[0] == image).all()  # the wearer's own eyes in the swap


def test_registry_flags_and_in_place_updates():
    parse = lambda *argv: cli.settings_from_args(cli.build_parser().parse_args(["run", *argv]))
    s = parse("--eye-contact", "--camera-position", "below")
    assert s.eye_contact.enabled and s.eye_contact.camera == "below"
    spec = SPECS["eye_contact"]
    names = list(SPECS)
    assert names.index("avatar") < names.index("eye_contact") < names.index("badge")
    assert spec.alters_face and spec.on_failure == "skip" and "eye_contact" in spec.bench
    effect = build_effect(spec, s)
    assert effect.needs >= {"faces_carried", "iris"} and effect.provides == frozenset({"altered"})
    effect.weight = 0.7
    assert effect.update(*sections_for(spec, S.update(s, eye_contact={"camera": "above"}))) is True
    assert effect.camera == "above" and effect.weight == 0.7  # the fade did not restart
    assert build_effect(spec, S.Settings()) is None


def test_a_failing_eye_contact_shows_the_unmodified_eyes_with_the_badge_still_on(looking_down, monkeypatch):
    from livecam.effects import eye_contact
    from livecam.pipeline import Pipeline

    image, _ = looking_down
    settings = S.update(S.Settings(), background={"mode": "off"}, output={"kind": "null"},
                        eye_contact={"enabled": True}, badge={"enabled": False})
    pipeline = Pipeline(settings)
    try:
        monkeypatch.setattr(eye_contact, "moved_eye", lambda *a: 1 / 0)  # what apply calls per eye
        out = pipeline.process(image)
        assert (out == image).all()  # the badge draws nothing on an unaltered frame
        assert pipeline.failure_counts() == {"eye_contact": 1}
        monkeypatch.undo()
        for _ in range(10):  # retried after its back-off, and it runs again
            pipeline.process(image)
        assert pipeline.failure_counts() == {"eye_contact": 1} and not pipeline.problems()
    finally:
        pipeline.close()


def test_the_evaluation_counts_a_gaze_below_the_lens_only_where_the_picture_shows_the_iris(looking_down):
    """tools/eval_studio: a frame's gaze is "measurably below the lens" only with most of both irises
    visible between the picture's lids, the head turned under 25° and the gaze over 5° below."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from eval_studio import MEASURABLE_IRIS, measurable_below

    _, analysis = looking_down
    face = analysis.faces[0]
    shown = visible_iris(face.landmarks, face.iris, face.lids)
    estimate = (gaze_angles(face.landmarks, face.iris), face.pose[0], None, tuple(face.lids), shown)
    assert estimate[0][1] == pytest.approx(12, abs=1) and min(shown) >= MEASURABLE_IRIS
    assert measurable_below(estimate, 5.0)
    slit = visible_iris(face.landmarks, face.iris, np.asarray(face.lids) * 0.4)
    assert not measurable_below(estimate[:4] + (slit,), 5.0)  # the iris mostly hidden: not measured
    assert not measurable_below((estimate[0], 30.0) + estimate[2:], 5.0)  # head turned
    assert not measurable_below(estimate, 15.0)  # not that far below
