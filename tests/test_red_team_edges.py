"""Faults at LiveCam's edges (the camera, the virtual camera, the ffmpeg pipe, the file system), made by
edge_sweep's injector at the k-th call and driven through the real entry points: no traceback, one
sentence, never the raw room, no user file harmed, nothing left readable by others or behind."""
from __future__ import annotations

import errno
import gc
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import edge_sweep as E  # noqa: E402
import fault_sweep  # noqa: E402
from livecam import recording, sinks  # noqa: E402

needs_ffmpeg = pytest.mark.skipif(recording.find_ffmpeg() is None, reason="ffmpeg is not installed")


def _calls(case, **kw) -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return case(Path(d), "eio", -1, **kw).names


# ---------------------------------------------------------------- the sweeps (parts; the whole: python tests/edge_sweep.py)


def test_saving_the_settings_keeps_the_users_file_at_every_failing_os_call(tmp_path: Path) -> None:
    """Every os call of settings.save (and of its backup of a broken file) failing with each errno."""
    for broken in (False, True):
        names = _calls(E.save_case, broken=broken)
        assert len(names) >= 6
        for at in range(len(names)):
            for kind in E.FS_KINDS:
                case = tmp_path / f"{broken}-{at}-{kind}"
                case.mkdir()
                outcome = E.save_case(case, kind, at, broken=broken)
                assert not outcome.problems, (broken, at, names[at], kind, outcome.problems)


@needs_ffmpeg
@pytest.mark.parametrize("overwrite", [False, True], ids=["new name", "overwrite"])
def test_a_render_survives_every_failing_file_call(tmp_path: Path, overwrite: bool) -> None:
    """Each os call a render makes on its file (not its pipe) failing with EIO: one sentence, no traceback,
    the user's files as they were, nothing cut under the name, nothing left unnamed."""
    names = [name for name in _calls(E.render_case, overwrite=overwrite) if name != "pipe-write"]
    assert len(names) >= 6
    for at, name in enumerate(names):  # counted over the file's calls only: the pipe's writes vary
        case = tmp_path / f"{at}"
        case.mkdir()
        outcome = E.render_case(case, "eio", at, overwrite=overwrite, only=tuple(set(names)))
        assert not outcome.problems, (at, name, outcome.problems, outcome.said)


# ---------------------------------------------------------------- the file system: regressions


@needs_ffmpeg
@pytest.mark.parametrize("call", ["fsync", "close"])
def test_a_render_whose_disk_reports_a_lost_write_is_not_named_nor_called_written(tmp_path: Path, call: str) -> None:
    """fsync or close failing at the end (a failing disk, a network file system reporting a lost write late)
    was a log line: the render took its name and said "wrote 8 frames" (a close failure: a traceback)."""
    outcome = E.render_case(tmp_path, "eio", 0, only=(call,))
    assert not outcome.problems, outcome.problems
    assert not (tmp_path / "out" / "out.mp4").exists()
    assert any("Input/output error" in s and "nothing was written to it" in s for s in outcome.said), outcome.said


@needs_ffmpeg
def test_a_live_recording_whose_disk_reports_a_lost_write_says_so(tmp_path: Path) -> None:
    outcome = E.record_case(tmp_path, "eio", 0, only=("fsync",))
    assert not outcome.problems, outcome.problems
    assert any("the disk may not have kept all of it" in s for s in outcome.said), outcome.said
    assert not any(s.startswith("Recorded ") for s in outcome.said)


@needs_ffmpeg
@pytest.mark.parametrize("kind", ["eacces", "erofs"])
def test_a_render_that_cannot_replace_the_file_keeps_it_and_says_where_the_result_is(tmp_path: Path, kind: str) -> None:
    """--overwrite, and the rename that replaces the file refused at the end: a traceback, and the result
    left under a hidden name nobody was told."""
    outcome = E.render_case(tmp_path, kind, 0, overwrite=True, only=("replace",))
    assert not outcome.problems, outcome.problems
    assert (tmp_path / "out" / "out.mp4").read_bytes() == E.USER_BYTES
    kept = [p for p in (tmp_path / "out").iterdir() if "livecam-part" in p.name]
    assert len(kept) == 1 and E._frames_in(kept[0]) == 8
    assert any("is as it was" in s and kept[0].name in s for s in outcome.said), outcome.said


