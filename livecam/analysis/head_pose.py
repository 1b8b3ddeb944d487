"""Head pose (yaw, pitch, roll in degrees) from the 3-D face mesh.

The mesh model outputs x, y and a depth z on the same scale, so a rigid fit (Kabsch) of MediaPipe's
canonical face onto a few rigid mesh points gives the rotation directly; no camera model is needed.
Only points that do not move with expressions are used: forehead, nose, eye corners, cheeks, temples.

Signs: yaw > 0 when the face turns towards the image's right, pitch > 0 when it tilts up,
roll > 0 when it leans clockwise on screen.
"""
from __future__ import annotations

import numpy as np

# Canonical face model, MediaPipe 0.10.21 mediapipe/modules/face_geometry/data/canonical_face_model.obj
# (Apache-2.0): vertex i is mesh point i; x to the subject's left (image right), y up, z towards the
# camera, in centimetres. Points 251..323 are the mirror images (x negated) of 21..93.
_HALF = {  # index: (x, y, z) on the subject's right side or the midline
    1: (0.0, -1.126865, 7.475604),
    4: (0.0, -0.463170, 7.586580),
    5: (0.0, 0.365669, 7.242870),
    6: (0.0, 2.473255, 5.788627),
    8: (0.0, 4.019042, 5.284764),
    9: (0.0, 4.885979, 5.385258),
    10: (0.0, 8.261778, 4.481535),
    21: (-7.087960, 5.434801, 0.099620),
    33: (-4.445859, 2.663991, 3.173422),
    34: (-7.214530, 2.263009, 0.073150),
    35: (-5.799793, 2.349546, 2.204059),
    36: (-2.844939, -0.720868, 4.433130),
    47: (-1.718698, 0.974609, 4.558359),
    50: (-4.765501, -0.701554, 3.534632),
    54: (-6.279331, 6.615427, 1.425850),
    67: (-3.523964, 8.005976, 3.729163),
    93: (-7.542244, -1.049282, -2.431321),
}
_MIRROR_OFFSET = 230  # mesh index of the mirror image of points 21..93


def _canonical() -> tuple[np.ndarray, np.ndarray]:
    idx, pts = [], []
    for i, (x, y, z) in _HALF.items():
        idx.append(i)
        pts.append((x, y, z))
        if x != 0.0:
            idx.append(i + _MIRROR_OFFSET)
            pts.append((-x, y, z))
    return np.array(idx, dtype=np.intp), np.array(pts, dtype=np.float64)


POSE_INDICES, CANONICAL = _canonical()
# The canonical points about their centroid: rigid_fit's first step on them, done once (the same numbers).
_CANONICAL_CENTRED = CANONICAL - CANONICAL.mean(0)
_TO_CANONICAL = np.array([1.0, -1.0, -1.0])  # image axes (y down, z away) -> canonical axes
_NO_FLIP = np.array([1.0, 1.0, 1.0])
_FLIP = np.array([1.0, 1.0, -1.0])


def rigid_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Scale, rotation, and the two centroids of the similarity taking 3-D ``src`` points onto ``dst``
    (Umeyama, least squares, no reflection): dst ~ s R (src - c_src) + c_dst."""
    cs, cd = src.mean(0), dst.mean(0)
    a, b = src - cs, dst - cd
    u, sv, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    e = np.array([1.0, 1.0, d])
    r = (vt.T * e) @ u.T
    scale = float((sv * e).sum() / max((a * a).sum(), 1e-9))
    return scale, r, cs, cd


def _det3_sign(m: np.ndarray) -> float:
    """The sign of a 3x3 orthogonal matrix's determinant (+-1, never near 0), without a LAPACK call."""
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    return 1.0 if a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g) >= 0.0 else -1.0


def rotation_matrix(landmarks: np.ndarray) -> np.ndarray:
    """3x3 rotation taking the canonical face to the observed one (camera axes: x right, y up, z to camera).

    rigid_fit's rotation with the canonical side's centring done once, and no scale: the same
    operations on the same numbers (the face stage runs this every frame)."""
    p = landmarks[POSE_INDICES].astype(np.float64) * _TO_CANONICAL
    u, _, vt = np.linalg.svd(_CANONICAL_CENTRED.T @ (p - p.mean(0)))
    # det(vt.T u.T) = det(vt) det(u), each +-1: its sign, as rigid_fit's np.sign(det(...)) (never 0).
    flip = _det3_sign(u) * _det3_sign(vt) < 0.0
    return (vt.T * (_FLIP if flip else _NO_FLIP)) @ u.T


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from (468, 3) mesh landmarks in frame pixels."""
    r = rotation_matrix(landmarks)
    forward, across = r[:, 2], r[:, 0]
    yaw = np.degrees(np.arctan2(forward[0], forward[2]))
    pitch = np.degrees(np.arctan2(forward[1], np.hypot(forward[0], forward[2])))
    roll = np.degrees(np.arctan2(-across[1], across[0]))
    return float(yaw), float(pitch), float(roll)
