"""The avatar's building blocks on exact numbers: the shared rigid fit, relighting limits, grain,
mouth choices, the stage's framing and clean plate, torso motion, and the evaluation's scores."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam.analysis.head_pose import rigid_fit
from livecam.analysis.torso_motion import TorsoMotion
from livecam.effects import avatar as av
from livecam.effects import avatar_light as light
from livecam.effects import avatar_mouth as mouth
from livecam.effects import avatar_stage as stage
from livecam.effects.mesh_warp import Grid

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import eval_avatar  # noqa: E402

sys.path.pop(0)


def test_rigid_fit_recovers_scale_rotation_and_shift():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 3)) * 50
    a = np.radians(20)
    r = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    dst = 1.3 * (src - src.mean(0)) @ r.T + (5, -7, 2)
    s, rot, cs, cd = rigid_fit(src, dst)
    assert s == pytest.approx(1.3) and np.allclose(rot, r, atol=1e-9) and np.allclose(cd, (5, -7, 2))


def test_shading_transfer_is_clamped_and_never_divides_by_dark():
    live = np.full((4, 4, 3), 200.0, np.float32)
    photo = np.zeros((4, 4, 3), np.float32)  # a black low-pass: no division blows up
    gain, offset = light.shading_maps(live, photo)
    assert np.isfinite(gain).all() and np.isfinite(offset).all()
    assert gain.max() <= light.DETAIL_GAIN[1] and gain.min() >= light.DETAIL_GAIN[0]
    out = light.relight(np.zeros((4, 4, 3), np.uint8), gain, offset)
    lab = cv2.cvtColor(out, cv2.COLOR_BGR2Lab)[..., 0].astype(float) * 100 / 255
    assert lab.max() == pytest.approx(light.MAX_DL, abs=2)  # lifted by at most the clamp


def test_shading_transfer_moves_the_low_pass_to_the_live_one():
    live = np.float32([[[90, 120, 170]]]).repeat(3, 0).repeat(3, 1)
    photo = np.float32([[[120, 130, 140]]]).repeat(3, 0).repeat(3, 1)
    gain, offset = light.shading_maps(live, photo)
    out = photo * gain[..., None] + offset
    assert np.allclose(out, live, atol=2.0)


def test_residual_match_lifts_a_photo_shadow_where_the_wearer_has_skin():
    # The first pass matched the photo's low-pass over its own skin, so a band of shadow the photo
    # has at its edge (left columns, excluded there) stayed dark; the residual pass brings the relit
    # photo's low-pass to the wearer's over the skin both share, by at most MAX_RESIDUAL.
    cells = np.full((20, 20, 3), 150.0, np.float32)
    cells[:, :6] = 110.0
    gain, offset = np.ones((20, 20), np.float32), np.zeros((20, 20, 3), np.float32)
    live = np.full((20, 20, 3), 150.0, np.float32)
    weights = np.ones((20, 20), np.float32)
    out = light.match_residual(cells, gain, offset, live, weights, 1.5)
    relit = cells + out
    assert abs(relit[:, :4].mean() - 150.0) <= 150.0 - 110.0 - light.MAX_RESIDUAL + 1.0  # clamped lift
    assert relit[:, :4].mean() > 110.0 + 0.9 * light.MAX_RESIDUAL
    assert np.abs(relit[:, 12:] - 150.0).max() < 3.0  # the even skin stays where it was
    # Where only the photo has skin (weights 0 for the wearer's hair), nothing pulls.
    only = light.match_residual(cells, gain, offset, live, np.zeros((20, 20), np.float32), 1.5)
    assert np.isfinite(only).all()
    # Confined to ``where``: no change at all where it is 0.
    none = light.match_residual(cells, gain, offset, live, weights, 1.5, np.zeros((20, 20), np.float32))
    assert np.array_equal(none, offset)


def test_border_weight_is_one_at_the_outline_and_zero_deep_inside():
    from livecam.analysis import face_regions as regions

    lm = np.zeros((468, 3), np.float32)
    ring = np.asarray(regions.FACE_OVAL)
    t = np.linspace(0, 2 * np.pi, len(ring), endpoint=False)
    lm[ring, 0], lm[ring, 1] = 100 + 50 * np.cos(t), 100 + 60 * np.sin(t)
    lm[:, :2][np.setdiff1d(np.arange(468), ring)] = (100, 100)
    grid = Grid(0, 0, 50, 50, 4)
    w = av.border_weight(lm, grid, 0.3)
    assert w[2, 2] == 1.0  # outside the face
    assert w[25, 25] == 0.0  # the centre, 50 px (0.45 face widths) inside
    assert 0.5 < w[25, 13] < 0.9  # about 4 px inside
    assert 0.1 < w[25, 18] < 0.5  # about 24 px (0.2 face widths) inside: part way


def test_grain_keeps_small_amplitudes_and_drops_edges():
    lut = light._GRAIN_LUT.astype(int) - 128
    assert lut[128 + 3] == 3 and lut[128 - 3] == -3
    assert lut[128 + 40] == 0 and lut[128 - 40] == 0


def test_skin_model_rejects_dark_and_off_colour_cells():
    lab = np.zeros((10, 10, 3), np.float32)
    lab[..., 0], lab[..., 1], lab[..., 2] = 65, 15, 20
    lab += np.random.default_rng(1).normal(0, 1, lab.shape).astype(np.float32)
    inner = np.ones((10, 10), np.uint8)
    skin = light.SkinModel(lab, inner, 2.0)
    probe = lab.copy()
    probe[0, 0] = (15, 0, 0)  # a glasses frame
    probe[0, 1] = (65, -20, 40)  # a green scarf
    like = skin.likelihood(probe)
    assert like[5, 5] > 0.9 and like[0, 0] == 0.0 and like[0, 1] == 0.0


def test_mouth_interior_goes_to_whichever_would_be_stretched_less():
    closed = np.zeros((468, 3), np.float32)
    closed[78], closed[308] = (0, 0, 0), (40, 0, 0)

    def opened(gap):
        lm = closed.copy()
        lm[13], lm[14] = (20, 0, 0), (20, gap, 0)
        return lm

    # The picture's mouth is closed: the wearer's open interior fills an opening avatar.
    assert mouth.interior_weight(opened(12), opened(12), picture_open=0.0) == 1.0
    # The picture shows its teeth as wide as the avatar opens: its own interior stays.
    assert mouth.interior_weight(opened(12), opened(1), picture_open=0.3) == 0.0


def test_layout_takes_the_wearers_framing():
    lm = np.zeros((468, 3))
    oval = np.asarray(av.regions.FACE_OVAL)
    angles = np.linspace(0, 2 * np.pi, len(oval), endpoint=False)
    lm[oval, 0] = 256 + 80 * np.cos(angles)
    lm[oval, 1] = 256 + 100 * np.sin(angles)
    # A photo of the frame's size with the wearer's face in the same place lands pixel for pixel.
    assert stage.layout((512, 512), lm, (512, 512), stage.face_frame(lm)) == pytest.approx((1.0, 0.0, 0.0))
    # A wearer further away: the portrait's face shrinks with theirs and sits where theirs is.
    scale, tx, ty = stage.layout((512, 512), lm, (1280, 720), (300.0, 400.0, 150.0))
    assert scale == pytest.approx(0.75) and (256 * scale + tx, 256 * scale + ty) == pytest.approx((300, 400))


def test_clean_plate_removes_the_person():
    picture = np.full((200, 300, 3), (30, 160, 60), np.uint8)
    mask = np.zeros((200, 300), np.uint8)
    cv2.circle(mask, (150, 100), 50, 255, -1)
    picture[mask > 0] = (200, 200, 255)
    plate = stage.clean_plate(picture, mask)
    assert np.abs(plate[100, 150].astype(int) - (30, 160, 60)).max() < 12
    assert (plate[5, 5] == picture[5, 5]).all()


def test_close_lips_never_lets_them_cross():
    lm = np.zeros((468, 3), np.float32)
    lm[10], lm[152] = (0, -100, 0), (0, 100, 0)  # up is -y
    lm[av._UPPER_INNER, 1] = 10.0
    lm[av._LOWER_INNER, 1] = 4.0  # the lower lip above the upper one
    av.close_lips(lm)
    assert np.allclose(lm[av._UPPER_INNER, 1], lm[av._LOWER_INNER, 1])


def _shirt_and_face(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 720p textured "shirt" and a face oval's mesh points (chin at row 370) above it."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (720, 1280, 3)).astype(np.uint8), (0, 0), 3)
    lm = np.zeros((468, 3), np.float32)
    oval = np.asarray(av.regions.FACE_OVAL)
    angles = np.linspace(0, 2 * np.pi, len(oval), endpoint=False)
    lm[oval, 0] = 640 + 90 * np.cos(angles)
    lm[oval, 1] = 250 + 120 * np.sin(angles)
    lm[152] = (640, 370, 0)
    return texture, lm


def test_torso_motion_follows_a_shifted_shirt():
    texture, lm = _shirt_and_face(2)
    torso = TorsoMotion()
    assert np.allclose(torso.update(texture, lm), 0)
    moved = np.roll(texture, (6, -10), axis=(0, 1))
    for _ in range(8):  # smoothed: settles over a few frames
        shift = torso.update(moved, lm)
    assert shift == pytest.approx((-10, 6), abs=1.5)
    small = TorsoMotion()  # a head-and-shoulders crop with no torso below the chin
    assert small.update(texture[:420], lm) is None


def test_torso_motion_follows_a_shirt_cut_by_the_frames_bottom():
    """Head-and-shoulders framing: the band below the chin holds 78 rows before the frame ends,
    26 once shrunk to the crop's width (too few: the old code gave up for the whole session, and
    the shoulders took half the head's motion, lp_d12). Shrunk less, the shirt is followed."""
    texture, lm = _shirt_and_face(3)
    torso = TorsoMotion()
    assert np.allclose(torso.update(texture[:520], lm), 0)
    moved = np.roll(texture, (4, -10), axis=(0, 1))[:520]
    for _ in range(8):
        shift = torso.update(moved, lm)
    assert shift == pytest.approx((-10, 4), abs=1.5)


