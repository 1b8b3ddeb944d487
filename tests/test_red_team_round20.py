"""Red team round 20: the ffmpeg program at the recording's boundary (``livecam/recording.py``, the one
writer of ``render`` and ``run --output file``).

Each test failed on the start tree (2bd84b8) unless it says it is a guard. The ffmpeg programs here
are small Python scripts standing in for a chatty, a killed and a quitting encoder; tmp folders only,
no timed tests (a bound on a wait is a bound, never a measurement)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import processes
import pytest
from live_doubles import until

from livecam import mp4_fragments, recording
from livecam.recording import OutputFailed, VideoWriter

W, H = 64, 48
WAIT_S = 60.0  # a bound on a child's start on a loaded machine, not a timing

_QUERIES = """\
import os, signal, sys
if "-encoders" in sys.argv or "-h" in sys.argv:
    sys.exit(0)  # lists nothing: the writer picks mpeg4 and assumes the newest options
"""


def _ffmpeg(folder: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    exe = folder / "ffmpeg"
    exe.write_text(f"#!{sys.executable}\n{_QUERIES}{body}")
    exe.chmod(0o755)
    monkeypatch.setattr(recording, "find_ffmpeg", lambda: str(exe))
    return exe


def _frame() -> np.ndarray:
    return np.full((H, W, 3), 128, np.uint8)


def _wait_for(path: Path) -> None:
    assert until(path.exists, WAIT_S), f"{path.name} never appeared"


def test_a_chatty_encoder_s_words_are_cut_back_and_its_last_line_still_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ffmpeg's stderr went whole into a hidden temporary file, read back whole at the end: an encoder
    that kept printing grew it by 1.1 GB in a 5 s recording and LiveCam used 2.4 GB of memory reading
    it. Now it is cut back to its end once past 1 MiB, and ffmpeg's later words still land in it."""
    ready = tmp_path / "ready"
    out = tmp_path / "out"
    out.mkdir()
    _ffmpeg(tmp_path, f"""
line = b"[mpeg4 @ 0x55] warning: the same thing again " + b"." * 60 + b"\\n"
for _ in range(8 * (1 << 20) // len(line)):
    os.write(2, line)
open({str(ready)!r}, "w").close()
while os.read(0, 1 << 16):
    pass
os.write(2, b"the last words: the encoder gave up\\n")
sys.exit(1)
""", monkeypatch)
    writer = VideoWriter(out / "chatty.mp4", W, H, 30, timing="frames", publish="end")
    _wait_for(ready)
    writer.write(_frame())
    size = os.fstat(writer._stderr.fileno()).st_size
    assert size <= 1 << 20, f"ffmpeg's words kept {size} bytes on disk"
    writer.close()
    assert writer.error is not None and "(ffmpeg: the last words: the encoder gave up)" in writer.error, writer.error
    assert list(out.iterdir()) == []


def test_an_encoder_killed_by_someone_else_is_said_in_words_and_a_render_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ffmpeg killed by another program (or by the kernel when memory ran out) was reported as
    "(ffmpeg: exit status -9)"."""
    out = tmp_path / "out"
    out.mkdir()
    _ffmpeg(tmp_path, "os.read(0, 1000)\nos.kill(os.getpid(), signal.SIGKILL)\n", monkeypatch)
    writer = VideoWriter(out / "killed.mp4", W, H, 30, timing="frames", publish="end")
    with pytest.raises(OutputFailed) as stopped:
        for _ in range(10_000):  # the pipe takes a few frames before the killed encoder shows
            writer.write(_frame())
    writer.discard()
    sentence = str(stopped.value)
    assert "(ffmpeg was ended by SIGKILL, sent by another program or by the system when memory ran out)" in sentence
    assert "exit status" not in sentence
    assert sentence.endswith("; nothing was written to it."), sentence
    assert list(out.iterdir()) == []


def test_one_frame_is_one_frame_in_the_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"stopped after 0.0 s (1 frames)"."""
    _ffmpeg(tmp_path, "os.read(0, 1 << 16)\nos.write(2, b'bye\\n')\nsys.exit(1)\n", monkeypatch)
    writer = VideoWriter(tmp_path / "one.mp4", W, H, 30, timing="frames", publish="end")
    writer.write(_frame())
    writer.close()
    assert writer.error is not None and "(1 frame) (ffmpeg: bye)" in writer.error, writer.error
    assert not (tmp_path / "one.mp4").exists()


def test_a_quiet_encoder_s_words_are_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard (passed before): a few lines are never cut; the last one names the reason."""
    _ffmpeg(tmp_path, "os.write(2, b'first\\nsecond\\n')\nwhile os.read(0, 1 << 16):\n    pass\n"
                      "os.write(2, b'Conversion failed!\\n')\nsys.exit(1)\n", monkeypatch)
    writer = VideoWriter(tmp_path / "q.mp4", W, H, 30, timing="frames", publish="end")
    for _ in range(3):
        writer.write(_frame())
    writer.close()
    assert writer.error is not None and "(3 frames) (ffmpeg: Conversion failed!)" in writer.error, writer.error


# ---------------------------------------------------------------- a render's file at the end


def _ffmpeg_wrapper(exe: Path, after: str, before: str = "") -> str:
    """Write ``exe``: the real ffmpeg, fed through this script, which does ``before`` once ffmpeg is
    started and ``after`` once the input has ended. Returns the real ffmpeg's path."""
    real = recording.find_ffmpeg()
    if real is None:
        pytest.skip("ffmpeg is not installed")
    exe.write_text(f"""#!{sys.executable}
import os, subprocess, sys, time
args = sys.argv[1:]
if "-encoders" in args or "-h" in args:
    os.execv({real!r}, [{real!r}, *args])
child = subprocess.Popen([{real!r}, *args], stdin=subprocess.PIPE)
{before}
while True:
    block = os.read(0, 1 << 16)
    if not block:
        break
    child.stdin.write(block)
    child.stdin.flush()
{after}
""")
    exe.chmod(0o755)
    return real