@needs_ffmpeg
def test_the_hidden_name_of_a_named_render_is_never_emptied(tmp_path: Path) -> None:
    """The hidden name could not be removed after the render took its name (a hard link to the same file):
    it was "emptied", and with it the finished render, under "wrote 8 frames"."""
    last = _calls(E.render_case).count("unlink") - 1  # the hidden name's, once the render has its own
    outcome = E.render_case(tmp_path, "eio", last, only=("unlink",))
    assert not outcome.problems, outcome.problems
    assert E._frames_in(tmp_path / "out" / "out.mp4") == 8
    assert any("hidden second name" in s for s in outcome.said), outcome.said


@needs_ffmpeg
@pytest.mark.parametrize("case", [E.render_case, E.record_case], ids=["render", "recording"])
def test_a_file_system_that_refuses_the_private_mode_leaves_nothing_and_says_so(tmp_path: Path, monkeypatch, case) -> None:
    """fchmod refused (some network and FAT mounts): a traceback, and the hidden file and its descriptor left.
    A file already private goes on; one the mount makes readable by others is refused."""
    (tmp_path / "private").mkdir()
    outcome = case(tmp_path / "private", "eacces", 0, only=("fchmod",))
    assert not outcome.problems, outcome.problems

    real_fchmod = os.fchmod

    def readable_by_all(fd: int, mode: int) -> None:  # a mount whose files are 0644 whatever is asked
        real_fchmod(fd, 0o644)
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(E.os, "fchmod", readable_by_all, raising=False)
    (tmp_path / "shared").mkdir()
    outcome = case(tmp_path / "shared", "none", -1)
    assert not outcome.problems, outcome.problems
    assert any("readable by you alone" in s for s in outcome.said), outcome.said


@needs_ffmpeg
def test_a_full_temporary_folder_refuses_the_recording_in_one_sentence(tmp_path: Path, monkeypatch) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(recording.tempfile, "TemporaryFile", full)
    with pytest.raises(recording.OutputError, match=r"cannot keep ffmpeg's messages in .*No space left on device"):
        recording.FileOutput(tmp_path / "rec.mp4", 64, 48, 30)
    assert list(tmp_path.iterdir()) == []


@needs_ffmpeg
@pytest.mark.parametrize("fault", ["ffmpeg cannot start", "ffmpeg gone in the first second"])
def test_a_live_recording_that_replaces_a_file_keeps_it_until_it_has_something_playable(tmp_path: Path, fault: str) -> None:
    """--overwrite: the name was taken at the start, so an ffmpeg that could not start (its first write
    refused) or one that went away before the first whole fragment removed the user's file, with nothing
    in its place."""
    # Counted over the pipe's writes only: the first is the stream's header, the second a frame's.
    at = 0 if fault == "ffmpeg cannot start" else 1
    outcome = E.record_case(tmp_path, "brokenpipe", at, overwrite=True, persist=True, only=("write", "pipe-write"))
    assert not outcome.problems, outcome.problems
    assert (tmp_path / "rec" / "rec.mp4").read_bytes() == E.USER_BYTES
    if fault != "ffmpeg cannot start":
        assert any("was left as it was" in s for s in outcome.said), outcome.said


@needs_ffmpeg
def test_a_live_recording_that_replaces_a_file_takes_its_name_with_its_first_second(tmp_path: Path) -> None:
    """The file replaced once a whole fragment is on disk, and a crash after that leaves the recording under it."""
    dst = tmp_path / "rec.mp4"
    dst.write_bytes(E.USER_BYTES)
    writer = recording.VideoWriter(dst, 64, 48, 30, overwrite=True)
    t0, give_up = time.monotonic(), time.monotonic() + 30
    i = 0
    while dst.read_bytes() == E.USER_BYTES and time.monotonic() < give_up:
        writer.write(np.full((48, 64, 3), i % 255, np.uint8), t0 + i / 30)
        i += 1
        time.sleep(0.01)
    assert dst.read_bytes() != E.USER_BYTES and i >= 30  # named once a second of video is in, not at the start
    writer.close()
    assert writer.error is None and writer.note is None
    assert dst.stat().st_mode & 0o777 == 0o600 and E._frames_in(dst) >= i
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]


# ---------------------------------------------------------------- the virtual camera


@pytest.fixture
def vcam(monkeypatch):
    import pyvirtualcam
    from pyvirtualcam.camera import BACKENDS

    E.FaultyVirtualCam.faults, E.FaultyVirtualCam.received, E.FaultyVirtualCam.instances = E.Faults(), [], 0
    pyvirtualcam.register_backend(E.BACKEND, E.FaultyVirtualCam)
    yield E.FaultyVirtualCam
    BACKENDS.pop(E.BACKEND, None)


