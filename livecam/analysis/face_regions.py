"""Named regions of MediaPipe's 468-point face mesh, as index lists. Data only.

Sources:
- Contours (face oval, eyes, brows, lips): MediaPipe 0.10.21
  ``mediapipe/python/solutions/face_mesh_connections.py`` (Apache-2.0). MediaPipe stores them as
  edge sets; here each closed contour is written once as an ordered polygon so it can be filled.
- Nostrils: the lower arc of MediaPipe's ``FACEMESH_NOSE`` (ala to ala under the columella) closed
  by the points along the nose tip just above the openings; read off the mesh drawn on a frontal face.
- 468 -> 68 (iBUG 300-W / dlib order): the correspondence of Peizhi Yan,
  https://github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks (MIT); a dlib point that falls between
  two mesh vertices is their mean.

"Right"/"left" are the subject's: the right eye appears on the image's left in an unmirrored frame.
"""
from __future__ import annotations

import numpy as np

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
# Brows are two open chains in MediaPipe (lower edge, upper edge); lower then upper reversed closes them.
RIGHT_BROW = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
LEFT_BROW = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
NOSTRILS = (64, 98, 97, 2, 326, 327, 294, 439, 438, 457, 274, 1, 44, 237, 218, 219)  # both openings
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4, 1)

# Eye corners used for roll (crop rotation) and the inter-ocular distance.
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263

# Regions kept sharp by touch-up (and cut out of the avatar's skin): eyes, brows, lips, nostrils.
FEATURES = {
    "right_eye": RIGHT_EYE,
    "left_eye": LEFT_EYE,
    "right_brow": RIGHT_BROW,
    "left_brow": LEFT_BROW,
    "lips": LIPS_OUTER,
    "nostrils": NOSTRILS,
}

# dlib 68-point order; each entry is one mesh index or a pair to average.
_MESH_TO_68: tuple[tuple[int, ...], ...] = (
    # jaw 0-16
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,),
    (400,), (379,), (365,), (397, 288), (361,), (323,), (454,), (356,),
    # right brow 17-21, left brow 22-26
    (70,), (63,), (105,), (66,), (107,),
    (336,), (296,), (334,), (293,), (300,),
    # nose bridge 27-30, nose base 31-35
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),
    # right eye 36-41, left eye 42-47
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips 48-59, inner lips 60-67
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)
# As two index arrays so the conversion is one vectorised mean: single points repeat themselves.
MESH_TO_68_A = np.array([p[0] for p in _MESH_TO_68], dtype=np.intp)
MESH_TO_68_B = np.array([p[-1] for p in _MESH_TO_68], dtype=np.intp)


def to_68(landmarks: np.ndarray) -> np.ndarray:
    """(468, D) mesh points -> (68, D) points in iBUG 300-W / dlib order."""
    return (landmarks[MESH_TO_68_A] + landmarks[MESH_TO_68_B]) * 0.5


def polygon(landmarks: np.ndarray, indices: tuple[int, ...]) -> np.ndarray:
    """The (N, 2) float32 x, y outline of a region, ready for cv2.fillPoly after scaling/rounding."""
    return landmarks[np.asarray(indices), :2].astype(np.float32)
