"""Avatar photos: load, check that they hold exactly one usable face, fit the mesh once, keep a copy.

Both face detectors run on the photo and their faces are merged: the short-range model finds the
big face of a close-up portrait that the full-range one can miss, the full-range one finds the
second, smaller person the short-range one can miss (measured on the shared face photos). The mesh
is then refined by re-cropping on its own landmarks, as the video tracker does every frame.

Every problem is one sentence naming the file and what to do. The photo is decoded no larger than
it is ever drawn (:data:`PHOTO_MAX_SIDE` on its long side; JPEGs at a reduced size straight from
the decoder), and one over :data:`livecam.media.MAX_PIXELS` is refused before anything is decoded.

The accepted photo is copied, readable by its owner only, into ``config_dir()/avatars/`` so a
setting keeps working when the original is moved or deleted. A copy belongs to exactly one
original path (its name carries a digest of that path): a setting finds its own copy and never
another photo with a similar name. :func:`stored_avatars` lists the copies and
:func:`remove_stored_avatar` deletes one.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_detector import FaceDetector
from livecam.analysis.face_landmarker import (
    PRESENCE_THRESHOLD,
    FaceLandmarker,
    roi_from_detection,
    roi_from_landmarks,
)
from livecam.analysis.face_measures import lid_gap
from livecam.analysis.head_pose import head_pose
from livecam.imaging import box_iou
from livecam.media import IMAGE_SUFFIXES, ImageError, nothing_at, read_image_bytes
from livecam.messages import shown
from livecam.private_files import private_dir, reason, write_private
from livecam.resources import ships_with_livecam
from livecam.settings import config_dir

log = logging.getLogger(__name__)

MIN_FACE_PX = 64  # detector box width; below it the photo's face is blurred when drawn at webcam size
SECOND_FACE_RATIO = 0.5  # a second face at least half as wide as the first is "several faces"
MAX_YAW = 35.0  # degrees; beyond it half the face is hidden and cannot be drawn onto a frontal wearer
MAX_ROLL = 45.0  # degrees; a face lying on its side (or upside down) would be drawn lying on its side
REFINE_STEPS = 2
# The longest side a photo is decoded at: the photo avatar draws the portrait at most about frame
# size (the face at up to 0.8 of a 1080p frame's height), the swap at a 320-pixel face.
PHOTO_MAX_SIDE = 2048
STORE_FOLDER = "avatars"


class AvatarPhotoError(ValueError):
    """The avatar photo cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class AvatarPhoto:
    image: np.ndarray  # BGR uint8, at most PHOTO_MAX_SIDE on its long side
    landmarks: np.ndarray  # (468, 3) float32, pixels of ``image``
    pose: tuple[float, float, float]  # yaw, pitch, roll in degrees
    path: Path  # the stored copy in the config folder (or the original when not stored)


@dataclass(frozen=True)
class StoredAvatar:
    """One kept copy in the config folder."""

    name: str  # the file name: what ``remove_stored_avatar`` takes
    path: Path
    size: int  # bytes
    modified: float  # POSIX time


def find_faces(image: np.ndarray, detectors: list[FaceDetector]) -> list:
    """Distinct faces from all detectors, widest first."""
    faces = []
    for detector in detectors:
        for det in detector.detect(image, max_faces=8):
            if not any(box_iou(det.box, f.box) > 0.3 for f in faces):
                faces.append(det)
    return sorted(faces, key=lambda d: -(d.box[2] - d.box[0]))


def read_photo(path: str | Path) -> np.ndarray:
    """The photo decoded at (at most) its working size, or one sentence saying why not."""
    return read_photo_bytes(path)[0]


def read_photo_bytes(path: str | Path) -> tuple[np.ndarray, bytes]:
    """:func:`read_photo`, with the file's bytes it decoded (what the fit's key and the kept copy are made of)."""
    if not str(path):
        raise AvatarPhotoError("No avatar photo is set; pick one with --avatar PHOTO.")
    p = Path(path)
    if nothing_at(p):
        raise AvatarPhotoError(f"Avatar photo {shown(p)} does not exist; pick another file.")
    try:
        return read_image_bytes(p, max_side=PHOTO_MAX_SIDE)
    except ImageError as exc:
        raise AvatarPhotoError(f"Avatar photo: {exc}") from None


