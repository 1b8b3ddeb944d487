"""The one video writer under faults at its boundary: names taken meanwhile, links, inputs, a stalled
or slow encoder (a fake ffmpeg on PATH), deadlines, and recorded time against wall time."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import processes
import pytest

from livecam import recording
from livecam.capture import VideoReader, iter_video_frames
from livecam.pacing import PacedSender
from livecam.recording import FileOutput, VideoWriter
from livecam.sinks import Output, OutputError, OutputFailed

pytestmark = pytest.mark.skipif(recording.find_ffmpeg() is None, reason="ffmpeg is not installed")

W, H = 64, 48


def _frame(value: int, w: int = W, h: int = H) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = value
    image[:, : w // 2, 2] = 255 - value
    return image


def _render(path: Path, count: int, **kw) -> VideoWriter:
    writer = VideoWriter(path, W, H, 15, timing="frames", publish="end", **kw)
    for i in range(count):
        writer.write(_frame(5 * i))
    return writer


def _plays(path: Path) -> int:
    return sum(1 for _ in iter_video_frames(path))


def _probe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["format"]["duration"])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "livecam-part" in p.name)


# ---------------------------------------------------------------- names: nothing is ever replaced


def test_a_render_is_private_h264_frame_exact_and_named_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    writer = _render(target, 37)
    assert not target.exists()  # not under its name while unfinished
    (temp,) = [p for p in tmp_path.iterdir()]
    assert temp.name.startswith(".out.") and temp.stat().st_mode & 0o777 == 0o600
    writer.close()
    assert writer.error is None and writer.note is None
    assert target.stat().st_mode & 0o777 == 0o600 and _leftovers(tmp_path) == []
    codec = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name",
                            "-of", "csv=p=0", str(target)], capture_output=True, check=False, text=True).stdout.strip()
    assert codec == "h264"
    with VideoReader(target) as reader:
        frames = list(reader)
        assert abs(reader.fps - 15) < 0.01
    assert len(frames) == 37
    assert abs(float(frames[20][:, W // 2:, 0].mean()) - 100) < 8  # frame 20's blue level, through the codec


def test_a_file_that_appears_at_the_target_meanwhile_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    writer = _render(target, 10)
    target.write_bytes(b"written by someone else meanwhile")
    writer.close()
    assert target.read_bytes() == b"written by someone else meanwhile"
    aside = tmp_path / "out.livecam-1.mp4"
    assert writer.note and "out.mp4 changed while LiveCam was writing it (another file took that name meanwhile), so it was left alone" in writer.note
    assert str(aside) in writer.note and _plays(aside) == 10 and _leftovers(tmp_path) == []


def test_a_users_own_part_files_are_never_touched(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    mine = [tmp_path / ".out.part.mp4", tmp_path / "out.mp4.part", tmp_path / ".out.livecam-part.mp4"]
    for path in mine:
        path.write_bytes(b"mine")
    _render(target, 3).close()
    writer = _render(target.with_name("b.mp4"), 2)
    writer.discard()  # an interrupted render removes only its own file
    for path in mine:
        assert path.read_bytes() == b"mine"
    assert _plays(target) == 3 and not (tmp_path / "b.mp4").exists()
    assert _leftovers(tmp_path) == [".out.livecam-part.mp4"]  # the user's own file, nothing of ours


def test_two_writers_to_one_target_each_keep_their_frames(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    first, second = _render(target, 7), _render(target, 11)
    first.close()
    second.close()
    assert first.note is None and _plays(target) == 7
    assert second.note and _plays(tmp_path / "out.livecam-1.mp4") == 11
    # Live recordings take the name at the start: a second one is refused at once.
    live = FileOutput(tmp_path / "live.mp4", W, H, 15)
    with pytest.raises(OutputError, match=r"live\.mp4 already exists and LiveCam does not replace files"):
        FileOutput(tmp_path / "live.mp4", W, H, 15)
    live.close()
    assert _leftovers(tmp_path) == []


def test_overwrite_never_goes_through_a_symbolic_link(tmp_path: Path) -> None:
    precious = tmp_path / "device-or-document"
    precious.write_bytes(b"precious")
    precious.chmod(0o644)
    link = tmp_path / "out.mp4"
    link.symlink_to(precious)
    for publish in ("start", "end"):
        with pytest.raises(OutputError, match=r"out\.mp4 is a symbolic link and LiveCam never writes through one"):
            VideoWriter(link, W, H, 15, overwrite=True, publish=publish)
    # A link made in the target's place while a render runs is not followed either.
    target = tmp_path / "r.mp4"
    target.write_bytes(b"old")
    writer = _render(target, 4, overwrite=True)
    target.unlink()
    target.symlink_to(precious)
    writer.close()
    assert writer.note and "symbolic link" in writer.note
    assert precious.read_bytes() == b"precious" and precious.stat().st_mode & 0o777 == 0o644
    assert link.is_symlink() and target.is_symlink() and _leftovers(tmp_path) == []


def test_overwrite_replaces_a_regular_file_atomically_and_privately(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    target.write_bytes(b"old take")
    target.chmod(0o644)
    writer = _render(target, 5, overwrite=True)
    assert target.read_bytes() == b"old take"  # still the old file until the new one is complete
    writer.close()
    assert _plays(target) == 5 and target.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("how", ["same path", "symlink to it", "hard link to it"])
def test_an_input_is_never_the_output(tmp_path: Path, how: str) -> None:
    source = tmp_path / "clip.mp4"
    _render(source, 3).close()
    before = source.read_bytes()
    target = {"same path": source, "symlink to it": tmp_path / "l.mp4", "hard link to it": tmp_path / "h.mp4"}[how]
    if how == "symlink to it":
        target.symlink_to(source)
    elif how == "hard link to it":
        os.link(source, target)
    for publish in ("start", "end"):
        with pytest.raises(OutputError, match=r"is also an input of this run, and the input and output must be "):
            VideoWriter(target, W, H, 15, overwrite=True, inputs=[str(source)], publish=publish)
    assert source.read_bytes() == before and _leftovers(tmp_path) == []


def test_a_fifo_target_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "out.mp4"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    # Without --overwrite too it says what the name is: "add --overwrite" would not replace a FIFO either.
    for overwrite in (False, True):
        with pytest.raises(OutputError, match=r"is not a regular file \(a device, pipe or socket\)"):
            FileOutput(fifo, W, H, 15, overwrite=overwrite)
    assert time.monotonic() - t0 < 1.0 and _leftovers(tmp_path) == []


def test_a_folder_without_hard_links_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args, **kw):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    for publish in ("start", "end"):
        with pytest.raises(OutputError, match=r"is on a file system without hard links, which LiveCam needs"):
            VideoWriter(tmp_path / "out.mp4", W, H, 15, publish=publish)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- a stalled or slow encoder


@pytest.fixture
def stalled_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ffmpeg that lists libx264 but then reads nothing and never ends (a hung encoder)."""
    exe = processes.stalled_ffmpeg(tmp_path, tmp_path / "pids")
    monkeypatch.setattr(recording, "find_ffmpeg", lambda: str(exe))
    return tmp_path / "pids"


