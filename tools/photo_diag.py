"""Where the photo avatar's self-reenactment SSIM is lost: per face region, per frame and against
the head's turn since the neutral frame.

    .venv/bin/python tools/photo_diag.py lp_d12_talking_indoor.mp4 [--frames 150] [--dump DIR] [--per-frame]

Scores as ``tools/eval_avatar.py --animate-only`` does (the clip's frame 0 is the photo; SSIM on grey
over the mesh's box grown 30 %, frames 10 on), but keeps the SSIM map and splits the box into
regions drawn from the wearer's own mesh: eyes and brows, mouth, the face's left and right half
(image sides, features and border left out), the border band inside the outline (12 % of the face
width), and everything outside the outline (hair, ears, neck, background), also by side. Per region
it prints its share of the box, its mean SSIM (and the still paste's), and **gain**: how much the
box's SSIM would rise were that region perfect (the input pasted into the output there, SSIM taken
again), the number that ranks the causes. Then the SSIM by how far the head has turned (yaw since
the neutral frame, from the mesh). ``--dump`` writes input | output | SSIM map per frame.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import eval_avatar as ev  # noqa: E402
from livecam.analysis import face_regions as regions  # noqa: E402
from livecam.analysis.head_pose import head_pose  # noqa: E402
from livecam.effects import avatar as av  # noqa: E402
from livecam.types import Analysis  # noqa: E402

REGIONS = ("eyes", "mouth", "skin_left", "skin_right", "border_left", "border_right",
           "outside", "out_up", "out_down", "out_left", "out_right")
BORDER = 0.12  # the border band inside the outline, share of the face width


def regions_of(lm: np.ndarray, rows: slice, cols: slice) -> dict[str, np.ndarray]:
    """Boolean masks over the box (``rows``, ``cols``) for each of REGIONS, from the mesh ``lm``."""
    h, w = rows.stop - rows.start, cols.stop - cols.start
    off = np.array([cols.start, rows.start], np.float64)

    def poly(indices, grow=0.0):
        m = np.zeros((h, w), np.uint8)
        p = lm[np.asarray(indices), :2] - off
        p = p.mean(0) + (p - p.mean(0)) * (1 + grow)
        cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
        return m.astype(bool)

    oval = poly(regions.FACE_OVAL)
    eyes = poly(regions.RIGHT_EYE, 0.6) | poly(regions.LEFT_EYE, 0.6)
    eyes |= poly(regions.RIGHT_BROW, 0.3) | poly(regions.LEFT_BROW, 0.3)
    mouth = poly(regions.LIPS_OUTER, 0.35)
    ys, xs = np.mgrid[0:h, 0:w]
    midline = np.interp(ys + rows.start, lm[[10, 168, 1, 152], 1], lm[[10, 168, 1, 152], 0])
    left = xs + cols.start < midline
    inside = cv2.distanceTransform(oval.astype(np.uint8), cv2.DIST_L2, 5)
    border = oval & (inside < BORDER * av.face_width(lm)) & ~eyes & ~mouth
    skin = oval & ~eyes & ~mouth & ~border
    c = lm[np.asarray(regions.FACE_OVAL), :2].mean(0) - off
    angle = np.degrees(np.arctan2(ys - c[1], xs - c[0]))  # 0 = image right, 90 = down
    out = ~oval
    return {"eyes": eyes, "mouth": mouth, "skin_left": skin & left, "skin_right": skin & ~left,
            "border_left": border & left, "border_right": border & ~left, "outside": out,
            "out_up": out & (angle < -45) & (angle > -135), "out_down": out & (angle > 45) & (angle < 135),
            "out_left": out & ((angle >= 135) | (angle <= -135)), "out_right": out & (np.abs(angle) < 45)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", help="a clip under the shared data's video/")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--dump", help="write each frame's input | output | SSIM map here")
    ap.add_argument("--per-frame", action="store_true", help="print a line per frame")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    video = ev.data_dir() / "video" / args.clip
    tracked = ev.track(video, args.frames)
    first = next(ev.frames(video, 1))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frame0.png"
        cv2.imwrite(str(path), first)
        effect = av.PhotoAvatar(ev.open_photo(path))
    neutral_yaw = None
    rows_out = []
    for i, frame in enumerate(ev.frames(video, args.frames)):
        faces = tracked[i]
        out = effect.apply(frame, Analysis(faces=list(faces)))[0]
        if not faces:
            continue
        lm = faces[0].landmarks
        if neutral_yaw is None:
            neutral_yaw = head_pose(lm)[0]
        if i < ev.SETTLE:
            continue
        rows, cols = ev.face_box(lm, frame.shape)
        ref, crop = frame[rows, cols], out[rows, cols]
        m, still = ev.ssim_map(ref, crop), ev.ssim_map(ref, first[rows, cols])
        valid = np.zeros(m.shape, bool)
        valid[5:-5, 5:-5] = True
        base = float(m[valid].mean())
        reg = regions_of(lm, rows, cols)
        share, mean, still_mean, gain = [], [], [], []
        for name in REGIONS:
            r = reg[name] & valid
            share.append(r.sum() / valid.sum())
            mean.append(float(m[r].mean()) if r.any() else np.nan)
            still_mean.append(float(still[r].mean()) if r.any() else np.nan)
            pasted = crop.copy()
            pasted[reg[name]] = ref[reg[name]]
            gain.append(ev.ssim_grey(ref, pasted) - ev.ssim_grey(ref, crop))
        yaw = head_pose(lm)[0] - neutral_yaw
        rows_out.append((yaw, base, float(still[valid].mean()), share, mean, still_mean, gain))
        if args.per_frame:
            print(f"{i:4d} yaw {yaw:6.1f}  ssim {base:.3f}  " + " ".join(f"{n} {v:.2f}" for n, v in zip(REGIONS, mean)))
        if args.dump:
            d = Path(args.dump)
            d.mkdir(parents=True, exist_ok=True)
            vis = cv2.cvtColor(np.clip(m * 255, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
            cv2.imwrite(str(d / f"{i:04d}.png"), np.hstack([ref, crop, vis]))
    if not rows_out:
        print("no scored frames")
        return 1
    yaw = np.abs([r[0] for r in rows_out])
    ssim = np.array([r[1] for r in rows_out])
    print(f"{args.clip}: SSIM {ssim.mean():.4f} (still paste {np.mean([r[2] for r in rows_out]):.4f}), "
          f"{len(rows_out)} frames")
    print("region        share  SSIM   still  gain if perfect")
    for k, name in enumerate(REGIONS):
        col = [np.array([r[j][k] for r in rows_out]) for j in (3, 4, 5, 6)]
        print(f"{name:12s}  {col[0].mean():.3f}  {np.nanmean(col[1]):.3f}  {np.nanmean(col[2]):.3f}  "
              f"+{col[3].mean():.3f}")
    for lo, hi in ((0, 3), (3, 6), (6, 10), (10, 15), (15, 90)):
        sel = (yaw >= lo) & (yaw < hi)
        if sel.any():
            print(f"|yaw since neutral| {lo:2d}-{hi:2d} deg: {sel.sum():3d} frames, SSIM {ssim[sel].mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
