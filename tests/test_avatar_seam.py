"""The face swap's border and what covers the photo: the seam continues the wearer's skin just
outside the outline, and hair down the photo's cheek is filled from its own skin."""
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, shared_data

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


@pytest.fixture(scope="module")
def astronaut_photo():
    return load_avatar_photo(FIXTURES / "sk_astronaut.png", store=False)


def _border_case():
    """A 40x40 grid: the face inside columns 10-29 (``support``), a ring of skin outside it on the
    left (columns 4-9) and hair on the right; the wearer's face is darker than the skin beside it."""
    live = np.zeros((40, 40, 3), np.float32)
    live[:] = (90.0, 120.0, 160.0)  # inside: the wearer's own (shaded) skin
    live[:, :10] = (110.0, 140.0, 185.0)  # the skin just outside, on the left (neck, ear)
    live[:, 30:] = (30.0, 35.0, 40.0)  # hair on the right
    support = np.zeros((40, 40), np.float32)
    support[:, 10:30] = 1.0
    ring = np.zeros_like(support)
    ring[:, 4:10] = ring[:, 30:36] = 1.0
    skin = np.ones_like(support)
    skin[:, 30:] = 0.0
    photo = np.full((40, 40, 3), 100.0, np.float32)
    gain = np.ones((40, 40), np.float32)
    offset = np.zeros((40, 40, 3), np.float32)
    return photo, gain, offset, live, support, ring, skin


def test_the_border_takes_the_skin_just_outside_and_the_wearers_own_colour_beside_hair():
    photo, gain, offset, live, support, ring, skin = _border_case()
    where = np.ones((40, 40), np.float32)
    out = light.match_border(photo, gain, offset, live, support, ring, skin, 2.0, where, 100.0)
    relit = photo + out
    # Next to the skin ring the border continues it, not the wearer's darker colour inside.
    assert np.abs(relit[5:35, 11] - live[5:35, 5]).max() < 6.0
    assert np.abs(relit[5:35, 11] - live[5:35, 20]).min() > 12.0
    # Next to the hair it takes the wearer's own colour at that place, never the hair's.
    assert np.abs(relit[5:35, 28] - live[5:35, 20]).max() < 6.0
    # Capped, and untouched where not asked.
    capped = light.match_border(photo, gain, offset, live, support, ring, skin, 2.0, where, 5.0)
    assert np.abs(capped).max() == pytest.approx(5.0)
    none = light.match_border(photo, gain, offset, live, support, ring, skin, 2.0, np.zeros_like(where), 100.0)
    assert np.abs(none).max() == 0.0


def _lab_mean(image, mask):
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[mask].mean(0)


