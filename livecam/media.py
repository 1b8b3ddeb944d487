"""What kind of file a user handed us, decided in one place.

Suffixes decide first (cheap, and what file dialogs filter on); a file whose suffix says nothing is
probed by content, so ``--background clip.wmv`` or a photo saved without a suffix still land on
the right effect.
"""
from __future__ import annotations

import dataclasses
import math
import os
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import cv2
import numpy as np

from livecam.messages import shown

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
    """Sniff the first bytes; "unknown" when the file cannot be read, is no regular file, or is neither."""
    try:
        # Non-blocking and a regular file only: a FIFO given as `--source` or `--background` (or picked
        # in the GUI) waited for a writer for good, before any sentence could say what it is.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return "unknown"
            head = f.read(16)
    except (OSError, ValueError):
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


# ---------------------------------------------------------------- bounded image reading
#
# A user's picture is decoded only after its header says it fits: a 1 MB PNG can claim 20000x20000
# pixels and would take 1.2 GB once decoded. The size comes from the header alone (PNG, JPEG, WebP,
# BMP, TIFF: the formats IMAGE_SUFFIXES lists), baseline JPEGs are decoded at 1/2, 1/4 or 1/8 size
# by libjpeg when that still gives the caller enough pixels, and the result is scaled down to the
# size the caller will use, so a background or avatar photo never keeps more memory than it needs.

# The documented limit: pixels OpenCV must hold while decoding. Baseline JPEGs count at the reduced
# size they are decoded at; every other image (PNG, WebP, BMP, TIFF, and progressive JPEGs, which
# libjpeg buffers whole) counts at its full size. Decoding a PNG peaks at about 6 bytes a pixel, so
# 30 MP (6000x5000) is about 180 MB on top of a running LiveCam's ~190 MB: under 400 MB in all.
MAX_PIXELS = 30_000_000
MAX_FILE_BYTES = 256 * 1024 * 1024  # the compressed bytes are held too while decoding
# A video's frames are decoded one after another for as long as it plays, each held whole: the limit is
# the largest frame cameras and editors make (DCI 8K, 35 MP, about 106 MB as BGR). A container may claim
# far more in a few kilobytes (MJPEG allows 65535x65535: 13 GB a frame).
MAX_VIDEO_PIXELS = 8192 * 4320
_FORMATS = "JPEG, PNG, WebP, BMP or TIFF"


MISSING = "does not exist"
NOT_REGULAR = "is not a regular file"


def why_not_a_file(path: str | Path) -> str | None:
    """None for a regular file (links followed); else why not, in a few words: missing (a dangling
    link too), something else (a folder, a pipe, a device), or a name the system cannot look up.
    "Does not exist" (or "[Errno 36] ...") for a folder or a name too long sent users looking for a
    file that was there."""
    try:
        st = os.stat(path)  # not os.path.exists: it answers False for a name too long, too
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    except OSError as exc:
        return f"cannot be read ({(exc.strerror or type(exc).__name__).lower()})"
    except ValueError:
        return "is not a usable file name"
    return None if stat.S_ISREG(st.st_mode) else NOT_REGULAR


def nothing_at(path: str | Path) -> bool:
    """Whether nothing at all is at ``path``: the one case where "does not exist" is the right
    sentence (the readers say what anything else is)."""
    return why_not_a_file(path) == MISSING


class ImageError(ValueError):
    """An image cannot be used; ``str()`` is one plain sentence saying why and what to do."""


class ImageTooLargeError(ImageError):
    """The image is over :data:`MAX_PIXELS` (or :data:`MAX_FILE_BYTES`); nothing was decoded."""


@dataclass(frozen=True)
class ImageInfo:
    """What the header says: the format, the size as displayed (EXIF rotation applied) and whether
    libjpeg can decode it at a reduced size without buffering the whole image."""

    format: str  # "jpeg", "png", "webp", "bmp", "tiff"
    width: int
    height: int
    reducible: bool = False  # a baseline JPEG: IMREAD_REDUCED_* really saves memory
    alpha: bool = False  # the file says some pixels are (partly) transparent: PNG or WebP
    # EXIF orientation (1-8) of a PNG or WebP, which read_image applies itself: OpenCV skips it when
    # it keeps the alpha channel (IMREAD_UNCHANGED), and older OpenCV releases never read it there.
    orientation: int = 1


