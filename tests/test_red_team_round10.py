"""Red team, round 10: the output, recording and capture boundaries under faults nobody listed.

1. A virtual camera that opens but refuses every frame (another program holds the v4l2loopback
   device, a driver in a bad state): each reopen "worked", so every failure started a fresh outage:
   a reopen every half second for good, two warnings each, the back-off never growing and the
   status flipping back to "sending" with nothing going out. Now the same outage goes on: the
   back-off grows, one warning, and the status says the device opens but takes no frame.
2. A video file whose decoder raises (cv2.error from a damaged stream) as the live source: at the
   first frame the source was not made (a cv2.error, no sentence); mid-clip the source thread
   restarted on the same broken decoder for good, the "stopped unexpectedly" card instead of the
   clip. Now a read that raises is a failed read: the clip plays again from its start, and a file
   that never decodes is the file placeholder with one sentence.
3. A live recording (`run --output file`, the tray's recording) started ffmpeg with -fps_mode, which
   FFmpeg has only from 5.1: the ffmpeg 4.4 that `sudo apt install ffmpeg` gives on Ubuntu 22.04
   refused the command, so no live recording could be made there. The writer now asks ffmpeg
   whether it knows -fps_mode and uses -vsync (4.x to 8.x) where it does not.
"""

from __future__ import annotations

import logging
import platform
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS

from livecam import capture, devices, ffmpeg_tool, pacing, recording
from livecam.capture import CaptureError, VideoFileSource
from livecam.pacing import PacedSender
from livecam.recording import FileOutput
from livecam.sinks import VirtualCamOutput
from live_doubles import BackendDouble

W, H = 64, 48


def _until(condition: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class HeldDevice(BackendDouble):
    """A pyvirtualcam backend whose device opens, takes ``takes`` frames, then refuses every write."""

    _device = "/dev/video-held"
    opened: list[HeldDevice] = []
    takes = 0

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        self.frames = 0
        HeldDevice.opened.append(self)

    def send(self, frame: np.ndarray) -> None:
        if self.frames >= HeldDevice.takes:
            raise RuntimeError("write failed: Device or resource busy")
        self.frames += 1


@pytest.fixture
def held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[HeldDevice]]:
    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path / "sys")  # no real devices leak in
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_START_S", 0.01)
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_MAX_S", 0.08)
    HeldDevice.opened, HeldDevice.takes = [], 0
    pyvirtualcam.register_backend("livecam-held", HeldDevice)
    yield HeldDevice
    BACKENDS.pop("livecam-held", None)


def _run_until_opened(times: int) -> tuple[str, str]:
    """Feed a sender on the held device until it was opened ``times`` times; its (state, status)
    seen while reopening after that."""
    out = VirtualCamOutput(W, H, 100, backend="livecam-held")
    frame = np.full((H, W, 3), 40, np.uint8)
    try:
        with PacedSender(out, 100) as sender:
            assert _until(lambda: (sender.submit(frame, time.monotonic()), len(HeldDevice.opened) >= times)[1])
            assert _until(lambda: sender.state == "reopening")
            return sender.state, sender.status or ""
    finally:
        out.close()


def test_a_device_that_opens_but_takes_no_frame_backs_off_and_says_so(
    held: type[HeldDevice], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="livecam.output")
    state, status = _run_until_opened(8)
    assert state == "reopening"
    # The back-off grew to its longest (0.01 -> 0.08 s) instead of starting afresh at each failure.
    assert status == ("The virtual camera /dev/video-held opens but takes no frame (write failed: Device or "
                      "resource busy); LiveCam tries again in 0.08 s (close other programs that use it, or "
                      "replug or reload the device).")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # One warning that it stopped, one that it came back, one that it takes nothing: not two a reopen.
    assert len(warnings) == 3, warnings
    assert "opens but takes no frame" in warnings[-1]


def test_a_device_that_takes_frames_between_losses_starts_each_outage_afresh(held: type[HeldDevice]) -> None:
    # Each reopen takes frames for longer than the longest back-off (20 at 100 fps: 0.2 s), then fails: separate
    # outages, not one. (One that fails sooner after each reopen is one outage: test_red_team_round48.)
    HeldDevice.takes = 20
    state, status = _run_until_opened(5)
    assert state == "reopening"
    assert status == "The virtual camera /dev/video-held was lost; reopening it in 0.01 s."


