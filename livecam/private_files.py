"""Personal files (settings, presets, avatar photos, the log) are readable by their owner only, and
kept only in folders that are ours alone.

A folder LiveCam creates is 0700 (the only time it sets a folder's mode). A folder that already
exists is never chmod-ed: one that belongs to another user, or that others may write to (a shared
1777 folder, a 0777 one), is refused with one sentence, because whoever can write there can swap
our files or read what we put in. Every file LiveCam writes is 0600, whatever the umask says;
writes go to a temporary file that is renamed into place, so a crash never leaves half a file,
and nothing a user made is replaced unless the caller says so.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

from livecam.messages import shown

DIR_MODE = 0o700
FILE_MODE = 0o600
MAX_COPY_BYTES = 256 * 1024 * 1024  # as large as a picture LiveCam accepts (media.MAX_FILE_BYTES)
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH
_FIX = "set LIVECAM_CONFIG_DIR to a folder of your own"
_FOLDER_FIXES = {"owner": _FIX, "mode": f"make it private with chmod 700 or {_FIX}"}  # by _open_to_others' kind

_REASONS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission is denied",
    errno.EPERM: "permission is denied",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    # The file-size limit of this session (``ulimit -f``, a launcher's or a service's limit): the OS's words ("file
    # too large") said neither why nor what to change, and a settings file of 1 KB is hardly large.
    errno.EFBIG: "it would go over the file-size limit this session sets (ulimit -f); raise or lift it",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of its path is a file, not a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "it is a symbolic link",
    errno.ENOENT: "a folder on its path is missing",
}


_LOOP = "it is a symbolic link that leads round in a circle"
_READ_ONLY = "it is read-only; make it writable if LiveCam may change it"
_OVER_COPY_LIMIT = f"it is over {MAX_COPY_BYTES >> 20} MB"
_OWN_WORDS = (_LOOP, _READ_ONLY, _OVER_COPY_LIMIT)  # said as they are, whatever the errno says in general


def file_size_limit() -> int | None:
    """The most bytes a file this process (and a child it starts: ffmpeg) may write (``ulimit -f``), or None when
    there is no such limit. Past it a write fails with EFBIG, which otherwise means the file system's own limit."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def reason(exc: OSError) -> str:
    """Why an OS call failed, in a few plain lower-case words."""
    if exc.strerror in _OWN_WORDS:
        return exc.strerror
    return _REASONS.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()


class FolderError(OSError):
    """A folder LiveCam will not keep personal files in, or cannot make. ``str()`` is one sentence;
    :meth:`sentence` words it for a particular consequence."""

    def __init__(self, what: str, fix: str, errno_: int = errno.EPERM):
        self.what, self.fix = what, fix
        super().__init__(errno_, self.sentence("LiveCam keeps no personal files there"))

    def sentence(self, consequence: str) -> str:
        return f"{self.what[0].upper()}{self.what[1:]}, so {consequence}; {self.fix}."

    def __str__(self) -> str:
        return self.strerror


def check_folder(path: str | Path) -> None:
    """Raise FolderError unless the existing folder ``path`` is a folder of ours that no one else may
    write to. Its mode is left as it is, whatever it is."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise FolderError(f"the folder {shown(path)} cannot be used ({reason(exc)})", _FIX, exc.errno or 0) from None
    if not stat.S_ISDIR(st.st_mode):
        raise FolderError(f"the path {shown(path)} is a file, not a folder", f"move it away or {_FIX}", errno.ENOTDIR)
    if os.name != "posix":
        return
    why = _open_to_others(st, root_too=False)
    if why is not None:
        raise FolderError(f"the folder {shown(path)} {why[1]}", _FOLDER_FIXES[why[0]])


def _open_to_others(st: os.stat_result, root_too: bool) -> tuple[str, str] | None:
    """How someone else could change what ``st`` describes, as (``"owner"`` or ``"mode"``, a few words to
    follow its name), or None: it is ours (or root's, with ``root_too``) and no one else may write to it."""
    if st.st_uid not in ((os.geteuid(), 0) if root_too else (os.geteuid(),)):
        return "owner", f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & _OTHERS_WRITE:
        return "mode", f"can be written by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def make_folders(folder: str | Path) -> None:
    """``folder`` and any missing folder above it, each made 0700 whatever the umask (under umask 000
    they were 0777: anyone on the machine could replace what LiveCam keeps there, a fetched model or a
    TensorRT engine). A folder already there is left as it is. Raises OSError."""
    folder = Path(folder)
    for missing in _missing(folder):
        # False: another LiveCam made it a moment ago; its caller checks it like any folder already there.
        _mkdir_private(missing)
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))


