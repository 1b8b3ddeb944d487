"""The one video writer: ``run --output file`` and ``render`` both record through :class:`VideoWriter`.

H.264 in fragmented MP4, encoded by an ffmpeg child process, into a file that is private (0600) from
its first byte and that never replaces anything it should not:

- The bytes go to a unique temporary file created with O_EXCL next to the target, and the target
  name is given to it with a hard link (which fails, instead of replacing, when the name is taken),
  then the temporary name is removed. So a file that appears meanwhile, a user's own ``.part`` file,
  a second writer, a symbolic link or an input file are never replaced. Where the file system cannot
  hard-link, the recording is refused before anything is written.
- ``--overwrite`` replaces only a regular file, atomically (rename), never through a symbolic link,
  and never an input.
- A live recording takes its name when it starts (so a crash leaves a playable file under it: every
  fragment is complete on disk before the next starts); a render takes it only once complete.
- Writes never block: the pipe is non-blocking, and an encoder that takes nothing for ``STALL_S``
  (``STARTUP_S`` before its first frame) is killed and the recording ends with a sentence; a file
  without one whole fragment is removed rather than left unplayable. ``close(timeout)`` finishes within the timeout
  (the file keeps its last whole fragment) so a signal can end the process in time.
- The file (or its folder) moved or deleted meanwhile stops the recording at the next frame with a
  sentence: the encoder holds the file open, so its writes never fail there. A render's hidden file
  is removed through its folder's descriptor, so it goes from a folder moved meanwhile too.
- Live recordings carry each frame's time (a Matroska stream on the pipe, variable frame rate), so
  the recorded duration is the wall time however slow the pipeline; a render is frame-exact.
"""

from __future__ import annotations

import errno
import fractions
import functools
import logging
import os
import secrets
import select
import shutil
import signal
import stat
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from livecam.imaging import as_bgr8, cover_fit
from livecam.media import RECORDING_SUFFIXES
from livecam.messages import out_of, shown
from livecam.not_running import not_running_for
from livecam.oneshot import STOP_ASKED
from livecam.sinks import Output, OutputError, OutputFailed

try:
    import fcntl
except ImportError:  # Windows: no pipe sizes to set
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("livecam.recording")

Timing = Literal["clock", "frames"]
FRAGMENT_S = 1.0  # a crash or a full disk loses at most about this much of a recording
STALL_S = 5.0  # an encoder that takes no byte for this long has stalled (a busy machine can pause it 1-2 s)
STARTUP_S = 15.0  # ffmpeg's own start (loading its libraries on a busy machine) before it reads anything
_PIPE_BYTES = 1 << 20  # a bigger pipe than the default 64 KiB: a frame goes in a few writes, not hundreds
# ffmpeg's words go to a hidden temporary file; only its end is ever read (the reason it stopped). An
# encoder that kept printing grew that file by 1.1 GB in a 5 s recording and LiveCam read it all back
# at the end (2.4 GB of memory); past STDERR_MAX_BYTES it is cut back to its last STDERR_KEEP_BYTES.
STDERR_KEEP_BYTES = 64 << 10
STDERR_MAX_BYTES = 1 << 20
# The signals that end a run or a render in order (the recording finalised or its partial removed):
# SIGHUP too, sent when the terminal closes or an ssh session drops; its default action would leave
# an unfinished hidden temp file and an orphaned encoder behind.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def catch_stop_signals(handler: Any) -> dict[int, Any]:
    """Install ``handler`` for the STOP_SIGNALS (main thread only); returns the previous handlers.
    A signal someone chose to ignore stays ignored (``nohup livecam run`` survives its terminal)."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    STOP_ASKED.clear()  # a new run (in a process that ran one before: tests) starts with none asked

    def stop(*args: Any) -> None:
        STOP_ASKED.set()  # waits on a driver (the virtual camera's open) give up before the handler's watchdog
        handler(*args)

    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, stop)
    return previous
CLOSE_TIMEOUT_S = 30.0  # a normal end: ffmpeg encodes what it still holds, then the file is complete
_CANNOT_LINK = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.EOPNOTSUPP,
                getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


# The writers whose file is not finished yet, for a process that must end at once (see end_recordings_now).
_UNFINISHED: set["VideoWriter"] = set()


def end_recordings_now() -> None:
    """From a stop's watchdog, just before the process ends with os._exit (a stop that overran, a second
    Ctrl+C): every unfinished file ends as its close would end it, at once. The watchdog knew the
    recording only once it was open: a signal while ffmpeg was asked what it can do and started left a
    0-byte file under the user's name, and one in the first second an unplayable header."""
    for writer in list(_UNFINISHED):
        writer.end_now()


def find_ffmpeg() -> str | None:
    """The ffmpeg program that encodes recordings, or None (tests replace this)."""
    return shutil.which("ffmpeg")


QUERY_TIMEOUT_S = 20.0
_UNANSWERED: set[str] = set()  # ffmpeg programs that did not answer a query in time: not asked again


def _ffmpeg_says(exe: str, *args: str) -> str | None:
    """What ``exe -hide_banner ARGS`` prints, or None where it cannot say. A program that hung on one
    query is not asked the next: a recording waited 20 s for each before it started."""
    if exe in _UNANSWERED:
        return None
    try:
        return subprocess.run([exe, "-hide_banner", *args], capture_output=True, text=True,
                              timeout=QUERY_TIMEOUT_S, check=False).stdout
    except subprocess.TimeoutExpired:
        _UNANSWERED.add(exe)
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        pass
    return None


@functools.lru_cache(maxsize=4)
def _ffmpeg_has_encoder(exe: str, name: str) -> bool:
    listed = _ffmpeg_says(exe, "-encoders") or ""
    return any(line.split()[1:2] == [name] for line in listed.splitlines())


@functools.lru_cache(maxsize=4)
def _ffmpeg_has_option(exe: str, name: str) -> bool:
    """Whether ``exe`` takes the option ``-name``; True when its help cannot be read (the newest
    ffmpeg's options are the ones used then)."""
    listed = _ffmpeg_says(exe, "-h", "long")
    if not listed or not listed.strip():
        return True
    return any(line.split()[:1] == [f"-{name}"] for line in listed.splitlines())


