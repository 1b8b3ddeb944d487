"""The same frames through LiveCam from two (or more) checkouts, for before/after numbers taken in
one run on a shared machine:

    git worktree add /tmp/base <commit>
    for round in 1 2; do for tree in /tmp/base .; do python tools/ab_bench.py $tree blur 300; done; done

Prints one JSON line per run: median wall and CPU ms per frame at 720p (pipeline plus the I420
conversion a virtual camera needs) on the s18 clip from ../shared/data (the bundled demo if absent).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

CONFIGS = {
    "blur": {"background": {"mode": "blur", "blur": 60}},
    "image": {"background": {"mode": "image", "image": "{tree}/assets/backgrounds/kde_EveningGlow.jpg"}},
    "all": {"background": {"mode": "blur", "blur": 60}, "touch_up": {"strength": 60}, "low_light": {"mode": "auto"}},
}


def main() -> int:
    tree, config, frames = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 300
    tree = str(Path(tree).resolve())
    sys.path.insert(0, tree)
    import cv2

    cv2.setNumThreads(1)
    from livecam import settings as S
    from livecam.pipeline import Pipeline

    changes = json.loads(json.dumps(CONFIGS[config]).replace("{tree}", tree))
    changes["segmentation"] = {"model": "landscape"}  # the same model in every tree
    pipeline = Pipeline(S.update(S.Settings(), **changes))
    clip = Path(tree).parent / "shared" / "data" / "video" / "lp_s18_room_landscape.mp4"
    if not clip.is_file():
        clip = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "lp_s18_room_landscape.mp4"
    if not clip.is_file():
        clip = Path(tree) / "assets" / "demo" / "demo.mp4"
    cap = cv2.VideoCapture(str(clip))
    images = []
    while len(images) < 120:
        ok, frame = cap.read()
        if not ok:
            break
        images.append(cv2.resize(frame, (1280, 720)))
    wall, cpu = [], []
    for i in range(frames + 10):
        c0, t0 = time.thread_time(), time.perf_counter()
        cv2.cvtColor(pipeline.process(images[i % len(images)]), cv2.COLOR_BGR2YUV_I420)
        if i >= 10:  # warm-up
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.thread_time() - c0) * 1e3)
    print(json.dumps({"tree": tree, "config": config, "frames": frames,
                      "wall_ms": round(statistics.median(wall), 3), "cpu_ms": round(statistics.median(cpu), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