@contextmanager
def _opened(path: Path) -> Iterator[tuple[BinaryIO, ImageInfo]]:
    """The open file and what its header says; ImageError (one sentence) when it is no usable image.

    Probing and decoding read the same open file, so a file swapped for a bigger one in between
    cannot slip past the size check."""
    name = shown(path)
    try:
        # Non-blocking: a FIFO given as a picture must not hang the caller (regular files ignore it).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ImageError(f"Image {name} does not exist; check the path or choose another picture.") from None
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, EACCES, a NUL in the path, ...
        reason = getattr(exc, "strerror", None) or "it cannot be opened"
        raise ImageError(f"Image {name} cannot be read ({shown(reason, 60)}); choose another picture.") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        # A FIFO or a device (put there while LiveCam used the picture, say) was called "not an image
        # (or damaged)", which sends the user to repair a picture that is not there.
        what = "a folder" if stat.S_ISDIR(mode) else "a pipe or a device"
        raise ImageError(f"{name} is {what}, not an image; choose a {_FORMATS} file.")
    with os.fdopen(fd, "rb") as f:
        try:
            info = _probe(f)
        # A header cut short, a read error, or an offset past what a file can hold (a TIFF structure in
        # Exif saying BigTIFF, its first IFD at 2**63: seek's ValueError was a traceback at `run --source`,
        # and "a fault inside LiveCam" with a full blur for the session as a background or avatar).
        except (struct.error, IndexError, OSError, ValueError, OverflowError):
            info = None
        if info is None or info.width <= 0 or info.height <= 0:
            raise ImageError(f"{name} is not a {_FORMATS} image (or it is damaged); choose another picture.")
        yield f, info


def probe_image(path: str | Path) -> ImageInfo:
    """Read the image size from the header without decoding; ImageError when it is not an image."""
    with _opened(Path(path)) as (_, info):
        return info


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed, from the header alone."""
    info = probe_image(path)
    return info.width, info.height


def read_image(
    path: str | Path,
    max_side: int | None = None,
    max_pixels: int = MAX_PIXELS,
    *,
    cover: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode a user's picture as BGR uint8, no larger than the caller needs (:func:`read_image_bytes`)."""
    return read_image_bytes(path, max_side, max_pixels, cover=cover)[0]


def read_image_bytes(
    path: str | Path,
    max_side: int | None = None,
    max_pixels: int = MAX_PIXELS,
    *,
    cover: tuple[int, int] | None = None,
) -> tuple[np.ndarray, bytes]:
    """Decode a user's picture as BGR uint8, no larger than the caller needs, with the file's bytes
    that were decoded: a caller that hashes or keeps the file uses these, never a second read (a
    file replaced between two reads had the checked picture used and another one kept).

    ``max_side``: the caller uses at most this many pixels on the longer side (an avatar photo);
    ``cover``: the caller cover-fits the picture to this (width, height) (a background). The image
    is decoded at reduced size where the format allows and then scaled down (never up) to just
    that; with neither, it comes back at full size. An image over ``max_pixels`` (see
    :data:`MAX_PIXELS`) raises ImageTooLargeError before anything is decoded; any other problem
    raises ImageError. Both are ValueErrors whose text is one sentence for the user. EXIF rotation
    is applied; non-ASCII paths work (the bytes are decoded, not the path).
    """
    p = Path(path)
    name = shown(p)
    want = _needed(max_side, cover)
    with _opened(p) as (f, info):
        nbytes = os.fstat(f.fileno()).st_size
        if nbytes > MAX_FILE_BYTES:
            raise ImageTooLargeError(
                f"Image {name} is {nbytes / 1e6:.0f} MB, over LiveCam's {MAX_FILE_BYTES / 1e6:.0f} MB limit for "
                "pictures; save a smaller copy (a JPEG of about 4000 pixels across is plenty) and choose that."
            )
        reduction = _reduction(info, want) if info.reducible else 1
        decoded = math.ceil(info.width / reduction) * math.ceil(info.height / reduction)
        held = decoded if info.reducible else info.width * info.height
        if held > max_pixels:
            raise ImageTooLargeError(
                f"Image {name} is {info.width}x{info.height} pixels ({info.width * info.height / 1e6:.0f} "
                f"megapixels), over LiveCam's {max_pixels / 1e6:g} megapixel limit; save a smaller copy "
                "(about 4000 pixels across is plenty) and choose that."
            )
        f.seek(0)
        try:
            raw = f.read(MAX_FILE_BYTES)
            data = np.frombuffer(raw, dtype=np.uint8)
        except OSError:
            raise ImageError(f"Image {name} cannot be read; choose another picture.") from None
    try:
        flag = cv2.IMREAD_UNCHANGED if info.alpha else _REDUCED_FLAGS[reduction]
        if info.format in ("png", "webp"):
            flag |= cv2.IMREAD_IGNORE_ORIENTATION  # applied below, one rule with or without alpha
        image = cv2.imdecode(data, flag) if data.size else None
        if info.alpha:
            image = _over_white(image)
        if isinstance(image, np.ndarray) and info.orientation != 1:
            image = _oriented(image, info.orientation)
    except cv2.error as exc:
        # A codec that throws rather than returning None (a picture over OPENCV_IO_MAX_IMAGE_PIXELS, a
        # TIFF libtiff cannot read): its traceback ended `livecam run --source picture` at the start.
        said = str(getattr(exc, "err", "") or exc)
        why = ("it has more pixels than OPENCV_IO_MAX_IMAGE_PIXELS allows" if "MAX_IMAGE_PIXELS" in said
               else "OpenCV's decoder failed on it")
        raise ImageError(f"Image {name} cannot be decoded ({why}); choose another picture.") from None
    finally:
        del data
    if (not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8
            or min(image.shape[:2]) < 1):
        raise ImageError(f"Image {name} cannot be decoded (damaged or cut short); choose another picture.")
    return _shrink_to(image, max_side, cover), raw


