"""Capture sources: newest frame wins, placeholders and reconnects for failing cameras, clear errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam import capture, devices
from livecam.capture import (
    CameraSource,
    CaptureError,
    ImageSource,
    VideoFileSource,
    cover_fit,
    iter_video_frames,
    open_source,
)
from livecam.settings import CaptureSettings


def _pause(seconds: float) -> None:
    threading.Event().wait(seconds)


def _write_clip(path: Path, frames: int, fps: float = 25, size: tuple[int, int] = (64, 48)) -> Path:
    """A clip whose frame i is a flat grey of level 10 * i, so a frame's number can be read back."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 10 * i % 250, np.uint8))
    writer.release()
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return _write_clip(tmp_path / "clip.mp4", 20)


# ---------------------------------------------------------------- video file


def test_video_source_hands_out_newest_frames_when_consumer_is_slow(clip: Path) -> None:
    with VideoFileSource(clip, 32, 24) as src:
        assert src.size == (32, 24) and src.fps == 25
        frames = []
        last = -1
        for _ in range(5):
            _pause(0.15)  # a slow consumer: about 4 frames are produced meanwhile
            frame = src.latest(after=last, timeout=1.0)
            frames.append(frame)
            last = frame.index
            # The frame handed out is the newest one: at most about one frame period old.
            assert time.monotonic() - frame.t < 0.2
            assert frame.image.shape == (24, 32, 3) and frame.image.dtype == np.uint8
            assert not frame.placeholder
    indices = [f.index for f in frames]
    times = [f.t for f in frames]
    assert indices == sorted(set(indices))
    assert times == sorted(times)
    assert max(np.diff(indices)) >= 2  # frames the consumer was too slow for were skipped, not queued


def test_video_source_loops_and_stops_at_end_when_not_looping(tmp_path: Path) -> None:
    short = _write_clip(tmp_path / "short.mp4", 6)
    with VideoFileSource(short, realtime=False) as src:
        deadline = time.monotonic() + 3
        frame = src.latest()
        while frame.index <= 12 and time.monotonic() < deadline:
            frame = src.latest(after=frame.index)
        assert frame.index > 12  # more frames than the file has: it looped
    with VideoFileSource(short, realtime=False, loop=False) as src:
        deadline = time.monotonic() + 3
        while not src.finished and time.monotonic() < deadline:
            _pause(0.01)
        assert src.finished
        end = src.latest(timeout=0.05)
        assert end.index == 6 and abs(float(end.image.mean()) - 50) < 6  # the last frame, grey 10 * 5
        assert src.latest(after=end.index, timeout=0.05).index == 6  # nothing new, no placeholder


def test_real_clip_is_cover_fitted_to_requested_size(data_dir: Path) -> None:
    path = data_dir / "video" / "lp_s18_room_landscape.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is not in the shared test data")
    with VideoFileSource(path, 360, 360) as src:
        frame = src.latest(timeout=3)
    assert frame.image.shape == (360, 360, 3)
    assert frame.image.std() > 20  # a real picture, not a blank card


def test_iter_video_frames_yields_every_frame_in_order(clip: Path) -> None:
    frames = list(iter_video_frames(clip, size=(16, 16)))
    assert len(frames) == 20
    assert all(f.shape == (16, 16, 3) for f in frames)
    levels = [float(f.mean()) for f in frames]
    assert np.allclose(levels, [10 * i for i in range(20)], atol=6)


def test_cover_fit_crops_instead_of_stretching() -> None:
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, :20] = 255  # the outer quarters are cut off by a square crop
    image[:, 60:] = 255
    out = cover_fit(image, (40, 40))
    assert out.shape == (40, 40, 3)
    assert out.max() == 0


# ---------------------------------------------------------------- still image


def test_image_source_repeats_the_picture_with_fresh_indices(tmp_path: Path) -> None:
    picture = np.zeros((30, 40, 3), np.uint8)
    picture[:, :, 2] = 200
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), picture)
    with ImageSource(path, fps=50) as src:
        a = src.latest()
        b = src.latest(after=a.index)
    assert b.index > a.index and b.t > a.t
    assert np.array_equal(a.image, picture) and np.array_equal(b.image, picture)
    assert a.image is not b.image  # each frame is its own copy, so an effect drawing on one spoils nothing


# ---------------------------------------------------------------- bad input


def test_missing_file_is_one_plain_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(CaptureError) as err:
        open_source(CaptureSettings(source=str(missing)))
    assert str(err.value) == (f"Video file {missing} does not exist; pass a camera index like 0 or a video/image path.")


