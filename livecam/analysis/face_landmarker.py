"""The 468-point face mesh on a rotated face crop, and the optional iris refinement.

Crop rules are MediaPipe 0.10.21's: a detection becomes a square 1.5x its long side, rotated so
the detector's eye keypoints are level (``face_detection_front_detection_to_roi.pbtxt``); landmarks
become the next frame's crop the same way with mesh points 33 and 263 as the eye line
(``face_landmark_landmarks_to_roi.pbtxt``). The crop is sampled like ImageToTensorCalculator on the
CPU: bilinear, replicated border, crop corners on pixel corners. Iris crops follow
``iris_landmark_landmarks_to_roi.pbtxt`` (2.3x the eye-corner span; the subject's left eye is
mirrored because the model only knows right eyes).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_detector import Detection
from livecam.analysis.face_kernels import READY, scaled_into
from livecam.analysis.face_measures import lid_gap
from livecam.analysis.head_pose import CANONICAL, POSE_INDICES
from livecam.analysis.runtime import ModelOutputError, ModelSession, load_model
from livecam.imaging import read_ahead

PRESENCE_THRESHOLD = 0.5  # MediaPipe's ThresholdingCalculator in face_landmark_cpu
# The mesh the model gives is face-shaped, however the face is turned, lit or covered, and lies on
# the crop it was read from: over the shared faces and clips (1013 runs) the canonical face, fitted,
# stayed within 0.111 of the mesh's spread (median 0.063), and the mesh's centre within 0.38-0.66 of
# the crop. A mesh off its crop, or of a shape no face has, is a model or driver fault: drawn on, a
# face swap went beside the head or dissolved into noise, and the wearer's own face went out.
MESH_MISFIT = 0.35  # 3x the worst seen
# The canonical points in crop axes (y down, z away), about their centroid, and their sum of squares.
_CANONICAL_CENTRED = (CANONICAL - CANONICAL.mean(0)) * np.array([1.0, -1.0, -1.0])
_CANONICAL_SPREAD = float((_CANONICAL_CENTRED ** 2).sum())
ROI_SCALE = 1.5
IRIS_ROI_SCALE = 2.3
# Per eye, subject's right first: the crop's start and end corners and whether it is mirrored.
IRIS_EYES = ((regions.RIGHT_EYE_OUTER, regions.RIGHT_EYE_INNER, False),
             (regions.LEFT_EYE_INNER, regions.LEFT_EYE_OUTER, True))


@dataclass(frozen=True)
class Roi:
    """A square crop in frame pixels: centre, side and rotation (radians, clockwise on screen)."""

    cx: float
    cy: float
    size: float
    rotation: float

    def crop_matrix(self, n: int, mirror: bool = False) -> np.ndarray:
        """2x3 affine from n x n crop pixels to frame pixels (crop corner (0, 0) = rect corner)."""
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        k = self.size / n
        m = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]])
        m[:, 2] = np.array([self.cx, self.cy]) - m[:, :2] @ np.array([n / 2.0, n / 2.0])
        if mirror:  # crop column u samples rect column n - u
            m = m @ np.array([[-1.0, 0.0, n], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        return m

    def box(self) -> np.ndarray:
        """Axis-aligned bounds of the rotated square: x0, y0, x1, y1."""
        half = 0.5 * self.size * (abs(np.cos(self.rotation)) + abs(np.sin(self.rotation)))
        return np.array([self.cx - half, self.cy - half, self.cx + half, self.cy + half])


def _rotation(p0: np.ndarray, p1: np.ndarray) -> float:
    # DetectionsToRectsCalculator: target angle 0 minus the angle of p0->p1 with y pointing up.
    return float(-np.arctan2(-(p1[1] - p0[1]), p1[0] - p0[0]))


def _square(box: np.ndarray, rotation: float, scale: float) -> Roi:
    # RectTransformationCalculator with square_long: the long side, then the scale.
    w, h = box[2] - box[0], box[3] - box[1]
    return Roi(float(box[0] + w / 2), float(box[1] + h / 2), float(max(w, h) * scale), rotation)


def roi_from_detection(det: Detection) -> Roi:
    return _square(det.box, _rotation(det.keypoints[0], det.keypoints[1]), ROI_SCALE)


def roi_from_landmarks(landmarks: np.ndarray, box: np.ndarray | None = None) -> Roi:
    """``box``: the landmarks' x0, y0, x1, y1 when the caller has them already."""
    xy = landmarks[:, :2]
    if box is None:
        box = np.concatenate([xy.min(0), xy.max(0)])
    rotation = _rotation(xy[regions.RIGHT_EYE_OUTER], xy[regions.LEFT_EYE_OUTER])
    return _square(box, rotation, ROI_SCALE)


