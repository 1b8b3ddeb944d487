"""The user's output file: written under a hidden name, then given the user's name without ever
replacing a file it should not.

- The bytes go to a unique temporary file created with O_EXCL next to the target, and the target
  name is given to it with a hard link (which fails, instead of replacing, when the name is taken),
  then the temporary name is removed. So a file that appears meanwhile, a user's own ``.part`` file,
  a second writer, a symbolic link or an input file are never replaced. Where the file system cannot
  hard-link, the recording is refused before anything is written.
- ``--overwrite`` replaces only a regular file, atomically (rename), never through a symbolic link,
  and never an input.
- The file is private (0600) from its first byte.
- A render's hidden file is removed through its folder's descriptor, so it goes from a folder moved
  meanwhile too.
- A writer holds a flock on its hidden file for as long as the bytes are written (ffmpeg's copy of the
  descriptor keeps it until the encoder is gone), so the hidden file of one ended outright (SIGKILL, the
  out-of-memory killer, a power cut) is told from a live one by the next writer in that folder, and
  removed: it held up to a whole render's size, under a dot name nobody sees, for good.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from livecam.media import RECORDING_SUFFIXES
from livecam.messages import out_of, shown
from livecam.private_files import try_flock
from livecam.sinks import OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock (and no folder descriptor): nothing left behind is removed
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("livecam.output_file")

_PART = ".livecam-part"  # the hidden file's mark: .<stem>.<8 hex>.livecam-part<suffix>
_LEFT_BEHIND = re.compile(r"\..*\.[0-9a-f]{8}" + re.escape(_PART)
                          + f"({'|'.join(re.escape(s) for s in RECORDING_SUFFIXES)})", re.IGNORECASE)
FOLDER_WAIT_S = 5.0  # a bound on waiting for another writer's brief hold of the folder, never reached by one
_KEPT_MODE = 0o400  # a finished result kept under its hidden name (publish's sentence gives it): never removed

_CANNOT_LINK = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.EOPNOTSUPP,
                getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


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


def _fix(exc: OSError, usual: str) -> str:
    """What to do about ``exc``: ``usual``, unless the process or the system ran out of something (it said
    "reinstall ffmpeg" for a process at its open-file limit)."""
    return out_of(exc) or usual


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
            with _folder_held(self._folder) as held:
                if held:
                    _remove_left_behind(self._folder, path.parent)
                self.fd, self.temp = self._create_temp()
                try_flock(self.fd)  # before the folder is let go: no other writer sees it unheld
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
            temp = self.path.with_name(f".{stem}.{secrets.token_hex(4)}{_PART}{self.path.suffix}")
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
                self._keep_temp()
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
        self._keep_temp()
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

    def _keep_temp(self) -> None:
        """Mark the hidden file as a result the user was told of, so no later writer takes it for one left
        behind; where the mark is refused it stays all the same (nothing is removed that is not 0600)."""
        where = {} if self._folder is None else {"dir_fd": self._folder}
        name = self.temp.name if where else self.temp
        try:
            if _identity(name, follow=False, **where) == self._ours:
                os.chmod(name, _KEPT_MODE, **where)
        except OSError:
            pass

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


@contextmanager
def _folder_held(folder: int | None) -> Iterator[bool]:
    """Hold ``folder``'s flock while a writer looks for files left behind and makes and locks its own: so no
    writer's hidden file is ever seen before it is locked. Waited for up to FOLDER_WAIT_S only: a flock
    some other program keeps on the folder must not freeze the start (the writer then removes nothing).
    False where locks do not work (then nothing is removed: a live writer could not be told from a dead one)."""
    held = False
    if folder is not None:
        end = time.monotonic() + FOLDER_WAIT_S
        while (got := try_flock(folder)) is False and time.monotonic() < end:
            time.sleep(0.01)
        held = got is True
    try:
        yield held
    finally:
        if held:
            fcntl.flock(folder, fcntl.LOCK_UN)


def _remove_left_behind(folder: int, where: Path) -> None:
    """Remove the hidden files in ``folder`` that no writer holds: left by a render or recording ended
    outright. Only LiveCam's own: its name, this user's, one name, 0600 (a kept result is 0400)."""
    try:
        names = [n for n in os.listdir(folder) if _LEFT_BEHIND.fullmatch(n)]
    except OSError:
        return
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    for name in names:
        try:
            fd = os.open(name, flags, dir_fd=folder)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            ours = (stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == os.geteuid()
                    and stat.S_IMODE(st.st_mode) == 0o600)
            if ours and try_flock(fd) is True and _identity(name, False, folder) == (st.st_dev, st.st_ino):
                os.unlink(name, dir_fd=folder)
                log.warning("Removed %s (%.1f MB), the unfinished file of a render or recording that was ended "
                            "before it could finish.", shown(where / name), st.st_size / 1e6)
        except OSError:
            pass  # left for the next writer
        finally:
            os.close(fd)


def _unlink_ours(path: Path, ours: tuple[int, int] | None) -> None:
    """Remove ``path`` only if it is still the file we created (a start that failed after naming)."""
    if ours is not None and _identity(path, follow=False) == ours:
        path.unlink(missing_ok=True)