def _cheek_stripe(photo):
    """bool mask: down the picture's left side of the face, 1-7 % of the face width inside the
    outline, from the eyes to the mouth corners (long hair falling over the cheek)."""
    lm = photo.landmarks
    inside = np.zeros(photo.image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(lm[np.asarray(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5) / av.face_width(lm)
    rows = np.zeros_like(depth, bool)
    rows[int(lm[159, 1]):int(lm[61, 1])] = True
    side = np.zeros_like(rows)
    side[:, : int(lm[1, 0])] = True
    return (depth > 0.01) & (depth < 0.07) & rows & side


def _painted_cheek(photo):
    image = photo.image.copy()
    image[_cheek_stripe(photo)] = (30, 45, 70)  # dark brown, the skin's own hue
    return image


def test_hair_down_the_photos_cheek_is_filled_with_its_skin(astronaut_photo):
    """A dark stripe painted down one side of the astronaut's face, inside the outline from the
    eyes to the mouth (long hair falling over the cheek), is filled from her own skin: the swap
    would otherwise draw it as a dark stripe down the wearer's cheek."""
    lm = astronaut_photo.landmarks
    stripe = _cheek_stripe(astronaut_photo)
    source = av._SourceFace(replace(astronaut_photo, image=_painted_cheek(astronaut_photo)))
    # The same stripe in the source's working picture (scaled and cropped).
    slm = source.landmarks
    s = (slm[454, 0] - slm[234, 0]) / (lm[454, 0] - lm[234, 0])
    m = np.float32([[s, 0, slm[1, 0] - lm[1, 0] * s], [0, s, slm[1, 1] - lm[1, 1] * s]])
    size = source.image.shape[1::-1]
    at = cv2.warpAffine(stripe.astype(np.uint8) * 255, m, size, flags=cv2.INTER_NEAREST)
    at = cv2.erode(at, np.ones((3, 3), np.uint8)) > 0
    assert at.sum() > 150
    cheeks = np.zeros(source.image.shape[:2], np.uint8)
    for k in (50, 280):
        cv2.circle(cheeks, tuple(int(v) for v in slm[k, :2]), 10, 1, -1)
    skin = _lab_mean(source.image, cheeks > 0)
    paint = _lab_mean(np.full((1, 1, 3), (30, 45, 70), np.uint8), np.ones((1, 1), bool))
    assert np.linalg.norm(paint - skin) > 45
    assert np.linalg.norm(_lab_mean(source.image, at) - skin) < 15  # skin again (side shading), not hair


def test_the_seam_on_a_real_pair_is_no_larger_than_the_wearers_own_step(data_dir, astronaut_photo, monkeypatch):
    """lp_d12 (a man with a fringe and glasses, talking) wearing the astronaut: the evaluation's seam
    score (border band 8-16 % inside against the skin 2-8 % outside, where the wearer's skin runs on)
    stays under the wearer's own step there, and under 4; taking the wearer's own colour at the
    border instead (the earlier blend) repeats the wearer's step."""
    cap = cv2.VideoCapture(str(data_dir / "video" / "lp_d12_talking_indoor.mp4"))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    frames = []
    for _ in range(24):
        ok, frame = cap.read()
        assert ok
        frames.append((frame, tracker.process(frame)))
    cap.release()

    def seams():
        swap = av.FaceSwap(astronaut_photo)
        out, natural = [], []
        for i, (frame, faces) in enumerate(frames):
            image = swap.apply(frame, Analysis(faces=faces))[0]
            if i >= 12 and faces:
                for o, n, _ in eval_avatar.seam_scores(frame, image, faces[0].landmarks):
                    out.append(o)
                    natural.append(n)
        assert len(out) > 20
        return float(np.median(out)), float(np.median(natural))

    now, natural = seams()
    assert now < 4.0 and now < natural - 0.5
    monkeypatch.setattr(light, "BORDER_SKIN", 1e9)  # no skin ring anywhere: the wearer's own colour
    monkeypatch.setattr(av, "SEAM_BAND", (0.05, 0.16))
    before, _ = seams()
    assert before > now + 1.0


def test_hair_down_the_photos_cheek_does_not_reach_the_swap(astronaut_photo, monkeypatch):
    """On the wearer (Hopper), the swap of the astronaut with that stripe painted down her cheek
    looks like the swap of the clean photo; without the side band the stripe shows."""
    wearer = cv2.imread(str(FIXTURES / "mpl_grace_hopper.jpg"))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    for _ in range(3):
        faces = tracker.process(wearer)
    lm = faces[0].landmarks
    painted = replace(astronaut_photo, image=_painted_cheek(astronaut_photo))
    clean = av.FaceSwap(astronaut_photo).render(wearer, lm)
    face = np.zeros(wearer.shape[:2], np.uint8)
    cv2.fillPoly(face, [np.round(lm[np.asarray(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    lab_clean = light.lab(clean)

    def worst(image):
        """The largest Delta E from the clean swap, averaged over 9 px blocks, inside the face."""
        d = np.linalg.norm(light.lab(image) - lab_clean, axis=2)
        return float(cv2.blur(d, (9, 9))[face > 0].max())

    filled = worst(av.FaceSwap(painted).render(wearer, lm))
    from livecam.effects import avatar_cover
    monkeypatch.setattr(avatar_cover, "SIDE_BAND", 0.0)
    shown = worst(av.FaceSwap(painted).render(wearer, lm))
    assert shown > 15  # the stripe, drawn onto Hopper's cheek
    assert filled < 0.6 * shown  # what is left: the fill's smoother texture


def _reach_case():
    """``_border_case`` with the correction asked for in a narrow band from either side (``where``:
    full up to 2 cells inside, gone 5 cells in) and, for the skin ring's part, deeper (``deep``:
    full up to 8 cells inside, gone 12 cells in); the photo's face is darker than the wearer's."""
    photo, gain, offset, live, support, ring, skin = _border_case()
    photo[:] = 70.0
    depth = np.minimum(np.arange(40) - 9.5, 29.5 - np.arange(40)).astype(np.float32)  # cells inside, per column
    where = np.tile(np.clip((5.0 - depth) / 3.0, 0.0, 1.0), (40, 1)).astype(np.float32)
    deep = np.tile(np.clip((12.0 - depth) / 4.0, 0.0, 1.0), (40, 1)).astype(np.float32)
    return photo, gain, offset, live, support, ring, skin, where, deep


def test_skin_running_on_across_the_outline_is_carried_as_far_in_as_deep():
    """Beside the skin ring the relit face takes the skin's colour as far in as ``deep`` reaches (the
    measured band at 8-16 % of the face width lies past the narrow band); the wearer's own colour
    (beside hair) is never carried past ``where``; past ``deep`` the photo's own face is untouched."""
    photo, gain, offset, live, support, ring, skin, where, deep = _reach_case()
    args = (photo, gain, offset, live, support, ring, skin, 2.0, where, 100.0)
    narrow = photo + light.match_border(*args)
    wide = photo + light.match_border(*args, None, deep)
    rows = slice(5, 35)
    # Next to the outline both are the skin beside it (lighter than the wearer's face and the photo's).
    assert np.abs(wide[rows, 11] - narrow[rows, 11]).max() < 1.0
    assert (narrow[rows, 11] - photo[rows, 11]).min() > 30.0
    # 7 cells inside, past ``where``: still that colour with ``deep``, the photo's own without.
    assert np.abs(wide[rows, 16] - wide[rows, 11]).max() < 12.0
    assert np.abs(narrow[rows, 16] - photo[rows, 16]).max() == 0.0
    # No skin beyond the outline anywhere: ``deep`` changes nothing (the wearer's own colour is
    # their face: carried deeper it would bring the wearer's features into the swap).
    bare = (photo, gain, offset, live, support, ring, np.zeros_like(skin), 2.0, where, 100.0)
    np.testing.assert_array_equal(light.match_border(*bare, None, deep), light.match_border(*bare))
    # Past ``deep`` the photo's face is its own, to the bit.
    short = np.clip((7.0 - np.minimum(np.arange(40) - 9.5, 29.5 - np.arange(40))) / 3.0, 0.0, 1.0)
    short = np.tile(short, (40, 1)).astype(np.float32)
    np.testing.assert_array_equal(light.match_border(*args, None, short)[:, 18:22], 0.0)


def test_deep_no_deeper_than_where_is_the_single_band():
    """With ``deep`` inside ``where`` everywhere the border is the one-band match to the bit: the
    jaw, chin and ears (where the swap passes ``deep`` = ``where``) keep the band they had."""
    photo, gain, offset, live, support, ring, skin, where, _ = _reach_case()
    rng = np.random.default_rng(3)
    live = live + rng.normal(0.0, 8.0, live.shape).astype(np.float32)
    for limit in (100.0, 12.0):
        args = (photo, gain, offset, live, support, ring, skin, 2.0, where, limit)
        one = light.match_border(*args)
        np.testing.assert_array_equal(light.match_border(*args, None, where * 0.5), one)
        np.testing.assert_array_equal(light.match_border(*args, None, where), one)


@pytest.fixture(scope="module")
def lp_d12_frames():
    root = shared_data()
    if not root.is_dir():
        pytest.skip(f"shared test data not found at {root}")
    cap = cv2.VideoCapture(str(root / "video" / "lp_d12_talking_indoor.mp4"))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    frames = []
    for _ in range(30):
        ok, frame = cap.read()
        assert ok
        frames.append((frame, tracker.process(frame)))
    cap.release()
    return frames


def test_the_hairline_seam_closes_and_the_middle_of_the_face_stays_the_photos(lp_d12_frames, astronaut_photo,
                                                                             monkeypatch):
    """lp_d12 (a high forehead: his skin runs on above the mesh's outline) wearing the astronaut:
    carrying that skin in past the measured band lowers the evaluation's seam score; the pixels
    deeper than the reach are the same to the bit, so the photo's own skin tone and features inside
    the face do not move."""

    def swap_all():
        swap = av.FaceSwap(astronaut_photo)
        return [swap.apply(frame, Analysis(faces=faces))[0] for frame, faces in lp_d12_frames]

    def seam(outs):
        scores = [o for i, ((frame, faces), out) in enumerate(zip(lp_d12_frames, outs)) if i >= 12 and faces
                  for o, _, _ in eval_avatar.seam_scores(frame, out, faces[0].landmarks)]
        assert len(scores) > 20
        return float(np.median(scores))

    now = swap_all()
    monkeypatch.setattr(av, "SEAM_TOP_SKIN", av.SEAM_TOP)  # the hairline's skin only as far as the band
    before = swap_all()
    assert seam(now) < seam(before) - 0.4
    for (frame, faces), a, b in zip(lp_d12_frames, now, before):
        if not faces:
            continue
        lm = faces[0].landmarks
        inside = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillPoly(inside, [np.round(lm[np.asarray(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
        depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5) / av.face_width(lm)
        core = depth > av.SEAM_TOP_SKIN[1] + 0.1  # past the reach, the cell it is upsampled over and the grain
        assert core.sum() > 1000
        np.testing.assert_array_equal(a[core], b[core])