def eye_roi(landmarks: np.ndarray, start: int, end: int) -> Roi:
    p0, p1 = landmarks[start, :2], landmarks[end, :2]
    box = np.concatenate([np.minimum(p0, p1), np.maximum(p0, p1)])
    return _square(box, _rotation(p0, p1), IRIS_ROI_SCALE)


def crop(image_bgr: np.ndarray, roi: Roi, n: int, mirror: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One warpAffine straight from the full frame: the n x n RGB crop and its crop->frame matrix."""
    m = roi.crop_matrix(n, mirror)
    patch = cv2.warpAffine(image_bgr, m, (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(patch, cv2.COLOR_BGR2RGB), m


def _warm_box(image_bgr: np.ndarray, roi: Roi) -> None:
    """:func:`livecam.imaging.read_ahead` of the frame under ``roi``'s bounds: the frame is new to the
    cache and the crop's rotated, scaled sampling reads it at memory latency (720p: the mesh's run
    0.81 -> 0.71 ms of this thread's time)."""
    h, w = image_bgr.shape[:2]
    x0, y0, x1, y1 = roi.box()
    if not (np.isfinite(x0) and np.isfinite(y0) and np.isfinite(x1) and np.isfinite(y1)):
        return
    x0, y0 = min(max(int(x0) - 1, 0), w), min(max(int(y0) - 1, 0), h)
    x1, y1 = min(max(int(x1) + 2, 0), w), min(max(int(y1) + 2, 0), h)
    read_ahead(image_bgr[y0:y1, x0:x1])


def model_input(session: ModelSession, rgb: np.ndarray) -> np.ndarray:
    """``session.normalize(rgb)``, the same float32 numbers, in one pass (see ``face_kernels``) where
    the manifest's normalisation is the plain scale and offset it applies (and the loop compiled); else
    ``normalize`` itself."""
    spec = getattr(session, "spec", None)
    norm = spec.get("normalization") if isinstance(spec, dict) else None
    if not (READY and isinstance(norm, dict) and norm.keys() == {"scale", "offset"} and rgb.dtype == np.uint8
            and rgb.ndim == 3 and rgb.flags.c_contiguous):
        return session.normalize(rgb)
    out = np.empty((1, *rgb.shape), np.float32)
    scaled_into(rgb.reshape(-1), np.float32(norm["scale"]), np.float32(norm["offset"]), out.reshape(-1))
    return out


def run_iris(session: ModelSession, image_bgr: np.ndarray, landmarks: np.ndarray, eye: int) -> tuple[np.ndarray, np.ndarray]:
    """One run of the iris model on one eye (0: the subject's right, 1: left): its (5, 3) iris points
    and the same run's (71, 3) eye contour, in frame pixels. The contour's first 16 points trace the
    lid margins as the picture shows them (the mesh stops closing a lid at ~0.8 of open); it is an
    output of the same inference, so it costs nothing."""
    n = int(session.input_shape[1])
    start, end, mirror = IRIS_EYES[eye]
    roi = eye_roi(landmarks, start, end)
    rgb, m = crop(image_bgr, roi, n, mirror)
    outputs = session.run(model_input(session, rgb))
    points = outputs[session.output_names.index("iris")].reshape(-1, 3)
    contour = outputs[session.output_names.index("eye_contour")].reshape(-1, 3)
    return _project(points, m, n, roi.size), _project(contour, m, n, roi.size)


# The iris model's eye contour: outer corner, lower lid middle, inner corner, upper lid middle.
CONTOUR_OUTER, CONTOUR_LOWER, CONTOUR_INNER, CONTOUR_UPPER = 0, 4, 8, 12


def contour_lid_gap(contour: np.ndarray) -> float:
    """Lid gap over eye width of one iris-model eye contour: the lids as the picture shows them."""
    return lid_gap(contour, CONTOUR_UPPER, CONTOUR_LOWER, CONTOUR_OUTER, CONTOUR_INNER)


def _project(points: np.ndarray, m: np.ndarray, n: int, size: float) -> np.ndarray:
    """Crop-pixel (x, y, z) -> frame pixels; z scales like x (LandmarkProjectionCalculator)."""
    out = np.empty_like(points, dtype=np.float32)
    out[:, :2] = points[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, 2] = points[:, 2] * (size / n)
    return out


def mesh_fault(mesh: np.ndarray, n: int) -> str:
    """Why the (468, 3) ``mesh`` read from an ``n`` x ``n`` crop is no face (see MESH_MISFIT), or ""."""
    points = mesh[POSE_INDICES].astype(np.float64)
    centre = points.mean(0)  # of the pose points: the whole mesh's mean cost 10 us of the check's 35
    if not (0 <= centre[0] <= n and 0 <= centre[1] <= n):
        return "put the face's centre outside the picture it was shown"
    points -= centre
    # The least-squares similarity (Umeyama, no reflection) leaves |p|^2 - fit^2 / |c|^2 unexplained, with
    # fit the singular values' sum (the last one signed by the determinant): no fit itself is needed.
    cross = _CANONICAL_CENTRED.T @ points
    singular = np.linalg.svd(cross, compute_uv=False)
    fit = singular[0] + singular[1] + np.sign(np.linalg.det(cross)) * singular[2]
    if not fit * fit >= (1.0 - MESH_MISFIT ** 2) * _CANONICAL_SPREAD * float((points ** 2).sum()):
        return "gave a mesh of a shape no face has"
    return ""


class FaceLandmarker:
    """Runs the face mesh (and, when asked, the iris model) on crops of a BGR frame."""

    def __init__(self, provider: str = "auto", threads: int = 1) -> None:
        self.session = load_model("face_landmark", provider=provider, threads=threads)
        self.n = int(self.session.input_shape[1])
        names = [o["name"] for o in self.session.spec["outputs"]]
        self._i_mesh, self._i_flag = names.index("landmarks"), names.index("face_flag")
        self._provider, self._threads = provider, threads
        self._iris: ModelSession | None = None

    @property
    def iris_session(self) -> ModelSession:
        if self._iris is None:  # opened on first use: most effects never ask for irises
            self._iris = load_model("iris_landmark", provider=self._provider, threads=self._threads)
        return self._iris

    def run(self, image_bgr: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """(468, 3) landmarks in frame pixels and the face-presence score (0..1) for one crop."""
        _warm_box(image_bgr, roi)
        rgb, m = crop(image_bgr, roi, self.n)
        outputs = self.session.run(model_input(self.session, rgb))
        presence = float(1.0 / (1.0 + np.exp(-float(outputs[self._i_flag].reshape(-1)[0]))))
        mesh = outputs[self._i_mesh].reshape(-1, 3)
        if mesh.min() == mesh.max():
            # Every coordinate the same number is a model or driver fault (all zeros, all ones), never a
            # crop: taken for "no face", a face swap faded out and showed the wearer's own face.
            raise ModelOutputError(f"Model {self.session.name} put all {len(mesh)} mesh points at one value; "
                                   "this frame's result is not used.")
        fault = mesh_fault(mesh, self.n)
        if fault:
            raise ModelOutputError(f"Model {self.session.name} {fault}; this frame's result is not used.")
        return _project(mesh, m, self.n, roi.size), presence

    def iris(self, image_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(10, 3) iris points in frame pixels: centre then 4 edge points, subject's right eye first."""
        return np.concatenate([self.iris_eye(image_bgr, landmarks, eye) for eye in (0, 1)])

    def iris_eye(self, image_bgr: np.ndarray, landmarks: np.ndarray, eye: int) -> np.ndarray:
        """(5, 3) iris points of one eye (0: the subject's right, 1: left) in frame pixels."""
        return self.iris_eye_lids(image_bgr, landmarks, eye)[0]

    def iris_eye_lids(self, image_bgr: np.ndarray, landmarks: np.ndarray, eye: int) -> tuple[np.ndarray, np.ndarray]:
        """One eye's (5, 3) iris points and the same run's (71, 3) eye contour; see :func:`run_iris`."""
        return run_iris(self.iris_session, image_bgr, landmarks, eye)
