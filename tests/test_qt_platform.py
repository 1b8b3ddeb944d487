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


def test_qt_complaints_become_reasons_a_person_can_act_on():
    bogus = ('qt.qpa.plugin: Could not find the Qt platform plugin "bogus" in ""\nThis application failed to start '
             "because no Qt platform plugin could be initialized. Reinstalling the application may fix this problem."
             "\n\nAvailable platform plugins are: minimal, offscreen, xcb.\n")
    reason = qt_platform.platform_reason(bogus, {"QT_QPA_PLATFORM": "bogus"})
    assert reason == ("Qt has no platform plugin 'bogus' (it has: minimal, offscreen, xcb); unset QT_QPA_PLATFORM "
                      "(now 'bogus') or set it to one it has")
    stale = ("qt.qpa.xcb: could not connect to display :99\nqt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 "
             "is needed to load the Qt xcb platform plugin.\n")
    reason = qt_platform.platform_reason(stale, {"DISPLAY": ":99"})
    assert reason.startswith("nothing answers on the X display ':99'")
    assert "cursor" not in reason and "Reinstalling" not in reason  # Qt's misleading hints stay out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 and its plugins are Linux-only here")
@pytest.mark.parametrize("env_change, words", [
    ({"DISPLAY": ":99"}, "nothing answers on the X display ':99'"),  # a stale DISPLAY: no X server there
    ({"QT_QPA_PLATFORM": "bogus"}, "Qt has no platform plugin 'bogus'"),
])
def test_gui_where_qt_cannot_open_its_platform_runs_without_the_tray(tmp_path, env_change, words):
    """End to end: Qt would abort with exit 134; `livecam gui` asks a child process first, says why in
    one sentence, and carries on as `livecam run`, exit 0."""
    pytest.importorskip("PySide6")
    if env_change.get("DISPLAY") and os.path.exists("/tmp/.X11-unix/X99"):
        pytest.skip("an X server is running on :99 here")
    assert qt_platform.probe_platform({**_clean_env(), **env_change}) is not None
    env = {**_clean_env(), **env_change, "LIVECAM_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, "-m", "livecam", "gui", "--source", "demo", "--output", "null",
                           "--frames", "3", "--background", "off"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Reinstalling the application" not in done.stderr
    said = [line for line in done.stderr.splitlines() if "tray" in line]
    assert len(said) == 1 and words in said[0] and "running without the tray" in said[0], done.stderr
    assert "Stopped after 3 frames" in done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 is Linux-only here")
def test_doctor_names_a_stale_display(monkeypatch):
    pytest.importorskip("PySide6")
    from livecam import doctor

    if os.path.exists("/tmp/.X11-unix/X99"):
        pytest.skip("an X server is running on :99 here")
    monkeypatch.setattr(qt_platform, "missing_libraries", lambda *a, **k: [])
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    (line,) = doctor._gui_lines()
    assert line[0] == "error" and "nothing answers on the X display ':99'" in line[1]


def test_the_probe_passes_where_qt_can_open_its_platform():
    pytest.importorskip("PySide6")
    assert qt_platform.probe_platform({**_clean_env(), "QT_QPA_PLATFORM": "offscreen"}) is None


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DISPLAY"):
        env.pop(name, None)
    return env


def test_doctor_names_the_missing_packages(monkeypatch):
    from livecam import doctor

    monkeypatch.setenv("DISPLAY", ":0")

    monkeypatch.setattr(qt_platform, "missing_libraries", lambda *a, **k: ["libxcb-icccm.so.4"])
    lines = doctor._gui_lines()
    if "not installed (PySide6" in lines[0][1]:
        pytest.skip("PySide6 is not installed")
    if not sys.platform.startswith("linux"):
        pytest.skip("X11 check is Linux-only")
    assert lines == [("error", qt_platform.xcb_problem(["libxcb-icccm.so.4"]))]
