"""Red team at the library and file-system boundaries (helper redteam7).

Faults injected where LiveCam meets the outside: a FIFO or odd JSON among the presets, a full or
read-only disk while a preset is saved or deleted, a preset kept as a link, camera probes that
never return off Linux, and libraries (OpenCV, onnxruntime, pyvirtualcam, the clock) handing back
what they should not. Each test failed on the tree before its fix, unless it says it guards a
promise that held.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from livecam import settings as S
from livecam.gui import presets


def _in_thread(fn, wait_s: float = 10.0):
    """``fn()``'s result, run on a daemon thread so that a hang fails the test instead of the suite."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(wait_s)
    assert not thread.is_alive(), f"{fn} did not return within {wait_s} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


# ------------------------------------------------------------------ presets


def _saved(name: str = "Meeting") -> None:
    presets.save_preset(name, S.update(S.Settings(), background={"mode": "blur", "blur": 60}))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_json_in_the_presets_folder_does_not_block_the_list():
    """Before: ``all_presets`` opened ``x.json`` for reading and waited for a writer that never came:
    the presets menu and the settings window froze. Now it is a broken file, left out of the list."""
    _saved()
    fifo = presets.presets_dir() / "pipe.json"
    os.mkfifo(fifo)
    try:
        assert _in_thread(presets.list_presets, 5.0) == ["Meeting"]
        with pytest.raises(presets.PresetError, match="not a regular file"):
            _in_thread(lambda: presets._read(fifo), 5.0)
    finally:
        # Unblock a reader the old code left waiting, so no thread outlives the test.
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if _has_reader(fifo) else None
        if fd is not None:
            os.close(fd)


def _has_reader(fifo) -> bool:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("body", [
    {"settings": {"background": {"mode": "blur"}}},  # no name
    {"name": {"a": 1}, "settings": {}},  # a name that is no text
    {"name": "X", "settings": [1, 2]},  # settings that are no mapping
    [1, 2, 3],
    "just text",
], ids=["no-name", "dict-name", "list-settings", "list", "string"])
def test_a_preset_file_of_the_wrong_shape_is_left_out_of_the_list(body):
    """Before: a preset file without a ``name`` raised KeyError out of ``all_presets`` (the preset
    menu and the settings window failed to open); a dict as its name became a preset called
    "{'a': 1}". Now each is a broken file: left out, and ``_read`` says so in one sentence."""
    _saved()
    bad = presets.presets_dir() / "bad.json"
    bad.write_text(json.dumps(body))
    assert presets.list_presets() == ["Meeting"]
    with pytest.raises(presets.PresetError, match=r"^Preset file .*bad\.json is broken \(.+\); save the preset"):
        presets._read(bad)


