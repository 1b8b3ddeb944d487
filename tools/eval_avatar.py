"""Evaluate the avatar effects on the shared clips: self-reenactment, identity, seam, expression, speed.

    .venv/bin/python tools/eval_avatar.py [--quick] [--json] [--no-speed] [--self-only] [--sheets DIR]
    .venv/bin/python tools/eval_avatar.py --clips --id-clips lp_s32_outdoor_landscape.mp4 --sources fr_obama.jpg
    .venv/bin/python tools/eval_avatar.py --code /path/to/older/checkout   # the same scores for older code

dlib (identity and expression only) can live in a scratch venv: ``python -m venv /tmp/dl &&
/tmp/dl/bin/pip install dlib-bin face-recognition-models`` then ``PYTHONPATH=/tmp/dl/lib/python3.11/site-packages``.

**Self-reenactment** (the way face-reenactment papers score avatars): on every talking clip the
avatar photo is the clip's own frame 0, so a perfect avatar reproduces the input. Output and input
are compared on the face box (the 468 mesh points' box grown by 30 %, 15 % each side) with SSIM on
grey (Gaussian window, sigma 1.5) and PSNR on colour, background and badge off, every frame from
frame 10 on (the swap's fade-in is over by then). The still-paste baseline shows frame 0 unchanged.

**Identity** uses dlib's face-recognition model (evaluation only; ``pip install dlib-bin
face-recognition-models``): a different person's photo is swapped onto every clip, and in each
sampled frame where dlib finds the output's face, it counts as swapped when its embedding is closer
to the photo's than to the wearer's in the input.

**Seam**: on the same swaps, the colour difference (CIE76 Delta E in Lab) between the altered face's
border band (8-16 % of the face width inside the mesh outline) and the wearer's skin just outside
it (2-8 % outside), per 16 sectors around the face, in the sectors where the wearer's own skin runs
on across the outline (input Delta E between the two bands under 6). The input's own value there is
printed beside it.

**Expression** uses dlib's 68-point predictor on input and output (independent of the mesh LiveCam
warps with), fitted in the input's face box: mouth-opening and eye-ratio correlations, blinks.

**Contact sheets**, one per talking clip (``--sheets``, default docs/avatar, not committed: the
clips may not be redistributed): four frames (early, widest mouth, largest head move, last) as
wearer | swap and photo avatar with another person's photo | swap and photo avatar with the clip's
own frame 0.

**Speed** is the effect alone (``apply``) on 1280x720 frames with one thread, the face stage timed
separately, as wall and thread-CPU medians with the load average (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _code_root(argv: list[str] | None) -> Path:
    """``--code DIR`` scores another checkout (e.g. an older commit) with this same tool."""
    args = sys.argv[1:] if argv is None else argv
    if "--code" in args:
        return Path(args[args.index("--code") + 1]).resolve()
    return ROOT


sys.path.insert(0, str(_code_root(None)))

from livecam.analysis import face_regions as regions  # noqa: E402
from livecam.analysis.avatar_photo import load_avatar_photo  # noqa: E402
from livecam.analysis.face_tracker import FaceTracker  # noqa: E402
from livecam.effects import avatar as av  # noqa: E402
from livecam.perf import tune_allocator  # noqa: E402
from livecam.settings import FaceSettings, RuntimeSettings  # noqa: E402
from livecam.types import Analysis  # noqa: E402


def data_dir() -> Path:
    return Path(os.environ.get("LIVECAM_DATA") or ROOT.parent / "shared" / "data")


# Source photos: frontal, one face, identities that appear in none of the clips.
SOURCES = ["fr_obama.jpg", "fr_biden2.jpg", "dl_tom_cruise.jpg", "mpl_grace_hopper.jpg", "mp_sergey.png",
           "lp_s12_einstein.jpg", "fr_alex_lacamoire2.jpg", "sk_astronaut.png"]
# Every clip whose description in video/index.csv says the person talks.
TALKING = ["lp_d12_talking_indoor.mp4", "lp_d20_talking_dim.mp4", "lp_d9_webcam_room.mp4",
           "st_WDA_AlexandriaOcasioCortez_000.mp4"]
BLINKY = ["lp_d0_greenscreen.mp4", "lp_d3_expressions.mp4", "lp_d18_frontal_plain.mp4"]
BLINK = 0.75  # eye aspect ratio below this share of the clip's median = eyes closed
SETTLE = 10  # self-reenactment scores frames from this one on
BOX_GROW = 0.15  # face box grown by this share of its size on each side (30 % in all)
SEAM_IN = (0.08, 0.16)  # border band inside the mesh outline, share of the face width
SEAM_OUT = (0.02, 0.08)  # the wearer's skin just outside it
SEAM_SECTORS = 16
SEAM_CONTINUOUS = 6.0  # input Delta E between the bands under which the wearer's skin runs on across


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


def run(effect, image: np.ndarray, faces) -> np.ndarray:
    return effect.apply(image, Analysis(faces=list(faces)))[0]


def track(path: Path, limit: int) -> list[list]:
    """Faces per frame of a clip, tracked once and reused by every effect and photo."""
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    return [tracker.process(f) for f in frames(path, limit)]


# ---------------------------------------------------------------- scores


def ssim_grey(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03) of two BGR crops on grey."""
    x = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(v):
        return cv2.GaussianBlur(v, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean()) if min(s.shape) > 10 else float(s.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse < 1e-10 else 10 * np.log10(255 ** 2 / mse)


def face_box(landmarks: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, slice]:
    lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    pad = BOX_GROW * (hi - lo)
    x0, y0 = np.maximum(np.floor(lo - pad).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(hi + pad).astype(int), (shape[1], shape[0]))
    return slice(y0, y1), slice(x0, x1)


def lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)


