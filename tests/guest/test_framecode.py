"""The guest test's frame checks reject wrong frames (fast, no guest needed).

The guest test can only be trusted if its checks fail on what a broken virtual camera would
deliver: the source without the effect, frames going backwards, a frozen picture, the wrong size.
These run on the repo's public-domain portrait, stamped the same way as in the guest.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import framecode  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sk_astronaut.png"
GREEN = (0, 255, 0)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> list[np.ndarray]:
    return framecode.make_source(FIXTURE, tmp_path_factory.mktemp("src") / "s.mp4", 640, 360, 2, 1, 40)


def with_background(frame: np.ndarray) -> np.ndarray:
    """What LiveCam should send: here the top corners painted, as the segmentation would."""
    out = frame.copy()
    out[:80, :120] = GREEN
    out[:80, -120:] = GREEN
    return out


def test_every_stamp_reads_back_after_mp4_encoding(source):
    assert [framecode.read_code(f) for f in source] == list(range(len(source)))


def test_stamp_survives_yuv420_round_trip(source):
    yuv = cv2.cvtColor(source[37], cv2.COLOR_BGR2YUV_I420)
    assert framecode.read_code(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)) == 37


def test_a_good_frame_passes(source):
    report = framecode.inspect("good", with_background(source[5]), GREEN, source, ("tl", "tr"))
    assert report.index == 5 and report.corner_error < 5 and report.face_error < 5


def test_the_source_without_the_effect_fails_the_corner_check(source):
    report = framecode.inspect("no effect", source[5], GREEN, source, ("tl", "tr"))
    assert report.corner_error > 60


def test_a_frame_from_elsewhere_fails_the_face_check(source):
    wrong = with_background(framecode.stamp(np.full_like(source[0], 128), 5))
    assert framecode.inspect("other picture", wrong, GREEN, source, ("tl", "tr")).face_error > 25


def test_a_cell_lost_to_the_background_still_reads_right(source):
    frame = source[21].copy()
    x, y = framecode.CODE_ROW
    for cell in (0, 5, framecode.BITS + 2):  # green lies between the dark and light levels
        frame[y : y + framecode.CELL_H, x + cell * framecode.CELL_W : x + (cell + 1) * framecode.CELL_W] = GREEN
    assert framecode.read_code(frame) == 21


def test_a_bit_lost_to_the_background_gives_no_index_rather_than_a_wrong_one(source):
    frame = source[21].copy()
    x, y = framecode.CODE_ROW
    for cell in (3, framecode.BITS + 3):  # both cells of one bit
        frame[y : y + framecode.CELL_H, x + cell * framecode.CELL_W : x + (cell + 1) * framecode.CELL_W] = GREEN
    assert framecode.read_code(frame) is None


def test_wrong_size_is_reported(source):
    small = cv2.resize(with_background(source[3]), (320, 180))
    report = framecode.inspect("small", small, GREEN, source, ("tl", "tr"))
    assert report.size == (320, 180) and report.index is None


def test_order_allows_repeats_skips_and_the_loop():
    assert framecode.order_problems([3, 3, 3, 9, 20, 20, 28, 37, 2, 5], length=40, max_step=12) == []


def test_order_rejects_a_step_back_and_a_jump():
    assert framecode.order_problems([5, 9, 8], length=200, max_step=60)
    assert framecode.order_problems([5, 150], length=200, max_step=60)


def test_y4m_reader_round_trips_i420(tmp_path, source):
    frames = [source[0], source[1]]
    header = b"YUV4MPEG2 W640 H360 F15:1 Ip A1:1 C420jpeg\n"
    body = b"".join(b"FRAME\n" + cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420).tobytes() for f in frames)
    (tmp_path / "a.y4m").write_bytes(header + body + b"FRAME\n" + b"\0" * 100)  # torn last frame
    back = framecode.read_y4m(tmp_path / "a.y4m")
    assert len(back) == 2
    assert [framecode.read_code(f) for f in back] == [0, 1]