def test_damaged_and_unknown_files_are_refused_plainly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    with pytest.raises(CaptureError, match="cannot be opened|no readable frames"):
        open_source(CaptureSettings(source=str(broken)))
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    with pytest.raises(CaptureError, match="neither a video"):
        open_source(CaptureSettings(source=str(odd)))
    bad_image = tmp_path / "bad.png"
    bad_image.write_bytes(b"\x00" * 50)
    with pytest.raises(CaptureError, match="is not a JPEG, PNG, WebP, BMP or TIFF image"):
        open_source(CaptureSettings(source=str(bad_image)))


def test_open_source_picks_the_right_kind(clip: Path, tmp_path: Path) -> None:
    still = tmp_path / "still.jpg"
    cv2.imwrite(str(still), np.full((20, 20, 3), 128, np.uint8))
    for source, kind in ((clip, VideoFileSource), (still, ImageSource)):
        src = open_source(CaptureSettings(source=str(source)))
        assert isinstance(src, kind)
        src.close()
    cam = open_source(CaptureSettings(source="3"))
    assert isinstance(cam, CameraSource) and cam.device == 3  # not started: nothing is opened yet


def test_auto_without_camera_falls_back_to_the_demo_clip(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture, "_first_working_camera", lambda: None)
    monkeypatch.setattr(capture, "demo_clip_path", lambda: clip)
    src = open_source(CaptureSettings(source="auto", width=64, height=48))
    assert isinstance(src, VideoFileSource) and src.path == clip
    src.close()
    monkeypatch.setattr(capture, "demo_clip_path", lambda: clip.with_name("gone.mp4"))
    with pytest.raises(CaptureError, match="No camera was found"):
        open_source(CaptureSettings(source="demo"))


class _Silent(capture.FrameSource):
    def _run(self) -> None:
        self._stop.wait()


class _CrashesOnce(capture.FrameSource):
    """Its first run raises; the restarted run delivers green frames."""

    runs = 0

    def _run(self) -> None:
        self.runs += 1
        if self.runs == 1:
            raise OSError("decoder crashed")
        clock = capture.FrameClock(self._fps, self._stop)
        while True:
            self._publish(np.full((self._size[1], self._size[0], 3), (0, 200, 0), np.uint8))
            if not clock.wait():
                return


def test_source_with_nothing_yet_gives_a_placeholder() -> None:
    with _Silent(80, 60, 30, "silent") as src:
        frame = src.latest(timeout=0.05)
    assert frame.placeholder and frame.image.shape == (60, 80, 3)


def test_a_crashed_source_thread_shows_a_card_and_restarts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(capture, "BACKOFF_START", 0.2)
    kinds = []
    with caplog.at_level("DEBUG"), _CrashesOnce(80, 60, 30, "test source") as src:
        frame = src.latest(timeout=1.0)
        assert frame.placeholder
        assert src.error == "test source stopped unexpectedly (decoder crashed); LiveCam shows a placeholder and keeps retrying."
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and (not kinds or kinds[-1] != "real"):
            frame = src.latest(after=frame.index, timeout=0.5)
            kinds.append("card" if frame.placeholder else "real")
    assert kinds[-1] == "real" and frame.image[30, 40, 1] == 200 and src.runs == 2
    assert kinds.count("card") >= 3  # cards kept coming at the source's rate while it waited
    console = [r for r in caplog.records if r.levelno >= 20]
    assert len(console) == 1 and console[0].exc_info is None  # one sentence, no traceback
    assert any(r.exc_info for r in caplog.records if r.name == "livecam.trace")  # the log file gets it


# ---------------------------------------------------------------- failing cameras


class FakeCamera:
    """A cv2.VideoCapture stand-in: opens or not, then gives ``good`` green frames at ~60 fps and fails."""

    def __init__(self, opened: bool, good: int = 0) -> None:
        self.opened, self.good = opened, good
        self.props: dict[int, float] = {}

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        _pause(1 / 60)  # a real camera blocks until its next frame
        if self.good <= 0:
            return False, None
        self.good -= 1
        return True, np.full((120, 160, 3), (0, 200, 0), np.uint8)

    def release(self) -> None:
        self.opened = False


