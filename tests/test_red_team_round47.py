"""Trust round 47: the way out (virtual camera, recording, render) under faults at the library boundary."""

from __future__ import annotations

import logging
import os
import platform
import signal
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS

from livecam import devices, oneshot, output, pacing, recording, sinks, stop_signals
from livecam import settings as S
from livecam.capture import iter_video_frames
from livecam.settings import OutputSettings
from live_doubles import BackendDouble, RoomCamera


def _until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


class I420Device(BackendDouble):
    """A pyvirtualcam backend that, like the v4l2loopback and OBS devices, takes I420: one colour sample
    per 2x2 pixels, so both sides must be even (cv2 refuses an odd one as the device's format does)."""

    _device = "/dev/video-test47"
    instances: list[I420Device] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        self.width, self.height = width, height
        self.frames: list[np.ndarray] = []
        self.closed = False
        I420Device.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        bgr = frame.reshape(self.height, self.width, 3)
        self.frames.append(cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420))


@pytest.fixture
def i420_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path / "sys")
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    I420Device.instances = []
    pyvirtualcam.register_backend("livecam-i420-47", I420Device)
    yield I420Device
    BACKENDS.pop("livecam-i420-47", None)


@pytest.mark.parametrize("size", [(641, 361), (640, 361), (641, 360), (1, 1), (640, 360)])
def test_a_frame_of_odd_size_reaches_the_i420_virtual_camera_whole(i420_device, size: tuple[int, int]) -> None:
    """A 641x361 source (a clip, or --size) opened the virtual camera at 641x361: pyvirtualcam's own
    BGR->I420 laid the colour rows out width // 2 apart while libyuv wrote (width + 1) // 2, so each colour
    row slid one sample against the last (the picture sheared in colour), and a device that checks its
    format refused every frame: nothing left but reopen attempts."""
    w, h = size
    rng = np.random.default_rng(47)
    image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    out = sinks.VirtualCamOutput(w, h, 50, backend="livecam-i420-47")
    sender = pacing.PacedSender(out, 50).start()
    try:
        sender.submit(image, time.monotonic())
        assert _until(lambda: any(d.frames for d in i420_device.instances))
        assert sender.state == "sending" and sender.error is None
    finally:
        sender.stop()
        out.close()
    device = i420_device.instances[0]
    assert (device.width % 2, device.height % 2) == (0, 0)
    assert (device.width - w, device.height - h) == (w % 2, h % 2)  # one pixel more where a side is odd, no less
    shown = device.frames[0][:h, :w].astype(int)
    assert np.abs(shown - image).mean() < 4  # the picture itself, only I420's rounding off


class StuckDevice(I420Device):
    """A device whose driver blocks in open or in close until released (a loopback device in a bad state)."""

    release = threading.Event()
    stuck_in = "open"

    def __init__(self, **kw: Any) -> None:
        if StuckDevice.stuck_in == "open":
            StuckDevice.release.wait()
        super().__init__(**kw)

    def close(self) -> None:
        if StuckDevice.stuck_in == "close":
            StuckDevice.release.wait()
        super().close()


@pytest.fixture
def stuck_device(i420_device):
    StuckDevice.release = threading.Event()
    pyvirtualcam.register_backend("livecam-stuck-47", StuckDevice)
    yield StuckDevice
    StuckDevice.release.set()
    BACKENDS.pop("livecam-stuck-47", None)


def test_a_stop_signal_during_a_virtual_camera_open_that_hangs_ends_the_open_with_one_sentence(
        stuck_device, monkeypatch: pytest.MonkeyPatch) -> None:
    """`livecam run` stopped (Ctrl+C, SIGTERM) while the driver held the virtual camera's open: the open's 5 s were
    waited out, the run's 2 s watchdog ended the process first ("Stopping took longer than 2 s", exit 1). Now the
    open gives up at the stop, says so, and nothing is opened in its place."""
    stuck_device.stuck_in = "open"
    monkeypatch.setattr(sinks, "_default_backend", lambda: "livecam-stuck-47")
    stops: list[int] = []
    previous = stop_signals.catch_stop_signals(lambda sig, frame: stops.append(sig))
    signal_later = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        signal_later.start()
        t0 = time.monotonic()
        with pytest.raises(sinks.OutputError) as raised:
            output.open_output(OutputSettings(kind="virtualcam", device="", fps=30), 64, 48)
        waited = time.monotonic() - t0
    finally:
        signal_later.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        oneshot.STOP_ASKED.clear()
    assert stops == [signal.SIGTERM]  # the run's own handler still ran
    assert str(raised.value) == "LiveCam was stopped while the virtual camera was still opening."
    assert waited < sinks.OPEN_LIMIT_S / 2  # the open's limit was not waited out
    stuck_device.release.set()
    assert _until(lambda: len(stuck_device.instances) == 1 and stuck_device.instances[0].closed)  # opened after the stop: let go of at once


