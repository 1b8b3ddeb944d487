"""The test clip and the checks on what comes back out of the virtual camera.

The source is a real webcam clip cover-fitted to the output size (so LiveCam's own cover-fit
leaves it as it is) with each frame's index burnt into the person's face as a row of light and
dark cells: the index in binary, then its complement, and each bit is read as "cell lighter than
its complement", so chroma subsampling, scaling or a speck of background in a cell cannot turn
one index into another. The cells sit inside the person, so the segmentation keeps them while
the room around is replaced by the colour.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BITS = 9  # up to 512 source frames
CELL_W, CELL_H = 12, 16
DARK, LIGHT = 24, 232
# Where the face is in the cover-fitted webcam clip: the code row crosses the nose below the
# eyes, and the comparison box is the middle of the face (the code row is masked out of it).
CODE_ROW = (212, 200)  # x, y of the top-left cell, for 640x360
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
    """The stamped index of a BGR frame, or None when the row is not a valid code.

    Each bit is read by comparing its cell with its complement cell, not against a fixed level:
    where the segmentation lets some background colour into a cell, the cell moves towards that
    colour (whose luma lies between DARK and LIGHT for the colours the tests use) and the
    comparison still holds. A pair too close to call makes the code invalid, never wrong.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    x0, y0 = CODE_ROW
    # The median of each cell's middle: edges blur with chroma subsampling and scaling.
    cells = [
        float(np.median(gray[y0 + 4 : y0 + CELL_H - 4, x0 + i * CELL_W + 3 : x0 + (i + 1) * CELL_W - 3]))
        for i in range(2 * BITS)
    ]
    bits = []
    for value, complement in zip(cells[:BITS], cells[BITS:]):
        if abs(value - complement) < 40:
            return None
        bits.append(int(value > complement))
    return int("".join(map(str, bits)), 2)


def read_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def make_source(picture: Path, out: Path, width: int, height: int, fps: float, step: int, limit: int) -> list[np.ndarray]:
    """Write the stamped clip (MPEG-4 Part 2 in MP4, which OpenCV writes and reads everywhere) and
    return its frames as decoded back from the file, which is what LiveCam will see.

    ``picture`` is a video (every ``step``-th frame is used, so a slow guest spends its time on
    the effect rather than on decoding) or a still image (repeated ``limit`` times).
    """
    if path_is_video(picture):
        frames = read_frames(picture)[::step][:limit]
    else:
        image = cv2.imread(str(picture))
        frames = [image] * limit if image is not None else []
    if len(frames) < 2:
        raise ValueError(f"{picture} gave {len(frames)} frames; the guest test needs a readable video or image.")
    frames = frames[: 1 << BITS]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    try:
        for index, image in enumerate(frames):
            writer.write(stamp(cover_fit(image, width, height), index))
    finally:
        writer.release()
    return read_frames(out)


def path_is_video(path: Path) -> bool:
    return path.suffix.lower() in (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


def read_y4m(path: Path) -> list[np.ndarray]:
    """Frames of a YUV4MPEG2 file (what the ffmpeg reader writes: the device's own pixels, no
    re-encoding) as BGR. 4:2:0 and 4:2:2 are the formats a v4l2loopback writer uses."""
    data = path.read_bytes()
    header_end = data.index(b"\n")
    fields = data[:header_end].split()
    if fields[0] != b"YUV4MPEG2":
        raise ValueError(f"{path} is not a YUV4MPEG2 file")
    width = int(next(f[1:] for f in fields if f.startswith(b"W")))
    height = int(next(f[1:] for f in fields if f.startswith(b"H")))
    chroma = next((f[1:].decode() for f in fields if f.startswith(b"C")), "420jpeg")
    if chroma.startswith("420"):
        size, convert = width * height * 3 // 2, lambda raw: cv2.cvtColor(raw.reshape(height * 3 // 2, width), cv2.COLOR_YUV2BGR_I420)
    elif chroma.startswith("422"):
        size, convert = width * height * 2, lambda raw: _planar422_to_bgr(raw, width, height)
    else:
        raise ValueError(f"{path} uses chroma {chroma}, which this test does not read")
    frames, pos = [], header_end + 1
    while pos < len(data):
        line_end = data.index(b"\n", pos)
        if not data[pos:line_end].startswith(b"FRAME"):
            raise ValueError(f"{path}: expected a FRAME header at byte {pos}")
        start = line_end + 1
        if start + size > len(data):
            break  # the reader was stopped in the middle of a frame
        frames.append(convert(np.frombuffer(data, np.uint8, size, start)))
        pos = start + size
    return frames


def _planar422_to_bgr(raw: np.ndarray, width: int, height: int) -> np.ndarray:
    y = raw[: width * height].reshape(height, width)
    u = raw[width * height : width * height * 3 // 2].reshape(height, width // 2)
    v = raw[width * height * 3 // 2 :].reshape(height, width // 2)
    yuyv = np.empty((height, width, 2), np.uint8)
    yuyv[..., 0] = y
    yuyv[:, 0::2, 1] = u
    yuyv[:, 1::2, 1] = v
    return cv2.cvtColor(yuyv, cv2.COLOR_YUV2BGR_YUYV)


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


def inspect(
    name: str,
    image: np.ndarray,
    colour_bgr: tuple[int, int, int],
    source: list[np.ndarray],
    corners: tuple[str, ...] = ("tl", "tr", "bl", "br"),
) -> FrameReport:
    h, w = image.shape[:2]
    colour = np.array(colour_bgr, np.float32)
    patches = {
        "tl": image[:CORNER, :CORNER],
        "tr": image[:CORNER, w - CORNER :],
        "bl": image[h - CORNER :, :CORNER],
        "br": image[h - CORNER :, w - CORNER :],
    }
    corner_error = max(
        float(np.abs(patches[c].reshape(-1, 3).astype(np.float32) - colour).mean()) for c in corners
    )
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
