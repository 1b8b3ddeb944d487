"""Trust round 52: the idle watch at the kernel's limits, and a user's picture or video whose header
claims more than any file needs.

1. inotify refused (the per-user limit of inotify instances reached at the watch's start, EMFILE, or of
   watches, ENOSPC: "System limit for number of file watchers reached", common on a desktop with editors
   and sync tools running): the OSError left ``idle.watch_output`` and ended ``livecam run`` with a
   traceback before its first frame; in the tray the state line said "LiveCam could not start: [Errno 24]
   Too many open files" while the stream ran on under it; and a watch refused at ``add_watch`` left its
   inotify descriptor open. The watch is a saving, not the stream: LiveCam now stays on, says why in one
   sentence naming the limit (never "the disk is full" for ENOSPC), and holds no descriptor for it.
2. /proc that cannot be listed at the moment of a look (the process at its open-file limit): the look
   answered "nobody has the camera open", so an app in a call got the paused card half a second later,
   and kept it (the app holds the camera: no open or close event came to make LiveCam look again). A
   look that cannot be made now changes nothing, and is made again shortly.
3. A photo whose Exif block (or a TIFF file) says BigTIFF with its first IFD at 2**63 or beyond, a
   damaged or hostile picture from the web: the header probe's seek raised ValueError ("cannot fit 'int'
   into an offset-sized integer"), which ``media._opened`` did not take for a damaged header:
   ``livecam run --source photo.jpg`` ended in a traceback, and as a background or avatar photo it was
   "a fault inside LiveCam (ValueError)", the picture hidden behind a full blur for the session with no
   word on which picture or what to do. Now the picture's own sentence ("... or it is damaged; choose
   another picture"). Drawn by hypothesis over the TIFF header's fields in every container LiveCam
   reads one from (Exif in JPEG, eXIf in PNG, EXIF in WebP, a bare TIFF).
4. A video whose frames are far larger than any camera makes, as the background, the source or a
   render's input: pictures are refused over 30 MP before decoding (media.MAX_PIXELS), videos were
   decoded at any size, frame after frame for as long as they played. Found for real: a 4 MB MJPEG of
   12000x12000 frames as ``--background`` took ``livecam run`` to 2.6 GB resident (0.32 GB with the same
   video at 1280x720); MJPEG allows 65535x65535, 13 GB a frame: the out-of-memory killer or a machine
   swapping to a halt mid-call. The one opener of video files (capture._video_capture) now refuses
   frames over 8K (media.MAX_VIDEO_PIXELS) from the container's header, before any is decoded, with one
   sentence saying what to do.

Each test failed on the start tree (1744be2). tmp folders only; no timed tests (a bound on a wait is a
bound, never a measurement).
"""
from __future__ import annotations

import errno
import logging
import os
import platform
import struct
import subprocess
import threading
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS

inotify_simple = pytest.importorskip("inotify_simple")
if platform.system() != "Linux":
    pytest.skip("idle detection is Linux-only", allow_module_level=True)

from hypothesis import given  # noqa: E402
from hypothesis import settings as hsettings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from livecam import app, capture, cli, devices, idle, media, sinks  # noqa: E402
from processes import needs_ffmpeg  # noqa: E402
from livecam.settings import Settings, update  # noqa: E402
from live_doubles import until  # noqa: E402
from test_idle import Changes, FileBackedCamera, Reader  # noqa: E402
from test_tray_late_camera import _bridge, late  # noqa: E402,F401 - late is the fixture below

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


class _WatchesUsedUp(inotify_simple.INotify):
    """The kernel's answer once the user's inotify watches are all taken (fs.inotify.max_user_watches)."""

    def add_watch(self, path, mask):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _instances_used_up(*_args, **_kwargs):
    raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))  # inotify_init1 at fs.inotify.max_user_instances


@pytest.mark.parametrize(("refused", "limit"), [(_instances_used_up, "max_user_instances"),
                                                (_WatchesUsedUp, "max_user_watches")])