def test_a_virtual_camera_whose_close_hangs_is_let_go_with_one_sentence(stuck_device, caplog) -> None:
    """A driver that blocks in close held `livecam run`'s stop until its watchdog (exit 1), and the tray's
    switch-off or Quit, which close the output on the bridge's thread, for good."""
    stuck_device.stuck_in = "close"
    out = sinks.VirtualCamOutput(64, 48, 30, backend="livecam-stuck-47")
    out.send(np.zeros((48, 64, 3), np.uint8))
    closing = oneshot.OneShot(out.close)
    assert closing.finished_within(3 * getattr(sinks, "CLOSE_LIMIT_S", 0.5) + 1.0)
    assert closing.error is None and out.camera is None
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == ["The virtual camera /dev/video-test47 did not close within 0.5 s (its driver does not answer); "
                    "LiveCam lets go of it."]
    with pytest.raises(sinks.OutputError):
        out.send(np.zeros((48, 64, 3), np.uint8))  # nothing reaches a camera let go of


@pytest.mark.skipif(recording.find_ffmpeg() is None, reason="needs ffmpeg")
def test_a_recording_whose_encoder_was_killed_keeps_its_whole_seconds_and_says_one_sentence(tmp_path) -> None:
    """ffmpeg killed (SIGKILL) mid-run: the file keeps its whole seconds and plays. Beside the sentence that says
    so, the end-of-run summary said "Recorded 2.5 s of video" (the file plays 2 s) and that the frames the dead
    encoder never took "were left out because the computer could not record them fast enough"."""
    path = tmp_path / "call.mp4"
    out = output.FileOutput(path, 64, 48, 30)
    t0 = time.monotonic()
    frame = np.zeros((48, 64, 3), np.uint8)
    for i in range(75):  # 2.5 s of video: two whole fragments
        frame[:] = (i * 3) % 256
        out.send(frame, t0 + i / 30)
    sizes = [-1]
    # ffmpeg has written what it was given (the file stops growing) before it is killed
    assert _until(lambda: sizes.append(path.stat().st_size) or (sizes[-1] == sizes[-2] and sizes[-1] > 2000)
                  or time.sleep(0.2), 20)
    os.kill(out.writer._proc.pid, signal.SIGKILL)
    out.writer._proc.wait(5)
    with pytest.raises(sinks.OutputFailed):
        for i in range(75, 200):
            out.send(frame, t0 + i / 30)
    out.close()
    assert "SIGKILL" in (out.error or "") and "keeps what was recorded up to its last whole second" in out.error
    assert out.summary(missed=40, made=200) is None  # the error's sentence is the one said
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    played = list(iter_video_frames(path))
    assert 30 <= len(played) <= 75  # whole seconds only, nothing after the kill


def test_the_tray_switches_off_while_the_virtual_cameras_driver_hangs_in_close(qtbot, stuck_device) -> None:
    """The tray's off closes the output on the bridge's control thread: a close that blocked in the driver held
    that thread for good, so the tray never said "off", and a later on or Quit queued behind it."""
    from livecam.gui.bridge import LiveBridge

    stuck_device.stuck_in = "close"
    room = np.full((48, 64, 3), 120, np.uint8)

    def open_output(settings: Any, width: int, height: int):
        return sinks.VirtualCamOutput(width, height, 30, backend="livecam-stuck-47"), None

    settings = S.update(S.Settings(), output={"kind": "virtualcam", "fps": 30, "always_on": True},
                        background={"mode": "off"})
    bridge = LiveBridge(settings, open_source=lambda capture: RoomCamera(room), open_output=open_output)
    try:
        bridge.start()
        assert _until(lambda: stuck_device.instances and len(stuck_device.instances[0].frames) >= 3, 20)
        bridge.stop()
        qtbot.waitUntil(lambda: bridge.state == "off", timeout=5000)
        assert bridge.message.startswith("LiveCam is off")
    finally:
        stuck_device.release.set()
        bridge.shutdown(10)
