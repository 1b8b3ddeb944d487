"""The photo avatar's neck under a moving head (``avatar_stage.Stage``): the fall-off from the head's
motion to the torso's is spread over several rows of control points under the chin, not one row of
large triangles whose edges creased the neck. Real data: a tuning-half wearer as his own portrait."""
import sys
from pathlib import Path

import numpy as np
from conftest import clip_frames, portrait_avatar

from livecam.analysis.face_measures import face_width
from livecam.effects import avatar_stage
from livecam.types import Analysis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import eval_avatar  # noqa: E402

sys.path.pop(0)


def test_the_neck_points_lie_between_the_ring_and_what_is_beyond_it_and_fall_off_in_steps():
    """lp_d12 frame 0 staged: each head-ring point under the chin has ``NECK_STEPS`` more ring rows
    on its way out, further out and taking less of the head's motion each, and none above the chin
    has any."""
    frames, faces = clip_frames("lp_d12_talking_indoor.mp4", 1)
    stage = portrait_avatar(frames[0]).stage_for(frames[0].shape[1::-1], faces[0][0].landmarks)
    c = stage.centre2
    off = stage.ring[:, :2] - c
    ang, rad = np.round(np.arctan2(off[:, 1], off[:, 0]), 6), np.hypot(off[:, 0], off[:, 1])
    ang[stage.ear_rows] = np.nan  # the rows beside the ears (``Stage._add_ear_points``) are not the neck's
    steps = [np.flatnonzero(ang == a) for a in np.unique(ang[np.isfinite(ang)])]
    neck = [s for s in steps if len(s) > 1]
    assert len(neck) >= 3
    assert all(len(s) == 1 + avatar_stage.NECK_STEPS for s in neck)
    for s in neck:
        s = s[np.argsort(rad[s])]
        assert (np.diff(stage.ring_head[s]) < 0).all(), stage.ring_head[s]
    assert all(stage.ring_head[s[0]] >= 1.0 for s in steps if len(s) == 1 and stage.ring[s[0], 1] < stage.chin)


def test_the_neck_under_a_real_moving_head_looks_like_the_wearers():
    """lp_d12 frames 60-79, driven from his frame 0: his head turns and leans while his shirt stays.
    The band under the chin (half a face height down, 1.2 face widths across) against the wearer's
    own, SSIM on grey, frame mean: 0.923 with one row of ring points under the chin (the neck's whole
    bend across one row of large triangles), 0.946 now."""
    frames, faces = clip_frames("lp_d12_talking_indoor.mp4", 80)
    effect = portrait_avatar(frames[0])
    scores = []
    for i, (frame, found) in enumerate(zip(frames, faces)):
        out = effect.apply(frame, Analysis(faces=list(found)))[0]
        if i < 60:
            continue
        lm = found[0].landmarks
        chin, fw = lm[152, :2], face_width(lm)
        rows = slice(int(chin[1]), int(min(frame.shape[0], chin[1] + 0.5 * (lm[152, 1] - lm[10, 1]))))
        cols = slice(int(max(0, chin[0] - 0.6 * fw)), int(min(frame.shape[1], chin[0] + 0.6 * fw)))
        scores.append(eval_avatar.ssim_grey(frame[rows, cols], out[rows, cols]))
    assert len(scores) == 20
    assert np.mean(scores) > 0.935, np.mean(scores)
