"""Trust round 57: the tray and its windows, process signals.

1. Two trays started at the same moment with the virtual camera as output (round 55's leftover). Round 55 parted
   two trays started at once by the one-tray socket: the one that comes second asks the first to show its window
   and exits 0. With the virtual camera as output the sender lock in ``cmd_gui`` was taken before the socket, so
   the second was stopped there first: exit 2 and "LiveCam is already running (process N …) … quit the other
   first", while the first tray's window never came up, for the setting most trays run with. Now the socket is
   claimed first and the sender lock taken after it (``run_gui(one_sender=…)``); `livecam run` holding the
   camera still stops a tray with its sentence (round 50's test), and so does a first tray that never answers
   (its lock names its process, as before: test_tray_single_instance). Asked more often while stuck, such a
   tray's socket server, let go in that test, then crashed the test process in ~QLocalSocket: the last client's
   posted deletion let go of the ShowRequests and its server, which deleted that client again. ShowRequests now
   takes each client out of the server when it takes it (test_tray_single_instance_crash).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from livecam.gui import pyside_problem  # noqa: E402
from livecam.gui import single_instance as single  # noqa: E402

pytestmark = [
    pytest.mark.skipif(pyside_problem() is not None, reason=str(pyside_problem())),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="AF_UNIX sockets and flock as on Linux"),
]

ROOT = Path(__file__).resolve().parents[1]
NO_DEVICE = "/dev/livecam-no-such-video"  # no loopback here: the lock is what parts them, not the device node

# `livecam gui` whose first look for a running tray comes a moment before the other one listens, as when both
# are started at once (round 55's test shows that race with two real trays; here it is made to happen every time).
_STARTED_AT_ONCE = """
import sys
from livecam.gui import single_instance
real, looks = single_instance.show_running_tray, []
def looked_too_soon(*args, **kwargs):
    looks.append(1)
    return False if len(looks) == 1 else real(*args, **kwargs)
single_instance.show_running_tray = looked_too_soon
from livecam.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_tray_on_the_virtual_camera_started_beside_one_starting_shows_its_window(qtbot):
    """The first tray listens and sends to the virtual camera (its socket and its sender lock, held here);
    the second, started at the same moment, shows the first one's window and exits 0, as for any other output."""
    from livecam import cli
    from livecam import settings as S

    shown: list[int] = []
    first = single.ShowRequests(lambda: shown.append(1))
    mine = S.update(S.Settings(), output={"kind": "virtualcam", "device": NO_DEVICE})
    try:
        with cli._one_sender(mine) as refused:
            assert refused is None
            env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
            for name in ("DISPLAY", "WAYLAND_DISPLAY"):
                env.pop(name, None)
            second = subprocess.Popen([sys.executable, "-c", _STARTED_AT_ONCE, "gui", "--source", "demo",
                                       "--background", "off", "--output", "virtualcam", "--device", NO_DEVICE],
                                      env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            try:
                # This loop answers the second's request (the first tray's event loop).
                qtbot.waitUntil(lambda: second.poll() is not None, timeout=120_000)
            finally:
                if second.poll() is None:
                    second.kill()
                out, err = second.communicate(timeout=30)
        # Was 2 with "LiveCam is already running (process N, the tray app or livecam run) … quit the other
        # first": the sender lock stopped it before it asked, and the first one's window stayed hidden.
        assert second.returncode == 0, err[-2000:]
        assert out.strip() == single.ALREADY_SHOWN and "Traceback" not in err
        assert shown == [1]
    finally:
        first.close()