def seam_scores(inp: np.ndarray, out: np.ndarray, landmarks: np.ndarray) -> list[tuple[float, float]]:
    """(output, input) Delta E between the border band and the skin just outside, per sector where
    the wearer's skin runs on across the face outline."""
    fw = av.face_width(landmarks)
    rows, cols = face_box(landmarks, inp.shape)
    oval = np.round(landmarks[np.asarray(regions.FACE_OVAL), :2] - (cols.start, rows.start)).astype(np.int32)
    h, w = rows.stop - rows.start, cols.stop - cols.start
    inside = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inside, [oval], 1)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5) / fw
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5) / fw
    inner = (d_in >= SEAM_IN[0]) & (d_in < SEAM_IN[1])
    outer = (d_out >= SEAM_OUT[0]) & (d_out < SEAM_OUT[1])
    cx, cy = oval.mean(0)
    ys, xs = np.mgrid[0:h, 0:w]
    sector = ((np.arctan2(ys - cy, xs - cx) + np.pi) / (2 * np.pi) * SEAM_SECTORS).astype(int) % SEAM_SECTORS
    li, lo_ = lab(inp[rows, cols]), lab(out[rows, cols])
    scores = []
    for s in range(SEAM_SECTORS):
        a, b = inner & (sector == s), outer & (sector == s)
        if a.sum() < 20 or b.sum() < 20:
            continue
        natural = float(np.linalg.norm(li[a].mean(0) - li[b].mean(0)))
        if natural >= SEAM_CONTINUOUS:
            continue
        scores.append((float(np.linalg.norm(lo_[a].mean(0) - lo_[b].mean(0))), natural))
    return scores


def open_photo(path: Path):
    return load_avatar_photo(path, store=False)


def effects_for(photo) -> dict:
    return {"swap": av.FaceSwap(photo), "animate": av.PhotoAvatar(photo)}


# ---------------------------------------------------------------- self-reenactment and contact sheets


def mouth_open(landmarks: np.ndarray) -> float:
    return av.mouth_openness(landmarks)


