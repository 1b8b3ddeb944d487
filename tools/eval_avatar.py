"""Evaluate the face swap on people nobody tuned on: identity, self-reenactment, blinks, seam, brow band, speed.

    PYTHONPATH=/tmp/dlpath .venv/bin/python tools/eval_avatar.py [--half report|tune|both] [--quick] [--json]
    .venv/bin/python tools/eval_avatar.py --speed-only
    .venv/bin/python tools/eval_avatar.py --animate            # photo avatar self-reenactment on the talking clips
    .venv/bin/python tools/eval_avatar.py --code /path/to/older/checkout   # the same scores for older code

dlib (identity and expression only) lives in a scratch venv: ``python -m venv /tmp/dl &&
/tmp/dl/bin/pip install dlib-bin face-recognition-models``, then put a folder holding only links to
its ``dlib``, ``_dlib_pybind11*.so`` and ``face_recognition_models`` on PYTHONPATH (its own numpy
and OpenCV must not shadow the project's).

**The pair set** is ``tools/avatar_pairs.csv`` (paths relative to the shared data folder): 24 swap
pairs of a wearer clip and another person's photo, across sex, age, skin tone, beard, glasses,
fringe, hands and head turns, split once by identity into a tuning and a reporting half (no wearer
and no photo person in both; the tool refuses a file that breaks this). Tune on ``tune``, quote
``report``. One table prints both halves, per pair and median:

- **identity**: dlib's face-recognition embedding of the output, on every 6th frame: the share of
  frames where it is closer to the photo's than to the wearer's in the input (target >= 0.90);
- **id margin**: the median of (distance to the wearer - distance to the photo) over those frames,
  in dlib's embedding units (0.6 is dlib's same-person threshold): how far past the line identity
  is, which still moves where the share is already 1.00;
- **swap SSIM**: swap self-reenactment on the wearer's clip (the photo is the clip's own frame 0, so
  a perfect swap reproduces the input): SSIM on grey over the face box (the mesh's box grown 30 %),
  every 2nd frame from frame 10 (the same for every pair of a clip); **mouth SSIM** the same on
  the outer lips' box grown by 0.25 of the face width each side;
- **blink r / mouth r**: correlation of dlib's 68-point eye ratio and mouth opening, input against
  output (the output's points fitted in the input's face box), every 2nd frame; ``blinks`` counts
  frames where the wearer's eyes are closed (under 0.75 of the clip's median) and the output's too;
- **seam dE**: CIE76 Delta E between the altered face's border band (8-16 % of the face width inside
  the mesh outline) and the wearer's skin just outside it (2-8 % outside), per 16 sectors around
  the face, where the wearer's own skin runs on across the outline (input Delta E under 6; the
  input's own value is printed beside it); the eyes, brows and lips (grown by 0.04 of the face
  width, the brow band's rule) are left out of the band since session 34, so a turned head's far
  eye is not scored as skin;
- **brow dE**: Delta E between the mean of the output's forehead band just above the brows (2-14 %
  of the face width above them, inside the outline, brows left out) and the median of its own
  cheeks: a pasted fringe, hat or glasses shadow shows as a band there (the input's own beside it);
- **seam x / brow x** (added in the third round): the same two differences taken as Lab vectors,
  and the Delta E between the output's vector and the input's own (the wearer's forehead is
  often 7-14 units off its cheeks, and their jaw shading steps at the outline too): what the swap
  adds to the wearer's own step, 0 when it keeps it.

**Contact sheets**, one PNG per pair under ``out/avatar_eval/`` (never committed: the shared data
may not be redistributed): the photo and the wearer at four moments (early, eyes most shut, mouth
widest, head moved furthest) over the swap at those moments.

**Speed** is the effect alone (``apply``) on 1280x720 frames with one thread, the face stage (with
the iris model when the swap needs it, as the pipeline runs it) timed separately, as wall and thread-CPU medians with the load average (the machine is shared).

**Photo avatar** (``--animate``): self-reenactment on every talking clip beside a still-paste
baseline, as before; its contact sheets go to the same folder. Besides the face box's SSIM it
prints the SSIM of the whole width below the face box (the clothes: a torso that stretches or
slides shows there). ``--animate-only`` runs just this, without dlib, on every wearer clip of
``--half`` of the pair set (tune: lp_d12, lp_d20, lp_d3, lp_s18, lp_d19, lp_d18; report: lp_d6, lp_d9,
AOC, lp_d0, lp_s32): the clips where the head moves over a still body count, not only the talking ones.
"""
from __future__ import annotations

