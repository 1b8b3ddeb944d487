"""Outputs: the virtual camera through a registered pyvirtualcam backend, pacing, files, fallbacks."""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS
from pyvirtualcam.util import encode_fourcc

from livecam import devices, output
from livecam.output import (
    FileOutput,
    NullOutput,
    OutputError,
    PacedSender,
    VirtualCamOutput,
    open_output,
)
from livecam.settings import OutputSettings

W, H = 64, 48


def _pause(seconds: float) -> None:
    threading.Event().wait(seconds)


def _frame(value: int) -> np.ndarray:
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = value  # blue channel, so a BGR/RGB mix-up shows
    image[:, : W // 2, 2] = 255 - value
    return image


class RecordingBackend:
    """A pyvirtualcam backend (see pyvirtualcam.camera.Backend) that keeps what it is sent."""

    instances: list[RecordingBackend] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "/dev/video-test"
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.closed = False
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())
        self.times.append(time.monotonic())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return None


class MissingLoopback:
    """Fails the way pyvirtualcam's v4l2loopback backend does on a machine without the module."""

    def __init__(self, **kw: Any) -> None:
        raise RuntimeError(
            "No v4l2 loopback device found at /dev/video[0-99]. Did you run 'modprobe v4l2loopback'? "
            "See also pyvirtualcam's documentation."
        )


@pytest.fixture
def backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[RecordingBackend]]:
    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path / "sys")  # no real devices leak in
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    RecordingBackend.instances = []
    pyvirtualcam.register_backend("livecam-test", RecordingBackend)
    pyvirtualcam.register_backend("livecam-missing", MissingLoopback)
    yield RecordingBackend
    BACKENDS.pop("livecam-test", None)
    BACKENDS.pop("livecam-missing", None)


def test_virtual_camera_gets_bgr_frames_of_the_right_size(backends: type[RecordingBackend]) -> None:
    with VirtualCamOutput(W, H, 30, backend="livecam-test") as out:
        image = _frame(100)
        out.send(image)
        assert out.description == "virtual camera /dev/video-test"
    backend = backends.instances[0]
    assert (backend.width, backend.height, backend.fps) == (W, H, 30)
    assert backend.fourcc == encode_fourcc("24BG")  # pyvirtualcam's PixelFormat.BGR
    assert backend.frames[0].shape == (W * H * 3,)  # pyvirtualcam flattens to 1-D, C order
    assert np.array_equal(backend.frames[0].reshape(H, W, 3), image)
    assert backend.closed


def test_virtual_camera_uses_the_device_labelled_livecam(backends: type[RecordingBackend], tmp_path: Path) -> None:
    node = tmp_path / "sys" / "class" / "video4linux" / "video10"
    node.mkdir(parents=True)
    (node / "name").write_text("LiveCam\n")
    (node / "max_openers").write_text("10\n")
    with VirtualCamOutput(W, H, 30, backend="livecam-test") as out:
        assert backends.instances[0].device() == "/dev/video10"
        assert out.description == "virtual camera /dev/video10 (LiveCam)"
    with VirtualCamOutput(W, H, 30, device="/dev/video7", backend="livecam-test"):
        assert backends.instances[1].device() == "/dev/video7"


def test_missing_v4l2loopback_becomes_the_modprobe_instruction(backends: type[RecordingBackend]) -> None:
    with pytest.raises(OutputError) as err:
        VirtualCamOutput(W, H, 30, backend="livecam-missing")
    assert str(err.value) == (
        "No virtual camera device exists (the v4l2loopback module is not loaded); run: "
        'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="LiveCam" exclusive_caps=1'
    )


@pytest.mark.skipif(
    platform.system() != "Linux" or bool(list(Path("/dev").glob("video*"))),
    reason="needs Linux without any /dev/video device",
)
def test_real_pyvirtualcam_without_loopback_gives_the_instruction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path)
    with pytest.raises(OutputError, match="modprobe v4l2loopback devices=1"):
        VirtualCamOutput(W, H, 30)


