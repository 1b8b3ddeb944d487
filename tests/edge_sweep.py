"""A fault injector for LiveCam's edges: the camera, the virtual camera, the ffmpeg pipe and the file system.

The frame path's library calls are swept by :mod:`fault_sweep`; this sweeps what lies around it.
One :class:`Faults` counts the calls that cross an edge and makes the k-th misbehave (or, with
``persist``, the k-th and every later one):

- the camera: a stand-in for ``cv2.VideoCapture`` (:class:`FaultyCapture`, handed to
  :class:`livecam.capture.CameraSource` as its opener) whose ``isOpened``/``set``/``get``/``read``
  raise, fail, hand over no picture, another dtype, 1, 2 or 4 channels, a size that changes every
  frame, an empty array, block for seconds, or hand back one buffer for every read;
- the virtual camera: a pyvirtualcam backend (:class:`FaultyVirtualCam`) whose construction,
  ``send`` and ``close`` raise, block, or lose the device for good;
- the ffmpeg pipe and the file system: the ``os`` module that :mod:`livecam.recording`,
  :mod:`livecam.output_file`, :mod:`livecam.mp4_fragments`, :mod:`livecam.render`,
  :mod:`livecam.private_files` and :mod:`livecam.settings` see is a proxy
  (:class:`OsProxy`) whose listed functions fail with ENOSPC, EIO, EACCES, EROFS, a broken pipe,
  a short write or a write that blocks; so do their ``tempfile`` (:class:`TempfileProxy`) and the
  ``pathlib.Path`` writes any livecam module makes (PATH_CALLS).

Each case runs a real entry point (the live loop with a camera source and a pyvirtualcam backend;
the paced sender on a virtual camera; ``render``; a live recording; ``settings.save``) and checks
what a user would see: no exception but the documented one-sentence ones, each sentence one line,
no hang past the documented timeouts, never the raw room out (the clip's painted corners,
:func:`fault_sweep.room_shown`), the user's file never replaced nor cut, nothing left readable by
others, no hidden file left behind.

Video files (a live source, a background video) get the camera's kinds through the same stand-in,
put where every video file is opened (``capture._video_capture``).

``python tests/edge_sweep.py [camera] [vcam] [fs] [file]`` runs every case and prints those that broke a
promise; the tests (test_red_team_edges.py) run a part of it.
"""
from __future__ import annotations

import errno
import os
import stat
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fault_sweep  # noqa: E402
from clips import moving_dot_clip  # noqa: E402
from live_doubles import BackendDouble  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Faults:
    """Counts the calls crossing one edge (by name); the ``at``-th (0-based) misbehaves as ``kind``,
    and with ``persist`` every later one too. ``names`` lists the calls seen, ``fired`` those spoiled."""

    def __init__(self, kind: str = "", at: int = -1, persist: bool = False, only: tuple[str, ...] = ()) -> None:
        self.kind, self.at, self.persist, self.only = kind, at, persist, only
        self.lock = threading.Lock()
        self.names: list[str] = []
        self.fired: list[str] = []

    def hit(self, name: str) -> str | None:
        """The fault for this call, or None."""
        if self.only and name not in self.only:
            return None
        with self.lock:
            n = len(self.names)
            self.names.append(name)
            if self.at < 0 or (n != self.at and not (self.persist and n > self.at)):
                return None
            self.fired.append(name)
            return self.kind


# ---------------------------------------------------------------- the file system and the ffmpeg pipe

FS_KINDS: dict[str, int] = {"enospc": errno.ENOSPC, "eio": errno.EIO, "eacces": errno.EACCES, "erofs": errno.EROFS}
PIPE_KINDS = ("brokenpipe", "enospc", "eio", "short", "block")
# The os calls that write, name, sync or make: where a disk says no.
FS_CALLS = ("open", "replace", "rename", "fsync", "write", "fchmod", "chmod", "mkdir", "link", "unlink", "ftruncate",
            "close", "fdopen")
BLOCK_S = 8.0  # a write that blocks: longer than the recording's stall limit (recording.STALL_S)


def _os_error(kind: str, name: str) -> OSError:
    code = FS_KINDS.get(kind, errno.EIO)
    if kind == "brokenpipe":
        return BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
    return OSError(code, os.strerror(code), name)


