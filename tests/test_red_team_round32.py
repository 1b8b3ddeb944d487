"""Red team round 32: round 31's leftovers (1-4), then a camera much slower than it says (5) and the
settings file caught half written by another program (6).

1. An app watching the paused camera while it cannot be resumed (the camera gone, the system at its thread
   limit): the same sentence was logged on every retry, every 2 s for as long as the app watched, and
   "An app opened the LiveCam camera: resuming." with it. Now once per cause, again when the cause changes,
   and one line when it resumes.
2. In the tray, the state line said "idle" ("No app is using the LiveCam camera") while an app watched the
   paused card after such a failed resume. It now says what is wrong, in the same sentence.
3. The stop's watchdog (``livecam run``: a stop that takes over 2 s, or a second Ctrl+C) ends the process
   with os._exit. While the recording was being opened (ffmpeg asked what it can do, then started) it did
   not know the recording yet: a 0-byte file stayed under the user's name. With the recording open and
   less than one whole fragment in it (the first second), it killed ffmpeg and left its header, an
   unplayable file, under the name. Now every live recording is ended by the watchdog as its own close
   ends it: the name holds a playable file or nothing.
4. "As many files open as the system allows" was one errno set in the camera (EMFILE, ENFILE) and
   another in the recording (EMFILE, ENFILE, ENOMEM, EAGAIN, all said as "raise the open-file limit").
   One table in ``livecam/messages.py`` now; memory or processes run out are not called a file limit.
5. A camera that says 30 fps and sends a frame every few seconds (a long exposure in the dark, a slow
   network camera) was "not responding" between any two frames: the card, then the picture, and two log
   lines ("is back" said twice) per gap, for as long as it ran. The stall limit now learns the source's
   own gaps (3 x their median), so only the waits before its pace is known show the card.
6. The tray saving while another program writes the settings file in place: the half (empty) file was
   taken for broken, kept as the .bak, and replaced by the tray's last copy; the other program's write
   went into the replaced file. Both changes are now kept: the save waits for the file to settle.

Each test failed on the start tree (43ba9c5) unless it says it is a guard. tmp folders only; no timed
tests (a bound on a wait is a bound, never a measurement)."""
from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from processes import needs_ffmpeg

import livecam
from livecam import messages
from livecam.capture import CaptureError

ROOT = Path(livecam.__file__).resolve().parents[1]  # the tree under test, for the child processes too


# -------------------------------------------------------------- 1-2. a resume that keeps failing


class _Runner:
    """Stands in for LiveRunner: starts and stops at once."""

    def __init__(self) -> None:
        self.processed, self.error, self.done = 0, None, threading.Event()

    def start(self) -> "_Runner":
        return self

    def stop(self, timeout: float | None = None) -> None:
        self.done.set()


class _Sender:
    def stats(self) -> dict:
        return {"frames_sent": 1}

    def pause(self, last=None) -> None:
        pass

    def resume(self, since=None) -> None:
        pass


class _Source:
    def __init__(self, size=(96, 64)) -> None:
        self.size, self.device, self.closed = size, 0, False

    def start(self) -> "_Source":
        return self

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


GONE = "Camera 0 cannot be opened (it was unplugged or another program holds it); plug it in or close that program."


def _paused_session(opens: list):
    """A LiveSession paused (no app watched); each reopen does what ``opens`` says next: an exception
    to raise, or a source size."""
    from livecam.live_session import LiveSession
    from livecam.settings import Settings

    def open_source(capture_settings):
        what = opens.pop(0)
        if isinstance(what, Exception):
            raise what
        return _Source(what)

    live = LiveSession(Settings().capture, _Source(), pipeline=None, sender=_Sender(), frames=0,
                       make_runner=lambda src, n: _Runner(), open_source=open_source)
    live.pipeline = type("Pipeline", (), {"reset_temporal": lambda self: None})()
    live.viewers_changed(False, 0.0)
    live.follow_viewers()
    assert live.idle
    return live


def _tries(live, n: int) -> None:
    for _ in range(n):
        live._retry_at = 0.0  # the next try, as the main loop makes it RESUME_RETRY_S later
        live.viewers_changed(True, 1.0)
        live.follow_viewers()