def _over_white(image: np.ndarray | None) -> np.ndarray | None:
    """A picture with an alpha channel as a page shows it: over white. Read as plain colour, its
    transparent pixels showed what they hide: the colour a palette or colour key made transparent,
    or what an editor erased but kept (a PNG saved with its transparent pixels' colours). An alpha
    channel that hides the whole picture is taken as broken (some tools write one) and ignored."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 4:
        from livecam.imaging import as_bgr8

        return as_bgr8(image)  # no alpha after all (a decoder that dropped it): grey or 16-bit made BGR8
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None
    out, opacity = np.ascontiguousarray(image[..., :3]), np.ascontiguousarray(image[..., 3])
    if not cv2.countNonZero(opacity):
        return out
    alpha = cv2.cvtColor(opacity, cv2.COLOR_GRAY2BGR)
    cv2.multiply(out, alpha, out, scale=1 / 255)
    return cv2.add(out, cv2.bitwise_not(alpha, alpha), out)  # the colour's share, and white's share


def _oriented(image: np.ndarray, orientation: int) -> np.ndarray:
    """The picture turned the way EXIF ``orientation`` says it is displayed (as OpenCV turns a JPEG)."""
    if orientation >= 5:  # 5-8 swap rows and columns first
        image = cv2.transpose(image)
    flip = {2: 1, 3: -1, 4: 0, 6: 1, 7: -1, 8: 0}.get(orientation)
    return image if flip is None else cv2.flip(image, flip)


_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _needed(max_side: int | None, cover: tuple[int, int] | None) -> tuple[int, int, int] | None:
    """The smallest (long side, width, height) of the picture, as displayed, that the caller needs, or
    None for "full size"."""
    if max_side is None and cover is None:
        return None
    long_side = width = height = 0
    if max_side is not None:
        if int(max_side) < 1:
            raise ValueError(f"max_side must be at least 1, not {max_side!r}")
        long_side = int(max_side)
    if cover is not None:
        width, height = (int(v) for v in cover)
        if width < 1 or height < 1:
            raise ValueError(f"cover must be a positive (width, height), not {cover!r}")
    return long_side, width, height


def _reduction(info: ImageInfo, want: tuple[int, int, int] | None) -> int:
    """The largest libjpeg scale (8, 4, 2, 1) that still leaves the picture ``want`` pixels.

    A cover fit does not turn the picture: covering a landscape frame takes a portrait picture's
    width at least the frame's. Counted as (long side, short side), a portrait photo was decoded too
    small and blown up to cover the frame: a 12 MP phone photo 1512 pixels wide for 1080p, a 1600x2560
    picture 800 wide for 720p (1.6 times, a quarter to 0.4 of the sharpness it has)."""
    if want is None:
        return 1
    long_need, width_need, height_need = want
    for factor in (8, 4, 2):
        width, height = math.ceil(info.width / factor), math.ceil(info.height / factor)
        if max(width, height) >= long_need and width >= width_need and height >= height_need:
            return factor
    return 1


def _shrink_to(image: np.ndarray, max_side: int | None, cover: tuple[int, int] | None) -> np.ndarray:
    h, w = image.shape[:2]
    scale = 1.0
    if max_side is not None or cover is not None:
        scale = 0.0
        if max_side is not None:
            scale = max(scale, min(1.0, max_side / max(w, h)))
        if cover is not None:
            scale = max(scale, min(1.0, max(cover[0] / w, cover[1] / h)))
    if scale >= 1.0:
        return image
    size = (max(1, math.ceil(w * scale - 1e-6)), max(1, math.ceil(h * scale - 1e-6)))
    if cover is not None:  # rounding must never leave the picture a pixel short of covering
        size = (max(size[0], min(w, cover[0])), max(size[1], min(h, cover[1])))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


# -- header parsers: each reads only what it needs from an open binary file


def _probe(f: BinaryIO) -> ImageInfo | None:
    head = f.read(32)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if head[12:16] != b"IHDR" or len(head) < 24:
            return None
        w, h = struct.unpack(">II", head[16:24])
        transparent, orientation = _png_chunks(f)
        return _displayed(ImageInfo("png", w, h, alpha=len(head) > 25 and head[25] in (4, 6) or transparent,
                                    orientation=orientation))
    if head.startswith(b"\xff\xd8"):
        return _probe_jpeg(f)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        info = _probe_webp(head)
        if info is not None and head[12:16] == b"VP8X" and head[20] & 0x08:  # the EXIF flag
            info = _displayed(dataclasses.replace(info, orientation=_webp_orientation(f)))
        return info
    if head.startswith(b"BM"):
        return _probe_bmp(head)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        size = _tiff_size(f, 0)
        return ImageInfo("tiff", *size) if size else None
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_BASELINE_SOF = {0xC0, 0xC1, 0xC9}  # sequential Huffman or arithmetic: libjpeg streams these


def _probe_jpeg(f: BinaryIO) -> ImageInfo | None:
    f.seek(2)
    orientation = 1
    for _ in range(10_000):  # a real JPEG reaches its frame header within a few dozen segments
        byte = f.read(1)
        if byte != b"\xff":
            return None
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker:
            return None
        m = marker[0]
        if m == 0x01 or 0xD0 <= m <= 0xD7:
            continue
        if m in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        raw = f.read(2)
        if len(raw) != 2:
            return None
        length = struct.unpack(">H", raw)[0]
        if length < 2:
            return None
        start = f.tell()
        if m in _SOF:
            body = f.read(5)
            if len(body) != 5:
                return None
            h, w = struct.unpack(">HH", body[1:5])
            if orientation in (5, 6, 7, 8):
                w, h = h, w
            return ImageInfo("jpeg", w, h, reducible=m in _BASELINE_SOF)
        if m == 0xE1 and length > 14:
            found = _exif_orientation(f, start)
            orientation = found or orientation
        f.seek(start + length - 2)
    return None


def _exif_orientation(f: BinaryIO, start: int) -> int | None:
    """The orientation in a JPEG's APP1 segment at ``start``; None when it is not an Exif segment."""
    return _tiff_orientation(f, start + 6) if f.read(6) == b"Exif\x00\x00" else None


