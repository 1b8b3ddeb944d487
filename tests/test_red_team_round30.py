"""Red team round 30: process-level events and resource exhaustion around the live loop.

1. A stop signal (SIGTERM, Ctrl+C, the terminal closing) while ``livecam run`` starts: the models
   loading, ffmpeg just started for ``--output file``. ``run_live`` caught the signals only once its
   loop ran; before that the signal raised KeyboardInterrupt out of the start with the camera's
   thread and the encoder running. Found for real (``livecam run --output file``, SIGTERM at 2 s):
   exit 130 and no sentence, an empty (0-byte) file left under the recording's name, and at times
   the interpreter's end aborted under the camera's decoder ("FATAL: exception not rethrown",
   SIGABRT, exit -6). Now the stop signals go through the loop's own stop from before the first
   thing is opened: the run ends in order and says so.
2. A model's thread that could not start ("can't start new thread", the process at its thread limit for a
   moment): the run guard kept the thread that never ran, and every later run of that model waited
   behind it for good, the live loop frozen on its next frame. Now the next run starts a thread.
3. A thread of the live loop that could not start (the camera's, the sender's and its sink's, the
   runner's): a traceback, an empty file left under the recording's name, at times an abort; now one
   sentence, exit 1, nothing left. The pipelining thread: processing stopped ("Processing stopped:
   can't start new thread", a traceback, nothing recorded); now pipelining goes off and the run goes on.
4. ffmpeg that could not start for want of open files was called broken ("reinstall ffmpeg").

Each test failed on the start tree (32d7abe) unless it says it is a guard. tmp folders only; no
timed tests (a bound on a wait is a bound, never a measurement)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

import livecam
from processes import needs_ffmpeg

ROOT = Path(livecam.__file__).resolve().parents[1]  # the tree under test, for the child processes too

# -------------------------------------------------------------- 1. a stop signal while `livecam run` starts

# The child sends itself the signal from inside one step of the start, then lets that step go on, as a
# signal arriving at that moment would.
_SIGNAL_IN_START = """
import os, signal, sys
import livecam.pipeline, livecam.pacing

SIG, WHERE = getattr(signal, sys.argv[1]), sys.argv[2]
owner = {"models": livecam.pipeline.Pipeline, "sender": livecam.pacing.PacedSender}[WHERE]
name = "__init__" if WHERE == "models" else "start"
real = getattr(owner, name)

def signalled(self, *args, **kwargs):
    os.kill(os.getpid(), SIG)
    return real(self, *args, **kwargs)

setattr(owner, name, signalled)
from livecam.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _clip(folder: Path) -> Path:
    clip = folder / "in.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30", "-t", "4",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)
    return clip


def _run_child(tmp_path: Path, child: str, head: tuple, frames: str, *extra: str,
               **run) -> tuple[subprocess.CompletedProcess, Path]:
    """``livecam run`` blurring a test clip into a recording under tmp_path/out, through the ``child``
    script (its own arguments ``head`` first), in a fresh config and data home."""
    clip, out = _clip(tmp_path), tmp_path / "out"
    out.mkdir()
    script = tmp_path / "child.py"
    script.write_text(child)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LIVECAM_CONFIG_DIR": str(tmp_path / "cfg"),
           "LIVECAM_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, str(script), *head, "run", "--source", str(clip), "--output", "file",
                           "--output-file", str(out / "r.mp4"), "--blur", "50", "--frames", frames, *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, **run)
    return done, out