class OsProxy(types.ModuleType):
    """What a livecam module sees as ``os``: the real module, the calls in ``calls`` counted by ``faults``.

    ``pipe_fds``: descriptors whose writes count as pipe writes (kind "short" writes half, "block"
    sleeps BLOCK_S first); other writes count as file writes."""

    def __init__(self, faults: Faults, calls: tuple[str, ...] = FS_CALLS) -> None:
        super().__init__("os")
        self._faults, self._calls = faults, calls
        self.pipe_fds: set[int] = set()

    def __getattr__(self, name: str):
        real = getattr(os, name)
        if name not in self._calls or not callable(real):
            return real
        faults = self._faults

        def call(*args, **kwargs):
            label = name
            if name == "write" and args and args[0] in self.pipe_fds:
                label = "pipe-write"
            kind = faults.hit(label)
            if kind is None:
                return real(*args, **kwargs)
            if kind == "short" and name == "write":
                data = memoryview(args[1]).cast("B")
                return real(args[0], data[: max(1, len(data) // 2)])
            if kind == "block":
                time.sleep(BLOCK_S)
                return real(*args, **kwargs)
            if kind in ("short", "block"):
                return real(*args, **kwargs)
            raise _os_error(kind, str(args[0]) if args else name)

        return call


FS_MODULES = ("livecam.recording", "livecam.output_file", "livecam.mp4_fragments", "livecam.render",
              "livecam.private_files", "livecam.settings")
# The same writes made through tempfile and pathlib (which call the real os inside): counted as
# "tempfile.<name>" and "Path.<name>" where a livecam module calls them.
TEMPFILE_CALLS = ("mkstemp", "mkdtemp", "TemporaryFile", "NamedTemporaryFile")
PATH_CALLS = ("write_bytes", "write_text", "rename", "replace", "unlink", "mkdir", "touch", "chmod", "hardlink_to",
              "symlink_to")


class TempfileProxy(types.ModuleType):
    """What a livecam module sees as ``tempfile``: the real module, TEMPFILE_CALLS counted by ``faults``."""

    def __init__(self, faults: Faults) -> None:
        super().__init__("tempfile")
        self._faults = faults

    def __getattr__(self, name: str):
        import tempfile

        real = getattr(tempfile, name)
        if name not in TEMPFILE_CALLS:
            return real
        return _faulty(self._faults, f"tempfile.{name}", real)


def _faulty(faults: Faults, label: str, real, from_livecam: bool = False):
    """``real`` with ``faults`` on it; ``from_livecam``: counted only where a livecam module calls it."""

    def call(*args, **kwargs):
        if from_livecam and not sys._getframe(1).f_globals.get("__name__", "").startswith("livecam"):
            return real(*args, **kwargs)
        kind = faults.hit(label)
        if kind is None or kind in ("short", "block"):
            return real(*args, **kwargs)
        raise _os_error(kind, str(args[0]) if args else label)

    return call


def install_os(monkeypatch, faults: Faults, modules: tuple[str, ...] = FS_MODULES) -> OsProxy:
    import importlib
    import pathlib

    proxy = OsProxy(faults)
    temp = TempfileProxy(faults)
    for name in modules:
        module = importlib.import_module(name)
        monkeypatch.setattr(module, "os", proxy)
        if hasattr(module, "tempfile"):
            monkeypatch.setattr(module, "tempfile", temp)
    for name in PATH_CALLS:
        monkeypatch.setattr(pathlib.Path, name, _faulty(faults, f"Path.{name}", getattr(pathlib.Path, name), True))
    return proxy


@dataclass
class FsOutcome:
    names: list[str]  # the calls made
    fired: list[str]
    raised: str | None = None  # an exception that escaped the entry point, other than its documented one
    said: list[str] = field(default_factory=list)  # the sentences a user saw
    problems: list[str] = field(default_factory=list)


def _leftovers(folder: Path, before: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in before)


def _exposed(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.stat().st_mode & 0o077)


def _one_line(sentences: list[str], problems: list[str]) -> None:
    for s in sentences:
        if "\n" in s.strip() or "Traceback" in s:
            problems.append(f"not one line: {s!r}")


class _Said:
    """The warnings LiveCam logs while a case runs (what a user reads on the console)."""

    def __enter__(self) -> list[str]:
        import logging

        self.lines: list[str] = []
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = lambda record: self.lines.append(record.getMessage())
        logging.getLogger("livecam").addHandler(self.handler)
        return self.lines

    def __exit__(self, *exc) -> None:
        import logging

        logging.getLogger("livecam").removeHandler(self.handler)


def save_case(tmp: Path, kind: str, at: int, broken: bool = False, persist: bool = False,
              fresh: bool = False) -> FsOutcome:
    """``settings.save`` over a user's settings file (a broken one with ``broken``: the backup path), or,
    with ``fresh``, the first save, which makes the config folder and its parent."""
    import pytest

    from livecam import settings as S

    folder = tmp / "config"
    path = folder / "settings.json"
    original = b"{not json" if broken else (json_dumps(S.to_dict(S.Settings())) + "\n").encode()
    if fresh:
        folder = tmp / "home" / ".config" / "livecam"
        path = folder / "settings.json"
        original = None
    else:
        folder.mkdir(mode=0o700)
        path.write_bytes(original)
        os.chmod(path, 0o600)
    before = {p.name for p in folder.iterdir()} if folder.exists() else set()
    new = S.update(S.Settings(), background={"blur": 33})
    faults = Faults(kind, at, persist)
    out = FsOutcome([], [])
    with pytest.MonkeyPatch.context() as mp:
        install_os(mp, faults)
        try:
            S.save(new, path)
        except S.SettingsError as exc:
            out.said.append(str(exc))
        except BaseException as exc:  # noqa: BLE001 - what the sweep looks for
            out.raised = f"{type(exc).__name__}: {exc}"
    out.names, out.fired = faults.names, faults.fired
    data = path.read_bytes() if path.exists() else None
    saved = data is not None and data != original and S.from_dict(__import__("json").loads(data)).background.blur == 33
    if data != original and not saved:
        out.problems.append(f"the user's file was harmed: {data[:40]!r}")
    if not out.said and not saved and not out.raised:
        out.problems.append("not saved, and nothing said")
    if saved and out.said:
        out.problems.append(f"saved, yet said it was not: {out.said}")
    if folder.exists():
        extra = [n for n in _leftovers(folder, before) if not n.startswith("settings.json.bak") and n != path.name]
        if extra:
            out.problems.append(f"left behind: {extra}")
        if _exposed(folder):
            out.problems.append(f"readable by others: {_exposed(folder)}")
        if fresh and stat.S_IMODE(folder.stat().st_mode) & 0o077:
            out.problems.append(f"the config folder is {stat.S_IMODE(folder.stat().st_mode):04o}")
    if out.raised:
        out.problems.append(f"raised {out.raised}")
    _one_line(out.said, out.problems)
    return out


def json_dumps(data) -> str:
    import json

    return json.dumps(data, indent=2)


USER_BYTES = b"the user's own video, not to be touched\n"


def render_case(tmp: Path, kind: str, at: int, overwrite: bool = False, persist: bool = False,
                only: tuple[str, ...] = ()) -> FsOutcome:
    """``livecam render`` of a small clip, onto a user's file when ``overwrite`` (else a free name)."""
    import contextlib
    import io

    import pytest

    from livecam import render, settings as S

    src = moving_dot_clip(tmp / "in.mp4", 8, (64, 48))
    out_dir = tmp / "out"
    out_dir.mkdir()
    dst = out_dir / "out.mp4"
    mine = out_dir / "mine.mp4"  # a user's file beside it: never touched
    mine.write_bytes(USER_BYTES)
    if overwrite:
        dst.write_bytes(USER_BYTES)
    before = {p.name for p in out_dir.iterdir()}
    settings = S.update(S.Settings(), background={"mode": "off"}, runtime={"provider": "cpu", "threads": 1},
                        output={"overwrite": overwrite})
    faults = Faults(kind, at, persist, only)
    outcome = FsOutcome([], [])
    err = io.StringIO()
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        proxy = install_os(mp, faults)
        real_popen = render.VideoWriter._start

        def start(self, exe):  # the pipe's writes are told apart from the file's
            real_popen(self, exe)
            proxy.pipe_fds.add(self._pipe)

        mp.setattr(render.VideoWriter, "_start", start)
        with contextlib.redirect_stderr(err), _Said() as warned:
            try:
                code = render.render_file(str(src), str(dst), settings, progress=False)
            except BaseException as exc:  # noqa: BLE001
                outcome.raised = f"{type(exc).__name__}: {exc}"
                code = None
    took = time.monotonic() - started
    outcome.names, outcome.fired = faults.names, faults.fired
    outcome.said = [line for line in err.getvalue().splitlines() if line.strip()] + warned
    if outcome.raised:
        outcome.problems.append(f"raised {outcome.raised}")
    if mine.read_bytes() != USER_BYTES:
        outcome.problems.append("a user's file beside it was harmed")
    data = dst.read_bytes() if dst.exists() else None
    complete = data is not None and data != USER_BYTES and _frames_in(dst) == 8
    if code == 0 and not complete:
        outcome.problems.append(f"said it wrote the file, which holds {_frames_in(dst) if data else 'nothing'}")
    if code not in (0, None) and data is not None and data != USER_BYTES and not complete:
        outcome.problems.append("a cut file under the name")
    if overwrite and data != USER_BYTES and not complete:
        outcome.problems.append("the user's file was replaced by a cut one or removed")
    if not overwrite and code != 0 and data is not None:
        outcome.problems.append("failed, yet left a file under the name")
    told = " ".join(outcome.said)
    extra = [n for n in _leftovers(out_dir, before) if n != dst.name and n not in told]  # a kept file is named
    if extra:
        outcome.problems.append(f"left behind: {extra}")
    if code == 0 and "fsync" in outcome.fired:
        outcome.problems.append("the disk said the file may not be saved, and the render said it wrote it")
    exposed = [n for n in _exposed(out_dir) if n != "mine.mp4" and not (n == dst.name and data == USER_BYTES)]
    if exposed:  # the user's own files are as they made them
        outcome.problems.append(f"readable by others: {exposed}")
    if code not in (0, None) and not outcome.said:
        outcome.problems.append("failed without a sentence")
    if took > 2 * BLOCK_S + 10:
        outcome.problems.append(f"took {took:.0f} s")
    _one_line([err.getvalue().strip()] if code not in (0, None) else [], outcome.problems)
    return outcome


def _frames_in(path: Path) -> int:
    from livecam.capture import VideoReader

    try:
        with VideoReader(path) as reader:
            return sum(1 for _ in reader)
    except Exception:  # noqa: BLE001
        return -1


def record_case(tmp: Path, kind: str, at: int, overwrite: bool = False, persist: bool = False,
                only: tuple[str, ...] = (), frames: int = 45) -> FsOutcome:
    """A live recording (``run --output file``'s FileOutput through the paced sender), ``frames`` frames."""
    import pytest

    from livecam import recording
    from livecam.pacing import PacedSender

    out_dir = tmp / "rec"
    out_dir.mkdir()
    dst = out_dir / "rec.mp4"
    mine = out_dir / "mine.mp4"
    mine.write_bytes(USER_BYTES)
    if overwrite:
        dst.write_bytes(USER_BYTES)
    before = {p.name for p in out_dir.iterdir()}
    faults = Faults(kind, at, persist, only)
    outcome = FsOutcome([], [])
    started = time.monotonic()
    output = None
    with pytest.MonkeyPatch.context() as mp, _Said() as warned:
        proxy = install_os(mp, faults)
        real_start = recording.VideoWriter._start

        def start(self, exe):
            real_start(self, exe)
            proxy.pipe_fds.add(self._pipe)

        mp.setattr(recording.VideoWriter, "_start", start)
        try:
            output = recording.FileOutput(dst, 64, 48, 30, overwrite=overwrite)
        except recording.OutputError as exc:
            outcome.said.append(str(exc))
        except BaseException as exc:  # noqa: BLE001
            outcome.raised = f"{type(exc).__name__}: {exc}"
        if output is not None:
            sender = PacedSender(output, 30).start()
            image = np.zeros((48, 64, 3), np.uint8)
            for i in range(frames):
                image = image.copy()
                image[:, :, 2] = (i * 5) % 255
                sender.submit(image, time.monotonic())
                if sender.failed.wait(1 / 30):
                    break
            sender.stop(5.0)
            try:
                output.close(10.0)
            except BaseException as exc:  # noqa: BLE001
                outcome.raised = f"close: {type(exc).__name__}: {exc}"
            if sender.failed.is_set() and sender.status:
                outcome.said.append(sender.status)
            elif output.error:
                outcome.said.append(output.error)
            else:
                summary = output.summary()
                if summary:
                    outcome.said.append(summary)
    took = time.monotonic() - started
    outcome.names, outcome.fired = faults.names, faults.fired
    outcome.said += warned
    if outcome.raised:
        outcome.problems.append(f"raised {outcome.raised}")
    if mine.read_bytes() != USER_BYTES:
        outcome.problems.append("a user's file beside it was harmed")
    data = dst.read_bytes() if dst.exists() else None
    if output is not None and "fsync" in faults.fired and not output.error:
        outcome.problems.append("the disk said the file may not be saved, and the recording was summed up as made")
    if overwrite and data != USER_BYTES and (data is None or _frames_in(dst) < 1):
        outcome.problems.append("the user's file was replaced by nothing playable, or removed")
    if output is not None and output.summary() and not output.error:
        n = _frames_in(dst)
        if n < 1:
            outcome.problems.append(f"said '{output.summary()}' and the file holds {n} frames")
    if output is None and data is not None and data != USER_BYTES:
        outcome.problems.append("refused, yet left a file under the name")
    if overwrite and output is None and data != USER_BYTES:
        outcome.problems.append("refused, and the user's file was replaced or removed")
    told = " ".join(outcome.said)
    extra = [n for n in _leftovers(out_dir, before) if n != dst.name and n not in told]  # a kept file is named
    if extra:
        outcome.problems.append(f"left behind: {extra}")
    exposed = [n for n in _exposed(out_dir) if n != "mine.mp4" and not (n == dst.name and data == USER_BYTES)]
    if exposed:
        outcome.problems.append(f"readable by others: {exposed}")
    if took > 40:
        outcome.problems.append(f"took {took:.0f} s")
    _one_line(outcome.said, outcome.problems)
    return outcome


# ---------------------------------------------------------------- the camera and the virtual camera

SIZE = fault_sweep.SIZE
CAMERA_CALLS = ("isOpened", "set", "get", "read", "grab", "retrieve")
READ_KINDS = ("raise", "fail", "none", "uint16", "float", "int32", "gray", "gray1", "two", "bgra", "resize", "empty",
              "block", "same")
CALL_KINDS = ("raise", "fail")  # isOpened/set/get: cv2.error, or False
CAMERA_BLOCK_S = 3.0  # a read that blocks: past capture.STUCK_S


class FaultyCapture:
    """Stands in for ``cv2.VideoCapture``: the painted clip, looping, with ``faults`` on its calls."""

    def __init__(self, frames: np.ndarray, faults: Faults) -> None:
        self.frames, self.faults = frames, faults
        self.i = 0
        self.released = False
        self._buffer: np.ndarray | None = None  # the "same" kind's one buffer
        self._rng = np.random.default_rng(7)

    def _call(self, name: str, good):
        kind = self.faults.hit(name)
        if kind == "raise":
            raise cv2.error(f"edge sweep: {name} failed")
        if kind == "fail":
            return False
        return good

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self._call("isOpened", not self.released)

    def set(self, prop: int, value: float) -> bool:
        return self._call("set", True)

    def get(self, prop: int) -> float:
        result = self._call("get", 30.0 if prop == cv2.CAP_PROP_FPS else 0.0)
        return 0.0 if result is False else result

    def grab(self) -> bool:
        return self._call("grab", True)

    def retrieve(self):
        return self.read()

    def read(self):
        frame = self.frames[self.i % len(self.frames)].copy()
        self.i += 1
        kind = self.faults.hit("read")
        if kind is None:
            return True, frame
        return spoiled_read(kind, frame, self)

    def release(self) -> None:
        self.released = True


def spoiled_read(kind: str, frame: np.ndarray, cap: FaultyCapture):
    if kind == "raise":
        raise cv2.error("edge sweep: the device went away mid-read")
    if kind == "fail":
        return False, None
    if kind == "none":
        return True, None
    if kind == "uint16":
        return True, frame.astype(np.uint16) << 8
    if kind == "float":
        return True, frame.astype(np.float32) / 255
    if kind == "int32":
        return True, frame.astype(np.int32)
    if kind == "gray":
        return True, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if kind == "gray1":
        return True, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[..., None]
    if kind == "two":
        return True, frame[..., :2].copy()
    if kind == "bgra":
        return True, cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)
    if kind == "resize":
        w, h = (int(v) for v in cap._rng.integers(16, 2 * SIZE, 2))
        return True, cv2.resize(frame, (w, h))
    if kind == "empty":
        return True, np.zeros((0, 0, 3), np.uint8)
    if kind == "block":
        time.sleep(CAMERA_BLOCK_S)
        return True, frame
    if kind == "same":
        if cap._buffer is None:
            cap._buffer = frame
        cap._buffer[...] = frame
        return True, cap._buffer
    raise ValueError(kind)


class FaultyVirtualCam(BackendDouble):
    """A pyvirtualcam backend keeping what it gets; ``faults`` on its construction, send and close.
    Kinds: "raise" (OSError), "block" (VCAM_BLOCK_S), "gone" (this and every later call raise)."""

    _device = "/dev/video-edge"
    faults = Faults()
    received: list[np.ndarray] = []
    instances = 0

    def __init__(self, **kw) -> None:
        type(self).instances += 1
        self._act("construct")

    def _act(self, name: str) -> None:
        kind = self.faults.hit(name)
        if kind == "block":
            time.sleep(VCAM_BLOCK_S)
        elif kind in ("raise", "gone"):
            if kind == "gone":
                self.faults.persist = True
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV), self._device)

    def send(self, frame: np.ndarray) -> None:
        self._act("send")
        self.received.append(frame.copy())

    def sleep_until_next_frame(self) -> None:
        self._act("sleep_until_next_frame")

    def close(self) -> None:
        self._act("close")