def _displayed(info: ImageInfo) -> ImageInfo:
    """The size as displayed: orientations 5-8 turn the picture a quarter."""
    if info.orientation in (5, 6, 7, 8):
        return dataclasses.replace(info, width=info.height, height=info.width)
    return info


def _png_chunks(f: BinaryIO) -> tuple[bool, int]:
    """Whether a PNG has a tRNS chunk (a transparent palette entry or colour key) before its pixels,
    and the orientation in its eXIf chunk, which libpng reads wherever it stands (after the pixels
    too); the walk reads only chunk headers."""
    transparent, orientation = False, 1
    f.seek(33)  # past the signature and the IHDR chunk
    pixels = False
    for _ in range(100_000):  # a 200 MB PNG written in 8 kB IDAT chunks has ~25,000
        header = f.read(8)
        if len(header) != 8:
            break
        length, kind = struct.unpack(">I4s", header)
        if kind == b"tRNS" and not pixels:
            transparent = True
        elif kind == b"eXIf":
            start = f.tell()
            orientation = _tiff_orientation(f, start)
            f.seek(start)
        elif kind == b"IDAT":
            pixels = True
        elif kind == b"IEND":
            break
        f.seek(length + 4, os.SEEK_CUR)  # the chunk's data and CRC
    return transparent, orientation