@needs_ffmpeg
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGHUP"])
@pytest.mark.parametrize("where", ["models", "sender"])
def test_a_stop_signal_while_run_starts_ends_in_order_without_an_empty_recording(tmp_path, where, sig):
    """models: while the pipeline is made (the models load); sender: ffmpeg has started and named the
    recording, the loop has not begun. Before: exit 130, no sentence, and with the recording open a
    0-byte file under its name."""
    done, out = _run_child(tmp_path, _SIGNAL_IN_START, (sig, where), "100000",
                           preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    err = done.stderr
    # Not 130 (KeyboardInterrupt) nor -6 (an abort at the interpreter's end): stopped in order, or, where the
    # models took more than the 2 s a stop may take to load on a busy machine, ended at 2 s by the watchdog.
    assert (done.returncode, err.count("Stopping took longer than 2 s")) in ((0, 0), (1, 1)), err
    assert "Traceback" not in err and ("Stopped" in err or done.returncode == 1), err
    left = sorted(p.name for p in out.iterdir())
    assert left in ([], ["r.mp4"]), left  # nothing hidden left beside it
    if left:
        # Kept only when it plays, and then said.
        cap = cv2.VideoCapture(str(out / "r.mp4"))
        assert cap.read()[0], f"an unplayable {(out / 'r.mp4').stat().st_size}-byte file was left"
        cap.release()
        assert "Recorded" in err, err


# -------------------------------------------------------------- 2. a model's thread that cannot start


def test_a_model_thread_that_could_not_start_is_started_at_the_next_run(monkeypatch):
    """The process at its thread limit for a moment ("can't start new thread") when a model's first run
    starts its thread: that run fails (its effect hides the frame), and the next run must get a thread.
    Before: the thread that never ran was kept, and every later run of that model queued behind it for
    good: the live loop froze on its next frame."""
    import threading

    from livecam.analysis import run_guard

    refused = []

    class Thread(threading.Thread):
        def start(self):
            if not refused:
                refused.append(self.name)
                raise RuntimeError("can't start new thread")
            super().start()

    monkeypatch.setattr(run_guard.threading, "Thread", Thread)
    guard = run_guard.RunGuard("selfie_segmentation", RuntimeError)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        guard.call(lambda: 1)
    results: list[int] = []
    caller = threading.Thread(target=lambda: results.append(guard.call(lambda x: x + 1, 41)), daemon=True)
    caller.start()
    caller.join(30.0)  # a bound on a run of x + 1, not a timing
    assert results == [42] and refused == ["livecam-model-selfie_segmentation"]
    assert guard.hung is None


# -------------------------------------------------------------- 3. a thread of the live loop that cannot start

# The child refuses the first start of the threads whose name begins with argv[1], as a process at its
# thread limit does ("can't start new thread"), then runs the command line.
_NO_THREAD = """
import sys, threading
PREFIX, real = sys.argv[1], threading.Thread.start
refused = []

def start(self):
    if self.name.startswith(PREFIX) and not refused:
        refused.append(self.name)
        raise RuntimeError("can't start new thread")
    return real(self)

threading.Thread.start = start
from livecam.cli import main
code = main(sys.argv[2:])
assert refused, "no thread of that name was started"
sys.exit(code)
"""


def _run_without(tmp_path: Path, prefix: str, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    return _run_child(tmp_path, _NO_THREAD, (prefix,), "30", *extra)


@needs_ffmpeg
@pytest.mark.parametrize("thread", ["livecam-capture", "livecam-sink", "livecam-sender", "livecam-pipeline"])
def test_a_live_loop_thread_that_cannot_start_ends_the_run_in_one_sentence(tmp_path, thread):
    """Before: a RuntimeError traceback, exit 1 (or an abort, -6, with the camera's thread decoding at
    the interpreter's end), and from the sink on an empty file left under the recording's name."""
    done, out = _run_without(tmp_path, thread)
    said = [line for line in done.stderr.splitlines() if "could not start" in line]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert said == ["livecam: LiveCam could not start one of its threads (the system is at its limit of threads or "
                    "memory); close some programs and try again."], done.stderr
    assert list(out.iterdir()) == []


@needs_ffmpeg
def test_a_pipelining_thread_that_cannot_start_turns_pipelining_off(tmp_path):
    """Before: "Processing stopped: can't start new thread" with a traceback, no frame processed and
    nothing recorded. Now the frames are analysed in turn and the recording is made."""
    done, out = _run_without(tmp_path, "livecam-analysis", "--pipelining", "on")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "Pipelining off: LiveCam could not start its second thread" in done.stderr
    assert "Stopped after 30 frames" in done.stderr and "Recorded" in done.stderr, done.stderr
    cap = cv2.VideoCapture(str(out / "r.mp4"))
    assert cap.read()[0]
    cap.release()


# -------------------------------------------------------------- 4. out of file descriptors when a recording starts


@needs_ffmpeg
@pytest.mark.parametrize("errno_", ["EMFILE", "ENFILE"])
def test_ffmpeg_that_cannot_start_for_want_of_open_files_is_not_called_broken(tmp_path, monkeypatch, errno_):
    """Found for real (``livecam run --output file`` under ``ulimit -n 9``): "ffmpeg could not be started
    (Too many open files); reinstall ffmpeg.", sending the user to reinstall a program that is fine."""
    import errno

    from livecam import recording

    real = recording.subprocess.Popen

    def popen(cmd, *args, **kwargs):
        if kwargs.get("start_new_session") and kwargs.get("stdin") == subprocess.PIPE:  # the encoder itself
            raise OSError(getattr(errno, errno_), os.strerror(getattr(errno, errno_)))
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(recording.subprocess, "Popen", popen)
    with pytest.raises(recording.OutputError) as refused:
        recording.FileOutput(tmp_path / "r.mp4", 64, 48, 15)
    said = str(refused.value)
    assert "reinstall" not in said and "ulimit -n" in said and "\n" not in said, said
    assert list(tmp_path.iterdir()) == []
