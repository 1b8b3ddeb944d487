"""One tray per user: ``livecam gui`` started while a tray runs brings up that tray's settings window and exits.

A second tray used to exit 2 with "LiveCam is already running (process N …)", and the user was left to find the
first one's icon (some panels fold it away). The running tray listens on a Qt local socket in the config folder,
which is owner-only (0700, checked as every personal file's folder is) and so per user: no other user can reach
it. The socket takes one request, "show the window"; anything else, or a client that says nothing, is dropped.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SOCKET_NAME = "tray.socket"
SHOW = b"show\n"  # the one request
SHOWN = b"shown\n"  # the answer: the window is up
ANSWER_MS = 2000  # a tray that has not answered by then is stuck (its GUI thread busy): the sentence is said instead
READ_MS = 1000  # a client that has not sent its request by then is dropped
STARTING_MS = 10_000  # a tray that won a start at the same moment answers once its event loop runs (models load first)
ALREADY_SHOWN = "LiveCam is already running: its settings window is shown."
MAX_PATH = 100  # an AF_UNIX address holds 107 bytes on Linux, 103 on macOS


def socket_path() -> Path | None:
    """The socket in the owner-only config folder, or None where there is none to use (a folder LiveCam will not
    use, or a path too long for a socket address)."""
    from livecam.private_files import FolderError
    from livecam.settings import private_config_dir

    try:
        path = private_config_dir() / SOCKET_NAME
    except FolderError:
        return None
    return path if len(os.fsencode(path)) <= MAX_PATH else None


def show_running_tray(answer_ms: int = ANSWER_MS) -> bool:
    """True when a tray of this user is running and has brought up its window (then this one is not needed)."""
    path = socket_path()
    if path is None or not os.path.exists(path):
        return False  # no tray has listened here: nothing to ask, and Qt's networking is not even loaded
    try:
        from PySide6 import QtNetwork

        from livecam.qt_app import NoWindows, application
    except ImportError:
        return False  # run_gui says what to install
    try:
        # Qt's sockets want an application object: the one run_gui would make (a QCoreApplication made here
        # would be the instance run_gui found, and no window could be made).
        application(sys.argv[:1])
    except NoWindows:
        return False  # no tray can run here either: run_gui says why
    socket = QtNetwork.QLocalSocket()
    socket.connectToServer(str(path))
    try:
        if not socket.waitForConnected(ANSWER_MS):
            return False  # a socket left by a tray that crashed: nobody listens
        socket.write(SHOW)
        if not socket.waitForBytesWritten(ANSWER_MS):
            return False
        answer = b""
        while len(answer) < len(SHOWN) and socket.waitForReadyRead(answer_ms):
            answer += socket.read(len(SHOWN) - len(answer)).data()
        return answer == SHOWN
    finally:
        socket.abort()


def _answering(path: Path) -> bool:
    """Whether a tray listens on ``path`` now (a socket left by a killed tray refuses the connection). Says
    nothing to it: a client that sends nothing is dropped after READ_MS."""
    import socket

    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.settimeout(ANSWER_MS / 1000)
        client.connect(os.fspath(path))
    except OSError:
        return False  # refused (nobody listens), gone, or not a socket: nobody to leave the name to
    finally:
        client.close()
    return True


def _listen(server, path: Path) -> bool | None:
    """Listen on ``path``: True once listening, None where another tray already does, False where Qt cannot.

    Qt binds a socket with access options in a folder of its own and renames it onto ``path``, replacing whatever
    is there: a tray started at the same moment as another one (both past ``show_running_tray``, neither listening
    yet) took the first one's name, and both ran on, each with the camera. The look and the listen happen under
    the config folder's lock, so of two trays starting at once exactly one listens."""
    from PySide6 import QtNetwork

    from livecam.private_files import folder_lock

    server.setSocketOptions(QtNetwork.QLocalServer.SocketOption.UserAccessOption)
    try:
        with folder_lock(path.parent, wait=True):
            if _answering(path):
                return None
            # A socket file left by a tray that ended without closing it (killed, crashed): nobody answers it.
            QtNetwork.QLocalServer.removeServer(str(path))
            return server.listen(str(path))
    except OSError:
        return False  # the folder cannot be opened to lock it: the settings' own sentence says why


class ShowRequests:
    """The running tray's end: ``show()`` is called, on the GUI thread, for each second ``livecam gui``."""

    def __init__(self, show: Callable[[], None]) -> None:
        from PySide6 import QtNetwork

        self._show = show
        self._buffers: dict[object, bytes] = {}
        self.server = QtNetwork.QLocalServer()
        self.path = socket_path()
        listening = None if self.path is None else _listen(self.server, self.path)
        self.other_tray = listening is None and self.path is not None  # another tray of this user listens
        self.listening = bool(listening)
        if self.listening:
            self.server.newConnection.connect(self._connected)
        elif self.path is not None and not self.other_tray:
            log.info("A second livecam gui cannot bring up this window (%s).", self.server.errorString())

    def close(self) -> None:
        """Stop listening and remove the socket file (os._exit, at the tray's end, would leave it)."""
        if self.listening:
            self.listening = False
            self.server.close()

    def _connected(self) -> None:
        from PySide6 import QtCore

        while (client := self.server.nextPendingConnection()) is not None:
            # Ours from here to its deleteLater in _gone, not the server's child as well: each client's slots
            # hold this object, so the deletion of the last client can be what lets go of it and its server, and
            # a server deleted then deleted that client a second time, mid-destruction (SIGSEGV in ~QLocalSocket).
            client.setParent(None)
            self._buffers[client] = b""
            client.readyRead.connect(lambda c=client: self._read(c))
            client.disconnected.connect(lambda c=client: self._gone(c))
            QtCore.QTimer.singleShot(READ_MS, client, lambda c=client: self._drop(c))  # one that says nothing

    def _read(self, client) -> None:
        got = self._buffers.get(client)
        if got is None:
            return
        got += client.read(len(SHOW) - len(got)).data()  # never more than the request: nothing else is read
        if not SHOW.startswith(got) or (client.bytesAvailable() and got == SHOW):
            self._drop(client)  # anything but "show the window", or more than it
            return
        self._buffers[client] = got
        if got != SHOW:
            return  # the rest of it is on its way
        del self._buffers[client]
        self._show()
        client.write(SHOWN)
        client.disconnectFromServer()

    def _drop(self, client) -> None:
        if self._buffers.pop(client, None) is not None:
            client.abort()

    def _gone(self, client) -> None:
        self._buffers.pop(client, None)
        client.deleteLater()
