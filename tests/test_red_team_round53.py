"""Trust round 53: LiveCam started with its standard descriptors closed.

A launcher that closes stdin, stdout or stderr (``livecam run 2>&-``, a desktop entry or script that
runs ``livecam gui <&- >&- 2>&-``) left descriptors 0-2 free, and the next files LiveCam opened took
those numbers: seen on the start tree, the private log as 0, 1 or 2, ffmpeg's message file under a
recording as 1 or 2, and in the tray the X11 connection as 1 or 2 and the virtual-camera lock as 1.
Everything below Python that writes to "stderr" (Qt's and ONNX Runtime's warnings, libav's messages, a
fatal error's report) writes to descriptor 2 whatever it is: into the log, into the message file LiveCam
reads to explain a failed recording, or into the X11 protocol stream of the tray. LiveCam now puts
/dev/null on a closed 0-2 before it opens anything.

Found for real in the tray on an X server (Xvfb): started ``<&- >&- 2>&-``, its X11 connection was
descriptor 2, and Qt's first warning (any ``qWarning``, e.g. "QSystemTrayIcon::setVisible: No Icon set")
went into the X11 protocol stream: the tray hung for good, deaf to SIGTERM (twice in two tries; the same
run without the warning answered at once).

Both tests failed on the start tree (2439b95). tmp folders only; no timed tests (a bound on a wait is a
bound, never a measurement).
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import pytest

from tests.processes import needs_ffmpeg
from tests.test_control_window_fit import xvfb  # noqa: F401 - the real X server fixture

# Run in the child: LiveCam's own command line, while a thread notes what descriptors 0-2 are and writes
# a line to descriptor 2 as a native library's warning does (below Python, past sys.stderr).
_CHILD = textwrap.dedent("""
    import os, sys, threading
    from livecam import cli

    seen, done = set(), threading.Event()

    def watch():
        while not done.wait(0.02):
            for fd in (0, 1, 2):
                try:
                    seen.add(os.readlink(f"/proc/self/fd/{fd}"))
                except OSError:
                    seen.add("closed")
            try:
                os.write(2, b"NATIVE WARNING\\n")
            except OSError:
                pass

    threading.Thread(target=watch, daemon=True).start()
    rc = cli.main(sys.argv[2:])
    done.set()
    with open(sys.argv[1], "w") as f:
        f.write(repr(sorted(seen)))
    os._exit(rc)
""")


@needs_ffmpeg
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("closed", [(2,), (1, 2), (0, 1, 2)], ids=["2>&-", ">&- 2>&-", "<&- >&- 2>&-"])
def test_a_recording_started_with_closed_standard_descriptors_keeps_native_writes_out_of_its_files(tmp_path, closed):
    seen_file, video = tmp_path / "seen.txt", tmp_path / "call.mp4"
    args = ["run", "--source", "demo", "--output", "file", "--output-file", str(video), "--frames", "30"]

    def close_them():  # after Popen put /dev/null on 0-2: the child starts with these closed
        for fd in closed:
            os.close(fd)

    done = subprocess.run([sys.executable, "-c", _CHILD, str(seen_file), *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=close_them,
                          env=os.environ.copy(), timeout=240)
    assert done.returncode == 0

    seen = ast.literal_eval(seen_file.read_text())
    # Only /dev/null (or, before LiveCam's first line ran, still closed): never a file LiveCam opened.
    assert set(seen) <= {os.devnull, "closed"}, seen
    log = Path(os.environ["LIVECAM_CONFIG_DIR"]) / "livecam.log"
    assert "Stopped after 30 frames" in log.read_text()
    assert "NATIVE WARNING" not in log.read_text()
    cap = cv2.VideoCapture(str(video))
    frames = 0
    while cap.read()[0]:
        frames += 1
    # Playable from its first frame to its end (on a busy machine the encoder leaves some out, and says so).
    assert frames >= 1 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) > 0


# Run in the child: the tray app from LiveCam's command line; once its event loop runs, Qt warns (as Qt
# does on its own, to descriptor 2) and then asks the X server for something (the clipboard's text).
_TRAY_CHILD = textwrap.dedent("""
    import os, sys, threading, time
    from livecam import cli

    def ask():
        from PySide6 import QtCore, QtWidgets
        while QtWidgets.QApplication.instance() is None:
            time.sleep(0.05)
        app = QtWidgets.QApplication.instance()

        def in_gui():
            QtCore.qWarning("QSystemTrayIcon::setVisible: No Icon set")
            app.clipboard().setText("still answering")
            with open(sys.argv[1], "w") as f:
                f.write(app.clipboard().text())
            os._exit(0)

        QtCore.QTimer.singleShot(0, app, in_gui)

    threading.Thread(target=ask, daemon=True).start()
    sys.exit(cli.main(sys.argv[2:]))
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="closes the child's descriptors before exec (POSIX)")
def test_the_tray_started_with_closed_standard_descriptors_survives_a_qt_warning(xvfb, tmp_path):  # noqa: F811
    answer = tmp_path / "answer.txt"
    env = {**os.environ, "DISPLAY": xvfb}
    env.pop("QT_QPA_PLATFORM", None)  # the real X11 plugin: its connection is what took descriptor 2

    def close_them():
        for fd in (0, 1, 2):
            os.close(fd)

    child = subprocess.Popen([sys.executable, "-c", _TRAY_CHILD, str(answer), "gui", "--source", "demo"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             preexec_fn=close_them, env=env)
    try:
        child.wait(timeout=120)  # a bound on the wait: it answers within seconds, or hangs for ever
    except subprocess.TimeoutExpired:
        child.kill()  # SIGTERM is not enough for a tray stuck on its X11 connection
        child.wait()
    assert answer.is_file() and answer.read_text() == "still answering"
