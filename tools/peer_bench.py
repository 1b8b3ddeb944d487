"""LiveCam against the Linux peer (Linux-Fake-Background-Webcam) on the same frames, in one run.

    python tools/peer_bench.py --peer-python /tmp/peer/bin/python --peer-checkout /tmp/peercode \\
        --peer-model /tmp/peer/lib/python3.11/site-packages/mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite

The peer is GPL-3.0 and is never part of LiveCam: it is a checkout of its own (its ``lfbw.py``) run
by a Python that has its requirements (mediapipe 0.10.21, opencv-python, numpy, pyvirtualcam,
cmapy, configargparse, inotify_simple) in a venv of its own. Its segmenter normally downloads
``selfie_segmenter_landscape.tflite`` on first start; offline, ``--peer-model`` gives the same
network from the mediapipe wheel (``modules/selfie_segmentation/selfie_segmentation_landscape.tflite``).

Each configuration runs in a fresh worker process per side, the sides alternating over ``--rounds``
rounds, on the same decoded clip frames scaled to the size. The peer's per-frame call is
``FakeCam.compose_frame`` with its own defaults (threshold 75 %, dilate-and-blur post-processing
on, mask update speed 50 %), the mask overlay off; "blur" is its default blur background
(``--background no``), "image" a picture background (``--background file=...``, resized once, as
it does). LiveCam's is ``Pipeline.process`` on one thread with the same network (the landscape model), then the I420
conversion a virtual camera needs (timed apart: the peer hands BGR to pyvirtualcam, which converts
inside its backend). Printed: the median over rounds of each run's median wall ms per frame, the
process CPU ms per frame (all threads: MediaPipe's XNNPACK has its own), and the ratio peer / LiveCam.

``--second-tree DIR`` times a second LiveCam checkout (say ``git archive HEAD`` unpacked) in the same
rounds, its worker right after this tree's: a before/after against the peer in one run, both seeing
the same load.
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
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "video" / "lp_s18_room_landscape.mp4"
DEFAULT_BACKGROUND = ROOT.parent / "shared" / "data" / "backgrounds" / "1280x720" / "kde_Path.jpg"
WARMUP = 10


def frames(clip: str, size: tuple[int, int], count: int):
    import cv2

    cap = cv2.VideoCapture(clip)
    out = []
    while len(out) < count:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = cap.read()
            if not ok:
                raise SystemExit(f"cannot decode {clip}")
        out.append(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
    cap.release()
    return out


def _timed(step, images) -> dict:
    walls, cpus = [], []
    for i, image in enumerate(images):
        c0, t0 = time.process_time(), time.perf_counter()
        step(image)
        wall, cpu = (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3
        if i >= WARMUP:
            walls.append(wall)
            cpus.append(cpu)
    return {"wall_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus), "cpu_mean_ms": statistics.fmean(cpus)}


def peer_worker(args) -> dict:
    import itertools

    import cv2

    sys.path.insert(0, args.peer_checkout)
    os.chdir(Path(args.peer_model).parent)  # its segmenter opens the model by a relative name
    link = Path.cwd() / "selfie_segmenter_landscape.tflite"
    if not link.exists():
        raise SystemExit(f"{link} is missing: copy or link --peer-model there under that name")
    import lfbw

    w, h = args.size
    cam = lfbw.FakeCam.__new__(lfbw.FakeCam)  # its __init__ opens the real and virtual cameras
    cam.width, cam.height = w, h
    cam.threshold = lfbw.getPercentageFloat(75)
    cam.postprocess = True  # --no-postprocess is store_false: on by default
    cam.use_sigmoid = False
    cam.old_mask = None
    background = "no" if args.config == "blur" else f"file={args.background}"
    cam.filters = {
        "selfie": lfbw.create_filter_config(lfbw.process_filter_args(""), "selfie"),
        "background": lfbw.create_filter_config(lfbw.process_filter_args(background), "background"),
        "mask": lfbw.create_filter_config(lfbw.process_filter_args("no"), "mask"),
    }
    picture = None if args.config == "blur" else cam.resize_image(cv2.imread(args.background), False)
    cam.images = {"background": None if picture is None else itertools.repeat(picture)}
    cam.classifier = lfbw.ImageSegmenter(w, h)
    images = frames(args.clip, args.size, WARMUP + args.frames)
    return _timed(lambda image: cam.compose_frame(image.copy()), images)


def livecam_worker(args) -> dict:
    import cv2

    from livecam import settings as S
    from livecam.pipeline import Pipeline

    background = {"mode": "blur"} if args.config == "blur" else {"mode": "image", "image": args.background}
    # The peer's network (the landscape model), not what "auto" would pick on this machine.
    pipeline = Pipeline(S.update(S.Settings(), background=background, segmentation={"model": "landscape"},
                                 runtime={"threads": 1, "provider": "cpu"}))
    cv2.setNumThreads(1)
    images = frames(args.clip, args.size, WARMUP + args.frames)
    result = _timed(pipeline.process, images)
    out = pipeline.process(images[0])
    conv = []
    for _ in range(50):
        t0 = time.perf_counter()
        cv2.cvtColor(out, cv2.COLOR_BGR2YUV_I420)
        conv.append((time.perf_counter() - t0) * 1e3)
    pipeline.close()
    return {**result, "i420_ms": statistics.median(conv)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer-python", help="a Python with the peer's requirements")
    ap.add_argument("--peer-checkout", help="the folder holding the peer's lfbw.py")
    ap.add_argument("--peer-model", help="selfie_segmentation_landscape.tflite (see the docstring)")
    ap.add_argument("--clip", default=str(DEFAULT_CLIP))
    ap.add_argument("--background", default=str(DEFAULT_BACKGROUND))
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--configs", default="blur,image")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--second-tree", help="another LiveCam checkout, timed in the same rounds (before/after)")
    ap.add_argument("--worker", choices=("peer", "livecam"), help=argparse.SUPPRESS)
    ap.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")), help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        result = (peer_worker if args.worker == "peer" else livecam_worker)(args)
        print(json.dumps(result))
        return 0
    if not (args.peer_python and args.peer_checkout and args.peer_model):
        ap.error("--peer-python, --peer-checkout and --peer-model are needed")
    model_dir = Path(args.peer_checkout)
    link = model_dir / "selfie_segmenter_landscape.tflite"
    if not link.exists():
        link.symlink_to(Path(args.peer_model).resolve())
    runs: dict[tuple[str, str, str], list[dict]] = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sides = [("peer", args.peer_python, ROOT), ("livecam", sys.executable, ROOT)]
    if args.second_tree:
        sides.append(("second", sys.executable, Path(args.second_tree).resolve()))
    for size in args.sizes.split(","):
        for config in args.configs.split(","):
            for r in range(args.rounds):
                for side, python, tree in sides:
                    worker = "peer" if side == "peer" else "livecam"
                    command = [python, __file__, "--worker", worker, "--size", size, "--config", config,
                               "--clip", args.clip, "--background", args.background, "--frames", str(args.frames),
                               "--peer-checkout", args.peer_checkout, "--peer-model", str(link)]
                    done = subprocess.run(command, capture_output=True, text=True, env={**env, "PYTHONPATH": str(tree)})
                    if done.returncode != 0:
                        print(done.stderr[-2000:], file=sys.stderr)
                        return 1
                    runs.setdefault((size, config, side), []).append(json.loads(done.stdout.strip().splitlines()[-1]))
                    print(f"{size} {config} round {r + 1} {side}: {runs[(size, config, side)][-1]}", file=sys.stderr)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}; medians over {args.rounds} alternating rounds, ms per frame")
    print(f"{'size':>10} {'config':>6} {'tree':>7} {'peer wall':>10} {'peer cpu':>9} {'LiveCam wall':>13} {'cpu':>6} "
          f"{'+I420':>6} {'ratio':>6}")
    for size in args.sizes.split(","):
        for config in args.configs.split(","):
            peer = runs[(size, config, "peer")]
            pw, pc = (statistics.median(r[k] for r in peer) for k in ("wall_ms", "cpu_ms"))
            for side, _, _ in sides[1:]:
                ours = runs[(size, config, side)]
                lw, lc, conv = (statistics.median(r[k] for r in ours) for k in ("wall_ms", "cpu_ms", "i420_ms"))
                name = "this" if side == "livecam" else "second"
                print(f"{size:>10} {config:>6} {name:>7} {pw:10.2f} {pc:9.2f} {lw:13.2f} {lc:6.2f} {conv:6.2f} "
                      f"{pw / (lw + conv):5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