VCAM_CALLS = ("construct", "send", "close")
VCAM_KINDS = ("raise", "block", "gone")
VCAM_BLOCK_S = 6.0  # past the sender's deadline (pacing.SINK_DEADLINE_S) and the first open's (sinks.OPEN_LIMIT_S)
BACKEND = "livecam-edge"


@dataclass
class LiveOutcome:
    camera_calls: list[str]
    vcam_calls: list[str]
    fired: list[str]
    frames_out: int = 0
    video_after_fault: int = 0  # frames made from the camera's pictures that left after the fault
    said: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_video(out: np.ndarray) -> bool:
    """A frame made from the clip (its painted corner blurred: red high), not a card (dark grey)."""
    return int(out[8:48, 8:56, 2].mean()) > 120


def _escaping() -> tuple[list[str], object]:
    """Exceptions that end a thread, kept in the list; put the hook returned back when done."""
    escaped: list[str] = []
    old = threading.excepthook
    threading.excepthook = lambda args: escaped.append(
        f"{args.thread.name}: {args.exc_type.__name__}: {args.exc_value}")
    return escaped, old


def live_case(pipeline, camera: Faults, vcam: Faults, seconds: float = 3.0) -> LiveOutcome:
    """The live loop (CameraSource → LiveRunner with ``pipeline`` → PacedSender → VirtualCamOutput on the
    sweep's backend) for ``seconds``, with ``camera`` faults on the capture and ``vcam`` on the backend."""
    import logging

    import pyvirtualcam

    from livecam.capture import CameraSource
    from livecam.live_runner import LiveRunner
    from livecam.pacing import PacedSender
    from livecam import sinks
    from livecam.sinks import OutputError, VirtualCamOutput

    frames = fault_sweep.clip_frames(30)
    raw = frames[0]
    FaultyVirtualCam.faults, FaultyVirtualCam.received, FaultyVirtualCam.instances = vcam, [], 0
    pyvirtualcam.register_backend(BACKEND, FaultyVirtualCam)
    out = LiveOutcome([], [], [])
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("livecam").addHandler(handler)
    escaped, old_hook = _escaping()
    fault_at: list[float] = []
    try:
        pipeline.reset_temporal()
        started = time.monotonic()
        try:
            output = VirtualCamOutput(SIZE, SIZE, 30, backend=BACKEND)
        except OutputError as exc:
            out.said.append(str(exc))
            output = None
        if time.monotonic() - started > getattr(sinks, "OPEN_LIMIT_S", 5.0) + 1.0:
            out.problems.append(f"opening the virtual camera took {time.monotonic() - started:.1f} s")
        if output is None:
            return out
        source = CameraSource(0, SIZE, SIZE, 30, opener=lambda device: FaultyCapture(frames, camera)).start()
        sender = PacedSender(output, 30).start()
        runner = LiveRunner(source, pipeline, sender, pipelining="off").start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not runner.done.is_set():
            if (camera.fired or vcam.fired) and not fault_at:
                fault_at.append(len(FaultyVirtualCam.received))
            time.sleep(0.05)
        stopping = time.monotonic()
        runner.stop(5.0)
        source.close(timeout=1.0)
        sender.stop(5.0)
        output.close()
        if time.monotonic() - stopping > 12.0:
            out.problems.append(f"stopping took {time.monotonic() - stopping:.1f} s")
        if runner.error:
            out.problems.append(f"the live loop stopped: {runner.error}")
        for sentence in (source.error, sender.status):
            if sentence:
                out.said.append(sentence)
    finally:
        threading.excepthook = old_hook
        logging.getLogger("livecam").removeHandler(handler)
    out.said += [r.getMessage() for r in records]
    out.camera_calls, out.vcam_calls, out.fired = camera.names, vcam.names, camera.fired + vcam.fired
    received = FaultyVirtualCam.received
    out.frames_out = len(received)
    first_after = fault_at[0] if fault_at else len(received)
    for i, flat in enumerate(received):
        image = flat.reshape(SIZE, SIZE, 3)
        shown_room = fault_sweep.room_shown(image, raw)
        if shown_room > 0.5:
            out.problems.append(f"frame {i} out shows the raw room ({shown_room:.2f})")
            break
    out.video_after_fault = sum(is_video(f.reshape(SIZE, SIZE, 3)) for f in received[first_after + 1:])
    persistent = camera.persist or vcam.persist
    if not persistent and (camera.fired or vcam.fired) and out.video_after_fault == 0:
        out.problems.append("no picture from the camera left after the fault (no recovery)")
    if escaped:
        out.problems.append(f"escaped a thread: {escaped}")
    _one_line(out.said, out.problems)
    return out


