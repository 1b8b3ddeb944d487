"""Nothing leaves the machine: what ``livecam doctor`` can check of it from inside the process.

The proof is tests/test_no_network.py (a live session with every effect on, traced by strace: no
internet socket at all). It rests on one switch, ONNX Runtime's telemetry, which livecam/__init__.py
turns off before onnxruntime can load; this module checks that the switch took effect here. The only
commands that use the network on purpose are ``livecam models fetch`` and the install scripts.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import livecam

TELEMETRY_VARIABLE = "ORT_DISABLE_TELEMETRY"
_STORE = Path("Microsoft") / "DeveloperTools" / ".onnxruntime"


def telemetry_stores() -> list[Path]:
    """Where ONNX Runtime keeps its telemetry device id and event queue (it honours XDG_CACHE_HOME,
    by the rule LiveCam's own folders follow: a relative value is ignored)."""
    from livecam.settings import home_dir, xdg_folder

    caches = [xdg_folder("XDG_CACHE_HOME", ".cache"), home_dir() / ".cache"]
    return [cache / _STORE for cache in dict.fromkeys(caches)]


def internet_sockets() -> int:
    """How many IPv4/IPv6 sockets this process holds open (Linux; 0 where /proc cannot tell)."""
    inodes = set()
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        try:
            rows = Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        inodes.update(row.split()[9] for row in rows if len(row.split()) > 9)
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return 0
    mine = 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor is one)
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        mine += bool(match and match.group(1) in inodes)
    return mine


def network_line() -> tuple[str, str]:
    """The doctor's line: ("ok", ...) when every check holds, else what is wrong and what to do."""
    from livecam.messages import shown

    value = os.environ.get(TELEMETRY_VARIABLE)
    if value != "1" or livecam.ORT_LOADED_FIRST:
        why = (f"{TELEMETRY_VARIABLE} is {shown(value) if value is not None else 'unset'}" if value != "1"
               else "onnxruntime was imported before livecam")
        return ("error", (f"ONNX Runtime's telemetry may be running in this process ({why}); start LiveCam "
                          "with the livecam command, or import livecam before onnxruntime."))
    sockets = internet_sockets()
    if sockets:
        return ("error", (f"This process holds {sockets} internet socket(s) although LiveCam opens none; "
                          "please report it."))
    stores = [store for store in telemetry_stores() if store.exists()]
    if stores:
        return ("warn", (f"LiveCam sends nothing, but an ONNX Runtime telemetry store exists at "
                         f"{shown(stores[0])} (made by an older LiveCam or another program); delete that folder."))
    return ("ok", (f"No network access: verified by ONNX Runtime's telemetry being off before it loaded "
                   f"({TELEMETRY_VARIABLE}=1), no telemetry store in ~/.cache/Microsoft and no internet socket "
                   "in this process; only `livecam models fetch` downloads."))