def self_reenactment(args, sheets: Path | None) -> dict:
    video = data_dir() / "video"
    results = {}
    other = open_photo(data_dir() / "faces" / "single" / args.sheet_source)
    for clip in args.talking:
        tracked = track(video / clip, args.max_frames)
        first = next(frames(video / clip, 1))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / (Path(clip).stem + "_frame0.png")
            cv2.imwrite(str(path), first)
            own = open_photo(path)
        mine, theirs = effects_for(own), effects_for(other)
        scores: dict[str, list[tuple[float, float]]] = {"swap": [], "animate": [], "still": []}
        neutral = None
        picks: dict[str, tuple[float, int, list]] = {}  # criterion -> (value, frame, tiles)
        n_frames = len(tracked)
        for i, frame in enumerate(frames(video / clip, args.max_frames)):
            faces = tracked[i]
            outs = {f"self {k}": run(e, frame, faces) for k, e in mine.items()}
            outs.update({f"other {k}": run(e, frame, faces) for k, e in theirs.items()})
            if not faces:
                continue
            lm = faces[0].landmarks
            if neutral is None:
                neutral = lm
            if i >= SETTLE:
                rows, cols = face_box(lm, frame.shape)
                ref = frame[rows, cols]
                for name, img in (("swap", outs["self swap"]), ("animate", outs["self animate"]), ("still", first)):
                    crop = img[rows, cols]
                    scores[name].append((ssim_grey(ref, crop), psnr(ref, crop)))
            if sheets is None:
                continue
            move = float(np.linalg.norm(lm[:, :2].mean(0) - neutral[:, :2].mean(0)) / av.face_width(neutral))
            criteria = {"early": -abs(i - SETTLE), "mouth": mouth_open(lm), "move": move,
                        "late": -abs(i - (n_frames - 1))}
            for key, value in criteria.items():
                if key not in picks or value > picks[key][0]:
                    picks[key] = (value, i, [frame.copy(), outs["other swap"], outs["other animate"],
                                             outs["self swap"], outs["self animate"]])
        row = {}
        for name, vals in scores.items():
            a = np.array(vals) if vals else np.zeros((0, 2))
            row[name] = {"ssim": round(float(a[:, 0].mean()), 4) if len(a) else None,
                         "psnr": round(float(a[:, 1].mean()), 2) if len(a) else None, "frames": len(a)}
        results[clip] = row
        if sheets is not None and picks:
            results[clip]["sheet"] = str(contact_sheet(clip, picks, args.sheet_source, sheets))
        if not args.json:
            print(f"{clip:42s} SSIM/PSNR  swap {row['swap']['ssim']}/{row['swap']['psnr']}  "
                  f"animate {row['animate']['ssim']}/{row['animate']['psnr']}  "
                  f"still {row['still']['ssim']}/{row['still']['psnr']}  ({row['swap']['frames']} frames)", flush=True)
    return results


