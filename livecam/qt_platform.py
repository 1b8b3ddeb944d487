"""Can Qt open a window here? Asked before Qt is loaded, because Qt answers "no" by aborting.

On an X display Qt loads its xcb platform plugin, which links against a dozen small libxcb-*
libraries. When one is missing Qt prints a misleading hint ("xcb-cursor0 is needed") and aborts
the whole process (exit 134). ``ldd`` names every missing library without loading anything, and
Debian/Ubuntu name their packages after the libraries, so the fix can be one exact command.

Qt aborts the same way when the libraries are there but the display is not (a ``DISPLAY`` left
over from a session that ended) or ``QT_QPA_PLATFORM`` names a plugin it lacks. Those are only
known by trying, so a child process opens the platform and nothing else, and its complaint
becomes one sentence.
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


def no_display() -> bool:
    """Whether there is no display to open a window on (X11 and Wayland systems; no Qt platform named
    either): Qt aborts there."""
    if sys.platform in ("win32", "darwin"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))


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


def xcb_reason(missing: list[str]) -> str:
    packages = " ".join(sorted({debian_package(s) for s in missing}))
    return (f"Qt's X11 plugin needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed; "
            f"install {'it' if len(missing) == 1 else 'them'} with: sudo apt install {packages}")


def xcb_problem(missing: list[str] | None = None) -> str | None:
    """One sentence saying why Qt cannot open a window on this X display, or None when it can."""
    missing = missing_libraries() if missing is None else missing
    if not missing:
        return None
    return f"The tray app cannot open a window on X11: {xcb_reason(missing)}"


# Opening the platform is what aborts, so a child process does exactly that and nothing else.
_PROBE = "import sys\nfrom PySide6.QtGui import QGuiApplication\nprint(QGuiApplication(sys.argv[:1]).platformName())\n"
PROBE_TIMEOUT_S = 15.0
_NO_PLUGIN = re.compile(r'Could not find the Qt platform plugin "([^"]*)"')
_AVAILABLE = re.compile(r"Available platform plugins are: ([^\n]*?)\.?\s*$", re.MULTILINE)
_NO_X = re.compile(r"could not connect to display (\S*)")


def platform_reason(stderr: str, environ: dict[str, str] | None = None) -> str:
    """Qt's complaint when it could not open its platform, as the reason a person can act on."""
    env = os.environ if environ is None else environ
    plugin = _NO_PLUGIN.search(stderr)
    if plugin:
        available = _AVAILABLE.search(stderr)
        known = f" (it has: {available.group(1)})" if available else ""
        return (f"Qt has no platform plugin {plugin.group(1)!r}{known}; unset QT_QPA_PLATFORM "
                f"(now {env.get('QT_QPA_PLATFORM', '')!r}) or set it to one it has")
    if "wayland" in stderr.lower() and env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY"):
        # Qt then tries X as well, with no display named: that complaint is not the one to act on.
        return f"Qt could not connect to the Wayland display {env.get('WAYLAND_DISPLAY')!r}"
    display = _NO_X.search(stderr)
    if display:
        return (f"nothing answers on the X display {display.group(1) or env.get('DISPLAY', '')!r} "
                "(DISPLAY may be left over from a session that has ended)")
    if "wayland" in stderr.lower() and env.get("WAYLAND_DISPLAY"):
        return f"Qt could not connect to the Wayland display {env.get('WAYLAND_DISPLAY')!r}"
    platform = env.get("QT_QPA_PLATFORM") or ("xcb" if env.get("DISPLAY") else "the default")
    return f"Qt could not open its platform plugin ({platform}) here"


def probe_platform(environ: dict[str, str] | None = None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Open Qt's platform in a child process, where an abort costs nothing; the reason it failed, or None."""
    env = dict(os.environ if environ is None else environ)
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=False,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"the display did not answer within {timeout:.0f} s"
    except OSError:
        return None  # cannot ask; Qt itself will tell
    if done.returncode == 0:
        return None
    return platform_reason(done.stderr, env)


def gui_problem() -> str | None:
    """Why the tray app cannot start in this environment, as a reason clause, or None when it can.

    Asked without loading Qt in this process, because Qt answers "no" by aborting (exit 134).
    """
    if uses_xcb():
        missing = missing_libraries()
        if missing:
            return xcb_reason(missing)
    if not sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM"):
        return None  # Windows and macOS always have their one platform plugin
    return probe_platform()
