"""The tray's one-instance socket (``ShowRequests``) asked while its GUI thread is busy, then let go, ends cleanly.

A tray stuck (models loading, a long slot) and asked by several ``livecam gui`` that then went away, and then closed,
crashed the process with SIGSEGV in ``~QLocalSocket`` once ``ShowRequests`` was let go (round 57, in the test
process). Each taken client's slots hold the ``ShowRequests``, and the client was the server's child too: the
deletion of the last client (its ``deleteLater`` from ``_gone``) let go of the ``ShowRequests`` and with it the
server, whose destructor deleted that client a second time, mid-destruction. Now the clients are taken out of the
server when taken and deleted once, by ``_gone``. Both run in a child process: a segfault must not end pytest.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("PySide6")

from livecam.gui import pyside_problem  # noqa: E402
from processes import run_gui_child  # noqa: E402

pytestmark = pytest.mark.skipif(pyside_problem() is not None, reason=str(pyside_problem()))

# Clients as `livecam gui` leaves them: three ask "show the window", one (round 55's look) says nothing; each goes
# away before the tray's loop gets to it.
_VANISHING = """
import socket
from livecam.gui.single_instance import SHOW, socket_path

def vanishing_clients():
    for said in (SHOW, SHOW, SHOW, b""):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(socket_path()))
        client.sendall(said)
        client.close()

def spin(ms):  # a turn of an event loop, where posted deletions run
    from PySide6 import QtCore
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(ms, loop.quit)
    loop.exec()
"""

_LET_GO = _VANISHING + """
import gc
from PySide6 import QtWidgets
from livecam.gui.single_instance import ShowRequests

app = QtWidgets.QApplication([])
shown = []
requests = ShowRequests(lambda: shown.append(True))
assert requests.listening
vanishing_clients()  # the GUI thread is busy meanwhile
for _ in range(5):  # turns outside any loop: the clients are taken and go, their deletion is posted
    app.processEvents()
requests.close()
del requests
gc.collect()
spin(1000)  # the next loop runs the posted deletions
print("ended", len(shown))
"""


def test_show_requests_let_go_while_its_clients_deletion_is_posted_ends_cleanly(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LIVECAM_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, "-c", _LET_GO], env=env, capture_output=True, text=True, timeout=120)
    # Was -11 (SIGSEGV in ~QLocalSocket, from the posted DeferredDelete), with nothing printed.
    assert done.returncode == 0, done.stderr[-2000:]
    ended, shown = done.stdout.split()
    assert ended == "ended" and int(shown) >= 1  # at least one client was taken and answered: the pattern ran


def test_a_tray_asked_while_busy_then_quit_saves_and_ends_cleanly(tmp_path):
    # The product's order (run_gui): the tray is asked while its GUI thread is busy, Quit comes on the turn that
    # takes the clients, then requests.close() and the app's shutdown (which waits on loops of its own), os._exit.
    # Passes without the change too: run_gui holds its ShowRequests to os._exit, so it is never let go early.
    app = _VANISHING + """
class App(StubApp):
    def start(self):
        vanishing_clients()  # before the loop runs: models loading

    def show_settings(self):
        print("shown", flush=True)
        QtWidgets.QApplication.quit()  # on the turn that took the clients

    def shutdown(self):
        spin(1000)
        print("shut down", flush=True)
"""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LIVECAM_CONFIG_DIR": str(tmp_path / "config")}
    out = run_gui_child(app, env=env, timeout=120)
    assert out.startswith("shown\n") and out.endswith("shut down\n")
