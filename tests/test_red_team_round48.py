"""Trust round 48: the live loop's recovery, the virtual camera's side and the camera's.

1. A virtual camera that failed its first open (v4l2loopback loaded, or OBS's camera started, after LiveCam) was
   never tried again: the stand-in (preview window or nothing) for the whole run. It is now awaited: the sender
   tries it with the reopen back-off while the stand-in gets the frames, and switches once it opens.
2. A device that takes a few frames after every reopen, then fails, was a fresh outage each time: two warnings a
   cycle, the back-off never growing. Now one sentence when the flap starts (with a count), growing back-off.
3. A stop during the virtual camera's open exited 1; a stop is not an error (exit 0, as a stop in the loop).
4. A camera that hands back its frames in a ring of buffers (read k+2 overwrites read k's picture): the check for
   a reused buffer compared with the last frame only, so the frame under the pipeline was overwritten.
"""

from __future__ import annotations

import logging
import os
import platform
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS

import livecam
from livecam import devices, output, pacing, sinks
from livecam.capture import CameraSource
from livecam.pacing import PacedSender
from livecam.settings import OutputSettings
from live_doubles import BackendDouble, CaptureDouble, LateDevice, late_device, until as _until

W, H = 64, 48
ROOT = Path(livecam.__file__).resolve().parent.parent  # the tree under test, for a child process


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def _submit_for(sender: PacedSender, frame: np.ndarray, seconds: float) -> None:
    """``frame`` handed to ``sender`` every 10 ms or so for ``seconds``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        sender.submit(frame, time.monotonic())
        time.sleep(0.01)


@pytest.fixture
def late(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)  # no display: the stand-in is the null output
    with late_device(monkeypatch, tmp_path, "livecam-late-48", "/dev/video-late48") as device:
        yield device


def test_a_virtual_camera_that_appears_after_the_start_gets_the_frames_once_it_is_there(late, caplog) -> None:
    """Before: open_output put the null output in its place for the whole run; the device that came up a moment
    later was never opened (no frame reached it in 10 s)."""
    caplog.set_level(logging.DEBUG, logger="livecam")
    out = output.open_output(OutputSettings(kind="virtualcam", device="", fps=100), W, H)
    assert devices.MODPROBE_FIX in (out.fallback_reason or "")
    frame = np.full((H, W, 3), 90, np.uint8)
    try:
        with PacedSender(out, 100) as sender:
            # Meanwhile the frames go where they went before (here nowhere), tried at the back-off's pace.
            assert _until(lambda: (sender.submit(frame, time.monotonic()), LateDevice.tries >= 5)[1])
            assert not LateDevice.instances
            said_while_away = _warnings(caplog)
            late.there = True
            assert _until(lambda: (sender.submit(frame, time.monotonic()),
                                   bool(LateDevice.instances) and LateDevice.instances[0].frames >= 5)[1])
            assert sender.state == "sending" and sender.status is None
    finally:
        out.close()
    assert LateDevice.instances[0].closed and len(LateDevice.instances) == 1
    # What is wrong and what to do, where the video goes meanwhile: nothing more for every retry.
    assert len(said_while_away) == 2, said_while_away
    assert said_while_away[0].startswith("No virtual camera: ")
    assert said_while_away[1].endswith("; LiveCam switches to the virtual camera once it is there.")
    assert _warnings(caplog)[2:] == ["The virtual camera is there now: LiveCam sends to the virtual camera "
                                     "/dev/video-late48."], _warnings(caplog)


def test_an_awaited_virtual_camera_that_never_comes_is_tried_at_a_modest_rate_without_a_word(late, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="livecam")
    out = output.open_output(OutputSettings(kind="virtualcam", device="", fps=100), W, H)
    frame = np.full((H, W, 3), 90, np.uint8)
    started = LateDevice.tries
    try:
        with PacedSender(out, 100) as sender:
            _submit_for(sender, frame, 1.0)
            status = sender.status or ""
    finally:
        out.close()
    # 0.02 s doubling to 0.1 s over one second: about a dozen tries, not one a tick (100).
    assert 3 <= LateDevice.tries - started <= 20
    assert "not there yet" in status and "attempt" in status
    assert out.stand_in.frames_sent > 50  # the stand-in kept getting its frames
    assert len(_warnings(caplog)) == 2, _warnings(caplog)


def test_an_awaited_camera_that_opens_after_the_run_ended_is_let_go(late, monkeypatch) -> None:
    opening = threading.Event()
    release = threading.Event()
    real_init = LateDevice.__init__

    def slow_init(self, **kw):
        if LateDevice.tries >= 1:
            opening.set()
            release.wait(5)
        real_init(self, **kw)

    monkeypatch.setattr(LateDevice, "__init__", slow_init)
    out = output.open_output(OutputSettings(kind="virtualcam", device="", fps=100), W, H)
    frame = np.full((H, W, 3), 90, np.uint8)
    sender = PacedSender(out, 100).start()
    try:
        assert _until(lambda: (sender.submit(frame, time.monotonic()), opening.is_set())[1])
        late.there = True
        t0 = time.monotonic()
        sender.stop()
        out.close()
        assert time.monotonic() - t0 < 2.0  # the awaited open in flight does not hold the stop
    finally:
        release.set()
    assert _until(lambda: bool(LateDevice.instances))
    assert _until(lambda: LateDevice.instances[0].closed)
    assert out.camera is None


def test_an_awaited_camera_whose_driver_hangs_in_open_holds_one_thread_not_one_a_try(late, monkeypatch) -> None:
    """Each try of an awaited camera whose driver blocks in open left a thread blocked for good (one every few
    seconds for as long as LiveCam ran): while an open given up on has not returned, a new one fails at once."""
    release = threading.Event()
    real_init = LateDevice.__init__

    def hung_init(self, **kw):
        release.wait(30)
        real_init(self, **kw)

    monkeypatch.setattr(sinks, "OPEN_LIMIT_S", 0.05)
    out = output.open_output(OutputSettings(kind="virtualcam", device="", fps=100), W, H)  # the plain "not there"
    monkeypatch.setattr(LateDevice, "__init__", hung_init)
    frame = np.full((H, W, 3), 90, np.uint8)
    try:
        with PacedSender(out, 100) as sender:
            _submit_for(sender, frame, 1.5)
            blocked = sum(t.name == "livecam-virtualcam-open" for t in threading.enumerate())
            status = sender.status or ""
        assert blocked == 1, blocked
        assert "not there yet" in status
        assert out.stand_in.frames_sent > 50
    finally:
        release.set()
        out.close()
    assert _until(lambda: not sinks.VirtualCamOutput._given_up
                  or all(a.done.is_set() for a in sinks.VirtualCamOutput._given_up))


# ------------------------------------------------------------ 2. a device that takes N frames, then fails

class FewFramesDevice(BackendDouble):
    """Opens, takes ``takes`` frames, then refuses every write (until ``healthy``)."""

    _device = "/dev/video-few48"
    opened: list[FewFramesDevice] = []
    takes = 3
    healthy = False

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        self.frames = 0
        FewFramesDevice.opened.append(self)

    def send(self, frame: np.ndarray) -> None:
        if self.frames >= FewFramesDevice.takes and not FewFramesDevice.healthy:
            raise RuntimeError("write failed: Input/output error")
        self.frames += 1


@pytest.fixture
def few(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path / "sys")
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_START_S", 0.01)
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_MAX_S", 0.08)
    FewFramesDevice.opened, FewFramesDevice.takes, FewFramesDevice.healthy = [], 3, False
    pyvirtualcam.register_backend("livecam-few-48", FewFramesDevice)
    yield FewFramesDevice
    BACKENDS.pop("livecam-few-48", None)


def test_a_device_that_fails_a_few_frames_after_every_reopen_is_said_once_with_a_count(few, caplog) -> None:
    """Before: two warnings a cycle ("stopped taking frames", "is back after 1 attempt") for as long as it ran,
    the back-off starting afresh at each loss: here over 20 lines in 1.5 s."""
    caplog.set_level(logging.DEBUG, logger="livecam.output")
    out = sinks.VirtualCamOutput(W, H, 100, backend="livecam-few-48")
    frame = np.full((H, W, 3), 40, np.uint8)
    statuses: list[str] = []
    try:
        with PacedSender(out, 100) as sender:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.5:
                sender.submit(frame, time.monotonic())
                if sender.state == "reopening" and sender.status:
                    statuses.append(sender.status)
                time.sleep(0.005)
    finally:
        out.close()
    warnings = _warnings(caplog)
    assert len(few.opened) >= 5  # it was reopened all along
    # It stopped, it came back, it fails soon after each reopen: then quiet.
    assert len(warnings) <= 3, warnings
    assert "fails again soon after each reopen" in warnings[-1]
    flapping = [s for s in statuses if "fails again soon after each reopen" in s]
    assert flapping and "times)" in flapping[-1]
    assert "LiveCam tries again in 0.08 s" in flapping[-1]  # the back-off grew to its longest


def test_a_flapping_device_that_settles_says_it_takes_frames_again_once(few, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="livecam.output")
    out = sinks.VirtualCamOutput(W, H, 100, backend="livecam-few-48")
    frame = np.full((H, W, 3), 40, np.uint8)
    try:
        with PacedSender(out, 100) as sender:
            assert _until(lambda: (sender.submit(frame, time.monotonic()), len(few.opened) >= 6)[1])
            few.healthy = True
            assert _until(lambda: (sender.submit(frame, time.monotonic()),
                                   any("takes frames again" in w for w in _warnings(caplog)))[1])
            assert sender.state == "sending"
    finally:
        out.close()
    warnings = _warnings(caplog)
    assert sum("fails again soon" in w for w in warnings) == 1, warnings
    assert sum("takes frames again" in w for w in warnings) == 1, warnings
    assert len(warnings) <= 4, warnings


# ------------------------------------------------------------ 3. a stop during the virtual camera's open

STUCK_BACKEND = textwrap.dedent("""
    import threading, pyvirtualcam
    from pathlib import Path
    from livecam import sinks

    class Stuck:
        def __init__(self, **kw):
            Path({marker!r}).write_text("opening")
            threading.Event().wait(30)

    pyvirtualcam.register_backend("livecam-stuck-48", Stuck)
    sinks._default_backend = lambda: "livecam-stuck-48"
    from livecam.cli import main
    raise SystemExit(main(["run", "--source", "demo", "--size", "64x48", "--output", "virtualcam"]))
