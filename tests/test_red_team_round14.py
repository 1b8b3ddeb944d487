"""Red team round 14: the leftovers of rounds 12-13 and faults at the library boundaries.

Each test failed on the start tree (a899556) unless it says it is a guard."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import struct
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from live_doubles import StoppedClock, until

from livecam.media import image_size, read_image
from livecam.sinks import NullOutput

# -- 1. EXIF orientation of PNG and WebP pictures, with and without alpha


def _tiff_with_orientation(orientation: int, endian: str) -> bytes:
    order = b"II" if endian == "<" else b"MM"
    return (order + struct.pack(endian + "HI", 42, 8) + struct.pack(endian + "H", 1)
            + struct.pack(endian + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(endian + "I", 0))


def _png_with_orientation(png: bytes, orientation: int, endian: str, after_pixels: bool) -> bytes:
    payload = _tiff_with_orientation(orientation, endian)
    chunk = (struct.pack(">I", len(payload)) + b"eXIf" + payload
             + struct.pack(">I", zlib.crc32(b"eXIf" + payload) & 0xFFFFFFFF))
    at = len(png) - 12 if after_pixels else 33  # before IEND, or right after IHDR
    return png[:at] + chunk + png[at:]


def _webp_with_orientation(webp: bytes, size: tuple[int, int], alpha: bool, orientation: int, endian: str) -> bytes:
    """The simple WebP rewritten as an extended one (VP8X with the EXIF flag) with an EXIF chunk last,
    as phones and editors write it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return kind + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)

    w, h = size
    flags = 0x08 | (0x10 if alpha else 0)
    body = chunk(b"VP8X", bytes([flags, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little"))
    body += webp[12:]  # the VP8L chunk as it was
    body += chunk(b"EXIF", _tiff_with_orientation(orientation, endian))
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _displayed(stored: np.ndarray, orientation: int) -> np.ndarray:
    """How a viewer shows a picture stored as ``stored`` with this EXIF orientation (the EXIF spec)."""
    return {
        1: stored,
        2: stored[:, ::-1],
        3: stored[::-1, ::-1],
        4: stored[::-1],
        5: stored.transpose(1, 0, 2),
        6: np.rot90(stored, -1),  # 90 degrees clockwise
        7: stored.transpose(1, 0, 2)[::-1, ::-1],
        8: np.rot90(stored, 1),  # 90 degrees anticlockwise
    }[orientation]


def _asymmetric(w: int = 48, h: int = 24) -> np.ndarray:
    """A picture that every one of the eight orientations changes."""
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // w, y * 255 // h, (x + 2 * y) % 256]).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["png", "webp"])
@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_png_or_webp_photo_with_exif_orientation_comes_in_the_right_way_up(
        tmp_path: Path, fmt: str, alpha: bool, orientation: int) -> None:
    stored = _asymmetric()
    pixels = stored
    if alpha:  # opaque but for one transparent corner, which shows white
        opacity = np.full(stored.shape[:2], 255, np.uint8)
        opacity[:4, :4] = 0
        pixels = np.dstack([stored, opacity])
        stored = stored.copy()
        stored[:4, :4] = 255
    endian = "<" if orientation % 2 else ">"
    if fmt == "png":
        plain = cv2.imencode(".png", pixels)[1].tobytes()
        data = _png_with_orientation(plain, orientation, endian, after_pixels=orientation > 4)
    else:
        plain = cv2.imencode(".webp", pixels, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()  # lossless
        assert plain[12:16] == b"VP8L"
        data = _webp_with_orientation(plain, (48, 24), alpha, orientation, endian)
    path = tmp_path / f"phone.{fmt}"
    path.write_bytes(data)
    expected = _displayed(stored, orientation)
    assert image_size(path) == (expected.shape[1], expected.shape[0])
    got = read_image(path)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)
    # Scaled for a background or an avatar photo, it is turned the same way.
    h, w = expected.shape[:2]
    assert read_image(path, cover=(w // 2, h // 2)).shape == (h // 2, w // 2, 3)
    assert read_image(path, max_side=max(w, h) // 2).shape == (h // 2, w // 2, 3)


def test_a_png_without_orientation_is_decoded_as_before(tmp_path: Path) -> None:
    """Guard: no eXIf chunk, or orientation 1, leaves the pixels as they were stored."""
    stored = _asymmetric()
    path = tmp_path / "plain.png"
    cv2.imencode(".png", stored)[1].tofile(str(path))
    assert np.array_equal(read_image(path), stored)
    path.write_bytes(_png_with_orientation(path.read_bytes(), 1, "<", after_pixels=False))
    assert np.array_equal(read_image(path), stored)


# -- 2-5. Time the process did not run (stopped and continued) counts against nobody


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="recording needs ffmpeg")
def test_a_recording_survives_livecam_and_ffmpeg_paused_together(monkeypatch, tmp_path):
    """A paused VM stops LiveCam and ffmpeg at once. Before, the first look at the full pipe after the
    continue found the 5 s deadline passed and killed the encoder: the recording ended."""
    from livecam.recording import VideoWriter

    clock = StoppedClock(monkeypatch)
    writer = VideoWriter(tmp_path / "call.mp4", 64, 48, 30)
    ffmpeg = writer._proc.pid
    os.kill(ffmpeg, signal.SIGSTOP)  # ffmpeg paused: the pipe fills
    written, failure = [0], []

    def record() -> None:
        try:
            for i in range(4000):
                writer.write(np.full((48, 64, 3), i % 256, np.uint8), time.monotonic())
                written[0] += 1
        except Exception as exc:  # noqa: BLE001 - the test reads it
            failure.append(exc)

    recorder = threading.Thread(target=record, daemon=True)
    try:
        recorder.start()
        seen = -1
        while seen != written[0]:  # until a write waits on the full pipe
            seen = written[0]
            time.sleep(0.5)
        assert not failure and recorder.is_alive()
        clock.offset += 30.0  # LiveCam paused too, for 30 s, then both go on
        time.sleep(0.4)  # LiveCam runs first, as it may
        with contextlib.suppress(ProcessLookupError):  # gone: the writer killed it (the fault)
            os.kill(ffmpeg, signal.SIGCONT)
        assert until(lambda: written[0] > seen + 50 or failure or not recorder.is_alive(), 20)
        assert not failure, failure
        assert writer.error is None
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed by the writer (the fault)
            os.kill(ffmpeg, signal.SIGCONT)
        recorder.join(30)
        writer.close()


class _HangingReopen(NullOutput):
    """A recoverable output (a virtual camera) lost on its 3rd frame, whose reopen waits for ``release``."""

    recoverable = True
    description = "virtual camera /dev/video9"

    def __init__(self) -> None:
        super().__init__(64, 48, 30)
        self.reopening, self.release = threading.Event(), threading.Event()
        self.sent = 0

    def _send(self, image) -> None:
        self.sent += 1
        if self.sent == 3:
            raise OSError(19, "No such device")

    def reopen(self) -> None:
        self.reopening.set()
        self.release.wait(30)


@contextlib.contextmanager
def _reopen_in_flight(monkeypatch, caplog):
    """A sender whose output failed and whose reopen now waits on ``output.release``: yields the
    stopped clock, the output and the sender, pacing's warnings captured."""
    import livecam.pacing as pacing
    from livecam.pacing import PacedSender

    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_START_S", 0.05)
    clock = StoppedClock(monkeypatch)
    output = _HangingReopen()
    sender = PacedSender(output, 30).start()
    frame = np.full((48, 64, 3), 120, np.uint8)
    try:
        with caplog.at_level(logging.WARNING, "livecam.pacing"):
            while not output.reopening.is_set():
                sender.submit(frame, time.monotonic())
                time.sleep(1 / 30)
            yield clock, output, sender
    finally:
        output.release.set()
        sender.stop()


def test_a_reopen_in_flight_while_the_process_was_stopped_is_not_called_hung(monkeypatch, caplog):
    with _reopen_in_flight(monkeypatch, caplog) as (clock, output, sender):
        clock.offset += 10.0  # stopped for 10 s with the reopen in flight; both go on together
        time.sleep(0.3)  # the sender ticks a few times, as it does right after a continue
        output.release.set()
        assert until(lambda: sender.state != "reopening")
    assert "hung in its driver" not in caplog.text
    assert "hung" not in (sender.status or "")


def test_a_reopen_that_really_hangs_is_still_told(monkeypatch, caplog):
    """Guard: the clock moving on while the sender ticks is a hang."""
    with _reopen_in_flight(monkeypatch, caplog) as (clock, output, sender):
        for _ in range(40):  # 0.25 s per 30 ms: the sender runs all along
            clock.offset += 0.25
            time.sleep(0.03)
        assert until(lambda: "hung" in (sender.status or ""), 5), sender.status
    assert "hung in its driver" in caplog.text


def test_auto_pipelining_does_not_turn_on_after_a_stop():
    """Before: the window holding the stop said "one frame takes 184 ms of the camera's 204 ms" and
    turned pipelining on for a window."""
    from livecam.live_runner import AUTO_WINDOW, AutoPipelining

    auto = AutoPipelining()
    interval, work = 1000 / 30, 8.0
    out = t = 0.0
    decisions = []
    for i in range(1, 4 * AUTO_WINDOW):
        stopped = i == AUTO_WINDOW + 10  # the process stopped for 5 s during this frame's inference
        t += interval / 1e3 + (5.0 if stopped else 0.0)
        out += interval / 1e3 + (5.0 if stopped else 0.0)
        timings = {"inference": work + (5000.0 if stopped else 0.0), "background": 1.0, "total": 99.0}
        decisions.append(auto.observe(i, t, timings, out))
    assert not any(decisions), auto.reason


def test_auto_pipelining_still_turns_on_for_slow_frames():
    """Guard: a machine that needs most of the camera's interval for a frame still gets it, and one
    that makes a frame every 1.5 s (spacing steady, if long) is no "gap"."""
    from livecam.live_runner import AUTO_WINDOW, AutoPipelining

    for work_ms, period_ms in ((30.0, 33.4), (1500.0, 1500.0)):
        auto = AutoPipelining()
        out, decisions = 0.0, []
        for i in range(1, 2 * AUTO_WINDOW + 1):
            out += (period_ms + (i % 3) * 50.0) / 1e3
            decisions.append(auto.observe(i, i / 30, {"inference": work_ms}, out))
        assert any(decisions), auto.reason


def test_one_rule_for_what_counts_as_the_process_not_running():
    """capture, pacing, the run guard and the recording once had two values (1.0 and 0.25 s) for it."""
    import livecam.analysis.run_guard as run_guard
    import livecam.capture as capture
    from livecam.not_running import NOT_RUNNING_S, not_running_for

    assert not hasattr(capture, "NOT_RUNNING_S") and not hasattr(run_guard, "NOT_RUNNING_S")
    assert not_running_for(10.0, 0.2, 10.2 + NOT_RUNNING_S) == 0.0  # late, but within reason
    assert not_running_for(10.0, 0.2, 15.2) == pytest.approx(5.0)
    assert not_running_for(10.0, -3.0, 11.5) == pytest.approx(1.5)  # a negative wait is no wait


# -- 6. the telemetry store under a relative XDG_CACHE_HOME


def test_a_relative_xdg_cache_home_is_not_followed_for_the_telemetry_store(monkeypatch, tmp_path):
    from livecam import offline

    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "relcache")
    (tmp_path / "relcache" / "Microsoft" / "DeveloperTools" / ".onnxruntime").mkdir(parents=True)
    stores = offline.telemetry_stores()
    assert all(store.is_absolute() for store in stores), stores
    assert stores == [home / ".cache" / "Microsoft" / "DeveloperTools" / ".onnxruntime"]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "abscache"))  # a full path is followed first
    assert offline.telemetry_stores()[0] == tmp_path / "abscache" / "Microsoft" / "DeveloperTools" / ".onnxruntime"


# -- ONNX Runtime handing back outputs of the right shape in another form


def _blur_frames(astronaut: np.ndarray, n: int = 3) -> list[np.ndarray]:
    frame = cv2.resize(astronaut, (320, 240))
    return [np.roll(frame, 4 * i, axis=1) for i in range(n)]


def _run_blur(frames: list[np.ndarray], convert=None) -> list[np.ndarray]:
    """Frames through the blur with the landscape mask, each output of every model run passed
    through ``convert`` as if ONNX Runtime had handed it over that way."""
    import onnxruntime as ort

    from livecam import settings as S
    from livecam.pipeline import Pipeline

    real = ort.InferenceSession.run

    def run(self, *args, **kwargs):
        return [convert(v) for v in real(self, *args, **kwargs)]

    pipeline = Pipeline(S.update(S.Settings(), segmentation={"model": "landscape"},
                                 runtime={"provider": "cpu", "threads": 1}, background={"mode": "blur", "blur": 60}))
    if convert is not None:
        ort.InferenceSession.run = run
    try:
        return [pipeline.process(f.copy()).copy() for f in frames]
    finally:
        ort.InferenceSession.run = real


def _read_only(value: np.ndarray) -> np.ndarray:
    value = value.copy()
    value.setflags(write=False)
    return value


@pytest.mark.parametrize("convert", [
    lambda v: v.astype(np.float64),  # a provider that computes in double
    lambda v: np.asfortranarray(v.astype(np.float64)),
    lambda v: np.stack([v, v], axis=-1)[..., 0],  # a strided view of a bigger buffer
    np.asfortranarray,
    _read_only,
], ids=["float64", "float64-fortran", "strided", "fortran", "read-only"])
def test_a_model_output_of_the_right_shape_in_another_form_gives_the_same_picture(astronaut, convert, caplog):
    """Before: float64 gave "No matching definition for argument type(s) array(float64, 2d, C)" from the
    mask kernel, the mask was dropped and the picture hidden behind the full blur. (Strided, Fortran
    and read-only arrays were used correctly before too: those three are guards.)"""
    frames = _blur_frames(astronaut)
    expected = _run_blur(frames)
    with caplog.at_level(logging.ERROR):
        got = _run_blur(frames, convert)
    assert "failed" not in caplog.text
    for g, e in zip(got, expected):
        assert np.array_equal(g, e)


def test_a_float16_model_output_is_used_not_called_infinite(astronaut, caplog):
    """Before: cv2.resize has no float16 kernel (its assertion text was the sentence), and the check's
    float16 sum of finite values overflowed into "NaN or infinite values"."""
    from livecam.analysis.runtime import ModelOutputError, checked_outputs

    big = np.full((1, 200, 200), 60000.0, np.float16)  # every value finite; their float16 sum is not
    (out,) = checked_outputs("m", ["y"], [big], {"y": (1, 200, 200)}, frozenset({"y"}))
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.flags.writeable
    assert np.array_equal(out, big.astype(np.float32))
    with pytest.raises(ModelOutputError):  # a float64 beyond float32's range is no usable value
        checked_outputs("m", ["y"], [np.array([1e300])], {"y": (1,)}, frozenset({"y"}))
    frames = _blur_frames(astronaut)
    expected = _run_blur(frames)
    with caplog.at_level(logging.ERROR):
        got = _run_blur(frames, lambda v: v.astype(np.float16))
    assert "failed" not in caplog.text
    for g, e in zip(got, expected):
        assert np.abs(g.astype(int) - e.astype(int)).mean() < 2  # float16's rounding of the mask, no more


def test_model_outputs_as_onnx_runtime_hands_them_over_are_not_copied():
    """Guard (speed): C-ordered, writeable float32 arrays are the very arrays that came in."""
    from livecam.analysis.runtime import checked_outputs

    values = [np.zeros((1, 8, 8), np.float32), np.arange(4, dtype=np.int64)]
    out = checked_outputs("m", ["a", "b"], values, {"a": (1, 8, 8), "b": (4,)})
    assert out[0] is values[0] and out[1] is values[1]


# -- a camera reader that hands back one buffer for every frame


class _OneBufferCamera:
    """A cv2.VideoCapture-like reader that returns the same array every read, overwritten by the
    next (as some capture backends and wrappers do); each read waits for ``go``."""

    def __init__(self) -> None:
        self.buffer = np.zeros((48, 64, 3), np.uint8)
        self.reads = 0
        self.go = threading.Semaphore(0)

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def set(self, *args) -> bool:
        return True

    def get(self, *args) -> float:
        return 0.0

    def release(self) -> None:
        pass

    def read(self):
        self.go.acquire()
        self.reads += 1
        self.buffer[...] = 10 * self.reads
        return True, self.buffer


def test_a_frame_the_pipeline_holds_is_not_changed_by_the_next_camera_read():
    """Before: every frame was the reader's one buffer, so the picture changed under the pipeline
    while it worked on it (the mask of one picture laid over the next)."""
    from livecam.capture import CameraSource

    reader = _OneBufferCamera()
    source = CameraSource(0, 64, 48, 30, opener=lambda device: reader).start()
    try:
        held = []
        for n in (1, 2, 3, 4):
            reader.go.release()
            assert until(lambda: source.latest(-1, timeout=0.5).index >= n and reader.reads == n)
            held.append((10 * n, source.latest(-1, timeout=0.5)))
        reader.go.release()  # a fifth read overwrites the reader's buffer
        assert until(lambda: reader.reads == 5)
        # The first frame was the buffer itself (nothing told yet that the reader reuses it); from
        # the second on, each frame is the picture it was when read.
        for value, frame in held[1:]:
            assert (frame.image == value).all(), (value, frame.image[0, 0])
    finally:
        for _ in range(3):  # let a read waiting for ``go`` return, so the source can stop
            reader.go.release()
        source.close()


def test_a_stop_that_falls_between_two_ticks_of_a_reopen_is_not_called_hung(monkeypatch, caplog):
    """Before: only a stop inside the reopen's own wait was excused. One that fell between two ticks
    (here: right after the sender looked at its output, before it looked at the reopen) ran the
    reopen's clock on by the whole stop, and a reopen in flight was told as hung in its driver
    (seen on a loaded CI machine)."""
    with _reopen_in_flight(monkeypatch, caplog) as (clock, output, sender):
        check = sender._check_sink

        def stopped_after_the_check(*args):
            done = check(*args)
            if not getattr(stopped_after_the_check, "once", False):
                stopped_after_the_check.once = True
                clock.offset += 10.0
            return done

        monkeypatch.setattr(sender, "_check_sink", stopped_after_the_check)
        assert until(lambda: getattr(stopped_after_the_check, "once", False))
        time.sleep(0.3)
        output.release.set()
        assert until(lambda: sender.state != "reopening")
    assert "hung in its driver" not in caplog.text
    assert "hung" not in (sender.status or "")
