"""Values quoted in a message to the user: made safe for a terminal and cut short.

A file name may hold anything the OS allows: escape sequences that recolour or rewrite the terminal,
newlines that forge a line of output, bytes that are not UTF-8 (Python keeps them as lone
surrogates, which cannot even be printed). And a broken settings file can hold a 50 MB "path" or a
5000-digit number. :func:`shown` turns any of these into one printable line of bounded length.
"""
from __future__ import annotations

import errno
import os
from typing import Any

SHOWN = 120  # characters of a path or text shown in a message

# The process or the system at its limit of threads (or of the memory their stacks take): nothing the
# user chose or installed is at fault, so the fix is room, not a reinstall.
NO_THREAD = ("LiveCam could not start one of its threads (the system is at its limit of threads or memory); "
             "close some programs and try again.")
# What to do when the process or the system has as many files open as it may (EMFILE, ENFILE).
NO_FILES_FIX = "close some programs (or raise the open-file limit, ulimit -n) and try again"
# Out of files, memory or processes for the moment: neither another path nor a reinstall helps. The one
# table of these errno values and the fix each takes (the camera and the recording each kept a set).
OUT_OF = {errno.EMFILE: NO_FILES_FIX, errno.ENFILE: NO_FILES_FIX,
          errno.ENOMEM: "close some programs and try again", errno.EAGAIN: "close some programs and try again"}
OUT_OF_FILES = frozenset(code for code, fix in OUT_OF.items() if fix == NO_FILES_FIX)

# The common control characters by their usual names; every other unprintable one by its code.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _escape_char(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape: show the byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escaped(value: object) -> str:
    """``value`` as one printable line: control characters, escape sequences, line and paragraph
    separators, invisible format characters (bidi overrides) and undecodable bytes become visible
    escapes such as ``\\e``, ``\\n``, ``\\xff``, ``\\u202e``. Bytes are read as a file name."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = os.fsdecode(bytes(value))
    elif isinstance(value, os.PathLike):
        text = os.fsdecode(os.fspath(value))
    else:
        text = str(value)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape_char(char) for char in text)


def shown(value: object, limit: int = SHOWN) -> str:
    """``value`` escaped (see :func:`escaped`) and cut to ``limit`` characters with the full length
    noted: the form every message uses to quote a path or a user's value."""
    text = escaped(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text)} characters)"


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters; safe for any value (JSON containers are
    summarised, and a repr that cannot be made — an int over 4300 digits, a 1000-deep list — is
    named by its type)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'} of {len(value)} items"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__} too large to show"
    return escaped(text) if len(text) <= limit else escaped(text[:limit]) + "..."


def describe(exc: BaseException) -> str:
    """An exception as the end of a sentence: its text, else its kind (MemoryError's text is empty,
    which left "failed: ." in the log), with one full stop."""
    text = str(exc).strip() or type(exc).__name__
    return text if text.endswith(".") else text + "."


def out_of(exc: OSError) -> str | None:
    """What to do when ``exc`` is the process or the system out of files, memory or processes; else None."""
    return OUT_OF.get(exc.errno)


def no_thread(exc: BaseException) -> bool:
    """Whether ``exc`` is Python refusing to start a thread (``Thread.start``'s "can't start new thread")."""
    return isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)


def failed(what: str, exc: BaseException) -> str:
    """``what`` ("Avatar could not be started") and why, as one plain sentence of ours.

    LiveCam's own error kinds (a missing model, a photo with no face, a broken file) already say what
    failed and why: their text is the sentence. Anything else is a library's words (numba's "division
    by zero" from a compiled loop, OpenCV's assertion text) that tell the user nothing: the sentence
    names its kind only, and the log, which keeps the traceback, has the words."""
    if type(exc).__module__.partition(".")[0] == "livecam":
        return describe(exc)
    if isinstance(exc, MemoryError):
        return f"{what}: there is not enough memory."
    if no_thread(exc):
        return f"{what}: {NO_THREAD}"
    if isinstance(exc, OSError) and exc.strerror:
        from livecam.private_files import reason

        if exc.filename:
            return f"{what}: the file {shown(exc.filename)} cannot be used ({reason(exc)})."
        return f"{what} ({reason(exc)})."
    return f"{what} because of a fault inside LiveCam ({type(exc).__name__}); LiveCam's log has the details."
