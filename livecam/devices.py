"""Find cameras and virtual-camera devices without opening anything heavy.

On Linux everything comes from sysfs: reading ``/sys/class/video4linux`` is instant and never
grabs a camera another app is using. v4l2loopback devices are told apart from real cameras by the
``max_openers``/``buffers`` attributes only that driver creates. Elsewhere there is no such
listing, so cameras are probed briefly with OpenCV and the virtual camera is OBS's.

``SYSFS_ROOT``, ``DEV_ROOT`` and ``MODULES_ROOT`` are module constants so tests can point them at a
fake tree.
``livecam doctor``'s checks (``diagnose`` and its lines) live in ``livecam.doctor``, above this.
"""

from __future__ import annotations

import logging
import os
import platform
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SYSFS_ROOT = Path("/sys")
DEV_ROOT = Path("/dev")
MODULES_ROOT = Path("/lib/modules")  # depmod's lists, one folder per kernel
LIVECAM_LABEL = "LiveCam"
MODPROBE_FIX = 'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="LiveCam" exclusive_caps=1'
RELOAD_FIX = f"sudo modprobe -r v4l2loopback && {MODPROBE_FIX}"
OBS_FIX = "install OBS Studio and start its Virtual Camera once"
PROBE_S = 3.0  # off Linux, a camera index that does not answer in this long ends the listing


def loopback_installed() -> bool | None:
    """Whether this kernel has a v4l2loopback module to load (DKMS and the distributions' packages
    all end in depmod's list); None where the list cannot be read (a container, an unusual layout)."""
    try:
        listed = (MODULES_ROOT / os.uname().release / "modules.dep").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return "/v4l2loopback.ko" in listed


def no_loopback_sentence() -> str:
    """What to do when no v4l2loopback device exists: only the steps this machine still needs, so a
    user whose module is installed is not sent to install it again, nor one whose module is loaded
    to load it. ``livecam doctor``, ``run`` and the tray app all say this one."""
    if (SYSFS_ROOT / "module" / "v4l2loopback").is_dir():
        return ("No virtual camera: the v4l2loopback module is loaded but made no device; reload it with: "
                f"{RELOAD_FIX}")
    installed = loopback_installed()
    if installed:
        return f"No virtual camera: the v4l2loopback module is not loaded (it is installed); run: {MODPROBE_FIX}"
    if installed is False:
        return ("No virtual camera: the v4l2loopback module is not loaded, and it is not installed for this "
                f"kernel; install it (e.g. sudo apt install v4l2loopback-dkms), then run: {MODPROBE_FIX}")
    return ("No virtual camera: the v4l2loopback module is not loaded; install v4l2loopback "
            f"(e.g. sudo apt install v4l2loopback-dkms) and run: {MODPROBE_FIX}")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _v4l2_nodes(sysfs: Path) -> list[dict[str, Any]]:
    """Every /dev/videoN that sysfs knows, sorted by N."""
    base = sysfs / "class" / "video4linux"
    nodes = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith("video") or not entry.name[5:].isdigit():
            continue
        index = _read(entry / "index")
        nodes.append(
            {
                "number": int(entry.name[5:]),
                "sysfs": entry,
                "name": _read(entry / "name") or entry.name,
                # UVC cameras add a second node (index 1) for metadata; only index 0 gives pictures.
                "index": int(index) if index and index.isdigit() else 0,
                "loopback": (entry / "max_openers").exists() or (entry / "buffers").exists(),
            }
        )
    return sorted(nodes, key=lambda n: n["number"])


def is_linux() -> bool:
    return platform.system() == "Linux"