def _passthrough_timing(exe: str) -> list[str]:
    """The option that keeps each frame's own time: ``-fps_mode`` from FFmpeg 5.1 on (``-vsync`` is
    gone in FFmpeg 9), ``-vsync`` before it. With -fps_mode alone, the ffmpeg 4.4 that Ubuntu 22.04
    installs refused the command ("Unrecognized option 'fps_mode'") and no live recording could start."""
    return ["-fps_mode" if _ffmpeg_has_option(exe, "fps_mode") else "-vsync", "passthrough"]


def complete_fragments_end(fd: int) -> int:
    """Length of the part of a fragmented MP4 that ends on a whole fragment (moof + mdat).

    Walks the top-level boxes; a box cut short, or a ``moof`` whose ``mdat`` is, is not counted.
    """
    return _whole_fragments(fd)[0]


def _read_at(fd: int, size: int, pos: int) -> bytes:
    if hasattr(os, "pread"):  # no seek: ffmpeg writes through this very open file while a recording is named
        return os.pread(fd, size, pos)
    os.lseek(fd, pos, os.SEEK_SET)
    return os.read(fd, size)


def _whole_fragments(fd: int) -> tuple[int, int]:
    """(length up to the last whole fragment, number of whole fragments) of a fragmented MP4."""
    size = os.fstat(fd).st_size
    pos = good = fragments = 0
    in_fragment = False
    while pos + 8 <= size:
        header = _read_at(fd, 16, pos)
        if len(header) < 8:
            break
        length, kind = struct.unpack(">I4s", header[:8])
        if length == 1 and len(header) == 16:
            length = struct.unpack(">Q", header[8:16])[0]
        if length < 8 or pos + length > size:
            break
        pos += length
        if kind == b"moof":  # a moof only counts together with the mdat that follows it
            in_fragment = True
            continue
        if kind == b"mdat" and in_fragment:
            fragments += 1
        in_fragment = False
        good = pos
    return good, fragments


def input_files(settings: Any) -> list[str]:
    """Every file a run or render reads (source, background picture or video, avatar photo): a
    recording must never replace one of them."""
    found = []
    source = str(getattr(getattr(settings, "capture", None), "source", "") or "")
    if source and source not in ("auto", "demo") and not source.isdigit():
        found.append(source)
    background = getattr(settings, "background", None)
    avatar = getattr(settings, "avatar", None)
    for value in (getattr(background, "image", ""), getattr(background, "video", ""), getattr(avatar, "photo", "")):
        if value:
            found.append(str(value))
    return found


def _expanded(path: str | Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; OutputError when that user is unknown
    (pathlib raises RuntimeError, which ended `run --output-file '~x/a.mp4'` and `render` with a traceback)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise OutputError(f"Cannot write {shown(path)}: no home folder is known for its ~ part; give the full "
                          "path.") from None


def _identity(path: str | Path, follow: bool = True, dir_fd: int | None = None) -> tuple[int, int] | None:
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=follow)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def _identity_of(fd: int) -> tuple[int, int] | None:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _open_folder(path: Path) -> int | None:
    """A descriptor of the folder a recording is made in, to remove its hidden file there even after the
    folder was moved; None where the system cannot remove through one (Windows), or the folder cannot be
    opened (then the path serves, as before)."""
    if os.unlink not in os.supports_dir_fd or not hasattr(os, "O_DIRECTORY"):
        return None
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None


def _frames(n: int) -> str:
    return "1 frame" if n == 1 else f"{n} frames"


def _fix(exc: OSError, usual: str) -> str:
    """What to do about ``exc``: ``usual``, unless the process or the system ran out of something (it said
    "reinstall ffmpeg" for a process at its open-file limit)."""
    return out_of(exc) or usual


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


# ------------------------------------------------------------------ the target name


