"""The bounded image reader: sizes from headers, refusals before decoding, reduced JPEG decoding."""
from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam import media
from livecam.media import ImageError, ImageTooLargeError, image_size, probe_image, read_image

FIXTURES = Path(__file__).parent / "fixtures"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_big_png(path: Path, width: int, height: int) -> None:
    """A real, decodable PNG of ``width`` x ``height`` black pixels, streamed (a few MB on disk)."""
    comp = zlib.compressobj(1)
    row = bytes(width * 3 + 1)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))


def _pattern(w: int, h: int) -> np.ndarray:
    """Smooth gradients (JPEG-friendly) so reduced and full decodes can be compared."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.dstack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255]).astype(np.uint8)


def _with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an EXIF APP1 segment carrying ``orientation`` right after the JPEG's SOI."""
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize(
    "suffix, params",
    [
        (".png", []),
        (".jpg", []),
        (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),  # lossy: VP8
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),  # lossless: VP8L
        (".bmp", []),
        (".tif", []),
    ],
)
def test_header_size_matches_decoded_size_for_every_format(tmp_path: Path, suffix: str, params: list[int]) -> None:
    path = tmp_path / f"picture{suffix}"
    ok, buf = cv2.imencode(suffix, _pattern(457, 301), params)
    assert ok
    buf.tofile(str(path))
    assert image_size(path) == (457, 301)
    image = read_image(path)
    assert image.shape == (301, 457, 3) and image.dtype == np.uint8
    # Lossless formats come back pixel for pixel.
    if suffix in (".png", ".bmp", ".tif") or params == [cv2.IMWRITE_WEBP_QUALITY, 101]:
        assert np.array_equal(image, _pattern(457, 301))
    assert probe_image(path).reducible == (suffix == ".jpg" and not params)


def test_webp_extended_header_and_bigtiff_and_os2_bmp_sizes(tmp_path: Path) -> None:
    vp8x = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8X" + struct.pack("<I", 10) + b"\x10\x00\x00\x00"
    vp8x += (1999).to_bytes(3, "little") + (2999).to_bytes(3, "little")
    (tmp_path / "x.webp").write_bytes(vp8x + bytes(8))
    assert image_size(tmp_path / "x.webp") == (2000, 3000)
    big = b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 2)
    big += struct.pack("<HHQQ", 256, 4, 1, 70000) + struct.pack("<HHQQ", 257, 3, 1, 123)
    (tmp_path / "x.tif").write_bytes(big + bytes(8))
    assert image_size(tmp_path / "x.tif") == (70000, 123)
    core = b"BM" + bytes(12) + struct.pack("<IHHHH", 12, 640, 480, 1, 24)
    (tmp_path / "x.bmp").write_bytes(core + bytes(8))
    assert image_size(tmp_path / "x.bmp") == (640, 480)


def test_huge_png_is_refused_from_its_header_with_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b""))
    with pytest.raises(ImageTooLargeError) as err:
        read_image(path, cover=(1280, 720))
    text = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "20000x20000" in text and "400 megapixels" in text and f"{media.MAX_PIXELS / 1e6:g} megapixel limit" in text
    assert text.endswith(".") and "\n" not in text


