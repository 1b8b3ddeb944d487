"""Whether a background picture or video a user has just chosen can be used, asked before the choice
is kept: a front end that took a broken file anyway (the tray, ``run --save``) wrote its name over the
last good one in the settings file, and the next start hid the whole picture behind a blur."""
from __future__ import annotations

from typing import Any


def unusable_background(old: Any, new: Any) -> str | None:
    """Why the picture or video that ``new`` (BackgroundSettings) holds and ``old`` did not cannot be
    used, in one sentence; None when it can, or when nothing new was chosen (a file is read once)."""
    from livecam.capture import CaptureError, VideoReader
    from livecam.effects.background import BackgroundError, load_background_image

    if new.image and new.image != old.image:
        try:
            load_background_image(new.image, cover=(64, 36))  # as small as the thumbnails: a bounded decode
        except BackgroundError as exc:
            return str(exc)
    if new.video and new.video != old.video:
        try:
            with VideoReader(new.video) as probe:
                if next(iter(probe), None) is None:
                    return f"Background video {new.video} cannot be decoded; use an MP4 (H.264) file."
        except CaptureError as exc:
            return str(exc).replace("; pass a video file.", ".")
    return None
