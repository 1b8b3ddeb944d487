"""tools/eval_avatar.py's seam measure scores skin at the face outline, not the features inside it."""
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam.analysis import face_regions as regions
from livecam.analysis.face_tracker import FaceTracker
from livecam.settings import FaceSettings, RuntimeSettings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
# A face whose skin runs on across the outline in several sectors (the bundled fixtures have none).
FACE = DATA / "faces" / "single" / "fr_biden.jpg"
# A head turned so far that the band inside the outline reaches the far eye, next to dark hair.
TURNED = DATA / "video" / "lp_s18_room_landscape.mp4", 32


def _tool():
    spec = importlib.util.spec_from_file_location("eval_avatar_tool", ROOT / "tools" / "eval_avatar.py")
    module = importlib.util.module_from_spec(spec)
    argv, sys.argv = sys.argv, ["eval_avatar.py"]  # the tool reads --code from the command line
    try:
        spec.loader.exec_module(module)
    finally:
        sys.argv = argv
    return module


def _landmarks(image):
    faces = FaceTracker(FaceSettings(smoothing=False), RuntimeSettings(provider="cpu", threads=1)).process(image)
    assert faces
    return faces[0].landmarks


def _darken(image, landmarks, polys, by=60, grow=0.0):
    """``image`` darkened inside ``polys``, grown by ``grow`` of the face width (a photo's eye
    and its shadowed corner, drawn where the wearer's was)."""
    mask = np.zeros(image.shape[:2], np.uint8)
    for poly in polys:
        cv2.fillPoly(mask, [np.round(landmarks[np.asarray(poly), :2]).astype(np.int32)], 1)
    r = max(1, int(grow * (landmarks[:, 0].max() - landmarks[:, 0].min())))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    out = image.copy()
    out[mask > 0] = np.clip(out[mask > 0].astype(int) - by, 0, 255).astype(np.uint8)
    return out


@pytest.mark.skipif(not TURNED[0].is_file(), reason="needs ../shared/data")
def test_a_changed_eye_is_not_a_seam_even_on_a_turned_head():
    cap = cv2.VideoCapture(str(TURNED[0]))
    for _ in range(TURNED[1] + 1):
        ok, frame = cap.read()
        assert ok
    cap.release()
    tool = _tool()
    lm = _landmarks(frame)
    darker_eyes = _darken(frame, lm, (regions.RIGHT_EYE, regions.LEFT_EYE), grow=0.01)
    scores = tool.seam_scores(frame, darker_eyes, lm)
    assert all(abs(out - inp) < 1e-6 for out, inp, _ in scores)  # before: one sector, + 6.96


@pytest.mark.skipif(not FACE.is_file(), reason="needs ../shared/data")
def test_a_step_at_the_outline_is_a_seam_and_a_changed_eye_or_mouth_is_not():
    tool = _tool()
    face = cv2.imread(str(FACE))
    lm = _landmarks(face)
    same = tool.seam_scores(face, face, lm)
    assert same and max(s[0] - s[1] for s in same) < 1e-6  # the output's step is the input's own
    eyes = tool.seam_scores(face, _darken(face, lm, (regions.RIGHT_EYE, regions.LEFT_EYE, regions.LIPS_OUTER),
                                                  grow=0.03), lm)
    assert len(eyes) == len(same) and max(abs(s[0] - s[1]) for s in eyes) < 1e-6
    # The whole face darkened inside its outline: a step at the border the input did not have.
    whole = tool.seam_scores(face, _darken(face, lm, (regions.FACE_OVAL,), by=40), lm)
    assert np.median([s[2] for s in whole]) > 8