def test_a_deeply_nested_or_huge_preset_file_is_left_out_of_the_list():
    """Before: ``json.loads`` of 100 000 nested brackets raised RecursionError out of the list, and
    a 50 MB file was read whole. Now both are broken files (settings' reader caps the size)."""
    _saved()
    (presets.presets_dir() / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (presets.presets_dir() / "huge.json").write_bytes(b" " * (S.MAX_SETTINGS_BYTES + 10) + b"{}")
    assert presets.list_presets() == ["Meeting"]
    with pytest.raises(presets.PresetError, match="over 1024 kB"):
        presets._read(presets.presets_dir() / "huge.json")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
def test_saving_a_preset_on_a_full_or_read_only_disk_says_so_in_one_sentence(monkeypatch, code):
    """Before: the raw OSError ("[Errno 28] No space left on device") went to the user (or, from the
    settings window's delete, out of the Qt slot). Now one sentence, the earlier preset unchanged,
    no temporary file left behind."""
    from livecam import private_files

    _saved()
    path = presets.presets_dir() / "meeting.json"
    before = path.read_bytes()

    def full(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(private_files.os, "fsync", full)
    with pytest.raises(presets.PresetError) as caught:
        presets.save_preset("Meeting", S.Settings())
    said = str(caught.value)
    assert said.startswith("The preset 'Meeting' was not saved to ") and "Errno" not in said
    assert said.endswith(f": {private_files.reason(OSError(code, ''))}.")
    assert path.read_bytes() == before
    assert sorted(p.name for p in presets.presets_dir().iterdir()) == ["meeting.json"]


def test_deleting_a_preset_on_a_read_only_disk_says_so_in_one_sentence(monkeypatch):
    """Before: ``delete_preset`` let the OSError out; the settings window catches PresetError only,
    so the delete button raised inside a Qt slot. Now one sentence and the preset is still there."""
    from pathlib import Path

    _saved()

    def read_only(self, *a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(presets.PresetError, match=r"^The preset 'Meeting' was not deleted: the file system is "
                                                   r"read-only\.$"):
        presets.delete_preset("Meeting")
    assert presets.list_presets() == ["Meeting"]


def test_a_preset_kept_as_a_link_stays_a_link(tmp_path):
    """Before: saving over a preset that is a symbolic link (a dotfiles folder) replaced the link with
    a plain file (the brief: a user's file is never replaced; settings.json already kept its link).
    Now the one writer, ``write_private``, writes where the link points, 0600."""
    _saved()
    elsewhere = tmp_path / "dotfiles"
    elsewhere.mkdir(mode=0o700)
    target = elsewhere / "meeting.json"
    link = presets.presets_dir() / "meeting.json"
    os.replace(link, target)
    link.symlink_to(target)
    presets.save_preset("Meeting", S.update(S.Settings(), background={"mode": "blur", "blur": 20}))
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["settings"]["background"]["blur"] == 20
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert presets.load_preset("Meeting")["background"]["blur"] == 20


# ------------------------------------------------------------------ one call that may never return


def test_oneshot_hands_back_the_result_the_error_or_keeps_waiting_no_longer_than_asked():
    from livecam.oneshot import OneShot

    ok = OneShot(lambda: [1, 2])
    assert ok.wait(5) and ok.result == [1, 2] and ok.error is None and ok.done.is_set()

    failed = OneShot(lambda: 1 / 0)
    assert failed.wait(5) and isinstance(failed.error, ZeroDivisionError) and failed.result is None

    gate = threading.Event()
    stuck = OneShot(lambda: gate.wait(30) and "late", name="livecam-test-stuck")
    assert not stuck.wait(0.05) and not stuck.done.is_set() and stuck.running_for() >= 0.05
    # A daemon thread: one that never returns cannot hold the process's exit.
    (thread,) = [t for t in threading.enumerate() if t.name == "livecam-test-stuck"]
    assert thread.daemon
    gate.set()
    assert stuck.wait(5) and stuck.result == "late"


def test_oneshot_finished_within_counts_only_time_the_process_ran(monkeypatch):
    """A stop (the clock jumps, nothing ran) gives the call its limit afresh; a call still running once
    the process has run for the limit is not finished."""
    from live_doubles import StoppedClock
    from livecam.oneshot import OneShot

    clock = StoppedClock(monkeypatch)
    clock.skip(10.0, after=0.05)
    slow = OneShot(lambda: time.sleep(0.4) or "opened")
    assert slow.finished_within(0.3) and slow.result == "opened"

    gate = threading.Event()
    stuck = OneShot(lambda: gate.wait(30))
    started = time.perf_counter()
    assert not stuck.finished_within(0.1)
    assert time.perf_counter() - started < 1.0
    gate.set()


class _FakeCapture:
    """cv2.VideoCapture for the listing off Linux: ``opens`` says which indices exist, ``stuck``
    which block in open until the event is set, ``broken`` which raise (cv2.error's stand-in)."""

    def __init__(self, index, opens=(), stuck=(), broken=(), gate=None, released=None):
        if index in broken:
            raise RuntimeError(f"cv2.error: backend failed for {index}")
        if index in stuck:
            gate.wait(30)
        self.index, self._open, self._released = index, index in opens, released

    def isOpened(self):
        return self._open

    def release(self):
        self._released.append(self.index)


def _off_linux(monkeypatch, probe_s=5.0, **fake):
    import platform

    import cv2

    from livecam import devices

    released: list = []
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    monkeypatch.setattr(devices, "PROBE_S", probe_s, raising=False)
    monkeypatch.setattr(cv2, "VideoCapture", lambda index: _FakeCapture(index, released=released, **fake))
    return devices, released


def test_listing_cameras_off_linux_stops_at_the_first_missing_index_and_releases_each(monkeypatch):
    """A promise that held, kept: indices 0 and 1 open, 2 does not; every capture is released."""
    devices, released = _off_linux(monkeypatch, opens={0, 1, 5})
    assert devices.list_cameras() == [{"index": 0, "path": "", "name": "Camera 0"},
                                      {"index": 1, "path": "", "name": "Camera 1"}]
    assert released == [0, 1, 2]


def test_listing_cameras_off_linux_passes_a_stuck_driver_with_one_sentence(monkeypatch, caplog):
    """Before: ``list_cameras`` off Linux opened each index in the caller's thread with no deadline;
    a driver stuck in open froze the settings window's camera list, ``livecam doctor`` and the
    "auto" start for as long as it blocked. Now the cameras before it are listed, and one sentence."""
    import logging

    gate = threading.Event()
    devices, _ = _off_linux(monkeypatch, probe_s=0.3, opens={0, 1}, stuck={1}, gate=gate)
    caplog.set_level(logging.WARNING, "livecam")
    try:
        assert _in_thread(devices.list_cameras, 5.0) == [{"index": 0, "path": "", "name": "Camera 0"}]
    finally:
        gate.set()
    (said,) = [r.getMessage() for r in caplog.records if "did not answer" in r.getMessage()]
    assert said == ("Camera 1 did not answer within 0.3 s (its driver is stuck); LiveCam lists the cameras "
                    "before it only.")


def test_listing_cameras_off_linux_survives_a_backend_that_raises(monkeypatch):
    """Before: a cv2.error from opening index 1 (a backend that fails instead of saying 'not
    opened') left ``list_cameras``, and with it the doctor and the settings window, with a traceback.
    Now it ends the listing like a missing index."""
    devices, _ = _off_linux(monkeypatch, opens={0, 1, 2}, broken={1})
    assert devices.list_cameras() == [{"index": 0, "path": "", "name": "Camera 0"}]


# ------------------------------------------------------------------ OpenCV decoding a user's picture


def _picture(tmp_path):
    import cv2
    import numpy as np

    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), np.full((60, 80, 3), 128, np.uint8))
    return path


def _imdecode_raises(monkeypatch, text):
    import cv2

    from livecam import media

    def refuse(*a, **k):
        err = cv2.error(f"OpenCV(5.1.0) loadsave.cpp:80: error: (-215:Assertion failed) {text} in function 'x'")
        err.err = text
        raise err

    monkeypatch.setattr(media.cv2, "imdecode", refuse)


@pytest.mark.parametrize("text, why", [
    ("pixels <= CV_IO_MAX_IMAGE_PIXELS", "it has more pixels than OPENCV_IO_MAX_IMAGE_PIXELS allows"),
    ("TIFFReadRGBATile failed", "OpenCV's decoder failed on it"),
])
def test_a_picture_opencv_refuses_is_one_sentence_for_every_caller(tmp_path, monkeypatch, text, why):
    """Before: ``cv2.imdecode`` raising (found for real with OPENCV_IO_MAX_IMAGE_PIXELS=1000 set)
    ended ``livecam run --source photo.jpg`` with cv2's traceback, and a background picture showed
    OpenCV's assertion text as the reason. Now ``read_image``, the one decoder of users' pictures,
    says it in one sentence: the image source, the background and the avatar photo all get it."""
    from livecam import capture, media
    from livecam.analysis.avatar_photo import AvatarPhotoError, read_photo
    from livecam.effects.background import BackgroundError, load_background_image

    path = _picture(tmp_path)
    _imdecode_raises(monkeypatch, text)
    sentence = f"Image {path} cannot be decoded ({why}); choose another picture."
    with pytest.raises(media.ImageError) as caught:
        media.read_image(path, cover=(1280, 720))
    assert str(caught.value) == sentence
    with pytest.raises(capture.CaptureError, match=r"^Image .* cannot be decoded"):
        capture.ImageSource(path, 1280, 720)
    with pytest.raises(BackgroundError, match=r"^Image .* cannot be decoded"):
        load_background_image(str(path), (1280, 720))
    with pytest.raises(AvatarPhotoError, match=r"^Avatar photo: Image .* cannot be decoded"):
        read_photo(path)


@pytest.mark.parametrize("shape, dtype", [
    ((0, 0, 3), "uint8"), ((0, 80, 3), "uint8"), ((60, 0, 3), "uint8"),  # empty
    ((60, 80), "uint8"), ((60, 80, 4), "uint8"), ((60, 80, 3), "uint16"), ((60, 80, 3), "float32"),
])
def test_a_decoded_picture_of_an_odd_shape_or_type_is_refused_in_one_sentence(tmp_path, monkeypatch, shape, dtype):
    """Before: an empty decode (0 rows or columns) divided by zero while being fitted
    (ZeroDivisionError instead of a sentence), or came back as a 0-pixel picture. The other odd
    layouts were refused already (a guard that held)."""
    import numpy as np

    from livecam import media

    path = _picture(tmp_path)
    monkeypatch.setattr(media.cv2, "imdecode", lambda *a, **k: np.zeros(shape, dtype))
    for kwargs in ({}, {"cover": (1280, 720)}, {"max_side": 512}):
        with pytest.raises(media.ImageError, match=r"cannot be decoded \(damaged or cut short\)"):
            media.read_image(path, **kwargs)


# ------------------------------------------------------------------ a render whose encoder dies midway


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="needs ffmpeg")
def test_a_render_that_fails_midway_leaves_nothing_under_its_name(tmp_path):
    """Found with a real full disk (a 300 kB tmpfs): ``livecam render clip.mp4 small/r.mp4`` said
    "The disk is full ... Nothing was written to small/r.mp4." and exit 1, and small/r.mp4 was
    there, a 1 s cut of the render. A write that failed gave the file its name at once, even for a
    render, which takes its name only when complete; render's discard then found nothing to remove.
    Injected here as ffmpeg dying mid-render (what a full disk makes it do)."""
    import signal

    import numpy as np

    from livecam import mp4_fragments, recording
    from livecam.sinks import OutputFailed

    out = tmp_path / "r.mp4"
    writer = recording.VideoWriter(out, 64, 48, 15, timing="frames", publish="end")
    # Frames until ffmpeg has put at least one whole one-second fragment on disk: the encoder holds
    # frames back before it writes (45 frames were not always enough on a busy machine).
    deadline, i = time.monotonic() + 60, 0
    while mp4_fragments._whole_fragments(writer._fd)[1] == 0 and time.monotonic() < deadline:
        writer.write(np.full((48, 64, 3), (i * 5) % 256, np.uint8))
        i += 1
        if i % 15 == 0:
            threading.Event().wait(0.05)
    assert mp4_fragments._whole_fragments(writer._fd)[1] > 0
    os.killpg(writer._proc.pid, signal.SIGKILL)
    writer._proc.wait()
    with pytest.raises(OutputFailed):
        for _ in range(1000):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    assert not out.exists(), "the cut render took the target's name"
    writer.discard()  # what render does after OutputFailed
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ------------------------------------------------------------------ a photo swapped while its face is fitted


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_an_avatar_photo_swapped_for_a_fifo_while_it_is_fitted_does_not_block_the_builder(
        tmp_path, monkeypatch, caplog):
    """Before: the photo was checked and decoded, its face fitted (hundreds of ms of models), and
    only then copied into the config folder by path with ``read_bytes``. Swapped meanwhile for a
    FIFO, the copy waited for a writer for good, on the one builder thread every effect is built
    on (later effect changes never applied); swapped for a link to /dev/zero it read without end.
    Now the kept copy is made from the bytes that were decoded and checked: the file is not read
    again, so what it was swapped for is never opened."""
    import logging
    import shutil

    import numpy as np

    from livecam.analysis import avatar_photo

    photo = tmp_path / "me.png"
    shutil.copy(os.path.join(os.path.dirname(__file__), "fixtures", "sk_astronaut.png"), photo)

    def fit_and_swap(image, name="photo", provider="auto", threads=1):
        photo.unlink()
        os.mkfifo(photo)  # the swap lands while the models run
        return np.zeros((468, 3), np.float32), (0.0, 0.0, 0.0)

    monkeypatch.setattr(avatar_photo, "fit_face", fit_and_swap)
    # Its own memory of fits: the fake fit must not be remembered for the real photo's later tests.
    monkeypatch.setattr(avatar_photo, "_FITS", type(avatar_photo._FITS)())
    caplog.set_level(logging.WARNING, "livecam")
    try:
        loaded = _in_thread(lambda: avatar_photo.load_avatar_photo(photo), 10.0)
    finally:
        if _has_reader(photo):
            os.close(os.open(photo, os.O_WRONLY | os.O_NONBLOCK))
    assert loaded.image.shape[2] == 3 and loaded.path.parent == avatar_photo.store_dir()
    fixture = os.path.join(os.path.dirname(__file__), "fixtures", "sk_astronaut.png")
    assert [s.path for s in avatar_photo.stored_avatars()] == [loaded.path]
    with open(fixture, "rb") as f:
        assert loaded.path.read_bytes() == f.read()
    assert not any("Could not copy avatar photo" in r.getMessage() for r in caplog.records)