class _Target:
    """The bytes' temporary file beside ``path`` and the one way it gets ``path``'s name."""

    def __init__(self, path: Path, overwrite: bool, inputs: Iterable[str | Path], publish_at_start: bool) -> None:
        self.path, self.overwrite = path, overwrite
        self.aside: Path | None = None  # the name the bytes got when ``path`` was taken meanwhile
        self._inputs = [i for i in (_identity(p) for p in inputs) if i is not None]
        if path.suffix.lower() not in RECORDING_SUFFIXES:
            raise OutputError(
                f"Cannot record to {shown(path.name)}: a recording must end in "
                f"{', '.join(RECORDING_SUFFIXES[:-1])} or {RECORDING_SUFFIXES[-1]}; choose a name like "
                f"{shown(path.stem or 'recording', 60)}.mp4."
            )
        try:
            folder = stat.S_ISDIR(os.stat(path.parent).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            folder = False
        except OSError as exc:
            # A folder name too long, a folder it may not look into, a drive that went away: pathlib's
            # is_dir() raised these (a traceback; `run` then aborted under the camera's thread at exit).
            raise OutputError(f"Cannot write {shown(path)} ({exc.strerror}); {_fix(exc, 'choose another path')}.") \
                from None
        if not folder:
            raise OutputError(
                f"Cannot write {shown(path)}: the folder {shown(path.parent)} does not exist; choose another path."
            )
        self._check_name()
        self._folder = _open_folder(path.parent)
        try:
            self.fd, self.temp = self._create_temp()
        except BaseException:
            self.let_go_of_folder()
            raise
        self._ours = _identity_of(self.fd)
        # A live recording that replaces a file takes its name only once it holds a whole fragment (see
        # VideoWriter._name_once_playable): named at the start, an ffmpeg that could not start, or a disk that
        # filled before the first second, removed the user's file and left nothing in its place.
        self.replaces = publish_at_start and overwrite and os.path.lexists(path)
        try:
            if publish_at_start and not self.replaces:
                self._give_name()
            else:
                self._probe_link()
        except BaseException:
            os.close(self.fd)
            self._unlink_temp()
            raise

    @property
    def written(self) -> Path:
        """Where the bytes are now."""
        return self.temp or self.aside or self.path

    def lost(self) -> bool:
        """Whether the name the bytes are under no longer names them (the file, or its folder, was moved
        or deleted): one lstat, looked at before each frame."""
        return self._ours is not None and _identity(self.written, follow=False) != self._ours

    def _check_name(self) -> None:
        path = self.path
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OutputError(f"Cannot write {shown(path)} ({exc.strerror}); choose another path.") from None
        if (st.st_dev, st.st_ino) in self._inputs or _identity(path) in self._inputs:
            raise OutputError(
                f"{shown(path)} is also an input of this run, and the input and output must be different files; "
                "choose another output name."
            )
        # What --overwrite cannot replace is said first: "add --overwrite" for a folder or a link sent
        # the user to an option that then refused it for another reason.
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(
                f"{shown(path)} is a symbolic link and LiveCam never writes through one; give the real file's "
                "name or another name."
            )
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{shown(path)} is a folder; give a file name ending in .mp4.")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(
                f"{shown(path)} is not a regular file (a device, pipe or socket) and --overwrite replaces only "
                "regular files; choose another name."
            )
        if not self.overwrite:
            raise OutputError(
                f"{shown(path)} already exists and LiveCam does not replace files; choose another name, "
                "or add --overwrite to replace it."
            )

    def _create_temp(self) -> tuple[int, Path]:
        flags = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_BINARY", 0))
        stem = self.path.stem[:80]
        for _ in range(100):
            temp = self.path.with_name(f".{stem}.{secrets.token_hex(4)}.livecam-part{self.path.suffix}")
            try:
                # In the folder held open: the one its removal goes through, even if the name was swapped.
                fd = os.open(temp if self._folder is None else temp.name, flags, 0o600, dir_fd=self._folder)
            except FileExistsError:
                continue  # someone's file, or another writer's: never touched
            except PermissionError:
                raise OutputError(
                    f"LiveCam may not write in {shown(self.path.parent)}; choose a folder you can write to."
                ) from None
            except OSError as exc:
                raise OutputError(
                    f"Cannot create a file in {shown(self.path.parent)} ({exc.strerror}); "
                    f"{_fix(exc, 'choose another path')}."
                ) from None
            if os.name == "posix":
                self._make_private(fd, temp)
            return fd, temp
        raise OutputError(f"Cannot create a file in {shown(self.path.parent)}; choose another path.")

    def _make_private(self, fd: int, temp: Path) -> None:
        """0600 whatever the umask said. Where the file system refuses the mode (some network and
        FAT mounts) a file already private goes on; one that is not is removed and refused: raised,
        the OSError ended run and render in a traceback and left the hidden file (and its
        descriptor) behind."""
        try:
            os.fchmod(fd, 0o600)
            return
        except OSError as exc:
            refused = exc
        try:
            private = stat.S_IMODE(os.fstat(fd).st_mode) & 0o077 == 0
        except OSError:
            private = False
        if private:
            return
        ours = _identity_of(fd)
        os.close(fd)
        where = {} if self._folder is None else {"dir_fd": self._folder}
        name = temp if self._folder is None else temp.name
        try:
            if _identity(name, follow=False, **where) == ours:
                os.unlink(name, **where)
        except OSError:
            log.warning("The unfinished file %s could not be removed; it is empty and can be deleted.", shown(temp))
        raise OutputError(
            f"LiveCam cannot make its file in {shown(self.path.parent)} readable by you alone "
            f"({refused.strerror or refused}), and recordings are private; choose a folder on another disk."
        )

    def _cannot_link(self) -> OutputError:
        return OutputError(
            f"The folder {shown(self.path.parent)} is on a file system without hard links, which LiveCam needs "
            "to save a file with no risk of replacing another; choose a folder on another disk."
        )

    def _link(self, name: Path) -> None:
        try:
            os.link(self.temp, name, follow_symlinks=False)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno in _CANNOT_LINK:
                raise self._cannot_link() from None
            refused = OutputError(f"Cannot write {shown(name)} ({exc.strerror}); choose another path.")
            refused.why = exc.strerror or str(exc)  # publish's own sentence says it when nothing took the name
            raise refused from None

    def _probe_link(self) -> None:
        probe = self.temp.with_name(self.temp.name + f".{secrets.token_hex(4)}")
        self._link(probe)
        try:
            os.unlink(probe)
        except OSError as exc:  # raised as it was, a traceback ended the start and the probe stayed unnamed
            raise OutputError(f"LiveCam cannot remove files in {shown(self.path.parent)} ({exc.strerror or exc}), "
                              f"which saving a file safely needs; the empty file {shown(probe)} can be deleted; "
                              "choose another folder.") from None

    def _give_name(self) -> None:
        """Give the bytes the target's name without replacing anything that is not ours to replace."""
        if self.overwrite and os.path.lexists(self.path):
            self._check_name()  # checked again: it may have changed into a link or an input meanwhile
            try:
                os.replace(self.temp, self.path)  # rename never follows a link at the destination
            except OSError as exc:
                # The file replaced is as it was (a rename is all or nothing); raised as it was, the
                # OSError ended run and render in a traceback and left the hidden file unnamed.
                refused = OutputError(f"Cannot write {shown(self.path)} ({exc.strerror}); choose another path.")
                refused.why = exc.strerror or str(exc)
                raise refused from None
            self.temp = None
            return
        try:
            self._link(self.path)
        except FileExistsError:
            raise OutputError(
                f"{shown(self.path)} already exists and LiveCam does not replace files; choose another name, "
                "or add --overwrite to replace it."
            ) from None
        self._unlink_temp()

    def publish(self) -> str | None:
        """Give the finished file its name; a sentence when the name was taken meanwhile (the file is
        then kept beside it under another name), else None."""
        if self.temp is None:
            return None
        try:
            self._give_name()
            return None
        except OutputError as exc:
            why = getattr(exc, "why", None)
            if why and (self.overwrite or not os.path.lexists(self.path)):
                # Nothing took the name: the folder refused it (made read-only meanwhile), and "changed" was
                # untrue; with --overwrite the file there is as it was.
                kept = f", and {shown(self.path)} is as it was" if os.path.lexists(self.path) else ""
                return (f"LiveCam could not give the finished file the name {shown(self.path)} ({why}; may LiveCam "
                        f"still write in {shown(self.path.parent)}?){kept}; the result is in {shown(self.temp)}.")
            reason = self._what_changed()
        for n in range(1, 1000):
            aside = self.path.with_name(f"{self.path.stem[:80]}.livecam-{n}{self.path.suffix}")
            try:
                self._link(aside)
            except FileExistsError:
                continue
            except OutputError:
                break
            self._unlink_temp()
            self.aside = aside
            return (f"{shown(self.path)} changed while LiveCam was writing it ({reason}), so it was left alone; "
                    f"the result is in {shown(aside)}.")
        return (f"{shown(self.path)} changed while LiveCam was writing it ({reason}), so it was left alone; "
                f"the result is in {shown(self.temp)}.")

    def _what_changed(self) -> str:
        try:
            st = os.lstat(self.path)
        except OSError:
            return "it could not be given that name"
        if (st.st_dev, st.st_ino) in self._inputs or _identity(self.path) in self._inputs:
            return "it is an input of this run now"
        if stat.S_ISLNK(st.st_mode):
            return "it is a symbolic link now"
        if not stat.S_ISREG(st.st_mode):
            return "it is not a regular file now"
        return "another file took that name meanwhile"

    def discard(self) -> None:
        """Remove what was written, if it never got the target's name."""
        self._unlink_temp()

    def _unlink_temp(self) -> None:
        """Remove the hidden file through the folder it was made in, wherever that folder is now (removed
        by its old path, it stayed in a folder moved during a render). Where it cannot be removed (a
        folder made read-only meanwhile) it is emptied, so its space comes back; a name that is no
        longer our file is left alone."""
        temp, self.temp = self.temp, None
        if temp is None:
            return
        where = {} if self._folder is None else {"dir_fd": self._folder}
        name = temp.name if where else temp
        try:
            if _identity(name, follow=False, **where) == self._ours:
                os.unlink(name, **where)
        except OSError as exc:
            self._empty(name, where, temp, exc)
        finally:
            self.let_go_of_folder()

    def _empty(self, name: str | Path, where: dict[str, int], temp: Path, refused: OSError) -> None:
        try:
            fd = os.open(name, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), **where)
            try:
                st = os.fstat(fd)
                named = st.st_nlink > 1
                if (st.st_dev, st.st_ino) == self._ours and not named:
                    os.ftruncate(fd, 0)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("The unfinished file %s could not be removed (%s) nor emptied (%s).", shown(temp),
                        refused.strerror or refused, exc.strerror or exc)
            return
        if named:
            # The hidden name of a file that has its own name now (the link that names it was made): emptied,
            # the finished recording or render went with it, under a sentence that said it was written.
            log.warning("The hidden second name %s of %s could not be removed (%s); it can be deleted.", shown(temp),
                        shown(self.path), refused.strerror or refused)
            return
        log.warning("The unfinished file %s could not be removed (%s); it was emptied and can be deleted.",
                    shown(temp), refused.strerror or refused)

    def let_go_of_folder(self) -> None:
        folder, self._folder = self._folder, None
        if folder is not None:
            try:
                os.close(folder)
            except OSError:
                pass


