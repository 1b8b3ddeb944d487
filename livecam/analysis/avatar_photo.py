"""Avatar photos: load, check that they hold exactly one usable face, fit the mesh once, keep a copy.

Both face detectors run on the photo and their faces are merged: the short-range model finds the
big face of a close-up portrait that the full-range one can miss, the full-range one finds the
second, smaller person the short-range one can miss (measured on the shared face photos). The mesh
is then refined by re-cropping on its own landmarks, as the video tracker does every frame.

Every problem is one sentence naming the file and what to do; the accepted photo is copied into
``config_dir()/avatars/`` so a setting keeps working when the original is moved or deleted.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livecam.analysis.face_detector import FaceDetector
from livecam.analysis.face_landmarker import PRESENCE_THRESHOLD, FaceLandmarker, roi_from_detection, roi_from_landmarks
from livecam.analysis.head_pose import head_pose
from livecam.imaging import box_iou
from livecam.settings import config_dir

log = logging.getLogger(__name__)

MIN_FACE_PX = 64  # detector box width; below it the photo's face is blurred when drawn at webcam size
SECOND_FACE_RATIO = 0.5  # a second face at least half as wide as the first is "several faces"
MAX_YAW = 35.0  # degrees; beyond it half the face is hidden and cannot be drawn onto a frontal wearer
REFINE_STEPS = 2
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class AvatarPhotoError(ValueError):
    """The avatar photo cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class AvatarPhoto:
    image: np.ndarray  # BGR uint8
    landmarks: np.ndarray  # (468, 3) float32, photo pixels
    pose: tuple[float, float, float]  # yaw, pitch, roll in degrees
    path: Path  # the stored copy in the config folder (or the original when not stored)


def find_faces(image: np.ndarray, detectors: list[FaceDetector]) -> list:
    """Distinct faces from all detectors, widest first."""
    faces = []
    for detector in detectors:
        for det in detector.detect(image, max_faces=8):
            if not any(box_iou(det.box, f.box) > 0.3 for f in faces):
                faces.append(det)
    return sorted(faces, key=lambda d: -(d.box[2] - d.box[0]))


def read_photo(path: str | Path) -> np.ndarray:
    p = Path(path)
    if not str(path):
        raise AvatarPhotoError("No avatar photo is set; pick one with --avatar PHOTO.")
    if not p.is_file():
        raise AvatarPhotoError(f"Avatar photo {p} does not exist; pick another file.")
    image = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if image is None:
        raise AvatarPhotoError(f"Avatar photo {p} cannot be read as an image; use a JPEG or PNG file.")
    return image


def fit_face(image: np.ndarray, name: str = "photo") -> tuple[np.ndarray, tuple[float, float, float]]:
    """(468, 3) landmarks and pose of the one face in ``image``, or an AvatarPhotoError."""
    detectors = [FaceDetector("short"), FaceDetector("full")]
    faces = find_faces(image, detectors)
    if not faces:
        raise AvatarPhotoError(f"The {name} shows no face LiveCam can find; use a photo with one face looking at the camera.")
    widths = [float(f.box[2] - f.box[0]) for f in faces]
    if len(faces) > 1 and widths[1] >= SECOND_FACE_RATIO * widths[0]:
        raise AvatarPhotoError(f"The {name} shows {len(faces)} faces; crop it to the one face you want.")
    if widths[0] < MIN_FACE_PX:
        raise AvatarPhotoError(
            f"The face in the {name} is only {widths[0]:.0f} pixels wide; use a photo where it is at least {MIN_FACE_PX}.")
    landmarker = FaceLandmarker()
    roi = roi_from_detection(faces[0])
    for _ in range(REFINE_STEPS + 1):
        landmarks, presence = landmarker.run(image, roi)
        roi = roi_from_landmarks(landmarks)
    if presence < PRESENCE_THRESHOLD:
        raise AvatarPhotoError(f"The face in the {name} is too unclear to fit; use a sharper, evenly lit photo.")
    pose = head_pose(landmarks)
    if abs(pose[0]) > MAX_YAW:
        raise AvatarPhotoError(f"The face in the {name} is turned {abs(pose[0]):.0f} degrees to the side; "
                               "use a photo looking at the camera.")
    return landmarks.astype(np.float32), pose


def _store(source: Path, image_bytes: bytes) -> Path:
    """Copy into the config folder under a content-addressed name; the same photo is stored once."""
    folder = config_dir() / "avatars"
    if source.resolve().parent == folder.resolve():
        return source  # already the stored copy
    digest = hashlib.sha256(image_bytes).hexdigest()[:12]
    suffix = source.suffix.lower() if source.suffix.lower() in PHOTO_SUFFIXES else ".png"
    target = folder / f"{source.stem[:40]}-{digest}{suffix}"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


_FITS: dict[str, tuple[np.ndarray, tuple[float, float, float]]] = {}  # content hash -> fit; rebuilding refits nothing


def stored_copy(path: str | Path) -> Path | None:
    """The newest kept copy of ``path`` in the config folder, if any (for when the original is gone)."""
    p = Path(path)
    copies = sorted((config_dir() / "avatars").glob(f"{p.stem[:40]}-*{p.suffix.lower()}"),
                    key=lambda c: c.stat().st_mtime)
    return copies[-1] if copies else None


def load_avatar_photo(path: str | Path, store: bool = True) -> AvatarPhoto:
    """Read, validate and fit ``path``; with ``store`` the accepted photo is copied into the config
    folder, and a photo that has since been moved or deleted is taken from that copy."""
    if str(path) and not Path(path).is_file() and store:
        kept = stored_copy(path)
        if kept is not None:
            log.info("Avatar photo %s is gone; using the copy kept in %s.", path, kept)
            path = kept
    image = read_photo(path)
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise AvatarPhotoError(f"Avatar photo {source} cannot be read ({exc.strerror}); pick another file.") from exc
    key = hashlib.sha256(data).hexdigest()
    if key not in _FITS:
        _FITS[key] = fit_face(image, name=f"avatar photo {source.name}")
    landmarks, pose = _FITS[key]
    stored = source
    if store:
        try:
            stored = _store(source, data)
        except OSError as exc:  # a read-only config folder must not stop the effect
            log.warning("Could not copy avatar photo %s into %s (%s); using the original.", source,
                        config_dir() / "avatars", exc)
    return AvatarPhoto(image=image, landmarks=landmarks, pose=pose, path=stored)