def _placeholder_text_visible(image: np.ndarray) -> bool:
    h, w = image.shape[:2]
    band = image[h // 2 - h // 8 : h // 2 + h // 8, w // 8 : w - w // 8]
    return band.max() > 150 and image[:5].max() < 60  # light text on a dark card


def test_camera_that_cannot_open_shows_placeholder_without_spinning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices, "list_cameras", lambda: [{"index": 0, "path": "/dev/video0", "name": "Webcam"}])
    attempts = []

    def opener(device: int | str) -> FakeCamera:
        attempts.append(time.monotonic())
        return FakeCamera(opened=False)

    cpu0 = time.process_time()
    with CameraSource(0, 320, 180, 30, opener=opener) as src:
        first = src.latest(timeout=1.0)
        _pause(1.5)
        last = src.latest(after=first.index, timeout=1.0)
        error = src.error
    cpu = time.process_time() - cpu0
    assert first.placeholder and last.placeholder
    assert first.image.shape == (180, 320, 3)
    assert _placeholder_text_visible(last.image)
    # Cards at the camera's own rate (30 fps), so frame counts and fps stay true in real time
    assert 30 <= last.index - first.index <= 55, last.index - first.index
    assert 2 <= len(attempts) <= 4  # back-off 0.5 s, 1 s, ...: reopened at t = 0, 0.5, 1.5
    assert cpu < 0.5  # waited on an Event, not a busy loop
    assert error == (
        "Camera 0 is not available (unplugged or in use by another app); "
        "LiveCam shows a placeholder and keeps retrying."
    )
    assert sum(error in r.getMessage() for r in caplog.records) == 1  # said once, not once per retry


def test_a_camera_number_linux_does_not_list_points_to_livecam_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platform

    (tmp_path / "class" / "video4linux").mkdir(parents=True)  # a Linux with no camera at all
    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path)
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    with CameraSource(5, 160, 120, 30, opener=lambda device: FakeCamera(opened=False)) as src:
        src.latest(timeout=1.0)
        for _ in range(100):
            if src.error:
                break
            _pause(0.05)
        said = src.error
    assert said == ("Camera 5 is not available (there is no camera 5 now; livecam devices lists the cameras); "
                    "LiveCam shows a placeholder and keeps retrying.")


def test_real_opencv_with_no_such_camera_gives_placeholder() -> None:
    with CameraSource("/dev/video63", 160, 120, 30) as src:
        frame = src.latest(timeout=2.0)
    assert frame.placeholder and _placeholder_text_visible(frame.image)


