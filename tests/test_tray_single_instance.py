"""A second ``livecam gui`` while a tray runs brings up the first one's settings window.

Before, it exited 2 with "LiveCam is already running (process N …)" and the user had to find the first one's icon.
Now the running tray listens on a Qt local socket in the owner-only config folder: the second process asks it to
show its window and exits 0 once it has, or 2 with the sentence when it does not answer. Nothing but "show the
window" goes through the socket.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6 import QtNetwork  # noqa: E402

from livecam import cli  # noqa: E402
from livecam import settings as S  # noqa: E402
from livecam.gui import pyside_problem  # noqa: E402
from livecam.gui import single_instance as single  # noqa: E402

pytestmark = [
    pytest.mark.skipif(pyside_problem() is not None, reason=str(pyside_problem())),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sender lock's test double is Linux's"),
]


def _second_tray() -> subprocess.Popen:
    """``livecam gui`` as a user starts it again (same user, same config folder)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen([sys.executable, "-m", "livecam", "gui", "--background", "off"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def first_tray(qtbot):
    """A running tray as far as a second one sees it: its window behind the socket, the virtual camera's lock held."""
    from livecam.gui.app import LiveCamApp

    settings = S.update(S.Settings(), output={"kind": "virtualcam"}, background={"mode": "off"})
    app = LiveCamApp(settings, persist=False)
    requests = single.ShowRequests(app.show_settings)
    try:
        with cli._one_sender(settings) as refused:
            assert refused is None
            yield app, requests
    finally:
        requests.close()
        app.shutdown()
        assert app.wait_for_checks(60)


def test_a_second_tray_brings_up_the_first_ones_window_and_exits_0(qtbot, first_tray):
    app, requests = first_tray
    assert requests.listening and app._window is None
    second = _second_tray()
    try:
        qtbot.waitUntil(lambda: second.poll() is not None, timeout=120_000)  # this tray's loop answers meanwhile
        out, err = second.communicate(timeout=10)
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate()
    # Was 2, with "LiveCam is already running (process N, ...)" and no window.
    assert second.returncode == 0, err[-2000:]
    assert out.strip() == "LiveCam is already running: its settings window is shown." and "Traceback" not in err
    assert app._window is not None and app.settings_window.isVisible()


def test_a_first_tray_that_does_not_answer_leaves_the_sentence_and_exit_2(first_tray):
    # The test's thread waits for the child without running Qt's loop: the first tray is stuck, as a tray whose
    # GUI thread hangs; the request is taken by the kernel and never answered.
    app, requests = first_tray
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "livecam", "gui", "--background", "off"], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    said = [line for line in done.stderr.splitlines() if line.startswith("livecam: ")]
    assert len(said) == 1 and said[0].startswith(f"livecam: LiveCam is already running (process {os.getpid()}, ")
    assert app._window is None


def test_the_socket_is_the_users_alone(first_tray):
    _, requests = first_tray
    path = requests.path
    folder = path.parent
    assert folder == S.config_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o700
    st = path.lstat()
    assert stat.S_ISSOCK(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077
    requests.close()
    assert not path.exists(), "the socket file is left behind"


@pytest.mark.parametrize("said", [b"quit\n", b"show\nshow\n", b"sh0w\n", b"\x00" * 4096, b""],
                         ids=["another-request", "more-than-show", "almost", "junk", "nothing"])
def test_nothing_but_show_gets_through(qtbot, said: bytes):
    shown: list[int] = []
    requests = single.ShowRequests(lambda: shown.append(1))
    client = QtNetwork.QLocalSocket()
    try:
        assert requests.listening
        client.connectToServer(str(requests.path))
        qtbot.waitUntil(lambda: client.state() == QtNetwork.QLocalSocket.LocalSocketState.ConnectedState, timeout=5000)
        client.write(said)
        client.flush()
        # Dropped: for a client that says nothing, after READ_MS.
        qtbot.waitUntil(lambda: client.state() == QtNetwork.QLocalSocket.LocalSocketState.UnconnectedState,
                        timeout=5000)
        assert shown == [] and client.readAll().data() == b""
    finally:
        client.abort()
        requests.close()


def test_show_is_answered_once_shown(qtbot):
    shown: list[int] = []
    requests = single.ShowRequests(lambda: shown.append(1))
    client = QtNetwork.QLocalSocket()
    try:
        client.connectToServer(str(requests.path))
        qtbot.waitUntil(lambda: client.state() == QtNetwork.QLocalSocket.LocalSocketState.ConnectedState, timeout=5000)
        client.write(single.SHOW[:2])  # a request may come in pieces
        client.flush()
        qtbot.wait(50)
        client.write(single.SHOW[2:])
        client.flush()
        qtbot.waitUntil(lambda: client.bytesAvailable() >= len(single.SHOWN), timeout=5000)
        assert client.readAll().data() == single.SHOWN and shown == [1]
    finally:
        client.abort()
        requests.close()


def test_a_socket_left_by_a_tray_that_was_killed_is_not_asked_and_is_taken_over(qtbot):
    import socket

    path = single.socket_path()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # bound and never listening: what a killed tray leaves
    stale.close()
    assert path.exists()
    assert not single.show_running_tray()
    shown: list[int] = []
    requests = single.ShowRequests(lambda: shown.append(1))
    try:
        assert requests.listening
        client = QtNetwork.QLocalSocket()
        client.connectToServer(str(path))
        qtbot.waitUntil(lambda: client.state() == QtNetwork.QLocalSocket.LocalSocketState.ConnectedState, timeout=5000)
        client.write(single.SHOW)
        client.flush()
        qtbot.waitUntil(lambda: shown == [1], timeout=5000)
        client.abort()
    finally:
        requests.close()
