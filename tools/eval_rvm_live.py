"""rvm in the live configuration on the development photos; numbers for issue 22.

    .venv/bin/python tools/eval_rvm_live.py [--half tuning|reporting|all] [--model ENTRY ...]
        [--frames 8] [--greenscreen] [--per-photo]
    .venv/bin/python tools/eval_rvm_live.py --speed CLIP --frames 150 --model ENTRY ...
    .venv/bin/python tools/eval_rvm_live.py --trial-cost CLIP --frames 1200

Each photo of shared/data/masks/dev is shown ``--frames`` times in a row (a still clip: a person
sitting still in front of a webcam) to a fresh Analyzer in the live configuration (not offline;
2 threads on the CPU: rvm runs its live CPU profile, ``rvm-cpu-live-1in3``, with the motion gate on
as in a call), and the last frame's mask and foreground are scored with livecam.quality's iou
(at 0.5) and halo_score (over #f0f0f0 and #141414, 6 px either side of the true outline).

The 55 photos are split once: the sorted file list, even indices the tuning half (28 photos:
constants are chosen on these), odd indices the reporting half (27 photos: quoted once at the end).
This is the split of the earlier rounds (the live profile scores 0.9574 on its tuning half).

A model entry is a model name ("rvm", "landscape": the default model on a CPU), optionally with
module constants of livecam.analysis.* changed for that entry alone: ``MODEL@MODULE.NAME=VALUE;...``
(a value that is not a Python literal is evaluated in its module). Several entries run side by side
in one call, photo by photo, e.g. the live profile against rvm's encoder at 640:
``--model rvm landscape "rvm@matting.CPU_LIVE=Profile('inner640', 640, 640, min_threads=2, every=3)"``.

``--greenscreen`` adds the green-screen clip's IoU against its chroma-key masks (livecam eval's
measure, the clip run at live size) for each model entry. ``--speed`` gives the mask stage's CPU ms
a frame on a clip, the entries alternating frame by frame; ``--trial-cost`` what the live watch's
trial runs cost once it has handed rvm over to the fast model.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livecam import quality as Q  # noqa: E402
from livecam.analysis import Analyzer  # noqa: E402
from livecam.settings import Settings, update  # noqa: E402

FRAMES = 8
THREADS = 2  # the live profile's own minimum; a laptop gives a call two cores


def halves(root: Path) -> dict[str, list[Path]]:
    images = sorted((root / "masks" / "dev" / "images").glob("*"))
    return {"tuning": images[0::2], "reporting": images[1::2], "all": images}


def _parse(entry: str) -> tuple[str, dict[str, object]]:
    """"rvm@matting.X=1;person_mask.Y=0.2" -> ("rvm", {"matting.X": 1, "person_mask.Y": 0.2}). A value
    that is not a literal is evaluated in its module, e.g. ``matting.CPU_LIVE=Profile('x', 1280, 320)``."""
    model, _, rest = entry.partition("@")
    changes = {}
    for part in filter(None, rest.split(";")):
        name, _, value = part.partition("=")
        try:
            changes[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            module = importlib.import_module(f"livecam.analysis.{name.rpartition('.')[0]}")
            changes[name] = eval(value, vars(module))  # noqa: S307 - a measuring tool's own command line
    return model, changes


@contextmanager
def patched(changes: dict[str, object]):
    """Module constants of livecam.analysis.* set for the duration."""
    old = []
    for name, value in changes.items():
        module_name, _, attr = name.rpartition(".")
        module = importlib.import_module(f"livecam.analysis.{module_name}")
        old.append((module, attr, getattr(module, attr)))
        setattr(module, attr, value)
    try:
        yield
    finally:
        for module, attr, value in reversed(old):
            setattr(module, attr, value)


def live_analyzer(model: str) -> Analyzer:
    settings = update(Settings(), segmentation={"model": model}, runtime={"threads": THREADS, "provider": "cpu"})
    return Analyzer(settings, offline=False)


def still_clip(model: str, image: np.ndarray, frames: int) -> tuple[np.ndarray, object, float]:
    """The last frame's mask (float 0..1, image size), its foreground, and the CPU ms of the
    mask stage over the clip (this thread and rvm's: process time)."""
    analyzer = live_analyzer(model)
    t0 = time.process_time()
    for _ in range(frames):
        result = analyzer.analyze(image, {"mask", "foreground"})
    cpu = (time.process_time() - t0) * 1e3
    if result.mask is None:
        raise RuntimeError("; ".join(analyzer.broken.values()) or "no mask")
    return result.mask.astype(np.float32) * np.float32(1 / 255), result.foreground, cpu


def score_photos(root: Path, paths: list[Path], entries: list[str], frames: int, per_photo: bool) -> dict:
    parsed = [_parse(e) for e in entries]
    scores = {e: {"iou": [], "halo_light": [], "halo_dark": [], "cpu_ms": []} for e in entries}
    for n, path in enumerate(paths, 1):
        gt = cv2.imread(str(root / "masks" / "dev" / "masks" / (path.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        alpha_true = cv2.resize(gt, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        truth, band = alpha_true > 0.5, Q.outline_band(alpha_true)
        line = [f"{n:2d} {path.stem:18s}"]
        for entry, (model, changes) in zip(entries, parsed):
            with patched(changes):
                alpha, fg, cpu = still_clip(model, image, frames)
            s = scores[entry]
            s["iou"].append(Q.iou(alpha > 0.5, truth))
            s["halo_light"].append(Q.halo_score(image, alpha_true, alpha, Q.LIGHT, band, fg))
            s["halo_dark"].append(Q.halo_score(image, alpha_true, alpha, Q.DARK, band, fg))
            s["cpu_ms"].append(cpu)
            line.append(f"{s['iou'][-1]:.4f}")
        if per_photo:
            print(" ".join(line), flush=True)
    return {e: {k: statistics.mean(v) for k, v in s.items()} for e, s in scores.items()}


def greenscreen(root: Path, entries: list[str]) -> dict[str, float]:
    """The green-screen clip's mean IoU against its chroma-key masks, as livecam eval measures it."""
    clip = "lp_d0_greenscreen"
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "video"
        (video / "masks_chromakey").mkdir(parents=True)
        (video / f"{clip}.mp4").symlink_to(root / "video" / f"{clip}.mp4")
        (video / "masks_chromakey" / clip).symlink_to(root / "video" / "masks_chromakey" / clip)
        for entry in entries:
            model, changes = _parse(entry)
            with patched(changes):
                report = Q.eval_clips(Path(tmp), model)
            c = report["clips"][f"{clip}.mp4"]
            out[entry] = {k: c[k] for k in ("iou_final", "still_flicker_final", "warped_flicker_final") if k in c}
    return out


def speed(root: Path, entries: list[str], clip: str, frames: int) -> dict[str, dict[str, float]]:
    """CPU and wall ms a frame of the mask stage on a clip, the entries alternating frame by frame
    on the same decoded frames (each its own Analyzer and stream), so load changes hit all alike."""
    decoded = list(Q._frames(root / "video" / f"{clip}.mp4", frames))
    runs = []
    for entry in entries:
        model, changes = _parse(entry)
        with patched(changes):
            analyzer = live_analyzer(model)
            analyzer.analyze(decoded[0], {"mask", "foreground"})  # opened outside the timing
            analyzer.reset()
        runs.append((entry, changes, analyzer, [], []))
    for i, frame in enumerate(decoded):
        order = runs if i % 2 == 0 else runs[::-1]
        for entry, changes, analyzer, cpu, wall in order:
            with patched(changes):
                c0, w0 = time.process_time(), time.perf_counter()
                analyzer.analyze(frame, {"mask", "foreground"})
                cpu.append((time.process_time() - c0) * 1e3)
                wall.append((time.perf_counter() - w0) * 1e3)
    return {entry: {"cpu_mean": statistics.mean(cpu), "cpu_median": statistics.median(cpu),
                    "wall_mean": statistics.mean(wall), "wall_p95": float(np.percentile(wall, 95))}
            for entry, _, _, cpu, wall in runs}


def trial_cost(root: Path, clip: str, frames: int) -> dict[str, float]:
    """What the live watch costs after it has handed rvm over to the fast model. The watch is made to
    hand over at its first judged window (its budget set to 1 ms, so no trial ever says rvm fits
    again); then ``frames`` frames of the clip run through the handed-over stage, counting the trial
    runs it starts (one a WATCH_FRAMES window while the machine stays busy). A trial is one run of
    rvm's open stream on the current frame after a reset; its CPU (process time, all threads: at the
    live profile's 2 threads ONNX Runtime's second thread works too) is measured as the same calls
    made in this thread, the median of 8, since on the worker it overlaps the frames. The difference
    of whole phases (handed over against the fast model alone) is below this machine's noise."""
    from livecam.analysis import matting, rvm_live
    from livecam.analysis.person_mask import WATCH_FRAMES, PersonMask
    from livecam.types import Analysis

    decoded = list(Q._frames(root / "video" / f"{clip}.mp4", 300))
    choice = rvm_live.Choice(True, "measured here", matting.CPU_LIVE)
    settings = update(Settings(), segmentation={"model": "auto"}, runtime={"threads": THREADS, "provider": "cpu"})
    with patched({"rvm_live.auto_choice": lambda threads: choice, "rvm_live.budget_ms": lambda: 1.0}):
        watched = PersonMask(settings)
        n = 0
        while watched._spare is None:
            watched.process(decoded[n % len(decoded)], Analysis())
            n += 1
        spare = watched._spare
        started = []
        spare.start = lambda tensor, start=spare.start: started.append(start(tensor)) or started[-1]
        for i in range(n, n + frames):
            watched.process(decoded[i % len(decoded)], Analysis())
        assert watched.model == "landscape" and watched._spare is spare
        for future in started:
            future.result()
        cpu = []
        for frame in decoded[:8]:
            spare.reset()
            c0 = time.process_time()
            spare.infer(spare.to_tensor(spare.input_for(frame)))
            cpu.append((time.process_time() - c0) * 1e3)
    per_trial = statistics.median(cpu)
    return {"trials": len(started), "frames": frames, "cpu_ms_per_trial": per_trial,
            "core_share_at_30fps": per_trial * len(started) / (frames / 30 * 1000),
            "window_frames": WATCH_FRAMES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--half", choices=("tuning", "reporting", "all"), default="tuning")
    parser.add_argument("--model", nargs="+", default=["rvm"], help="model entries: rvm, landscape, rvm@matting.X=V")
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--greenscreen", action="store_true")
    parser.add_argument("--per-photo", action="store_true")
    parser.add_argument("--data", default=None)
    parser.add_argument("--trial-cost", metavar="CLIP", help="the live watch's trial runs after a hand-over: CPU")
    parser.add_argument("--speed", metavar="CLIP", help="instead of the photos: CPU ms a frame on this clip (A/B alternated)")
    args = parser.parse_args()
    root = Q.data_root(args.data)
    if "rvm" in " ".join(args.model) and Q.rvm_missing():
        print(Q.rvm_missing(), file=sys.stderr)
        return 1
    if args.trial_cost:
        load = os.getloadavg()[0]
        t = trial_cost(root, args.trial_cost, args.frames)
        print(f"{args.trial_cost}: load {load:.1f} -> {os.getloadavg()[0]:.1f}; handed over, {t['frames']} frames: "
              f"{t['trials']} trials (one a {t['window_frames']}-frame window), {t['cpu_ms_per_trial']:.0f} ms CPU "
              f"each: {100 * t['core_share_at_30fps']:.1f} % of one core at 30 fps")
        return 0
    if args.speed:
        print(f"{args.speed}: mask stage, {args.frames} frames, alternating; load {os.getloadavg()[0]:.1f}")
        for entry, t in speed(root, args.model, args.speed, args.frames).items():
            print(f"{entry:50s} CPU {t['cpu_mean']:.1f} ms mean, {t['cpu_median']:.1f} median; "
                  f"wall {t['wall_mean']:.1f} mean, {t['wall_p95']:.1f} p95")
        print(f"load after {os.getloadavg()[0]:.1f}")
        return 0
    paths = halves(root)[args.half]
    print(f"{args.half} half: {len(paths)} photos as {args.frames}-frame still clips, live path, {THREADS} threads")
    result = score_photos(root, paths, args.model, args.frames, args.per_photo)
    for entry, s in result.items():
        print(f"{entry:50s} IoU {s['iou']:.4f}  halo {s['halo_light']:.2f} / {s['halo_dark']:.2f}  "
              f"mask stage {s['cpu_ms'] / args.frames:.1f} ms CPU a frame")
    if args.greenscreen:
        for entry, g in greenscreen(root, args.model).items():
            print(f"{entry:50s} green-screen " + "  ".join(f"{k} {v:.4f}" for k, v in g.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
