"""Offline rendering: a video file through the same pipeline as the live camera, frame for frame."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2

from livecam.pipeline import Pipeline
from livecam.settings import Settings


class RenderError(RuntimeError):
    pass


def render_file(src: str, dst: str, settings: Settings, progress: bool = True) -> int:
    """Write ``dst`` with the input's size, fps and frame count. Returns a process exit code."""
    if not Path(src).is_file():
        print(f"livecam: input video {src} does not exist.", file=sys.stderr)
        return 1
    cap = cv2.VideoCapture(src)
    if not cap.isOpened():
        print(f"livecam: {src} cannot be opened as a video; use an MP4 (H.264) file.", file=sys.stderr)
        return 1
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not out.isOpened():
        print(f"livecam: cannot write {dst}; check the folder exists and is writable.", file=sys.stderr)
        return 1
    pipeline = Pipeline(settings)
    for problem in pipeline.problems():
        print(f"livecam: {problem}", file=sys.stderr)
    n, t0 = 0, time.monotonic()
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            out.write(pipeline.process(frame))
            n += 1
            if progress and (n % 5 == 0 or n == total):
                _progress(n, total, time.monotonic() - t0)
    finally:
        cap.release()
        out.release()
        pipeline.close()
    if progress:
        print(file=sys.stderr)
    print(f"livecam: wrote {n} frames ({w}x{h}) to {dst}.", file=sys.stderr)
    return 0


def _progress(n: int, total: int, elapsed: float) -> None:
    fps = n / elapsed if elapsed > 0 else 0.0
    if total:
        filled = int(30 * n / total)
        bar = "#" * filled + "-" * (30 - filled)
        print(f"\r[{bar}] {n}/{total} frames  {fps:5.1f} fps", end="", file=sys.stderr, flush=True)
    else:
        print(f"\r{n} frames  {fps:5.1f} fps", end="", file=sys.stderr, flush=True)
