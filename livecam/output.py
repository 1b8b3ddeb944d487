"""Where processed frames go: the "LiveCam" virtual camera, an MP4 file, a preview window, or nowhere.

Outputs are registered by name in ``OUTPUTS``; ``open_output`` builds the one the settings ask
for and, when the virtual camera cannot be opened, says how to fix that in one sentence and falls
back to a preview window, then to the null output, so LiveCam still runs, until the virtual camera
is there (the sender keeps trying it). Nothing is ever written
to disk unless the user asked for a file.

The outputs themselves live in :mod:`livecam.sinks` (virtual camera, preview, null) and
:mod:`livecam.recording` (the one video writer, shared with ``render``); the frame clock in
:mod:`livecam.pacing`. Their public names are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from livecam.ffmpeg_tool import find_ffmpeg  # noqa: F401 (re-exported)
from livecam.mp4_fragments import complete_fragments_end  # noqa: F401 (re-exported)
from livecam.oneshot import STOP_ASKED
from livecam.pacing import PacedSender, SenderState  # noqa: F401 (re-exported)
from livecam.recording import FileOutput, VideoWriter  # noqa: F401
from livecam.settings import OutputSettings
from livecam.sinks import (  # noqa: F401
    AwaitedOutput,
    NullOutput,
    Output,
    OutputError,
    OutputFailed,
    PreviewOutput,
    VirtualCamOutput,
)

log = logging.getLogger(__name__)

OUTPUTS: dict[str, type[Output]] = {
    "virtualcam": VirtualCamOutput,
    "file": FileOutput,
    "null": NullOutput,
    "preview": PreviewOutput,
}


def _build(kind: str, settings: OutputSettings, width: int, height: int, inputs: Iterable[str | Path] = ()) -> Output:
    if kind not in OUTPUTS:
        raise OutputError(f"Unknown output {kind!r}; choose one of {', '.join(OUTPUTS)}.")
    cls = OUTPUTS[kind]
    if kind == "virtualcam":
        return cls(width, height, settings.fps, device=settings.device)
    if kind == "file":
        return cls(settings.path, width, height, settings.fps, overwrite=settings.overwrite, inputs=inputs)
    return cls(width, height, settings.fps)


def open_output(settings: OutputSettings, width: int, height: int, inputs: Iterable[str | Path] = (),
                preview: bool = True, wait: bool = True) -> Output:
    """Open the output ``settings.kind`` names. A virtual camera that cannot be opened yet is awaited: frames go
    to a preview window, else nowhere, until it opens (the sender tries again with back-off, see
    :class:`AwaitedOutput`), with ``output.fallback_reason`` saying why.

    Nothing is recorded unless asked for: without a display the stand-in sends frames nowhere and
    says how to record them instead. ``inputs``: the files this run reads, which a recording refuses
    to replace. ``preview``: whether a preview window may stand in (False in the tray, whose own window shows
    the picture). ``wait``: whether the virtual camera's first open is waited for here. A driver that is slow
    took up to sinks.OPEN_LIMIT_S, and the tray's control thread, which answers the user's clicks, waited that
    long with nothing to show: with False the camera comes back awaited at once (nothing is sent meanwhile) and
    its first open runs on the sender's reopen thread like any later one; a first open that fails then sets
    ``fallback_reason`` there.
    """
    if not wait and settings.kind == "virtualcam":
        return AwaitedOutput(_build("null", settings, width, height),
                             lambda: _build("virtualcam", settings, width, height))
    try:
        return _build(settings.kind, settings, width, height, inputs)
    except OutputError as exc:
        if settings.kind != "virtualcam" or STOP_ASKED.is_set():
            raise  # stopped while it opened: nothing replaces it, the stop goes on
        reason = str(exc)
    log.warning("%s", reason)
    meanwhile = "LiveCam switches to the virtual camera once it is there"
    stand_in: Output | None = None
    why = "the picture shows only in LiveCam's own window"  # the tray (preview=False)
    if preview:
        try:
            stand_in = _build("preview", settings, width, height)
            log.warning("Showing the video in a preview window instead; %s.", meanwhile)
        except OutputError as exc:
            # One sentence: the preview's own says what is missing (a display, or PySide6) and what to do.
            why = str(exc).rstrip(".")
            why = why[:1].lower() + why[1:]
    if stand_in is None:
        stand_in = _build("null", settings, width, height)
        log.warning("Running without any video output: %s; %s.", why, meanwhile)
    output = AwaitedOutput(stand_in, lambda: _build("virtualcam", settings, width, height))
    output.fallback_reason = reason
    return output