def _webp_orientation(f: BinaryIO) -> int:
    """The orientation in a WebP's EXIF chunk (a bare TIFF structure, as libwebp's demuxer hands it
    to OpenCV), found by walking the RIFF chunk headers."""
    f.seek(12)
    for _ in range(10_000):
        header = f.read(8)
        if len(header) != 8:
            return 1
        kind, length = struct.unpack("<4sI", header)
        if kind == b"EXIF":
            return _tiff_orientation(f, f.tell())
        f.seek(length + (length & 1), os.SEEK_CUR)  # chunks are padded to an even length
    return 1


def _tiff_orientation(f: BinaryIO, base: int) -> int:
    """The orientation tag (1-8) of the TIFF structure at ``base``, 1 where it has none."""
    value = _tiff_tag(f, base, 0x0112)
    return value if value in range(1, 9) else 1


def _probe_webp(head: bytes) -> ImageInfo | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", head[26:30])
        return ImageInfo("webp", w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, alpha=bool(bits >> 28 & 1))
    if chunk == b"VP8X":
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return ImageInfo("webp", w, h, alpha=bool(head[20] & 0x10))
    return None


def _probe_bmp(head: bytes) -> ImageInfo | None:
    (dib,) = struct.unpack("<I", head[14:18])
    if dib == 12:  # OS/2 BITMAPCOREHEADER
        w, h = struct.unpack("<HH", head[18:22])
    elif dib >= 40:
        w, h = struct.unpack("<ii", head[18:26])
    else:
        return None
    return ImageInfo("bmp", abs(w), abs(h))  # a negative height means rows stored top-down


def _tiff_ifd0(f: BinaryIO, base: int) -> dict[int, int] | None:
    """The short integer tags of the first IFD of a TIFF structure starting at ``base``."""
    f.seek(base)
    head = f.read(16)
    if head[:2] == b"II":
        e = "<"
    elif head[:2] == b"MM":
        e = ">"
    else:
        return None
    (version,) = struct.unpack(e + "H", head[2:4])
    big = version == 43
    if big:
        (offset,) = struct.unpack(e + "Q", head[8:16])
        count_fmt, entry_size = "Q", 20
    elif version == 42:
        (offset,) = struct.unpack(e + "I", head[4:8])
        count_fmt, entry_size = "H", 12
    else:
        return None
    f.seek(base + offset)
    raw = f.read(struct.calcsize(count_fmt))
    if len(raw) != struct.calcsize(count_fmt):
        return None
    (count,) = struct.unpack(e + count_fmt, raw)
    entries = f.read(entry_size * min(count, 4096))
    tags: dict[int, int] = {}
    for i in range(0, len(entries) - entry_size + 1, entry_size):
        tag, kind = struct.unpack(e + "HH", entries[i : i + 4])
        value = entries[i + (12 if big else 8) : i + entry_size]
        if kind == 3:  # SHORT, left-justified in the value field
            tags[tag] = struct.unpack(e + "H", value[:2])[0]
        elif kind == 4:  # LONG
            tags[tag] = struct.unpack(e + "I", value[:4])[0]
        elif kind == 16 and big:  # LONG8
            tags[tag] = struct.unpack(e + "Q", value[:8])[0]
    return tags


def _tiff_size(f: BinaryIO, base: int) -> tuple[int, int] | None:
    tags = _tiff_ifd0(f, base)
    if tags is None:
        return None
    if 256 not in tags or 257 not in tags:
        return None
    return tags[256], tags[257]


def _tiff_tag(f: BinaryIO, base: int, tag: int) -> int | None:
    tags = _tiff_ifd0(f, base)
    return None if tags is None else tags.get(tag)
