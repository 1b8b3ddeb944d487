"""Outputs: the virtual camera through a registered pyvirtualcam backend, pacing, files, fallbacks."""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import processes
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS
from pyvirtualcam.util import encode_fourcc

from livecam import devices, output, pacing, recording, sinks
from livecam.capture import iter_video_frames
from livecam.output import (
    FileOutput,
    NullOutput,
    OutputError,
    PacedSender,
    VirtualCamOutput,
    open_output,
)
from livecam.settings import OutputSettings
from live_doubles import BackendDouble

W, H = 64, 48


def _decode(path: Path) -> list[np.ndarray]:
    """Every frame that plays, as a player (OpenCV's FFmpeg) reads them."""
    return list(iter_video_frames(path))


def _pause(seconds: float) -> None:
    threading.Event().wait(seconds)


def _frame(value: int) -> np.ndarray:
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = value  # blue channel, so a BGR/RGB mix-up shows
    image[:, : W // 2, 2] = 255 - value
    return image


class RecordingBackend(BackendDouble):
    """A pyvirtualcam backend that keeps what it is sent."""

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


def test_missing_v4l2loopback_gives_the_steps_this_machine_still_needs(
    backends: type[RecordingBackend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` and the tray say what `livecam doctor` says: a module that is not installed for this kernel
    is installed first (modprobe alone fails with "Module v4l2loopback not found")."""
    kernel = tmp_path / "modules" / os.uname().release
    kernel.mkdir(parents=True)
    monkeypatch.setattr(devices, "MODULES_ROOT", tmp_path / "modules")
    modprobe = 'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="LiveCam" exclusive_caps=1'
    said = []
    for listed in ("updates/dkms/v4l2loopback.ko.xz:\n", "kernel/drivers/media/usb/uvc/uvcvideo.ko:\n"):
        (kernel / "modules.dep").write_text(listed)
        with pytest.raises(OutputError) as err:
            VirtualCamOutput(W, H, 30, backend="livecam-missing")
        said.append(str(err.value))
    assert said == [
        f"No virtual camera: the v4l2loopback module is not loaded (it is installed); run: {modprobe}",
        "No virtual camera: the v4l2loopback module is not loaded, and it is not installed for this kernel; "
        f"install it (e.g. sudo apt install v4l2loopback-dkms), then run: {modprobe}",
    ]


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


def test_virtualcam_failure_without_a_display_records_nothing(
    backends: type[RecordingBackend], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sinks, "_default_backend", lambda: "livecam-missing")
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)  # no display, so the preview cannot open either
    out = open_output(OutputSettings(kind="virtualcam"), W, H)
    assert isinstance(out.stand_in, NullOutput)  # no silent sample recording any more (awaiting the camera)
    assert devices.MODPROBE_FIX in (out.fallback_reason or "")
    for i in range(5):
        out.send(_frame(40 * i))
    out.close()
    assert out.stand_in.frames_sent == 5
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # nothing written anywhere
    with pytest.raises(OutputError, match="needs PySide6 and a display") as err:
        open_output(OutputSettings(kind="preview"), W, H)  # asked for explicitly: no silent fallback
    assert str(err.value).endswith("; to see the result, run LiveCam from a desktop or record it with "
                                   "--output file --output-file result.mp4.")


def test_no_display_for_the_fallback_preview_is_said_once(
    backends: type[RecordingBackend], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sinks, "_default_backend", lambda: "livecam-missing")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level("INFO", "livecam")
    open_output(OutputSettings(kind="virtualcam"), W, H).close()
    said = [r.getMessage() for r in caplog.records if r.name == "livecam.output"]
    assert len(said) == 2, said  # why there is no virtual camera, then why there is no output at all
    assert said[0].startswith("No virtual camera: ")
    assert said[1] == ("Running without any video output: the preview window needs PySide6 and a display, and "
                       "there is no display here; to see the result, run LiveCam from a desktop or record it "
                       "with --output file --output-file result.mp4; LiveCam switches to the virtual camera once "
                       "it is there.")
    assert sum("display" in s for s in said) == 1


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


def test_paced_sender_keeps_its_rate_after_a_pause(backends: type[RecordingBackend]) -> None:
    out = VirtualCamOutput(W, H, 20, backend="livecam-test")
    with PacedSender(out, 20) as sender:
        sender.submit(_frame(1), time.monotonic())
        _pause(0.2)
        sender.pause()
        _pause(0.6)
        sender.resume()
        sender.submit(_frame(2), time.monotonic())
        resumed = time.monotonic()
        _pause(0.5)
    out.close()
    after = [t for t in backends.instances[0].times if t >= resumed]
    assert 4 <= len(after) <= 16  # about 10 at 20 fps: no burst to "catch up" on the pause


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


@processes.needs_ffmpeg
def test_file_output_writes_an_mp4_with_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with FileOutput(path, W, H, 15) as out:
        for i in range(12):
            out.send(_frame(20 * i))
        assert out.description == f"file {path}"
    frames = _decode(path)
    assert len(frames) == 12
    assert frames[0].shape == (H, W, 3)
    assert abs(float(frames[5][:, W // 2 :, 0].mean()) - 100) < 8  # blue level of frame 5, through the codec


@processes.needs_ffmpeg
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


# ---------------------------------------------------------------- a lost virtual camera comes back


def _until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        _pause(0.005)
    return True


class FlakyBackend(RecordingBackend):
    """A device that dies after ``die_after`` frames, then refuses ``refuse`` reopen attempts."""

    die_after = 3
    refuse = 2
    sends_after_death: list[int] = []

    def __init__(self, **kw: Any) -> None:
        if RecordingBackend.instances and FlakyBackend.refuse > 0:
            FlakyBackend.refuse -= 1
            raise RuntimeError("device /dev/video-test disappeared")
        super().__init__(**kw)
        self.dead = False

    def send(self, frame: np.ndarray) -> None:
        if self.dead:
            FlakyBackend.sends_after_death.append(len(self.frames))
            raise RuntimeError("write failed: No such device")
        if self is RecordingBackend.instances[0] and len(self.frames) >= FlakyBackend.die_after:
            self.dead = True
            raise RuntimeError("write failed: No such device")
        super().send(frame)


def test_a_lost_virtual_camera_is_closed_reopened_with_backoff_and_reported(
    backends: type[RecordingBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    pyvirtualcam.register_backend("livecam-flaky", FlakyBackend)
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_START_S", 0.02)
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_MAX_S", 0.08)
    FlakyBackend.refuse, FlakyBackend.sends_after_death = 2, []
    statuses: list[str] = []
    try:
        out = VirtualCamOutput(W, H, 50, backend="livecam-flaky")
        with PacedSender(out, 50) as sender:
            sender.submit(_frame(10), time.monotonic())
            assert _until(lambda: sender.state == "reopening")
            assert _until(lambda: sender.state == "sending" and len(backends.instances) == 2)
            statuses = [sender.stats()["status"]]
            sender.submit(_frame(20), time.monotonic())
            assert _until(lambda: any(np.array_equal(f.reshape(H, W, 3), _frame(20)) for f in backends.instances[1].frames))
            assert sender.error is None and sender.status is None
        out.close()
    finally:
        BACKENDS.pop("livecam-flaky", None)
    dead, new = backends.instances
    assert len(dead.frames) == FlakyBackend.die_after and dead.closed  # the dead handle was closed...
    assert FlakyBackend.sends_after_death == []  # ...and never written again
    assert FlakyBackend.refuse == 0 and sender.reopen_attempts == 3  # two refused, the third worked
    assert statuses == [None]
    assert new.frames and np.array_equal(new.frames[0].reshape(H, W, 3), _frame(10))  # the last frame, repeated


def test_reopening_status_counts_attempts(backends: type[RecordingBackend], monkeypatch: pytest.MonkeyPatch) -> None:
    pyvirtualcam.register_backend("livecam-flaky", FlakyBackend)
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_START_S", 0.01)
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_MAX_S", 0.01)
    FlakyBackend.refuse = 10**6  # it never comes back
    try:
        out = VirtualCamOutput(W, H, 50, backend="livecam-flaky")
        with PacedSender(out, 50) as sender:
            sender.submit(_frame(10), time.monotonic())
            assert _until(lambda: sender.reopen_attempts >= 3)
            status = sender.status or ""
            assert sender.state == "reopening" and sender.error == status
            assert sender.stats()["fps_out"] == 0.0
            assert not sender.failed.is_set()  # a virtual camera is never given up
    finally:
        BACKENDS.pop("livecam-flaky", None)
        FlakyBackend.refuse = 0
    assert status.startswith("The virtual camera /dev/video-test was lost; reopening it (attempt ")
    assert "failed, next in 0.01 s)." in status


class _BrokenRecording(NullOutput):
    def _send(self, image: np.ndarray) -> None:
        if self.frames_sent == 2:
            raise output.OutputFailed("The disk is full: recording to x.mp4 stopped after 0.1 s (2 frames).")
        super()._send(image)


def test_a_failed_recording_stops_the_sender_for_good() -> None:
    out = _BrokenRecording(W, H, 50)
    with PacedSender(out, 50) as sender:
        sender.submit(_frame(1), time.monotonic())
        assert sender.failed.wait(5)
        sender.submit(_frame(2), time.monotonic())  # still accepted, never sent
        _pause(0.1)
    assert sender.state == "failed" and out.frames_sent == 2
    assert sender.error == sender.status == "The disk is full: recording to x.mp4 stopped after 0.1 s (2 frames)."


def test_paused_sender_sends_nothing_and_resumes_with_a_fresh_frame() -> None:
    out = NullOutput(W, H, 100)
    with PacedSender(out, 100) as sender:
        sender.submit(_frame(1), time.monotonic())
        assert _until(lambda: out.frames_sent > 0)
        sender.pause()
        sent = out.frames_sent
        sender.submit(_frame(2), time.monotonic())  # finished while pausing: dropped
        _pause(0.15)
        assert out.frames_sent == sent and sender.state == "paused" and sender.error is None
        opened = time.monotonic()
        sender.resume(since=opened)
        _pause(0.05)
        assert out.frames_sent == sent  # no stale frame goes out before a new one comes
        sender.submit(_frame(3), time.monotonic())
        assert _until(lambda: out.frames_sent > sent)
        assert np.array_equal(out.last, _frame(3))
        assert sender.state == "sending"
        assert sender.resume_latency_s is not None and sender.resume_latency_s >= 0.05


def test_pausing_with_a_card_leaves_the_card_as_the_last_frame() -> None:
    out = NullOutput(W, H, 100)
    card = _frame(77)
    with PacedSender(out, 100) as sender:
        sender.submit(_frame(1), time.monotonic())
        assert _until(lambda: out.frames_sent > 0)
        sender.pause(last=card)
        assert _until(lambda: np.array_equal(out.last, card))  # what the next app to open the camera gets
        sent = out.frames_sent
        _pause(0.1)
        assert out.frames_sent == sent  # sent once, then nothing while paused
        sender.resume()
        assert _until(lambda: out.frames_sent > sent + 2)  # the card, not the old picture, until a new frame
        assert np.array_equal(out.last, card)
        sender.submit(_frame(3), time.monotonic())
        assert _until(lambda: np.array_equal(out.last, _frame(3)))


# ---------------------------------------------------------------- recordings


def _boxes(data: bytes) -> list[bytes]:
    kinds, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kinds.append(data[pos + 4 : pos + 8])
        if size < 8:
            break
        pos += size
    return kinds


@processes.needs_ffmpeg
def test_recording_is_fragmented_private_and_every_frame_plays(tmp_path: Path) -> None:
    path = tmp_path / "call.mp4"
    with FileOutput(path, W, H, 15) as out:
        assert out.recorder == "ffmpeg"
        t0 = time.monotonic()
        for i in range(40):
            out.send(_frame(6 * i), t0 + i / 15)  # each frame's time, as the paced sender gives it
    assert path.stat().st_mode & 0o777 == 0o600
    kinds = _boxes(path.read_bytes())
    assert kinds[:2] == [b"ftyp", b"moov"] and kinds.count(b"moof") >= 2  # one fragment per second of video
    frames = _decode(path)
    assert len(frames) == 40 and frames[0].shape == (H, W, 3)
    assert abs(float(frames[30][:, W // 2 :, 0].mean()) - 180) < 8  # blue level of frame 30, through the codec


def test_recording_without_ffmpeg_is_refused_in_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recording, "find_ffmpeg", lambda: None)
    with pytest.raises(OutputError, match=r"^Recording needs ffmpeg, which is not installed; install it"):
        FileOutput(tmp_path / "out.mp4", W, H, 15)
    assert list(tmp_path.iterdir()) == []  # nothing was left behind


@processes.needs_ffmpeg
def test_recording_never_replaces_a_file_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp4"
    path.write_bytes(b"precious")
    path.chmod(0o644)
    with pytest.raises(OutputError, match=r"talk\.mp4 already exists and LiveCam does not replace files; .*--overwrite"):
        FileOutput(path, W, H, 15)
    assert path.read_bytes() == b"precious"
    with pytest.raises(OutputError, match="already exists"):
        open_output(OutputSettings(kind="file", path=str(path)), W, H)
    out = open_output(OutputSettings(kind="file", path=str(path), overwrite=True), W, H)
    out.send(_frame(100))
    out.close()
    assert path.stat().st_mode & 0o777 == 0o600  # the replaced file does not keep its readable mode
    assert len(_decode(path)) == 1


@pytest.mark.parametrize("name", ["photo.jpg", "notes.txt", "clip.avi", "noext"])
@processes.needs_ffmpeg
def test_recording_refuses_names_that_are_not_mp4_or_mov(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xff\xd8\xff keep me")
    with pytest.raises(OutputError, match=r"a recording must end in \.mp4, \.m4v or \.mov; choose a name like"):
        FileOutput(path, W, H, 15, overwrite=True)
    assert path.read_bytes() == b"\xff\xd8\xff keep me"


@processes.needs_ffmpeg
def test_recording_into_a_folder_name_is_a_plain_error(tmp_path: Path) -> None:
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(OutputError, match=r"dir\.mp4 is a folder|already exists"):
        FileOutput(tmp_path / "dir.mp4", W, H, 15)


def test_cut_off_fragments_are_not_counted(tmp_path: Path) -> None:
    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    head = box(b"ftyp", b"isom") + box(b"moov", b"x" * 20)
    whole = box(b"moof", b"m" * 10) + box(b"mdat", b"d" * 50)
    path = tmp_path / "cut.mp4"
    for tail, expected in (
        (b"", len(head) + len(whole)),
        (box(b"moof", b"m" * 10)[:12], len(head) + len(whole)),  # header cut
        (box(b"moof", b"m" * 10), len(head) + len(whole)),  # moof without its mdat
        (box(b"moof", b"m" * 10) + box(b"mdat", b"d" * 50)[:30], len(head) + len(whole)),  # mdat cut
    ):
        path.write_bytes(head + whole + tail)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert output.complete_fragments_end(fd) == expected
        finally:
            os.close(fd)


# ---------------------------------------------------------------- recordings that survive a crash or a full disk

REPO = Path(__file__).resolve().parents[1]
LIVECAM = [sys.executable, "-m", "livecam"]


def _run_args(path: Path, frames: int, size: str = "320x180") -> list[str]:
    # The bundled demo clip, no effect: the pipeline costs nothing and the picture moves, so the
    # encoder produces real data (a still image compresses to almost nothing).
    return ["run", "--source", "demo", "--size", size, "--fps", "15", "--background", "off",
            "--output", "file", "--output-file", str(path), "--frames", str(frames)]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "LIVECAM_CONFIG_DIR": str(tmp_path / "config"), "PYTHONPATH": str(REPO)}


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _demo_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    from livecam.capture import iter_video_frames
    from livecam.resources import demo_clip_path

    frames = []
    for image in iter_video_frames(demo_clip_path(), size):
        frames.append(image)
        if len(frames) == count:
            break
    return frames


def _shows_the_demo(frames: list[np.ndarray], size: tuple[int, int]) -> None:
    """Every decoded frame is a frame of the demo clip (through the codec), not noise or grey."""
    demo = np.stack(_demo_frames(90, size)).astype(np.int16)
    for i, frame in enumerate(frames):
        error = np.abs(demo - frame.astype(np.int16)).mean(axis=(1, 2, 3)).min()
        assert error < 12, f"decoded frame {i} matches no frame of the source (mean error {error:.1f})"


@processes.needs_ffmpeg
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("victims", ["livecam", "livecam and ffmpeg"])
def test_a_recording_killed_with_sigkill_still_plays(tmp_path: Path, victims: str) -> None:
    path = tmp_path / "killed.mp4"
    proc = subprocess.Popen([*LIVECAM, *_run_args(path, 0)], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # Wait until at least two whole fragments (2 s of video) are on disk, then kill.
        assert _until(lambda: path.exists() and path.read_bytes().count(b"moof") >= 3, 60), proc.communicate()[0]
        pids = [proc.pid] + (_children(proc.pid) if victims != "livecam" else [])
        assert len(pids) == (1 if victims == "livecam" else 2)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _until(lambda: not _ffmpeg_writing(path), 10)  # alone, ffmpeg sees its input end and finishes
    assert path.stat().st_mode & 0o777 == 0o600
    data = path.read_bytes()
    if victims == "livecam":
        fd = os.open(path, os.O_RDONLY)
        try:
            assert output.complete_fragments_end(fd) == len(data)  # finished: no fragment cut off
        finally:
            os.close(fd)
    frames = _decode(path)
    # At least the two whole fragments, 1 s of time each (frames carry their times: on a busy
    # machine a second may hold fewer than 15 frames, each shown longer)
    assert _last_frame_time(path) >= 1.5, f"only {len(frames)} frames play after the kill"
    assert frames[0].shape == (180, 320, 3)
    _shows_the_demo(frames, (320, 180))


def _last_frame_time(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=False).stdout
    return max((float(t) for t in out.split() if t.strip()), default=0.0)


def _ffmpeg_writing(path: Path) -> bool:
    """True while some process still has ``path`` open (ffmpeg finishing the file)."""
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                return True
        except OSError:
            continue
    return False


def _can_mount_a_small_disk() -> str | None:
    if shutil.which("unshare") is None or not Path("/proc/self/ns/user").exists():
        return "unshare (util-linux) is missing"
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /mnt 2>&1 || mount -t tmpfs -o size=64k tmpfs /tmp"],
                           capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot mount a tmpfs in a user namespace: {probe.stdout.strip()}"


@processes.needs_ffmpeg
def test_a_full_disk_stops_the_recording_with_a_sentence_and_a_playable_file(tmp_path: Path) -> None:
    """A real ENOSPC: LiveCam records onto a 192 KiB tmpfs (mounted in a user and mount namespace,
    so no root is needed) until it is full."""
    reason = _can_mount_a_small_disk()
    if reason:
        pytest.skip(reason)
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    kept.mkdir()
    target = disk / "call.mp4"
    script = (
        f"mount -t tmpfs -o size=192k,mode=0777 tmpfs {disk} || exit 90\n"
        f'"$@" > {kept}/out.txt 2>&1; echo $? > {kept}/rc\n'
        f"df -k {disk} | tail -n 1 > {kept}/df.txt\n"
        f"cp -p {target} {kept}/call.mp4\n"
    )
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
                           *LIVECAM, *_run_args(target, 1800, "640x360")],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = (kept / "out.txt").read_text()
    assert (kept / "rc").read_text().strip() == "1", out  # non-zero exit
    assert "livecam: The disk is full: recording to " + str(target) + " stopped after " in out, out
    assert "the file keeps what was recorded up to its last whole second. Free some space or record to another disk." in out
    assert "Traceback" not in out
    recording = kept / "call.mp4"
    assert recording.stat().st_mode & 0o777 == 0o600
    data = recording.read_bytes()
    assert len(data) <= 192 * 1024
    fd = os.open(recording, os.O_RDONLY)
    try:
        assert output.complete_fragments_end(fd) == len(data)  # the cut-off fragment was trimmed away
    finally:
        os.close(fd)
    frames = _decode(recording)
    assert len(frames) >= 15, f"only {len(frames)} frames play"  # at least one whole fragment (1 s)
    _shows_the_demo(frames, (640, 360))


# ---------------------------------------------------------------- never hang, never freeze


def test_a_stalled_pipeline_shows_the_catching_up_card_after_a_second() -> None:
    from livecam.capture import placeholder_image

    out = NullOutput(W, H, 30)
    sender = PacedSender(out, 30).start()
    try:
        sender.submit(_frame(9), time.monotonic())
        _pause(0.5)
        assert np.array_equal(out.last, _frame(9))  # a short gap: the frame is repeated
        assert _until(lambda: not np.array_equal(out.last, _frame(9)), 1.5)
        card = placeholder_image(W, H, pacing.CATCHING_UP_TEXT)
        assert np.array_equal(out.last, card)  # not the frozen picture
        sender.submit(_frame(10), time.monotonic())
        assert _until(lambda: np.array_equal(out.last, _frame(10)))  # and back as soon as a frame comes
        assert sender.stats()["catching_up"] > 0
    finally:
        sender.stop()


def test_frames_that_come_slowly_but_steadily_are_not_taken_for_a_stall() -> None:
    """A machine that makes a frame every 1.2 s (an emulated guest, a very slow laptop) gets no card
    between its frames (the card would flash); a gap of several such spacings is still a stall."""
    from livecam.capture import placeholder_image

    out = NullOutput(W, H, 30)
    sender = PacedSender(out, 30).start()
    card = placeholder_image(W, H, pacing.CATCHING_UP_TEXT)
    try:
        for i in range(5):
            sender.submit(_frame(i), time.monotonic())
            if i < 3:
                _pause(1.2)  # the first spacings are learned under the plain 1 s limit: cards may show
        caught = sender.stats()["catching_up"]
        for i in range(5, 8):
            _pause(1.2)
            sender.submit(_frame(i), time.monotonic())
        assert sender.stats()["catching_up"] == caught  # no card once the spacing is known
        assert _until(lambda: np.array_equal(out.last, card), 4 * 1.2 + 2.0)  # a real stall still shows
    finally:
        sender.stop()


def test_a_slow_machines_first_frames_are_not_taken_for_a_stall() -> None:
    """Right after a start or resume no spacing is known yet. A first frame that took 0.5 s from
    capture to out says how slowly this machine makes frames, so 1.5 s without the next is no stall
    (the emulated guest showed the card between its first frames); four times that still is."""
    from livecam.capture import placeholder_image

    out = NullOutput(W, H, 30)
    sender = PacedSender(out, 30).start()
    card = placeholder_image(W, H, pacing.CATCHING_UP_TEXT)
    try:
        sender.submit(_frame(1), time.monotonic() - 0.5)
        _pause(1.5)
        assert np.array_equal(out.last, _frame(1))
        assert sender.stats()["catching_up"] == 0
        assert _until(lambda: np.array_equal(out.last, card), 4 * 0.5 + 1.0)
    finally:
        sender.stop()


class HangingBackend(RecordingBackend):
    """A virtual camera whose driver call never returns after a few frames (until released)."""

    release = threading.Event()

    def send(self, frame: np.ndarray) -> None:
        if len(self.frames) >= 3 and len(RecordingBackend.instances) == 1:
            HangingBackend.release.wait()
        super().send(frame)


def test_a_hung_virtual_camera_is_dropped_with_a_sentence_and_the_stream_goes_on(
    backends: type[RecordingBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pacing, "SINK_DEADLINE_S", 0.5)
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_START_S", 0.05)
    pyvirtualcam.register_backend("livecam-hang", HangingBackend)
    HangingBackend.release.clear()
    try:
        out = VirtualCamOutput(W, H, 30, backend="livecam-hang")
        sender = PacedSender(out, 30).start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0 and len(RecordingBackend.instances) < 2:
            sender.submit(_frame(int(40 * (time.monotonic() - t0))), time.monotonic())
            _pause(0.03)
        assert len(RecordingBackend.instances) == 2, "the hung camera was not replaced"
        assert _until(lambda: len(RecordingBackend.instances[1].frames) > 5, 3.0)  # the stream goes on
        t1 = time.monotonic()
        sender.stop(timeout=1.0)
        assert time.monotonic() - t1 < 1.2
    finally:
        HangingBackend.release.set()
        BACKENDS.pop("livecam-hang", None)


def _fake_ffmpeg(folder: Path) -> Path:
    """The folder to put first on PATH for a stalled encoder (pids in ``folder/ffmpeg-pids``)."""
    return processes.stalled_ffmpeg(folder, folder / "ffmpeg-pids").parent


def _sigterm(proc: subprocess.Popen) -> tuple[list[int], float, str]:
    """SIGTERM ``proc`` and wait: its children at the time, how long it took to end, what it printed."""
    children = _children(proc.pid)
    took, out, _ = processes.stop(proc)
    return children, took, out.decode()


@processes.needs_ffmpeg
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("encoder", ["ffmpeg", "stalled"])
def test_sigterm_ends_a_recording_run_within_2_s_and_leaves_no_child(tmp_path: Path, encoder: str) -> None:
    path = tmp_path / "rec.mp4"
    env = _env(tmp_path)
    if encoder == "stalled":
        env["PATH"] = f"{_fake_ffmpeg(tmp_path)}:{env['PATH']}"
    proc = subprocess.Popen([*LIVECAM, *_run_args(path, 0)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if encoder == "ffmpeg":
            assert _until(lambda: path.exists() and path.read_bytes().count(b"moof") >= 2, 60)
        else:
            assert _until(lambda: (tmp_path / "ffmpeg-pids").exists(), 60)
            _pause(0.5)  # the pipe is full and the writer waits on the encoder
        children, took, out = _sigterm(proc)
        assert children, "ffmpeg is not running"
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < 2.0, (took, out)
    assert not [pid for pid in children if processes.alive(pid)], "a child was left behind"
    assert "Traceback" not in out
    if encoder == "ffmpeg":
        assert proc.returncode == 0, out
        assert path.stat().st_mode & 0o777 == 0o600 and len(_decode(path)) >= 15
        assert "Recorded " in out and " of video (" in out
    assert not list(tmp_path.glob(".rec.*"))
    if encoder == "stalled":
        assert not path.exists(), "an empty recording was left behind"


@processes.needs_ffmpeg
def test_frames_n_into_a_stalled_encoder_ends_with_a_sentence(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "PATH": f"{_fake_ffmpeg(tmp_path)}:{os.environ['PATH']}"}
    t0 = time.monotonic()
    proc = subprocess.run([*LIVECAM, *_run_args(tmp_path / "rec.mp4", 60, "640x360")], cwd=tmp_path, env=env,
                          capture_output=True, check=False, text=True, timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == 1, proc.stderr
    # Before its first frame ffmpeg gets STARTUP_S (a busy machine), then STALL_S, before it counts as stalled
    assert re.search(r"\(the encoder took nothing for (5|15) s\); nothing playable had been written, so the file "
                     r"was removed\.", proc.stderr), proc.stderr
    assert not (tmp_path / "rec.mp4").exists()
    pids = [int(p) for p in (tmp_path / "ffmpeg-pids").read_text().split()]
    assert not [pid for pid in pids if processes.alive(pid)]
    assert took < recording.STARTUP_S + 20, took


@processes.needs_ffmpeg
def test_run_never_records_over_its_own_source(tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    frames = _demo_frames(20, (160, 120))
    with FileOutput(source, 160, 120, 15) as out:
        for image in frames:
            out.send(image)
    before = source.read_bytes()
    proc = subprocess.run([*LIVECAM, "run", "--source", str(source), "--output", "file", "--output-file", str(source),
                           "--overwrite", "--frames", "5", "--background", "off"],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, check=False, text=True, timeout=60)
    assert proc.returncode == 1
    assert "is also an input of this run, and the input and output must be different files" in proc.stderr
    assert source.read_bytes() == before


@processes.needs_ffmpeg
def test_sigterm_while_an_effect_takes_5_s_still_ends_within_2_s(tmp_path: Path) -> None:
    """The fault at the library boundary: Pipeline.process blocks for 5 s on one frame."""
    script = tmp_path / "slow.py"
    script.write_text(
        "import sys, threading\nimport livecam.pipeline as p\norig = p.Pipeline.process\ncount = [0]\n"
        "def process(self, *a, **k):\n    count[0] += 1\n    if count[0] == 30:\n"
        f"        open({str(tmp_path / 'stuck')!r}, 'w').close()\n        threading.Event().wait(5)\n"
        "    return orig(self, *a, **k)\np.Pipeline.process = process\n"
        "from livecam.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    path = tmp_path / "rec.mp4"
    proc = subprocess.Popen([sys.executable, str(script), *_run_args(path, 0)], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert _until(lambda: (tmp_path / "stuck").exists(), 60)
        _pause(0.3)
        children, took, out = _sigterm(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < 2.0, (took, out)
    assert not [pid for pid in children if processes.alive(pid)]
    assert path.stat().st_mode & 0o777 == 0o600 and len(_decode(path)) >= 15  # the whole fragments play