def test_virtualcam_failure_falls_back_to_preview_then_a_sample_file(
    backends: type[RecordingBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "_default_backend", lambda: "livecam-missing")
    monkeypatch.setattr(output, "SAMPLE_FRAMES", 3)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)  # no display, so the preview cannot open either
    out = open_output(OutputSettings(kind="virtualcam"), W, H)
    assert isinstance(out, FileOutput) and out.max_frames == 3
    assert devices.MODPROBE_FIX in (out.fallback_reason or "")
    for i in range(5):
        out.send(_frame(40 * i))
    out.close()
    assert out.frames_written == 3
    cap = cv2.VideoCapture(str(out.path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    with pytest.raises(OutputError, match="needs PySide6 and a display"):
        open_output(OutputSettings(kind="preview"), W, H)  # asked for explicitly: no silent fallback


def test_preview_window_shows_frames_offscreen(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PySide6")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    out = output.PreviewOutput(W, H, 30)
    sender = threading.Thread(target=out.send, args=(_frame(50),))  # sent from another thread, as PacedSender does
    sender.start()
    sender.join()
    assert out.pump()  # runs the queued paint; the window is still open
    pixmap = out.window.pixmap()
    assert (pixmap.width(), pixmap.height()) == (W, H)
    shown = pixmap.toImage().pixelColor(W // 4, H // 2)
    assert (shown.red(), shown.green(), shown.blue()) == (205, 0, 50)
    out.close()
    assert not out.pump()  # closed: a CLI loop stops


# ---------------------------------------------------------------- pacing


def test_paced_sender_repeats_last_frame_at_steady_rate(backends: type[RecordingBackend]) -> None:
    out = VirtualCamOutput(W, H, 20, backend="livecam-test")
    sender = PacedSender(out, 20)
    t0 = time.monotonic()
    for value in (10, 20, 30):  # submitted before start, so the first two are surely stale
        sender.submit(_frame(value), capture_t=t0)
    sender.start()
    _pause(0.6)  # the producer has stalled: the sender must keep the call app fed
    stats = sender.stats()
    sender.stop()
    out.close()
    backend = backends.instances[0]
    received = [f.reshape(H, W, 3) for f in backend.frames]
    assert 6 <= len(received) <= 16  # about 12 at 20 fps; loose for a busy machine
    assert np.array_equal(received[0], _frame(30))  # the newest submitted frame, the older two dropped
    assert all(np.array_equal(f, _frame(30)) for f in received)  # then repeated
    assert stats["repeats"] == stats["frames_sent"] - 1 and stats["dropped"] == 2
    gaps = np.diff(backend.times)
    assert 0.03 < float(np.median(gaps)) < 0.09  # 50 ms per frame, paced by pyvirtualcam's clock


def test_paced_sender_with_slow_producer_reports_fps_and_latency() -> None:
    out = NullOutput(W, H, 50)
    with PacedSender(out, 50) as sender:
        for value in range(6):  # a producer at 10 fps
            sender.submit(_frame(value), capture_t=time.monotonic())
            _pause(0.1)
        stats = sender.stats()
    assert 15 <= stats["frames_sent"] <= 45  # about 30 in 0.6 s
    assert stats["repeats"] >= stats["frames_sent"] - 6
    assert 25 <= stats["fps_out"] <= 75
    assert stats["latency_ms_median"] is not None and stats["latency_ms_median"] < 100
    assert out.frames_sent == stats["frames_sent"]
    assert np.array_equal(out.last, _frame(5))


def test_paced_sender_sends_nothing_before_the_first_frame() -> None:
    out = NullOutput(W, H)
    with PacedSender(out, 50) as sender:
        _pause(0.1)
        assert sender.stats()["frames_sent"] == 0 and sender.stats()["latency_ms_median"] is None
    assert out.frames_sent == 0


def test_stop_still_sends_the_frame_handed_over_last() -> None:
    out = NullOutput(W, H)
    sender = PacedSender(out, 1).start()  # one tick a second: the second frame arrives between ticks
    sender.submit(_frame(1), time.monotonic())
    deadline = time.monotonic() + 2
    while out.frames_sent == 0 and time.monotonic() < deadline:
        _pause(0.01)
    sender.submit(_frame(2), time.monotonic())
    started = time.monotonic()
    sender.stop()
    assert time.monotonic() - started < 0.5  # stop does not wait for the next tick
    assert out.frames_sent == 2 and np.array_equal(out.last, _frame(2))


def test_wrong_frames_are_refused_in_the_callers_thread() -> None:
    out = NullOutput(W, H)
    sender = PacedSender(out, 30)
    with pytest.raises(ValueError, match=r"expected \(48, 64, 3\) uint8, got \(48, 64\) uint8"):
        sender.submit(np.zeros((H, W), np.uint8), 0.0)
    with pytest.raises(ValueError, match=r"got \(48, 64, 3\) float32"):
        out.send(np.zeros((H, W, 3), np.float32))
    with pytest.raises(TypeError, match="got list"):
        out.send([[0]])
    assert out.frames_sent == 0


# ---------------------------------------------------------------- file and null


def test_file_output_writes_an_mp4_with_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with FileOutput(path, W, H, 15) as out:
        for i in range(12):
            out.send(_frame(20 * i))
        assert out.description == f"file {path}"
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    assert len(frames) == 12
    assert frames[0].shape == (H, W, 3)
    assert abs(float(frames[5][:, W // 2 :, 0].mean()) - 100) < 8  # blue level of frame 5, through the codec


def test_file_output_in_missing_folder_is_a_plain_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist; choose another path"):
        FileOutput(tmp_path / "no" / "such" / "dir.mp4", W, H, 30)
    with pytest.raises(OutputError, match="choose another path"):
        open_output(OutputSettings(kind="file", path=str(tmp_path / "no" / "x.mp4")), W, H)


def test_null_output_counts_and_keeps_the_last_frame() -> None:
    out = open_output(OutputSettings(kind="null"), W, H)
    assert isinstance(out, NullOutput) and out.fallback_reason is None
    out.send(_frame(1))
    out.send(_frame(2))
    assert out.frames_sent == 2 and np.array_equal(out.last, _frame(2))
