"""The photo halo at realistic sizes: ``livecam eval``'s photo part with every photo resized to each
width of ``quality.SIZE_WIDTHS`` (and as it is), per half. The dev photos are mostly about the
model's input size, webcam frames several times that; an edge constant is chosen on the tuning half
at every size, the native one included.

    python tools/eval_sizes.py [--model landscape] [--half tune|report|all] [--widths 0,640,1280] [--json]

Width 0 is the photos as they are. Prints, per width and half, IoU raw -> final and the final halo
as a share of raw (light / dark), the numbers ``livecam eval`` prints for the photos; at a width, also
for the photos at least that wide ("not enl.": shrunk or kept, never enlarged; see quality.eval_stills)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402

from livecam import quality  # noqa: E402


def table(model: str, half: str | None, widths: list[int], data: str | None = None) -> dict:
    root = quality.data_root(data)
    return {w: quality.eval_stills(root, model, half=half, width=w or None) for w in widths}


def print_table(model: str, results: dict) -> None:
    print(f"model: {model}; halo is final as a share of raw (light / dark)")
    print(f"{'width':>8} {'half':<25}{'photos':>7}{'IoU raw':>9}{'final':>8}{'halo light':>12}{'dark':>7}")
    for w, s in results.items():
        rows = [("", s["halves"])] + ([(" not enl.", s["native"]["halves"])] if "native" in s else [])
        for subset, halves in rows:
            for half, hs in halves.items():
                if "raw" not in hs:
                    continue
                r, f = hs["raw"], hs["final"]
                print(f"{w or 'native':>8} {quality.HALF_NAMES[half] + subset:<25}{hs['images']:>7}{r['iou']:>9.4f}"
                      f"{f['iou']:>8.4f}{quality._ratio(f['halo_light'], r['halo_light']):>12.3f}"
                      f"{quality._ratio(f['halo_dark'], r['halo_dark']):>7.3f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="landscape")
    p.add_argument("--half", default="tune", choices=("tune", "report", "all"))
    p.add_argument("--widths", default=",".join(map(str, (0, *quality.SIZE_WIDTHS))))
    p.add_argument("--data")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    cv2.setNumThreads(1)
    widths = [int(x) for x in a.widths.split(",")]
    results = table(a.model, None if a.half == "all" else a.half, widths, a.data)
    if a.json:
        print(json.dumps({str(w): s for w, s in results.items()}))
    else:
        print_table(a.model, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
