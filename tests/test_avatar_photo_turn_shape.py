"""The photo avatar's face keeps the wearer's shape on a turned head (issue #18: a "squashed face" and
a "puffed far cheek" were seen on turned reporting frames). Real data: a tuning-half wearer as his
own portrait (frame 0, frontal), his head turned 15-22 degrees each way; the face mesh is tracked
again on the avatar's output and compared with the wearer's, point by point, in face widths."""
import numpy as np
from conftest import clip_frames, portrait_avatar

from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import face_width
from livecam.analysis.face_tracker import FaceTracker
from livecam.analysis.head_pose import head_pose
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Analysis

FRAMES = 93  # lp_d12 turns to one side over frames 36-48 and to the other over 79-90
TURNED = 15.0  # degrees of yaw from which a frame counts as turned
NOSE = [1, 4, 5, 6, 195, 197]


def _shape_errors(wearer: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """Per region, the output's horizontal error against the wearer's (face widths, + towards the
    side the nose points to, the far side), and the outline's width over the wearer's."""
    oval = np.asarray(regions.FACE_OVAL)
    fw = face_width(wearer)
    c = wearer[oval, :2].mean(0)
    far_side = np.sign(wearer[1, 0] - c[0])
    dx = (output[:, 0] - wearer[:, 0]) * far_side / fw
    across = (wearer[oval, 0] - c[0]) * far_side
    c_out = output[oval, :2].mean(0)
    return {"far cheek": float(np.median(dx[oval[across > 0.25 * fw]])),
            "near cheek": float(np.median(dx[oval[across < -0.25 * fw]])),
            "nose against the outline": float(((output[1, 0] - c_out[0]) - (wearer[1, 0] - c[0])) * far_side / fw),
            "width": float(np.ptp(output[oval, 0]) / np.ptp(wearer[oval, 0]))}


def test_a_turned_face_keeps_the_wearers_width_cheeks_and_nose():
    frames, faces = clip_frames("lp_d12_talking_indoor.mp4", FRAMES)
    effect = portrait_avatar(frames[0])
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    rows = []
    for frame, found in zip(frames, faces):
        out = effect.apply(frame, Analysis(faces=list(found)))[0]
        wearer = found[0].raw_landmarks if found[0].raw_landmarks is not None else found[0].landmarks
        if abs(head_pose(wearer)[0]) < TURNED:
            continue
        again = tracker.process(out)
        assert again, "no face found on the avatar's turned output"
        seen = again[0].raw_landmarks if again[0].raw_landmarks is not None else again[0].landmarks
        rows.append(_shape_errors(wearer.astype(np.float64), seen.astype(np.float64)))
    assert len(rows) >= 20, len(rows)
    median = {k: float(np.median([r[k] for r in rows])) for k in rows[0]}
    # Measured (25 frames): far cheek -0.011, near cheek -0.011, nose +0.009 face widths, width 1.012.
    # With the turn passed on only up to 8 degrees (avatar.MAX_TURN) the nose lags: -0.048, far cheek +0.031.
    assert abs(median["far cheek"]) < 0.03, median
    assert abs(median["near cheek"]) < 0.03, median
    assert abs(median["nose against the outline"]) < 0.04, median
    assert abs(median["width"] - 1.0) < 0.03, median
