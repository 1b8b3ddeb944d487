"""Idle when nobody watches: who has the camera open, the watch's decisions, and the live loop
releasing its source and resuming when another process opens the "device".

A plain file stands in for the v4l2loopback node: inotify reports opens and closes of both alike,
and /proc lists both in the opener's fds. The real device is exercised by the QEMU guest test
(tests/guest, scenario "idle").
"""
from __future__ import annotations

import platform
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS

pytest.importorskip("inotify_simple")
if platform.system() != "Linux":
    pytest.skip("idle detection is Linux-only", allow_module_level=True)

from livecam import app, capture, devices, idle, output, sinks  # noqa: E402
from livecam.settings import Settings, update  # noqa: E402
from live_doubles import BackendDouble, Reader, kept_sources, until as _until  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "video10"
    path.write_bytes(b"")
    return path


class Changes:
    def __init__(self) -> None:
        self.seen: list[tuple[bool, float, float]] = []  # watched, event time, when we heard it

    def __call__(self, watched: bool, t: float) -> None:
        self.seen.append((watched, t, time.monotonic()))

    @property
    def states(self) -> list[bool]:
        return [s[0] for s in self.seen]


def test_openers_lists_other_processes_only(device: Path) -> None:
    assert idle.openers(str(device)) == set()
    with open(device, "rb"):
        assert idle.openers(str(device)) == set()  # our own handle (the writer) is not a viewer
        assert idle.openers(str(device), exclude=frozenset()) != set()
    reader = Reader(device)
    try:
        assert idle.openers(str(device)) == {reader.proc.pid}
    finally:
        reader.close()
    assert idle.openers(str(device)) == set()


def test_watch_flips_when_the_first_app_opens_and_after_the_last_one_closes(device: Path) -> None:
    changes = Changes()
    with idle.ViewerWatch(str(device), changes, grace_s=0.2).start() as watch:
        assert _until(lambda: changes.states == [False])  # nobody at the start: idle after the grace
        first = Reader(device)
        assert _until(lambda: changes.states == [False, True])
        second = Reader(device)
        first.close()
        threading.Event().wait(0.4)  # one app left: still watched
        assert changes.states == [False, True] and watch.viewers == {second.proc.pid}
        second.close()
        assert _until(lambda: changes.states == [False, True, False])
        with open(device, "rb"):  # LiveCam's own writer reopening the device is no viewer
            threading.Event().wait(0.3)
        assert changes.states == [False, True, False]
    watched, opened_t, heard_t = changes.seen[1]
    assert opened_t <= heard_t and opened_t >= first.opened - 1.0  # the time is the open event's
    went_idle_t = changes.seen[2][1]
    assert went_idle_t <= changes.seen[2][2] - 0.2  # reported after the grace, dated at the close


def test_an_app_that_had_the_camera_open_before_the_watch_counts(device: Path) -> None:
    reader = Reader(device)
    changes = Changes()
    try:
        with idle.ViewerWatch(str(device), changes, grace_s=0.1).start() as watch:
            threading.Event().wait(0.4)
            assert changes.states == [] and watch.watched
        reader.close()
    finally:
        if reader.proc.poll() is None:
            reader.proc.kill()


def test_a_device_that_goes_away_leaves_livecam_on(device: Path) -> None:
    changes = Changes()
    with idle.ViewerWatch(str(device), changes, grace_s=0.1).start() as watch:
        assert _until(lambda: changes.states == [False])
        device.unlink()
        assert _until(lambda: changes.states == [False, True])
        assert watch.watched


def test_watch_output_only_for_a_device_and_never_when_always_on(device: Path, monkeypatch) -> None:
    class WithDevice:
        device_path = str(device)

    calls: list[Any] = []
    assert idle.watch_output(output.NullOutput(4, 4), False, calls.append) is None  # no device node
    assert idle.watch_output(WithDevice(), True, calls.append) is None  # output.always_on
    watch = idle.watch_output(WithDevice(), False, lambda *a: calls.append(a))
    assert isinstance(watch, idle.ViewerWatch)
    watch.close()
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert idle.unavailable_reason(str(device)) == "only Linux tells LiveCam when apps open the camera"
    assert idle.watch_output(WithDevice(), False, calls.append) is None


# ---------------------------------------------------------------- the live loop


class FileBackedCamera(BackendDouble):
    """A pyvirtualcam backend whose "device" is a plain file, so a Reader can open it."""

    path = ""
    instances: list[FileBackedCamera] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        self.times: list[float] = []
        self.values: list[float] = []
        FileBackedCamera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.times.append(time.monotonic())
        self.last = frame.copy()

    def device(self) -> str:
        return FileBackedCamera.path


def test_run_live_releases_the_source_while_nobody_watches_and_resumes_for_an_app(
    device: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path / "sys")
    monkeypatch.setattr(sinks, "_default_backend", lambda: "livecam-file")
    FileBackedCamera.path, FileBackedCamera.instances = str(device), []
    pyvirtualcam.register_backend("livecam-file", FileBackedCamera)
    sources = kept_sources(monkeypatch)
    settings = update(Settings(), capture={"source": str(FIXTURES / "sk_astronaut.png"), "width": 96, "height": 64,
                                           "fps": 30},
                      background={"mode": "off"}, output={"kind": "virtualcam", "fps": 30})
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(app.run_live(settings, frames=90)), daemon=True)
    try:
        runner.start()
        assert _until(lambda: len(sources) == 1 and sources[0]._stop.is_set(), 30), "the source was never released"
        camera = FileBackedCamera.instances[0]
        assert not sources[0]._thread.is_alive()  # the capture thread is gone: the webcam would be off
        threading.Event().wait(0.3)
        sent_while_idle = len(camera.times)
        assert sent_while_idle > 1  # the first frames went out (apps must be able to list the camera)
        card = camera.last.reshape(64, 96, 3)
        assert np.array_equal(card, capture.placeholder_image(96, 64, app.PAUSED_CARD))  # not the old picture
        threading.Event().wait(0.5)
        assert len(camera.times) == sent_while_idle  # nothing is sent while nobody watches
        reader = Reader(device)
        assert _until(lambda: len(camera.times) > sent_while_idle, 10), "frames did not come back"
        assert len(sources) == 2 and sources[1]._thread.is_alive()
        assert camera.times[sent_while_idle] >= reader.opened - 0.05
        runner.join(60)  # frames=90 counts processed frames across both sessions
        reader.close()
    finally:
        BACKENDS.pop("livecam-file", None)
    assert result == [0]
    assert all(s._stop.is_set() for s in sources)
