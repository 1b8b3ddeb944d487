"""Whether a file the video decoder would not open holds sound only, as ffprobe says.

OpenCV's decoder only says "not opened": a sound-only file (a voice memo saved as .mp4, an .m4a)
was called "damaged or an unsupported format", and the user went looking for a converter. ffprobe
comes with the ffmpeg that encodes recordings (:func:`livecam.ffmpeg_tool.find_ffmpeg`); where there
is none, nothing is asked and the general sentence stands.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

PROBE_TIMEOUT_S = 5.0
STREAM_KINDS = {"audio", "video", "subtitle", "data", "attachment"}  # what ffprobe's codec_type can say


def sound_only(path: str | Path) -> bool:
    """True only when ffprobe read ``path`` and found sound streams and no video stream."""
    from livecam.ffmpeg_tool import find_ffmpeg

    ffmpeg = find_ffmpeg()
    if not ffmpeg:
        return False
    probe = Path(ffmpeg).with_name("ffprobe" + Path(ffmpeg).suffix)
    if not probe.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError):
        return False
    try:
        # The descriptor opened here, through the file protocol only: no name is parsed as an option
        # or a URL (a file called "http:…" is never fetched), and the file probed is the one opened.
        posix = Path("/proc/self/fd").is_dir()
        name = f"file:/proc/self/fd/{fd}" if posix else f"file:{Path(path).absolute()}"
        result = subprocess.run(
            [str(probe), "-v", "error", "-protocol_whitelist", "file", "-show_entries", "stream=codec_type",
             "-of", "csv=p=0", name],
            pass_fds=(fd,) if posix else (), stdin=subprocess.DEVNULL, capture_output=True, text=True,
            errors="replace", timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return False
    finally:
        os.close(fd)
    kinds = result.stdout.split()
    if not set(kinds) <= STREAM_KINDS:
        return False  # not ffprobe's answer (a mangled "video" line read as sound-only named a video "sound only")
    return result.returncode == 0 and "audio" in kinds and "video" not in kinds