def test_eval_scores_on_known_images():
    rng = np.random.default_rng(3)
    a = cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3)).astype(np.uint8), (0, 0), 1)
    assert eval_avatar.ssim_grey(a, a) == pytest.approx(1.0)
    assert eval_avatar.ssim_grey(a, np.roll(a, 3, axis=1)) < 0.9
    assert eval_avatar.psnr(a, a) == 99.0
    lm = np.zeros((468, 3), np.float32)
    oval = np.asarray(av.regions.FACE_OVAL)
    angles = np.linspace(0, 2 * np.pi, len(oval), endpoint=False)
    lm[oval, 0], lm[oval, 1] = 128 + 60 * np.cos(angles), 128 + 75 * np.sin(angles)
    lm[:, :2] = np.where(np.isin(np.arange(468), oval)[:, None], lm[:, :2], 128)
    skin = np.full((256, 256, 3), (120, 150, 200), np.uint8)
    assert all(o == pytest.approx(0, abs=0.01) for o, _, _ in eval_avatar.seam_scores(skin, skin, lm))
    stepped = skin.copy()
    inside = np.zeros((256, 256), np.uint8)
    cv2.fillPoly(inside, [np.round(lm[oval, :2]).astype(np.int32)], 1)
    stepped[inside > 0] = (90, 120, 170)
    scores = eval_avatar.seam_scores(skin, stepped, lm)
    assert len(scores) == eval_avatar.SEAM_SECTORS and min(o for o, _, _ in scores) > 8
    assert all(x == pytest.approx(o, abs=0.01) for o, _, x in scores)  # all of it added by the "swap"
    # A wearer whose own face steps by half as much: the output's step counts fully, the excess half.
    half = skin.copy()
    half[inside > 0] = (105, 135, 185)
    scores = eval_avatar.seam_scores(half, stepped, lm)
    assert all(x == pytest.approx(o / 2, abs=0.3) and n == pytest.approx(o / 2, abs=0.3) for o, n, x in scores)


