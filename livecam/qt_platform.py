"""Can Qt open a window here? Asked before Qt is loaded, because Qt answers "no" by aborting.

On an X display Qt loads its xcb platform plugin, which links against a dozen small libxcb-*
libraries. When one is missing Qt prints a misleading hint ("xcb-cursor0 is needed") and aborts
the whole process (exit 134). ``ldd`` names every missing library without loading anything, and
Debian/Ubuntu name their packages after the libraries, so the fix can be one exact command.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def _pyside_dir() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def uses_xcb(environ: dict[str, str] | None = None) -> bool:
    """Whether Qt would use its X11 (xcb) plugin in this environment."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return False
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    if env.get("WAYLAND_DISPLAY"):
        return False  # Qt 6 prefers its Wayland plugin there
    return bool(env.get("DISPLAY"))


def xcb_libraries() -> list[Path]:
    """The files of Qt's xcb plugin whose dependencies decide whether it loads."""
    root = _pyside_dir()
    if root is None:
        return []
    candidates = [root / "Qt" / "plugins" / "platforms" / "libqxcb.so", *sorted((root / "Qt" / "lib").glob("libQt6XcbQpa.so*"))]
    return [p for p in candidates if p.is_file()]


def missing_libraries(files: list[Path] | None = None, ldd: str | None = None) -> list[str]:
    """Sonames the xcb plugin needs that the dynamic loader cannot find (empty: all there, or unknown)."""
    ldd = ldd or shutil.which("ldd")
    files = xcb_libraries() if files is None else files
    if not ldd or not files:
        return []
    missing: list[str] = []
    for path in files:
        try:
            out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        missing += _NOT_FOUND.findall(out)
    return list(dict.fromkeys(missing))


def debian_package(soname: str) -> str:
    """'libxcb-icccm.so.4' → 'libxcb-icccm4', 'libxkbcommon-x11.so.0' → 'libxkbcommon-x11-0'."""
    name, _, version = soname.partition(".so")
    version = version.lstrip(".").split(".")[0]
    if not version:
        return name
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def xcb_problem(missing: list[str] | None = None) -> str | None:
    """One sentence saying why Qt cannot open a window on this X display, or None when it can."""
    missing = missing_libraries() if missing is None else missing
    if not missing:
        return None
    packages = " ".join(sorted({debian_package(s) for s in missing}))
    return (f"The tray app cannot open a window on X11: Qt's X11 plugin needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed; install {'it' if len(missing) == 1 else 'them'} "
            f"with: sudo apt install {packages}")


def gui_problem() -> str | None:
    """Why the tray app cannot start in this environment (checked without loading Qt), or None."""
    return xcb_problem() if uses_xcb() else None