def test_a_stalled_encoder_stops_the_recording_in_time_with_a_sentence(
    tmp_path: Path, stalled_ffmpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "STARTUP_S", 2.0)  # shorter than in use, to keep the test quick
    monkeypatch.setattr(recording, "STALL_S", 2.0)
    out = FileOutput(tmp_path / "rec.mp4", 320, 240, 30)
    t0 = time.monotonic()
    with pytest.raises(OutputFailed, match=r"^Recording to .*rec\.mp4 stopped after .* \(the encoder took nothing for "
                                           r"2 s\); nothing playable had been written, so the file was removed\.$"):
        for i in range(100):
            out.send(_frame(i, 320, 240))
    took = time.monotonic() - t0
    out.close()
    (pid,) = [int(p) for p in stalled_ffmpeg.read_text().split()]
    assert took < 2.0 + 1.0, took
    assert not processes.alive(pid), "the stalled ffmpeg was left running"
    assert not (tmp_path / "rec.mp4").exists()  # nothing playable was written: no empty file is left


def test_abort_frees_a_write_stuck_on_the_encoder_and_close_keeps_its_deadline(
    tmp_path: Path, stalled_ffmpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "STARTUP_S", 60.0)  # only the abort can end this write
    monkeypatch.setattr(recording, "STALL_S", 60.0)
    out = FileOutput(tmp_path / "rec.mp4", 320, 240, 30)
    failed: list[float] = []

    def feed() -> None:
        try:
            for i in range(100):
                out.send(_frame(i, 320, 240))
        except OutputFailed:
            failed.append(time.monotonic())

    worker = threading.Thread(target=feed)
    worker.start()
    threading.Event().wait(0.5)
    t0 = time.monotonic()
    out.abort()
    worker.join(2.0)
    assert failed and failed[0] - t0 < 1.0
    out.close(timeout=0.5)
    assert time.monotonic() - t0 < 1.5


