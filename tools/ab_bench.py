"""The same frames through LiveCam from two (or more) checkouts, for before/after numbers taken in
one run on a shared machine:

    git worktree add /tmp/base <commit>
    python tools/ab_bench.py --trees /tmp/base . --configs blur,image,all --sizes 1280x720,1920x1080 --rounds 3

runs every (config, size) in each tree, alternating trees within each round (A B, then B A), each in
its own process (a process can import only one ``livecam``), and prints the median over rounds of
each run's median wall and CPU ms per frame and of its mean CPU ms (what a stage that skips frames
really costs), with the load average before and after. One run alone:

    python tools/ab_bench.py TREE CONFIG [FRAMES] [WxH]

prints one JSON line: median wall and CPU ms and mean CPU ms per frame (pipeline plus the I420
conversion a virtual camera needs) on the s18 clip from ../shared/data (the bundled demo if absent),
one thread. The CPU column is the processing thread's; ``cpu_process_mean_ms`` is the whole process's (every
thread: since model runs moved to their session's own thread, 634ff9f, the processing thread no
longer sees the model's time, and trees before and after that commit compare on this column alone).

On a shared machine whole-run alternation is at the mercy of the load from minute to minute (the
same tree's CPU column varied 6.7-10 ms within one run at load 3-5): ``tools/ab_interleaved.py``
alternates the trees frame by frame in one process instead.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = "lp_s18_room_landscape.mp4"


def _clip(tree: str) -> Path:
    for root in (Path(tree).parent, Path(__file__).resolve().parents[2]):
        clip = root / "shared" / "data" / "video" / CLIP
        if clip.is_file():
            return clip
    return Path(tree) / "assets" / "demo" / "demo.mp4"


# The configurations issue 19 measures, as they were at its start (2554741): "all" is every effect
# there was then. An older tree cannot run a newer registry's "all" (it lacks the newer effects).
FIXED = {
    "blur": {"background": {"mode": "blur", "blur": 60}},
    "image": {"background": {"mode": "image"}},  # the first bundled picture
    "all": {"background": {"mode": "blur", "blur": 60}, "touch_up": {"strength": 60}, "low_light": {"mode": "auto"}},
}


def registry_configs() -> dict[str, dict]:
    """The bench configurations of this checkout's registry (``livecam bench --effects`` names them),
    with FIXED's in place of theirs. Every tree runs this checkout's settings changes, so an A/B
    compares the same work even where an older tree's registry would say something else."""
    sys.path.insert(0, str(ROOT))
    from livecam.effects import bench_configs

    return {**bench_configs(), **FIXED}


def one(tree: str, config: str, frames: int = 300, size: tuple[int, int] = (1280, 720)) -> dict:
    """``config``: a configuration name of ``tree``'s own registry, or its settings changes as JSON."""
    tree = str(Path(tree).resolve())
    sys.path.insert(0, tree)
    import cv2

    cv2.setNumThreads(1)
    from livecam import settings as S
    from livecam.pipeline import Pipeline

    if config.startswith("{"):
        changes = json.loads(config)
    else:
        from livecam.effects import bench_configs

        changes = bench_configs()[config]
    changes["segmentation"] = {"model": "landscape"}  # the same model in every tree
    changes["runtime"] = {"threads": 1, "provider": "cpu"}
    from livecam.bench import frames_from

    pipeline = Pipeline(S.update(S.Settings(), **changes))
    wall, cpu, proc = [], [], []
    # The frames ``livecam bench`` times, in every tree (see ab_interleaved).
    images = [image for image, _ in frames_from(_clip(tree), size, frames + 10)]  # decoded before timing
    for i, image in enumerate(images):
        c0, t0, p0 = time.thread_time(), time.perf_counter(), time.process_time()
        cv2.cvtColor(pipeline.process(image), cv2.COLOR_BGR2YUV_I420)
        if i >= 10:  # warm-up
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.thread_time() - c0) * 1e3)
            proc.append((time.process_time() - p0) * 1e3)
    pipeline.close()
    # The mean too: a mask stage that runs its model on one frame in two has a median that is
    # whichever half of the frames it happens to fall in, and the mean is what the CPU pays.
    return {"tree": tree, "config": config, "size": f"{size[0]}x{size[1]}", "frames": frames,
            "wall_ms": round(statistics.median(wall), 3), "cpu_ms": round(statistics.median(cpu), 3),
            "cpu_mean_ms": round(statistics.fmean(cpu), 3), "cpu_process_mean_ms": round(statistics.fmean(proc), 3)}


