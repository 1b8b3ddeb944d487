"""Whether a background picture or video, or an avatar photo, a user has just chosen can be used, asked
before the choice is kept: a front end that took a broken file anyway (the tray, a preset switch,
``run --save``) wrote its name over the last good one in the settings file, and the next start hid the
whole picture behind a blur, or showed the avatar's refusal instead of the last good photo."""
from __future__ import annotations

from typing import Any, NamedTuple


class Refusal(NamedTuple):
    why: str  # one sentence naming the file and what to do
    kept: str  # what a front end that refuses the choice keeps, as a sentence


def unusable_choice(old: Any, new: Any) -> Refusal | None:
    """Why a file that ``new`` (Settings) holds and ``old`` did not cannot be used; None when every newly
    chosen file can be (or none was chosen)."""
    why = unusable_background(old.background, new.background)
    if why:
        return Refusal(why, "LiveCam keeps the previous background.")
    why = unusable_avatar_photo(old.avatar, new.avatar, new.runtime)
    if why:
        # With no photo before, the avatar that asked for one stays as it was (off, as a rule).
        return Refusal(why, "LiveCam keeps the previous avatar photo." if old.avatar.photo else "Nothing was changed.")
    return None


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


def unusable_avatar_photo(old: Any, new: Any, runtime: Any = None) -> str | None:
    """Why the photo that ``new`` (AvatarSettings) holds and ``old`` did not cannot be used, in the avatar
    effect's own sentence; None when it can, or when no new photo was chosen.

    The check is the effect's own load (``runtime``: RuntimeSettings, for the same detector sessions), so
    it refuses exactly what the effect would: the same rule, the kept copy of a moved original found as
    the effect finds it, and no copy written for a refused photo. An accepted photo's fit is remembered,
    so the effect that then builds fits nothing again (12 MP JPEG: about 0.15 s, decoded at 2048 px), and
    its private copy is written here rather than a moment later by the effect."""
    from livecam.analysis.avatar_photo import AvatarPhotoError, load_avatar_photo
    from livecam.analysis.runtime import ModelError

    if not new.photo or new.photo == old.photo:
        return None
    try:
        load_avatar_photo(new.photo, provider=getattr(runtime, "provider", "auto"),
                          threads=getattr(runtime, "threads", 1))
    except AvatarPhotoError as exc:
        return str(exc)
    except ModelError:
        pass  # not the photo's fault: the effect says what is wrong
    except Exception as exc:  # noqa: BLE001 - an unchecked photo is not taken (MemoryError on a huge one)
        from livecam.messages import shown

        return (f"The avatar photo {shown(new.photo)} could not be checked ({type(exc).__name__}); choose it again "
                "or another photo.")
    return None