def test_a_resume_that_keeps_failing_is_said_once_per_cause(caplog):
    """Before: five tries with the camera gone, five times the same ERROR line and five "resuming"; the
    cause changing (the camera back at another size) was said, then the camera gone again said again."""
    live = _paused_session([CaptureError(GONE)] * 5 + [(64, 48)] * 2 + [CaptureError(GONE), (96, 64)])
    caplog.set_level(logging.INFO, logger="livecam")
    _tries(live, 8)
    assert live.idle
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said == [("INFO", "An app opened the LiveCam camera: resuming."),
                    ("ERROR", GONE),
                    ("ERROR", "The source now delivers 64x48 instead of 96x64; LiveCam tries again."),
                    ("ERROR", GONE)], said
    caplog.clear()
    _tries(live, 1)  # it comes back
    assert not live.idle
    assert [r.getMessage() for r in caplog.records] == ["LiveCam resumed for the app that opened its camera."]
    assert live.problem is None
    live.close(timeout=1.0)


def test_an_app_that_stops_watching_ends_the_problem_and_the_next_app_is_told_afresh(caplog):
    """Guard: the problem belongs to the app that watches; when it closes the camera, "idle" is true again,
    and the next app's failed resume is said again (not swallowed as the same cause)."""
    live = _paused_session([CaptureError(GONE)] * 2)
    caplog.set_level(logging.INFO, logger="livecam")
    _tries(live, 1)
    live.viewers_changed(False, 2.0)
    live.follow_viewers()
    _tries(live, 1)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [GONE, GONE]


def test_the_tray_says_why_the_camera_did_not_come_back_for_the_app(qtbot):
    """Before: the tray's state line stayed "idle" ("No app is using the LiveCam camera: the webcam is off
    until one opens it.") while an app watched the paused card; now the state is an error with the
    session's sentence, and idle again once no app watches."""
    from livecam.gui import bridge as B
    from livecam.settings import Settings

    live = _paused_session([CaptureError(GONE)])
    b = B.LiveBridge(Settings())
    try:
        b._session = B._Session(live=live, output=None, sender=live.sender, output_problem=None)
        b._want_running = True
        b._poll()
        assert (b.state, b.message) == ("idle", B.IDLE_SENTENCE)
        _tries(live, 1)
        b._poll()
        assert (b.state, b.message) == ("error", GONE)
        live.viewers_changed(False, 3.0)
        live.follow_viewers()
        b._poll()
        assert (b.state, b.message) == ("idle", B.IDLE_SENTENCE)
    finally:
        b._session = None
        b._control.shutdown(wait=False)


# -------------------------------------------------------------- 4. one table for "the system ran out"


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE])
def test_out_of_files_is_one_table_for_the_camera_and_the_recording(code):
    """The camera's and the recording's "as many files open as the system allows" read one table."""
    from livecam import capture, output_file

    exc = OSError(code, os.strerror(code))
    assert output_file._fix(exc, "choose another path") == messages.NO_FILES_FIX
    assert capture._out_of_files(exc)
    assert messages.out_of(exc) == messages.NO_FILES_FIX


@pytest.mark.parametrize("code", [errno.ENOMEM, errno.EAGAIN])
def test_memory_or_processes_run_out_are_not_called_a_file_limit(code):
    """Before: "ffmpeg could not be started (Cannot allocate memory); close some programs (or raise the
    open-file limit, ulimit -n) and try again.": the open-file limit has nothing to do with it."""
    from livecam import capture, output_file

    exc = OSError(code, os.strerror(code))
    said = output_file._fix(exc, "reinstall ffmpeg")
    assert "ulimit" not in said and "reinstall" not in said and said.startswith("close some programs"), said
    assert said == messages.out_of(exc)
    assert not capture._out_of_files(exc)  # the camera's "as many files open as the system allows" is not said
    assert messages.out_of(OSError(errno.EACCES, "Permission denied")) is None


# -------------------------------------------------------------- 3. the stop's watchdog and the recording

