"""Where the photo halo of ``livecam eval`` comes from: the outline's place or the edge colour, per
source group of masks/index.csv, on one half of the photos (the tuning half unless told).

    .venv/bin/python tools/halo_diag.py [--model landscape] [--half tune|report] [--width 640]

Per group it prints the final halo as a share of raw (light / dark, as ``livecam eval``), then the
same with the truth's alpha and LiveCam's edge colour (what is left when the outline is perfect: the
colour's part), with LiveCam's alpha and the frame's own colour (no edge colour), and where the
final outline lies against the truth's: its pixels outside the truth ("out", room shown) and the
truth's pixels it leaves out ("in", person cut), each per pixel of the truth's outline, i.e. in px.
An outline that sits ``in`` about a pixel while the halo falls with a larger mask says the truth
lies outside the picture's own edge (remove.bg's cut-outs), not that the outline is too coarse.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livecam import quality as Q  # noqa: E402

PARTS = ("raw", "final", "truth_alpha", "no_colour")
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def outline_offsets(mask: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(out, in): pixels of ``mask`` outside ``truth`` and of ``truth`` outside ``mask`` (booleans),
    each per pixel of the truth's outline (its pixels with a 4-neighbour outside it): how far the
    outline lies outside or inside the truth's, in px, on average along it."""
    t8 = truth.astype(np.uint8)
    length = max(1, int(np.count_nonzero(t8 - cv2.erode(t8, _CROSS, borderType=cv2.BORDER_REPLICATE))))
    return float(np.count_nonzero(mask & ~truth)) / length, float(np.count_nonzero(truth & ~mask)) / length


def halo_parts(image: np.ndarray, alpha_true: np.ndarray, raw: np.ndarray, final: np.ndarray,
               foreground) -> dict[str, tuple[float, float]]:
    """Each part's halo (light, dark), 0..255 as ``quality.halo_score``."""
    band = Q.outline_band(alpha_true)
    cases = {"raw": (raw, None), "final": (final, foreground), "truth_alpha": (alpha_true, foreground),
             "no_colour": (final, None)}
    return {name: tuple(Q.halo_score(image, alpha_true, alpha, colour, band, fg) for colour in (Q.LIGHT, Q.DARK))
            for name, (alpha, fg) in cases.items()}


def groups(root: Path) -> dict[str, str]:
    """Each photo id's source group from masks/index.csv ({} without one)."""
    index = root / "masks" / "index.csv"
    if not index.is_file():
        return {}
    with open(index, newline="", encoding="utf-8") as f:
        return {row["id"]: row.get("group") or "" for row in csv.DictReader(f) if row.get("id")}


def diagnose(root: Path, model: str, half: str, width: int | None = None) -> dict[str, dict]:
    """Per group (and "all"): photos, the mean of each part's halo (light, dark) and of the offsets."""
    images = sorted((root / "masks" / "dev" / "images").glob("*"))
    which, group_of = Q.photo_halves(root, [p.stem for p in images]), groups(root)
    plain = Q._Plain(model)
    rows: dict[str, list] = {}
    for path in images:
        if which[path.stem] != half:
            continue
        image = cv2.imread(str(path))
        gt = cv2.imread(str(root / "masks" / "dev" / "masks" / (path.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        if image is None or gt is None:
            continue
        if width:
            image = Q.at_width(image, width)
        h, w = image.shape[:2]
        alpha_true = cv2.resize(gt, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        analyzer = Q._analyzer(model)
        for _ in range(Q.SETTLE_FRAMES):
            _, final, foreground = Q._final(analyzer, image)
        parts = halo_parts(image, alpha_true, plain(image), final, foreground)
        offsets = outline_offsets(final > 0.5, alpha_true > 0.5)
        for key in (group_of.get(path.stem, "photos"), "all"):
            rows.setdefault(key, []).append((parts, offsets))
    return {key: {"photos": len(r),
                  **{p: tuple(float(np.mean([x[0][p][i] for x in r])) for i in (0, 1)) for p in PARTS},
                  "out": float(np.mean([x[1][0] for x in r])), "in": float(np.mean([x[1][1] for x in r]))}
            for key, r in rows.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="landscape", choices=[m for m in Q.MODELS if m != "rvm"])
    parser.add_argument("--half", default="tune", choices=Q.HALVES)
    parser.add_argument("--width", type=int, default=None, help="every photo resized to this width first")
    parser.add_argument("--data", default=None, help="the shared data folder (default: LIVECAM_DATA or ../shared/data)")
    args = parser.parse_args()
    result = diagnose(Q.data_root(args.data), args.model, args.half, args.width)
    print(f"{args.model}, {Q.HALF_NAMES[args.half]}" + (f", at {args.width} px" if args.width else "")
          + ": halo as a share of raw, light / dark; outline px outside / inside the truth's")
    print(f"{'group':<28}{'photos':>7}{'final':>14}{'truth alpha':>14}{'no colour':>14}{'out':>7}{'in':>7}")
    for key, r in sorted(result.items(), key=lambda kv: kv[0] == "all"):
        share = [f"{r[p][0] / max(r['raw'][0], 1e-9):.3f}/{r[p][1] / max(r['raw'][1], 1e-9):.3f}"
                 for p in ("final", "truth_alpha", "no_colour")]
        print(f"{key:<28}{r['photos']:>7}" + "".join(f"{s:>14}" for s in share) + f"{r['out']:>7.2f}{r['in']:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