# ------------------------------------------------------------------ Matroska framing for timed frames


def _element(ident: bytes, payload: bytes) -> bytes:
    return ident + b"\x01" + len(payload).to_bytes(7, "big") + payload


def _uint(ident: bytes, value: int) -> bytes:
    return _element(ident, int(value).to_bytes(8, "big"))


def _mkv_header(width: int, height: int) -> bytes:
    """An EBML header, a Segment of unknown size, millisecond timestamps and one raw BGR video track.

    Raw video cannot carry a time per frame on a pipe; this is the least framing ffmpeg reads it from."""
    ebml = _element(b"\x1a\x45\xdf\xa3", _element(b"\x42\x82", b"matroska") + _uint(b"\x42\x87", 4)
                    + _uint(b"\x42\x85", 2))
    info = _element(b"\x15\x49\xa9\x66", _uint(b"\x2a\xd7\xb1", 1_000_000))
    video = _element(b"\xe0", _uint(b"\xb0", width) + _uint(b"\xba", height) + _element(b"\x2e\xb5\x24", b"BGR\x18"))
    track = _element(b"\xae", _uint(b"\xd7", 1) + _uint(b"\x73\xc5", 1) + _uint(b"\x83", 1)
                     + _element(b"\x86", b"V_UNCOMPRESSED") + video)
    segment = b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff"
    return ebml + segment + info + _element(b"\x16\x54\xae\x6b", track)


def _mkv_frame_prefix(ms: int, size: int) -> bytes:
    """A Cluster at ``ms`` holding one keyframe SimpleBlock of ``size`` bytes; the bytes follow."""
    block_head = b"\x81\x00\x00\x80"  # track 1, relative time 0, keyframe
    timecode = _uint(b"\xe7", ms)
    block_len = len(block_head) + size
    block = b"\xa3\x01" + block_len.to_bytes(7, "big") + block_head
    cluster_len = len(timecode) + len(block) + size
    return b"\x1f\x43\xb6\x75\x01" + cluster_len.to_bytes(7, "big") + timecode + block


# ------------------------------------------------------------------ the writer


class _Stopped(Exception):
    """ffmpeg went away or stalled while a frame was being written; the text says which."""


_STALLED = "the encoder took nothing for"
_LOST = "the file was moved or deleted"
_UNSAVED = "the disk reported an error while saving it"