def _missing(path: Path) -> list[Path]:
    """``path`` and the folders above it that do not exist (yet), outermost first."""
    missing = []
    while not os.path.lexists(path) and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing[::-1]


def _mkdir_private(folder: Path) -> bool:
    """Make ``folder`` 0700 whatever the umask (which may take more than it should, never less); False when
    it appeared meanwhile (made by another LiveCam, or someone else), left as it is. Raises OSError."""
    try:
        os.mkdir(folder, DIR_MODE)
    except FileExistsError:
        return False
    if os.name == "posix":
        os.chmod(folder, DIR_MODE)
    return True


def _config_root(path: Path) -> Path | None:
    """The config folder when ``path`` is it or lies inside it: every existing folder from there down
    must be private, so a 0777 config folder is refused even when only ``avatars/`` below it is new."""
    from livecam.settings import config_dir

    root = config_dir()
    try:
        path.relative_to(root)
    except ValueError:
        return None
    return root


def private_dir(path: str | Path) -> Path:
    """``path`` as a folder fit for personal files: created (with any missing parents) 0700 when it
    is missing, checked with :func:`check_folder` when it exists; returns it. Raises FolderError."""
    path = Path(path)
    root = _config_root(path) or path
    # From the config folder (or ``path`` itself) down to ``path``: each is checked or made by us.
    chain = [*reversed([p for p in path.parents if p == root or root in p.parents]), path]
    # Before it, the missing folders above (~/.config on a fresh account): made, not checked.
    for folder in [*_missing(chain[0].parent), *chain]:
        if os.path.lexists(folder):
            if folder in chain:
                check_folder(folder)
            continue
        try:
            made = _mkdir_private(folder)
        except OSError as exc:
            raise FolderError(f"LiveCam cannot create the folder {shown(folder)} ({reason(exc)})", _FIX,
                              exc.errno or 0) from None
        if not made:
            check_folder(folder)  # made a moment ago by another LiveCam (or someone else)
    return path


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems alike
_TEMP_ROOM = NAME_MAX - len("..") - 8 - len(".tmp")  # mkstemp's dot, the name's dot, 8 random characters


def _temp_stem(name: str) -> str:
    """As much of ``name`` as a temporary file beside it can carry. The whole name went in: a file
    whose own name was allowed (a preset of 60 four-byte letters, 245 bytes) could not be written,
    its temporary name being too long."""
    while len(os.fsencode(name)) > _TEMP_ROOM:
        name = name[:-1]
    return name


def write_private(path: str | Path, data: bytes | str, overwrite: bool = True,
                  before_replace: Callable[[], None] | None = None, through_links: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically with mode 0600 (in a folder :func:`private_dir` accepts).

    With ``overwrite=False`` an existing file is left alone and FileExistsError is raised. A path
    that is a symbolic link (a dotfiles setup) is written where the link points, in a folder that
    must be private too: replacing the link with a plain file threw the user's link away.
    ``before_replace`` runs last before the rename and may raise to call the write off.
    ``through_links=False`` is for LiveCam's own copies (nobody's dotfiles): a link at their name is replaced by
    the file, and whatever it leads to is left alone.
    """
    path = Path(path)
    linked = overwrite and through_links and path.is_symlink()
    if linked:
        try:
            path = path.resolve()
        except RuntimeError:  # pathlib's word for a loop: it escaped every caller's OSError as a traceback
            raise OSError(errno.ELOOP, _LOOP, str(path)) from None
    if overwrite and (through_links or not path.is_symlink()):  # the rename replaces a link itself
        _refuse_other_than_file(path, linked)
    private_dir(path.parent)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{_temp_stem(path.name)}.", suffix=".tmp")
    try:
        if os.name == "posix":
            os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the target exists: no check-then-write race with another writer.
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def try_flock(fd: int, wait: bool = False) -> bool | None:
    """Take the exclusive advisory lock of ``fd`` (a flock: the kernel drops it with the descriptor and
    with a crashed holder): True once held, False while another holds it (and not ``wait``), None where
    locks do not work (no flock, ENOLCK and the like): nothing to go by."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