def list_cameras(max_index: int = 8) -> list[dict[str, Any]]:
    """Real cameras as ``{"index", "path", "name"}``; ``index`` is what OpenCV and ``--source`` take.

    Linux reads sysfs (v4l2loopback devices and metadata nodes are skipped); other systems probe
    OpenCV indices ``0..max_index-1`` and stop at the first that does not open, because probing a
    missing index can take a second on Windows.
    """
    if is_linux():
        return [
            {"index": n["number"], "path": str(DEV_ROOT / f"video{n['number']}"), "name": n["name"]}
            for n in _v4l2_nodes(SYSFS_ROOT)
            if not n["loopback"] and n["index"] == 0
        ]
    from livecam.oneshot import OneShot

    found = []
    for index in range(max_index):
        # Each probe on a thread of its own with a deadline: a driver that blocks in open (a camera
        # in a bad state, one another program holds) froze the settings window, `livecam doctor`
        # and the start for as long as it blocked.
        probe = OneShot(lambda index=index: _opens(index), name="livecam-camera-list")
        if not probe.finished_within(PROBE_S):
            log.warning("Camera %d did not answer within %g s (its driver is stuck); LiveCam lists the cameras "
                        "before it only.", index, PROBE_S)
            break
        if probe.error is not None:
            log.debug("probing camera %d failed: %s", index, probe.error)
            break
        if not probe.result:
            break
        found.append({"index": index, "path": "", "name": f"Camera {index}"})
    return found


def _opens(index: int) -> bool:
    import cv2

    cap = cv2.VideoCapture(index)
    try:
        return bool(cap.isOpened())
    finally:
        cap.release()


def _param_list(sysfs: Path, name: str) -> list[str]:
    text = _read(sysfs / "module" / "v4l2loopback" / "parameters" / name)
    return [p.strip() for p in text.split(",")] if text else []


def _exclusive_caps(sysfs: Path, loopback_numbers: list[int]) -> dict[int, bool | None]:
    """Device number -> its exclusive_caps module setting (None when it cannot be told).

    The module keeps one array entry per device in creation order; ``video_nr`` says which entry
    belongs to which /dev/videoN. Devices numbered automatically (-1) are matched in order, and
    devices added later with v4l2loopback-ctl have no entry at all.
    """
    caps = [c.upper() in ("Y", "1") for c in _param_list(sysfs, "exclusive_caps")]
    nrs = []
    for v in _param_list(sysfs, "video_nr"):
        try:
            nrs.append(int(v))
        except ValueError:
            nrs.append(-1)
    result: dict[int, bool | None] = {}
    unmatched = [n for n in loopback_numbers if n not in nrs]
    auto_slots = [i for i, v in enumerate(nrs) if v < 0] if nrs else list(range(len(caps)))
    for number in loopback_numbers:
        if number in nrs:
            slot = nrs.index(number)
        else:
            pos = unmatched.index(number)
            slot = auto_slots[pos] if pos < len(auto_slots) else None
        result[number] = caps[slot] if slot is not None and slot < len(caps) else None
    return result


def list_virtual_cameras() -> list[dict[str, Any]]:
    """v4l2loopback devices as ``{"path", "label", "exclusive_caps", "ready"}`` (Linux; [] elsewhere).

    ``exclusive_caps`` is True/False, or None when the module does not say for that device;
    ``ready`` means the device node exists and this user may write to it.
    """
    if not is_linux():
        return []
    loops = [n for n in _v4l2_nodes(SYSFS_ROOT) if n["loopback"]]
    caps = _exclusive_caps(SYSFS_ROOT, [n["number"] for n in loops])
    result = []
    for n in loops:
        path = DEV_ROOT / f"video{n['number']}"
        result.append(
            {
                "path": str(path),
                "label": n["name"],
                "exclusive_caps": caps[n["number"]],
                "ready": path.exists() and os.access(path, os.W_OK),
            }
        )
    return result


def find_livecam_device(label: str = LIVECAM_LABEL) -> str | None:
    """Path of the v4l2loopback device whose card label is ``label``, or None."""
    for cam in list_virtual_cameras():
        if cam["label"].strip() == label:
            return cam["path"]
    return None


def virtual_camera_label(path: str) -> str | None:
    """The card label of a v4l2loopback device path, for descriptions; None when unknown."""
    for cam in list_virtual_cameras():
        if cam["path"] == path:
            return cam["label"]
    return None