# The child signals itself from inside one step of the recording, as a stop arriving then would:
# "start": while ffmpeg is asked what it can do, which a busy machine makes last 3 s (the name is given
# already, the output not yet known to run_live); "first:N": two stop signals (Ctrl+C twice, or a stop
# and the terminal closing) at the Nth frame sent, less than one whole fragment written.
_STOP_IN_RECORDING = """
import os, signal, sys, time
import livecam.recording as R

WHEN, _, AT = sys.argv[1].partition(":")
if WHEN == "start":
    real = R._ffmpeg_has_encoder

    def asked(exe, name):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(3.0)
        return real(exe, name)

    R._ffmpeg_has_encoder = asked
else:
    send, sent = R.FileOutput.send, []

    def counted(self, image, t=None):
        sent.append(t)
        if len(sent) == int(AT):
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
        return send(self, image, t)

    R.FileOutput.send = counted
from livecam.cli import main
sys.exit(main(sys.argv[2:]))
"""


@needs_ffmpeg
@pytest.mark.parametrize("when", ["start", "first:3", "first:20"])
def test_a_stop_that_ends_the_process_at_once_leaves_no_empty_recording_under_its_name(tmp_path, when):
    """Before: start: exit 1 "Stopping took longer than 2 s", and a 0-byte r.mp4; first: exit 1 "A second
    stop signal came", and an r.mp4 that does not play (0 bytes, or ffmpeg's header alone). Now the name holds nothing (as a recording
    stopped in order before its first whole second), and nothing hidden is left beside it."""
    clip, out = tmp_path / "in.mp4", tmp_path / "out"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30", "-t", "4",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)
    out.mkdir()
    script = tmp_path / "child.py"
    script.write_text(_STOP_IN_RECORDING)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LIVECAM_CONFIG_DIR": str(tmp_path / "cfg"),
           "LIVECAM_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, str(script), when, "run", "--source", str(clip), "--output", "file",
                           "--output-file", str(out / "r.mp4"), "--frames", "100000"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    err = done.stderr
    said = "Stopping took longer than 2 s" if when == "start" else "A second stop signal came"
    assert done.returncode == 1 and said in err and "Traceback" not in err, err
    left = {p.name: p.stat().st_size for p in out.iterdir()}
    assert left == {}, f"left under the recording's name: {left}"
    if when != "start":  # it said "the recording keeps what it had up to its last whole second"
        assert "the recording, not one whole second long yet, is removed" in err, err


@needs_ffmpeg
def test_a_recording_ended_at_once_after_its_first_seconds_keeps_what_plays(tmp_path, monkeypatch):
    """Guard: the watchdog's end keeps a recording that holds whole fragments, playable, under its name
    (cut after the last whole one)."""
    from livecam import mp4_fragments, recording

    path = tmp_path / "r.mp4"
    writer = recording.VideoWriter(path, 160, 120, 30.0, timing="clock", publish="start")
    rng = np.random.default_rng(0)
    for i in range(75):  # 2.5 s of frames by their times
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), t=100.0 + i / 30)
    recording.end_recordings_now()
    fd = os.open(path, os.O_RDONLY)
    try:
        size, whole = os.fstat(fd).st_size, mp4_fragments.complete_fragments_end(fd)
    finally:
        os.close(fd)
    assert size == whole and size > 0
    cap = cv2.VideoCapture(str(path))
    assert cap.read()[0]
    cap.release()
    writer.close(timeout=2.0)  # the close after it finds ffmpeg gone and keeps the file
    assert path.is_file() and not writer.removed
    assert [p.name for p in tmp_path.iterdir()] == ["r.mp4"]


# -------------------------------------------------------------- 5. a camera much slower than it says