import argparse
import csv
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


# Every clip whose description in video/index.csv says the person talks.
TALKING = ["lp_d12_talking_indoor.mp4", "lp_d20_talking_dim.mp4", "lp_d9_webcam_room.mp4",
           "st_WDA_AlexandriaOcasioCortez_000.mp4"]
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
    # As the pipeline does: the iris model (and ``Face.lids``) only when the swap asks for it.
    iris = "iris" in av.FaceSwap.needs
    return [tracker.process(f, want_iris=iris) for f in frames(path, limit)]


# ---------------------------------------------------------------- scores


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03) of two BGR crops on grey."""
    x = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(v):
        return cv2.GaussianBlur(v, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim_grey(a: np.ndarray, b: np.ndarray) -> float:
    """The mean of :func:`ssim_map`, its 5-pixel border left out where the crop is big enough."""
    s = ssim_map(a, b)
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


def mouth_box(landmarks: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """The outer lips' box grown by a quarter of the face width each side (the mouth's interior
    is a small share of the face box, so the face SSIM barely sees it)."""
    pts = landmarks[regions.LIPS_OUTER, :2]
    pad = 0.25 * av.face_width(landmarks)
    x0, y0 = np.maximum(np.floor(pts.min(0) - pad).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0) + pad).astype(int), (shape[1], shape[0]))
    return slice(y0, y1), slice(x0, x1)


def lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)


def seam_scores(inp: np.ndarray, out: np.ndarray, landmarks: np.ndarray) -> list[tuple[float, float, float]]:
    """(output, input, excess) Delta E between the border band and the skin just outside, per sector
    where the wearer's skin runs on across the face outline; excess is the Delta E between the
    output's step (band minus outside, a Lab vector) and the input's own step there."""
    fw = av.face_width(landmarks)
    rows, cols = face_box(landmarks, inp.shape)
    oval = np.round(landmarks[np.asarray(regions.FACE_OVAL), :2] - (cols.start, rows.start)).astype(np.int32)
    h, w = rows.stop - rows.start, cols.stop - cols.start
    inside = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inside, [oval], 1)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5) / fw
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5) / fw
    # Skin only, as the brow band: on a turned head the band inside the outline reaches the far
    # eye, whose darkness next to dark hair passed for skin running on (lp_s18's "seam" was the
    # photo's eye corner, session 34).
    features = np.zeros((h, w), np.uint8)
    for poly in (regions.RIGHT_EYE, regions.LEFT_EYE, regions.RIGHT_BROW, regions.LEFT_BROW, regions.LIPS_OUTER):
        cv2.fillPoly(features, [np.round(landmarks[np.asarray(poly), :2] - (cols.start, rows.start)).astype(np.int32)], 1)
    r = max(1, int(0.04 * fw))
    features = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    inner = (d_in >= SEAM_IN[0]) & (d_in < SEAM_IN[1]) & (features == 0)
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
        step_in = li[a].mean(0) - li[b].mean(0)
        natural = float(np.linalg.norm(step_in))
        if natural >= SEAM_CONTINUOUS:
            continue
        step_out = lo_[a].mean(0) - lo_[b].mean(0)
        scores.append((float(np.linalg.norm(step_out)), natural, float(np.linalg.norm(step_out - step_in))))
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
        body: dict[str, list[float]] = {"animate": [], "still": []}
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
                below = slice(rows.stop, frame.shape[0])
                if frame.shape[0] - rows.stop >= 16:  # the clothes: the whole width below the face box
                    for name, img in (("animate", outs["self animate"]), ("still", first)):
                        body[name].append(ssim_grey(frame[below], img[below]))
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
        for name, vals in body.items():
            row[name]["body_ssim"] = round(float(np.mean(vals)), 4) if vals else None
        results[clip] = row
        if sheets is not None and picks:
            results[clip]["sheet"] = str(contact_sheet(clip, picks, args.sheet_source, sheets))
        if not args.json:
            print(f"{clip:42s} SSIM/PSNR  swap {row['swap']['ssim']}/{row['swap']['psnr']}  "
                  f"animate {row['animate']['ssim']}/{row['animate']['psnr']}  "
                  f"still {row['still']['ssim']}/{row['still']['psnr']}  ({row['swap']['frames']} frames)  "
                  f"below the face: animate {row['animate']['body_ssim']} still {row['still']['body_ssim']}", flush=True)
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
        if not rects and near is None and not upsample:  # a photo: worth the slower search
            rects = list(self.detector(rgb, 1))
        if not rects:
            return rgb, None
        if near is not None and len(rects) > 1:
            c = (near[:2] + near[2:]) / 2
            rects.sort(key=lambda r: (r.center().x - c[0]) ** 2 + (r.center().y - c[1]) ** 2)
        return rgb, rects[0]

    @staticmethod
    def box_from_mesh(landmarks: np.ndarray):
        """A dlib-like face box (cheek to cheek, brows to chin) from the 468-point mesh."""
        import dlib

        x0, x1 = landmarks[234, 0], landmarks[454, 0]
        top = landmarks[[105, 334], 1].mean() - 0.08 * (x1 - x0)
        return dlib.rectangle(int(x0), int(top), int(x1), int(landmarks[152, 1]))

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


# ---------------------------------------------------------------- the swap-pair set


PAIRS = ROOT / "tools" / "avatar_pairs.csv"
ID_EVERY = 6  # identity on every 6th frame
EXPR_EVERY = 2  # eye, mouth, seam and brow band on every 2nd frame
BROW_BAND = (0.02, 0.14)  # forehead band above the brows, share of the face width above their top
CHEEK_RADIUS = 0.07  # cheek patches around mesh points 50 and 280, share of the face width


def load_pairs(path: Path = PAIRS) -> list[dict]:
    """The pair set, checked: no wearer and no photo person in both halves."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    halves: dict[str, set[str]] = {}
    for r in rows:
        for person in (r["wearer_id"], r["photo_id"]):
            halves.setdefault(person, set()).add(r["half"])
        if r["wearer_id"] == r["photo_id"]:
            sys.exit(f"{path}: {r['wearer']} is paired with a photo of the same person.")
    mixed = sorted(p for p, h in halves.items() if len(h) > 1)
    if mixed:
        sys.exit(f"{path}: these people are in both halves: {', '.join(mixed)}")
    return rows


