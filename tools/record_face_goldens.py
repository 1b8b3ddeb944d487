#!/usr/bin/env python3
"""Record golden face landmarks with MediaPipe's own face-mesh solution (maintainer tool).

LiveCam re-implements MediaPipe's face pipeline (detector, crops, mesh) on ONNX Runtime; the
goldens are what ``mediapipe==0.10.21``'s ``mp.solutions.face_mesh`` (static_image_mode=True,
refine_landmarks=False) finds on still photos, so tests can check that the re-implementation
agrees. Only numbers are written (landmarks in frame pixels), never images.

mediapipe pins protobuf<5, so it lives in its own virtual environment::

    python -m venv /work/mpvenv && /work/mpvenv/bin/pip install mediapipe==0.10.21
    /work/mpvenv/bin/python tools/record_face_goldens.py            # fixtures + shared photos

Writes ``tests/fixtures/face_golden/<photo stem>.npz`` for the repo's public-domain portraits and
``tests/fixtures/face_golden/shared_photos.npz`` for the photos in ``../shared/data/faces``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
OUT = FIXTURES / "face_golden"
PORTRAITS = ("sk_astronaut.png", "mpl_grace_hopper.jpg")
SHARED_FOLDERS = ("single", "multi")
MAX_FACES = 8


def shared_data() -> Path:
    return Path(os.environ.get("LIVECAM_DATA") or REPO.parent / "shared" / "data")


def mesh(face_mesh, bgr: np.ndarray) -> np.ndarray:
    """(F, 468, 3) float32 landmarks in pixels (z scaled like x), faces in MediaPipe's order."""
    h, w = bgr.shape[:2]
    result = face_mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    faces = []
    for lms in result.multi_face_landmarks or []:
        pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lms.landmark], dtype=np.float32)
        faces.append(pts)
    return np.stack(faces) if faces else np.zeros((0, 468, 3), np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-shared", action="store_true", help="only the repo's own portraits")
    args = parser.parse_args(argv)
    try:
        import mediapipe as mp
    except ImportError:
        print("mediapipe is not installed here; run this with a venv that has mediapipe==0.10.21.", file=sys.stderr)
        return 2
    if mp.__version__ != "0.10.21":
        print(f"mediapipe {mp.__version__} found; the goldens are defined by 0.10.21.", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {"mediapipe": mp.__version__, "solution": "face_mesh", "static_image_mode": True,
            "refine_landmarks": False, "min_detection_confidence": 0.5, "units": "frame pixels, z scaled like x"}
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=False,
                                         max_num_faces=MAX_FACES, min_detection_confidence=0.5) as face_mesh:
        for name in PORTRAITS:
            bgr = cv2.imread(str(FIXTURES / name))
            if bgr is None:
                print(f"{FIXTURES / name} is missing; restore tests/fixtures.", file=sys.stderr)
                return 1
            lms = mesh(face_mesh, bgr)
            np.savez_compressed(OUT / f"{Path(name).stem}.npz", landmarks=lms, shape=np.array(bgr.shape),
                                meta=json.dumps({**meta, "max_num_faces": MAX_FACES}))
            print(f"{name}: {len(lms)} face(s)")
        root = shared_data() / "faces"
        if args.no_shared or not root.is_dir():
            return 0
        record = {}
        for folder in SHARED_FOLDERS:
            for path in sorted((root / folder).iterdir()):
                bgr = cv2.imread(str(path))
                if bgr is None:
                    continue
                key = f"{folder}/{path.name}"
                record[key] = mesh(face_mesh, bgr)
                print(f"{key}: {len(record[key])} face(s)")
        np.savez_compressed(OUT / "shared_photos.npz", **record,
                            __meta__=json.dumps({**meta, "max_num_faces": MAX_FACES}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
