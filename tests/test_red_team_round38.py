"""Red team, round 38: the settings save against other writers, the recording's end sentence, and
suspend/resume (a jump of the monotonic clock between two frames).

1. The tray's save read settings.json, put its own changes on top and renamed the new file in: a
   whole write by another program (an editor, ``livecam run --save``) between the read and the rename
   was lost. Now every LiveCam writer holds one advisory lock (a flock on the settings folder) across
   read -> rename, and the file's state (inode, size, mtime_ns) is checked just before the rename; a
   file changed since the read is read and merged again (settings.save_merged).
2. "Recorded 8.1 s of video (232 frames)" counted the frames written, repeats included (a frame is
   written again at each tick no new one came: that keeps real time), beside "N of the 200 made were
   left out". The sentence now counts frames made, with the seconds.
3. Suspend and resume (a jump of time.monotonic between two frames, as the modules read it, and once
   a real SIGSTOP/SIGCONT of ``livecam run --output file``, 30 s: the file kept real time, the last
   frame held for the 30 s, timestamps increasing, no card, no warning). Found: a thread that was busy,
   not waiting, when the process stopped could not tell it had not run; the pipeline thread in a model
   run then called the camera "not responding" and the sender sent "catching up" on the first tick.
   not_running.resumed_at: the first thread to notice (the sender, waiting between ticks) speaks for
   the process, and the two stall checks count from then.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time

import numpy as np
import pytest

from livecam import recording
from livecam import settings as S
from livecam.capture import FrameSource
from livecam.pacing import PacedSender
from livecam.recording import FileOutput
from livecam.sinks import Output
from live_doubles import StoppedClock, until


# ------------------------------------------------------------------ 1. the settings save


def _write_theirs(path, theirs: S.Settings, how: str) -> None:
    text = json.dumps(S.to_dict(theirs), indent=1)
    if how == "rename":  # an editor's save: a new file renamed over the old one
        tmp = path.with_name("theirs.tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    else:  # a script's "> settings.json": the same file rewritten in place
        with open(path, "w") as f:
            f.write(text)


@pytest.mark.parametrize("how", ["rename", "in place"])
def test_another_programs_whole_write_between_the_trays_read_and_rename_is_kept(qtbot, monkeypatch, how):
    from livecam.gui import store as G

    S.save(S.Settings())
    store = G.SettingsStore(S.load())
    store.update(touch_up={"strength": 40})  # the tray's own change
    theirs = S.update(S.Settings(), background={"mode": "blur", "blur": 70})
    real, reads = S.read_settled, []

    def read_then_they_write(path, wait=True):
        got = real(path, wait)
        reads.append(got)
        if len(reads) == 1:  # between the tray's read and its rename, once
            _write_theirs(path, theirs, how)
        return got

    monkeypatch.setattr(S, "read_settled", read_then_they_write)
    store.flush()
    tray_reads = len(reads)
    saved = S.load()
    assert saved.background.mode == "blur" and saved.background.blur == 70, "the other program's write was lost"
    assert saved.touch_up.strength == 40, "the tray's change was lost"
    assert tray_reads == 2  # read again once, and merged
    assert not store._dirty


def test_a_second_livecam_writer_waits_for_the_trays_read_to_rename(qtbot, monkeypatch):
    """``livecam run --save`` while the tray saves: it waits for the tray's rename, then puts its own
    change over the file the tray wrote; a timer save (no wait) gives way and tries later."""
    from livecam.gui import store as G

    S.save(S.Settings())
    store = G.SettingsStore(S.load())
    store.update(touch_up={"strength": 40})
    real, seen = S.read_settled, {}

    def cli_save():
        S.save_merged(lambda: S.with_changes(S.load(), {("background", "blur"): 70}))

    def read_while_another_saves(path, wait=True):
        got = real(path, wait)
        if not seen:
            seen["timer save"] = S.save_merged(lambda: S.Settings(), wait=False)
            other = threading.Thread(target=cli_save)
            other.start()
            other.join(0.5)
            seen["blocked"], seen["thread"] = other.is_alive(), other
        return got

    monkeypatch.setattr(S, "read_settled", read_while_another_saves)
    store.flush()
    seen["thread"].join(10)
    assert seen["timer save"] is None, "a save without waiting went ahead inside another's read -> rename"
    assert seen["blocked"], "the second writer did not wait for the lock"
    monkeypatch.setattr(S, "read_settled", real)
    saved = S.load()
    assert saved.touch_up.strength == 40 and saved.background.blur == 70
    assert sorted(p.name for p in S.settings_path().parent.iterdir()) == ["settings.json"]  # no lock file left


def test_run_save_puts_its_flags_over_the_file_as_it_is_when_written(monkeypatch):
    """``livecam run --save --blur 70`` read the file at its start and wrote that copy back whole with its
    flag on top: the tray's save in between was lost. It now writes only what its flags changed, over
    the file read again under the writers' lock."""
    from livecam import chosen_files, cli

    S.save(S.Settings())
    real = chosen_files.unusable_choice

    def check_then_the_tray_saves(old, new):  # runs between the CLI's first read and its save
        S.save(S.update(S.load(), touch_up={"strength": 40}))
        return real(old, new)

    monkeypatch.setattr(chosen_files, "unusable_choice", check_then_the_tray_saves)
    cli.settings_from_args(cli.build_parser().parse_args(["run", "--save", "--background", "blur", "--blur", "70"]))
    saved = S.load()
    assert saved.background.mode == "blur" and saved.background.blur == 70, "the CLI's flags were not saved"
    assert saved.touch_up.strength == 40, "the tray's save in between was lost"


