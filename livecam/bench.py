"""``livecam bench``: per-stage milliseconds on a real clip, LiveCam against a mediapipe-style baseline.

Each configuration processes the same frames (a real clip scaled to the size, looped to the frame
count). Stages: decode (read + scale; on the capture thread in live use, so not part of the
processing total), then everything the pipeline reports (pre-processing, inference, refinement,
each effect), then output conversion (BGR → I420, what a v4l2 virtual camera consumes). The
baseline is what the mediapipe selfie-segmentation example does: the same model, the mask
upsampled in float, a full-resolution GaussianBlur and a numpy float blend.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from livecam import settings as S
from livecam.analysis.segmenter import Segmenter
from livecam.resources import background_images, demo_clip_path

MAX_FRAMES = 100_000  # per configuration: at 50 ms a frame (1080p, the slowest effects) over an hour


def effect_configs() -> dict[str, dict[str, dict[str, Any]]]:
    from livecam.effects import bench_configs

    return bench_configs()


STAGE_NAMES = {"background": "composite"}


def default_clip() -> Path:
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
    for name in ("lp_s18_room_landscape.mp4", "lp_d9_webcam_room.mp4"):
        if (data / name).is_file():
            return data / name
    return demo_clip_path()


def default_background() -> str:
    return str(background_images()[0])


def default_avatar() -> str:
    return str(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "mpl_grace_hopper.jpg")


def frames_from(clip: Path, size: tuple[int, int], count: int) -> Iterator[tuple[np.ndarray, float]]:
    """(frame, decode_ms) pairs: the clip decoded, scaled to ``size``, looped to ``count`` frames."""
    # One decoding thread: with FFmpeg's frame threads the next frames are decoded in the background
    # while the pipeline runs, and that CPU landed in the timed frame's all-threads CPU (about +1.2 ms
    # a 720p frame), the more so the cheaper the frame.
    cap = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not cap.isOpened():
        cap = cv2.VideoCapture(str(clip))
    n = 0
    try:
        while n < count:
            t0 = time.perf_counter()
            ok, frame = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = cap.read()
                if not ok:
                    raise RuntimeError(f"cannot decode {clip}")
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
            yield frame, (time.perf_counter() - t0) * 1e3
            n += 1
    finally:
        cap.release()


def _summary(rows: list[dict[str, float]], resolution: str, effect: str, provider: str, threads: int) -> dict:
    totals = [r["total"] for r in rows]
    # Stage means, not medians: a stage that runs on one frame in two (the fast model live) or three
    # (rvm live on a CPU) has a median of either its full cost or nothing.
    stages = {k: statistics.fmean(r.get(k, 0.0) for r in rows) for k in rows[0] if k not in ("total", "cpu", "cpu_process")}
    return {
        "resolution": resolution,
        "effect": effect,
        "median_ms": round(statistics.median(totals), 3),
        "p95_ms": round(float(np.percentile(totals, 95)), 3),
        "mean_ms": round(statistics.fmean(totals), 3),
        # From the mean: a mask that runs its network on one frame in three (live rvm on a CPU) has
        # a median that is only the cheap frames.
        "fps": round(1000.0 / statistics.fmean(totals), 1),
        # CPU time of the processing thread: steadier than wall time on a busy shared machine.
        "cpu_median_ms": round(statistics.median(r["cpu"] for r in rows), 3),
        "cpu_mean_ms": round(statistics.fmean(r["cpu"] for r in rows), 3),
        # Every thread's CPU, median and mean: the median is what tools/ab_interleaved.py reports (the model
        # runs happen on their sessions' own threads, which the processing thread's column never sees).
        **({"cpu_process_median_ms": round(statistics.median(r["cpu_process"] for r in rows), 3),
            "cpu_process_mean_ms": round(statistics.fmean(r["cpu_process"] for r in rows), 3)}
           if "cpu_process" in rows[0] else {}),
        # Wall time on a shared machine includes waiting for a core (each model run's thread hop waits
        # twice): at load 3-4 on 2 cores the "all" row's median wall was 13-14 ms for 10-11 ms of CPU.
        "load1": round(os.getloadavg()[0], 2),
        "stages": {k: round(v, 3) for k, v in stages.items()},
        "provider": provider,
        "threads": threads,
        "frames": len(rows),
    }


def bench_livecam(clip: Path, size: tuple[int, int], effect: str, frames: int, provider: str, threads: int,
                  model: str | None = None) -> dict:
    from livecam.pipeline import Pipeline

    settings = S.update(S.Settings(), **_changes(effect, provider, threads, model))
    pipeline = Pipeline(settings)
    if pipeline.problems():
        raise RuntimeError("; ".join(pipeline.problems()))
    rows = []
    for i, (frame, decode_ms) in enumerate(frames_from(clip, size, frames + 10)):
        c0, p0 = time.thread_time(), time.process_time()
        out = pipeline.process(frame)
        t0 = time.perf_counter()
        cv2.cvtColor(out, cv2.COLOR_BGR2YUV_I420)
        conv = (time.perf_counter() - t0) * 1e3
        cpu = (time.thread_time() - c0) * 1e3
        # Every thread of the process: ONNX Runtime's own pool and rvm's worker (its run for a later
        # frame lands in whichever frame's window it overlaps, so only the mean of this is meaningful).
        cpu_process = (time.process_time() - p0) * 1e3
        if i == 0 and pipeline.analyzer.broken:  # a model that opens on the first frame and cannot run
            pipeline.close()
            raise RuntimeError("; ".join(pipeline.analyzer.broken.values()))
        if i < 10:  # warm-up: first inferences allocate
            continue
        row = {STAGE_NAMES.get(k, k): v for k, v in pipeline.last_timings.items()}
        row["output_conversion"] = conv
        row["total"] = row.get("total", 0.0) + conv
        row["decode"] = decode_ms
        row["cpu"] = cpu
        row["cpu_process"] = cpu_process
        rows.append(row)
    providers = sorted(set(pipeline.providers().values())) or ["none"]
    profile = pipeline.analyzer.profile  # how the models ran (rvm's live profile sets its own threads)
    pipeline.close()
    summary = _summary(rows, f"{size[0]}x{size[1]}", effect, ",".join(providers), threads)
    return {**summary, "profile": profile, "auto_pipelining": auto_pipelining(summary["mean_ms"])}


def auto_pipelining(one_at_a_time_ms: float, fps: float = 30.0) -> bool:
    """What ``runtime.pipelining`` "auto" starts out choosing for a camera at ``fps`` on this
    machine, for processing that takes ``one_at_a_time_ms`` a frame (live_runner.AutoPipelining)."""
    from livecam.live_runner import AUTO_ON, usable_cores

    return usable_cores() >= 2 and one_at_a_time_ms > AUTO_ON * 1000.0 / fps


def bench_pipelined(clip: Path, size: tuple[int, int], effect: str, frames: int, provider: str, threads: int,
                    model: str | None = None) -> dict | None:
    """The live loop's pipelining on the same frames (frame n+1 analysed while frame n composites),
    with a camera that always has the next frame ready: ``interval_ms``, the wall time per frame
    (what bounds the frame rate), and ``latency_ms``, from the moment a frame is taken to the
    moment it goes out (each frame waits for the one before it). None with fewer than 2 cores."""
    from livecam.capture import Frame
    from livecam.live_runner import LiveRunner, usable_cores
    from livecam.pipeline import Pipeline

    if usable_cores() < 2:
        return None
    changes = _changes(effect, provider, threads, model)
    pipeline = Pipeline(S.update(S.Settings(), **changes))
    images = [f for f, _ in frames_from(clip, size, min(frames, 120))]
    total = frames + 10

    class Camera:
        def latest(self, after=-1, timeout=0.5):
            i = min(after + 1, total - 1)
            return Frame(images[i % len(images)], i, time.perf_counter())

    class Sender:
        def __init__(self) -> None:
            self.sent: list[tuple[float, float]] = []

        def submit(self, image, t):
            cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)  # what a virtual camera needs, as in the serial rows
            self.sent.append((time.perf_counter(), t))

    sender = Sender()
    runner = LiveRunner(Camera(), pipeline, sender, frames=total, pipelining=True).start()
    runner.wait()
    pipeline.close()
    sent = sender.sent[10:]  # warm-up
    gaps = [(b[0] - a[0]) * 1e3 for a, b in zip(sent, sent[1:])]
    return {"interval_ms": round(statistics.median(gaps), 3), "latency_ms": round(statistics.median((d - t) * 1e3 for d, t in sent), 3),
            "overlapped": runner.overlapped, "frames": len(sent)}


def _changes(effect: str, provider: str, threads: int, model: str | None = None) -> dict:
    """The settings a configuration runs with; ``model``: the segmentation model, when not the one
    "auto" picks on this machine (rvm where it is fetched; the peer is timed against the landscape
    one), for configurations that do not name their own."""
    changes = {k: dict(v) for k, v in effect_configs()[effect].items()}
    if model:
        changes.setdefault("segmentation", {}).setdefault("model", model)
    if changes.get("background", {}).get("mode") == "image":
        changes["background"]["image"] = default_background()
    if changes.get("avatar", {}).get("mode", "off") != "off":
        changes["avatar"]["photo"] = default_avatar()
    changes["runtime"] = {"provider": provider, "threads": threads}
    return changes


def bench_baseline(clip: Path, size: tuple[int, int], effect: str, frames: int, provider: str, threads: int) -> dict:
    seg = Segmenter("landscape", provider, threads)
    background = cv2.imread(default_background()) if effect == "image" else None
    if background is not None:
        background = cv2.resize(background, size).astype(np.float32)
    rows = []
    for i, (frame, decode_ms) in enumerate(frames_from(clip, size, frames + 10)):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        tensor = seg.preprocess(frame)
        t1 = time.perf_counter()
        raw = seg.infer(tensor)
        t2 = time.perf_counter()
        mask = cv2.resize(raw, size)[..., None]
        t3 = time.perf_counter()
        bg = cv2.GaussianBlur(frame, (55, 55), 0).astype(np.float32) if background is None else background
        out = (frame.astype(np.float32) * mask + bg * (1.0 - mask)).astype(np.uint8)
        t4 = time.perf_counter()
        cv2.cvtColor(out, cv2.COLOR_BGR2YUV_I420)
        t5 = time.perf_counter()
        if i < 10:
            continue
        ms = lambda a, b: (b - a) * 1e3  # noqa: E731
        rows.append({
            "preprocess": ms(t0, t1), "inference": ms(t1, t2), "refine": ms(t2, t3),
            "composite": ms(t3, t4), "output_conversion": ms(t4, t5), "decode": decode_ms, "total": ms(t0, t5),
            "cpu": (time.thread_time() - c0) * 1e3,
        })
    return _summary(rows, f"{size[0]}x{size[1]}", effect, seg.provider, threads)


def _sizes(text: str) -> list[tuple[int, int]]:
    """--sizes as (w, h) pairs, each within what a capture may be; else one sentence."""
    import dataclasses

    limits = {f.name: f.metadata["livecam"].range for f in dataclasses.fields(S.CaptureSettings)}
    sizes = []
    for item in text.split(","):
        try:
            w, h = (int(v) for v in item.strip().lower().split("x"))
        except ValueError:
            raise S.SettingsError(f"--sizes must be a comma list like 1280x720,1920x1080, not {text!r}.") from None
        for side, value in (("width", w), ("height", h)):
            lo, hi = limits[side]
            if not lo <= value <= hi:
                raise S.SettingsError(f"--sizes: a {side} must be between {lo} and {hi}, not {value} (in {item.strip()!r}).")
        if w % 2 or h % 2:  # the output conversion's I420 has one colour sample per 2x2 pixels (cv2.error)
            raise S.SettingsError(f"--sizes: each side must be an even number of pixels, not {item.strip()!r}.")
        sizes.append((w, h))
    return sizes


def _checked(args: argparse.Namespace) -> tuple[list[tuple[int, int]], list[str]]:
    # Checked before any run: a bad value used to be a traceback (an empty list of frame rows, a
    # 0x0 resize) or a report of nothing that exited 0; a count of 10**20 ran until stopped.
    if args.frames < 1:
        raise S.SettingsError(f"--frames must be 1 or more, not {args.frames}.")
    if args.frames > MAX_FRAMES:
        raise S.SettingsError(f"--frames must be at most {MAX_FRAMES} per configuration, not {args.frames}.")
    effects = [e.strip() for e in args.effects.split(",") if e.strip()]
    if not effects:
        raise S.SettingsError(f"--effects names no effect ({args.effects!r}); give a comma list such as blur,image.")
    return _sizes(args.sizes), effects


def run(args: argparse.Namespace) -> dict:
    sizes, effects = _checked(args)
    cv2.setNumThreads(max(args.threads, 0))
    model = getattr(args, "model", None)  # the CLI's --model, where it has one
    clip = Path(args.clip) if args.clip else default_clip()
    from livecam.capture import VideoReader

    # Opened once by the reader render uses: the decoder below waited for good on a pipe named as the
    # clip (SIGTERM could not stop it); a folder, a device or a damaged file is one sentence here.
    with VideoReader(clip):
        pass
    configs = effect_configs()
    unknown = [e for e in effects if e not in configs]
    if unknown:
        raise SystemExit(f"livecam bench: unknown effect {unknown[0]!r}; choose from {', '.join(configs)}.")
    results, baseline, skipped = [], [], []
    rows = len(sizes) * len(effects)
    # The baseline rows are runs too: announce every run this will really make.
    baselines = 0 if args.no_baseline else len(sizes) * sum(e in ("blur", "image") for e in effects)
    extra = f" and {baselines} mediapipe-style baseline run(s)" if baselines else ""
    from livecam.live_runner import usable_cores

    pipelined = getattr(args, "pipelined", False) and usable_cores() >= 2
    piped = rows if pipelined else 0  # each configuration once more, pipelined
    extra += f" and {piped} pipelined run(s)" if piped else ""
    print(f"bench: {rows} configuration(s){extra}, {rows + baselines + piped} runs x {args.frames} frames of {clip.name}; "
          "each takes a few seconds.", file=sys.stderr, flush=True)
    for size in sizes:
        for effect in effects:
            print(f"bench: {size[0]}x{size[1]} {effect} …", file=sys.stderr, flush=True)
            try:
                results.append(bench_livecam(clip, size, effect, args.frames, args.provider, args.threads, model))
                if pipelined:
                    print(f"bench: {size[0]}x{size[1]} {effect}, pipelined …", file=sys.stderr, flush=True)
                    results[-1]["pipelined"] = bench_pipelined(clip, size, effect, args.frames, args.provider,
                                                               args.threads, model)
            except (ImportError, RuntimeError, ValueError) as exc:
                skipped.append(f"{effect} @ {size[0]}x{size[1]}: {exc}")
                continue
            if not args.no_baseline and effect in ("blur", "image"):
                print(f"bench: {size[0]}x{size[1]} {effect}, mediapipe-style baseline …", file=sys.stderr, flush=True)
                baseline.append(bench_baseline(clip, size, effect, args.frames, args.provider, args.threads))
    return {"clip": str(clip), "frames": args.frames, "results": results, "baseline": baseline, "skipped": skipped}


def print_table(report: dict) -> None:
    print(f"clip: {report['clip']}  frames per row: {report['frames']}  (ms per frame; median/p95 wall, cpu = "
          "median / mean CPU time of the processing thread; all threads = median / mean CPU time of the whole "
          "process, the model runs' threads included; load = 1-minute load average at the row's end, on "
          f"{os.cpu_count()} cores: wall above all threads' CPU is time spent waiting for a core; stages: mean wall ms)")
    base = {(b["resolution"], b["effect"]): b for b in report["baseline"]}
    from livecam.effects import REGISTRY

    stage_order = ["decode", "preprocess", "inference", "refine", "faces",
                   *(STAGE_NAMES.get(spec.name, spec.name) for spec in REGISTRY), "output_conversion"]
    for group, rows in (("LiveCam", report["results"]), ("baseline (mediapipe-style)", report["baseline"])):
        if not rows:
            continue  # --no-baseline: no heading over nothing
        print(f"\n{group}")
        print(f"{'size':>10} {'effect':>9} {'median':>8} {'p95':>8} {'cpu':>15} {'all threads':>15} {'load':>5} "
              f"{'fps':>6}  provider/threads  stages (mean ms)")
        for r in rows:
            stages = " ".join(f"{k}={r['stages'][k]:.2f}" for k in stage_order if k in r["stages"])
            prov = r["provider"].replace("ExecutionProvider", "")
            print(f"{r['resolution']:>10} {r['effect']:>9} {r['median_ms']:8.2f} {r['p95_ms']:8.2f} "
                  f"{r['cpu_median_ms']:7.2f}/{r.get('cpu_mean_ms', r['cpu_median_ms']):7.2f} "
                  f"{r.get('cpu_process_median_ms', float('nan')):7.2f}/{r.get('cpu_process_mean_ms', float('nan')):7.2f} "
                  f"{r.get('load1', float('nan')):5.1f} {r['fps']:6.1f}  "
                  f"{prov}/{r['threads']}  {stages}" + (f"  [{r['profile']}]" if r.get("profile") else ""))
    piped = [r for r in report["results"] if r.get("pipelined")]
    if piped:
        print("\npipelined (live loop, 2 threads: frame n+1 analysed while frame n composites; "
              "interval = wall ms per frame, latency = frame taken to frame out)")
        for r in piped:
            p = r["pipelined"]
            print(f"{r['resolution']:>10} {r['effect']:>9}  interval {p['interval_ms']:6.2f} ms "
                  f"(one at a time {r['median_ms']:.2f}), latency {p['latency_ms']:6.2f} ms")
    auto = ", ".join(f"{r['resolution']} {r['effect']}" for r in report["results"] if r.get("auto_pipelining"))
    print('\npipelining "auto" with a 30 fps camera here: ' + (f"on for {auto}" if auto else
          "off for every row (one frame at a time takes less than 0.8 of the 33 ms frame interval, "
          "or there are fewer than 2 cores)"))
    if base:
        print("\nspeed-up over baseline (median total, same run)")
        for r in report["results"]:
            b = base.get((r["resolution"], r["effect"]))
            if b:
                print(f"{r['resolution']:>10} {r['effect']:>9}  {b['median_ms'] / r['median_ms']:.2f}x wall, "
                      f"{b['cpu_median_ms'] / r['cpu_median_ms']:.2f}x cpu")
    for s in report["skipped"]:
        print(f"skipped: {s}")


def main(args: argparse.Namespace) -> int:
    from livecam.capture import CaptureError

    try:
        report = run(args)
    except CaptureError as exc:
        print(f"livecam bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    if not report["results"]:
        # Every row skipped (a clip that does not decode, a provider that is not there): the
        # reasons are above; a script must not read this as a measurement.
        print("livecam bench: nothing was measured; each row's reason is above.", file=sys.stderr)
        return 1
    return 0