@contextlib.contextmanager
def folder_lock(folder: str | Path, wait: bool) -> Iterator[bool]:
    """Yields whether this process holds ``folder``'s advisory lock, a flock on the folder itself (no
    lock file to leave behind or keep private; the kernel drops it with its holder): taken when
    ``wait``, or only when no other process holds it. True where locks do not work (no flock, a file
    system without them). Raises OSError when the folder cannot be opened."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        yield try_flock(fd, wait) is not False
    finally:
        try:
            os.close(fd)  # closing releases the lock
        except OSError:
            pass  # a read-only descriptor of a folder: nothing written is lost with it


def _refuse_other_than_file(path: Path, linked: bool) -> None:
    """Raise OSError unless ``path`` is a writable regular file or missing: the rename that writes it would put
    a plain file in the place of whatever is there. A link to /dev/null (a way to keep no settings)
    replaced the device itself when LiveCam ran as root; a link to a FIFO or socket of the user's
    replaced that."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # missing (the write creates it) or unreadable (the write says why)
    if stat.S_ISREG(mode):
        if not mode & stat.S_IWUSR:
            # The owner took the write permission away to keep the file as it is; the rename would
            # not ask (the folder's permission is what it needs), and the file was replaced all the same.
            raise OSError(errno.EACCES, _READ_ONLY, str(path))
        return
    if stat.S_ISDIR(mode):
        raise OSError(errno.EISDIR, _REASONS[errno.EISDIR], str(path))
    if stat.S_ISLNK(mode):  # still a link once resolved: a loop, which Python 3.13+ resolves without a word
        raise OSError(errno.ELOOP, _LOOP, str(path))
    # reason() lower-cases the words, so they name no path.
    what = "a device, pipe or socket, not a file"
    what = f"its link leads to {what}" if linked else f"it is {what}"
    raise OSError(errno.EINVAL, what, str(path))


def copy_private(source: str | Path, target: str | Path, overwrite: bool = False) -> Path:
    """Copy ``source`` to ``target`` as a private file (the copy is 0600 whatever the original was).

    Only a regular file of at most MAX_COPY_BYTES is copied, else OSError: the source is a user's
    file checked earlier by path (an avatar photo, before its face is fitted), and swapped meanwhile
    for a FIFO it blocked the effect builder for good, for a link to /dev/zero it read without end.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(source, flags)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_COPY_BYTES:
        os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file", str(source))
        raise OSError(errno.EFBIG, _OVER_COPY_LIMIT, str(source))
    with os.fdopen(fd, "rb") as f:
        data = f.read(st.st_size + 1)
    if len(data) != st.st_size:
        raise OSError(errno.EAGAIN, "it changed while it was being copied", str(source))
    return write_private(target, data, overwrite=overwrite)


def open_private_log(path: str | Path) -> int:
    """A file descriptor for appending to the log ``path``, created 0600: never through a symbolic
    link (a link at the log's name could make LiveCam append to any file its user may write), only a
    regular file of ours with no other names. Raises OSError; a refusal is a FolderError sentence."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and os.path.islink(path)):
            raise FolderError(f"the log file {shown(path)} is a symbolic link",
                              "remove the link to keep a log", errno.ELOOP) from None
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads
            raise FolderError(f"the log file {shown(path)} is not a regular file", "remove it to keep a log",
                              errno.ENXIO) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FolderError(f"the log file {shown(path)} is not a regular file", "remove it to keep a log",
                              errno.EINVAL)
        if os.name == "posix":
            if st.st_uid != os.geteuid() or st.st_nlink > 1:
                raise FolderError(f"the log file {shown(path)} is not ours alone (another owner or a hard link)",
                                  "remove it to keep a log", errno.EPERM)
            if stat.S_IMODE(st.st_mode) != FILE_MODE:
                os.fchmod(fd, FILE_MODE)  # our own file, left readable by an older LiveCam
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def held_lock(path: str | Path) -> Iterator[str | None]:
    """Hold the advisory lock of the private file ``path`` (created 0600 in a private folder) for the
    block: yields None while this process holds it, or the process id its holder wrote in it when
    another process holds it. The kernel drops the lock with its holder (a crash leaves none behind).
    Where it cannot be taken (no flock, a folder or file LiveCam will not use) nothing is refused."""
    fd = -1
    try:
        private_dir(Path(path).parent)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), FILE_MODE)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (os.name == "posix" and st.st_uid != os.geteuid()):
            raise OSError(errno.EPERM, "not a file of ours", str(path))
        if os.name == "posix" and stat.S_IMODE(st.st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        if fd >= 0:
            os.close(fd)
        yield None
        return
    try:
        if try_flock(fd) is False:
            yield os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield None
    finally:
        os.close(fd)


def not_ours(path: str, st: os.stat_result) -> str | None:
    """Why what ``path`` holds may have been put there by someone else, or None: owned by us (or root) and
    written by no one else. numba's cache index and TensorRT's engines are run as found, and a fetched model
    is loaded after its check: whoever may write them chooses what runs."""
    why = _open_to_others(st, root_too=True)
    return None if why is None else f"{shown(path)} {why[1]}"