def test_copy_private_copies_a_regular_file_exactly_and_refuses_anything_else(tmp_path):
    from livecam import private_files

    source = tmp_path / "a.bin"
    source.write_bytes(bytes(range(256)) * 40)
    copy = private_files.copy_private(source, tmp_path / "cfg" / "b.bin")
    assert copy.read_bytes() == source.read_bytes() and stat.S_IMODE(copy.stat().st_mode) == 0o600
    with pytest.raises(OSError, match="not a regular file"):
        private_files.copy_private(tmp_path, tmp_path / "cfg" / "c.bin")
    if os.path.exists("/dev/zero"):
        with pytest.raises(OSError, match="not a regular file"):
            private_files.copy_private("/dev/zero", tmp_path / "cfg" / "d.bin")
    assert sorted(p.name for p in (tmp_path / "cfg").iterdir()) == ["b.bin"]


# ------------------------------------------------------------------ a clock that goes backwards


class _RecordingStop:
    """A stop event that never fires; each wait moves the fake clock on by what it asked for."""

    def __init__(self, now: list):
        self.now = now
        self.waits: list[float] = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        self.now[0] += timeout
        return False

    def is_set(self):
        return False


def test_the_frame_clock_never_waits_out_a_clock_that_went_backwards(monkeypatch):
    """Before: ``FrameClock.wait`` slept until its next tick on the clock as it was; a monotonic
    clock that went back 1000 s (a virtual machine's, or an injected one) froze the camera source
    and the paced sender for 1000 s. Now a wait is at most one period, and the ticks go on."""
    from livecam import capture

    now = [1000.0]
    monkeypatch.setattr(capture.time, "monotonic", lambda: now[0])
    stop = _RecordingStop(now)
    clock = capture.FrameClock(30, stop)
    for _ in range(3):
        assert clock.wait()
    now[0] -= 1000.0  # back by 1000 s
    for _ in range(10):
        assert clock.wait()
    assert max(stop.waits) <= clock.period + 1e-9, stop.waits
    # Before the jump and after it the clock ticks once a period, as it always did.
    assert stop.waits[:3] + stop.waits[-5:] == pytest.approx([clock.period] * 8)


