"""Idle when nobody watches (Linux): know whether any app has the LiveCam camera open.

A call app opens the v4l2loopback device node to read frames and closes it when it is done, so
inotify's open and close events on the node say *when* something changed (the way the peer
Linux-Fake-Background-Webcam does it, with the same small inotify_simple library), and a look at
``/proc/*/fd`` says *who* has it open now. Counting events alone drifts: LiveCam's own writer
opens and closes the node when the virtual camera is reopened, and an app that had the camera
open before LiveCam started sends no event. The /proc look sees processes of the same user
(and all of them as root) — the apps that matter on a desktop.

:class:`ViewerWatch` runs one thread that sleeps in ``select`` until an event comes, so it costs
nothing while nothing happens. It calls ``on_change(True, t)`` as soon as an app opens the camera
and ``on_change(False, t)`` once the last one has closed it for ``grace_s`` (so a browser that
opens and closes every camera while listing them does not make LiveCam flap). The front end then
releases the webcam and stops processing, or starts them again; see ``app.run_live``.
"""
from __future__ import annotations

import errno
import logging
import os
import platform
import selectors
import stat
import threading
import time
from collections.abc import Callable
from typing import Any

from livecam.messages import OUT_OF

log = logging.getLogger(__name__)

GRACE_S = 0.5  # the last app closed the camera this long ago: nobody is watching
RESCAN_AFTER_OPEN_S = (0.02, 0.1, 0.3)  # an opener's fd appears in /proc a moment after its open event

OnChange = Callable[[bool, float], None]

# Why the kernel refuses to watch a node, in words that point at the fix. inotify's own errno values
# mean its limits: ENOSPC is "no watch left" (fs.inotify.max_user_watches), not a full disk, and EMFILE
# at its start is as often the per-user instance limit as the open-file limit.
_REFUSED = {
    errno.ENOSPC: "the system's limit of inotify watches is reached (fs.inotify.max_user_watches)",
    errno.EMFILE: "the limit of inotify instances (fs.inotify.max_user_instances) or of open files is reached",
    errno.ENFILE: "the system's limit of open files is reached",
    errno.ENOMEM: "the system is out of memory",
}


class CannotLook(OSError):
    """/proc cannot be listed just now (the process at its open-file limit): who watches is not known."""


def openers(device: str, exclude: frozenset[int] | None = None) -> set[int]:
    """Pids of the processes that have ``device`` open, as far as /proc shows, leaving out
    ``exclude`` (default: this process, whose own handle is the writer, not a viewer)."""
    exclude = frozenset({os.getpid()}) if exclude is None else exclude
    target = os.path.realpath(device)
    found: set[int] = set()
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError as exc:
        # Not "nobody": taken for that, an app that held the camera got the paused card, and kept it for
        # its whole call (no further open or close came to make LiveCam look again).
        raise CannotLook(exc.errno, exc.strerror) from None
    for pid in pids:
        if pid in exclude:
            continue
        folder = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(folder)
        except OSError as exc:
            if exc.errno in OUT_OF:  # this process out of files or memory, not the other one's doing
                raise CannotLook(exc.errno, exc.strerror) from None
            continue  # gone, or another user's process
        for fd in fds:
            try:
                if os.readlink(f"{folder}/{fd}") == target:
                    found.add(pid)
                    break
            except OSError:
                continue
    return found


def unavailable_reason(device: str | None) -> str | None:
    """Why watching ``device`` cannot work here, or None when it can."""
    if platform.system() != "Linux":
        return "only Linux tells LiveCam when apps open the camera"
    if not device:
        return "the virtual camera has no device node to watch"
    try:
        mode = os.stat(device).st_mode
    except OSError as exc:
        return f"{device} cannot be checked ({exc.strerror})"
    if not (stat.S_ISCHR(mode) or stat.S_ISREG(mode)):
        return f"{device} is not a device"
    try:
        import inotify_simple  # noqa: F401
    except ImportError:
        return "the inotify-simple package is missing (pip install inotify-simple)"
    return None


