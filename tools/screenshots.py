"""Save README screenshots of the tray app: the settings window, the tray menu and the control window.

    python tools/screenshots.py [--out docs/screenshots] [--source demo]

It runs the real app on the bundled demo clip. Without a display it starts its own Xvfb (Debian:
apt install xvfb libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 fonts-dejavu-core). Settings and
presets go to a temporary folder, never to the user's own.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREEN = (1600, 1100)


def start_xvfb() -> subprocess.Popen | None:
    """Start Xvfb on a free display and point DISPLAY at it; None if a display exists already."""
    if os.environ.get("DISPLAY") or sys.platform in ("win32", "darwin"):
        return None
    if not shutil.which("Xvfb"):
        sys.exit("screenshots: there is no display and no Xvfb; install it with: sudo apt install xvfb")
    for number in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    else:
        sys.exit("screenshots: no free X display number between :90 and :139.")
    proc = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 10
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit("screenshots: Xvfb did not start.")
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{number}"
    return proc


def pump(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def wait_for(app, condition, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("screenshots: the app did not reach the expected state in time.")
        pump(app, 0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--source", default="demo", help="what the camera shows (default: the bundled demo clip)")
    args = parser.parse_args()

    xvfb = start_xvfb()
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen" and xvfb is not None:
        del os.environ["QT_QPA_PLATFORM"]  # offscreen has no menus on screen to grab
    os.environ["LIVECAM_CONFIG_DIR"] = tempfile.mkdtemp(prefix="livecam-shots-")
    sys.path.insert(0, str(ROOT))
    try:
        return shoot(args.out, args.source)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)
        shutil.rmtree(os.environ["LIVECAM_CONFIG_DIR"], ignore_errors=True)


def shoot(out: Path, source: str) -> int:
    from PySide6 import QtCore, QtGui, QtWidgets

    from livecam import resources
    from livecam import settings as S
    from livecam.gui import presets
    from livecam.gui.app import LiveCamApp
    from livecam.gui.icons import state_icon
    from livecam.gui.tray import ControlWindow

    app = QtWidgets.QApplication([sys.argv[0]])
    app.setApplicationName("LiveCam")
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(state_icon("off"))
    out.mkdir(parents=True, exist_ok=True)

    evening = next(p for p in resources.background_images() if "EveningGlow" in p.name)
    base = S.update(S.Settings(), capture={"source": source, "width": 1280, "height": 720},
                    output={"kind": "null"}, background={"mode": "blur", "blur": 70})
    presets.save_preset("Team meeting", base)
    presets.save_preset("Evening call", S.update(base, background={"mode": "image", "image": str(evening)},
                                                 low_light={"mode": "auto"}))
    settings = S.update(base, background={"mode": "image", "image": str(evening)})
    live = LiveCamApp(settings, persist=False)
    live.start()
    live.show_settings()
    window = live.settings_window
    window.move(0, 0)
    wait_for(app, lambda: live.bridge.state == "on" and live.bridge.last_stats is not None)
    wait_for(app, lambda: live.bridge.last_frame is not None and live.bridge.last_frame.after is not None)
    pump(app, 6.0)  # let the stats line settle on medians of warm frames
    saved = [save(window.grab(), out / "settings_window.png")]

    # The tray menu with its Background submenu open, over a wallpaper standing in for the desktop,
    # grabbed from the screen so both menus show.
    window.hide()
    live.front.hide() if isinstance(live.front, ControlWindow) else None
    backdrop = QtWidgets.QLabel()
    backdrop.setWindowFlag(QtCore.Qt.WindowType.FramelessWindowHint)
    wallpaper = QtGui.QPixmap(str(next(p for p in resources.background_images() if "ColdRipple" in p.name)))
    backdrop.setPixmap(wallpaper.scaled(660, 440, QtCore.Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                        QtCore.Qt.TransformationMode.SmoothTransformation))
    backdrop.setGeometry(0, 0, 660, 440)
    backdrop.show()
    pump(app, 0.5)
    menu = live.actions.menu
    menu.popup(QtCore.QPoint(24, 24))
    pump(app, 0.5)
    background_item = next(a for a in menu.actions() if a.menu() is live.actions.background_menu)
    menu.setActiveAction(background_item)
    item_top = menu.geometry().top() + menu.actionGeometry(background_item).top()
    live.actions.background_menu.popup(QtCore.QPoint(menu.geometry().right() - 2, item_top - 4))
    pump(app, 0.8)
    area = backdrop.geometry()
    shot = app.primaryScreen().grabWindow(0, area.x(), area.y(), area.width(), area.height())
    saved.append(save(shot, out / "tray_menu.png"))
    live.actions.background_menu.hide()
    menu.hide()
    backdrop.hide()

    # Where there is no tray, the same controls in a window (built here even on a desktop with a tray).
    control = live.front if isinstance(live.front, ControlWindow) else ControlWindow(live.actions)
    control.set_state(live.bridge.state, live.bridge.message)
    control.move(0, 0)
    control.show()
    pump(app, 0.5)
    saved.append(save(control.grab(), out / "control_window.png"))

    # The Output tab when there is no virtual camera: the same diagnosis as `livecam doctor`.
    live.store.update(output={"kind": "virtualcam"})
    window.show()
    window.tabs.setCurrentIndex(window.tabs.count() - 1)
    wait_for(app, lambda: live.bridge.state in ("on", "error") and window.output_line.text().startswith("<b>Output"))
    wait_for(app, lambda: window.checks.text() != "Checking…")
    pump(app, 1.5)
    saved.append(save(window.grab(), out / "settings_output.png"))

    live.quit()
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


def save(pixmap, path: Path) -> Path:
    if not pixmap.save(str(path)):
        raise SystemExit(f"screenshots: could not write {path}.")
    return path


if __name__ == "__main__":
    sys.exit(main())
