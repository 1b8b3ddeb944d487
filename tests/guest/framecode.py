"""The test clip and the checks on what comes back out of the virtual camera.

The source is a real webcam clip cover-fitted to the output size (so LiveCam's own cover-fit
leaves it as it is) with each frame's index burnt into the person's face as a row of light and
dark cells: the index in binary, then its complement, so a cell misread by chroma subsampling,
scaling or a torn frame gives an invalid code instead of a wrong index. The cells sit inside
the person, so the segmentation keeps them while the room around is replaced by the colour.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BITS = 10
CELL_W, CELL_H = 12, 16
DARK, LIGHT = 24, 232
# Where the face is in the cover-fitted webcam clip: the code row crosses the cheeks below the
# eyes, and the comparison box is the middle of the face (the code row is masked out of it).
CODE_ROW = (200, 200)  # x, y of the top-left cell, for 640x360
FACE_BOX = (250, 90, 390, 270)  # x0, y0, x1, y1
CORNER = 32  # side of the corner patches that must turn into the background colour


def cover_fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    scaled = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x, y = (sw - width) // 2, (sh - height) // 2
    return scaled[y : y + height, x : x + width]


def code_cells(index: int) -> list[int]:
    bits = [(index >> (BITS - 1 - i)) & 1 for i in range(BITS)]
    return bits + [1 - b for b in bits]


def stamp(image: np.ndarray, index: int) -> np.ndarray:
    out = image.copy()
    x0, y0 = CODE_ROW
    for i, bit in enumerate(code_cells(index)):
        x = x0 + i * CELL_W
        out[y0 : y0 + CELL_H, x : x + CELL_W] = LIGHT if bit else DARK
    return out


def read_code(image: np.ndarray) -> int | None:
    """The stamped index of a BGR frame, or None when the row is not a valid code."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    x0, y0 = CODE_ROW
    bits = []
    for i in range(2 * BITS):
        x = x0 + i * CELL_W
        # The middle of each cell only: edges blur with chroma subsampling and scaling.
        mean = gray[y0 + 4 : y0 + CELL_H - 4, x + 3 : x + CELL_W - 3].mean()
        if abs(mean - (DARK + LIGHT) / 2) < 40:
            return None
        bits.append(int(mean > (DARK + LIGHT) / 2))
    value, check = bits[:BITS], bits[BITS:]
    if any(a == b for a, b in zip(value, check)):
        return None
    return int("".join(map(str, value)), 2)


def make_source(clip: Path, out: Path, width: int, height: int, frames: int) -> list[np.ndarray]:
    """Write the stamped clip as MPEG-4 Part 2 in MP4 (OpenCV writes and reads it everywhere) and return
    its frames as decoded back from the file, which is what LiveCam will see."""
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    written = 0
    try:
        while written < frames:
            ok, image = cap.read()
            if not ok:
                break
            writer.write(stamp(cover_fit(image, width, height), written))
            written += 1
    finally:
        cap.release()
        writer.release()
    if written < 2:
        raise ValueError(f"{clip} gave {written} frames; the guest test needs a readable video clip.")
    decoded = []
    cap = cv2.VideoCapture(str(out))
    while True:
        ok, image = cap.read()
        if not ok:
            break
        decoded.append(image)
    cap.release()
    return decoded


@dataclass
class FrameReport:
    """What one received frame shows, in numbers a failure message can print."""

    name: str
    size: tuple[int, int]
    index: int | None
    corner_error: float  # worst corner's mean |BGR - colour|
    face_error: float | None  # mean |frame - source[index]| over the face, code row excluded

    def __str__(self) -> str:
        face = "n/a" if self.face_error is None else f"{self.face_error:.1f}"
        return (
            f"{self.name}: {self.size[0]}x{self.size[1]} index={self.index} "
            f"corner error={self.corner_error:.1f} face error={face}"
        )


def inspect(name: str, image: np.ndarray, colour_bgr: tuple[int, int, int], source: list[np.ndarray]) -> FrameReport:
    h, w = image.shape[:2]
    colour = np.array(colour_bgr, np.float32)
    corners = [
        image[:CORNER, :CORNER],
        image[:CORNER, w - CORNER :],
        image[h - CORNER :, :CORNER],
        image[h - CORNER :, w - CORNER :],
    ]
    corner_error = max(float(np.abs(c.reshape(-1, 3).astype(np.float32) - colour).mean()) for c in corners)
    index = read_code(image) if (w, h) == source[0].shape[1::-1] else None
    face_error = None
    if index is not None and index < len(source):
        x0, y0, x1, y1 = FACE_BOX
        keep = np.ones((y1 - y0, x1 - x0), bool)
        cy = CODE_ROW[1] - y0
        keep[max(cy - 4, 0) : cy + CELL_H + 4] = False
        diff = np.abs(image[y0:y1, x0:x1].astype(np.float32) - source[index][y0:y1, x0:x1].astype(np.float32))
        face_error = float(diff[keep].mean())
    return FrameReport(name, (w, h), index, corner_error, face_error)


def order_problems(indices: list[int], length: int, max_step: int) -> list[str]:
    """Why a sequence of stamped indices is not "in order", or [] when it is.

    The source loops, so steps are taken modulo its length; a step of 0 is a repeat (the output
    keeps its frame rate while the slow guest processes fewer frames) and a step up to
    ``max_step`` is a skip (latest frame wins). Anything else, a step back above all, fails.
    """
    problems = []
    for a, b in zip(indices, indices[1:]):
        step = (b - a) % length
        if step > max_step:
            problems.append(f"frame {a} was followed by frame {b} (a step of {step}, more than {max_step})")
    return problems