def test_camera_that_dies_mid_stream_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture, "BACKOFF_START", 0.1)
    # First open: 10 frames then unplugged; second open: still gone; third: back for good.
    script = [FakeCamera(True, good=10), FakeCamera(False), FakeCamera(True, good=10_000)]
    opened = []

    def opener(device: int | str) -> FakeCamera:
        opened.append(device)
        return script[min(len(opened) - 1, len(script) - 1)]

    kinds = []
    errors = []
    with CameraSource(2, 160, 120, 30, opener=opener) as src:
        frame = src.latest(timeout=1.0)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            frame = src.latest(after=frame.index, timeout=0.5)
            kind = "placeholder" if frame.placeholder else "camera"
            if not kinds or kinds[-1] != kind:
                kinds.append(kind)
                errors.append(src.error)
            if kinds == ["camera", "placeholder", "camera"]:
                break
    assert kinds == ["camera", "placeholder", "camera"]
    assert "stopped sending frames" in (errors[1] or "")
    assert errors[2] is None and src.error is None
    assert len(opened) == 3
    assert frame.image.shape == (120, 160, 3) and frame.image[60, 80, 1] == 200  # cover-fitted real frame
    assert script[0].props[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
    assert script[0].props[cv2.CAP_PROP_FRAME_WIDTH] == 160


# ---------------------------------------------------------------- video files that go away


def _collect(src: VideoFileSource, seconds: float, after: int) -> list:
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = src.latest(after=after, timeout=0.2)
        if frame.index != after:
            frames.append(frame)
            after = frame.index
    return frames


def _until(src: VideoFileSource, want_placeholder: bool, after: int, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = src.latest(after=after, timeout=0.2)
        after = frame.index
        if frame.placeholder == want_placeholder:
            return frame
    raise AssertionError(f"no {'placeholder' if want_placeholder else 'video'} frame within {seconds} s")


def _grey_clip(path: Path, level: int, frames: int = 10, size: tuple[int, int] = (64, 48), fps: float = 25) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(frames):
        writer.write(np.full((size[1], size[0], 3), level, np.uint8))
    writer.release()
    return path


def _delete(path: Path) -> None:
    path.unlink()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _cut_short(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _replace_with_text(path: Path) -> None:
    tmp = path.with_name("text.tmp")
    tmp.write_text("this is not a video any more")
    tmp.replace(path)


@pytest.mark.parametrize(
    "damage, words",
    [
        (_delete, "does not exist"),
        (_empty, "cannot be opened"),
        (_cut_short, "cannot be opened"),
        (_replace_with_text, "cannot be opened"),
    ],
)
def test_video_file_that_goes_away_is_an_outage_that_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, damage, words: str
) -> None:
    monkeypatch.setattr(capture, "BACKOFF_START", 0.1)
    monkeypatch.setattr(capture, "BACKOFF_MAX", 0.2)
    clip = _grey_clip(tmp_path / "clip.mp4", 40)
    with caplog.at_level("INFO"), VideoFileSource(clip, 64, 48) as src:
        first = _until(src, want_placeholder=False, after=-1)
        damage(clip)
        card = _until(src, want_placeholder=True, after=first.index)
        assert words in (src.error or "") and "keeps checking for it" in src.error
        assert src.error.startswith(f"Video file {clip} ")
        # Cards come at the file's own 25 fps, so a consumer counting frames keeps counting.
        cards = _collect(src, 0.8, card.index)
        assert all(f.placeholder for f in cards) and len(cards) >= 12
        assert cards[-1].image.shape == (48, 64, 3)
        attempts = src.reopen_attempts
        assert 2 <= attempts <= 10  # back-off, not a reopen per frame
        # The file comes back (with other content and another size): playback resumes from it.
        new = _grey_clip(tmp_path / "new.mp4", 160, size=(96, 48))
        new.replace(clip)
        back = _until(src, want_placeholder=False, after=cards[-1].index)
        assert back.image.shape == (48, 64, 3) and abs(float(back.image.mean()) - 160) < 8
        assert src.error is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= 30]
    assert len(warnings) == 1 and words in warnings[0]  # said once, not once per retry
    assert any("is back" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records if r.levelno >= 20)


def test_a_replaced_video_file_plays_the_new_one_without_an_outage(tmp_path: Path) -> None:
    clip = _grey_clip(tmp_path / "clip.mp4", 40, frames=5)
    with VideoFileSource(clip, 64, 48) as src:
        first = _until(src, want_placeholder=False, after=-1)
        _grey_clip(tmp_path / "new.mp4", 200, frames=5).replace(clip)
        frames = _collect(src, 1.0, first.index)
    assert not any(f.placeholder for f in frames)
    assert abs(float(frames[-1].image.mean()) - 200) < 8 and src.error is None


def test_missing_source_path_that_is_too_long_is_one_sentence() -> None:
    with pytest.raises(CaptureError) as err:
        open_source(CaptureSettings(source="/tmp/" + "x" * 100_000 + ".mp4"))
    assert "is not a usable file name" in str(err.value) and len(str(err.value)) < 300


def test_a_file_without_a_suffix_is_recognised_by_its_content(clip: Path, tmp_path: Path) -> None:
    bare = tmp_path / "recording"
    bare.write_bytes(clip.read_bytes())
    src = open_source(CaptureSettings(source=str(bare)))
    assert isinstance(src, VideoFileSource)
    src.close()


def test_image_source_reads_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    cv2.imwrite(str(big), np.full((1600, 2400, 3), 90, np.uint8))
    with ImageSource(big, 320, 180, fps=30) as src:
        frame = src.latest()
    assert frame.image.shape == (180, 320, 3) and abs(float(frame.image.mean()) - 90) < 3


def test_cli_run_with_a_clip_deleted_mid_run_still_ends_after_n_frames(tmp_path: Path) -> None:
    """End to end: `livecam run --source clip.mp4 --frames N --output null`, the clip deleted while it plays."""
    import os
    import subprocess
    import sys

    clip = _grey_clip(tmp_path / "clip.mp4", 90, frames=15, size=(160, 120), fps=30)
    env = {**os.environ, "LIVECAM_CONFIG_DIR": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen"}
    cmd = [sys.executable, "-m", "livecam", "run", "--source", str(clip), "--frames", "120", "--output", "null",
           "--background", "off"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("livecam: Output:"):
                clip.unlink()  # while it plays: the loop must keep counting and end
                break
        _, rest = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("livecam run did not end after the clip was deleted: " + "".join(lines))
    text = "".join(lines) + rest
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    assert text.count("does not exist; LiveCam shows a placeholder") == 1
    assert "Stopped after 120 frames" in text


def test_with_the_camera_missing_frames_n_runs_in_real_time_and_reports_the_true_fps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import re

    from livecam import cli

    t0 = time.monotonic()
    with caplog.at_level("INFO"):
        code = cli.main(["run", "--source", "63", "--output", "null", "--frames", "60", "--fps", "30",
                         "--background", "off"])
    took = time.monotonic() - t0
    assert code == 0
    assert 1.8 < took < 5.0, took  # 60 cards at 30 fps: about 2 s (it was 27 s at 2 cards a second)
    stopped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Stopped after 60 frames")]
    fps = float(re.search(r"\((\d+\.\d) fps out", stopped[0]).group(1))
    assert 25 <= fps <= 32, stopped
