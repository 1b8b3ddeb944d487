"""The tray app never dies with Qt's abort: a missing X11 library is found before Qt loads, named
with the exact install command, and LiveCam keeps running without the tray."""
import os
import stat
import subprocess
import sys

import pytest

from livecam import qt_platform

MISSING = "\tlibxcb-icccm.so.4 => not found\n\tlibxcb-keysyms.so.1 => not found\n\tlibc.so.6 => /lib/libc.so.6\n"


def _fake_ldd(tmp_path, output: str):
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    ldd = folder / "ldd"
    ldd.write_text(f"#!/bin/sh\nprintf '%s' '{output}'\n")
    ldd.chmod(ldd.stat().st_mode | stat.S_IEXEC)
    return folder


@pytest.mark.parametrize("soname, package", [
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
])
def test_library_names_become_debian_packages(soname, package):
    assert qt_platform.debian_package(soname) == package


def test_missing_libraries_are_read_from_ldd(tmp_path):
    folder = _fake_ldd(tmp_path, MISSING)
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")
    missing = qt_platform.missing_libraries([plugin, plugin], ldd=str(folder / "ldd"))
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    sentence = qt_platform.xcb_problem(missing)
    assert sentence.endswith("sudo apt install libxcb-icccm4 libxcb-keysyms1")
    assert qt_platform.xcb_problem([]) is None


def test_which_platform_qt_would_use():
    assert qt_platform.uses_xcb({"DISPLAY": ":0"}) == sys.platform.startswith("linux")
    assert not qt_platform.uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"})
    assert not qt_platform.uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"})
    assert not qt_platform.uses_xcb({})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 check is Linux-only")
def test_gui_without_its_x11_libraries_runs_without_the_tray(tmp_path, astronaut):
    """End to end in a subprocess: `livecam gui` on an X display whose xcb libraries are missing
    (reported by ldd) says what to install and carries on as `livecam run`, exit 0, no abort."""
    pytest.importorskip("PySide6")
    import cv2

    picture = tmp_path / "me.png"
    cv2.imwrite(str(picture), astronaut)
    folder = _fake_ldd(tmp_path, MISSING)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "DISPLAY": ":93",
           "LIVECAM_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("QT_QPA_PLATFORM", None)
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run([sys.executable, "-m", "livecam", "gui", "--source", str(picture), "--output", "null",
                           "--frames", "3", "--background", "off"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in done.stderr
    assert "running without the tray" in done.stderr
    assert done.stderr.count("libxcb-icccm4") == 1, "said once"


def test_doctor_names_the_missing_packages(monkeypatch):
    from livecam import devices

    monkeypatch.setenv("DISPLAY", ":0")

    monkeypatch.setattr(qt_platform, "missing_libraries", lambda *a, **k: ["libxcb-icccm.so.4"])
    lines = devices._gui_lines()
    if "not installed (PySide6" in lines[0][1]:
        pytest.skip("PySide6 is not installed")
    if not sys.platform.startswith("linux"):
        pytest.skip("X11 check is Linux-only")
    assert lines == [("error", qt_platform.xcb_problem(["libxcb-icccm.so.4"]))]