def fit_face(image: np.ndarray, name: str = "photo", provider: str = "auto",
             threads: int = 1) -> tuple[np.ndarray, tuple[float, float, float]]:
    """(468, 3) landmarks and pose of the one face in ``image``, or an AvatarPhotoError."""
    detectors = [FaceDetector("short", provider, threads), FaceDetector("full", provider, threads)]
    faces = find_faces(image, detectors)
    if not faces:
        # The detectors only see upright-ish faces: say so when the photo merely needs turning.
        for turn, how in ((cv2.ROTATE_180, "upside down"), (cv2.ROTATE_90_CLOCKWISE, "lying on its side"),
                          (cv2.ROTATE_90_COUNTERCLOCKWISE, "lying on its side")):
            if find_faces(cv2.rotate(image, turn), detectors):
                raise AvatarPhotoError(f"The face in the {name} is {how}; rotate the photo so the face is upright.")
        raise AvatarPhotoError(f"The {name} shows no face LiveCam can find; use a photo with one face looking at the camera.")
    widths = [float(f.box[2] - f.box[0]) for f in faces]
    if len(faces) > 1 and widths[1] >= SECOND_FACE_RATIO * widths[0]:
        raise AvatarPhotoError(f"The {name} shows {len(faces)} faces; crop it to the one face you want.")
    if widths[0] < MIN_FACE_PX:
        raise AvatarPhotoError(
            f"The face in the {name} is only {widths[0]:.0f} pixels wide; use a photo where it is at least {MIN_FACE_PX}.")
    landmarker = FaceLandmarker(provider, threads)
    roi = roi_from_detection(faces[0])
    for _ in range(REFINE_STEPS + 1):
        landmarks, presence = landmarker.run(image, roi)
        roi = roi_from_landmarks(landmarks)
    if presence < PRESENCE_THRESHOLD:
        raise AvatarPhotoError(f"The face in the {name} is too unclear to fit; use a sharper, evenly lit photo.")
    pose = head_pose(landmarks)
    if abs(pose[2]) > MAX_ROLL:
        how = "upside down" if abs(pose[2]) > 135 else f"tilted {abs(pose[2]):.0f} degrees"
        raise AvatarPhotoError(f"The face in the {name} is {how}; rotate the photo so the face is upright.")
    if abs(pose[0]) > MAX_YAW:
        raise AvatarPhotoError(f"The face in the {name} is turned {abs(pose[0]):.0f} degrees to the side; "
                               "use a photo looking at the camera.")
    why = unusable_face(image, landmarks)
    if why:
        raise AvatarPhotoError(f"The face in the {name} {why}.")
    return landmarks.astype(np.float32), pose


# ---------------------------------------------------------------- what of the face the photo shows

BORDER_CUT = 0.03  # the face outline may run off the photo by this share of the face width (loose hair, chin)
# Lightness spread (Lab L, p90 - p10) inside an open eye (white, iris, lashes): 15 and up on the shared
# photos and first frames of the clips, near 0 behind sunglasses or a hand.
EYE_CONTRAST = 8.0
EYE_CLOSED_GAP = 0.12  # lid gap over eye width under which an eye counts as shut (nothing to see)
LIP_CHROMA = 3.0  # lips redder (Lab a) than the cheeks by at least this...
LIP_CONTRAST = 10.0  # ... or their lightness spread (lip line, teeth): 12 and up on shared photos and clips
_CHEEKS = (50, 101, 36, 205, 187, 123, 116, 117, 118)  # a patch of the right cheek below the eye