# ---------------------------------------------------------------- video files: a source, and a background

FILE_READ_KINDS = tuple(k for k in READ_KINDS if k != "block") + ("block",)
FILE_SECONDS = 2.0  # a file case's run: the fault at the tenth read (1/3 s at 30 fps) and the recovery after it


@dataclass
class FileOutcome:
    reads: list[str]
    fired: list[str]
    frames: int = 0  # pictures handed out
    video_after_fault: int = 0  # pictures made from the file that came out after the fault
    said: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _file_capture(monkeypatch, frames: np.ndarray, faults: Faults) -> None:
    """Every video file LiveCam opens (``capture._video_capture``: the live source, the reader, the
    background's probe) is the painted clip with ``faults`` on its calls."""
    from livecam import capture

    monkeypatch.setattr(capture, "_video_capture", lambda path: (FaultyCapture(frames, faults), (0, 0)))


def file_source_case(tmp: Path, kind: str, at: int, persist: bool = False) -> FileOutcome:
    """A video file as the live source (``VideoFileSource``, looping, real time) for FILE_SECONDS, with
    ``kind`` at its ``at``-th capture call: what ``latest`` hands out must be a BGR uint8 picture of the
    source's size (the clip, or a card), a one-off fault must let the clip play on, no thread may die,
    closing must be prompt and what is said must be one plain line."""
    import pytest

    from livecam.capture import VideoFileSource

    clip = moving_dot_clip(tmp / "clip.mp4", 4, (SIZE, SIZE))
    frames = fault_sweep.clip_frames(30)
    faults = Faults(kind, at, persist)
    out = FileOutcome([], [])
    escaped, old_hook = _escaping()
    with pytest.MonkeyPatch.context() as mp, _Said() as warned:
        _file_capture(mp, frames, faults)
        try:
            source = VideoFileSource(clip, SIZE, SIZE, 30).start()
        except Exception as exc:  # noqa: BLE001 - a CaptureError is the documented sentence
            source = None
            (out.said if type(exc).__name__ == "CaptureError" else out.problems).append(f"{type(exc).__name__}: {exc}")
        try:
            if source is not None:
                deadline, last, after = time.monotonic() + FILE_SECONDS, -1, False
                while time.monotonic() < deadline:
                    frame = source.latest(last, timeout=0.5)
                    last = frame.index
                    image = frame.image
                    out.frames += 1
                    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8
                            and image.shape == (SIZE, SIZE, 3)):
                        out.problems.append(f"handed out a picture of {getattr(image, 'dtype', type(image))} "
                                            f"{getattr(image, 'shape', '')}")
                        break
                    if faults.fired and not frame.placeholder:
                        out.video_after_fault += after
                        after = True
                started = time.monotonic()
                source.close(timeout=2.0)
                if time.monotonic() - started > 2.5:
                    out.problems.append(f"closing took {time.monotonic() - started:.1f} s")
                if source.error:
                    out.said.append(source.error)
        finally:
            threading.excepthook = old_hook
    out.said += warned
    out.reads, out.fired = faults.names, faults.fired
    if escaped:
        out.problems.append(f"escaped a thread: {escaped}")
    if source is not None and faults.fired and not persist and kind != "block" and out.video_after_fault == 0:
        out.problems.append("the clip did not play on after a one-off fault")
    _one_line(out.said, out.problems)
    _plain(out.said, out.problems)
    return out


