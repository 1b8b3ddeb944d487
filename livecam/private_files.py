"""Personal files (settings, presets, avatar photos, recordings) are readable by their owner only.

The config folder is 0700 and every file LiveCam writes into it is 0600, whatever the umask says;
writes go to a temporary file that is renamed into place, so a crash never leaves half a file, and
nothing a user made is replaced unless the caller says so.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700 on POSIX; returns it.

    Every folder this creates on the way is 0700 too, so making ``config/avatars`` on a fresh
    machine never leaves ``config`` readable by others."""
    path = Path(path)
    created = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        created.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        for folder in (path, *created):
            os.chmod(folder, DIR_MODE)
    return path


def write_private(path: str | Path, data: bytes | str, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically with mode 0600 (the folder is made private too).

    With ``overwrite=False`` an existing file is left alone and FileExistsError is raised.
    """
    path = Path(path)
    private_dir(path.parent)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if os.name == "posix":
            os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
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


def copy_private(source: str | Path, target: str | Path, overwrite: bool = False) -> Path:
    """Copy ``source`` to ``target`` as a private file (the copy is 0600 whatever the original was)."""
    return write_private(target, Path(source).read_bytes(), overwrite=overwrite)
