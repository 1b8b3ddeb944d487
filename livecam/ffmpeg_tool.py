"""Which ffmpeg encodes recordings, and what that program can do.

Recordings (:mod:`livecam.recording`) and the sound-only probe (:mod:`livecam.streams`) use the
ffmpeg on the PATH. The FFmpeg versions in use differ in their encoders and options (4.4 on Ubuntu
22.04 has no ``-fps_mode``), so the program itself is asked, once per program, rather than assumed
to be the newest; a program that hangs on a question is asked nothing more.
"""

from __future__ import annotations

import functools
import shutil
import subprocess


def find_ffmpeg() -> str | None:
    """The ffmpeg program that encodes recordings, or None (tests replace this where it is looked up:
    ``livecam.recording.find_ffmpeg`` for the writer, this one for :mod:`livecam.streams`)."""
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