# ------------------------------------------------------------------ 2. the recording's end sentence


@pytest.mark.skipif(recording.find_ffmpeg() is None, reason="ffmpeg is not installed")
def test_the_recordings_sentence_counts_frames_made_not_the_repeats_that_keep_real_time(tmp_path):
    """Frames come at 10 a second into a 30 fps recording: each is written about three times (the
    repeats keep real time). Before: "Recorded 1.0 s of video (30 frames)" for 10 made, beside "N of
    the 10 made were left out" when some were."""
    inner = FileOutput(tmp_path / "rec.mp4", 64, 48, 30)
    sender = PacedSender(inner, 30).start()
    made = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        sender.submit(np.full((48, 64, 3), made * 20 % 256, np.uint8), time.monotonic())
        made += 1
        threading.Event().wait(0.1)
    sender.stop()
    inner.close()
    assert inner.frames_written > made  # repeats went into the file
    said = inner.summary(missed=sender.stats()["left_out"], made=made)
    assert said is not None and said.startswith("Recorded ")
    counts = [int(n) for n in re.findall(r"(\d+) frames?\b", said)]
    assert counts and all(n <= made for n in counts), said
    assert f"({made} frames made)" in said, said
    seconds = float(re.search(r"Recorded ([\d.]+) s", said).group(1))
    assert 1.2 < seconds < 3.0, said  # the 1.5 s of real time, not 15 frames / 30 fps
    assert inner.summary() is not None and " frame" not in inner.summary()  # no count it cannot stand behind


# ------------------------------------------------------------------ 3. suspend and resume


class _Kept(Output):
    """An output that keeps what it was sent."""

    def __init__(self) -> None:
        super().__init__(64, 48, 30)
        self.description = "test output"
        self.sent: list[tuple[float, np.ndarray]] = []

    def _send(self, image: np.ndarray) -> None:
        self.sent.append((time.monotonic(), image))


class _Camera(FrameSource):
    """A camera that sends one frame, then nothing (suspended, then silent) while its thread lives."""

    def _run(self) -> None:
        self._publish(np.full((48, 64, 3), 150, np.uint8))
        self._stop.wait()


def test_a_resume_while_the_pipeline_was_busy_is_no_stall_of_the_camera_or_the_output(monkeypatch):
    """The process stopped for 60 s (lid closed, SIGSTOP) while the pipeline thread was in a model run,
    not waiting on the camera. Before: its next wait for a frame saw the camera's last frame 60 s old
    and called it "not responding" (card, warning) the moment the process went on; and the sender's
    first tick sent "catching up" though nothing had been slow. The sender, which was waiting, noticed
    the stop; its notice now counts for the whole process. A camera that stays silent after the resume
    still gets the card, STUCK_S later; and the sender sends no burst of catch-up frames."""
    clock = StoppedClock(monkeypatch)
    out = _Kept()
    camera = _Camera(64, 48, 30, "Camera 0").start()
    sender = PacedSender(out, 30).start()
    try:
        frame = camera.latest(timeout=5)
        assert not frame.placeholder
        sender.submit(frame.image, frame.t)
        assert until(lambda: out.sent, 5)
        clock.offset += 60.0  # stopped in the middle of a frame's processing, continued 60 s later
        resumed = time.monotonic()
        threading.Event().wait(0.3)  # the sender ticks meanwhile
        again = camera.latest(after=frame.index, timeout=0.5)  # the camera has sent nothing new yet
        assert not again.placeholder, "a resumed camera was called not responding at once"
        assert camera.error is None
        after = [image for t, image in out.sent if t >= resumed]
        assert after and all(image[0, 0, 0] == 150 for image in after), "a card went out on resume"
        assert len(after) <= 30 * (time.monotonic() - resumed) + 3, "a burst of catch-up frames"
        dead = camera.latest(after=frame.index, timeout=2.5)  # and it stays silent
        assert dead.placeholder and "stopped responding" in (camera.error or "")
    finally:
        sender.stop()
        camera.close()


def test_the_frame_rate_shown_after_a_resume_is_measured_since_it(monkeypatch):
    """The rates the tray and ``run`` show (fps out, fps processed) were taken over a window of the last
    ~2 s of frames: just after a 60 s stop that window spanned it, and "0.5 fps out" stood there as
    long as the window lasted, with nothing slow."""
    clock = StoppedClock(monkeypatch)
    out = _Kept()
    sender = PacedSender(out, 30).start()
    try:
        frame = np.full((48, 64, 3), 150, np.uint8)
        sender.submit(frame, time.monotonic())
        threading.Event().wait(0.5)
        clock.offset += 60.0
        threading.Event().wait(0.5)
        fps = sender.stats()["fps_out"]
        assert 20 < fps < 40, fps
    finally:
        sender.stop()
