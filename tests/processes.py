"""Test helpers for child processes: a stalled encoder to inject, whether a process lives on, and a
signal timed to the process's end."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# Render and recording encode through ffmpeg; the quick suite installs it, LIVECAM_NO_APT=1 may not.
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def stalled_ffmpeg(folder: Path, pids: Path) -> Path:
    """An ``ffmpeg`` in ``folder/bin`` that lists libx264 and -fps_mode, then reads nothing and never
    ends (a hung encoder); each one started appends its pid to ``pids``. Returns the executable."""
    exe = folder / "bin" / "ffmpeg"
    exe.parent.mkdir()
    exe.write_text('#!/bin/sh\ncase "$*" in *-encoders*) echo " V....D libx264 H.264"; exit 0;;\n'
                   '  *"-h long"*) echo "-fps_mode           set framerate mode"; exit 0;; esac\n'
                   f"echo $$ >> {pids}\nexec sleep 600\n")
    exe.chmod(0o755)
    return exe


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0):
    """Send ``sig`` to ``proc`` and wait for it to end: (seconds that took, its stdout, its stderr)."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout)
    return time.monotonic() - t0, out, err


# The tray app's start (run_gui) in a child process, with the app itself replaced by ``App``, a
# StubApp whose source the test gives: run_gui takes over the signals and the QApplication, so it is
# not run in the test process. The stub's start ends the event loop unless it overrides start.
_RUN_GUI_CHILD = """
import sys
from PySide6 import QtCore, QtWidgets
import livecam.gui as gui
import livecam.gui.app as gui_app
from livecam import qt_platform
from livecam.settings import Settings

class StubApp:
    def __init__(self, settings, **options):
        self.options = options

    def start(self):
        QtCore.QTimer.singleShot(0, QtWidgets.QApplication.quit)

    def quit(self):
        QtWidgets.QApplication.quit()

    def shutdown(self):
        pass

    def show_settings(self):  # asked for by a second livecam gui (single_instance)
        pass

@APP@

gui_app.LiveCamApp = App
qt_platform.gui_problem = lambda: None  # offscreen: nothing to probe
sys.exit(gui.run_gui(Settings()))
"""


def run_gui_child(app: str, *args: str, env: dict, timeout: float = 300) -> str:
    """The stdout of run_gui run in a child with LiveCamApp replaced by ``app`` (source defining
    ``class App(StubApp)``); fails the test on a non-zero exit (subprocess.TimeoutExpired past ``timeout``)."""
    script = _RUN_GUI_CHILD.replace("@APP@", textwrap.dedent(app))
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
