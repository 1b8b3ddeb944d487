"""Evaluate the avatar effects on the shared clips: identity, expression, blinks, speed, contact sheet.

    .venv/bin/python tools/eval_avatar.py [--quick] [--json] [--baseline]

Identity uses dlib's face-recognition model (evaluation only; ``pip install dlib-bin
face-recognition-models``): in each sampled frame where dlib finds a face in the output, the output
face counts as swapped when its embedding is closer to the source photo's than to the wearer's in
the input frame (every sampled frame counts, including the first ones while the swap fades in).
Expression uses dlib's 68-point predictor on input and output (independent of the mesh LiveCam warps
with), both fitted in the input's face box: the mouth-opening ratio (inner-lip gap / mouth width)
and the eye aspect ratio; a blink is an eye ratio under 0.75 of the clip's median. The photo
avatar's mouth is measured the same way in the portrait's own detected box. Speed is the effect
alone (``apply``) on 1280x720 frames with one thread, the face stage timed separately, as wall and
thread-CPU medians with the load average (the machine is shared). ``--baseline`` also scores the crude peer method (68-point Delaunay warp +
Poisson blending with ``cv2.seamlessClone``) on the same frames.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livecam.analysis import face_regions as regions
from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import avatar as av
from livecam.effects import mesh_warp as mw
from livecam.perf import tune_allocator
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Analysis


def data_dir() -> Path:
    return Path(os.environ.get("LIVECAM_DATA") or ROOT.parent / "shared" / "data")


# Source photos: frontal, one face, identities that appear in none of the clips.
SOURCES = ["fr_obama.jpg", "fr_biden2.jpg", "dl_tom_cruise.jpg", "mpl_grace_hopper.jpg", "mp_sergey.png",
           "lp_s12_einstein.jpg", "fr_alex_lacamoire2.jpg", "sk_astronaut.png"]
TALKING = ["lp_d12_talking_indoor.mp4", "lp_d20_talking_dim.mp4", "st_WDA_AlexandriaOcasioCortez_000.mp4"]
BLINKY = ["lp_d0_greenscreen.mp4", "lp_d3_expressions.mp4", "lp_d18_frontal_plain.mp4"]
BLINK = 0.75  # eye aspect ratio below this share of the clip's median = eyes closed
SHEET_FRAME = 40  # the frame of each clip shown on the contact sheet (a multiple of --every)


class Dlib:
    """dlib's detector, 5- and 68-point predictors and the ResNet face embedding."""

    def __init__(self) -> None:
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError:
            sys.exit("This evaluation needs dlib: .venv/bin/pip install dlib-bin face-recognition-models")
        self.detector = dlib.get_frontal_face_detector()
        self.sp5 = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.sp68 = dlib.shape_predictor(frm.pose_predictor_model_location())
        self.net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self.dlib = dlib

    def face(self, bgr: np.ndarray, near: np.ndarray | None = None):
        """The dlib rectangle of the face (the one nearest ``near``'s centre if several), or None."""
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        upsample = 1 if max(bgr.shape[:2]) <= 640 else 0
        rects = list(self.detector(rgb, upsample))
        if not rects:
            return rgb, None
        if near is not None and len(rects) > 1:
            c = (near[:2] + near[2:]) / 2
            rects.sort(key=lambda r: (r.center().x - c[0]) ** 2 + (r.center().y - c[1]) ** 2)
        return rgb, rects[0]

    def embedding(self, rgb: np.ndarray, rect) -> np.ndarray:
        return np.array(self.net.compute_face_descriptor(rgb, self.sp5(rgb, rect)))

    def points68(self, rgb: np.ndarray, rect) -> np.ndarray:
        shape = self.sp68(rgb, rect)
        return np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], np.float64)


def mouth_ratio68(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[62] - p[66]) / max(np.linalg.norm(p[48] - p[54]), 1e-6))


def eye_ratio68(p: np.ndarray) -> float:
    def ear(e):
        return (np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) / (2 * max(np.linalg.norm(e[0] - e[3]), 1e-6))
    return float((ear(p[36:42]) + ear(p[42:48])) / 2)


def frames(path: Path, limit: int):
    cap = cv2.VideoCapture(str(path))
    n = 0
    try:
        while n < limit:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
            n += 1
    finally:
        cap.release()


