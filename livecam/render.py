"""Offline rendering: a video file through the same pipeline as the live camera, frame for frame.

Nothing the user did not ask for is written: an effect that cannot be applied stops the render
before the first frame, an existing file is replaced only with ``--overwrite``, and the output
appears under its name only when it is complete (it is written next to it and renamed at the end).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cv2

from livecam.media import RECORDING_SUFFIXES
from livecam.pipeline import Pipeline
from livecam.settings import Settings


def _error(sentence: str) -> int:
    print(f"livecam: {sentence}", file=sys.stderr)
    return 1


def render_file(src: str, dst: str, settings: Settings, progress: bool = True) -> int:
    """Write ``dst`` with the input's size, fps and frame count. Returns a process exit code."""
    if not Path(src).is_file():
        return _error(f"input video {src} does not exist.")
    target = Path(dst)
    if target.suffix.lower() not in RECORDING_SUFFIXES:
        return _error(f"{dst} is not a video file name; end it in {' or '.join(RECORDING_SUFFIXES)}.")
    if target.exists() and (target.resolve() == Path(src).resolve() or not settings.output.overwrite):
        return _error(f"{dst} already exists; choose another name or add --overwrite to replace it.")
    cap = cv2.VideoCapture(src)
    if not cap.isOpened():
        return _error(f"{src} cannot be opened as a video; use an MP4 (H.264) file.")
    pipeline = Pipeline(settings, offline=True)
    problems = pipeline.unbuildable()
    ok, first = cap.read()
    if ok and not problems:
        # Models open on the first frame: a missing or broken one shows up here, before anything is written.
        first_out = pipeline.process(first)
        problems = list(pipeline.analyzer.broken.values())
    if problems or not ok:
        cap.release()
        pipeline.close()
        return _error(f"{problems[0]} Nothing was written." if problems else f"{src} has no frames to render.")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    partial = target.with_name(f".{target.stem}.part{target.suffix}")
    out = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not out.isOpened():
        cap.release()
        pipeline.close()
        return _error(f"cannot write {dst}; check the folder exists and is writable.")
    out.write(first_out)
    n, t0, complete = 1, time.monotonic(), False
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            out.write(pipeline.process(frame))
            n += 1
            if progress and (n % 5 == 0 or n == total):
                _progress(n, total, time.monotonic() - t0)
        complete = True
    finally:
        cap.release()
        out.release()
        pipeline.close()
        if complete:
            os.replace(partial, target)
        else:
            partial.unlink(missing_ok=True)
    if progress:
        print(file=sys.stderr)
    if pipeline.concealed:
        failed = ", ".join(sorted(pipeline.failure_counts())) or "an effect"
        return _error(f"{pipeline.concealed} of {n} frames in {dst} are hidden behind a blur because {failed} "
                      "failed on them (the log says why).")
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