def test_close_with_a_deadline_kills_an_encoder_that_never_finishes(tmp_path: Path, stalled_ffmpeg: Path) -> None:
    out = FileOutput(tmp_path / "rec.mp4", W, H, 30)
    t0 = time.monotonic()
    out.close(timeout=0.4)
    assert time.monotonic() - t0 < 1.0
    (pid,) = [int(p) for p in stalled_ffmpeg.read_text().split()]
    assert not processes.alive(pid)


def test_a_hung_recording_does_not_hang_the_sender(
    tmp_path: Path, stalled_ffmpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "STARTUP_S", 2.0)
    monkeypatch.setattr(recording, "STALL_S", 2.0)
    out = FileOutput(tmp_path / "rec.mp4", 320, 240, 30)
    sender = PacedSender(out, 30).start()
    t0 = time.monotonic()
    while not sender.failed.is_set() and time.monotonic() - t0 < 10:
        sender.submit(_frame(1, 320, 240), time.monotonic())  # submit never blocks
        threading.Event().wait(0.03)
    assert sender.failed.is_set() and time.monotonic() - t0 < 4.0
    assert "the encoder took nothing for 2 s" in sender.status
    t1 = time.monotonic()
    sender.stop(timeout=1.0)
    out.close(timeout=0.5)
    assert time.monotonic() - t1 < 1.6


# ---------------------------------------------------------------- real time through timestamps


class _SlowSink(Output):
    """Passes frames on to a recording, taking ``delay`` s each: a pipeline or encoder that cannot
    keep up with the sender's rate."""

    def __init__(self, inner: FileOutput, delay: float) -> None:
        super().__init__(inner.width, inner.height, inner.fps)
        self.inner, self.delay = inner, delay
        self.description = inner.description

    def send(self, image: np.ndarray, t: float | None = None) -> None:
        threading.Event().wait(self.delay)
        self.inner.send(image, t)


@pytest.mark.parametrize("producer_fps, sink_delay", [(5, 0.0), (30, 0.12)])
def test_recorded_duration_keeps_wall_time_however_slow_the_pipeline(
    tmp_path: Path, producer_fps: int, sink_delay: float
) -> None:
    path = tmp_path / "rec.mp4"
    inner = FileOutput(path, 160, 120, 30)
    sender = PacedSender(_SlowSink(inner, sink_delay), 30).start()
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < 4.0:
        sender.submit(_frame(i % 250, 160, 120), time.monotonic())
        i += 1
        threading.Event().wait(1 / producer_fps)
    sender.stop()
    wall = time.monotonic() - inner.writer.started_at  # from the first frame that went out
    inner.close()
    duration = _probe_duration(path)
    late = sender.stats()["late"]
    assert abs(duration - wall) / wall < 0.05, (duration, wall)
    if sink_delay:
        assert late > 50 and inner.frames_written < 40  # about 8 a second went out, the rest were late
        left_out = sender.stats()["left_out"]
        assert 0 < left_out < late  # repeat ticks lose nothing: only frames replaced while it was busy
        assert f"{left_out} frames of the {i} made were left out" in inner.summary(missed=left_out, made=i)


def test_a_4k_recording_on_a_slow_encoder_keeps_its_length(tmp_path: Path) -> None:
    path = tmp_path / "uhd.mp4"
    out = FileOutput(path, 3840, 2160, 30)
    sender = PacedSender(out, 30).start()
    image = np.zeros((2160, 3840, 3), np.uint8)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 3.0:
        image[:, :, 1] = n % 256
        sender.submit(image.copy(), time.monotonic())
        n += 1
        threading.Event().wait(1 / 30)
    sender.stop()
    wall = time.monotonic() - out.writer.started_at  # from the first frame that went out
    out.close()
    duration = _probe_duration(path)
    assert abs(duration - wall) / wall < 0.05, (duration, wall, out.frames_written)


def test_a_folder_that_refuses_the_name_at_the_end_is_not_said_to_have_changed(tmp_path: Path, monkeypatch) -> None:
    """The render's folder made read-only during its final close: nothing took the name, so the sentence
    says the name could not be given and where the result is, not that the file 'changed'."""
    target = tmp_path / "out.mp4"
    writer = _render(target, 10)
    real = os.link

    def refuse(src, dst, *args, **kwargs):
        if Path(dst).parent == tmp_path and not Path(dst).name.startswith("."):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", refuse)
    writer.close()
    assert not target.exists()
    assert writer.note and "could not give the finished file the name" in writer.note, writer.note
    assert "changed" not in writer.note and "Permission denied" in writer.note
    (kept,) = _leftovers(tmp_path)
    assert str(tmp_path / kept) in writer.note and _plays(tmp_path / kept) == 10
