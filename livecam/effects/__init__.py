"""Effects: small objects with one entry point, composed by the pipeline.

An effect is configured in ``__init__`` (from its slice of :class:`livecam.settings.Settings`) and
called once per frame with ``apply(image, analysis) -> image``. It declares which analysis it needs
(``needs``) so the analyzer runs only those models, and whether it runs before analysis
(``stage = "pre"``, e.g. low-light, so the models see the enhanced frame; such an effect receives the
*previous* frame's analysis) or after it (``stage = "post"``).
"""
from __future__ import annotations

from typing import Callable, Literal, Protocol

import numpy as np

from livecam.types import Analysis

Need = Literal["mask", "faces", "iris"]


class Effect(Protocol):
    needs: frozenset[str]
    stage: Literal["pre", "post"]

    def apply(self, image: np.ndarray, analysis: Analysis) -> np.ndarray:
        """Return the processed BGR uint8 image (may be ``image`` itself when nothing changes)."""
        ...


# Chain order: pre-analysis effects, then face effects, then the background, then the disclosure badge
# (last, so nothing can paint over it). Each entry: settings section -> builder returning an effect or None.
def _low_light(settings):
    if settings.low_light.mode == "off":
        return None
    from livecam.effects.low_light import LowLight

    return LowLight(settings.low_light)


def _touch_up(settings):
    if settings.touch_up.strength <= 0:
        return None
    from livecam.effects.touch_up import TouchUp

    return TouchUp(settings.touch_up)


def _avatar(settings):
    if settings.avatar.mode == "off":
        return None
    from livecam.effects.avatar import build_avatar

    return build_avatar(settings.avatar)


def _background(settings):
    from livecam.effects.background import build_background

    return build_background(settings.background, settings.output.fps)


def _badge(settings):
    if settings.avatar.mode == "off" or not settings.avatar.badge:
        return None
    from livecam.effects.badge import Badge

    return Badge()


EFFECT_BUILDERS: dict[str, Callable] = {
    "low_light": _low_light,
    "touch_up": _touch_up,
    "avatar": _avatar,
    "background": _background,
    "badge": _badge,
}
# Which settings sections each chain slot reads (a slot is rebuilt only when one of these changes).
EFFECT_SECTIONS: dict[str, tuple[str, ...]] = {
    "low_light": ("low_light",),
    "touch_up": ("touch_up",),
    "avatar": ("avatar",),
    "background": ("background", "output"),
    "badge": ("avatar",),
}