class ViewerWatch:
    """Tells whether any other process has ``device`` open, and calls ``on_change`` when that flips.

    ``on_change(watched, t)`` runs on the watch thread; ``t`` is the ``time.monotonic()`` of the
    event that decided it (for an app that opened the camera: when it opened it). The watch starts
    as "watched" so nothing is released before the first look; that look reports "not watched"
    only after ``grace_s``. If the device node goes away the watch reports "watched" and stops:
    LiveCam then simply stays on.
    """

    def __init__(
        self,
        device: str,
        on_change: OnChange,
        grace_s: float = GRACE_S,
        exclude: frozenset[int] | None = None,
    ) -> None:
        from inotify_simple import INotify, flags

        self.device = device
        self.grace_s = float(grace_s)
        self._on_change = on_change
        self._exclude = exclude if exclude is not None else frozenset({os.getpid()})
        self._flags = flags
        self._inotify = INotify()
        mask = flags.OPEN | flags.CLOSE_WRITE | flags.CLOSE_NOWRITE | flags.DELETE_SELF
        try:
            self._inotify.add_watch(device, mask)
            self._wake_r, self._wake_w = os.pipe()
        except BaseException:
            self._inotify.close()  # its descriptor was left open at every refused start
            raise
        self._stop = threading.Event()
        self.watched = True
        self.viewers: set[int] = set()
        self.changed_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="livecam-viewer-watch", daemon=True)

    def start(self) -> ViewerWatch:
        if self._thread.ident is None:
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._inotify.close()

    def __enter__(self) -> ViewerWatch:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ watch thread
    def _run(self) -> None:
        try:
            self._watch()
        except Exception:  # never leave LiveCam idle because the watch broke: report "watched"
            log.exception("Watching %s for apps stopped; LiveCam stays on.", self.device)
            self._set(True, time.monotonic())

    def _watch(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._inotify.fileno(), selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        # The first look happens at once; after that only events wake this thread (an event
        # queue overflow arrives as an event too), so it costs nothing while nothing happens.
        rescans: list[float] = [time.monotonic()]
        opened_at: float | None = None
        empty_since: float | None = None
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                deadlines = list(rescans)
                if empty_since is not None and self.watched:
                    deadlines.append(empty_since + self.grace_s)
                ready = selector.select(max(0.0, min(deadlines) - now) if deadlines else None)
                if self._stop.is_set():
                    return
                now = time.monotonic()
                look = any(t <= now for t in rescans)
                rescans = [t for t in rescans if t > now]
                if any(key.fd == self._inotify.fileno() for key, _ in ready):
                    for event in self._inotify.read(timeout=0):
                        if event.mask & (self._flags.DELETE_SELF | self._flags.IGNORED):
                            log.info("%s went away; LiveCam stays on.", self.device)
                            self._set(True, now)
                            return
                        if event.mask & self._flags.OPEN:
                            opened_at = opened_at or now
                            rescans = [now + d for d in RESCAN_AFTER_OPEN_S]
                        look = True
                if look:
                    try:
                        self.viewers = openers(self.device, self._exclude)
                    except CannotLook:
                        # Kept as it is until /proc can be read again, looked at once more shortly (a
                        # grace begun on an earlier look begins again at the next look that works).
                        empty_since = None
                        rescans = rescans or [now + RESCAN_AFTER_OPEN_S[-1]]
                        continue
                    if self.viewers:
                        empty_since = None
                        if not self.watched:
                            self._set(True, opened_at or now)
                        opened_at = None
                        rescans = []
                    elif empty_since is None:
                        empty_since = now
                    if not self.viewers and not rescans:
                        opened_at = None  # an open that was over before we looked (a camera list)
                if self.watched and not self.viewers and empty_since is not None:
                    if time.monotonic() - empty_since >= self.grace_s:
                        self._set(False, empty_since)
        finally:
            selector.close()

    def _set(self, watched: bool, t: float) -> None:
        if watched == self.watched:
            return
        self.watched, self.changed_at = watched, t
        try:
            self._on_change(watched, t)
        except Exception:
            log.exception("The idle switch failed")


def watch_output(output: Any, always_on: bool, on_change: OnChange) -> ViewerWatch | LateWatch | None:
    """A started :class:`ViewerWatch` on ``output``'s device, or None when LiveCam should stay on.

    None for outputs without a device node (files, preview, OBS), with ``always_on``, or where
    watching cannot work (then it says why, once, in the log). A virtual camera that is not there yet
    (sinks.AwaitedOutput) gets a :class:`LateWatch`, which starts the watch once it opens.
    """
    if always_on:
        return None
    if getattr(output, "awaiting", False):
        return LateWatch(output, on_change)
    device = getattr(output, "device_path", None)
    if device is None:
        return None
    reason = unavailable_reason(device)
    if reason:
        log.info("LiveCam stays on while nobody watches: %s.", reason)
        return None
    try:
        return ViewerWatch(device, on_change).start()
    except OSError as exc:
        # The kernel's inotify limits are per user and often reached on a desktop (editors, sync tools):
        # the watch is a saving, not the stream, so it was a traceback that ended `livecam run`, and in
        # the tray a start left half made (the camera and the sender running, the state never "on").
        why = _REFUSED.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()
        log.warning("LiveCam stays on while nobody watches: the system refused to watch %s for apps (%s); "
                    "close some programs (or raise that limit) and start LiveCam again.", device, why)
        return None


class LateWatch:
    """The watch of a virtual camera that comes after the start: begun when it opens.

    The watch was looked for once at the start, when the awaited camera had no device node yet, so a camera
    that came up later ran always on (no pause while no app watched) until LiveCam was started again."""

    def __init__(self, output: Any, on_change: OnChange) -> None:
        self._on_change = on_change
        self._lock = threading.Lock()
        self._closed = False
        self.watch: ViewerWatch | None = None
        output.when_open(lambda: self._opened(output))

    def _opened(self, output: Any) -> None:  # the thread that opened the camera
        with self._lock:
            if not self._closed:
                self.watch = watch_output(output, False, self._on_change)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            watch, self.watch = self.watch, None
        if watch is not None:
            watch.close()