def _label(tile: np.ndarray, text: str) -> None:
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(tile, (0, 0), (tw + 10, th + base + 8), (0, 0, 0), -1)
    cv2.putText(tile, text, (5, th + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def contact_sheet(clip: str, picks: dict, source: str, out_dir: Path) -> Path:
    labels = ["wearer", f"swap: {Path(source).stem}", f"photo avatar: {Path(source).stem}",
              "swap: own frame 0", "photo avatar: own frame 0"]
    rows = []
    for key in ("early", "mouth", "move", "late"):
        _, index, images = picks[key]
        tiles = []
        for k, (label, img) in enumerate(zip(labels, images)):
            h = 300
            tile = cv2.resize(img, (int(img.shape[1] * h / img.shape[0]), h), interpolation=cv2.INTER_AREA)
            _label(tile, f"{label}  (frame {index}, {key})" if k == 0 else label)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{Path(clip).stem}.jpg"
    cv2.imwrite(str(path), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 88])
    return path


# ---------------------------------------------------------------- identity, seam and expression


class Dlib:
    """dlib's detector, 5- and 68-point predictors and the ResNet face embedding."""

    def __init__(self) -> None:
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError:
            sys.exit("This evaluation needs dlib: pip install dlib-bin face-recognition-models "
                     "(a scratch venv on PYTHONPATH will do)")
        self.detector = dlib.get_frontal_face_detector()
        self.sp5 = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.sp68 = dlib.shape_predictor(frm.pose_predictor_model_location())
        self.net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

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


def identity_seam_expression(args, dl: Dlib) -> dict:
    video = data_dir() / "video"
    faces_dir = data_dir() / "faces" / "single"
    clips = sorted(p.name for p in video.glob("*.mp4"))
    chosen = args.id_clips or clips
    per_pair = []
    total = [0, 0]
    seam_out: list[float] = []
    seam_in: list[float] = []
    mouth_rows: dict[str, list[tuple[float, float]]] = {}
    animate_rows: dict[str, list[tuple[float, float]]] = {}
    eye_rows: dict[str, list[tuple[float, float]]] = {}
    steady = [0.0, 0.0]  # summed frame-to-frame change in the face box: input, output
    source_cache = {}
    for ci, clip in enumerate(clips):
        if clip not in chosen:
            continue
        tracked = track(video / clip, args.max_frames)
        sources = args.sources or [SOURCES[(ci * args.sources_per_clip + k) % len(SOURCES)]
                                   for k in range(args.sources_per_clip)]
        for sname in sources:
            if sname not in source_cache:
                photo = open_photo(faces_dir / sname)
                rgb, rect = dl.face(photo.image)
                source_cache[sname] = (photo, dl.embedding(rgb, rect))
            photo, src_emb = source_cache[sname]
            swap = av.FaceSwap(photo)
            first = sname == sources[0]
            expressive = first and (clip in TALKING or clip in BLINKY)
            animate = av.PhotoAvatar(photo) if clip in TALKING and first else None
            counts = [0, 0]
            previous = None  # (input, output) crops of the last frame, for the steadiness measure
            for i, frame in enumerate(frames(video / clip, args.max_frames)):
                faces = tracked[i]
                out = run(swap, frame, faces)
                animated = run(animate, frame, faces) if animate is not None else None
                if faces and first:
                    x0, y0, x1, y1 = np.clip(faces[0].box.astype(int), 0, None)
                    now = frame[y0:y1, x0:x1].astype(np.int16), out[y0:y1, x0:x1].astype(np.int16)
                    if previous is not None and previous[0].shape == now[0].shape:
                        steady[0] += float(np.abs(now[0] - previous[0]).mean())
                        steady[1] += float(np.abs(now[1] - previous[1]).mean())
                    previous = now
                else:
                    previous = None
                if not faces:
                    continue
                if i >= SETTLE and i % args.seam_every == 0:
                    for o, n in seam_scores(frame, out, faces[0].landmarks):
                        seam_out.append(o)
                        seam_in.append(n)
                want_id = i % args.every == 0
                want_expr = expressive and i % 2 == 0
                if not (want_id or want_expr):
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
                e = dl.embedding(rgb_out, rect_out)
                counts[0] += int(np.linalg.norm(e - src_emb) < np.linalg.norm(e - wearer_emb))
                counts[1] += 1
            per_pair.append({"clip": clip, "source": sname, "swapped": counts[0], "frames": counts[1]})
            total[0] += counts[0]
            total[1] += counts[1]
            if not args.json:
                print(f"{clip:42s} {sname:24s} swapped {counts[0]}/{counts[1]}", flush=True)

    def corr(rows):
        a = np.array(rows)
        if len(a) < 3 or a[:, 0].std() < 1e-9 or a[:, 1].std() < 1e-9:
            return None
        return round(float(np.corrcoef(a[:, 0], a[:, 1])[0, 1]), 3)

    blinks = {}
    for clip, rows in eye_rows.items():
        a = np.array(rows)
        closed_in = a[:, 0] < BLINK * np.median(a[:, 0])
        closed_out = a[:, 1] < BLINK * np.median(a[:, 1])
        blinks[clip] = {"wearer_closed": int(closed_in.sum()), "output_closed_too": int((closed_in & closed_out).sum())}
    mouth = {clip: corr(rows) for clip, rows in mouth_rows.items()}
    return {
        "identity": {"swapped_share": round(total[0] / max(total[1], 1), 4), "frames": total[1], "pairs": per_pair},
        "seam_delta_e": {"median": round(float(np.median(seam_out)), 2) if seam_out else None,
                         "p90": round(float(np.percentile(seam_out, 90)), 2) if seam_out else None,
                         "input_median": round(float(np.median(seam_in)), 2) if seam_in else None,
                         "samples": len(seam_out)},
        "mouth_correlation": {c: mouth[c] for c in sorted(mouth) if c in TALKING},
        "mouth_correlation_other": {c: mouth[c] for c in sorted(mouth) if c not in TALKING},
        "animate_mouth_correlation": {clip: corr(rows) for clip, rows in animate_rows.items()},
        "eye_correlation": {clip: corr(rows) for clip, rows in eye_rows.items()},
        # Output flicker against the input's own motion in the face box: 1.0 = no added flicker.
        "temporal_change_ratio": round(steady[1] / max(steady[0], 1e-9), 3),
        "blinks": blinks,
    }


# ---------------------------------------------------------------- speed


def speed(args) -> dict:
    """Median ms of the swap and the photo avatar alone at 1280x720, one thread; the face stage too."""
    clip = data_dir() / "video" / "lp_s18_room_landscape.mp4"
    photo = open_photo(ROOT / "tests" / "fixtures" / "mpl_grace_hopper.jpg")
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    effects = effects_for(photo)
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames and one source per clip")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--speed-only", action="store_true", help="only the 720p timing (no dlib needed)")
    ap.add_argument("--self-only", action="store_true", help="only self-reenactment and contact sheets (no dlib)")
    ap.add_argument("--clips", nargs="*", help="talking clips to score (default: all of them)")
    ap.add_argument("--sheets", default=str(ROOT / "docs" / "avatar"), help="contact-sheet folder ('' = none)")
    ap.add_argument("--sheet-source", default="fr_obama.jpg", help="the other person's photo on the sheets")
    ap.add_argument("--id-clips", nargs="*", help="clips for identity, seam and expression (default: all)")
    ap.add_argument("--sources", nargs="*", help="photos to swap in (default: two per clip from SOURCES)")
    ap.add_argument("--code", help="score the livecam package of another checkout")
    args = ap.parse_args(argv)
    args.every = 10 if args.quick else 8
    args.seam_every = 4 if args.quick else 2
    args.max_frames = 100 if args.quick else 200
    args.sources_per_clip = 1 if args.quick else 2
    args.speed_frames = 60 if args.quick else 150
    args.talking = TALKING if args.clips is None else args.clips  # "--clips" alone: none
    if not (data_dir() / "video").is_dir():
        sys.exit(f"Shared test data not found at {data_dir()}; set LIVECAM_DATA.")
    cv2.setNumThreads(1)
    tune_allocator()
    result: dict = {}
    if not args.speed_only:
        result["self_reenactment"] = self_reenactment(args, Path(args.sheets) if args.sheets else None)
        if not args.self_only:
            result.update(identity_seam_expression(args, Dlib()))
    if not args.no_speed:
        result["speed"] = speed(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if "identity" in result:
        ident, seam = result["identity"], result["seam_delta_e"]
        print(f"identity: output closer to the photo than to the wearer in {ident['swapped_share']:.1%} "
              f"of {ident['frames']} frames")
        print(f"seam Delta E: median {seam['median']} (p90 {seam['p90']}; the input's own {seam['input_median']}) "
              f"over {seam['samples']} sector samples")
        print("mouth-opening correlation (talking clips):", result["mouth_correlation"])
        print("mouth-opening correlation (other clips):", result["mouth_correlation_other"])
        print("photo avatar mouth-opening correlation (talking clips):", result["animate_mouth_correlation"])
        print("eye-opening correlation:", result["eye_correlation"])
        print("blinks (wearer closed / output closed too):", result["blinks"])
        print("frame-to-frame change in the face box, output over input:", result["temporal_change_ratio"])
    if "speed" in result:
        sp = result["speed"]
        print("speed at 1280x720, 1 thread, median ms:", sp["median_ms"], "cpu:", sp["median_cpu_ms"],
              "p95:", sp["p95_ms"], "load", sp["load_average"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