def _mouth(gap: float) -> np.ndarray:
    """Synthetic lips on a 200x200 patch: inner edges ``gap`` apart in the middle, outer lips 8 px beyond."""
    lm = np.zeros((468, 3), np.float32)
    xs = np.linspace(60, 140, len(mouth._UPPER_EDGE))
    bump = np.sin(np.linspace(0, np.pi, len(xs)))
    lm[mouth._UPPER_EDGE, 0], lm[mouth._UPPER_EDGE, 1] = xs, 100 - 0.5 * gap * bump
    lm[mouth._LOWER_EDGE, 0], lm[mouth._LOWER_EDGE, 1] = xs, 100 + 0.5 * gap * bump
    outer = np.asarray(av.regions.LIPS_OUTER)
    angles = np.linspace(np.pi, 3 * np.pi, len(outer), endpoint=False)  # left corner, lower lip first
    lm[outer, 0] = 100 + 48 * np.cos(angles)
    lm[outer, 1] = 100 - (0.5 * gap + 8) * np.sin(angles)
    return lm


def test_fill_mouth_darkens_an_opened_closed_picture_mouth():
    patch = np.full((200, 200, 3), 200, np.uint8)
    lm = _mouth(30)
    mouth.fill_mouth(patch, lm, Grid(0, 0, 200, 200, 1), source_open=0.0)
    assert patch[100, 100].mean() < 150 and patch[10, 10].mean() == 200


