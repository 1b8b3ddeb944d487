"""Small image helpers shared by capture and effects."""
from __future__ import annotations

import cv2
import numpy as np


def cover_fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` to cover ``size`` (width, height) and crop the centre: no bars, no stretching."""
    width, height = size
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = max(width / w, height / h)
    # Crop in the source first: scaling the whole of a 4000x2 strip to cover 1280x720 would
    # allocate 1.4 million x 720 pixels (gigabytes, tens of seconds) for a frame-sized result.
    cw, ch = min(w, max(1, round(width / scale))), min(h, max(1, round(height / scale)))
    x, y = (w - cw) // 2, (h - ch) // 2
    crop = image[y : y + ch, x : x + cw]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(crop, (width, height), interpolation=interp)


def whole_factor_box(x0: int, y0: int, x1: int, y1: int, width: int) -> tuple[tuple[int, int, int, int], int]:
    """The smallest whole factor that shrinks the box to at most ``width`` pixels wide, and the box
    trimmed at its right and bottom to whole multiples of it, so :func:`shrink_by` takes OpenCV's
    fast area path (a non-whole factor costs several times as much)."""
    step = max(1, -(-(x1 - x0) // width))
    return (x0, y0, x0 + (x1 - x0) // step * step, y0 + (y1 - y0) // step * step), step


def shrink_by(picture: np.ndarray, step: int) -> np.ndarray:
    """``picture`` shrunk by the whole factor ``step`` (area averaging)."""
    h, w = picture.shape[:2]
    return cv2.resize(picture, (w // step, h // step), interpolation=cv2.INTER_AREA)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes given as (x0, y0, x1, y1)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def as_bgr8(image: object) -> np.ndarray | None:
    """A frame from any source as contiguous BGR uint8, or None when it is not a picture.

    Cameras and decoders hand over what their backend makes: grey (H, W) or (H, W, 1), BGRA,
    16-bit or float samples. Everything downstream (models, effects, the output gate, sinks)
    is written for BGR uint8, so frames are made that once, here. Two-channel (raw YUYV) and
    other layouts cannot be read without knowing the format: None."""
    if (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            and image.flags.c_contiguous and image.size):
        return image  # the usual frame: nothing to do
    if not isinstance(image, np.ndarray) or image.size == 0 or image.ndim not in (2, 3):
        return None
    if image.ndim == 3:
        channels = image.shape[2]
        if channels in (1, 4):
            image = image[..., 0] if channels == 1 else image[..., :3]  # BGRA: the alpha is not shown
        elif channels != 3:
            return None
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif image.dtype.kind == "f":
        image = (np.clip(np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None
    if image.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image)


UNIT_UPPER = 1.0 + 1e-6  # exclusive: 1.0 and float rounding just above it are in range


def finite_in_unit_range(values: np.ndarray) -> bool:
    """Every value finite and in 0..1 (a float mask; an empty one is)."""
    if not values.size:
        return True
    # numpy's min and max carry a NaN through, and an infinity fails a bound: two reductions, a
    # quarter of cv2.checkRange's time on the 256 x 131 person mask (0.009 against 0.037 ms), which
    # the mask stage and the output gate each check every frame. checkRange also took -0.0 for
    # out of range (it compares the bits). As Python floats: float16 would round the bound to 1.
    return float(values.min()) >= 0.0 and float(values.max()) < UNIT_UPPER


def read_ahead(picture: np.ndarray) -> None:
    """Read one element of each 64-byte cache line of ``picture`` (H x W x C, pixels packed along each
    row; a box of a frame is fine; else nothing), row by row in address order. Ahead of a step that
    reads it in a scattered order (a remap, a rotated crop), the hardware prefetcher then streams the
    lines instead of each read waiting on memory. A read only: nothing changes."""
    if picture.ndim != 3 or picture.strides[2] != picture.itemsize or picture.strides[1] != picture.shape[2] * picture.itemsize:
        return
    picture[:, ::max(1, 64 // (picture.shape[2] * picture.itemsize)), 0].sum()