def _real_ffmpeg_then(folder: Path, monkeypatch: pytest.MonkeyPatch, after: str) -> None:
    """An ffmpeg that is the real one, fed through this script, which then does ``after``."""
    exe = folder / "ffmpeg"
    _ffmpeg_wrapper(exe, after)
    monkeypatch.setattr(recording, "find_ffmpeg", lambda: str(exe))


def _moving(i: int, w: int = 160, h: int = 120) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, (3 * i) % w] = 255
    return frame


def test_a_render_cut_by_the_close_deadline_is_not_named_as_if_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encoder still busy at the close's deadline (a slow disk, a busy machine) was killed and the
    render's file, missing the frames still in the encoder, took the user's name: "wrote 200 frames",
    exit 0, with 180 in it. Here the encoder never sees the end of its input."""
    _real_ffmpeg_then(tmp_path, monkeypatch, "time.sleep(1000)  # the input's end never reaches ffmpeg")
    out = tmp_path / "out"
    out.mkdir()
    writer = VideoWriter(out / "cut.mp4", 160, 120, 30, timing="frames", publish="end")
    for i in range(90):  # three fragments' worth; the first two are on disk before the close
        writer.write(_moving(i))
    assert until(lambda: mp4_fragments._whole_fragments(writer._fd)[1] >= 1, WAIT_S), "ffmpeg never wrote a fragment"
    writer.close(timeout=1.0)
    assert writer.error is not None and "(ffmpeg did not finish the file within 1.0 s" in writer.error, writer.error
    assert writer.error.endswith("; nothing was written to it."), writer.error
    assert list(out.iterdir()) == []


def test_a_render_whose_last_fragment_found_the_disk_full_leaves_nothing_under_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that filled up while ffmpeg wrote the last fragment (at the close) left the render's
    file, without its last second, under the user's name, beside "nothing was written to it"."""
    _real_ffmpeg_then(tmp_path, monkeypatch, "child.stdin.close()\nchild.wait()\n"
                      "os.write(2, b'av_interleaved_write_frame(): No space left on device\\n')\nsys.exit(1)")
    out = tmp_path / "out"
    out.mkdir()
    writer = VideoWriter(out / "full.mp4", 160, 120, 30, timing="frames", publish="end")
    for i in range(60):
        writer.write(_moving(i))
    writer.close()
    assert writer.error is not None and writer.error.startswith("The disk is full: rendering to "), writer.error
    assert "nothing was written to it" in writer.error
    assert list(out.iterdir()) == []


def test_a_live_recording_cut_by_the_close_deadline_keeps_its_whole_fragments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard (passed before): a live recording keeps its name and its whole seconds when the close's
    deadline cuts it (a signal must end the process in time)."""
    _real_ffmpeg_then(tmp_path, monkeypatch, "time.sleep(1000)")
    writer = VideoWriter(tmp_path / "live.mp4", 160, 120, 30, timing="frames", publish="start")
    for i in range(90):
        writer.write(_moving(i))
    assert until(lambda: mp4_fragments._whole_fragments(writer._fd)[1] >= 1, WAIT_S), "ffmpeg never wrote a fragment"
    writer.close(timeout=1.0)
    assert writer.error is None and not writer.removed
    assert (tmp_path / "live.mp4").stat().st_size > 0


def test_sigterm_while_a_render_s_file_is_finished_ends_with_a_sentence_and_leaves_nothing(tmp_path: Path) -> None:
    """The stop signals were given back before the close, which waits up to 30 s for ffmpeg to finish
    the file: a SIGTERM or Ctrl+C then ended LiveCam by KeyboardInterrupt (exit 130, no sentence),
    leaving the hidden .livecam-part file in the user's folder and ffmpeg running. Here ffmpeg never
    sees the input's end; the signal comes once all frames went in."""
    fed, pids = tmp_path / "fed", tmp_path / "pids"
    exe = tmp_path / "bin" / "ffmpeg"
    exe.parent.mkdir()
    real = _ffmpeg_wrapper(exe, before=f'open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")',
                           after=f"open({str(fed)!r}, 'w').close()\ntime.sleep(1000)")
    src = tmp_path / "in.mp4"
    subprocess.run([real, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=15", "-frames:v", "12",
                    "-pix_fmt", "yuv420p", str(src)], check=True, timeout=WAIT_S)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "LIVECAM_CONFIG_DIR": str(tmp_path / "config"), "PATH": f"{exe.parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "livecam", "render", str(src), str(out / "o.mp4"), "--quiet",
                             "--background", "off"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + WAIT_S
        while not fed.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < end, "the render never finished sending its frames"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=WAIT_S)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        left = []
        for pid in (int(p) for p in pids.read_text().split()) if pids.exists() else ():
            end = time.monotonic() + 5  # a bound on the kernel reaping a killed group, not a timing
            while processes.alive(pid) and time.monotonic() < end:
                time.sleep(0.02)
            if processes.alive(pid):
                left.append(pid)
                os.kill(pid, signal.SIGKILL)  # the encoder this test started, whatever the outcome
    assert proc.returncode == 1, (proc.returncode, err)
    assert err.strip().endswith("livecam: Stopped; nothing was written."), err
    assert list(out.iterdir()) == []
    assert not left, "ffmpeg was left running"
