"""Does the photo avatar's surroundings (hair, ears, neck, the head's edge) follow the head, and what
is left to win outside the face outline? Self-reenactment as ``tools/eval_avatar.py --animate-only``
scores it (the clip's frame 0 is the photo, SSIM on grey over the mesh's box grown 30 %, frames 10 on).

    .venv/bin/python tools/surround_diag.py lp_d12_talking_indoor.mp4 [more clips] [--frames 150]

Per clip it prints:

- **box**: the face box's SSIM, the avatar's and the still paste's.
- **outside, by what shows**: the box outside the wearer's face outline split by whether the
  avatar shows its person layer (P) or the plate (B) and whether the real frame shows the person
  (person mask of the general segmenter, run on the input): P/P, P/B, B/P, and B/B split into the
  photo's own background and the plate's filled part. Per part its share of the box, its SSIM and
  its loss (share x (1 - SSIM)): what a better warp could win is in P/P, the head's edge in P/B and
  B/P, the uncovered room in B/B filled.
- **ceilings** for the person outside the outline above the chin (the real frame's person pixels
  there replaced by the photo moved by): one affine fitted to the real motion there (DIS optical
  flow, frame to frame 0, RANSAC), eight affines (one per 45-degree sector round the face), and the
  dense flow itself. If one affine scores no better than the avatar, the surroundings already
  follow the head as well as any rigid motion can; the rest is hair that moves on its own.
- **camera**: the median optical-flow length (px) on background far from the person in both frames
  (the segmenter's mask grown by a tenth of the frame). A camera that pans moves the whole room,
  which no head motion explains.
- **rest**: the mean frame-to-frame change outside the outline (grey levels), the avatar's and the
  input's, over frames whose mesh moves under 3 px (jitter at rest shows as avatar >> input).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import eval_avatar as ev  # noqa: E402  (puts the livecam of --code first on the path)
import photo_diag as pd  # noqa: E402
from livecam.analysis import face_regions as regions  # noqa: E402
from livecam.effects import avatar as av  # noqa: E402
from livecam.types import Analysis  # noqa: E402

SECTORS = 8
HAIR_BAND = 0.6  # the affines are fitted on person pixels up to this many face widths outside the outline
CATEGORIES = ("P/P", "P/B", "B/P", "B/B photo", "B/B filled")


def _affine_map(a: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ((a[0, 0] * gx + a[0, 1] * gy + a[0, 2]).astype(np.float32),
            (a[1, 0] * gx + a[1, 1] * gy + a[1, 2]).astype(np.float32))


def _fit(xs: np.ndarray, ys: np.ndarray, flow: np.ndarray) -> np.ndarray | None:
    if len(xs) < 30:
        return None
    src = np.stack([xs, ys], 1).astype(np.float32)
    a, _ = cv2.estimateAffine2D(src, src + flow[ys, xs], method=cv2.RANSAC, ransacReprojThreshold=4)
    return a


def clip_report(clip: str, limit: int) -> dict:
    video = ev.data_dir() / "video" / clip
    tracked = ev.track(video, limit)
    first = next(ev.frames(video, 1))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frame0.png"
        cv2.imwrite(str(path), first)
        effect = av.PhotoAvatar(ev.open_photo(path))
    h, w = first.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grey0 = cv2.cvtColor(first, cv2.COLOR_BGR2GRAY)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * (max(h, w) // 10) + 1,) * 2)
    person0 = av.person_mask(first) > 128
    filled = None
    stats: dict[str, list] = {"box": [], "still": [], "camera": [], "rest": [], "ceil": []}
    cats: dict[str, list] = {k: [] for k in CATEGORIES}
    prev = None
    oval = np.asarray(regions.FACE_OVAL)
    for i, frame in enumerate(ev.frames(video, limit)):
        out, outputs = effect.apply(frame, Analysis(faces=list(tracked[i])))
        if filled is None:
            filled = np.abs(effect._stage.plate.astype(np.int16) - first.astype(np.int16)).max(2) > 12
        faces = tracked[i]
        if not faces:
            prev = None
            continue
        lm = faces[0].landmarks
        rows, cols = ev.face_box(lm, frame.shape)
        outside = pd.regions_of(lm, rows, cols)["outside"]
        if prev is not None and np.abs(lm[:, :2] - prev[0][:, :2]).mean() < 3.0:
            change = [np.abs(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)[rows, cols].astype(np.int16)
                             - cv2.cvtColor(b, cv2.COLOR_BGR2GRAY)[rows, cols])[outside].mean()
                      for a, b in ((out, prev[1]), (frame, prev[2]))]
            stats["rest"].append(change)
        prev = (lm, out, frame)
        if i < ev.SETTLE:
            continue
        ref = frame[rows, cols]
        m = ev.ssim_map(ref, out[rows, cols])
        valid = np.zeros(m.shape, bool)
        valid[5:-5, 5:-5] = True
        stats["box"].append(float(m[valid].mean()))
        stats["still"].append(ev.ssim_grey(ref, first[rows, cols]))
        real = av.person_mask(frame) > 128
        shown = outputs["mask"][rows, cols] > 128
        rp, fl = real[rows, cols], filled[rows, cols]
        parts = {"P/P": shown & rp, "P/B": shown & ~rp, "B/P": ~shown & rp,
                 "B/B photo": ~shown & ~rp & ~fl, "B/B filled": ~shown & ~rp & fl}
        for name, part in parts.items():
            part = part & outside & valid
            cats[name].append((part.sum() / valid.sum(), float(m[part].mean()) if part.any() else np.nan,
                               float((1 - m[part]).sum() / valid.sum())))
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        flow = dis.calc(grey, grey0, None)  # frame i -> frame 0
        room = ~cv2.dilate((real | person0).astype(np.uint8), grow).astype(bool)
        stats["camera"].append(float(np.median(np.linalg.norm(flow[room], axis=1))) if room.sum() > 500 else np.nan)
        # Ceilings: the real person outside the outline, above the chin, moved from the photo.
        inside = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inside, [np.round(lm[oval, :2]).astype(np.int32)], 1)
        dist = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5) / av.face_width(lm)
        above = gy < lm[152, 1]
        ys, xs = np.nonzero((dist > 0) & (dist < HAIR_BAND) & above & real)
        one = _fit(xs, ys, flow)
        if one is None:
            continue
        centre = lm[oval, :2].mean(0)
        sector = (((np.arctan2(gy - centre[1], gx - centre[0]) + np.pi) / (2 * np.pi)) * SECTORS).astype(int) % SECTORS
        ox, oy = _affine_map(one, gx, gy)
        mx, my = ox, oy
        for k in range(SECTORS):
            pick = sector[ys, xs] == k
            a = _fit(xs[pick], ys[pick], flow)
            if a is not None:
                sx, sy = _affine_map(a, gx, gy)
                mx, my = np.where(sector == k, sx, mx), np.where(sector == k, sy, my)
        moved = [cv2.remap(first, ox, oy, cv2.INTER_LINEAR), cv2.remap(first, mx, my, cv2.INTER_LINEAR),
                 cv2.remap(first, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR)]
        region = outside & above[rows, cols] & rp
        row = []
        for alt in moved:
            mix = out[rows, cols].copy()
            mix[region] = alt[rows, cols][region]
            row.append(ev.ssim_grey(ref, mix))
        stats["ceil"].append(row)
    return {"stats": stats, "cats": cats}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+", help="clips under the shared data's video/")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--code", help="score the livecam package of another checkout (as eval_avatar)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    for clip in args.clips:
        r = clip_report(clip, args.frames)
        s, cats = r["stats"], r["cats"]
        ceil = np.array(s["ceil"]).mean(0) if s["ceil"] else [np.nan] * 3
        rest = np.array(s["rest"]).mean(0) if s["rest"] else [np.nan] * 2
        print(f"{clip}: box SSIM {np.mean(s['box']):.4f} (still {np.mean(s['still']):.4f}), {len(s['box'])} frames")
        print("  outside the outline   share  SSIM   loss")
        for name in CATEGORIES:
            a = np.array(cats[name])
            print(f"    {name:12s}        {a[:, 0].mean():.3f}  {np.nanmean(a[:, 1]):.3f}  {a[:, 2].mean():.4f}")
        print(f"  ceilings (person above the chin moved by): one affine {ceil[0]:.4f}, {SECTORS} sector affines "
              f"{ceil[1]:.4f}, dense flow {ceil[2]:.4f}")
        print(f"  camera: median room motion {np.nanmedian(s['camera']):.1f} px; rest ({len(s['rest'])} frames): "
              f"change outside avatar {rest[0]:.2f}, input {rest[1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