def background_case(tmp: Path, kind: str, at: int, persist: bool = False, frames_in: int = 60) -> FileOutcome:
    """A video behind the person (``VideoBackground`` through the pipeline with a background video) with
    ``kind`` at the ``at``-th capture call of the file (the probe's and the live source's together):
    no frame out may show the raw room, the pipeline must not raise, and a one-off fault must not hide
    the picture for good."""
    import pytest

    from livecam import settings as S
    from livecam.pipeline import Pipeline

    clip = moving_dot_clip(tmp / "bg.mp4", 4, (SIZE, SIZE))
    frames = fault_sweep.clip_frames(30)
    faults = Faults(kind, at, persist)
    out = FileOutcome([], [])
    escaped, old_hook = _escaping()
    pipeline = None
    with pytest.MonkeyPatch.context() as mp, _Said() as warned:
        # The background's own file is a plain grey picture: the room's painted corners never come from it.
        grey = np.full((30, SIZE, SIZE, 3), 128, np.uint8)
        _file_capture(mp, grey, faults)
        settings = S.update(fault_sweep.settings_for("blur"), background={"mode": "video", "video": str(clip)})
        try:
            pipeline = Pipeline(settings)
            hidden_tail = 0
            for i in range(frames_in):
                raw = frames[i % len(frames)]
                before = pipeline.concealed
                image = pipeline.process(raw, time.monotonic())
                hidden_tail = hidden_tail + 1 if pipeline.concealed > before else 0
                if fault_sweep.room_shown(image, raw) > 0.5:
                    out.problems.append(f"frame {i} out shows the raw room")
                    break
                if faults.fired and pipeline.concealed == before:
                    out.video_after_fault += 1
                time.sleep(1 / 60)  # the file's thread gets to publish
            out.said += pipeline.problems()
            if faults.fired and not persist and kind != "block" and hidden_tail >= 10:
                out.problems.append(f"the last {hidden_tail} frames were hidden after a one-off fault")
        except Exception as exc:  # noqa: BLE001 - what the sweep looks for
            out.problems.append(f"raised {type(exc).__name__}: {exc}")
        finally:
            if pipeline is not None:
                pipeline.close()
            threading.excepthook = old_hook
    out.said += warned
    out.reads, out.fired = faults.names, faults.fired
    if escaped:
        out.problems.append(f"escaped a thread: {escaped}")
    _one_line(out.said, out.problems)
    _plain(out.said, out.problems)
    return out