def test_livecam_run_stays_on_when_the_kernel_refuses_to_watch_the_camera(
    refused, limit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    device = tmp_path / "video10"
    device.write_bytes(b"")
    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path / "sys")
    monkeypatch.setattr(sinks, "_default_backend", lambda: "livecam-file")
    monkeypatch.setattr(inotify_simple, "INotify", refused)
    FileBackedCamera.path, FileBackedCamera.instances = str(device), []
    pyvirtualcam.register_backend("livecam-file", FileBackedCamera)
    settings = update(Settings(), capture={"source": str(FIXTURES / "sk_astronaut.png"), "width": 96, "height": 64,
                                           "fps": 30},
                      background={"mode": "off"}, output={"kind": "virtualcam", "fps": 30})
    before = _open_fds()
    try:
        with caplog.at_level(logging.INFO):
            assert app.run_live(settings, frames=15) == 0  # it raised OSError at the watch's start
    finally:
        BACKENDS.pop("livecam-file", None)
    camera = FileBackedCamera.instances[0]
    assert len(camera.times) >= 15  # the stream went out, as with nobody counted
    said = [r.getMessage() for r in caplog.records if "refused to watch" in r.getMessage()]
    assert len(said) == 1 and limit in said[0] and "disk" not in said[0]
    assert "stays on" in said[0] and "\n" not in said[0]
    assert not [r for r in caplog.records if r.exc_info]  # no traceback, in the log either
    assert until(lambda: _open_fds() <= before, 5), "a descriptor of the refused watch was left open"


def test_the_tray_says_on_when_the_kernel_refuses_to_watch_the_camera(
    qtbot, late, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the start raised past a running session: the state line said "LiveCam could not start: [Errno
    24] Too many open files" (the library's words) while the camera and the stream ran on under it."""
    node = tmp_path / "video10"
    node.write_bytes(b"")
    late.path, late.there = str(node), True
    monkeypatch.setattr(inotify_simple, "INotify", _instances_used_up)
    bridge = _bridge(always_on=False)
    try:
        bridge.start()
        qtbot.waitUntil(lambda: bridge.state in ("on", "error"), timeout=20000)
        assert bridge.state == "on", bridge.message
        qtbot.waitUntil(lambda: bool(late.instances) and late.instances[0].frames >= 5, timeout=10000)
        # The tray opens its camera off the control thread (tray49): the watch starts, and is refused, once it opens.
        watch = bridge._session.watch
        assert getattr(watch, "watch", watch) is None and not bridge._session.live.idle  # stays on, never paused
        assert bridge.state == "on", bridge.message
        said = [r.getMessage() for r in caplog.records if "refused to watch" in r.getMessage()]
        assert len(said) == 1 and "stays on" in said[0]
        assert not [r for r in caplog.records if r.exc_info]  # no traceback, in the log either
    finally:
        bridge.shutdown(10)


@pytest.mark.parametrize("refused", ["/proc", "/proc/{pid}/fd"])
def test_an_app_in_a_call_keeps_the_picture_while_proc_cannot_be_listed(
    refused: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = tmp_path / "video10"
    device.write_bytes(b"")
    real_listdir = os.listdir
    at_limit = threading.Event()
    call = Reader(device)  # the call app, holding the camera for the whole call

    def listdir(path="."):
        if at_limit.is_set() and os.fspath(path) == refused.format(pid=call.proc.pid):
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))  # this process at its open-file limit
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    changes = Changes()
    try:
        with idle.ViewerWatch(str(device), changes, grace_s=0.1).start() as watch:
            threading.Event().wait(0.3)
            at_limit.set()
            # A browser listing the cameras opens and closes each one.
            subprocess.run(["sh", "-c", 'exec 3<"$1"', "sh", str(device)], check=True, timeout=10)
            threading.Event().wait(0.5)  # the grace, several times over
            assert changes.states == [] and watch.watched  # it reported "nobody watches"
            at_limit.clear()
            threading.Event().wait(0.5)
            assert changes.states == [] and watch.viewers == {call.proc.pid}
            call.close()  # the call ends: LiveCam still goes idle as before
            assert until(lambda: changes.states == [False], 5)
    finally:
        if call.proc.poll() is None:
            call.proc.kill()


# ---------------------------------------------------------------- 3. a TIFF structure's offsets


def _tiff(endian: str, version: int, offset: int, tags: dict[int, int]) -> bytes:
    """A TIFF structure: its header (classic or BigTIFF) pointing at ``offset``, and an IFD of SHORT
    tags at byte 16 (where a sane offset points)."""
    e = "<" if endian == "II" else ">"
    if version == 43:
        head = endian.encode() + struct.pack(e + "HHHQ", 43, 8, 0, offset)
        ifd = struct.pack(e + "Q", len(tags)) + b"".join(struct.pack(e + "HHQHHI", t, 3, 1, v, 0, 0)
                                                         for t, v in tags.items())
    else:
        head = endian.encode() + struct.pack(e + "HI", version, offset) + bytes(8)
        ifd = struct.pack(e + "H", len(tags)) + b"".join(struct.pack(e + "HHIHH", t, 3, 1, v, 0)
                                                         for t, v in tags.items())
    return head + ifd