class VideoWriter:
    """Frames in, a private H.264 MP4 out (see the module's docstring for the guarantees).

    ``timing="clock"``: each frame's ``t`` (``time.monotonic()``) is its time in the file (live
    recordings); ``"frames"``: frame ``n`` is at ``n / fps`` (render). ``publish="start"`` gives the
    file its name at once (a live recording, playable under its name whatever happens);
    ``"end"`` only at :meth:`close` (render). ``write`` raises OutputFailed with ``error``'s
    sentence once the recording cannot go on.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, *, overwrite: bool = False,
                 inputs: Iterable[str | Path] = (), timing: Timing = "clock",
                 publish: Literal["start", "end"] = "start") -> None:
        self.path = _expanded(path)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.timing = timing
        self.frames = 0
        self._misfit_said = False
        self.error: str | None = None
        self.note: str | None = None  # a sentence about where the file ended up, when not at ``path``
        self.removed = False  # stopped before one whole fragment was written: the file was removed
        self.lost = False  # moved or deleted by someone else while it was written
        self._closed = False
        self._killed = False  # by us: a stall, a deadline, an abort
        self._first_ms: int | None = None
        self._last_ms = -1
        self._t0: float | None = None
        self._last_image: np.ndarray | None = None
        self._lock = threading.Lock()
        exe = find_ffmpeg()
        if exe is None:
            raise OutputError(
                "Recording needs ffmpeg, which is not installed; install it (for example sudo apt install ffmpeg) "
                "and try again."
            )
        self._publish_at_start = publish == "start"
        self._target = _Target(self.path, overwrite, inputs, publish_at_start=self._publish_at_start)
        self._fd = self._target.fd
        # Held while the file is tidied and its descriptor closed, by _finish or end_now: never the
        # descriptor after it was closed (its number may name another file by then).
        self._fd_lock = threading.Lock()
        self._fd_closed = False
        self._unnamed_size = -1  # the file's size when last looked at for its first whole fragment
        _UNFINISHED.add(self)
        try:
            self._start(exe)
        except BaseException:
            with self._fd_lock:
                _UNFINISHED.discard(self)
                ours = self._fd_identity
                os.close(self._fd)
                self._fd_closed = True
                self._target.discard()
                if publish == "start":
                    _unlink_ours(self.path, ours)
            raise

    @property
    def _fd_identity(self) -> tuple[int, int] | None:
        return _identity_of(self._fd)

    def _start(self, exe: str) -> None:
        w, h = self.width, self.height
        if _ffmpeg_has_encoder(exe, "libx264"):
            # zerolatency: no look-ahead, so a fragment leaves the encoder as soon as it is complete;
            # ultrafast above 1080p so a 4K recording keeps up on a laptop
            preset = "ultrafast" if w * h > 1920 * 1080 else "veryfast"
            codec = ["-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-crf", "23"]
        else:
            codec = ["-c:v", "mpeg4", "-q:v", "4"]
        even = [] if w % 2 == 0 and h % 2 == 0 else ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        if self.timing == "clock":
            source = ["-f", "matroska", "-i", "pipe:0"]
            timing = [*_passthrough_timing(exe), "-enc_time_base", "-1", "-video_track_timescale", "1000"]
        else:
            rate = fractions.Fraction(self.fps).limit_denominator(1001)
            source = ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", str(rate), "-i", "pipe:0"]
            timing = []
        container = "mov" if self.path.suffix.lower() == ".mov" else "mp4"
        cmd = [
            exe, "-hide_banner", "-nostdin", "-loglevel", "error", *source, *even, *codec, *timing,
            "-pix_fmt", "yuv420p", "-force_key_frames", f"expr:gte(t,n_forced*{FRAGMENT_S:g})", "-g", "100000",
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-flush_packets", "1",
            "-f", container, "pipe:1",
        ]  # fmt: skip
        try:
            self._stderr = tempfile.TemporaryFile()
        except OSError as exc:  # a full or read-only temporary folder: raised, a traceback ended run and render
            raise OutputError(f"LiveCam cannot keep ffmpeg's messages in {shown(tempfile.gettempdir())} "
                              f"({exc.strerror or exc}); free some space there, or set TMPDIR to another "
                              "folder.") from None
        self._stderr_tail = b""  # what was kept of it when it was cut back
        if fcntl is not None:
            # Shared with ffmpeg's descriptor 2: its writes then land at the end even after a cut to 0.
            fd = self._stderr.fileno()
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        try:
            # Its own session and process group: Ctrl+C in the terminal reaches LiveCam only, which
            # then ends the input so ffmpeg can finish the file; a kill reaches all of ffmpeg at once.
            # C locale: its error text is matched below.
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=self._fd, stderr=self._stderr, start_new_session=True,
                env={**os.environ, "LC_ALL": "C"},
            )
        except OSError as exc:
            self._stderr.close()
            raise OutputError(
                f"ffmpeg could not be started ({exc.strerror}); {_fix(exc, 'reinstall ffmpeg')}."
            ) from None
        self._pipe = self._proc.stdin.fileno()
        # Where pipes cannot be polled (Windows) writes block, and the sender's deadline aborts them.
        self._poll = select.poll() if hasattr(select, "poll") else None
        if self._poll is not None:
            os.set_blocking(self._pipe, False)
            self._poll.register(self._pipe, select.POLLOUT)
        if hasattr(fcntl, "F_SETPIPE_SZ"):
            try:
                fcntl.fcntl(self._pipe, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
            except OSError:
                pass  # the system's limit is lower: the default size works, with more writes
        if self.timing == "clock":
            try:
                self._put(_mkv_header(w, h))
            except _Stopped as exc:
                self._kill()
                raise OutputError(f"ffmpeg could not start the recording ({exc}); reinstall ffmpeg.") from None

    # -- writing

    def write(self, image: np.ndarray, t: float | None = None) -> None:
        """Hand one frame to ffmpeg. Returns within ``deadline_s`` whatever ffmpeg does; raises
        OutputFailed (its sentence is ``error``) once the recording has stopped."""
        with self._lock:
            if self.error is not None or self._closed:
                raise OutputFailed(self.error or f"The recording to {shown(self.path)} is closed.")
            if self._target.lost():
                # The file holds its descriptor, so every write went on succeeding into a file that was
                # deleted, or moved where no sentence would say, until the recording stopped.
                self._finish(timeout=5.0, reason=_LOST, publish=self._publish_at_start)
                raise OutputFailed(self.error or f"Recording to {shown(self.path)} stopped.")
            frame = self._fitted(image)
            data = frame.data
            try:
                if self.timing == "clock":
                    ms = self._stamp(time.monotonic() if t is None else t)
                    self._put(_mkv_frame_prefix(ms, data.nbytes))
                    self._last_image = frame
                self._put(data)
            except _Stopped as exc:
                if str(exc).startswith(_STALLED):
                    self._kill()  # it will not finish the file on its own
                # A render's file takes its name only when complete: published here, the cut file sat
                # under the name while the render said nothing was written there.
                self._finish(timeout=5.0, reason=str(exc), publish=self._publish_at_start)
                raise OutputFailed(self.error or f"Recording to {shown(self.path)} stopped.") from None
            self.frames += 1
            if fcntl is not None:
                self._trim_stderr()  # one fstat a frame
            if self._target.replaces and self._target.temp is not None:
                self._name_once_playable()

    def _name_once_playable(self) -> None:
        """Give a live recording that replaces a file its name once its first whole fragment is on disk
        (about a second in): one fstat a frame until then. Where the file cannot be read without moving
        ffmpeg's own position in it (no pread: Windows) it is named at the end."""
        if not hasattr(os, "pread"):
            return
        try:
            size = os.fstat(self._fd).st_size
            if size == self._unnamed_size:
                return
            self._unnamed_size = size
            if not _whole_fragments(self._fd)[1]:
                return
        except (OSError, struct.error):
            return  # looked at again at the next frame, and at the end
        self.note = self._target.publish()
        if self._target.temp is not None:
            self._target.replaces = False  # kept under its hidden name, which the note gives; not tried again

    def _stderr_end(self) -> bytes:
        """The last STDERR_KEEP_BYTES ffmpeg printed."""
        fd = self._stderr.fileno()
        size = os.fstat(fd).st_size
        end = os.pread(fd, STDERR_KEEP_BYTES, max(0, size - STDERR_KEEP_BYTES))
        return (self._stderr_tail + end)[-STDERR_KEEP_BYTES:]

    def _trim_stderr(self) -> None:
        try:
            if os.fstat(self._stderr.fileno()).st_size > STDERR_MAX_BYTES:
                self._stderr_tail = self._stderr_end()
                os.ftruncate(self._stderr.fileno(), 0)
        except OSError:
            pass  # kept as it is: a bigger file, nothing lost

    def _fitted(self, image: Any) -> np.ndarray:
        """``image`` as exactly the BGR uint8 frame size the encoder was started with. Raw frames
        have no size of their own: one frame of another size (a source that changed size, a grey
        frame) shifted every later frame of a render into garbage, and nothing said so."""
        w, h = self.width, self.height
        if isinstance(image, np.ndarray) and image.shape == (h, w, 3) and image.dtype == np.uint8:
            return np.ascontiguousarray(image)
        frame = as_bgr8(image)
        if frame is None:
            if not self._misfit_said:
                log.warning("A frame that was no picture went into %s as a grey card.", shown(self.path))
            self._misfit_said = True
            return np.full((h, w, 3), 48, np.uint8)
        if frame.shape[:2] != (h, w):
            if not self._misfit_said:
                log.warning("Frames of %dx%d went into the %dx%d recording %s, scaled to fit.",
                            frame.shape[1], frame.shape[0], w, h, shown(self.path))
            self._misfit_said = True
            frame = cover_fit(frame, (w, h))
        return np.ascontiguousarray(frame)

    def _stamp(self, t: float) -> int:
        if self._t0 is None:
            self._t0 = t
        ms = max(self._last_ms + 1, round(1000 * (t - self._t0)))  # strictly increasing, as MP4 needs
        if self._first_ms is None:
            self._first_ms = ms
        self._last_ms = ms
        return ms

    @property
    def deadline_s(self) -> float:
        """The longest one write may take before the encoder counts as stalled."""
        return STALL_S if self.frames else STARTUP_S

    def _put(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        patience = self.deadline_s
        asked, waited = time.monotonic(), 0.0  # the last wait for the pipe: when, and for how long
        deadline = asked + patience
        while view:
            try:
                n = os.write(self._pipe, view)
            except BlockingIOError:
                now = time.monotonic()
                # LiveCam and ffmpeg stopped together (a paused VM) and continued: neither ran, so that
                # time is not the encoder's. Counted, the first look after the continue killed it.
                deadline += not_running_for(asked, waited, now)
                remaining = deadline - now
                if remaining <= 0 or self._poll is None:
                    raise _Stopped(f"the encoder took nothing for {patience:g} s") from None
                asked, waited = now, min(remaining, 0.2)
                self._poll.poll(waited * 1000)
                continue
            except (BrokenPipeError, OSError, ValueError):
                raise _Stopped("the encoder was stopped" if self._killed else "ffmpeg stopped taking frames") from None
            view = view[n:]
            asked, waited = time.monotonic(), 0.0
            deadline = asked + patience  # progress: a slow encoder is not a stalled one

    @property
    def started_at(self) -> float | None:
        """``time.monotonic()`` of the first frame of a timed recording (its time 0), or None."""
        return self._t0

    @property
    def duration_s(self) -> float:
        """Seconds of video written so far."""
        if self.timing == "frames" or self._first_ms is None:
            return self.frames / self.fps if self.fps > 0 else 0.0
        return (self._last_ms - self._first_ms) / 1000 + 1 / self.fps

    # -- ending

    def abort(self) -> None:
        """From another thread: kill ffmpeg now, so a write stuck on it returns (the file keeps its
        whole fragments)."""
        self._kill()

    def _kill(self) -> None:
        self._killed = True
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, AttributeError):
            pass

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """End the input and let ffmpeg finish the file, for at most ``timeout`` s (then the last
        whole fragment is kept); the file gets its name now if it did not have it yet. ``error``
        says what went wrong, ``note`` where the file went when its name was taken meanwhile."""
        if not self._lock.acquire(timeout=max(0.0, min(timeout, self.deadline_s + 1))):
            self.abort()  # a write is stuck on ffmpeg: killing it frees the write and the lock
            self._lock.acquire()
        try:
            self._hold_last_frame(timeout)
            self._finish(timeout=timeout, reason=None)
        finally:
            self._lock.release()

    def _hold_last_frame(self, timeout: float) -> None:
        """A frame's time in the file lasts until the next frame; the last one would end at once,
        cutting off the time since it came (long, when the encoder was slow). It is shown again at
        the moment the recording stops, unless that must happen within a few seconds."""
        if self.timing != "clock" or self._last_image is None or self._closed or self.error or timeout < 5:
            return
        t = time.monotonic()
        if self._t0 is None or 1000 * (t - self._t0) - self._last_ms < 1500 / self.fps:
            return
        data = np.ascontiguousarray(self._last_image).data
        try:
            self._put(_mkv_frame_prefix(self._stamp(t), data.nbytes))
            self._put(data)
        except _Stopped:
            return  # the file simply ends with the last frame that went in

    def discard(self) -> None:
        """Stop now and remove the file, if it never got the target's name (render interrupted)."""
        with self._lock:
            self._kill()
            self._finish(timeout=1.0, reason=None, publish=False)
            self._target.discard()

    def end_now(self) -> None:
        """From a signal's watchdog, while another thread may be inside ``write`` or still starting ffmpeg:
        kill ffmpeg and end the file as ``close`` would. A render's file, which never got its name, is
        removed; a live recording keeps its whole fragments under its name, cut after the last, or is
        removed where it holds none. Never waits on the writer's lock."""
        self._kill()
        proc = getattr(self, "_proc", None)
        if proc is not None:
            try:
                proc.wait(0.5)  # SIGKILLed: gone in a moment, and it writes no more into the file
            except subprocess.TimeoutExpired:
                pass
        if not self._fd_lock.acquire(timeout=0.2):
            return  # _finish is tidying it: it ends the file the same way
        try:
            if not self._publish_at_start:
                self._target.discard()  # a render's hidden file: the render says nothing was written
                self.removed = True
                return
            if self._fd_closed:
                return  # _finish tidied it already
            try:
                playable = _cut_after_whole_fragments(self._fd)
            except (OSError, struct.error):
                return
            if not playable:
                self._remove_unplayable(self._fd_identity)
        finally:
            self._fd_lock.release()

    def _finish(self, timeout: float, reason: str | None, publish: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            # End of input: ffmpeg writes the last fragment and exits. Closed through its file
            # object (never written through, so nothing to flush), which owns the descriptor.
            self._proc.stdin.close()
        except OSError:
            pass
        timed_out = False
        try:
            rc = self._proc.wait(max(0.0, timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
            if self._publish_at_start:
                log.info("ffmpeg did not finish %s in %.1f s; it keeps its last whole fragment.", shown(self.path),
                         timeout)
            self._kill()
            rc = self._proc.wait()
        try:
            stderr = self._stderr_end().decode("utf-8", "replace")
        except OSError:
            stderr = ""
        self._stderr.close()
        if rc != 0 and not self._killed:
            reason = self._explain(rc, stderr)  # it stopped by itself: its own words say best why
        with self._fd_lock:
            reason, publish, ours = self._tidy(rc, reason, publish)
        if self.removed:
            if reason is None and self.frames:
                # Frames went in and no video came out, though ffmpeg said all was well (a broken
                # or substituted ffmpeg): the caller must not report a recording that is not there.
                reason = "ffmpeg wrote no playable video"
        if publish and not self._publish_at_start and not self.removed:
            # A render's file takes its name only when whole. Cut by the close's deadline (the frames
            # still in the encoder missing) it was named and called "wrote 200 frames", exit 0, with
            # 180 in it; cut by a full disk at the last fragment, named under "nothing was written to it".
            if timed_out and reason is None:
                reason = (f"ffmpeg did not finish the file within {_duration(timeout)}: is the disk slow or the "
                          "machine busy?")
            if reason is not None:
                self._target.discard()
                self.removed = True
                publish = False
        if reason is not None:
            self.error = self._sentence(reason)
        if publish:
            self.note = self._target.publish() or self.note  # or the one said when it was named mid-recording
        if not self.removed and ours is not None and _identity(self._target.written, follow=False) != ours:
            # Its folder deleted or the file moved meanwhile: the bytes are not where any sentence
            # would say (it used to say "Recorded … to NAME", exit 0, with no such file).
            self.lost = True
            self.note = None
            self.error = self._lost_sentence(stopped=reason == _LOST)
            if not self._publish_at_start:
                # A render's hidden file, found in its folder wherever that went: a render that did not take
                # its name leaves nothing (it stayed in a folder moved during the render's last seconds).
                self._target.discard()
        if publish:
            self._target.let_go_of_folder()  # named, or said where it is: nothing is removed any more
        _UNFINISHED.discard(self)

    def _tidy(self, rc: int, reason: str | None, publish: bool) -> tuple[str | None, bool, tuple[int, int] | None]:
        """Cut the file after its last whole fragment, sync and close it, and remove it where it holds no
        whole fragment: (the reason so far, whether to publish, the file's identity)."""
        playable = True
        ours = self._fd_identity
        try:
            # Only a failed ffmpeg leaves a cut-off fragment; after a clean exit the end is whole.
            playable = _cut_after_whole_fragments(self._fd, cut=rc != 0)
        except (OSError, struct.error) as exc:
            log.warning("Could not tidy the end of %s (%s); it plays up to where it was cut.", shown(self.path), exc)
        unsaved = _saved(self._fd)
        self._fd_closed = True
        if unsaved is not None and reason is None:
            # The disk said the bytes may not all be on it: a render that took its name and said "wrote
            # N frames" could be missing its end; a recording summed up as recorded, likewise.
            reason = unsaved
        if not playable and reason != _LOST:  # not one whole fragment: an empty file helps nobody
            self._remove_unplayable(ours)  # ours read before the close: the descriptor is gone now
            publish = False
        return reason, publish, ours

    def _remove_unplayable(self, ours: tuple[int, int] | None) -> None:
        """Remove a file without one whole fragment: under the user's name only if it is still ``ours``, and
        the hidden file of one that replaces a file (not named yet)."""
        _unlink_ours(self.path, ours)
        self._target.discard()
        self.removed = True

    def _lost_sentence(self, stopped: bool) -> str:
        path, took = shown(self.path), f"after {_duration(self.duration_s)} ({_frames(self.frames)})"
        if not self._publish_at_start:
            return (f"The unfinished render to {path} was moved or deleted (or its folder was) while LiveCam was "
                    f"writing it{f', so the render stopped {took}' if stopped else ''}; nothing was written to "
                    f"{path}.")
        if stopped:
            return (f"The recording to {path} was moved or deleted (or its folder was) while LiveCam was writing "
                    f"it, so the recording stopped {took}, and LiveCam cannot tell where the file is now.")
        return (f"The recording to {path} was moved or deleted (or its folder was) while LiveCam was writing it, so "
                "LiveCam cannot tell where it is now.")

    def _explain(self, rc: int, stderr: str) -> str:
        if "No space left on device" in stderr:
            return "full"
        if "Disk quota exceeded" in stderr:
            return "quota"
        if "File too large" in stderr or rc == -getattr(signal, "SIGXFSZ", -1000):
            return "too large"
        if rc < 0:  # a signal no one in LiveCam sent: "ffmpeg: exit status -9" said nothing to a user
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            if name == "SIGKILL":
                return "ffmpeg was ended by SIGKILL, sent by another program or by the system when memory ran out"
            return f"ffmpeg was ended by {name}"
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        return "ffmpeg: " + shown(lines[-1] if lines else f"exit status {rc}", 200)

    def _sentence(self, problem: str) -> str:
        path = shown(self.path)
        took = f"after {_duration(self.duration_s)} ({_frames(self.frames)})"
        if self._publish_at_start:
            doing, verb = "recording", "record"
            kept = (f"; nothing playable had been written, so {path} was left as it was" if self.removed
                    and self._target.replaces
                    else "; nothing playable had been written, so the file was removed" if self.removed
                    else "; the disk may not have kept all of it" if problem.startswith(_UNSAVED)
                    else "; the file keeps what was recorded up to its last whole second")
        else:  # a render: its file takes its name only when complete, so a stopped one leaves nothing
            doing, verb, kept = "rendering", "render", "; nothing was written to it"
        if problem == "full":
            return (f"The disk is full: {doing} to {path} stopped {took}{kept}. "
                    f"Free some space or {verb} to another disk.")
        if problem == "quota":
            return f"Your disk quota is used up: {doing} to {path} stopped {took}{kept}."
        if problem == "too large":
            return (f"{path} reached the largest file this disk allows: {doing} stopped {took}{kept}. "
                    f"{verb.capitalize()} to a disk formatted with exFAT, NTFS, APFS or ext4.")
        return f"{doing.capitalize()} to {path} stopped {took} ({problem}){kept}."


def _cut_after_whole_fragments(fd: int, cut: bool = True) -> bool:
    """Cut the file ``fd`` after its last whole fragment (when ``cut``; this also frees the space a cut-off
    fragment took); True when it holds at least one."""
    end, fragments = _whole_fragments(fd)
    if cut and end < os.fstat(fd).st_size:
        os.ftruncate(fd, end)
    return fragments > 0


def _saved(fd: int) -> str | None:
    """Sync and close the file ``fd``; None when the disk took every byte, else the problem in the words
    :meth:`VideoWriter._sentence` knows. A failing sync or close (a full or failing disk, a network file
    system reporting a lost write late) was a log line, and the file was then named and called written."""
    problem: OSError | None = None
    try:
        os.fsync(fd)
    except OSError as exc:
        problem = exc
    try:
        os.close(fd)
    except OSError as exc:
        problem = problem or exc
    if problem is None or problem.errno == errno.EINVAL:  # EINVAL: a file that cannot be synced (a pipe)
        return None
    known = {errno.ENOSPC: "full", errno.EDQUOT: "quota", errno.EFBIG: "too large"}.get(problem.errno or 0)
    return known or f"{_UNSAVED}: {problem.strerror or problem}"


def _unlink_ours(path: Path, ours: tuple[int, int] | None) -> None:
    """Remove ``path`` only if it is still the file we created (a start that failed after naming)."""
    if ours is not None and _identity(path, follow=False) == ours:
        path.unlink(missing_ok=True)


class FileOutput(Output):
    """A live recording (``run --output file``): the one writer, timed by the frames' send times.

    ``send(image, t)`` raises OutputFailed with one sentence once the recording cannot go on (disk
    full, encoder stalled); ``error`` keeps it and the file keeps what was recorded until then.
    """

    recorder = "ffmpeg"

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 30, overwrite: bool = False,
                 inputs: Iterable[str | Path] = ()) -> None:
        super().__init__(width, height, fps)
        self.path = _expanded(path)
        self.writer = VideoWriter(self.path, self.width, self.height, self.fps, overwrite=overwrite,
                                  inputs=inputs, timing="clock", publish="start")
        self.description = f"file {shown(self.path)}"

    @property
    def frames_written(self) -> int:
        return self.writer.frames

    @property
    def error(self) -> str | None:
        # note: the name was taken meanwhile and the recording went beside it (a replacing recording is
        # named once it holds its first second).
        return self.writer.error or self.writer.note

    def send(self, image: np.ndarray, t: float | None = None) -> None:
        self.check(image)
        self.writer.write(image, t)

    @property
    def deadline_s(self) -> float:
        """How long the sender waits on one send: the writer's own stall check speaks first."""
        return self.writer.deadline_s + 1.0

    def abort(self) -> None:
        self.writer.abort()

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        self.writer.close(timeout)

    def summary(self, missed: int = 0, made: int | None = None) -> str | None:
        """One sentence for the end of a run: how much was recorded, and how many of the ``made`` frames
        were never written (``missed``: the sender's ``left_out``, frames replaced while the encoder was
        busy; nothing is said when there were none).

        The count is of frames made, never of frames written: the sender writes a frame again at each
        tick no new one came (that is how the file keeps real time), and "Recorded 8.1 s of video (232
        frames)" stood beside "N of the 200 made were left out"."""
        if self.writer.removed or self.writer.lost or self.writer.note or self.writer.error:
            # A recording that stopped (encoder killed or stalled, disk full) has its own one sentence, which
            # says how much the file keeps. This one said "Recorded 3.0 s" of a file that plays 2 s, and blamed
            # "the computer could not record them fast enough" for the frames a stopped encoder never took.
            return None
        made_words = f" ({_frames(made)} made)" if made is not None else ""
        text = f"Recorded {_duration(self.writer.duration_s)} of video{made_words} to {shown(self.path)}"
        if missed:
            of = f" of the {made} made" if made is not None and made >= missed else ""
            text += (f"; {missed} frame{'s' if missed != 1 else ''}{of} {'were' if missed != 1 else 'was'} "
                     "left out because the computer could not record them fast enough (the frames around them "
                     "stay on screen longer, so the video keeps real time)")
        return text + "."