def _plain(sentences: list[str], problems: list[str]) -> None:
    """OpenCV's own text (its assertions, the stand-in's "edge sweep: ...") is no sentence for a user, and
    "stopped unexpectedly" is the source thread's last guard: a fault nothing before it took for what it is."""
    for s in sentences:
        if "Assertion failed" in s or "error: (-" in s or "edge sweep:" in s or "stopped unexpectedly" in s:
            problems.append(f"not plain: {s!r}")


def file_cases() -> list[tuple[str, str, int, bool]]:
    """(entry, kind, call index, persist): each call kind at the open's calls, each read kind at the
    tenth call, once and (but "block" and "same") for good."""
    cases = []
    for entry in ("file", "background"):
        cases += [(entry, kind, at, False) for at in range(4) for kind in CALL_KINDS]
        for kind in FILE_READ_KINDS:
            cases.append((entry, kind, 10, kind == "same"))
            if kind not in ("block", "same"):
                cases.append((entry, kind, 10, True))
    return cases


FILE_ENTRIES = {"file": file_source_case, "background": background_case}


# ---------------------------------------------------------------- the whole sweep, as a command

FS_ENTRIES = {
    "save": lambda tmp, kind, at: save_case(tmp, kind, at),
    "save-broken": lambda tmp, kind, at: save_case(tmp, kind, at, broken=True),
    "save-fresh": lambda tmp, kind, at: save_case(tmp, kind, at, fresh=True),
    "render": lambda tmp, kind, at: render_case(tmp, kind, at),
    "render-overwrite": lambda tmp, kind, at: render_case(tmp, kind, at, overwrite=True),
    "record": lambda tmp, kind, at: record_case(tmp, kind, at),
    "record-overwrite": lambda tmp, kind, at: record_case(tmp, kind, at, overwrite=True),
}


