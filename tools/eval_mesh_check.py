"""How many genuine meshes the detector check refuses (``livecam.analysis.mesh_check``), on one half of
the shared data:

    python tools/eval_mesh_check.py tuning|reporting

The halves: the clips in data/video and the photos in data/faces (single, multi, degraded) and
data/lowlight, each list sorted by name; even places are the tuning half, odd ones the reporting half.
Every frame of every clip (at its own size) goes through one face tracker with the check on every
frame (VERIFY_EVERY 1, not the live cadence: every read is judged); each photo three times (the first
read from the detection's crop, then from the mesh's own, as a still camera gives). Prints the reads
judged, the refusals (which must be none), the distribution of the miss (in detector box sides, MISS
the limit), the largest jump off the crop (JUMP the limit) and the heads' yaw range.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from livecam.analysis import face_tracker as tracking, mesh_check  # noqa: E402
from livecam.analysis.runtime import ModelOutputError  # noqa: E402
from livecam.settings import FaceSettings, RuntimeSettings  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTO_TYPES = (".jpg", ".jpeg", ".png")


def halves() -> dict[str, tuple[list[Path], list[Path]]]:
    clips = sorted((DATA / "video").glob("*.mp4"), key=lambda p: p.name)
    photos = sorted((p for folder in ("faces/single", "faces/multi", "faces/degraded", "lowlight")
                     for p in (DATA / folder).iterdir() if p.suffix.lower() in PHOTO_TYPES),
                    key=lambda p: str(p.relative_to(DATA)))
    return {"tuning": (clips[0::2], photos[0::2]), "reporting": (clips[1::2], photos[1::2])}


def main(half: str) -> None:
    clips, photos = halves()[half]
    tracking.VERIFY_EVERY = 1
    misses, jumps, yaws, refused = [], [], [], []
    judged = mesh_check.nearest_miss

    def recorded(*args):
        out = judged(*args)
        if out is not None:
            misses.append(out)
        return out

    tracking.mesh_check.nearest_miss = recorded

    def read(name: str, i: int, tracker, frame) -> None:
        roi = tracker._tracks[0].roi if tracker._tracks else None
        try:
            faces = tracker.process(frame, verify=True)
        except ModelOutputError as exc:
            refused.append(f"{name} #{i}: {exc}")
            return
        if faces:
            yaws.append(faces[0].pose[0])
            if roi is not None:
                box = tracking._bounds(faces[0].raw_landmarks)
                centre = 0.5 * (box[:2] + box[2:])
                jumps.append(float(np.hypot(centre[0] - roi.cx, centre[1] - roi.cy) / roi.size))

    for clip in clips:
        tracker = tracking.FaceTracker(FaceSettings(), RuntimeSettings(threads=1, provider="cpu"))
        cap = cv2.VideoCapture(str(clip))
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            read(clip.name, i, tracker, frame)
            i += 1
        cap.release()
        print(f"{clip.name}: {i} frames", flush=True)
    for photo in photos:
        image = cv2.imread(str(photo))
        tracker = tracking.FaceTracker(FaceSettings(), RuntimeSettings(threads=1, provider="cpu"))
        for i in range(3):
            read(str(photo.relative_to(DATA)), i, tracker, image)
    m = np.asarray(misses)
    print(f"{half}: {len(clips)} clips, {len(photos)} photos; {len(m)} meshes judged against a detection, "
          f"{len(refused)} refused")
    for line in refused:
        print("  refused:", line)
    if len(m):
        print("miss (detector sides, MISS %.3f): median %.3f p99 %.3f max %.3f"
              % (mesh_check.MISS, *np.percentile(m, [50, 99, 100])))
    if jumps:
        print("jump off the crop (crop sides, JUMP %.3f): max %.4f, %d of %d past it"
              % (tracking.JUMP, max(jumps), sum(j > tracking.JUMP for j in jumps), len(jumps)))
    if yaws:
        print("yaw %.0f..%.0f degrees" % (min(yaws), max(yaws)))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("tuning", "reporting"):
        sys.exit("Give the half to run: tuning or reporting.")
    main(sys.argv[1])