def test_a_picture_that_shows_teeth_keeps_them_on_the_lips_as_it_opens():
    rest, opened = _mouth(12), _mouth(40)
    picture = np.full((200, 200, 3), (90, 90, 170), np.uint8)  # lips
    inner = np.concatenate([rest[mouth._UPPER_EDGE, :2], rest[mouth._LOWER_EDGE, :2][::-1]])
    cv2.fillPoly(picture, [np.round(inner).astype(np.int32)], (240, 240, 240))  # teeth fill the gap
    patch = picture.copy()
    open_rest = av.mouth_openness(rest)
    mouth.fill_mouth(patch, opened, Grid(0, 0, 200, 200, 1), open_rest)
    mouth.split_teeth(patch, (0, 0), picture, rest, opened, open_rest)
    column = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)[:, 100].astype(int)
    assert column[100] < 90  # dark in the middle of the opened mouth
    assert column[82] > 200 and column[118] > 200  # teeth under the upper lip and over the lower one


def _picture_mouth(rest: np.ndarray, gap_colour) -> np.ndarray:
    """A 200x200 picture of lips at ``rest`` whose inner gap is painted ``gap_colour``."""
    picture = np.full((200, 200, 3), (90, 90, 170), np.uint8)  # lips
    inner = np.concatenate([rest[mouth._UPPER_EDGE, :2], rest[mouth._LOWER_EDGE, :2][::-1]])
    cv2.fillPoly(picture, [np.round(inner).astype(np.int32)], gap_colour)
    return picture


def test_teeth_are_read_from_the_pictures_gap_not_from_how_wide_it_opens():
    rest = _mouth(12)
    assert mouth.shows_teeth(_picture_mouth(rest, (240, 240, 240)), rest)
    assert mouth.shows_teeth(_picture_mouth(rest, (150, 165, 180)), rest)  # teeth in shadow, off-white
    assert not mouth.shows_teeth(_picture_mouth(rest, (30, 25, 60)), rest)  # a dark open mouth
    assert not mouth.shows_teeth(_picture_mouth(rest, (110, 110, 200)), rest)  # a tongue: lighter, as red
    closed = _mouth(2)
    assert not mouth.shows_teeth(_picture_mouth(closed, (240, 240, 240)), closed)


def test_teeth_beside_pale_lips_are_read_against_the_skin():
    """Blurred pale lips are nearly as light as the teeth: the skin near the mouth tells them apart."""
    rest = _mouth(12).copy()
    rest[[18, 200, 206, 426], :2] = [(100, 140), (100, 150), (30, 100), (170, 100)]  # chin, cheeks
    picture = np.full((200, 200, 3), (120, 150, 200), np.uint8)  # skin
    outer = np.asarray(av.regions.LIPS_OUTER)
    cv2.fillPoly(picture, [np.round(rest[outer, :2]).astype(np.int32)], (185, 185, 205))  # pale lips
    teeth = picture.copy()
    inner = np.concatenate([rest[mouth._UPPER_EDGE, :2], rest[mouth._LOWER_EDGE, :2][::-1]])
    cv2.fillPoly(teeth, [np.round(inner).astype(np.int32)], (195, 198, 200))
    assert mouth.shows_teeth(teeth, rest)
    dark = picture.copy()
    cv2.fillPoly(dark, [np.round(inner).astype(np.int32)], (40, 35, 70))
    assert not mouth.shows_teeth(dark, rest)


def test_a_picture_with_a_dark_open_mouth_opens_onto_the_wearers_lit_interior():
    """A half-open picture mouth without teeth: its dark gap spread apart with the lips would leave
    a black hole; the wearer's interior (a lit tongue here) fills the opening instead."""
    rest, opened = _mouth(12), _mouth(40)
    picture = _picture_mouth(rest, (30, 25, 60))
    open_rest = av.mouth_openness(rest)
    teeth = mouth.shows_teeth(picture, rest)
    frame = np.full((200, 200, 3), (90, 90, 170), np.uint8)
    inner = np.concatenate([opened[mouth._UPPER_EDGE, :2], opened[mouth._LOWER_EDGE, :2][::-1]])
    cv2.fillPoly(frame, [np.round(inner).astype(np.int32)], (120, 120, 215))  # the wearer's tongue
    patch = picture.copy()
    mouth.fill_mouth(patch, opened, Grid(0, 0, 200, 200, 1), open_rest, teeth)
    mouth.split_teeth(patch, (0, 0), picture, rest, opened, open_rest, teeth)
    weight = mouth.interior_weight(opened, opened, open_rest, teeth)
    assert weight == 1.0
    mouth.transplant_mouth(patch, (0, 0), opened, frame, opened, weight, np.ones(3))
    assert np.abs(patch[92:109, 100].astype(int) - (120, 120, 215)).max() <= 4
    # Read as before, from the opening alone, the same picture kept its dark gap as "teeth".
    assert mouth.interior_weight(opened, opened, open_rest) == 0.0


