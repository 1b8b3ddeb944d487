"""A new user's first hour, the rough edges found by walking it (Qt's offscreen platform, the
bundled astronaut as the camera, no virtual-camera device, a fake /sys and /lib/modules):

- the settings window, opened after the output is (the tray starts first), said "The output opens
  when LiveCam is on." while LiveCam was on;
- the settings window asked 1040 px of height (the Face tab), taller than a laptop's screen, so the
  On and Close buttons were below its edge;
- the tray's first bubble told a user with no virtual camera to pick "LiveCam" in the call app;
- `livecam doctor` sent a user whose v4l2loopback is installed to install it again;
- `bash scripts/run.sh --help` waited for the 20 s compile before printing the help.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from livecam import devices, doctor

ROOT = Path(__file__).resolve().parents[1]
WAIT_MS = 15_000  # generous for a loaded 2-core machine
FIXTURES = Path(__file__).resolve().parent / "fixtures"


# ------------------------------------------------------------------ the tray app


@pytest.fixture
def qt(qtbot):
    pytest.importorskip("PySide6")
    from livecam.gui import pyside_problem

    problem = pyside_problem()
    if problem:
        pytest.skip(problem)
    return qtbot


@pytest.fixture
def make_app(qt):
    from livecam.gui.app import LiveCamApp

    made = []

    def make(output: str = "null", open_output=None, first_start: bool = False):
        from livecam import settings as S
        from livecam.gui.bridge import LiveBridge

        settings = S.update(S.Settings(), capture={"source": str(FIXTURES / "sk_astronaut.png"), "width": 512,
                                                    "height": 512, "fps": 30},
                            output={"kind": output, "fps": 30}, background={"mode": "off"})
        bridge = LiveBridge(settings, open_output=open_output) if open_output else None
        made.append(LiveCamApp(settings, bridge=bridge, persist=False, first_start=first_start))
        return made[-1]

    yield make
    for app in made:
        app.shutdown()
    for app in made:
        assert app.wait_for_checks(60)


def test_a_settings_window_opened_after_the_output_says_where_the_frames_go(make_app, qt):
    app = make_app()
    app.start()
    qt.waitUntil(lambda: app.bridge.state == "on", timeout=WAIT_MS)
    app.show_settings()  # the first start: the tray first, the window when the user clicks the icon
    line = app.settings_window.output_line
    assert "Nothing leaves LiveCam: the output is set to none" in line.text()
    assert "opens when LiveCam is on" not in line.text()

    app.actions.running.trigger()  # off: the sentence about the closed output must not linger
    qt.waitUntil(lambda: app.bridge.state == "off", timeout=WAIT_MS)
    assert "The output opens when LiveCam is on." in line.text()
    app.actions.running.trigger()  # on again
    qt.waitUntil(lambda: "Nothing leaves LiveCam" in line.text(), timeout=WAIT_MS)


def test_the_settings_window_fits_a_laptop_screen_with_its_buttons_on_it(make_app, qt):
    from PySide6 import QtWidgets

    from livecam.gui import settings_window

    TITLE_BAR = getattr(settings_window, "TITLE_BAR", 40)  # px of title bar and frame around the window

    app = make_app()
    app.show_settings()
    window = app.settings_window
    qt.waitUntil(window.isVisible, timeout=WAIT_MS)
    QtWidgets.QApplication.processEvents()

    # 1280 × 720 is the smallest common desktop (a 1080p laptop at 150 %): window and title bar fit it.
    assert window.minimumSizeHint().height() + TITLE_BAR <= 720, window.minimumSizeHint()
    room = window.screen().availableGeometry()  # the offscreen screen: 800 × 800
    assert window.height() + TITLE_BAR <= room.height()
    # It opens as tall as the screen allows, not Qt's two thirds of it (which showed a third of a tab).
    assert window.height() == min(window.sizeHint().height(), room.height() - TITLE_BAR)
    for text in ("Close", "Save as…"):
        (button,) = [b for b in window.findChildren(QtWidgets.QPushButton) if b.text() == text]
        bottom = button.mapTo(window, button.rect().bottomRight())
        assert button.isVisible() and bottom.y() < window.height() and bottom.x() < window.width(), text

    # Every control of the tallest tab is still reachable: its tab scrolls to it.
    (face,) = [n for n in range(window.tabs.count()) if window.tabs.tabText(n) == "Face"]
    window.tabs.setCurrentIndex(face)
    scroll = window.tabs.currentWidget()
    assert isinstance(scroll, QtWidgets.QScrollArea)
    last = window.check_boxes["badge.enabled"]
    QtWidgets.QApplication.processEvents()
    scroll.ensureWidgetVisible(last)
    QtWidgets.QApplication.processEvents()
    top_left = last.mapTo(scroll.viewport(), last.rect().topLeft())
    assert 0 <= top_left.y() and top_left.y() + last.height() <= scroll.viewport().height()


def test_a_scrolled_tab_keeps_the_tabs_own_background(make_app, qt):
    from PySide6 import QtWidgets

    app = make_app()
    app.show_settings()
    window = app.settings_window
    qt.waitUntil(window.isVisible, timeout=WAIT_MS)

    def empty_corner(title: str):
        (n,) = [n for n in range(window.tabs.count()) if window.tabs.tabText(n) == title]
        window.tabs.setCurrentIndex(n)
        QtWidgets.QApplication.processEvents()
        page = window.tabs.currentWidget()
        corner = page.mapTo(window, page.rect().bottomLeft()) + QtCore.QPoint(4, -4)  # below the last group
        return window.grab().toImage().pixelColor(corner).name()

    from PySide6 import QtCore

    # Background scrolls, Camera does not: both show the tab pane's colour below their controls.
    assert empty_corner("Background") == empty_corner("Camera")


@pytest.fixture
def tray_bubbles(qt, monkeypatch):
    """The tray app as on a desktop with a tray that shows messages; the bubbles it shows."""
    from PySide6 import QtWidgets

    shown: list[tuple[str, str]] = []
    tray = QtWidgets.QSystemTrayIcon
    monkeypatch.setattr(tray, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(tray, "supportsMessages", staticmethod(lambda: True))
    monkeypatch.setattr(tray, "showMessage", lambda self, title, body, *_: shown.append((title, body)))
    return shown


def test_the_tray_does_not_welcome_a_user_to_a_virtual_camera_that_does_not_exist(make_app, qt, tray_bubbles):
    from livecam import output as outputs
    from livecam.gui.tray import TrayFront

    missing = "No virtual camera device exists (the v4l2loopback module is not loaded); run: sudo modprobe …"

    def no_device(settings, width, height):
        return outputs.NullOutput(width, height, settings.output.fps), missing

    app = make_app(output="virtualcam", open_output=no_device)
    assert isinstance(app.front, TrayFront)
    app.start()
    qt.waitUntil(lambda: app.bridge.state == "error", timeout=WAIT_MS)
    qt.waitUntil(lambda: bool(tray_bubbles), timeout=WAIT_MS)
    assert not any('Pick "LiveCam"' in body or "pick \"LiveCam\"" in body for _, body in tray_bubbles)
    assert [title for title, _ in tray_bubbles] == ["LiveCam"]  # the warning with the fix, nothing else
    assert missing in tray_bubbles[0][1]


def test_the_tray_welcomes_once_with_where_the_picture_goes(make_app, qt, tray_bubbles):
    app = make_app(output="null")
    app.start()
    qt.waitUntil(lambda: bool(tray_bubbles), timeout=WAIT_MS)
    ((title, body),) = tray_bubbles
    assert title == "LiveCam is running"
    assert body.startswith("Nothing leaves LiveCam: the output is set to none")
    assert body.endswith("right-click it for effects and presets.")

    app.actions.running.trigger()  # off and on again: no second welcome
    qt.waitUntil(lambda: app.bridge.state == "off", timeout=WAIT_MS)
    app.actions.running.trigger()
    qt.waitUntil(lambda: app.bridge.state == "on", timeout=WAIT_MS)
    assert len(tray_bubbles) == 1


@pytest.mark.parametrize("first_start", [True, False])
def test_a_first_start_opens_the_settings_window_beside_the_tray(make_app, qt, tray_bubbles, first_start):
    """A tray icon alone is easy to miss (GNOME folds it away): until the settings are saved once, the
    tray app opens with the preview and the controls in view; afterwards it starts in the tray."""
    from livecam.gui.tray import TrayFront

    app = make_app(first_start=first_start)
    assert isinstance(app.front, TrayFront)
    app.start()
    qt.waitUntil(lambda: app.bridge.state == "on", timeout=WAIT_MS)
    if first_start:
        qt.waitUntil(app.settings_window.isVisible, timeout=WAIT_MS)
    else:
        assert app._window is None  # not even built: nothing on screen but the tray icon


# The app replaced by one that prints whether it was told this is a first start, then quits.
_FIRST_START_APP = """
class App(StubApp):
    def __init__(self, settings, first_start=None, **_):
        print("first_start", first_start)
