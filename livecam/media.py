"""What kind of file a user handed us, decided in one place.

Suffixes decide first (cheap, and what file dialogs filter on); a file whose suffix says nothing is
probed by content, so ``--background clip.wmv`` or a photo saved without a suffix still land on
the right effect.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
# What a recording may be written as (the container FileOutput writes is MP4/fragmented MP4).
RECORDING_SUFFIXES = (".mp4", ".m4v", ".mov")

MediaKind = Literal["image", "video", "unknown"]

IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ")"
VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ")"


def kind_by_suffix(path: str | Path) -> MediaKind:
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "unknown"


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"BM", "image"),
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
    (b"\x1aE\xdf\xa3", "video"),  # Matroska / WebM
    (b"RIFF", "riff"),
    (b"0&\xb2u", "video"),  # ASF / WMV
    (b"FLV", "video"),
)


def kind_by_content(path: str | Path) -> MediaKind:
    """Sniff the first bytes; "unknown" when the file cannot be read or is neither."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return "unknown"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            if kind == "riff":
                return "image" if head[8:12] == b"WEBP" else "video" if head[8:12] == b"AVI " else "unknown"
            return kind  # type: ignore[return-value]
    if head[4:8] == b"ftyp":
        return "video"  # MP4 / MOV / M4V (HEIC is an image but OpenCV cannot decode it anyway)
    return "unknown"


def media_kind(path: str | Path) -> MediaKind:
    """"image", "video" or "unknown" for a user's file: the suffix, else the content."""
    kind = kind_by_suffix(path)
    return kind if kind != "unknown" else kind_by_content(path)