# ------------------------------------------------------------------ a camera handing over samples OpenCV cannot scale


class _OddCamera:
    """A cv2.VideoCapture stand-in whose reads hand over ``frame`` (or raise it, when it is an exception)."""

    def __init__(self, frame):
        self.frame = frame

    def isOpened(self):
        return True

    def set(self, prop, value):
        return True

    def read(self):
        if isinstance(self.frame, Exception):
            raise self.frame
        return True, self.frame.copy()

    def release(self):
        pass


@pytest.mark.parametrize("frame", ["int32", "int8", "float16", "bool", "read-raises"])
def test_a_camera_whose_frames_opencv_cannot_scale_costs_frames_not_the_camera(frame, caplog, monkeypatch):
    """Before: a camera read that handed over 32-bit, signed 8-bit, half-float or boolean samples at
    another size than asked for (a depth or thermal camera's raw mode, a backend's odd conversion)
    made ``cover_fit`` raise inside the source thread: "Camera 7 stopped unexpectedly (OpenCV(5.1.0)
    /io/opencv/modules/imgproc/src/resize.cpp:3405: error: (-215:Assertion failed) ...", and the
    camera was closed and opened again, over and over. A read that raised (cv2.error from a device
    being unplugged) did the same. Now such a frame goes on as it came, as one of the requested size
    always did (the pipeline sends the card for it), and a read that raises is a failed read."""
    import logging

    import cv2
    import numpy as np

    from livecam import capture
    from livecam.pipeline import Pipeline

    if frame == "read-raises":
        odd = cv2.error("OpenCV(5.1.0) cap_v4l.cpp:1013: error: (-2:Unspecified error) VIDIOC_DQBUF: No such device")
    else:
        odd = np.ones((60, 80, 3), np.bool_ if frame == "bool" else getattr(np, frame))
    caplog.set_level(logging.WARNING, "livecam")
    from livecam import devices

    monkeypatch.setattr(devices, "list_cameras", lambda: [{"index": 7, "path": "/dev/video7", "name": "Depth"}])
    source = capture.CameraSource(7, 64, 48, 30, opener=lambda d: _OddCamera(odd))
    with source:
        got = source.latest(after=-1, timeout=2.0)
        for _ in range(20):
            got = source.latest(after=got.index, timeout=2.0)
        said = source.error
    assert not any("OpenCV(" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    if frame == "read-raises":
        assert said.startswith("Camera 7 is not available (unplugged or in use by another app)"), said
        assert got.placeholder
        return
    assert said is None and source.open_attempts == 1 and not got.placeholder and got.image.dtype == odd.dtype
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur", "blur": 60}))
    try:
        out = pipeline.process(got.image)
    finally:
        pipeline.close()
    assert out.dtype == np.uint8 and out.shape == (60, 80, 3) and len(np.unique(out.reshape(-1, 3), axis=0)) == 1


# ------------------------------------------------------------------ a FIFO given as a source or background


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_given_as_source_or_background_is_one_sentence_not_a_hang(tmp_path):
    """Found for real: ``livecam run --source /tmp/pipe`` (a FIFO whose name has no video or image
    suffix) and ``--background /tmp/pipe`` hung for good: ``media_kind`` sniffed the first bytes
    with a blocking ``open``, which waits for a writer (the GUI's background picker called it on
    the UI thread too). Now it opens without blocking and sniffs regular files only."""
    from livecam import capture, media

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    try:
        assert _in_thread(lambda: media.media_kind(fifo), 5.0) == "unknown"
        with pytest.raises(capture.CaptureError, match=r"is neither a video .* nor an image"):
            _in_thread(lambda: capture.open_source(S.CaptureSettings(source=str(fifo))), 5.0)
    finally:
        if _has_reader(fifo):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert media.media_kind(os.path.join(os.path.dirname(__file__), "fixtures", "sk_astronaut.png")) == "image"


# ------------------------------------------------------------------ livecam avatars remove on a read-only disk


def _kept_photo_on_a_read_only_disk(monkeypatch):
    """A kept avatar photo copy, on a config folder whose files can no longer be removed (EROFS)."""
    from pathlib import Path

    from livecam.analysis import avatar_photo
    from livecam.private_files import copy_private, private_dir

    private_dir(avatar_photo.store_dir())
    kept = copy_private(os.path.join(os.path.dirname(__file__), "fixtures", "sk_astronaut.png"),
                        avatar_photo.store_dir() / avatar_photo.stored_name("/photos/me.png"))

    def read_only(self, *a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "unlink", read_only)
    return kept


def test_removing_a_kept_avatar_photo_on_a_read_only_disk_is_one_sentence(monkeypatch, capsys):
    """Found for real (a tmpfs remounted read-only): ``livecam avatars remove NAME`` ended with
    pathlib's traceback ("OSError: [Errno 30] Read-only file system") and exit 1 from Python, not
    from LiveCam. Now one sentence, exit 1, and the copy is still there."""
    from livecam import cli

    kept = _kept_photo_on_a_read_only_disk(monkeypatch)
    assert cli.main(["avatars", "remove", kept.name]) == 1
    err = capsys.readouterr().err
    assert err == f"livecam: The avatar photo {kept.name} was not removed: the file system is read-only.\n"
    assert kept.is_file()


def test_removing_a_kept_avatar_photo_on_a_read_only_disk_is_one_sentence_in_the_settings_window_too(monkeypatch):
    """The settings window showed "[Errno 30] Read-only file system: '…'": the sentence is now made
    where the copy is removed (avatar_photo.remove_stored_avatar), for the CLI and the window alike."""
    from livecam.analysis import avatar_photo

    kept = _kept_photo_on_a_read_only_disk(monkeypatch)
    with pytest.raises(avatar_photo.AvatarPhotoError) as err:
        avatar_photo.remove_stored_avatar(kept.name)
    assert str(err.value) == f"The avatar photo {kept.name} was not removed: the file system is read-only."
    assert kept.is_file()


# ------------------------------------------------------------------ the log file on a full disk


class _FullDisk:
    """A log file's stream on a disk that has just filled up."""

    encoding = "utf-8"

    def seek(self, offset, whence=0):
        return 0

    def tell(self):
        return 0

    def write(self, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self):
        pass


def test_a_log_file_on_a_full_disk_is_said_once_not_with_a_traceback_per_line(capsys):
    """Found for real (the config folder on a full tmpfs): every line LiveCam logged printed
    "--- Logging error ---", a traceback and the call stack to the terminal (the logging module's
    default), dozens of lines between the sentences the user needs. Now one sentence, once, and the
    sentences themselves as before."""
    import logging

    from livecam.cli import log_path, remove_log_handlers, setup_logging

    setup_logging()
    try:
        (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_livecam", False)
                      and getattr(h, "baseFilename", None)]
        handler.stream = _FullDisk()
        for n in range(3):
            logging.getLogger("livecam").warning("Sentence %d.", n)
        logging.getLogger("livecam").debug("a detail only the log file would get")
    finally:
        remove_log_handlers()
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err, err
    assert err.splitlines() == [
        "livecam: Sentence 0.",
        f"livecam: The log file {log_path()} cannot be written (the disk is full); LiveCam goes on without it.",
        "livecam: Sentence 1.",
        "livecam: Sentence 2.",
    ]


# ------------------------------------------------------------------ a settings file or preset that is a link loop


def test_a_settings_file_or_preset_that_is_a_link_loop_is_one_sentence_and_stays():
    """Found for real: with settings.json a symbolic link to itself (a dotfiles setup gone wrong),
    ``livecam run --save`` ended with pathlib's "RuntimeError: Symlink loop from ..." traceback
    (resolving the link to write where it points raises RuntimeError, not OSError). Now
    ``write_private`` says it as an OSError, the one sentence is the caller's, and the link stays."""
    from livecam import private_files

    S.config_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    path = S.settings_path()
    path.symlink_to(path.name)
    with pytest.raises(S.SettingsError) as caught:
        S.save(S.Settings())
    assert str(caught.value) == (f"The settings were not saved to {path}: it is a symbolic link that leads round in "
                                 "a circle.")
    assert os.readlink(path) == path.name and S.load() == S.Settings()

    _saved()
    preset = presets.presets_dir() / "meeting.json"
    preset.unlink()
    preset.symlink_to("meeting.json")
    with pytest.raises(presets.PresetError, match=r"^The preset 'Meeting' was not saved to .*: it is a symbolic link "
                                                   r"that leads round in a circle\.$"):
        _saved()
    assert os.readlink(preset) == "meeting.json" and presets.list_presets() == []
    assert private_files.reason(OSError(errno.ELOOP, "Too many levels of symbolic links")) == "it is a symbolic link"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
_preset_like = st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.text(max_size=12), _json),
    "settings": st.one_of(_json, st.dictionaries(st.sampled_from([*presets.PRESET_SECTIONS, "capture", "x"]),
                                                 st.one_of(_json, st.dictionaries(st.text(max_size=10), _json,
                                                                                  max_size=3)), max_size=3)),
})


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(_json, _preset_like))
def test_any_json_in_a_preset_file_gives_a_list_or_one_sentence_never_a_traceback(body):
    """Whatever JSON a preset file holds, the list still comes (without it when it is broken) and
    loading it by hand is a PresetError whose text is one line."""
    folder = presets.presets_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "fuzz.json"
    path.write_text(json.dumps(body))
    try:
        listed = presets.all_presets()
        try:
            got = presets._read(path)
        except presets.PresetError as exc:
            assert "\n" not in str(exc)
            assert not listed
        else:
            assert list(listed) == [got["name"]] and isinstance(got["settings"], dict)
            presets.apply_preset(got["name"], S.Settings())
    finally:
        path.unlink()