def test_baseline_jpeg_over_the_limit_is_decoded_reduced_when_a_smaller_size_is_enough(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    original = _pattern(2000, 1500)
    cv2.imencode(".jpg", original, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tofile(str(path))
    # 3 MP against a 1 MP limit: refused at full size, fine at half size (1000x750 decoded).
    with pytest.raises(ImageTooLargeError):
        read_image(path, max_pixels=1_000_000)
    small = read_image(path, max_side=800, max_pixels=1_000_000)
    assert small.shape == (600, 800, 3)
    expected = cv2.resize(original, (800, 600), interpolation=cv2.INTER_AREA)
    assert cv2.PSNR(small, expected) > 35
    covered = read_image(path, cover=(640, 360), max_pixels=1_000_000)
    assert covered.shape[1] >= 640 and covered.shape[0] >= 360
    assert min(covered.shape[1] - 640, covered.shape[0] - 360) <= 1  # just covers, nothing wasted


def test_progressive_jpeg_counts_at_full_size(tmp_path: Path) -> None:
    # libjpeg buffers every coefficient of a progressive JPEG, so reducing the output saves little.
    path = tmp_path / "progressive.jpg"
    cv2.imencode(".jpg", _pattern(2000, 1500), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tofile(str(path))
    with pytest.raises(ImageTooLargeError):
        read_image(path, max_side=800, max_pixels=1_000_000)
    assert read_image(path, max_side=800).shape == (600, 800, 3)


def test_exif_rotation_is_applied_and_reported(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".jpg", _pattern(400, 200))
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_with_orientation(buf.tobytes(), 6))  # 6: rotate 90 degrees clockwise to display
    assert image_size(path) == (200, 400)
    image = read_image(path)
    assert image.shape == (400, 200, 3)
    # The rotated picture's top-left pixel is the original's bottom-left: x=0 (blue 0), y=max (green high).
    assert image[0, 0, 1] > 200 and image[0, 0, 0] < 30
    assert read_image(path, cover=(50, 100)).shape == (100, 50, 3)


def test_non_ascii_path(tmp_path: Path) -> None:
    path = tmp_path / "fötö 写真 ☃.png"
    cv2.imencode(".png", _pattern(64, 48))[1].tofile(str(path))
    assert np.array_equal(read_image(path), _pattern(64, 48))


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.write_bytes(b""), p)[1], "is not a JPEG, PNG, WebP, BMP or TIFF image"),
        (lambda p: (p.write_text("hello, not a picture"), p)[1], "is not a JPEG, PNG, WebP, BMP or TIFF image"),
        (lambda p: (p.mkdir(), p)[1], "is a folder"),
        (lambda p: (p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"), p)[1], "is not a JPEG"),
        (lambda p: (p.write_bytes(b"\xff\xd8\xff\xe0\x00"), p)[1], "is not a JPEG"),
        (lambda p: (p.write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8L"), p)[1], "is not a JPEG"),
        (lambda p: (p.write_bytes(b"BM" + bytes(10)), p)[1], "is not a JPEG"),
        (lambda p: (p.write_bytes(b"II*\x00\xff\xff\xff\x00"), p)[1], "is not a JPEG"),
    ],
)
def test_unreadable_files_raise_one_sentence(tmp_path: Path, make, words: str) -> None:
    path = make(tmp_path / "picture.jpg")
    with pytest.raises(ImageError) as err:
        read_image(path)
    assert words in str(err.value) and str(err.value).endswith(".") and "\n" not in str(err.value)


def test_cut_short_image_is_refused_when_decoding(tmp_path: Path) -> None:
    data = cv2.imencode(".png", _pattern(300, 200))[1].tobytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="cannot be decoded"):
        read_image(path)


def test_a_huge_path_is_cut_in_the_message() -> None:
    with pytest.raises(ImageError) as err:
        read_image("/tmp/" + "x" * 5_000_000 + ".png")
    assert len(str(err.value)) < 300 and "5000009 characters" in str(err.value)


def test_peak_memory_with_a_20000x20000_png_stays_small(tmp_path: Path) -> None:
    """The reader refuses it from the header: the process never holds the 1.2 GB of pixels."""
    path = tmp_path / "huge.png"
    write_big_png(path, 20000, 20000)
    script = textwrap.dedent(
        f"""
        from livecam.media import read_image, ImageTooLargeError
        try:
            read_image({str(path)!r}, cover=(1280, 720))
        except ImageTooLargeError as exc:
            print("refused:", exc)
        # VmHWM is this process's own peak: ru_maxrss would also count the pytest process it was
        # forked from (Linux keeps the pre-exec high-water mark), which grows as the suite runs.
        print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "refused:" in out
    peak_mb = int(out.strip().splitlines()[-1]) / 1024  # VmHWM is in KiB
    assert peak_mb < 400, f"peak RSS {peak_mb:.0f} MB"


def test_a_fifo_given_as_a_picture_does_not_hang(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "picture.png"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(ImageError, match="is a pipe or a device, not an image; choose a JPEG"):
        read_image(fifo)