def _eye_landmarks(centre=(100.0, 60.0), half=(30.0, 12.0)) -> np.ndarray:
    """A mesh whose right eye is an ellipse (outer corner 33 on the left, inner corner 133 on the
    right), every other point far away."""
    from livecam.analysis import face_regions as regions

    lm = np.full((468, 3), -1000.0, np.float32)
    eye = regions.RIGHT_EYE  # 33, lower lid ..., 133, upper lid ... back towards 33
    n = len(eye)
    for k, i in enumerate(eye):
        t = np.pi * 2 * k / n
        lm[i, :2] = (centre[0] - half[0] * np.cos(t), centre[1] + half[1] * np.sin(t))
    return lm


@pytest.mark.parametrize("at", [0.3, 0.5, 0.7])
def test_the_iris_is_found_along_the_eye(at):
    from livecam.analysis.eye_look import iris_along

    lm = _eye_landmarks()
    image = np.full((120, 200, 3), 230, np.uint8)  # eye white
    x = int(round(70 + 60 * at))
    cv2.circle(image, (x, 60), 9, (40, 50, 60), -1)  # the iris
    assert iris_along(image, lm, (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
                      33, 133) == pytest.approx(at, abs=0.04)



def test_the_pair_set_is_split_by_identity(tmp_path):
    rows = eval_avatar.load_pairs()
    assert len(rows) >= 20 and {r["half"] for r in rows} == {"tune", "report"}
    halves: dict[str, set[str]] = {}
    for r in rows:
        for person in (r["wearer_id"], r["photo_id"]):
            halves.setdefault(person, set()).add(r["half"])
    assert all(len(h) == 1 for h in halves.values())
    bad = tmp_path / "pairs.csv"
    bad.write_text("half,wearer,photo,wearer_id,photo_id,covers\n"
                   "tune,video/a.mp4,faces/b.jpg,anna,bert,x\nreport,video/c.mp4,faces/b2.jpg,carl,bert,y\n")
    with pytest.raises(SystemExit, match="in both halves: bert"):
        eval_avatar.load_pairs(bad)


def test_the_brow_band_score_sees_a_pasted_fringe():
    lm = np.zeros((468, 3), np.float32)
    oval = np.asarray(av.regions.FACE_OVAL)
    angles = np.linspace(0, 2 * np.pi, len(oval), endpoint=False)
    lm[:, :2] = 128
    lm[oval, 0], lm[oval, 1] = 128 + 60 * np.sin(angles), 128 - 75 * np.cos(angles)  # 10 on top, 152 below
    lm[10, :2], lm[152, :2] = (128, 53), (128, 203)
    for brow, x in ((av.regions.RIGHT_BROW, 100), (av.regions.LEFT_BROW, 156)):
        lm[list(brow), 0] = np.linspace(x - 15, x + 15, len(brow))
        lm[list(brow), 1] = 105
    lm[50, :2], lm[280, :2] = (100, 150), (156, 150)
    skin = np.full((256, 256, 3), (120, 150, 200), np.uint8)
    assert np.linalg.norm(eval_avatar.brow_band_scores(skin, lm)) == pytest.approx(0, abs=0.01)
    fringe = skin.copy()
    fringe[80:102] = (40, 60, 90)
    pasted = eval_avatar.brow_band_scores(fringe, lm)
    assert np.linalg.norm(pasted) > 20 and pasted[0] < -20  # darker than the cheeks
    # A wearer whose own forehead is already darker than the cheeks: the output's excess over it is
    # what the swap added, less than the whole difference.
    own = skin.copy()
    own[80:102] = (80, 105, 145)
    excess = np.linalg.norm(pasted - eval_avatar.brow_band_scores(own, lm))
    assert 5 < excess < np.linalg.norm(pasted) - 10
