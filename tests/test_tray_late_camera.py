"""A virtual camera that comes after LiveCam started (v4l2loopback loaded, OBS's camera started later), in the tray
and in the idle watch.

1. The tray built the virtual camera once at "on" and put a null output in its place, with a problem line, for as
   long as it was on; `livecam run` awaited it (round 48). The tray now opens its output through the same
   ``output.open_output``: the camera is tried with back-off, and once it opens the problem goes and the output's
   sentence says where frames go. Off and Quit stay prompt while the awaited open hangs in the driver.
2. The idle watch was looked for once at the start, when the awaited camera had no device node: a camera that came
   later ran always on (no pause while no app watched). The watch now starts when the camera opens.
"""

from __future__ import annotations

import platform
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from livecam import app, devices, sinks
from livecam import settings as S
from live_doubles import Reader, RoomCamera, kept_sources, late_device, until

pytest.importorskip("inotify_simple")
if platform.system() != "Linux":
    pytest.skip("the idle watch is Linux-only", allow_module_level=True)

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def late(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with late_device(monkeypatch, tmp_path, "livecam-late-tray", "/dev/video-late-tray") as device:
        yield device


def _bridge(always_on: bool = True):
    from livecam.gui.bridge import LiveBridge

    settings = S.update(S.Settings(), output={"kind": "virtualcam", "fps": 30, "always_on": always_on},
                        background={"mode": "off"})
    room = np.full((48, 64, 3), 120, np.uint8)
    return LiveBridge(settings, open_source=lambda capture: RoomCamera(room))


def test_the_tray_sends_to_a_virtual_camera_that_comes_after_it_was_switched_on(qtbot, late) -> None:
    """Before: the tray's null output stood in for as long as it was on; the camera that came was never opened."""
    bridge = _bridge()
    try:
        bridge.start()
        qtbot.waitUntil(lambda: bridge.state == "error", timeout=20000)
        sentence, ok = bridge.output
        assert not ok and sentence.startswith("Call apps cannot see LiveCam: ")
        assert sentence.endswith("; LiveCam switches to the virtual camera once it is there."), sentence
        assert devices.MODPROBE_FIX in sentence  # what to do, as `run` says it
        assert "switches to the virtual camera" in bridge.message
        late.there = True
        qtbot.waitUntil(lambda: bool(late.instances) and late.instances[0].frames >= 5, timeout=10000)
        qtbot.waitUntil(lambda: bridge.output[1], timeout=5000)
        assert bridge.output[0] == ('Sending to the virtual camera /dev/video-late-tray: pick "LiveCam" as the '
                                    'camera in your call app.')
        qtbot.waitUntil(lambda: bridge.state == "on", timeout=5000)
        assert bridge.message == "LiveCam is on."
        bridge.stop()
        qtbot.waitUntil(lambda: bridge.state == "off", timeout=5000)
        assert late.instances[0].closed and len(late.instances) == 1
    finally:
        bridge.shutdown(10)


@pytest.mark.parametrize("how", ["off", "quit"])
def test_off_and_quit_stay_prompt_while_the_awaited_camera_hangs_in_its_open(qtbot, late, how: str) -> None:
    """The awaited open runs on the sender's reopen thread with its own limit: neither off nor Quit waits for it,
    and a camera that opens after them is closed at once, never sent to."""
    bridge = _bridge()
    try:
        bridge.start()
        qtbot.waitUntil(lambda: bridge.state == "error", timeout=20000)
        late.hang, late.there = True, True
        assert until(late.hanging.is_set, 10), "the awaited camera was never tried"
        t0 = time.monotonic()
        if how == "off":
            bridge.stop()
            qtbot.waitUntil(lambda: bridge.state == "off", timeout=5000)
        else:
            assert bridge.shutdown(10)
        assert time.monotonic() - t0 < 1.5
        late.release.set()
        assert until(lambda: bool(late.instances) and late.instances[0].closed, 10)
        assert late.instances[0].frames == 0
    finally:
        late.release.set()
        bridge.shutdown(10)


def test_a_first_open_that_hangs_in_the_driver_holds_neither_the_toggle_nor_the_preview(qtbot, late, monkeypatch):
    """Before: the tray's first open ran on its control thread for as long as the driver took (up to OPEN_LIMIT_S,
    raised here past every wait of the test, so the open stays in the driver throughout): the preview showed
    nothing and the menu's toggle queued behind it. Now the open runs beside the sender, and a camera that opens
    after off is closed, never sent to."""
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import OPENING

    monkeypatch.setattr(sinks, "OPEN_LIMIT_S", 120.0)
    late.there, late.hang = True, True
    bridge = _bridge()
    bridge.set_preview_size((64, 48))
    tray = LiveCamApp(bridge.settings, bridge=bridge, persist=False)
    try:
        tray.start()
        assert until(late.hanging.is_set, 10), "the virtual camera was never tried"
        qtbot.waitUntil(lambda: bridge.last_frame is not None, timeout=10000)
        assert bridge.last_frame.after is not None and bridge.last_frame.after.shape[:2] == (48, 64)
        assert bridge.output == (OPENING, True)
        tray.actions.running.setChecked(False)  # the menu's toggle
        qtbot.waitUntil(lambda: bridge.state == "off", timeout=5000)
        assert not late.release.is_set() and not late.instances, "off waited for the open"
        late.release.set()
        assert until(lambda: bool(late.instances) and late.instances[0].closed, 10)
        assert late.instances[0].frames == 0
    finally:
        late.release.set()
        tray.shutdown()


def test_a_slow_first_open_sends_once_it_returns(qtbot, late, monkeypatch) -> None:
    """The camera that opens late on the sender's reopen thread gets the frames and the sentence says so; the
    frames made meanwhile went nowhere (the null stand-in), as before."""
    monkeypatch.setattr(sinks, "OPEN_LIMIT_S", 120.0)
    late.there, late.hang = True, True
    bridge = _bridge()
    try:
        bridge.start()
        assert until(late.hanging.is_set, 10)
        qtbot.waitUntil(lambda: bridge.last_frame is not None, timeout=10000)
        output = bridge._session.output
        assert output.awaiting and output.fallback_reason is None and bridge.state == "on"
        qtbot.waitUntil(lambda: output.stand_in.frames_sent > 0, timeout=5000)  # nowhere, while it opens
        late.release.set()
        qtbot.waitUntil(lambda: bool(late.instances) and late.instances[0].frames >= 5, timeout=10000)
        qtbot.waitUntil(lambda: bridge.output[1] and bridge.output[0].startswith("Sending to"), timeout=5000)
        assert len(late.instances) == 1 and late.tries == 1
        assert bridge.state == "on"
    finally:
        late.release.set()
        bridge.shutdown(10)


def test_the_tray_pauses_while_no_app_watches_a_virtual_camera_that_came_late(qtbot, late, tmp_path) -> None:
    """Before: the watch was looked for at "on", when the camera had no device node: no idle pause till the
    next on. A plain file stands in for the device node (inotify and /proc see it alike, see test_idle)."""
    node = tmp_path / "video-late"
    node.write_bytes(b"")
    late.path = str(node)
    bridge = _bridge(always_on=False)
    try:
        bridge.start()
        qtbot.waitUntil(lambda: bridge.state == "error", timeout=20000)
        late.there = True
        qtbot.waitUntil(lambda: bridge.state == "idle", timeout=10000)
        assert bridge._session.live.idle and bridge._session.live.runner is None  # the webcam is released
    finally:
        bridge.shutdown(10)


def test_run_pauses_while_no_app_watches_a_virtual_camera_that_came_late(late, tmp_path, monkeypatch) -> None:
    node = tmp_path / "video-late"
    node.write_bytes(b"")
    late.path = str(node)
    sources = kept_sources(monkeypatch)
    settings = S.update(S.Settings(), capture={"source": str(FIXTURES / "sk_astronaut.png"), "width": 96,
                                               "height": 64, "fps": 30},
                        background={"mode": "off"}, output={"kind": "virtualcam", "fps": 30})
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(app.run_live(settings, frames=150)), daemon=True)
    runner.start()
    assert until(lambda: late.tries >= 3, 30), "the awaited camera was not tried again"  # the run is in its loop
    late.there = True
    assert until(lambda: bool(late.instances), 10), "the awaited camera never opened"
    # Paused while the run goes on (150 frames are 5 s of video; before, it ran them through always on).
    assert until(lambda: sources[0]._stop.is_set() or not runner.is_alive(), 10)
    assert runner.is_alive() and sources[0]._stop.is_set(), "the source was never released"
    reader = Reader(node)  # an app opens the camera: the frames come back, and the run ends at 150
    try:
        runner.join(60)
    finally:
        reader.close()
    assert result == [0]
    assert len(sources) == 2