def _lab_in(image: np.ndarray, landmarks: np.ndarray, indices) -> np.ndarray:
    """Lab pixels of ``image`` inside the polygon of mesh ``indices`` (empty when it is tiny)."""
    pts = np.round(landmarks[np.asarray(indices), :2]).astype(np.int32)
    x0, y0 = np.maximum(pts.min(0), 0)
    x1, y1 = np.minimum(pts.max(0) + 1, (image.shape[1], image.shape[0]))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((0, 3), np.float32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [pts - (x0, y0)], 1)
    crop = cv2.cvtColor(image[y0:y1, x0:x1].astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    return crop[mask > 0]


def _spread(lab: np.ndarray) -> float:
    return float(np.percentile(lab[:, 0], 90) - np.percentile(lab[:, 0], 10)) if len(lab) >= 8 else 0.0


def unusable_face(image: np.ndarray, landmarks: np.ndarray) -> str | None:
    """Why the fitted face cannot be drawn, as the end of a sentence, or None. A face cut by the
    photo's border, or eyes or a mouth something hides (sunglasses, a hand), cannot be made up;
    hair, clear glasses or a hat over the face can, and are not refused."""
    h, w = image.shape[:2]
    oval = landmarks[np.asarray(regions.FACE_OVAL), :2]
    width = float(np.linalg.norm(oval.max(0) - oval.min(0)) / np.sqrt(2))
    m = BORDER_CUT * width
    outside = (oval[:, 0] < -m) | (oval[:, 1] < -m) | (oval[:, 0] > w - 1 + m) | (oval[:, 1] > h - 1 + m)
    features = landmarks[np.asarray(regions.RIGHT_EYE + regions.LEFT_EYE + regions.LIPS_OUTER), :2]
    if outside.any() or (features < 0).any() or (features[:, 0] > w - 1).any() or (features[:, 1] > h - 1).any():
        return "is cut off by the edge of the photo; use one that shows the whole face"
    for eye, ends in ((regions.RIGHT_EYE, (159, 145, 33, 133)), (regions.LEFT_EYE, (386, 374, 362, 263))):
        if lid_gap(landmarks, *ends) < EYE_CLOSED_GAP:
            continue  # a shut eye shows no white or iris to look for
        if _spread(_lab_in(image, landmarks, eye)) < EYE_CONTRAST:
            return "has its eyes hidden (sunglasses or something in front); use one where both eyes show"
    lips, cheeks = _lab_in(image, landmarks, regions.LIPS_OUTER), _lab_in(image, landmarks, _CHEEKS)
    if len(lips) >= 8 and len(cheeks) >= 8:
        redder = float(np.median(lips[:, 1]) - np.median(cheeks[:, 1]))
        if redder < LIP_CHROMA and _spread(lips) < LIP_CONTRAST:
            return "has its mouth hidden (a hand or something in front); use one where the mouth shows"
    return None


# ---------------------------------------------------------------- stored copies


def store_dir() -> Path:
    return config_dir() / STORE_FOLDER


def _path_key(path: str | Path) -> str:
    """The original's absolute path as written (symlinks not followed: their target may be gone)."""
    return os.path.abspath(os.path.expanduser(str(path)))


def stored_name(path: str | Path) -> str:
    """The file name of the copy kept for exactly this original path."""
    p = Path(_path_key(path))
    digest = hashlib.sha256(_path_key(path).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    suffix = p.suffix.lower() if p.suffix.lower() in IMAGE_SUFFIXES else ".img"
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in p.stem)[:40] or "photo"
    return f"{stem}-{digest}{suffix}"


def _is_stored(path: Path) -> bool:
    try:
        return path.resolve().parent == store_dir().resolve()
    except OSError:
        return False


def stored_copy(path: str | Path) -> Path | None:
    """The kept copy of exactly ``path`` in the config folder, if there is one."""
    candidate = store_dir() / stored_name(path)
    # os.path: False, not OSError, where the config folder's name is too long (the photo's own
    # sentence is then said, not one about a copy the user never named).
    return candidate if os.path.isfile(candidate) else None


def stored_avatars() -> list[StoredAvatar]:
    """Every kept avatar photo copy, oldest first."""
    folder = store_dir()
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        if p.name.startswith(".") or not p.is_file():
            continue  # temporary files of a write in progress
        st = p.stat()
        found.append(StoredAvatar(name=p.name, path=p, size=st.st_size, modified=st.st_mtime))
    return sorted(found, key=lambda s: (s.modified, s.name))


def remove_stored_avatar(name: str) -> Path:
    """Delete the kept copy called ``name`` (as :func:`stored_avatars` lists it); returns its path.
    An unknown name, or a copy the file system will not delete, raises AvatarPhotoError with one
    sentence."""
    try:
        known = {s.name: s.path for s in stored_avatars()}
    except OSError as exc:  # the config folder's name too long, a drive gone: a traceback before
        raise AvatarPhotoError(f"The kept avatar photos in {shown(store_dir())} cannot be listed ({reason(exc)}); "
                               "check that folder, or LIVECAM_CONFIG_DIR if you set it.") from None
    if name not in known:
        listed = ", ".join(sorted(known)) or "none are kept"
        raise AvatarPhotoError(f"No stored avatar photo is called {shown(name, 60)}; the stored ones are: {listed}.")
    path = known[name]
    try:
        path.unlink()
    except OSError as exc:  # a read-only or full config folder: the GUI showed "[Errno 30] …"
        raise AvatarPhotoError(f"The avatar photo {shown(name, 60)} was not removed: {reason(exc)}.") from None
    log.info("Removed the stored avatar photo %s.", path)
    return path


def _store(source: Path, data: bytes) -> Path:
    """Keep ``data``, the bytes of ``source`` that were checked, in the config folder (0600 in a 0700
    folder) under the name of its path."""
    if _is_stored(source) or ships_with_livecam(source):
        return source  # already the stored copy, or LiveCam's own
    private_dir(store_dir())
    # A link at the copy's name is not followed: the photo went into the file it led to, replacing that.
    return write_private(store_dir() / stored_name(source), data, overwrite=True, through_links=False)


FITS_KEPT = 8  # fitted photos remembered (content hash -> landmarks and pose): rebuilding refits nothing
_FITS: OrderedDict[str, tuple[np.ndarray, tuple[float, float, float]]] = OrderedDict()
_FITS_LOCK = threading.Lock()  # fits are stored from the builder thread while others may load photos


def _remembered_fit(key: str, fit) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The fit for ``key``, from the small LRU or from ``fit()`` (run outside the lock: it takes
    a few hundred milliseconds and another photo's fit need not wait)."""
    with _FITS_LOCK:
        if key in _FITS:
            _FITS.move_to_end(key)
            return _FITS[key]
    result = fit()
    with _FITS_LOCK:
        _FITS[key] = result
        _FITS.move_to_end(key)
        while len(_FITS) > FITS_KEPT:
            _FITS.popitem(last=False)
    return result


def load_avatar_photo(path: str | Path, store: bool = True, provider: str = "auto", threads: int = 1) -> AvatarPhoto:
    """Read, validate and fit ``path``; with ``store`` the accepted photo is copied into the config
    folder, and when ``path`` has since been moved or deleted its own copy is used."""
    if str(path) and store and not os.path.isfile(path):  # False, not OSError, for a name too long
        kept = stored_copy(path)
        if kept is not None:
            log.info("Avatar photo %s is gone; using the copy kept in %s.", shown(path), kept)
            path = kept
    # One read: the picture fitted, the fit's key and the kept copy are all these bytes (a photo replaced
    # after a second read was kept unchecked, and its hash took the first photo's landmarks).
    image, data = read_photo_bytes(path)
    source = Path(path)
    key = f"{hashlib.sha256(data).hexdigest()}:{image.shape[1]}x{image.shape[0]}"
    landmarks, pose = _remembered_fit(key, lambda: fit_face(image, name=f"avatar photo {shown(source.name, 60)}",
                                                             provider=provider, threads=threads))
    stored = source
    if store:
        try:
            stored = _store(source, data)
        except OSError as exc:  # a read-only config folder must not stop the effect
            log.warning("Could not copy avatar photo %s into %s (%s); using the original.", shown(source),
                        store_dir(), exc)
    return AvatarPhoto(image=image, landmarks=landmarks, pose=pose, path=stored)