class _SlowCap:
    """A camera that says 30 fps and sends one frame every ``every`` s (a long exposure in the dark, a slow
    network camera); after ``then_hang`` frames its read never returns (a driver stuck for real)."""

    def __init__(self, every: float, then_hang: int) -> None:
        self.every, self.left, self.hang = every, then_hang, threading.Event()
        self.picture = np.full((48, 64, 3), 120, np.uint8)

    def isOpened(self) -> bool:
        return True

    def set(self, *_) -> bool:
        return True

    def read(self):
        if self.left <= 0:
            self.hang.wait(30)
            return False, None
        self.left -= 1
        self.hang.wait(self.every)
        return True, self.picture.copy()

    def release(self) -> None:
        self.hang.set()


def test_a_camera_slower_than_it_says_is_not_called_stuck_between_its_frames(monkeypatch, caplog):
    """A camera at one frame per gap of 4 x STUCK_S. Before: between any two of its frames the card "video
    source not responding" went out and "Camera 0 stopped responding" / "is back" were logged (the latter
    twice), for as long as it ran. Now only the waits before its pace is known (for its first frame and
    its second) show the card; a read that then never returns is still called stuck, after STUCK_GAPS of
    its gaps."""
    from livecam import capture

    monkeypatch.setattr(capture, "STUCK_S", 0.1)  # the camera's gap, 0.4 s, is 4 times it
    cap = _SlowCap(every=0.4, then_hang=7)
    caplog.set_level(logging.INFO, logger="livecam")
    source = capture.CameraSource(0, 64, 48, 30, opener=lambda _: cap).start()
    cards, after, frame = [], -1, None
    try:
        while cap.left > 0:  # the loop's asks, as the live runner makes them
            frame = source.latest(after, timeout=0.05)
            after = frame.index
            cards.append(frame.placeholder)
        real_gaps = sum(1 for a, b in zip(cards, cards[1:]) if a and not b)
        said = [r.getMessage() for r in caplog.records]
        stuck, back = [m for m in said if "stopped responding" in m], [m for m in said if "is back" in m]
        assert len(stuck) <= 2 and real_gaps <= 2 and len(back) == len(stuck), said
        for _ in range(200):  # now it hangs for real: the card comes, bounded by 200 asks
            frame = source.latest(after, timeout=0.05)
            after = frame.index
            if frame.placeholder:
                break
        assert frame.placeholder and source.error and "stopped responding" in source.error
    finally:
        source.close(timeout=1.0)


# -------------------------------------------------------------- 6. the settings file caught half written


@pytest.mark.parametrize("how", ["timer", "quit"])
def test_a_settings_file_caught_half_written_by_another_program_loses_neither_change(qtbot, how):
    """Another program writes the settings file in place (an editor, a script's ``> settings.json``) and the
    tray saves a change of its own while the file is still empty. Before: the empty file was taken for
    broken: kept as settings.json.bak, and the tray's save replaced it with its own last copy; the other
    program's write then went into the file that was no longer there. Its change was lost, and the
    backup held nothing. Now the tray waits for the file to settle (the save timer tries again; at quit
    it waits up to 2 x SETTLE_S) and saves both changes, with no backup made."""
    from livecam import settings as S
    from livecam.gui import store as G

    S.save(S.Settings())
    store = G.SettingsStore(S.load())
    path = S.settings_path()
    store.update(touch_up={"strength": 40})  # the tray's change, saved SAVE_DELAY_MS later
    theirs = S.to_dict(S.update(S.Settings(), background={"mode": "blur", "blur": 70}))
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # the other program has emptied the file, not written yet
    try:
        if how == "timer":
            store._timer.stop()
            store._timer.timeout.emit()  # the save timer fires now
            done = False
        else:
            # Quit while it is written: the other program finishes a moment later, while the tray waits.
            writer = threading.Timer(0.3, lambda: (os.write(fd, json.dumps(theirs).encode()),
                                                   os.close(fd)))
            writer.start()
            store.flush()
            writer.join()
            done = True
    finally:
        if how == "timer":
            os.write(fd, json.dumps(theirs).encode())
            os.close(fd)
    if not done:
        qtbot.waitUntil(lambda: not store._dirty, timeout=10_000)
    saved = S.load()
    assert saved.background.mode == "blur" and saved.background.blur == 70, "the other program's change was lost"
    assert saved.touch_up.strength == 40, "the tray's change was lost"
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]  # no backup of a half file