"""


def test_run_gui_calls_it_a_first_start_while_there_is_no_settings_file(tmp_path):
    import livecam
    from processes import run_gui_child

    from livecam.settings import Settings, save

    config = tmp_path / "config"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LIVECAM_CONFIG_DIR": str(config),
           "PYTHONPATH": str(Path(livecam.__file__).resolve().parents[1])}

    def told() -> str:
        return run_gui_child(_FIRST_START_APP, env=env).split()[-1]

    assert told() == "True"
    # The tray made the private folder for its socket (single_instance), as the virtual camera's lock does.
    config.mkdir(mode=0o700, exist_ok=True)
    save(Settings(), config / "settings.json")
    assert told() == "False"


# ------------------------------------------------------------------ livecam doctor


@pytest.fixture
def bare_linux(tmp_path, monkeypatch):
    """A Linux with no video devices: a fake /sys, /dev and /lib/modules for this kernel."""
    import platform

    sysfs, dev, modules = tmp_path / "sys", tmp_path / "dev", tmp_path / "modules"
    (sysfs / "class" / "video4linux").mkdir(parents=True)
    dev.mkdir()
    (modules / os.uname().release).mkdir(parents=True)
    monkeypatch.setattr(devices, "SYSFS_ROOT", sysfs)
    monkeypatch.setattr(devices, "DEV_ROOT", dev)
    monkeypatch.setattr(devices, "MODULES_ROOT", modules)
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    return sysfs, modules / os.uname().release


def _virtual_camera_sentence() -> str:
    ((status, sentence),) = doctor._virtual_camera_lines()
    assert status == "error"
    return sentence


def test_doctor_asks_only_to_load_a_module_that_is_installed(bare_linux):
    _, kernel = bare_linux
    (kernel / "modules.dep").write_text("kernel/drivers/media/usb/uvc/uvcvideo.ko: kernel/drivers/media/v4l2-core/videodev.ko\n"
                                        "updates/dkms/v4l2loopback.ko.xz:\n")
    sentence = _virtual_camera_sentence()
    assert sentence == ("No virtual camera: the v4l2loopback module is not loaded (it is installed); run: "
                        + devices.MODPROBE_FIX)
    assert "apt install" not in sentence


def test_doctor_says_to_install_a_module_this_kernel_lacks(bare_linux):
    _, kernel = bare_linux
    (kernel / "modules.dep").write_text("kernel/drivers/media/usb/uvc/uvcvideo.ko: kernel/drivers/media/v4l2-core/videodev.ko\n")
    sentence = _virtual_camera_sentence()
    assert "not installed for this kernel" in sentence and "sudo apt install v4l2loopback-dkms" in sentence
    assert sentence.endswith(devices.MODPROBE_FIX)


def test_doctor_reloads_a_module_that_made_no_device(bare_linux):
    sysfs, _ = bare_linux
    (sysfs / "module" / "v4l2loopback" / "parameters").mkdir(parents=True)
    sentence = _virtual_camera_sentence()
    assert sentence == ("No virtual camera: the v4l2loopback module is loaded but made no device; reload it with: "
                        + devices.RELOAD_FIX)


def test_doctor_without_a_module_list_names_both_steps(bare_linux):
    _, kernel = bare_linux  # no modules.dep: a container, or an unusual layout
    sentence = _virtual_camera_sentence()
    assert "sudo apt install v4l2loopback-dkms" in sentence and sentence.endswith(devices.MODPROBE_FIX)


# ------------------------------------------------------------------ scripts/run.sh


def _script_tree(tmp_path: Path) -> tuple[Path, Path]:
    """scripts/run.sh beside an installed, compiled-before .venv whose programs only log their calls."""
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    (tree / "scripts" / "run.sh").write_text((ROOT / "scripts" / "run.sh").read_text())
    (tree / "pyproject.toml").write_text("")
    (tree / "livecam").mkdir()
    (tree / "livecam" / "x_kernels.py").write_text("")
    log = tmp_path / "calls.log"
    bin_ = tree / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for name in ("livecam", "python"):
        (bin_ / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
        (bin_ / name).chmod(0o755)
    (tree / ".venv" / ".installed").write_text("gui \n")  # the CPU flavour, as LIVECAM_GPU=0 asks
    return tree, log


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["--version"], ["-h"]])
def test_run_script_answers_help_without_the_compile(tmp_path, args):
    tree, log = _script_tree(tmp_path)
    env = {**os.environ, "LIVECAM_GPU": "0"}
    done = subprocess.run(["bash", str(tree / "scripts" / "run.sh"), *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [f"livecam {' '.join(args)}"]
    assert "Preparing" not in done.stdout and not (tree / ".venv" / ".compiled").exists()


def test_run_script_still_compiles_before_the_first_start(tmp_path):
    tree, log = _script_tree(tmp_path)
    env = {**os.environ, "LIVECAM_GPU": "0"}
    done = subprocess.run(["bash", str(tree / "scripts" / "run.sh"), "run", "--blur", "60"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["python -m livecam.jit", "livecam run --blur 60"]
    assert (tree / ".venv" / ".compiled").exists()


# ------------------------------------------------------------------ livecam devices


def test_devices_with_nothing_found_says_what_happens_and_where_to_look(bare_linux, capsys):
    from livecam import cli

    assert cli.main(["devices"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["Cameras:", "  none found; LiveCam shows its demo clip until one is plugged in",
                   "Virtual cameras:", "  none found; livecam doctor says how to create one"]


def test_file_dialogs_open_where_the_pictures_are_then_where_the_last_pick_was(qt, tmp_path, monkeypatch):
    """The first photo or background pick opened in home; it opens in the Pictures folder (Videos for
    a video), and after a pick in the folder of that pick; home only where neither exists."""
    from PySide6 import QtCore, QtWidgets

    from livecam.gui.actions import LiveCamActions
    from livecam.gui.store import SettingsStore
    from livecam.media import IMAGE_FILTER, VIDEO_FILTER
    from livecam.settings import Settings

    pictures, videos, elsewhere = tmp_path / "Pictures", tmp_path / "Videos", tmp_path / "trip"
    for folder in (pictures, videos, elsewhere):
        folder.mkdir()
    kind = QtCore.QStandardPaths.StandardLocation
    places = {kind.PicturesLocation: str(pictures), kind.MoviesLocation: str(videos)}
    monkeypatch.setattr(QtCore.QStandardPaths, "writableLocation", lambda k: places.get(k, ""))
    opened, answer = [], [""]

    def dialog(parent, title, folder, filter_):
        opened.append(folder)
        return answer[0], ""

    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", dialog)
    actions = LiveCamActions(SettingsStore(Settings(), persist=False))
    try:
        assert actions.ask_file("photo", IMAGE_FILTER) == ""
        assert actions.ask_file("video", VIDEO_FILTER) == ""
        answer[0] = str(elsewhere / "me.jpg")
        actions.ask_file("photo", IMAGE_FILTER)
        actions.ask_file("photo", IMAGE_FILTER)
        assert opened == [str(pictures), str(videos), str(pictures), str(elsewhere)]
        fresh = LiveCamActions(SettingsStore(Settings(), persist=False))
        places.clear()
        answer[0] = ""
        fresh.ask_file("photo", IMAGE_FILTER)
        assert opened[-1] == str(Path.home())
        fresh.deleteLater()
    finally:
        actions.deleteLater()
