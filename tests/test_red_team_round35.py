"""Red team, round 35: the virtual camera boundary and the tray under faults nobody listed.

1. Turning on a room-hiding effect (the background blur) from the tray while the next frame takes
   long (that effect's first model run hanging or slow, a machine that makes a frame every second or
   two): the sender kept repeating the last frame made before the choice, and then sent the frame
   still being processed under the old settings, so the raw room went on leaving for the catch-up
   card's 1-10 s after the user chose to hide it. Now the bridge tells the sender that frames captured
   before the choice go out only concealed (PacedSender.withdraw, output_gate.promises_more).
2. Guards (pass before): a virtual camera whose send raises OSError ENODEV / EBADF / ENOSPC / EINVAL
   mid-stream, or hangs: reopened with one sentence, and
   only frames that were handed to the sender reach the device.
"""
from __future__ import annotations

import errno
import os
import platform
import threading
import time
from typing import Any

import numpy as np
import pytest

from livecam import devices, pacing
from livecam import settings as S
from livecam.capture import FrameSource
from livecam.output_gate import promises_more
from livecam.pacing import PacedSender
from live_doubles import BackendDouble, RecordingOutput, kept_outputs, until

W, H = 64, 48


def _room() -> np.ndarray:
    return np.random.default_rng(35).integers(0, 256, (H, W, 3), dtype=np.uint8)


class _RoomCamera(FrameSource):
    """A camera filming the same room at 30 fps."""

    def __init__(self, room: np.ndarray) -> None:
        super().__init__(W, H, 30, "room camera")
        self.room = room

    def _run(self) -> None:
        while not self._stop.wait(1 / 30):
            self._publish(self.room.copy())


# ---------------------------------------------------------------- 1. the choice to hide, mid-stall


def test_promises_more_reads_the_conceal_effects_the_settings_turn_on():
    off = S.update(S.Settings(), background={"mode": "off"})
    blur = S.update(off, background={"mode": "blur"})
    assert promises_more(off, blur)
    assert not promises_more(blur, off)  # showing more is the user's choice, taken at once
    assert not promises_more(blur, blur)


def test_a_blur_turned_on_while_the_next_frame_hangs_stops_the_room_going_out(qtbot):
    from livecam.gui.bridge import LiveBridge

    room = _room()
    outputs, open_output = kept_outputs()
    settings = S.update(S.Settings(), output={"kind": "null", "fps": 30}, background={"mode": "off"})
    bridge = LiveBridge(settings, open_source=lambda capture: _RoomCamera(room), open_output=open_output)
    hung = threading.Event()
    try:
        bridge.start()
        assert until(lambda: outputs and len(outputs[0].got) >= 5)  # the room leaves: nothing hides it yet
        out, pipeline = outputs[0], bridge.pipeline
        assert any(np.array_equal(f, room) for f in out.got)
        real = pipeline.process

        def process(image, t=None):  # the blur's first model run hangs (or takes seconds)
            if pipeline.settings.background.mode == "blur" or pipeline._pending is not None:
                hung.wait(30)
            return real(image, t)

        pipeline.process = process
        bridge.apply_settings(S.update(settings, background={"mode": "blur"}))
        chosen = len(out.got)
        time.sleep(0.6)  # under the catch-up card's 1 s
        # The frame in the device's hands at the choice, and one a tick picked just before it: not taken back.
        after = out.got[chosen + 2:]
        assert len(after) >= 5, "frames stopped going out"
        shown = sum(np.array_equal(f, room) for f in after)
        assert shown == 0, f"{shown} of {len(after)} frames sent after the blur was chosen showed the raw room"
        # Concealed, not a frozen card: the call's picture stays alive.
        assert all(f.shape == room.shape and np.abs(f.astype(int) - room).mean() > 20 for f in after)
    finally:
        hung.set()
        bridge.shutdown(10)


def test_a_withdrawn_frame_is_hidden_once_and_the_pause_card_is_never_touched():
    """The sender: frames captured up to the withdrawal go through the hide function once (the
    concealed copy is what repeats); frames captured later and the pause card go out as they are."""
    out = RecordingOutput(W, H, 100)
    room, later = _room(), np.full((H, W, 3), 90, np.uint8)
    hidden = np.zeros((H, W, 3), np.uint8)
    calls: list[int] = []

    def hide(image: np.ndarray) -> np.ndarray:
        calls.append(1)
        return hidden

    with PacedSender(out, 100) as sender:
        sender.submit(room, time.monotonic())
        assert until(lambda: len(out.got) >= 3)
        sender.withdraw(time.monotonic(), hide)
        n = len(out.got)
        assert until(lambda: len(out.got) >= n + 5)
        assert all(f is hidden for f in out.got[n + 1:])
        assert len(calls) == 1
        sender.submit(later, time.monotonic())
        assert until(lambda: any(f is later for f in out.got))
        card = np.full((H, W, 3), 7, np.uint8)
        sender.pause(card)
        assert until(lambda: any(f is card for f in out.got))
    assert len(calls) == 1


# ---------------------------------------------------------------- 2. guards: the device vanishing


class _Vanishing(BackendDouble):
    """A pyvirtualcam backend whose 5th send (counted over every open) fails the way ``fault`` says."""

    _device = "/dev/video-gone"
    fault: tuple[Any, ...] = ()
    sends = 0
    opened = 0
    got: list[int] = []

    def __init__(self, **kw: Any) -> None:
        _Vanishing.opened += 1

    def send(self, frame: np.ndarray) -> None:
        _Vanishing.sends += 1
        kind = self.fault[0]
        if kind == "oserror" and _Vanishing.sends == 5:
            raise OSError(self.fault[1], os.strerror(self.fault[1]))
        if kind == "hang" and _Vanishing.sends == 5:
            time.sleep(0.6)
        _Vanishing.got.append(int(frame.reshape(-1)[0]))


@pytest.mark.parametrize("fault", [("oserror", errno.ENODEV), ("oserror", errno.EBADF), ("oserror", errno.ENOSPC),
                                   ("oserror", errno.EINVAL), ("hang",)], ids=lambda f: "-".join(map(str, f)))
def test_guard_a_virtual_camera_lost_mid_stream_gets_only_frames_handed_over(fault, monkeypatch, tmp_path, caplog):
    import pyvirtualcam
    from pyvirtualcam.camera import BACKENDS

    from livecam.sinks import VirtualCamOutput

    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path / "sys")
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_START_S", 0.02)
    monkeypatch.setattr(pacing, "SINK_DEADLINE_S", 0.3)
    _Vanishing.fault, _Vanishing.sends, _Vanishing.opened, _Vanishing.got = fault, 0, 0, []
    pyvirtualcam.register_backend("livecam-vanishing", _Vanishing)
    try:
        out = VirtualCamOutput(W, H, 50, backend="livecam-vanishing")
        handed: set[int] = set()
        with PacedSender(out, 50) as sender:
            for i in range(1, 60):
                handed.add(i)
                sender.submit(np.full((H, W, 3), i, np.uint8), time.monotonic())
                time.sleep(0.02)
            assert until(lambda: sender.state == "sending")
        out.close()
    finally:
        BACKENDS.pop("livecam-vanishing", None)
    assert _Vanishing.opened == 2  # lost once, reopened once
    assert set(_Vanishing.got) <= handed and len(_Vanishing.got) > 30
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("LiveCam drops it and reopens it" in m or "LiveCam reopens it" in m for m in said)
    assert not any("Traceback" in m for m in said)