class Baseline:
    """The crude peer method: the photo's 68 points Delaunay-warped onto the wearer's 68, convex hull
    pasted with Poisson blending (cv2.seamlessClone, NORMAL_CLONE)."""

    def __init__(self, photo) -> None:
        self.image = photo.image
        self.src = regions.to_68(photo.landmarks)[:, :2]
        self.triangles = mw.triangulate(self.src)

    def render(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        dst = regions.to_68(landmarks)[:, :2]
        h, w = image.shape[:2]
        grid = mw.Grid.around(dst, 0.05, (w, h), 1)
        if grid is None:
            return image
        coarse = mw.coarse_map(self.src, dst, self.triangles, grid)
        warped = cv2.remap(self.image, coarse, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        canvas = image.copy()
        rows, cols = grid.slices
        canvas[rows, cols] = warped
        mask = np.zeros((h, w), np.uint8)
        hull = cv2.convexHull(np.round(dst).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255)
        x, y, bw, bh = cv2.boundingRect(hull)
        centre = (x + bw // 2, y + bh // 2)
        try:
            return cv2.seamlessClone(canvas, image, mask, centre, cv2.NORMAL_CLONE)
        except cv2.error:
            return image


def identity_and_expression(args, dl: Dlib) -> dict:
    video = data_dir() / "video"
    faces_dir = data_dir() / "faces" / "single"
    clips = sorted(p.name for p in video.glob("*.mp4"))
    per_pair = []
    totals = {"livecam": [0, 0], "baseline": [0, 0]}
    mouth_rows: dict[str, list[tuple[float, float]]] = {}
    animate_rows: dict[str, list[tuple[float, float]]] = {}
    eye_rows: dict[str, list[tuple[float, float]]] = {}
    steady = [0.0, 0.0]  # summed frame-to-frame change in the face box: input, output
    sheet_rows = []
    source_cache = {}
    for ci, clip in enumerate(clips):
        sources = [SOURCES[(ci * args.sources_per_clip + k) % len(SOURCES)] for k in range(args.sources_per_clip)]
        for sname in sources:
            if sname not in source_cache:
                photo = load_avatar_photo(faces_dir / sname, store=False)
                rgb, rect = dl.face(photo.image)
                source_cache[sname] = (photo, dl.embedding(rgb, rect))
            photo, src_emb = source_cache[sname]
            swap = av.FaceSwap(photo, keep_eyes_mouth=True)
            baseline = Baseline(photo) if args.baseline else None
            tracker = FaceTracker(FaceSettings(), RuntimeSettings())
            counts = {"livecam": [0, 0], "baseline": [0, 0]}
            expressive = clip in TALKING or clip in BLINKY
            animate = av.PhotoAvatar(photo) if clip in TALKING and sname == sources[0] else None
            previous = None  # (input, output) crops of the last frame, for the steadiness measure
            for i, frame in enumerate(frames(video / clip, args.max_frames)):
                faces = tracker.process(frame)
                out = swap.apply(frame, Analysis(faces=faces))
                animated = animate.apply(frame, Analysis(faces=faces)) if animate is not None else None
                if faces and sname == sources[0]:
                    x0, y0, x1, y1 = np.clip(faces[0].box.astype(int), 0, None)
                    now = frame[y0:y1, x0:x1].astype(np.int16), out[y0:y1, x0:x1].astype(np.int16)
                    if previous is not None and previous[0].shape == now[0].shape:
                        steady[0] += float(np.abs(now[0] - previous[0]).mean())
                        steady[1] += float(np.abs(now[1] - previous[1]).mean())
                    previous = now
                else:
                    previous = None
                want_id = i % args.every == 0
                want_expr = expressive and sname == sources[0] and i % 2 == 0
                if not faces or not (want_id or want_expr):
                    continue
                rgb_in, rect_in = dl.face(frame, faces[0].box)
                rgb_out, rect_out = dl.face(out, faces[0].box)
                if rect_in is None or rect_out is None:
                    continue
                if want_expr:
                    # The output's 68 points are fitted in the input's face box: a swapped face makes
                    # dlib's detector pick a different box, and the box alone moves its eye points.
                    p_in, p_out = dl.points68(rgb_in, rect_in), dl.points68(rgb_out, rect_in)
                    mouth_rows.setdefault(clip, []).append((mouth_ratio68(p_in), mouth_ratio68(p_out)))
                    eye_rows.setdefault(clip, []).append((eye_ratio68(p_in), eye_ratio68(p_out)))
                    if animated is not None:
                        rgb_a, rect_a = dl.face(animated)
                        if rect_a is not None:
                            p_a = dl.points68(rgb_a, rect_a)
                            animate_rows.setdefault(clip, []).append((mouth_ratio68(p_in), mouth_ratio68(p_a)))
                if not want_id:
                    continue
                wearer_emb = dl.embedding(rgb_in, rect_in)
                results = {"livecam": (rgb_out, rect_out)}
                if baseline is not None:
                    base = baseline.render(frame, faces[0].landmarks)
                    rgb_b, rect_b = dl.face(base, faces[0].box)
                    if rect_b is not None:
                        results["baseline"] = (rgb_b, rect_b)
                for name, (rgb, rect) in results.items():
                    e = dl.embedding(rgb, rect)
                    closer = np.linalg.norm(e - src_emb) < np.linalg.norm(e - wearer_emb)
                    counts[name][0] += int(closer)
                    counts[name][1] += 1
                if len(sheet_rows) < args.sheet_rows and i == SHEET_FRAME and sname == sources[0]:
                    sheet_rows.append((clip, sname, i, frame.copy(), out.copy()))
            row = {"clip": clip, "source": sname,
                   "swapped": counts["livecam"][0], "frames": counts["livecam"][1]}
            if baseline is not None:
                row.update(baseline_swapped=counts["baseline"][0], baseline_frames=counts["baseline"][1])
            per_pair.append(row)
            for k, total in totals.items():
                total[0] += counts[k][0]
                total[1] += counts[k][1]
            if not args.json:
                extra = f"  baseline {counts['baseline'][0]}/{counts['baseline'][1]}" if baseline else ""
                print(f"{clip:42s} {sname:24s} swapped {counts['livecam'][0]}/{counts['livecam'][1]}{extra}", flush=True)

    def corr(rows):
        a = np.array(rows)
        if len(a) < 3 or a[:, 0].std() < 1e-9 or a[:, 1].std() < 1e-9:
            return None
        return round(float(np.corrcoef(a[:, 0], a[:, 1])[0, 1]), 3)

    mouth = {clip: corr(rows) for clip, rows in mouth_rows.items()}
    animate_mouth = {clip: corr(rows) for clip, rows in animate_rows.items()}
    eyes = {clip: corr(rows) for clip, rows in eye_rows.items()}
    blinks = {}
    for clip, rows in eye_rows.items():
        a = np.array(rows)
        closed_in = a[:, 0] < BLINK * np.median(a[:, 0])
        closed_out = a[:, 1] < BLINK * np.median(a[:, 1])
        blinks[clip] = {"wearer_closed": int(closed_in.sum()), "output_closed_too": int((closed_in & closed_out).sum())}
    result = {
        "identity": {
            "swapped_share": round(totals["livecam"][0] / max(totals["livecam"][1], 1), 4),
            "frames": totals["livecam"][1],
            "pairs": per_pair,
        },
        "mouth_correlation": {c: mouth[c] for c in sorted(mouth) if c in TALKING},
        "mouth_correlation_other": {c: mouth[c] for c in sorted(mouth) if c not in TALKING},
        "animate_mouth_correlation": animate_mouth,
        "eye_correlation": eyes,
        # Output flicker against the input's own motion in the face box: 1.0 = no added flicker.
        "temporal_change_ratio": round(steady[1] / max(steady[0], 1e-9), 3),
        "blinks": blinks,
    }
    if args.baseline:
        result["identity"]["baseline_swapped_share"] = round(totals["baseline"][0] / max(totals["baseline"][1], 1), 4)
        result["identity"]["baseline_frames"] = totals["baseline"][1]
    result["_sheet"] = sheet_rows
    return result


def speed(args) -> dict:
    """Median ms of the swap and the photo avatar alone at 1280x720, one thread; the face stage too."""
    clip = data_dir() / "video" / "lp_s18_room_landscape.mp4"
    photo = load_avatar_photo(ROOT / "tests" / "fixtures" / "mpl_grace_hopper.jpg", store=False)
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    effects = {"swap": av.FaceSwap(photo), "animate": av.PhotoAvatar(photo)}
    wall: dict[str, list[float]] = {k: [] for k in ["faces", *effects]}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    for i, frame in enumerate(frames(clip, args.speed_frames + 10)):
        frame = cv2.resize(frame, (1280, 720))
        t0, c0 = time.perf_counter(), time.thread_time()
        faces = tracker.process(frame)
        t1, c1 = time.perf_counter(), time.thread_time()
        if i >= 10:
            wall["faces"].append((t1 - t0) * 1e3)
            cpu["faces"].append((c1 - c0) * 1e3)
        for name, effect in effects.items():
            analysis = Analysis(faces=faces)
            t0, c0 = time.perf_counter(), time.thread_time()
            effect.apply(frame, analysis)
            t1, c1 = time.perf_counter(), time.thread_time()
            if i >= 10:
                wall[name].append((t1 - t0) * 1e3)
                cpu[name].append((c1 - c0) * 1e3)
    return {
        "resolution": "1280x720",
        "threads": 1,
        "frames": len(wall["swap"]),
        "median_ms": {k: round(statistics.median(v), 2) for k, v in wall.items()},
        "median_cpu_ms": {k: round(statistics.median(v), 2) for k, v in cpu.items()},
        "p95_ms": {k: round(float(np.percentile(v, 95)), 2) for k, v in wall.items()},
        "load_average": round(os.getloadavg()[0], 2),
    }


def _label(tile: np.ndarray, text: str) -> None:
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(tile, (0, 0), (tw + 10, th + base + 8), (0, 0, 0), -1)
    cv2.putText(tile, text, (5, th + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def contact_sheet(rows, out_dir: Path) -> Path | None:
    """wearer | swap | photo avatar for a few frames, each 256 px tall, labelled. The photo avatar is
    driven through the clip from its first frame (the neutral pose) up to the shown frame."""
    if not rows:
        return None
    tiles = []
    for clip, sname, index, frame, swapped in rows:
        photo = load_avatar_photo(data_dir() / "faces" / "single" / sname, store=False)
        tracker = FaceTracker(FaceSettings(), RuntimeSettings())
        avatar = av.PhotoAvatar(photo)
        animated = frame
        for f in frames(data_dir() / "video" / clip, index + 1):
            animated = avatar.apply(f, Analysis(faces=tracker.process(f)))
        row = []
        for label, img in (("wearer", frame), (f"swap: {sname}", swapped), (f"photo avatar: {sname}", animated)):
            h = 256
            tile = cv2.resize(img, (int(img.shape[1] * h / img.shape[0]), h), interpolation=cv2.INTER_AREA)
            _label(tile, label)
            row.append(tile)
        tiles.append(np.hstack(row))
    width = max(t.shape[1] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, 0, 0, width - t.shape[1], cv2.BORDER_CONSTANT) for t in tiles]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "contact_sheet.png"
    cv2.imwrite(str(path), np.vstack(tiles))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames and one source per clip")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--baseline", action="store_true", help="also score the 68-point warp + Poisson baseline")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--speed-only", action="store_true", help="only the 720p timing (no dlib needed)")
    ap.add_argument("--out", default=str(ROOT / "out" / "avatar"))
    args = ap.parse_args(argv)
    args.every = 10 if args.quick else 8
    args.max_frames = 100 if args.quick else 200
    args.sources_per_clip = 1 if args.quick else 2
    args.sheet_rows = 6
    args.speed_frames = 60 if args.quick else 150
    if not (data_dir() / "video").is_dir():
        sys.exit(f"Shared test data not found at {data_dir()}; set LIVECAM_DATA.")
    cv2.setNumThreads(1)
    tune_allocator()
    result: dict = {}
    if not args.speed_only:
        result = identity_and_expression(args, Dlib())
        sheet = contact_sheet(result.pop("_sheet"), Path(args.out))
        result["contact_sheet"] = str(sheet) if sheet else None
    if not args.no_speed:
        result["speed"] = speed(args)
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.speed_only:
        sp = result["speed"]
        print("speed at 1280x720, 1 thread, median ms:", sp["median_ms"], "cpu:", sp["median_cpu_ms"],
              "p95:", sp["p95_ms"], "load", sp["load_average"])
    else:
        ident = result["identity"]
        print(f"identity: output closer to the photo than to the wearer in {ident['swapped_share']:.1%} "
              f"of {ident['frames']} frames")
        if "baseline_swapped_share" in ident:
            print(f"baseline (68-point warp + Poisson): {ident['baseline_swapped_share']:.1%} "
                  f"of {ident['baseline_frames']} frames")
        print("mouth-opening correlation (talking clips):", result["mouth_correlation"])
        print("mouth-opening correlation (other clips):", result["mouth_correlation_other"])
        print("photo avatar mouth-opening correlation (talking clips):", result["animate_mouth_correlation"])
        print("eye-opening correlation:", result["eye_correlation"])
        print("blinks (wearer closed / output closed too):", result["blinks"])
        print("frame-to-frame change in the face box, output over input:", result["temporal_change_ratio"])
        if "speed" in result:
            print("speed at 1280x720, 1 thread, median ms:", result["speed"]["median_ms"],
                  "cpu:", result["speed"]["median_cpu_ms"], "load", result["speed"]["load_average"])
        print("contact sheet:", result["contact_sheet"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
