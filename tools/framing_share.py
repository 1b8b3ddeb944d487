"""How much of the frame auto-framing shows, and what its enlargement and the output's I420
conversion cost together against the two folded into one step:

    python tools/framing_share.py [CLIP ...] [--frames N]

For each clip (default: the bench clip) the registry's "all" configuration (every effect's
``bench_all`` part) runs at 1280x720 as ``livecam bench`` runs it (landscape mask model, one
thread), and the framing's zoom is read after each frame: the median zoom and the share of the
frame's area the cut-out holds. Issue 19 asked whether the effects before auto-framing could run on
the cut-out alone; this is the first number that question needs.

Then, on the median frame's cut-out, the CPU time (process clock, median of interleaved runs) of
today's path, ``upscale_colour`` to the frame size and ``cvtColor(BGR2YUV_I420)`` of the result, and
of the fold: the cut-out converted to I420 at its own size (1.5 bytes a pixel moved instead of 3)
and its three planes enlarged with the same ``upscale``. The fold's planes are compared with
today's (PSNR over the I420 buffer, largest difference): chroma is subsampled before the
enlargement instead of after it, so they are close but not equal.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

SIZE = (1280, 720)


def zooms(clip: Path, frames: int) -> tuple[list[float], list[tuple[np.ndarray, tuple[int, int, int, int]]]]:
    """The framing's zoom after each frame, and each frame's cut-out window (x0, y0, w, h) with the
    frame it was cut from (whole-pixel, as auto-framing cuts)."""
    from livecam import settings as S
    from livecam.bench import frames_from
    from livecam.effects import bench_configs
    from livecam.pipeline import Pipeline

    changes = {**bench_configs()["all"], "segmentation": {"model": "landscape"},
               "runtime": {"threads": 1, "provider": "cpu"}}
    pipeline = Pipeline(S.update(S.Settings(), **changes))
    framer = next(slot.effect for slot in pipeline._slots if slot.spec.name == "auto_frame")
    seen, cuts = [], []
    try:
        for image, _ in frames_from(clip, SIZE, frames):
            pipeline.process(image)
            f = framer.framing
            zoom = 1.0 if f is None else f.zoom
            seen.append(zoom)
            w, h = SIZE
            cw, ch = min(w, max(2, round(w / zoom))), min(h, max(2, round(h / zoom)))
            x0 = min(max(0, round((f.x if f else w / 2) - 0.5 * cw)), w - cw)
            y0 = min(max(0, round((f.y if f else h / 2) - 0.5 * ch)), h - ch)
            cuts.append((image, (x0, y0, cw, ch)))
    finally:
        pipeline.close()
    return seen, cuts


def today(cut: np.ndarray) -> np.ndarray:
    from livecam.effects.scaling import upscale_colour

    return cv2.cvtColor(upscale_colour(cut, SIZE), cv2.COLOR_BGR2YUV_I420)


def folded(cut: np.ndarray) -> np.ndarray:
    """The cut-out to I420 at its own size, each plane enlarged to the frame's (even-sized cut-outs)."""
    from livecam.analysis.temporal import upscale

    h, w = cut.shape[:2]
    W, H = SIZE
    planes = cv2.cvtColor(cut, cv2.COLOR_BGR2YUV_I420)
    out = np.empty((H * 3 // 2, W), np.uint8)
    out[:H] = upscale(planes[:h], SIZE)
    chroma = planes[h:].reshape(2, h // 2, w // 2)
    for k in range(2):
        out[H + k * H // 4: H + (k + 1) * H // 4].reshape(H // 2, W // 2)[:] = upscale(
            np.ascontiguousarray(chroma[k]), (W // 2, H // 2))
    return out


def cpu_ms(paths: dict, cut: np.ndarray, runs: int) -> dict[str, float]:
    took: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for i in range(runs):
        for name in names if i % 2 == 0 else names[::-1]:
            t0 = time.process_time()
            paths[name](cut)
            took[name].append((time.process_time() - t0) * 1e3)
    return {name: round(statistics.median(v), 3) for name, v in took.items()}


def main() -> int:
    from ab_bench import _clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--frames", type=int, default=160)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    for clip in args.clips or [_clip(str(ROOT))]:
        seen, cuts = zooms(clip, args.frames)
        steady = seen[10:] or seen  # the first frames ease in from the whole picture
        zoom = statistics.median(steady)
        print(f"{clip.name}: {len(seen)} frames, zoom median {zoom:.3f} (min {min(steady):.3f}, max {max(steady):.3f}), "
              f"cut-out {1 / zoom ** 2:.2f} of the frame's area")
        image, (x0, y0, w, h) = min(cuts[10:] or cuts, key=lambda c: abs(c[1][2] - SIZE[0] / zoom))
        w, h = w - w % 2, h - h % 2  # I420 takes even sizes
        cut = np.ascontiguousarray(image[y0: y0 + h, x0: x0 + w])
        a, b = today(cut), folded(cut)
        print(f"  {w}x{h} cut-out -> {SIZE[0]}x{SIZE[1]} I420, CPU ms (median of {args.runs}, interleaved): "
              f"{cpu_ms({'enlarge then convert': today, 'fold': folded}, cut, args.runs)}; "
              f"fold against today: PSNR {cv2.PSNR(a, b):.1f} dB, largest difference {int(cv2.absdiff(a, b).max())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
