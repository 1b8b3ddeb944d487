"""``render`` end to end: the one writer (H.264, 0600, frame-exact), names it must never replace,
any file name the OS allows, and a signal in the middle."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import processes
from clips import moving_dot_clip
from livecam import cli, recording
from livecam.capture import VideoReader

pytestmark = pytest.mark.skipif(recording.find_ffmpeg() is None, reason="ffmpeg is not installed")

REPO = Path(__file__).resolve().parents[1]
LIVECAM = [sys.executable, "-m", "livecam"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "LIVECAM_CONFIG_DIR": str(tmp_path / "config"), "PYTHONPATH": str(REPO)}


def _count(path: Path | bytes) -> int:
    with VideoReader(os.fsdecode(path)) as reader:
        return sum(1 for _ in reader)


def test_render_writes_private_h264_with_every_frame(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, dst = moving_dot_clip(tmp_path / "in.mp4", 23), tmp_path / "out.mp4"
    assert cli.main(["render", str(src), str(dst), "--background", "off", "--quiet"]) == 0
    assert dst.stat().st_mode & 0o777 == 0o600
    codec = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name",
                            "-of", "csv=p=0", str(dst)], capture_output=True, check=False, text=True).stdout.strip()
    assert codec == "h264" and _count(dst) == 23
    assert "wrote 23 frames (160x120, H.264)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "in.mp4", "out.mp4"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_render_onto_its_own_input_says_so(tmp_path: Path, capsys: pytest.CaptureFixture, overwrite: list[str]) -> None:
    src = moving_dot_clip(tmp_path / "in.mp4")
    before = src.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    for dst in (src, link):
        assert cli.main(["render", str(src), str(dst), "--quiet", *overwrite]) == 1
        err = capsys.readouterr().err
        assert "is the input video itself, and the input and output must be different files" in err, err
        assert "add --overwrite" not in err
    assert src.read_bytes() == before


def test_render_onto_a_background_it_reads_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = moving_dot_clip(tmp_path / "in.mp4")
    room = moving_dot_clip(tmp_path / "room.mp4")
    before = room.read_bytes()
    assert cli.main(["render", str(src), str(room), "--background", str(room), "--overwrite", "--quiet"]) == 1
    assert "is also an input of this run" in capsys.readouterr().err
    assert room.read_bytes() == before


def test_render_with_names_that_are_not_utf8_or_hold_escapes(tmp_path: Path) -> None:
    """Used to crash inside cv2.VideoCapture (segmentation fault): run in a child to be safe."""
    folder = os.fsencode(tmp_path)
    src = folder + b"/in\xff\xfe.mp4"
    dst = folder + b"/out\x1b[31mred\xff.mp4"
    os.rename(moving_dot_clip(tmp_path / "plain.mp4"), src)  # OpenCV's own writer crashes on such a name too
    proc = subprocess.run([*LIVECAM, "render", os.fsdecode(src), os.fsdecode(dst), "--background", "off", "--quiet"],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, check=False, timeout=120)
    err = proc.stderr
    assert proc.returncode == 0, err
    assert b"\x1b" not in err  # the escape in the name is shown escaped, never sent to the terminal raw
    assert _count(dst) == 12 and os.stat(dst).st_mode & 0o777 == 0o600


def _wait_for_part(folder: Path, poll: float) -> None:
    """Until the render's temporary file for out.mp4 exists (at most 60 s)."""
    deadline = time.monotonic() + 60
    while not list(folder.glob(".out.*livecam-part.mp4")) and time.monotonic() < deadline:
        time.sleep(poll)


