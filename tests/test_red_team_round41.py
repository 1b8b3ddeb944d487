"""Round 41: ``livecam run --output preview``'s window and Qt's thread rules.

The preview window belonged to its PreviewOutput, and the sender's sink thread, which holds the output,
was often the last to let go of it: the window (a widget) was then deleted on that thread while the GUI
thread delivered the frame it had queued to it. The GUI thread died in pytest-qt's event processing (a
bus error or a segmentation fault: 1 run in 2 of a set of Qt test files; about 1 cycle in 20 of the stress
below, which runs 100). ``livecam run --output preview`` itself freed its window on the sink thread at its
end. Now the relay holds the window and frees it on the GUI thread, and frames reach it through the
relay, never through a signal of the window.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
from PySide6 import QtCore, QtGui  # noqa: E402

from test_red_team_round40 import QtWatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
W, H = 64, 48


def _gone(obj: QtCore.QObject) -> threading.Event:
    """Set when ``obj`` is destroyed, on whichever thread that happens."""
    event = threading.Event()
    obj.destroyed.connect(lambda *_: event.set(), QtCore.Qt.ConnectionType.DirectConnection)
    return event


def test_a_preview_output_let_go_of_on_a_worker_thread_frees_its_window_on_the_gui_thread(qtbot):
    """The last reference to the output dropped on a worker (as the sink thread drops it at the end of
    a run): its window was deleted right there. Now it is deleted when the GUI thread's events run."""
    from livecam.sinks import PreviewOutput

    with QtWatch() as watch:
        out = PreviewOutput(W, H, 30)
        window = out.window
        watch.watch(window)
        gone = _gone(window)
        del window
        last = [out]
        del out
        worker = threading.Thread(target=last.clear, name="livecam-sink")
        worker.start()
        worker.join(5)
        qtbot.waitUntil(gone.is_set, timeout=5000)  # freed, not kept for ever
    watch.assert_clean()