def _encoded(suffix: str) -> bytes:
    return cv2.imencode(suffix, np.full((48, 64, 3), 120, np.uint8))[1].tobytes()


def _in_container(container: str, tiff: bytes) -> bytes:
    """``tiff`` where LiveCam reads one: as a photo's orientation (Exif in JPEG, eXIf in PNG, EXIF in an
    extended WebP), or as the picture itself."""
    if container == "jpeg":
        exif = b"Exif\x00\x00" + tiff
        jpeg = _encoded(".jpg")
        return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpeg[2:]
    if container == "png":
        png = _encoded(".png")
        chunk = b"eXIf" + tiff
        return png[:33] + struct.pack(">I", len(tiff)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]
    if container == "webp":
        simple = _encoded(".webp")[12:]  # its VP8 chunk
        vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x08, 0, 0, 0]) + (63).to_bytes(3, "little") + \
            (47).to_bytes(3, "little")
        exif = b"EXIF" + struct.pack("<I", len(tiff)) + tiff + bytes(len(tiff) & 1)
        body = b"WEBP" + vp8x + simple + exif
        return b"RIFF" + struct.pack("<I", len(body)) + body
    return tiff


@hsettings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(container=st.sampled_from(["jpeg", "png", "webp", "tiff"]), endian=st.sampled_from(["II", "MM"]),
       version=st.sampled_from([42, 43]), offset=st.integers(0, 2**64 - 1),
       orientation=st.integers(0, 2**16 - 1))
def test_any_tiff_header_in_a_picture_is_a_picture_or_its_one_sentence(
    tmp_path_factory, container: str, endian: str, version: int, offset: int, orientation: int
) -> None:
    if version == 42:
        offset %= 2**32
    path = tmp_path_factory.mktemp("pictures") / f"photo.{container}"
    path.write_bytes(_in_container(container, _tiff(endian, version, offset, {256: 64, 257: 48, 0x0112: orientation})))
    try:
        info = media.probe_image(path)
    except media.ImageError as exc:  # ValueError from the seek, before
        assert type(exc) is media.ImageError and "choose another picture" in str(exc)
    else:
        assert info.width > 0 and info.height > 0


def test_a_photo_with_a_far_exif_offset_is_one_sentence_at_run(tmp_path: Path, capsys) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(_in_container("jpeg", _tiff("II", 43, 2**63, {0x0112: 6})))
    assert cv2.imread(str(photo)) is not None  # what OpenCV makes of it: a picture
    code = cli.main(["run", "--source", str(photo), "--output", "null", "--frames", "2"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and "offset-sized" not in err  # a traceback, before
    said = [line for line in err.splitlines() if str(photo) in line]
    assert len(said) == 1 and said[0].startswith("livecam: ") and said[0].endswith("choose another picture.")


# ---------------------------------------------------------------- 4. a video's frame size


@pytest.fixture
def over_8k(tmp_path: Path) -> Path:
    """One MJPEG frame just over DCI 8K (8200x4400): 0.2 MB on disk, 108 MB decoded."""
    path = tmp_path / "huge.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "color=c=0x2080c0:s=8200x4400:r=1",
                    "-frames:v", "1", "-c:v", "mjpeg", str(path)], check=True, timeout=60)
    return path


@needs_ffmpeg
def test_a_video_with_frames_over_8k_is_refused_before_it_is_decoded(over_8k: Path, capsys) -> None:
    for reader in (capture.VideoReader, capture.VideoFileSource):  # render's (and the pickers') reader, the source
        with pytest.raises(capture.CaptureError) as caught:  # both decoded it, before
            reader(over_8k).close()
        assert "8200x4400" in str(caught.value) and "save a smaller copy" in str(caught.value)
    code = cli.main(["run", "--source", "demo", "--background", str(over_8k), "--output", "null", "--frames", "2"])
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if str(over_8k) in line]
    assert code == 0 and len(said) == 1 and "megapixel limit for video" in said[0]
    assert said[0].endswith("LiveCam hides the picture behind a full blur until this is fixed.")
