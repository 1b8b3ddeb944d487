"""Rebuild assets/demo/demo.mp4: a slow pan/zoom over the public-domain astronaut portrait."""
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(width: int = 640, height: int = 360, frames: int = 90, fps: int = 30) -> None:
    img = cv2.imread(str(ROOT / "tests" / "fixtures" / "sk_astronaut.png"))
    h, w = img.shape[:2]
    out = cv2.VideoWriter(str(ROOT / "assets" / "demo" / "demo.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for i in range(frames):
        t = 0.5 - 0.5 * np.cos(2 * np.pi * i / frames)  # ease in and out, and loop seamlessly
        cw = int(w * (0.95 - 0.1 * t))
        ch = int(cw * height / width)
        x, y = int((w - cw) * (0.3 + 0.4 * t)), int((h - ch) * 0.2)
        out.write(cv2.resize(img[y : y + ch, x : x + cw], (width, height), interpolation=cv2.INTER_AREA))
    out.release()


if __name__ == "__main__":
    main()