def test_a_frame_sent_to_a_preview_closed_since_is_dropped_and_what_was_shown_is_the_frame(qtbot):
    """The picture sent from another thread is shown, pixel for pixel; frames still on their way when the
    output is closed (the window freed at once) are dropped on the GUI thread, and sends after it raise
    nothing."""
    from livecam.sinks import PreviewOutput

    out = PreviewOutput(W, H, 30)
    image = np.zeros((H, W, 3), np.uint8)
    image[:, : W // 2] = (200, 10, 30)  # BGR
    sender = threading.Thread(target=out.send, args=(image,))
    sender.start()
    sender.join()
    assert out.pump()
    shown = out.window.pixmap().toImage()
    assert (shown.width(), shown.height()) == (W, H)
    left, right = shown.pixelColor(5, H // 2), shown.pixelColor(W - 5, H // 2)
    assert (left.red(), left.green(), left.blue()) == (30, 10, 200) and right.blue() == 0
    window = out.window
    gone = _gone(window)
    del window
    late = threading.Thread(target=lambda: [out.send(image) for _ in range(5)])
    late.start()
    late.join()
    out.close()  # on the GUI thread: the window goes now, before the five frames are delivered
    assert gone.is_set() and out.window is None
    out.send(image)
    assert not out.pump()


# Each cycle: a preview fed by a real PacedSender at 100 fps (frames made on a third thread), the window
# closed by the user, or the output closed while frames are in flight, or neither; then the output is
# dropped with the sink thread still ending, which often holds its last reference. Prints the threads the
# windows were freed on.
_STRESS = textwrap.dedent("""
    import sys, threading, time
    import numpy as np
    from PySide6 import QtCore
    from livecam.pacing import PacedSender
    from livecam.qt_app import application
    from livecam.sinks import PreviewOutput

    app = application()
    freed, warnings = [], []
    QtCore.qInstallMessageHandler(lambda mode, context, message: warnings.append(message))

    def cycle(n):
        out = PreviewOutput(64, 48, 100)
        out.window.destroyed.connect(lambda *_: freed.append(threading.current_thread().name),
                                     QtCore.Qt.ConnectionType.DirectConnection)
        sender = PacedSender(out, 100).start()
        stop = threading.Event()

        def make():
            k = 0
            while not stop.is_set():
                sender.submit(np.full((48, 64, 3), k % 256, np.uint8), time.monotonic())
                k += 1
                stop.wait(0.002)

        maker = threading.Thread(target=make)
        maker.start()
        for _ in range(3):
            out.pump()
            time.sleep(0.01)
        if n % 3 == 0:
            out.window.close()  # the user closes it
        elif n % 3 == 1:
            out.close()  # the run ends while frames are in flight
        time.sleep(0.01)
        out.pump()
        stop.set()
        maker.join()
        sender.stop()

    for n in range(int(sys.argv[1])):
        cycle(n)
        app.processEvents()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    print("freed", " ".join(freed))
    print("warnings", len(warnings), warnings[:3])
""")


def test_preview_windows_closed_and_dropped_while_frames_stream_never_crash_and_go_on_the_gui_thread():
    """In a child process: a crash there is a failed test, not a dead test run."""
    cycles = 100
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-X", "faulthandler", "-c", _STRESS, str(cycles)], env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    said = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    threads = said["freed"].split()
    assert threads == ["MainThread"] * cycles, threads
    assert said["warnings"].startswith("0 "), said["warnings"]


def test_livecam_run_with_a_preview_shows_the_picture_and_ends_with_its_window_freed_on_the_gui_thread(
    qtbot, monkeypatch, astronaut
):
    """guard: ``livecam run --output preview``'s own loop (pump on the main thread, the output closed in
    its ``finally``): the astronaut is shown, the run ends by itself, and nothing Qt made was freed off
    the GUI thread or warned about threads."""
    from livecam import app, sinks
    from livecam.settings import Settings, update

    monkeypatch.setattr(app, "catch_stop_signals", lambda handler: {})  # pytest's own handlers stay
    made: list[threading.Event] = []
    shown: list[np.ndarray] = []
    real_init, real_close = sinks.PreviewOutput.__init__, sinks.PreviewOutput.close

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        watch.watch(self.window)
        made.append(_gone(self.window))

    def close(self):
        picture = self.window.pixmap().toImage().convertToFormat(QtGui.QImage.Format.Format_BGR888)
        shown.append(np.array(picture.constBits(), np.uint8).reshape(picture.height(), picture.bytesPerLine())
                     [:, : 3 * picture.width()].reshape(picture.height(), picture.width(), 3).copy())
        real_close(self)

    monkeypatch.setattr(sinks.PreviewOutput, "__init__", init)
    monkeypatch.setattr(sinks.PreviewOutput, "close", close)
    settings = update(Settings(), capture={"source": str(FIXTURES / "sk_astronaut.png"), "width": 96, "height": 64,
                                           "fps": 30},
                      background={"mode": "off"}, output={"kind": "preview", "fps": 30},
                      runtime={"provider": "cpu", "threads": 1})
    with QtWatch() as watch:
        assert app.run_live(settings, frames=20) == 0
        assert len(made) == 1
        qtbot.waitUntil(made[0].is_set, timeout=5000)
    watch.assert_clean()
    assert len(shown) == 1 and shown[0].shape == (64, 96, 3), "no frame reached the window"
    crop = (512 - 512 * 64 // 96) // 2  # the still picture is cut to 3:2 about its middle
    expected = cv2.resize(astronaut[crop:512 - crop], (96, 64), interpolation=cv2.INTER_AREA).astype(np.int16)
    assert np.abs(shown[0].astype(np.int16) - expected).mean() < 3  # the astronaut, not a card


def test_frames_sent_while_the_main_thread_does_not_pump_wait_one_at_a_time(qtbot):
    """The sender kept sending while the main thread was busy (``livecam run`` closing its session, up to
    5 s): every frame was queued to the GUI thread, 2.7 MB each at 720p. Now one frame waits, the newest,
    and the next pump shows it once."""
    from livecam.sinks import PreviewOutput

    out = PreviewOutput(W, H, 30)
    try:
        shown: list[int] = []
        window = out.window
        real = window.show_frame
        window.show_frame = lambda image: (shown.append(int(image[0, 0, 0])), real(image))
        del window

        def send_many() -> None:
            for n in range(100):
                out.send(np.full((H, W, 3), n, np.uint8))

        sender = threading.Thread(target=send_many)
        sender.start()
        sender.join()
        assert out.pump()
        qtbot.wait(50)
        assert shown == [99], f"{len(shown)} frames delivered, not the newest one alone"
        assert out.window.pixmap().toImage().pixelColor(1, 1).red() == 99
    finally:
        out.close()