def test_a_virtual_camera_whose_open_hangs_does_not_hold_the_start(vcam, monkeypatch) -> None:
    """A driver blocking in open held `livecam run` (and the tray's start) for as long as it blocked, with no
    sentence. Now the start goes on; the camera opened late is closed, as nobody sends to it."""
    monkeypatch.setattr(sinks, "OPEN_LIMIT_S", 0.3)
    monkeypatch.setattr(E, "VCAM_BLOCK_S", 1.0)
    closed = threading.Event()
    monkeypatch.setattr(E.FaultyVirtualCam, "close", lambda self: closed.set())
    vcam.faults = E.Faults("block", 0)
    started = time.monotonic()
    with pytest.raises(sinks.OutputError, match=r"did not open within 0.3 s \(its driver does not answer\)"):
        sinks.VirtualCamOutput(64, 48, 30, backend=E.BACKEND)
    assert time.monotonic() - started < 0.9
    assert closed.wait(5.0)  # opened at last, and let go


def test_a_stop_during_the_virtual_cameras_open_is_not_taken_for_a_hung_driver(vcam, monkeypatch) -> None:
    """Ctrl+Z while the virtual camera opened: judged on the clock, whose seconds run on while the process
    is stopped, a working driver was "hung" and LiveCam started without its camera. Time the process did
    not run does not count against the open (livecam.not_running), as for the other watchdogs."""
    from live_doubles import StoppedClock

    monkeypatch.setattr(sinks, "OPEN_LIMIT_S", 0.3)
    monkeypatch.setattr(E, "VCAM_BLOCK_S", 0.5)
    vcam.faults = E.Faults("block", 0)
    clock = StoppedClock(monkeypatch)
    clock.skip(10.0, after=0.1)  # stopped for 10 s while the open was under way
    output = sinks.VirtualCamOutput(64, 48, 30, backend=E.BACKEND)
    assert output.camera is not None
    output.close()


def test_a_virtual_camera_that_fails_to_close_prints_no_traceback_when_collected(vcam, monkeypatch) -> None:
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda args: unraisable.append(repr(args.exc_value)))
    vcam.faults = E.Faults("raise", 0, persist=True, only=("close",))  # a device gone: every close fails
    output = sinks.VirtualCamOutput(64, 48, 30, backend=E.BACKEND)
    output.close()
    del output
    gc.collect()
    assert unraisable == []


# ---------------------------------------------------------------- the camera and the live loop


@pytest.fixture(scope="module")
def blur_pipeline():
    from livecam.pipeline import Pipeline

    pipeline = Pipeline(fault_sweep.settings_for("blur"))
    yield pipeline
    pipeline.close()


def test_a_camera_that_refuses_its_settings_by_raising_is_used_in_its_own_mode(vcam, blur_pipeline) -> None:
    """A driver that raised on a setting (cv2.error) made the camera "stop unexpectedly", left open, and
    reopened to fail the same way for good."""
    outcome = E.live_case(blur_pipeline, E.Faults("raise", 0, persist=True, only=("set",)), E.Faults(), 1.5)
    assert not outcome.problems, outcome.problems
    assert not any("unexpectedly" in s for s in outcome.said), outcome.said
    assert outcome.video_after_fault > 10


@pytest.mark.parametrize("kind", ["raise", "none", "uint16", "gray1", "two", "bgra", "resize", "empty", "same"])
def test_the_live_loop_never_shows_the_room_whatever_the_camera_hands_over(vcam, blur_pipeline, kind: str) -> None:
    """From the 10th camera call on, every read misbehaving as ``kind``: the loop goes on, cards or blurred
    frames only, sentences of one line."""
    outcome = E.live_case(blur_pipeline, E.Faults(kind, 10, persist=True), E.Faults(), 1.2)
    assert not outcome.problems, outcome.problems
    assert outcome.frames_out > 15


def test_the_live_loop_reopens_a_virtual_camera_that_vanished_mid_send(vcam, blur_pipeline) -> None:
    outcome = E.live_case(blur_pipeline, E.Faults(), E.Faults("raise", 5, only=("send",)), 2.0)
    assert not outcome.problems, outcome.problems
    assert outcome.video_after_fault > 5
    assert any("reopens it" in s for s in outcome.said)