def test_a_copied_preset_file_is_not_listed_under_a_name_that_leads_elsewhere():
    """Found by the fuzz above: a preset file copied or renamed by hand (copy.json holding the preset
    "Work") was listed as "Work", and choosing it said "There is no preset called 'Work'" (its file
    would be work.json); a copy keeping the name "Meeting" was listed as Meeting while another file
    was loaded. Now such a file is broken, with a sentence that says how to mend it."""
    _saved()
    body = json.loads((presets.presets_dir() / "meeting.json").read_text())
    (presets.presets_dir() / "copy.json").write_text(json.dumps({**body, "name": "Work"}))
    assert presets.list_presets() == ["Meeting"]
    with pytest.raises(presets.PresetError, match=r"holds the preset 'Work', whose file would be work\.json; rename "
                                                   r"the file or save the preset again\.$"):
        presets._read(presets.presets_dir() / "copy.json")
    os.replace(presets.presets_dir() / "copy.json", presets.presets_dir() / "work.json")
    assert presets.list_presets() == ["Meeting", "Work"] and presets.load_preset("Work") == body["settings"]


# ------------------------------------------------------------------ a ~user nobody knows


def test_a_path_with_an_unknown_tilde_user_is_one_sentence_for_source_recording_and_render():
    """Found for real: ``livecam run --source '~nosuchuser/clip.mp4'``, ``run --output file
    --output-file '~nosuchuser/x.mp4'`` and ``render clip.mp4 '~nosuchuser/o.mp4'`` ended with
    "RuntimeError: Could not determine home directory." (pathlib's ``expanduser`` raises
    RuntimeError, which nobody caught). Now each is one sentence."""
    from livecam import capture, recording
    from livecam.sinks import OutputError

    user = "~livecam-no-such-user-7"
    with pytest.raises(capture.CaptureError, match=r"is not a usable file name; pass a camera index"):
        capture.open_source(S.CaptureSettings(source=f"{user}/clip.mp4"))
    for make in (lambda p: recording.VideoWriter(p, 64, 48, 15), lambda p: recording.FileOutput(p, 64, 48, 15)):
        with pytest.raises(OutputError, match=rf"^Cannot write {user}/x\.mp4: no home folder is known for its ~ "
                                              r"part; give the full path\.$"):
            make(f"{user}/x.mp4")