def _up(landmarks: np.ndarray) -> np.ndarray:
    up = landmarks[10, :2] - landmarks[152, :2]
    return up / max(float(np.linalg.norm(up)), 1e-6)


def brow_band_scores(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """The Lab difference between the mean of the forehead band just above the brows (inside the
    face outline, brows left out) and the median of the face's own cheeks; its length is the
    Delta E (CIE76). A pasted fringe or hat shows as a dark band there."""
    fw = av.face_width(landmarks)
    rows, cols = face_box(landmarks, image.shape)
    origin = np.array([cols.start, rows.start], np.float32)
    h, w = rows.stop - rows.start, cols.stop - cols.start
    if h < 16 or w < 16:
        return None
    oval = np.zeros((h, w), np.uint8)
    cv2.fillPoly(oval, [np.round(landmarks[np.asarray(regions.FACE_OVAL), :2] - origin).astype(np.int32)], 1)
    r = max(1, int(0.04 * fw))
    oval = cv2.erode(oval, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    brows = np.zeros_like(oval)
    for poly in (regions.RIGHT_BROW, regions.LEFT_BROW):
        cv2.fillPoly(brows, [np.round(landmarks[np.asarray(poly), :2] - origin).astype(np.int32)], 1)
    brows = cv2.dilate(brows, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    up = _up(landmarks)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    brow_pts = landmarks[np.asarray(regions.RIGHT_BROW + regions.LEFT_BROW), :2] - origin
    top = float((brow_pts @ up).max())
    height = (xs * up[0] + ys * up[1] - top) / fw
    band = (oval > 0) & (brows == 0) & (height >= BROW_BAND[0]) & (height < BROW_BAND[1])
    cheeks = np.zeros_like(oval)
    for k in (50, 280):
        c = np.round(landmarks[k, :2] - origin).astype(int)
        cv2.circle(cheeks, (int(c[0]), int(c[1])), max(2, int(CHEEK_RADIUS * fw)), 1, -1)
    if band.sum() < 30 or cheeks.sum() < 30:
        return None
    crop = lab(image[rows, cols])
    return crop[band].mean(0) - np.median(crop[cheeks > 0], axis=0)


class ClipData:
    """One wearer clip: frames, tracked faces, and dlib's reading of the input (boxes, 68 points,
    embeddings on the sampled frames), shared by every pair on that clip."""

    def __init__(self, path: Path, limit: int, dl: Dlib) -> None:
        self.name = path.name
        self.frames = list(frames(path, limit))
        tracked = track(path, limit)
        self.faces = tracked
        self.rect: dict[int, object] = {}
        self.p68: dict[int, np.ndarray] = {}
        self.emb: dict[int, np.ndarray] = {}
        for i, frame in enumerate(self.frames):
            if not tracked[i] or i % EXPR_EVERY:
                continue
            rgb, rect = dl.face(frame, tracked[i][0].box)
            if rect is None:
                continue
            self.rect[i] = rect
            self.p68[i] = dl.points68(rgb, rect)
            if i % ID_EVERY == 0:
                self.emb[i] = dl.embedding(rgb, rect)
        self.self_ssim, self.mouth_ssim = self._self_ssim()

    def _self_ssim(self) -> tuple[float | None, float | None]:
        """Swap self-reenactment: the clip's own frame 0 as the photo, SSIM on the face box and on
        the mouth box."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "frame0.png"
            cv2.imwrite(str(path), self.frames[0])
            try:
                swap = av.FaceSwap(open_photo(path))
            except Exception as exc:  # noqa: BLE001 - a clip whose first frame cannot be a photo
                print(f"{self.name}: frame 0 cannot be the photo ({exc})", flush=True)
                return None, None
        scores, mouths = [], []
        for i, frame in enumerate(self.frames):
            out = run(swap, frame, self.faces[i])
            if i >= SETTLE and i % EXPR_EVERY == 0 and self.faces[i]:
                rows, cols = face_box(self.faces[i][0].landmarks, frame.shape)
                scores.append(ssim_grey(frame[rows, cols], out[rows, cols]))
                rows, cols = mouth_box(self.faces[i][0].landmarks, frame.shape)
                mouths.append(ssim_grey(frame[rows, cols], out[rows, cols]))
        return tuple(round(float(np.mean(v)), 4) if v else None for v in (scores, mouths))


def _corr(rows) -> float | None:
    a = np.array(rows)
    if len(a) < 3 or a[:, 0].std() < 1e-9 or a[:, 1].std() < 1e-9:
        return None
    return round(float(np.corrcoef(a[:, 0], a[:, 1])[0, 1]), 3)


def score_pair(pair: dict, clip: ClipData, dl: Dlib, sheets: Path | None) -> dict:
    photo_path = data_dir() / pair["photo"]
    photo = open_photo(photo_path)
    rgb, rect = dl.face(photo.image)
    if rect is None:  # dlib's detector misses some faces the mesh fits (lp_d8: curls and glasses)
        rect = dl.box_from_mesh(photo.landmarks)
    photo_emb = dl.embedding(rgb, rect)
    swap = av.FaceSwap(photo)
    ident, margins = [0, 0], []
    eyes, mouths, seams, seams_in, seams_x, brows, brows_in, brows_x = [], [], [], [], [], [], [], []
    picks: dict[str, tuple[float, int, np.ndarray]] = {}
    neutral = None
    for i, frame in enumerate(clip.frames):
        faces = clip.faces[i]
        out = run(swap, frame, faces)
        if i not in clip.rect:
            continue
        lm = faces[0].landmarks
        rgb_out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
        # The output's points are fitted in the input's face box: the box alone moves dlib's points.
        p_in, p_out = clip.p68[i], dl.points68(rgb_out, clip.rect[i])
        eyes.append((eye_ratio68(p_in), eye_ratio68(p_out)))
        mouths.append((mouth_ratio68(p_in), mouth_ratio68(p_out)))
        if i in clip.emb:
            e = dl.embedding(rgb_out, clip.rect[i])
            to_photo, to_wearer = np.linalg.norm(e - photo_emb), np.linalg.norm(e - clip.emb[i])
            ident[0] += int(to_photo < to_wearer)
            ident[1] += 1
            margins.append(float(to_wearer - to_photo))
        if i >= SETTLE:
            for o, n, x in seam_scores(frame, out, lm):
                seams.append(o)
                seams_in.append(n)
                seams_x.append(x)
            b_out, b_in = brow_band_scores(out, lm), brow_band_scores(frame, lm)
            if b_out is not None and b_in is not None:
                brows.append(float(np.linalg.norm(b_out)))
                brows_in.append(float(np.linalg.norm(b_in)))
                brows_x.append(float(np.linalg.norm(b_out - b_in)))
        if sheets is None:
            continue
        if neutral is None:
            neutral = lm
        move = float(np.linalg.norm(lm[:, :2].mean(0) - neutral[:, :2].mean(0)) / av.face_width(neutral))
        criteria = {"early": -abs(i - SETTLE), "eyes shut": -eyes[-1][0], "mouth open": mouths[-1][0],
                    "head moved": move}
        for key, value in criteria.items():
            if key not in picks or value > picks[key][0]:
                picks[key] = (value, i, out)
    a = np.array(eyes) if eyes else np.zeros((0, 2))
    closed_in = a[:, 0] < BLINK * np.median(a[:, 0]) if len(a) else np.zeros(0, bool)
    closed_out = a[:, 1] < BLINK * np.median(a[:, 1]) if len(a) else np.zeros(0, bool)
    row = {
        "half": pair["half"], "wearer": Path(pair["wearer"]).stem, "photo": Path(pair["photo"]).stem,
        "identity": round(ident[0] / ident[1], 3) if ident[1] else None, "id_frames": ident[1],
        "id_margin": round(float(np.median(margins)), 3) if margins else None,
        "swap_ssim": clip.self_ssim, "mouth_ssim": clip.mouth_ssim, "blink_r": _corr(eyes), "blinks": [int(closed_in.sum()),
                                                                     int((closed_in & closed_out).sum())],
        "mouth_r": _corr(mouths),
        "seam_de": round(float(np.median(seams)), 2) if seams else None,
        "seam_de_input": round(float(np.median(seams_in)), 2) if seams_in else None,
        "seam_x": round(float(np.median(seams_x)), 2) if seams_x else None,
        "brow_de": round(float(np.median(brows)), 2) if brows else None,
        "brow_x": round(float(np.median(brows_x)), 2) if brows_x else None,
        "brow_de_input": round(float(np.median(brows_in)), 2) if brows_in else None,
    }
    if sheets is not None and picks:
        row["sheet"] = str(pair_sheet(pair, photo, clip, picks, sheets))
    return row


def _face_tile(image: np.ndarray, landmarks: np.ndarray, size: int = 220) -> np.ndarray:
    lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    c, half = (lo + hi) / 2, 0.75 * float((hi - lo).max())
    m = np.array([[size / (2 * half), 0, size / 2 - c[0] * size / (2 * half)],
                  [0, size / (2 * half), size / 2 - c[1] * size / (2 * half)]])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)


def _eye_strip(image: np.ndarray, landmarks: np.ndarray, width: int) -> np.ndarray:
    """Both eyes of ``image`` enlarged to ``width`` pixels: a shut eye is a few pixels on a face tile."""
    eyes = landmarks[[33, 133, 263, 362], :2]
    lo, hi = eyes.min(0), eyes.max(0)
    pad = 0.25 * float(hi[0] - lo[0])
    x0, x1 = lo[0] - pad, hi[0] + pad
    cy = (lo[1] + hi[1]) / 2
    height = width * 0.3
    s = width / (x1 - x0)
    m = np.array([[s, 0, -x0 * s], [0, s, height / 2 - cy * s]])
    return cv2.warpAffine(image, m, (width, int(height)), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)


def pair_sheet(pair: dict, photo, clip: ClipData, picks: dict, out_dir: Path) -> Path:
    """Top row: the photo, then the wearer at four moments; middle row: the swap at those moments;
    bottom row: the eyes at the "eyes shut" moment enlarged, wearer beside swap."""
    top = [_face_tile(photo.image, photo.landmarks)]
    _label(top[0], "photo " + Path(pair["photo"]).stem[:20])
    bottom = [np.zeros_like(top[0])]
    _label(bottom[0], f"{pair['half']}: swap")
    for key in ("early", "eyes shut", "mouth open", "head moved"):
        _, i, out = picks[key]
        lm = clip.faces[i][0].landmarks
        t = _face_tile(clip.frames[i], lm)
        _label(t, f"wearer {key} ({i})")
        top.append(t)
        bottom.append(_face_tile(out, lm))
    _, i, out = picks["eyes shut"]
    lm = clip.faces[i][0].landmarks
    width = sum(t.shape[1] for t in top)
    eyes = np.hstack([_eye_strip(clip.frames[i], lm, width // 2), _eye_strip(out, lm, width - width // 2)])
    _label(eyes, f"eyes shut ({i}): wearer | swap")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{pair['half']}_{Path(pair['wearer']).stem}__{Path(pair['photo']).stem}.png"
    cv2.imwrite(str(path), np.vstack([np.hstack(top), np.hstack(bottom), eyes]))
    return path


PAIR_COLUMNS = ("identity", "id_margin", "swap_ssim", "mouth_ssim", "blink_r", "mouth_r", "seam_de", "seam_x", "brow_de", "brow_x")


def pair_table(args, dl: Dlib) -> list[dict]:
    pairs = [p for p in load_pairs(Path(args.pairs)) if args.half in ("both", p["half"])]
    if args.only:
        pairs = [p for p in pairs if any(k in p["wearer"] or k in p["photo"] for k in args.only)]
    sheets = Path(args.sheets) if args.sheets else None
    rows = []
    for wearer in dict.fromkeys(p["wearer"] for p in pairs):
        clip = ClipData(data_dir() / wearer, args.max_frames, dl)
        for pair in (p for p in pairs if p["wearer"] == wearer):
            row = score_pair(pair, clip, dl, sheets)
            rows.append(row)
            if not args.json:
                print(_row_text(row), flush=True)
        del clip
    return rows


def _fmt(v) -> str:
    return "   -  " if v is None else f"{v:6.3f}" if isinstance(v, float) and abs(v) <= 1.0 else f"{v:6.2f}"


def _row_text(r: dict) -> str:
    return (f"{r['half']:6s} {r['wearer'][:26]:26s} {r['photo'][:22]:22s} " + " ".join(_fmt(r[c]) for c in PAIR_COLUMNS)
            + f"  blinks {r['blinks'][1]}/{r['blinks'][0]}  seam in {_fmt(r['seam_de_input'])} brow in {_fmt(r['brow_de_input'])}")


def print_table(rows: list[dict]) -> None:
    print(f"\n{'half':6s} {'wearer':26s} {'photo':22s} " + " ".join(f"{c[:6]:>6s}" for c in PAIR_COLUMNS))
    for half in ("tune", "report"):
        part = [r for r in rows if r["half"] == half]
        if not part:
            continue
        for r in part:
            print(_row_text(r))
        med = {c: (float(np.median([r[c] for r in part if r[c] is not None]))
                   if any(r[c] is not None for r in part) else None) for c in PAIR_COLUMNS}
        print(f"{half:6s} {'MEDIAN':26s} {'':22s} " + " ".join(_fmt(med[c]) for c in PAIR_COLUMNS)
              + f"  min identity {min((r['identity'] for r in part if r['identity'] is not None), default=None)}")


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
        faces = tracker.process(frame, want_iris="iris" in av.FaceSwap.needs)  # the swap's face stage
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
    ap.add_argument("--half", choices=("report", "tune", "both"), default="both", help="which half of the pairs")
    ap.add_argument("--only", nargs="*", help="pairs whose clip or photo name holds one of these")
    ap.add_argument("--pairs", default=str(PAIRS), help="the pair set (CSV)")
    ap.add_argument("--quick", action="store_true", help="60 frames a clip instead of 150")
    ap.add_argument("--frames", type=int, help="frames a clip")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--speed-only", action="store_true", help="only the 720p timing (no dlib needed)")
    ap.add_argument("--animate", action="store_true", help="also the photo avatar's self-reenactment")
    ap.add_argument("--animate-only", action="store_true",
                    help="only the photo avatar's self-reenactment (no dlib), on every wearer clip of --half")
    ap.add_argument("--clips", nargs="*", help="talking clips for --animate (default: all of them)")
    ap.add_argument("--sheets", default=str(ROOT / "out" / "avatar_eval"), help="contact-sheet folder ('' = none)")
    ap.add_argument("--sheet-source", default="fr_obama.jpg", help="the other person's photo on --animate sheets")
    ap.add_argument("--code", help="score the livecam package of another checkout")
    args = ap.parse_args(argv)
    args.max_frames = args.frames or (60 if args.quick else 150)
    args.speed_frames = 60 if args.quick else 150
    args.talking = TALKING if args.clips is None else args.clips
    if args.animate_only and args.clips is None and args.half != "both":
        # Every wearer clip of the half, in the pair set's order.
        wearers = [Path(r["wearer"]).name for r in load_pairs(Path(args.pairs)) if r["half"] == args.half]
        args.talking = list(dict.fromkeys(wearers))
    if not (data_dir() / "video").is_dir():
        sys.exit(f"Shared test data not found at {data_dir()}; set LIVECAM_DATA.")
    cv2.setNumThreads(1)
    tune_allocator()
    result: dict = {}
    if args.animate_only:
        result["self_reenactment"] = self_reenactment(args, Path(args.sheets) if args.sheets else None)
    elif not args.speed_only:
        result["pairs"] = pair_table(args, Dlib())
        if args.animate:
            result["self_reenactment"] = self_reenactment(args, Path(args.sheets) if args.sheets else None)
    if not args.no_speed:
        result["speed"] = speed(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if "pairs" in result:
        print_table(result["pairs"])
    if "speed" in result:
        sp = result["speed"]
        print("speed at 1280x720, 1 thread, median ms:", sp["median_ms"], "cpu:", sp["median_cpu_ms"],
              "p95:", sp["p95_ms"], "load", sp["load_average"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
