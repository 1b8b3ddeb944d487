"""Where the fragmented MP4 a recording writes ends on a whole fragment.

A recording cut short (a crash, a full disk, a stop, a killed encoder) plays up to its last whole
fragment (``moof`` + ``mdat``); what comes after it is cut away, and a file without one is removed
by :mod:`livecam.recording`. The file is read through the descriptor ffmpeg writes into, without
moving its position.
"""

from __future__ import annotations

import os
import struct


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


def _cut_after_whole_fragments(fd: int, cut: bool = True) -> bool:
    """Cut the file ``fd`` after its last whole fragment (when ``cut``; this also frees the space a cut-off
    fragment took); True when it holds at least one."""
    end, fragments = _whole_fragments(fd)
    if cut and end < os.fstat(fd).st_size:
        os.ftruncate(fd, end)
    return fragments > 0