def compare(trees: list[str], configs: list[str], sizes: list[str], rounds: int, frames: int) -> list[dict]:
    """Every (size, config) in every tree, ``rounds`` times, the tree order reversed every round."""
    runs = []
    known = registry_configs()  # this checkout's registry: the same settings in every tree
    unknown = [c for c in configs if c not in known]
    if unknown:
        raise SystemExit(f"ab_bench: unknown configuration {unknown[0]!r}; choose from {', '.join(known)}")
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", file=sys.stderr, flush=True)
    for r in range(rounds):
        order = trees if r % 2 == 0 else trees[::-1]
        for size in sizes:
            for config in configs:
                for tree in order:
                    out = subprocess.run([sys.executable, __file__, tree, json.dumps(known[config]), str(frames), size],
                                         capture_output=True, text=True, check=False)
                    if out.returncode:
                        print(out.stderr[-2000:], file=sys.stderr)
                        raise SystemExit(f"ab_bench: {tree} {config} {size} failed")
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    row["config"], row["round"], row["load1"] = config, r, round(os.getloadavg()[0], 2)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    runs.append(row)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", file=sys.stderr, flush=True)
    return runs


def table(runs: list[dict], trees: list[str]) -> str:
    names = [str(Path(t).resolve()) for t in trees]
    keys = sorted({(r["size"], r["config"]) for r in runs}, key=lambda k: (int(k[0].split("x")[0]), k[1]))
    lines = [f"{'size':>10} {'config':>6}  " + "  ".join(f"{Path(n).name or n:>35}" for n in names)
             + "   (median over runs of each run's median wall / median cpu / mean cpu / mean process cpu, ms)"]
    for size, config in keys:
        cells = []
        for name in names:
            mine = [r for r in runs if (r["size"], r["config"], r["tree"]) == (size, config, name)]
            if mine:
                wall = statistics.median(r["wall_ms"] for r in mine)
                cpu = statistics.median(r["cpu_ms"] for r in mine)
                mean = statistics.median(r.get("cpu_mean_ms", float("nan")) for r in mine)
                proc = statistics.median(r.get("cpu_process_mean_ms", float("nan")) for r in mine)
                cells.append(f"{wall:8.2f} / {cpu:6.2f} / {mean:6.2f} / {proc:6.2f}")
            else:
                cells.append(f"{'-':>35}")
        lines.append(f"{size:>10} {config:>6}  " + "  ".join(cells))
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        tree, config = sys.argv[1], sys.argv[2]
        frames = int(sys.argv[3]) if len(sys.argv) > 3 else 300
        size = tuple(int(v) for v in sys.argv[4].split("x")) if len(sys.argv) > 4 else (1280, 720)
        print(json.dumps(one(tree, config, frames, size)))
        return 0
    parser = argparse.ArgumentParser(description="A/B LiveCam checkouts on the same frames, alternating.")
    parser.add_argument("--trees", nargs="+", required=True)
    parser.add_argument("--configs", default="blur,image,all")
    parser.add_argument("--sizes", default="1280x720,1920x1080")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    runs = compare(args.trees, args.configs.split(","), args.sizes.split(","), args.rounds, args.frames)
    print(table(runs, args.trees))
    return 0


if __name__ == "__main__":
    sys.exit(main())
