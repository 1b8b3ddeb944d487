"""Two LiveCam checkouts in one process, fed the same frames alternately, for before/after numbers
on a machine that others share:

    python tools/ab_interleaved.py /tmp/base . image [1280x720] [FRAMES] [CLIP]

The configuration is one of FIXED's (``blur``, ``image``, ``all`` as issue 19 measures them), else
one of this checkout's ``livecam bench --effects`` names (``swap``, ``animate``, ``key_light`` …;
the avatar's photo is the bench's, or ``$AB_PHOTO``), else settings changes as JSON.

``tools/ab_bench.py`` alternates whole runs of a few seconds each, and on a shared 2-core machine
the load changes on that scale: the same tree's CPU column moved between 6.7 and 10 ms within one
run at load 3-5. Here each frame goes through A and then B (B then A on the next frame), so both see
the same load; the same tree against itself differs by about 1 % this way. The frames are the ones
``livecam bench`` times (its ``frames_from``: the clip in order, looped at its end), so the two
measure the same work; the bench's wall times add what waiting for a core costs on a busy machine.

Both trees' ``livecam`` packages are imported under their own names' modules: the modules of the
tree whose pipeline runs are put into ``sys.modules`` before its call (so code that imports inside a
function finds its own tree's modules). Their ``time.perf_counter`` is replaced by the process CPU
clock, so each pipeline's own stage timers (preprocess, inference, refine, each effect, gate) give
CPU ms (all threads: model runs happen on their session's own thread since 634ff9f). Prints the
median and mean of each stage and of the whole frame (pipeline plus the I420 conversion a virtual
camera needs), with the largest and mean pixel difference between the two outputs. The mask model
is the landscape one, one thread, in both trees.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_bench import FIXED, _clip, registry_configs  # noqa: E402

# The stage timers of the pipelines read this clock instead of the wall clock.
_CPU_CLOCK = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
_CPU_CLOCK.perf_counter = time.process_time


def _ours(name: str) -> bool:
    return name == "livecam" or name.startswith("livecam.")


def _install(modules: dict) -> None:
    for name in [n for n in sys.modules if _ours(n)]:
        del sys.modules[name]
    sys.modules.update(modules)


def _load(tree: str, changes: dict, first: np.ndarray):
    """A Pipeline from ``tree`` and the modules it runs on (its CPU clock patched in)."""
    _install({})
    sys.path.insert(0, tree)
    try:
        from livecam import settings as S
        from livecam.pipeline import Pipeline

        pipeline = Pipeline(S.update(S.Settings(), **json.loads(json.dumps(changes))))
        pipeline.process(first)  # modules imported on first use (the mask stage's) are loaded now
    finally:
        sys.path.remove(tree)
    modules = {n: m for n, m in sys.modules.items() if _ours(n)}
    for module in modules.values():
        if getattr(module, "time", None) is time:
            module.time = _CPU_CLOCK
    return pipeline, modules


def _changes(config: str) -> dict:
    """FIXED's configuration, else this checkout's registry's (``swap``, ``animate``, ``key_light`` …)
    with the bench's picture and photo, else settings changes as JSON."""
    if config in FIXED:
        return json.loads(json.dumps(FIXED[config]))
    configs = registry_configs()
    if config not in configs:
        return json.loads(config)
    from livecam.bench import default_avatar, default_background

    changes = json.loads(json.dumps(configs[config]))
    if changes.get("background", {}).get("mode") == "image":
        changes["background"]["image"] = default_background()
    if changes.get("avatar", {}).get("mode", "off") != "off":
        changes["avatar"]["photo"] = os.environ.get("AB_PHOTO") or default_avatar()
    return changes


def compare(trees: list[str], config: str, size: tuple[int, int], frames: int, clip: Path | None = None) -> dict:
    cv2.setNumThreads(1)
    changes = _changes(config)
    changes["segmentation"] = {"model": "landscape"}
    changes["runtime"] = {"threads": 1, "provider": "cpu"}
    from livecam.bench import frames_from

    # The frames ``livecam bench`` times: the clip in order from its start, looped at its end. Cycling
    # its first 120 instead left out what the bench's later frames bring (low light's auto mode lifts
    # the s18 clip from about frame 120 on, +1.0 ms a frame over 200), so the two disagreed on "all".
    # Decoded before any frame is timed: decoding in the loop left FFmpeg's threads decoding ahead
    # while a pipeline ran, in the process CPU this tool reads (main's image 720p read 5.1 for 3.8).
    images = list(frames_from(clip or _clip(trees[0]), size, frames + 10))
    first = next(frames_from(clip or _clip(trees[0]), size, 1))[0]
    before = {n: m for n, m in sys.modules.items() if _ours(n)}  # the caller's own, put back at the end
    try:
        return _interleave([_load(str(Path(t).resolve()), changes, first) for t in trees],
                           (image for image, _ in images), frames, config, size)
    finally:
        _install(before)


def _interleave(runs: list, images: Iterator[np.ndarray], frames: int, config: str, size: tuple[int, int]) -> dict:
    stages: list[dict[str, list[float]]] = [{} for _ in runs]
    worst, mean_diff = 0, []
    for i, image in enumerate(images):
        outs = [None, None]
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            pipeline, modules = runs[k]
            _install(modules)
            c0 = time.process_time()
            out = pipeline.process(image)
            c1 = time.process_time()
            cv2.cvtColor(out, cv2.COLOR_BGR2YUV_I420)
            c2 = time.process_time()
            outs[k] = out
            if i >= 10:  # warm-up
                mine = stages[k]
                for name, ms in pipeline.last_timings.items():
                    mine.setdefault(name, []).append(ms)
                mine.setdefault("i420", []).append((c2 - c1) * 1e3)
                mine.setdefault("frame", []).append((c2 - c0) * 1e3)
        if i >= 10:
            diff = cv2.absdiff(outs[0], outs[1])
            worst = max(worst, int(diff.max()))
            mean_diff.append(float(diff.mean()))
    for pipeline, _ in runs:
        pipeline.close()
    return {"config": config, "size": f"{size[0]}x{size[1]}", "frames": frames, "load1": round(os.getloadavg()[0], 2),
            "diff_max": worst, "diff_mean": round(statistics.fmean(mean_diff), 5),
            "stages": [{name: (round(statistics.median(v), 3), round(statistics.fmean(v), 3)) for name, v in s.items()}
                       for s in stages]}


def table(result: dict, trees: list[str]) -> str:
    a, b = result["stages"]
    names = [n for n in a if n not in ("total", "frame")] + ["total", "frame"]
    lines = [f"{result['config']} {result['size']}, {result['frames']} frames, load {result['load1']}; "
             f"output difference max {result['diff_max']}, mean {result['diff_mean']}",
             f"{'stage':>12}  {Path(trees[0]).name:>17}  {Path(trees[1]).name:>17}   (median / mean CPU ms, all threads)"]
    for name in names:
        cells = [f"{s[name][0]:7.3f} / {s[name][1]:7.3f}" if name in s else f"{'-':>17}" for s in (a, b)]
        lines.append(f"{name:>12}  " + "  ".join(cells))
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    trees = sys.argv[1:3]
    config = sys.argv[3]
    size = tuple(int(v) for v in sys.argv[4].split("x")) if len(sys.argv) > 4 else (1280, 720)
    frames = int(sys.argv[5]) if len(sys.argv) > 5 else 300
    clip = Path(sys.argv[6]) if len(sys.argv) > 6 else None
    print(table(compare(trees, config, size, frames, clip), trees))
    return 0


if __name__ == "__main__":
    sys.exit(main())
