"""The face swap's border beside hair that crosses the outline and passes the skin model (lp_s18's
red hair at her temple): the border continues skin running on across the outline only where that
also matches the face's skin further in, so the swapped face's edge is not painted the hair's colour."""
import cv2
import numpy as np
from conftest import FIXTURES, tracked_frames

from livecam.analysis import face_regions as regions
from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.effects import avatar as av
from livecam.effects import avatar_light as light
from livecam.types import Analysis

HAIR = (70.0, 110.0, 160.0)  # BGR: a warm hair colour, counted as skin below (as red hair is)
SKIN = (170.0, 185.0, 215.0)
OWN = (150.0, 165.0, 195.0)  # the wearer's shaded skin inside


def _hair_across_the_outline():
    """A 40x40 grid: the face inside columns 10-29 (``support``), its skin from column 14 on; hair
    outside on the left (the ring, columns 4-9) runs on across the outline to column 13, and the
    skin model counts it all as skin. ``deep``: where the border band ends, columns 18-23."""
    live = np.zeros((40, 40, 3), np.float32)
    live[:] = OWN
    live[:, :14] = HAIR
    live[:, 30:] = (30.0, 35.0, 40.0)  # background on the right
    support = np.zeros((40, 40), np.float32)
    support[:, 10:30] = 1.0
    ring = np.zeros_like(support)
    ring[:, 4:10] = 1.0
    skin = np.ones_like(support)
    skin[:, 30:] = 0.0
    deep = np.zeros_like(support)
    deep[:, 18:24] = 1.0
    photo = np.full((40, 40, 3), SKIN, np.float32)
    gain = np.ones((40, 40), np.float32)
    offset = np.zeros((40, 40, 3), np.float32)
    return photo, gain, offset, live, support, ring, skin, deep


def test_hair_that_crosses_the_outline_is_not_taken_for_skin_running_on():
    photo, gain, offset, live, support, ring, skin, deep = _hair_across_the_outline()
    where = np.ones((40, 40), np.float32)
    args = (photo, gain, offset, live, support, ring, skin, 2.0, where, 100.0)
    # Without the skin further in to compare with, the hair beside hair passes: the face's border
    # takes the hair's colour where the wearer has skin (columns 14-17).
    painted = photo + light.match_border(*args, halve=False)
    assert np.abs(painted[5:35, 15] - HAIR).max() < 25.0
    out = photo + light.match_border(*args, halve=False, deep=deep, deep_reach=16.0)
    # With it, the border takes the wearer's own colour at each place: hair where the wearer has
    # hair inside the outline, their skin where they have skin.
    assert np.abs(out[5:35, 16] - OWN).max() < 12.0
    assert np.abs(out[5:35, 11] - HAIR).max() < 25.0
    # Skin that runs on into the face's skin further in still counts: the same case with the ring
    # and the outline's first columns the skin's colour.
    live[:, :14] = SKIN
    out = photo + light.match_border(photo, gain, offset, live, support, ring, skin, 2.0, where, 100.0,
                                     halve=False, deep=deep, deep_reach=16.0)
    assert np.abs(out[5:35, 16] - SKIN).max() < 6.0


def _temple_band(landmarks, shape):
    """bool mask: the picture's left side of the face, 8-16 % of the face width inside the outline
    (the evaluation's border band), from the brows to the nose tip, eyes and brows left out."""
    fw = av.face_width(landmarks)
    inside = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(landmarks[np.asarray(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5) / fw
    band = (depth >= 0.08) & (depth < 0.16)
    features = np.zeros_like(inside)
    cv2.fillPoly(features, [np.round(landmarks[np.asarray(p), :2]).astype(np.int32)
                            for p in (regions.RIGHT_EYE, regions.LEFT_EYE, regions.RIGHT_BROW, regions.LEFT_BROW)], 1)
    r = int(round(0.05 * fw))
    band &= cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) == 0
    centre = landmarks[np.asarray(regions.FACE_OVAL), :2].mean(0)
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    band &= (xs < centre[0]) & (ys > landmarks[[105, 334], 1].min()) & (ys < landmarks[1, 1])
    return band


def _lab(image):
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)


def test_the_swaps_edge_beside_red_hair_keeps_the_wearers_skin_colour(data_dir):
    """lp_s18 (red hair beside and over her temple, which the skin model counts as skin) wearing the
    astronaut: the swapped face's border band at her temple and cheek, where she has skin, stays
    near her skin's colour; it was painted towards the hair's (Delta E 14-24 on the tuning clips)."""
    frames = tracked_frames(data_dir / "video" / "lp_s18_room_landscape.mp4", 30)
    swap = av.FaceSwap(load_avatar_photo(FIXTURES / "sk_astronaut.png", store=False))
    steps = []
    for i, (frame, faces) in enumerate(frames):
        out = swap.apply(frame, Analysis(faces=faces))[0]
        if i < 10 or not faces:
            continue
        band = _temple_band(faces[0].landmarks, frame.shape)
        assert band.sum() > 300
        steps.append(float(np.linalg.norm(_lab(out)[band].mean(0) - _lab(frame)[band].mean(0))))
    assert len(steps) >= 15
    assert np.median(steps) < 8.0