def test_a_file_that_appears_at_the_target_during_a_render_is_kept(tmp_path: Path) -> None:
    src, dst = moving_dot_clip(tmp_path / "in.mp4", 150, (320, 240)), tmp_path / "out.mp4"
    proc = subprocess.Popen([*LIVECAM, "render", str(src), str(dst), "--background", "off", "--quiet"],
                            cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    _wait_for_part(tmp_path, poll=0.002)
    dst.write_bytes(b"the user's own file, made meanwhile")
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 1, err
    assert dst.read_bytes() == b"the user's own file, made meanwhile"
    assert "out.mp4 changed while LiveCam was writing it (another file took that name meanwhile), so it was left alone" in err
    assert _count(tmp_path / "out.livecam-1.mp4") == 150


def test_two_renders_to_one_target_both_keep_their_frames(tmp_path: Path) -> None:
    a, b = moving_dot_clip(tmp_path / "a.mp4", 40), moving_dot_clip(tmp_path / "b.mp4", 50)
    dst = tmp_path / "out.mp4"
    procs = [subprocess.Popen([*LIVECAM, "render", str(src), str(dst), "--background", "off", "--quiet"],
                              cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE, text=True) for src in (a, b)]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 1], results
    ((_, said),) = [r for r in results if r[0] == 0]
    ((_, other),) = [r for r in results if r[0] == 1]
    # The one that succeeded wrote exactly what it claims, under the name
    assert f"wrote {_count(dst)} frames" in said
    aside = tmp_path / "out.livecam-1.mp4"
    if "already exists and LiveCam does not replace files" in other:
        assert not aside.exists()  # the second started after the first had finished: refused at once
    else:  # both ran at once: the second's frames are kept beside, and it says where
        assert "out.mp4 changed while LiveCam was writing it" in other and str(aside) in other
        assert {_count(dst), _count(aside)} == {40, 50}


def test_sigterm_during_a_render_ends_in_time_and_leaves_nothing(tmp_path: Path) -> None:
    src, dst = moving_dot_clip(tmp_path / "in.mp4", 600, (640, 480)), tmp_path / "out.mp4"
    proc = subprocess.Popen([*LIVECAM, "render", str(src), str(dst), "--blur", "60", "--quiet"],
                            cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    _wait_for_part(tmp_path, poll=0.01)
    time.sleep(0.5)
    took, _, err = processes.stop(proc)
    assert took < 2.0, took
    assert proc.returncode == 1 and "nothing was written to" in err, err
    assert not dst.exists() and not list(tmp_path.glob(".out.*"))
    assert not subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, check=False).stdout  # no ffmpeg left


def test_an_encoder_failing_midway_ends_the_progress_line_before_its_sentence(tmp_path, monkeypatch, capsys):
    """The sentence was glued to the progress bar: "…10/30 frames  56.8 fpslivecam: The disk is full" (redteam7)."""
    from livecam import render
    from livecam import settings as S

    src = moving_dot_clip(tmp_path / "in.mp4", frames=30)
    write = render.VideoWriter.write

    def full_after_ten(self, image):
        if self.frames >= 10:
            raise recording.OutputFailed("The disk is full.")
        return write(self, image)

    monkeypatch.setattr(render.VideoWriter, "write", full_after_ten)
    settings = S.update(S.Settings(), background={"mode": "off"})
    assert render.render_file(str(src), str(tmp_path / "out.mp4"), settings, progress=True) == 1
    err = capsys.readouterr().err
    assert "frames" in err and "\nlivecam: The disk is full. Nothing was written to" in err
    assert not (tmp_path / "out.mp4").exists()


def test_a_render_that_stops_says_rendering_not_recording(tmp_path):
    """The writer's one sentence serves live recordings and renders: a render stopped by a full disk
    said "recording to out.mp4 stopped …; the file keeps what was recorded", though a render keeps
    nothing under its name."""
    from livecam.recording import VideoWriter

    for publish, doing, advice in (("end", "rendering", "render to another disk"),
                                   ("start", "recording", "record to another disk")):
        writer = VideoWriter(tmp_path / f"{publish}.mp4", 64, 48, 15, timing="frames", publish=publish)
        try:
            full, other = writer._sentence("full"), writer._sentence("ffmpeg: broken pipe")
        finally:
            writer.discard()
        assert full.startswith(f"The disk is full: {doing} to ") and full.endswith(f"Free some space or {advice}.")
        assert other.startswith(doing.capitalize() + " to ")
        assert ("keeps what was recorded" in full + other) == (publish == "start")
        assert full.count("nothing was written to it") == (publish == "end")
