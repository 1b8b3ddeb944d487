"""Red team round 24: two known gaps (a recording's leftovers and its folder going away mid-run, the
"My backgrounds" folder made on the GUI thread) and the faults found by attacking the live loop's edges.

Each test failed on the start tree (bc0fda8) unless it says it is a guard. tmp folders only; no
timed tests (a bound on a wait is a bound, never a measurement)."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from livecam import mp4_fragments, recording

needs_ffmpeg = pytest.mark.skipif(recording.find_ffmpeg() is None, reason="ffmpeg is not installed")

# -------------------------------------------------------------- 1. a recording's folder going away mid-run


def _frame(i: int) -> np.ndarray:
    return np.full((48, 64, 3), (i * 7) % 256, np.uint8)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def _render_writer(folder: Path, frames: int = 20) -> recording.VideoWriter:
    folder.mkdir()
    writer = recording.VideoWriter(folder / "v.mp4", 64, 48, 15, timing="frames", publish="end")
    for i in range(frames):
        writer.write(_frame(i))
    return writer


@needs_ffmpeg
def test_an_unfinished_render_in_a_moved_folder_is_removed_there(tmp_path):
    """Before: removed by its old path, so the hidden .livecam-part file stayed in the moved folder."""
    writer = _render_writer(tmp_path / "out")
    (tmp_path / "out").rename(tmp_path / "moved")
    writer.discard()
    assert _files(tmp_path / "moved") == []


@needs_ffmpeg
def test_a_render_whose_folder_moved_before_it_was_named_leaves_nothing_there(tmp_path):
    """Before: its folder moved while the encoder finished (the render's last seconds), the render said
    LiveCam could not tell where the file was, and left it in the moved folder under its hidden name."""
    writer = _render_writer(tmp_path / "out")
    (tmp_path / "out").rename(tmp_path / "moved")
    writer.close()
    assert writer.lost and writer.error.endswith(f"; nothing was written to {tmp_path / 'out' / 'v.mp4'}.")
    assert _files(tmp_path / "moved") == []


@needs_ffmpeg
def test_an_unfinished_render_that_cannot_be_removed_is_emptied_without_a_traceback(tmp_path, monkeypatch, caplog):
    """Before: in a folder made read-only, removing the part file raised PermissionError out of
    discard (``_Target._unlink_temp`` caught only FileNotFoundError), and its bytes stayed on the disk.
    Root may remove anything, so the refusal a user would meet is what the removal is told."""
    writer = _render_writer(tmp_path / "out", frames=40)
    (part,) = (tmp_path / "out").iterdir()
    assert _wait(lambda: part.stat().st_size > 0)  # the encoder has written its first fragment
    unlink = os.unlink

    def refused(path, *args, **kwargs):
        if Path(path).name == part.name:
            raise PermissionError(13, "Permission denied", str(path))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refused)
    with caplog.at_level(logging.WARNING, "livecam.output_file"):
        writer.discard()
    assert part.stat().st_size == 0
    assert "could not be removed (Permission denied); it was emptied" in caplog.text


@needs_ffmpeg
def test_a_file_of_the_same_name_that_is_not_ours_is_never_removed(tmp_path):
    """Guard: the part file replaced by another under its name (its folder moved and a new one made in
    its place) is left alone; only our own file is ever removed."""
    writer = _render_writer(tmp_path / "out")
    (part,) = (tmp_path / "out").iterdir()
    (tmp_path / "out").rename(tmp_path / "moved")
    (tmp_path / "moved" / part.name).rename(tmp_path / "kept.mp4")
    (tmp_path / "moved" / part.name).write_bytes(b"someone else's")
    writer.discard()
    assert (tmp_path / "moved" / part.name).read_bytes() == b"someone else's"


@needs_ffmpeg
@pytest.mark.parametrize("how", ["folder deleted", "folder moved", "file deleted"])
def test_a_live_recording_stops_at_the_first_frame_after_its_file_went_away(tmp_path, how):
    """Before: the encoder holds the file open, so every frame still went in (into a deleted file, or
    one moved where no sentence would say) until the user stopped the run; only then was it said."""
    from livecam.sinks import OutputFailed

    folder = tmp_path / "rec"
    folder.mkdir()
    output = recording.FileOutput(folder / "v.mp4", 64, 48, fps=15)
    for i in range(30):  # two seconds of clock: at least one whole fragment is on the disk
        output.send(_frame(i), 100 + i / 15)
    if how == "folder deleted":
        shutil.rmtree(folder)
    elif how == "folder moved":
        folder.rename(tmp_path / "moved")
    else:
        (folder / "v.mp4").unlink()
    with pytest.raises(OutputFailed) as raised:
        output.send(_frame(30), 102)
    assert output.frames_written == 30
    assert str(raised.value) == output.error == (
        f"The recording to {folder / 'v.mp4'} was moved or deleted (or its folder was) while LiveCam was writing "
        "it, so the recording stopped after 2.0 s (30 frames), and LiveCam cannot tell where the file is now.")
    output.close(timeout=5)
    assert output.summary() is None  # never "Recorded … to v.mp4"
    if how == "folder moved":  # the bytes it had are whole where the folder went
        moved = tmp_path / "moved" / "v.mp4"
        assert mp4_fragments.complete_fragments_end(os.open(moved, os.O_RDONLY)) == moved.stat().st_size > 0


@needs_ffmpeg
def test_a_live_recording_whose_folder_went_away_stops_the_sender_with_its_sentence(tmp_path):
    """Before: the sender went on "sending" into the deleted file for as long as the run lasted."""
    from livecam.pacing import PacedSender

    folder = tmp_path / "rec"
    folder.mkdir()
    output = recording.FileOutput(folder / "v.mp4", 64, 48, fps=15)
    sender = PacedSender(output, 15).start()
    try:
        sender.submit(_frame(0), 0.0)
        assert _wait(lambda: output.frames_written > 0)
        shutil.rmtree(folder)
        for i in range(1, 100):
            if sender.failed.is_set():
                break
            sender.submit(_frame(i), 0.0)
            sender.failed.wait(0.1)
        assert sender.failed.is_set() and sender.state == "failed"
        assert sender.status == output.error
        assert "while LiveCam was writing it, so the recording stopped" in sender.status
    finally:
        sender.stop()
        output.close(timeout=5)


def _wait(condition, limit_s: float = 20.0) -> bool:
    import threading

    done = threading.Event()
    for _ in range(int(limit_s / 0.02)):
        if condition():
            return True
        done.wait(0.02)
    return condition()


@needs_ffmpeg
def test_a_render_whose_part_file_was_deleted_stops_at_the_next_frame(tmp_path):
    """Before: a render whose hidden file was deleted (a cleaner of hidden files, a user) went on to the
    clip's end, encoding every frame into nothing."""
    from livecam.sinks import OutputFailed

    writer = _render_writer(tmp_path / "out")
    (part,) = (tmp_path / "out").iterdir()
    part.unlink()
    with pytest.raises(OutputFailed) as raised:
        writer.write(_frame(20))
    assert writer.frames == 20
    assert str(raised.value) == (
        f"The unfinished render to {tmp_path / 'out' / 'v.mp4'} was moved or deleted (or its folder was) while "
        f"LiveCam was writing it, so the render stopped after 1.3 s (20 frames); nothing was written to "
        f"{tmp_path / 'out' / 'v.mp4'}.")
    writer.discard()
    assert _files(tmp_path) == []


# -------------------------------------------------------------- 2. "Open my backgrounds folder" on a drive that hangs


@pytest.fixture
def opening(qtbot, monkeypatch):
    """The shared actions with a config folder not made yet; making the backgrounds folder waits on
    ``gate`` (a mount that does not answer yet). Yields (actions, gate, threads that made a folder,
    folders opened, sentences said)."""
    import threading

    import shiboken6
    from PySide6 import QtGui

    from livecam import settings as S
    from livecam.gui.actions import LiveCamActions, user_backgrounds_dir
    from livecam.gui.store import SettingsStore

    folder, gate, made_on, opened, said = user_backgrounds_dir(), threading.Event(), [], [], []
    mkdir = os.mkdir

    def hanging_mkdir(path, *args, **kwargs):
        if Path(path) == folder:
            on_gui = threading.current_thread() is threading.main_thread()
            made_on.append("GUI" if on_gui else "other")
            gate.wait(2 if on_gui else 20)  # on the GUI thread only long enough to fail the test
        return mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", hanging_mkdir)
    monkeypatch.setattr(QtGui.QDesktopServices, "openUrl", lambda url: opened.append(Path(url.toLocalFile())))
    store = SettingsStore(S.Settings(), persist=False)
    store.rejected.connect(said.append)
    actions = LiveCamActions(store)
    yield actions, gate, made_on, opened, said
    gate.set()
    shiboken6.delete(actions)  # an answer still on its way is dropped, not delivered to the next test


def test_my_backgrounds_folder_is_made_off_the_gui_thread_private_then_opened(qtbot, opening):
    """Before: made by mkdir on the GUI thread (a mount that hangs froze the tray for good), and made
    with the umask's mode: the config folder it created first was 0755, readable by every user."""
    from livecam import settings as S
    from livecam.gui.actions import user_backgrounds_dir

    actions, gate, made_on, opened, said = opening
    assert not S.config_dir().exists()
    actions.open_backgrounds_folder()
    assert opened == [] and made_on in ([], ["other"])  # back at once, the folder still being made
    gate.set()
    qtbot.waitUntil(lambda: bool(opened), timeout=10_000)
    assert opened == [user_backgrounds_dir()] and made_on == ["other"] and said == []
    for folder in (S.config_dir(), user_backgrounds_dir()):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_my_backgrounds_folder_that_does_not_answer_is_said_and_not_opened_later(qtbot, opening):
    """Before: the tray froze for as long as the folder's drive did not answer."""
    from livecam.gui import actions as actions_module

    actions, gate, made_on, opened, said = opening
    actions._making_limit.setInterval(50)
    actions.open_backgrounds_folder()
    qtbot.waitUntil(lambda: bool(said), timeout=10_000)
    (sentence,) = said
    assert "backgrounds" in sentence and sentence.endswith("does not answer (is it on a drive that is away?), so it "
                                                           "was not opened.")
    actions.open_backgrounds_folder()  # asked again meanwhile: said again, no second folder made
    assert len(said) == 2 and made_on == ["other"]
    gate.set()  # the drive answers: no window out of nowhere, and the next click opens it
    qtbot.waitUntil(lambda: actions._making is None, timeout=10_000)
    assert opened == []
    actions.open_backgrounds_folder()
    qtbot.waitUntil(lambda: bool(opened), timeout=10_000)
    assert opened == [actions_module.user_backgrounds_dir()] and "GUI" not in made_on


def test_my_backgrounds_folder_that_cannot_be_made_is_said_in_one_sentence(qtbot, opening):
    """Before: the PermissionError from mkdir was raised inside a Qt slot (a traceback on the console,
    nothing in the window)."""
    from livecam import settings as S

    actions, gate, made_on, opened, said = opening
    gate.set()
    S.config_dir().parent.mkdir(parents=True, exist_ok=True)
    S.config_dir().write_bytes(b"")  # a file where the config folder should be
    actions.open_backgrounds_folder()
    qtbot.waitUntil(lambda: bool(said), timeout=10_000)
    assert opened == [] and said[0].endswith(", so it was not opened; move it away or set LIVECAM_CONFIG_DIR to "
                                             "a folder of your own.")


@needs_ffmpeg
@pytest.mark.parametrize("end", ["close", "discard", "name taken"])
def test_a_render_holds_its_folder_open_only_until_it_ends(tmp_path, end):
    """Guard: the folder the hidden file is removed through is let go of however the render ends."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc/self/fd to list the open descriptors")

    def holding_the_folder() -> list[str]:
        held = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == str(tmp_path / "out"):
                    held.append(fd)
            except OSError:  # the descriptor listing itself, closed by now
                pass
        return held

    writer = _render_writer(tmp_path / "out")
    assert len(holding_the_folder()) == 1
    if end == "name taken":
        (tmp_path / "out" / "v.mp4").write_bytes(b"theirs")
    (writer.discard if end == "discard" else writer.close)()
    assert holding_the_folder() == []
    assert (tmp_path / "out" / "v.mp4").exists() == (end != "discard")
