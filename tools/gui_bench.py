"""How the tray app behaves at full frame rate: processed fps with the preview shown and hidden, how
late the GUI thread's timers run (is the window responsive?), and how long a slider change takes to
show in a delivered frame.

    python tools/gui_bench.py [--source demo] [--size 1280x720] [--seconds 8] [--json] [--tree DIR]

A slider-drag phase moves the touch-up, low-light exposure and blur sliders every 16 ms for a few
seconds (touch-up, manual low light and blur all on) and reports the processed fps and the longest
gap between two processed frames while the drag goes on. ``--tree`` runs another checkout's
LiveCam (e.g. a ``git worktree`` of an older commit) through the same measurement.

Runs on Qt's offscreen platform unless a display is set; settings go to a temporary folder.
Medians and 99th percentiles, because the machine may be shared.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def frame_gaps(times: list[tuple[float, int]]) -> dict:
    """Processed fps and the gaps between processed frames, from (arrival time, frame number) pairs
    the GUI saw. It may skip frames, so a gap spanning k frame numbers counts as k equal gaps."""
    gaps: list[float] = []
    for (t0, i0), (t1, i1) in zip(times, times[1:]):
        if i1 > i0:
            gaps += [(t1 - t0) / (i1 - i0) * 1e3] * (i1 - i0)
    processed = times[-1][1] - times[0][1] if len(times) > 1 else 0
    span = times[-1][0] - times[0][0] if len(times) > 1 else 1
    return {"fps_processed": round(processed / span, 1),
            "longest_gap_ms": round(max(gaps), 1) if gaps else None,
            "gap_ms_p99": round(sorted(gaps)[int(0.99 * (len(gaps) - 1))], 1) if gaps else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="demo")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tree", default=str(ROOT), help="the LiveCam checkout to measure")
    parser.add_argument("--drag-only", action="store_true", help="only the slider-drag phase")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["LIVECAM_CONFIG_DIR"] = tempfile.mkdtemp(prefix="livecam-bench-")
    sys.path.insert(0, str(Path(args.tree).resolve()))
    import cv2

    cv2.setNumThreads(1)
    from PySide6 import QtCore, QtWidgets

    from livecam import settings as S
    from livecam.gui.app import LiveCamApp

    width, height = (int(v) for v in args.size.split("x"))
    app = QtWidgets.QApplication([sys.argv[0]])
    settings = S.update(S.Settings(), capture={"source": args.source, "width": width, "height": height},
                        output={"kind": "null"}, background={"mode": "blur", "blur": 60}, runtime={"threads": 1})
    live = LiveCamApp(settings, persist=False)
    live.start()

    def pump_until(condition, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit("gui_bench: the app did not start in time.")
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)

    pump_until(lambda: live.bridge.last_frame is not None)

    def run_phase(seconds: float) -> dict:
        """Frames delivered and timer lateness while the event loop runs for ``seconds``."""
        frames, late = [], []
        live.bridge.frame_ready.connect(lambda p: frames.append((time.monotonic(), p.index)))
        timer = QtCore.QTimer(interval=10)
        timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        last = [time.monotonic()]

        def tick() -> None:
            now = time.monotonic()
            late.append(max(0.0, (now - last[0]) * 1e3 - 10))
            last[0] = now

        timer.timeout.connect(tick)
        loop = QtCore.QEventLoop()
        QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
        cpu0, wall0 = time.thread_time(), time.monotonic()
        timer.start()
        loop.exec()
        timer.stop()
        gui_cpu = (time.thread_time() - cpu0) / (time.monotonic() - wall0)
        live.bridge.frame_ready.disconnect()
        live.bridge.frame_ready.connect(live.settings_window.show_frame)
        stages = live.bridge.last_stats.stages if live.bridge.last_stats else {}
        processed = frames[-1][1] - frames[0][1] if len(frames) > 1 else 0
        span = frames[-1][0] - frames[0][0] if len(frames) > 1 else 1
        late.sort()
        return {
            "fps_processed": round(processed / span, 1),
            "fps_shown": round((len(frames) - 1) / span, 1),
            "gui_thread_cpu_percent": round(100 * gui_cpu, 1),
            "timer_late_ms_median": round(statistics.median(late), 2),
            "timer_late_ms_p99": round(late[int(0.99 * (len(late) - 1))], 2),
            "timer_late_ms_max": round(late[-1], 2),
            "stages_ms": {k: round(v, 2) for k, v in stages.items()},
        }

    def drag_phase(seconds: float) -> dict:
        """Sliders dragged the whole time: processed fps and the longest gap between processed frames."""
        live.store.update(touch_up={"strength": 50}, low_light={"mode": "manual", "exposure": 0.5, "denoise": 40},
                          background={"mode": "blur", "blur": 40})
        pump_until(lambda: live.bridge.last_frame.settings.touch_up.strength == 50)
        window = live.settings_window
        sliders = [window.sliders[k].slider for k in ("touch_up.strength", "low_light.exposure", "background.blur")]
        times: list[tuple[float, int]] = []
        live.bridge.frame_ready.connect(lambda p: times.append((time.monotonic(), p.index)))
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
            for k, slider in enumerate(sliders):
                lo, hi = slider.minimum(), slider.maximum()
                span = hi - lo
                phase = (n + 7 * k) % 60
                slider.setValue(lo + span // 4 + (span // 2) * (phase if phase < 30 else 60 - phase) // 30)
            tick = time.monotonic() + 0.016
            while time.monotonic() < tick:
                app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        live.bridge.frame_ready.disconnect()
        live.bridge.frame_ready.connect(live.settings_window.show_frame)
        return {"slider_moves": n, **frame_gaps(times)}

    def badge_phase(seconds: float) -> dict:
        """The photo avatar on, its badge switched on and off every half second: the longest gap
        between processed frames (a rebuild on the processing thread shows here)."""
        photo = str(ROOT / "tests" / "fixtures" / "mpl_grace_hopper.jpg")
        live.store.update(avatar={"mode": "animate", "photo": photo}, badge={"enabled": True}, touch_up={"strength": 0},
                          low_light={"mode": "off"})
        pump_until(lambda: live.bridge.last_frame.settings.avatar.mode == "animate", timeout=60)
        end_warm = time.monotonic() + 2.0
        while time.monotonic() < end_warm:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
        times: list[tuple[float, int]] = []
        live.bridge.frame_ready.connect(lambda p: times.append((time.monotonic(), p.index)))
        end = time.monotonic() + seconds
        flips = 0
        while time.monotonic() < end:
            flips += 1
            live.store.update(badge={"enabled": flips % 2 == 0})
            tick = time.monotonic() + 0.5
            while time.monotonic() < tick:
                app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        live.bridge.frame_ready.disconnect()
        live.bridge.frame_ready.connect(live.settings_window.show_frame)
        return {"badge_flips": flips, **frame_gaps(times)}

    results = {"source": args.source, "size": args.size, "tree": args.tree}
    run_phase(2.0)  # warm-up: model load, first medians
    if args.drag_only:
        live.show_settings()
        results["still"] = run_phase(2.0)
        results["drag"] = drag_phase(args.seconds)
        results["badge"] = badge_phase(args.seconds)
        live.quit()
        print(json.dumps(results) if args.json else "\n".join(f"{k}: {v}" for k, v in results.items()))
        return 0
    live.settings_window.hide()
    results["preview_hidden"] = run_phase(args.seconds)
    live.show_settings()
    results["preview_shown"] = run_phase(args.seconds)

    # Slider → first delivered frame processed with the new value.
    slider = live.settings_window.sliders["background.blur"].slider
    waits = []
    for n in range(20):
        target = 20 + (n % 2) * 60
        t0 = time.monotonic()
        slider.setValue(target)
        pump_until(lambda target=target: live.bridge.last_frame.settings.background.blur == target, timeout=5)
        waits.append((time.monotonic() - t0) * 1e3)
        end = time.monotonic() + 0.1
        while time.monotonic() < end:
            app.processEvents()
    results["slider_to_frame_ms_median"] = round(statistics.median(waits), 1)
    results["slider_to_frame_ms_max"] = round(max(waits), 1)
    live.quit()

    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