def fs_cases(entry: str) -> list[tuple[str, int, str]]:
    """(kind, call index, call name): every errno at every file call; the pipe's writes at its first two and
    its middle one, each pipe kind ("block" at the middle only: it costs BLOCK_S)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        names = FS_ENTRIES[entry](Path(tmp), "eio", -1).names
    pipe = [at for at, name in enumerate(names) if name == "pipe-write"]
    cases = []
    for at, name in enumerate(names):
        if name != "pipe-write":
            cases += [(kind, at, name) for kind in FS_KINDS]
        elif at in pipe[:2] or at == pipe[len(pipe) // 2]:
            cases += [(kind, at, name) for kind in PIPE_KINDS if kind != "block" or at == pipe[len(pipe) // 2]]
    return cases


def live_cases() -> list[tuple[str, str, int, bool]]:
    """(edge, kind, call index, persist): each camera call kind at the open's calls, each read kind at the
    tenth call (once, and for good), each virtual camera kind at its construction, first and 15th send."""
    cases = [("camera", kind, at, False) for at in range(9) for kind in CALL_KINDS]
    for kind in READ_KINDS:
        cases.append(("camera", kind, 10, kind == "same"))
        if kind not in ("block", "same"):
            cases.append(("camera", kind, 10, True))
    cases += [("vcam", kind, at, False) for at in (0, 1, 15) for kind in VCAM_KINDS]
    return cases


def main(argv: list[str]) -> int:
    import tempfile

    import pyvirtualcam  # noqa: F401 - fails here, not mid-sweep, where it is missing

    edges = argv or ["camera", "vcam", "fs", "file"]
    total = broken = 0
    if "file" in edges:
        for entry, kind, at, persist in file_cases():
            with tempfile.TemporaryDirectory() as tmp:
                outcome = FILE_ENTRIES[entry](Path(tmp), kind, at, persist)
            total += 1
            if outcome.problems:
                broken += 1
                print(f"{entry} {kind} at call {at}{' for good' if persist else ''}: {outcome.problems} | "
                      f"{outcome.said[:2]}", flush=True)
    if "fs" in edges:
        for entry in FS_ENTRIES:
            for kind, at, name in fs_cases(entry):
                with tempfile.TemporaryDirectory() as tmp:
                    outcome = FS_ENTRIES[entry](Path(tmp), kind, at)
                total += 1
                if outcome.problems:
                    broken += 1
                    print(f"{entry} {kind} at call {at} ({name}): {outcome.problems} | {outcome.said[-1:]}", flush=True)
    if "camera" in edges or "vcam" in edges:
        from livecam.pipeline import Pipeline

        pipeline = Pipeline(fault_sweep.settings_for("blur"))
        for edge, kind, at, persist in live_cases():
            if edge not in edges:
                continue
            faults = Faults(kind, at, persist)
            camera, vcam = (faults, Faults()) if edge == "camera" else (Faults(), faults)
            outcome = live_case(pipeline, camera, vcam, 9.0 if kind == "block" else 3.0)
            total += 1
            if outcome.problems:
                broken += 1
                print(f"{edge} {kind} at call {at}{' for good' if persist else ''}: {outcome.problems} | "
                      f"{outcome.said[:2]}", flush=True)
        pipeline.close()
    print(f"{total} cases, {broken} broke a promise")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
