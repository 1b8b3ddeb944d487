"""Trust round 56: what LiveCam writes (render, recordings) when it is ended outright.

1. A render (or a live recording replacing a file, before its first whole fragment) ended outright:
   SIGKILL, the out-of-memory killer on a long render with models, a power cut. Nothing can tidy then,
   and its hidden ``.NAME.<8 hex>.livecam-part.mp4`` stayed in the user's folder for good: up to a
   whole render's size, under a dot name no file manager shows, never looked at again (seen: a 600-frame
   render killed at its start left 0.4 MB; an hour's render leaves gigabytes). Each writer now holds a
   flock on its hidden file while it writes (ffmpeg's copy of the descriptor keeps it until the
   encoder is gone), and the next writer in that folder removes the hidden files nobody holds, saying so
   in one line. Guards: a render still being written beside it, a finished result the user was told is
   under its hidden name, and a user's own file of that name pattern are left alone.

Each test failed on the start tree (4ee4c2d) unless it says it is a guard.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import processes
from clips import moving_dot_clip
from live_doubles import until
from livecam import cli, output_file, recording

ROOT = Path(__file__).resolve().parents[1]
needs_ffmpeg = processes.needs_ffmpeg


def _hidden(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if "livecam-part" in p.name)


def _unheld(path: Path) -> bool:
    """Whether no process holds ``path``'s flock any more (the killed render's ffmpeg has finished)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@needs_ffmpeg
def test_the_hidden_file_of_a_render_killed_outright_goes_at_the_next_render_in_its_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    long_clip = moving_dot_clip(tmp_path / "long.mp4", frames=600, size=(640, 360))
    short_clip = moving_dot_clip(tmp_path / "short.mp4")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "livecam", "render", str(long_clip), str(out / "long.mp4"),
                             "--blur", "50", "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        assert until(lambda: bool(_hidden(out)), 120), proc.stderr.read().decode()
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    [left] = _hidden(out)
    # ffmpeg, in its own session, finishes on the closed pipe: the file is nobody's once it is gone.
    assert until(lambda: _unheld(left), 60)
    capsys.readouterr()
    assert cli.main(["render", str(short_clip), str(out / "next.mp4"), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["next.mp4"]
    said = [line for line in capsys.readouterr().err.splitlines() if left.name in line]
    assert len(said) == 1 and "Removed" in said[0] and "ended before it could finish" in said[0], said


@needs_ffmpeg
def test_a_render_being_written_in_the_same_folder_is_left_alone(tmp_path: Path) -> None:
    """Guard: the writer's flock tells a live hidden file from a dead one."""
    short_clip = moving_dot_clip(tmp_path / "short.mp4")
    out = tmp_path / "out"
    out.mkdir()
    writer = recording.VideoWriter(out / "first.mp4", 160, 120, 15, timing="frames", publish="end")
    try:
        frame = np.full((120, 160, 3), 90, np.uint8)
        for _ in range(20):
            writer.write(frame)
        [hidden] = _hidden(out)
        assert cli.main(["render", str(short_clip), str(out / "second.mp4"), "--quiet"]) == 0
        assert hidden.exists()
        for _ in range(10):
            writer.write(frame)
    finally:
        writer.close()
    assert writer.error is None and writer.note is None
    assert sorted(p.name for p in out.iterdir()) == ["first.mp4", "second.mp4"]
    assert _frames_in(out / "first.mp4") == 30


def _frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@needs_ffmpeg
def test_a_result_kept_under_its_hidden_name_and_a_users_own_file_are_never_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard: a render whose name the folder refused at the end is kept under its hidden name, and the
    sentence says so: a later render there must not take it for one left behind. A file of the user's
    that happens to look like a hidden file (readable by others) stays too."""
    short_clip = moving_dot_clip(tmp_path / "short.mp4")
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / ".holiday.0123abcd.livecam-part.mp4"
    theirs.write_bytes(b"user bytes")
    theirs.chmod(0o644)
    writer = recording.VideoWriter(out / "kept.mp4", 160, 120, 15, timing="frames", publish="end")
    for _ in range(15):
        writer.write(np.full((120, 160, 3), 90, np.uint8))
    real_link = os.link

    def refused(src, dst, **kw):  # the folder refusing new names at the end (a permission taken away)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(output_file.os, "link", refused)
    writer.close()
    monkeypatch.setattr(output_file.os, "link", real_link)
    kept = [p for p in _hidden(out) if p != theirs]
    assert len(kept) == 1 and writer.note and kept[0].name in writer.note, writer.note
    before = kept[0].read_bytes()
    assert cli.main(["render", str(short_clip), str(out / "later.mp4"), "--quiet"]) == 0
    assert kept[0].read_bytes() == before
    assert theirs.read_bytes() == b"user bytes"


@needs_ffmpeg
def test_a_folder_another_program_keeps_locked_delays_the_start_by_a_bound_and_removes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard: the folder's flock, taken while a writer looks for files left behind, is waited for only
    FOLDER_WAIT_S; held by someone else, the recording starts all the same and removes nothing."""
    monkeypatch.setattr(output_file, "FOLDER_WAIT_S", 0.2, raising=False)
    out = tmp_path / "out"
    out.mkdir()
    left = out / ".old.0123abcd.livecam-part.mp4"
    left.write_bytes(b"left by a render killed outright")
    left.chmod(0o600)
    holder = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        writer = recording.VideoWriter(out / "new.mp4", 160, 120, 15, timing="frames", publish="end")
        for _ in range(5):
            writer.write(np.full((120, 160, 3), 90, np.uint8))
        writer.close()
    finally:
        os.close(holder)
    assert writer.error is None and (out / "new.mp4").exists()
    assert left.read_bytes() == b"left by a render killed outright"
