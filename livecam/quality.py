"""``livecam eval``: is the refined mask better than the raw model output? Numbers, side by side.

- Accuracy on the still photos with ground truth (``masks/dev``): mean IoU and boundary F-score of
  the raw model mask (bilinear upsampling, as the model's consumers usually do) and of LiveCam's
  final mask.
- Flicker on the clips (``video/*.mp4``): mean absolute frame-to-frame change of the mask, raw vs
  final, over all pixels (this includes real motion, which the mask must follow) and over the
  pixels where the picture did not change (flicker proper), plus IoU against the chroma-key ground
  truth of the green-screen clip.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import cv2
import numpy as np

from livecam.analysis import Analyzer
from livecam.settings import Settings, update


def data_root(given: str | None = None) -> Path:
    import os

    if given:
        return Path(given)
    if os.environ.get("LIVECAM_DATA"):
        return Path(os.environ["LIVECAM_DATA"])
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def _boundary(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0


def boundary_f(pred: np.ndarray, gt: np.ndarray, tolerance: float = 0.01) -> float:
    """DAVIS-style boundary F-measure: contour pixels matched within ``tolerance`` x image diagonal."""
    radius = max(1, round(tolerance * float(np.hypot(*gt.shape))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    bp, bg = _boundary(pred), _boundary(gt)
    if not bp.any() and not bg.any():
        return 1.0
    near_g = cv2.dilate(bg.astype(np.uint8), kernel) > 0
    near_p = cv2.dilate(bp.astype(np.uint8), kernel) > 0
    precision = (bp & near_g).sum() / max(1, bp.sum())
    recall = (bg & near_p).sum() / max(1, bg.sum())
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def _masks(analyzer: Analyzer, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raw, final) float masks at image size in 0..1."""
    h, w = image.shape[:2]
    result = analyzer.analyze(image, {"mask"})
    raw = cv2.resize(result.raw_mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return raw, result.mask.astype(np.float32) / 255.0


def _analyzer(model: str) -> Analyzer:
    return Analyzer(update(Settings(), segmentation={"model": model}, runtime={"threads": 1}))


def eval_stills(root: Path, model: str) -> dict:
    images = sorted((root / "masks" / "dev" / "images").glob("*"))
    scores = {"raw": {"iou": [], "bf": []}, "refined": {"iou": [], "bf": []}}
    for path in images:
        gt_path = root / "masks" / "dev" / "masks" / (path.stem + ".png")
        image, gt = cv2.imread(str(path)), cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
        if image is None or gt is None:
            continue
        gt = cv2.resize(gt, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST) > 127
        raw, final = _masks(_analyzer(model), image)  # fresh analyzer: no temporal state across photos
        for name, m in (("raw", raw), ("refined", final)):
            scores[name]["iou"].append(iou(m > 0.5, gt))
            scores[name]["bf"].append(boundary_f(m > 0.5, gt))
    return {
        "images": len(scores["raw"]["iou"]),
        **{name: {k: round(statistics.mean(v), 4) for k, v in s.items()} for name, s in scores.items() if s["iou"]},
    }


def eval_clips(root: Path, model: str, max_frames: int = 150) -> dict:
    clips = sorted((root / "video").glob("*.mp4"))
    per_clip = {}
    gt_dir = root / "video" / "masks_chromakey"
    for clip in clips:
        analyzer = _analyzer(model)
        cap = cv2.VideoCapture(str(clip))
        prev_raw = prev_fin = prev_grey = None
        d_raw, d_fin, iou_raw, iou_fin, s_raw, s_fin = [], [], [], [], [], []
        gt_folder = gt_dir / clip.stem
        for i in range(max_frames):
            ok, frame = cap.read()
            if not ok:
                break
            raw, fin = _masks(analyzer, frame)
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            if prev_raw is not None:
                dr, df = cv2.absdiff(raw, prev_raw), cv2.absdiff(fin, prev_fin)
                d_raw.append(float(dr.mean()))
                d_fin.append(float(df.mean()))
                # Flicker proper: the mask changing where the picture did not (grey change < 2 levels).
                still = cv2.blur(cv2.absdiff(grey, prev_grey), (9, 9)) < 2
                if still.any():
                    s_raw.append(float(dr[still].mean()))
                    s_fin.append(float(df[still].mean()))
            prev_raw, prev_fin, prev_grey = raw, fin, grey
            gt_path = gt_folder / f"{i:05d}.png"
            if gt_path.is_file():
                gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
                gt = cv2.resize(gt, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST) > 127
                iou_raw.append(iou(raw > 0.5, gt))
                iou_fin.append(iou(fin > 0.5, gt))
        cap.release()
        if not d_raw:
            continue
        entry = {"frames": len(d_raw) + 1, "flicker_raw": statistics.mean(d_raw), "flicker_refined": statistics.mean(d_fin)}
        if s_raw:
            entry.update(still_flicker_raw=statistics.mean(s_raw), still_flicker_refined=statistics.mean(s_fin))
        if iou_raw:
            entry.update(iou_raw=statistics.mean(iou_raw), iou_refined=statistics.mean(iou_fin))
        per_clip[clip.name] = {k: round(v, 5) if isinstance(v, float) else v for k, v in entry.items()}
    if not per_clip:
        return {"clips": {}}
    out: dict = {"clips": per_clip}
    for key in ("flicker", "still_flicker"):
        values = [c for c in per_clip.values() if f"{key}_raw" in c]
        raw = statistics.mean(c[f"{key}_raw"] for c in values)
        fin = statistics.mean(c[f"{key}_refined"] for c in values)
        out.update({f"{key}_raw": round(raw, 5), f"{key}_refined": round(fin, 5), f"{key}_ratio": round(fin / raw, 3)})
    return out


def main(args: argparse.Namespace) -> int:
    cv2.setNumThreads(1)
    root = data_root(getattr(args, "data", None))
    if not (root / "masks").is_dir():
        print(f"livecam eval: no test data at {root}; pass --data PATH (the folder with masks/ and video/).")
        return 1
    models = ("landscape", "general") if args.model == "both" else (args.model,)
    report = {m: {"stills": eval_stills(root, m), "clips": eval_clips(root, m)} for m in models}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for m, r in report.items():
        s, c = r["stills"], r["clips"]
        print(f"\nmodel: {m}  ({s['images']} photos with ground truth, {len(c['clips'])} clips)")
        print(f"{'':12}{'IoU':>8}{'boundary F':>12}{'flicker':>10}{'still-pixel flicker':>21}")
        for name in ("raw", "refined"):
            print(f"{name:12}{s[name]['iou']:8.4f}{s[name]['bf']:12.4f}{c.get('flicker_' + name, float('nan')):10.5f}"
                  f"{c.get('still_flicker_' + name, float('nan')):21.5f}")
        if "flicker_ratio" in c:
            print(f"refined/raw: flicker {c['flicker_ratio']:.2f} (all pixels, includes real motion), "
                  f"{c['still_flicker_ratio']:.2f} (pixels where the picture is still)")
        for clip, e in c["clips"].items():
            extra = f"  IoU vs chroma key raw {e['iou_raw']:.4f} refined {e['iou_refined']:.4f}" if "iou_raw" in e else ""
            print(f"  {clip:40} flicker raw {e['flicker_raw']:.5f} refined {e['flicker_refined']:.5f}{extra}")
    return 0