def test_a_held_device_that_is_let_go_says_it_takes_frames_again(
    held: type[HeldDevice], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quiet reopens of a device that opens but takes no frame end with one line when the
    program holding it lets go, and the state is "sending" again."""
    caplog.set_level(logging.DEBUG, logger="livecam.output")
    real_send = HeldDevice.send

    def send(self: HeldDevice, frame: np.ndarray) -> None:
        if len(HeldDevice.opened) < 6:  # held for the first five opens, then free
            real_send(self, frame)

    monkeypatch.setattr(HeldDevice, "send", send)
    out = VirtualCamOutput(W, H, 100, backend="livecam-held")
    frame = np.full((H, W, 3), 40, np.uint8)
    try:
        with PacedSender(out, 100) as sender:
            assert _until(lambda: (sender.submit(frame, time.monotonic()), len(HeldDevice.opened) >= 6
                                   and sender.state == "sending")[1])
    finally:
        out.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings[-1] == "The virtual camera /dev/video-held takes frames again.", warnings
    assert sum("opens but takes no frame" in w for w in warnings) == 1
    assert sum("takes frames again" in w for w in warnings) == 1


class BrokenDecoder:
    """A cv2.VideoCapture whose decoder gives ``good`` frames, then raises cv2.error at every read."""

    opened = 0
    good = 3

    def __init__(self) -> None:
        BrokenDecoder.opened += 1
        self.reads = 0

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def read(self) -> tuple[bool, np.ndarray]:
        self.reads += 1
        if self.reads > BrokenDecoder.good:
            raise cv2.error("OpenCV(4.10.0) cap_ffmpeg_impl.hpp: error: (-215:Assertion failed) in 'retrieveFrame'")
        return True, np.full((H, W, 3), 10 * self.reads, np.uint8)

    def get(self, prop: int) -> float:
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        pass


@pytest.fixture
def broken_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 64)
    monkeypatch.setattr(capture, "_video_capture", lambda path: (BrokenDecoder(), (0, 0)))
    monkeypatch.setattr(capture, "BACKOFF_START", 0.01)
    BrokenDecoder.opened, BrokenDecoder.good = 0, 3
    return clip


def test_a_decoder_that_raises_mid_clip_plays_the_clip_again(broken_clip: Path) -> None:
    with VideoFileSource(broken_clip, realtime=False) as source:
        assert _until(lambda: BrokenDecoder.opened >= 3)  # reopened at the broken frame, like at the end
        frame = source.latest(timeout=5.0)
        assert not frame.placeholder and frame.image.shape == (H, W, 3)
        assert frame.image[0, 0, 0] in (10, 20, 30)  # one of the clip's own frames
        assert source.error is None


def test_a_decoder_that_raises_at_once_is_one_sentence(broken_clip: Path) -> None:
    BrokenDecoder.good = 0
    with pytest.raises(CaptureError) as caught:
        VideoFileSource(broken_clip)
    assert str(caught.value) == (f"Video file {broken_clip} has no readable frames; pass another video or a "
                                 "camera index.")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_a_live_recording_works_with_an_ffmpeg_older_than_5_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ffmpeg 4.4 stand-in: the real encoder, with -fps_mode unknown, as it is before FFmpeg 5.1."""
    real = shutil.which("ffmpeg")
    old = tmp_path / "bin" / "ffmpeg"
    old.parent.mkdir()
    old.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *"-h long"*) "{real}" "$@" | grep -v "^-fps_mode"; exit 0;; esac\n'
        'for arg in "$@"; do if [ "$arg" = "-fps_mode" ]; then\n'
        "  echo \"Unrecognized option 'fps_mode'.\" >&2; echo 'Error splitting the argument list: Option not found' >&2\n"
        "  exit 1; fi; done\n"
        f'exec "{real}" "$@"\n'
    )
    old.chmod(0o755)
    monkeypatch.setattr(recording, "find_ffmpeg", lambda: str(old))
    ffmpeg_tool._ffmpeg_has_option.cache_clear()
    target = tmp_path / "rec.mp4"
    out = FileOutput(target, W, H, 30)
    t0 = time.monotonic()
    for i in range(45):
        out.send(np.full((H, W, 3), 5 * i, np.uint8), t0 + i / 30)
    out.close()
    assert out.error is None, out.error
    frames = list(capture.iter_video_frames(target))
    assert len(frames) == 45
    assert abs(frames[0].mean() - 0) < 8 and abs(frames[-1].mean() - 5 * 44) < 8  # in order, none lost
    assert target.stat().st_mode & 0o777 == 0o600


def test_an_ffmpeg_that_hangs_on_a_query_is_asked_once_not_at_each(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A recording asks ffmpeg for its encoders and its options before it starts; an ffmpeg that hangs
    (a broken build, a wrapper waiting on a terminal) held the start up for each query's full timeout.
    The first unanswered query is the last one asked; the recording goes on with safe defaults."""
    starts = tmp_path / "starts"
    exe = tmp_path / "ffmpeg"
    exe.write_text(f"#!/bin/sh\necho x >> {starts}\nexec sleep 600\n")
    exe.chmod(0o755)
    monkeypatch.setattr(ffmpeg_tool, "QUERY_TIMEOUT_S", 0.5)
    monkeypatch.setattr(ffmpeg_tool, "_UNANSWERED", set())
    ffmpeg_tool._ffmpeg_has_encoder.cache_clear()
    ffmpeg_tool._ffmpeg_has_option.cache_clear()
    try:
        assert ffmpeg_tool._ffmpeg_has_encoder(str(exe), "libx264") is False
        assert ffmpeg_tool._passthrough_timing(str(exe)) == ["-fps_mode", "passthrough"]
    finally:
        ffmpeg_tool._ffmpeg_has_encoder.cache_clear()
        ffmpeg_tool._ffmpeg_has_option.cache_clear()
    assert starts.read_text().count("x") == 1