""")


def test_a_stop_during_the_virtual_cameras_open_exits_as_a_stop(tmp_path: Path) -> None:
    """Before: "livecam: LiveCam was stopped while the virtual camera was still opening." and exit 1; a Ctrl+C
    anywhere else ends with 0."""
    marker = tmp_path / "opening"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LIVECAM_CONFIG_DIR": str(tmp_path / "config"),
           "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-c", STUCK_BACKEND.format(marker=str(marker))], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _until(marker.exists, 60.0), proc.poll()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "stopped while the virtual camera was still opening" in err, err
    assert "Traceback" not in err and "took longer" not in err, err
    assert proc.returncode == 0, err


# ------------------------------------------------------------ 4. the camera: frames in a ring of buffers

class RingCap(CaptureDouble):
    """A ``cv2.VideoCapture`` stand-in that hands back its frames in a ring of ``n`` buffers it owns: read k+n
    overwrites the picture read k handed over (double buffering in a capture wrapper)."""

    fps = 200

    def __init__(self, n: int) -> None:
        self.ring = [np.zeros((H, W, 3), np.uint8) for _ in range(n)]
        self.k = 0

    def _next(self) -> tuple[bool, np.ndarray]:
        buf = self.ring[self.k % len(self.ring)]
        self.k += 1
        buf[:] = self.k % 251
        return True, buf


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_frame_from_a_camera_that_reuses_a_ring_of_buffers_is_not_changed_under_the_pipeline(n: int) -> None:
    """Before (n = 2, 3): the frame the pipeline held was overwritten by the camera's next reads: the mask of one
    picture laid over another. Only a buffer shared with the very last frame was noticed (n = 1)."""
    source = CameraSource(0, W, H, 200, opener=lambda _: RingCap(n)).start()
    try:
        changed = 0
        for _ in range(10):
            frame = source.latest(timeout=1.0)
            assert not frame.placeholder
            value = int(frame.image[0, 0, 0])
            seen = frame.index
            assert _until(lambda: source.latest(after=seen + 4, timeout=0.5).index > seen + 4, 5.0)
            changed += bool((frame.image != value).any())
    finally:
        source.close()
    assert changed == 0


# ------------------------------------------------------------ 4. the camera: one that stops soon after each reconnect

class BriefCap(CaptureDouble):
    """Gives ``good`` frames after every open, then fails every read (until ``healthy``)."""

    opened = 0
    good = 3
    healthy = False

    def __init__(self) -> None:
        self.n = 0
        BriefCap.opened += 1

    def _next(self) -> tuple[bool, np.ndarray | None]:
        self.n += 1
        if self.n <= BriefCap.good or BriefCap.healthy:
            return True, np.full((H, W, 3), 100, np.uint8)
        return False, None


def test_a_camera_that_stops_soon_after_each_reconnect_is_said_once_until_it_stays(monkeypatch, caplog) -> None:
    """Before: "stopped sending frames" and "is back" at every reconnect, two lines a cycle for as long as it ran
    (59 lines in 30 s with 10 frames a reconnect at the real back-off). The back-off still starts afresh after
    each stream (its seconds of video are worth having); only the sentences wait for it to stay."""
    from livecam import capture

    monkeypatch.setattr(capture, "BACKOFF_START", 0.01)
    monkeypatch.setattr(capture, "BACKOFF_MAX", 0.3)
    BriefCap.opened, BriefCap.healthy = 0, False
    caplog.set_level(logging.INFO, logger="livecam")
    source = CameraSource(0, W, H, 100, opener=lambda _: BriefCap()).start()
    try:
        assert _until(lambda: BriefCap.opened >= 10, 20.0)
        flapping = source.error or ""
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and "Camera 0" in r.getMessage()]
        BriefCap.healthy = True
        assert _until(lambda: source.error is None, 10.0)
    finally:
        source.close()
    assert "keeps stopping soon after it starts sending" in flapping
    assert len(said) <= 3, said  # stopped, back, keeps stopping: then quiet
    after = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and "Camera 0" in r.getMessage()]
    assert after[len(said):] == ["Camera 0 is back."], after
