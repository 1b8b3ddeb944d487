"""The effect registry: every effect declared once, everything else derived from it.

An entry says what an effect is called, which settings section it owns (a frozen dataclass whose
fields carry their ranges, words and flags, see :mod:`livecam.setting_fields`), where it sits in the
chain, how it is built, what it does when it cannot run, its tray toggles, the GUI controls of its
group, and its bench configurations. The settings type, the CLI flags and help, the tray and
control-window toggles, the settings window, presets, bench and stage labels all read this list.
Adding an effect is one entry here plus its module.

Every effect has one shape (:mod:`livecam.effects.base`): built from its sections
``(section, *reads)``, ``apply(image, analysis) -> (image, outputs)``, ``update(*sections) -> bool``,
``close()``; ``needs`` and ``provides`` are declared on the class.

This module imports no image or model library: the settings types are built from it at import time.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from livecam.effects.base import Effect, EffectBase, Outputs  # noqa: F401 - the effect shape, re-exported
from livecam.setting_fields import setting

# ---------------------------------------------------------------- the effect interface

OnFailure = Literal["conceal", "skip"]


@dataclass(frozen=True)
class Toggle:
    """An on/off item in the tray menu and the control window."""

    key: str  # unique among all toggles; also the QAction key
    label: str  # in menus
    short: str  # on buttons, where a group title says the rest
    shortcut: str
    field: str  # the field of the effect's section the toggle sets
    off: Any  # the field's value when off
    on: Any = None  # the value when on; None: the last value it had before being switched off
    default_on: Any = None  # with on=None, the value the first time
    file: str = ""  # a field that must hold a file before it can be on (asked for when empty)


@dataclass(frozen=True)
class EffectSpec:
    name: str  # chain slot, stage-timing key
    label: str  # words for people: GUI group title, stage label
    section: str  # the settings section it reads
    build: str  # "module:callable", called with the sections ``(section, *reads)``; returns the effect
    enabled: Callable[[Any], bool]  # from the whole Settings: is the effect on
    settings: type | None = None  # the section's type, when this entry declares it
    reads: tuple[str, ...] = ()  # other sections whose change means a rebuild
    on_failure: OnFailure = "skip"  # conceal: the frame is hidden when the effect cannot run
    toggles: tuple[Toggle, ...] = ()
    tab: str = ""  # settings-window tab of its controls
    controls: tuple[str, ...] = ()  # "section.field" (optionally ":widget") in display order
    bench: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)  # config -> changes
    bench_all: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # its part of the "all" config
    alters_face: bool = False  # it can change what a face looks like: the "AI-altered" badge covers it
    # For a conceal effect, how much of what it hides a section of its settings keeps hidden (0..1): a
    # built effect stands in for a new choice that failed to build only if it hides at least as much.
    hides: Callable[[Any], float] | None = None

    def builder(self) -> Callable[[Any], Any]:
        module, _, name = self.build.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def sections(self) -> tuple[str, ...]:
        return (self.section, *self.reads)


# ---------------------------------------------------------------- settings sections of the effects

LowLightMode = Literal["off", "auto", "manual"]
BackgroundMode = Literal["off", "blur", "image", "video", "color"]
AvatarMode = Literal["off", "swap", "animate"]
CameraPlace = Literal["above", "below"]


@dataclass(frozen=True)
class LowLightSettings:
    mode: LowLightMode = setting(
        "off", label="Low light", flag="--low-light", help="brighten a dark room: auto meters by itself, manual uses the sliders",
        choices={"off": "Off", "auto": "Auto", "manual": "Manual"})
    exposure: float = setting(0.0, label="Exposure", range=(-2.0, 3.0), step=0.1, fmt="{:+.1f} stops",
                              flag="--exposure", help="manual exposure in stops (sets low light to manual)",
                              implies={"mode": "manual"})
    contrast: float = setting(1.0, label="Contrast", range=(0.5, 2.0), step=0.05, fmt="{:.2f}×", flag="--contrast",
                              help="manual contrast, 1 = neutral (sets low light to manual)", implies={"mode": "manual"})
    shadows: float = setting(1.0, label="Shadows", range=(0.3, 1.0), step=0.05, fmt="{:.2f}", flag="--shadows",
                             help="gamma on the shadows, lower lifts them; 1 = neutral (sets manual)",
                             implies={"mode": "manual"})
    denoise: int = setting(0, label="Denoise", range=(0, 100), fmt="{:.0f}%", flag="--denoise",
                           help="temporal denoise strength (sets manual; auto picks its own)", implies={"mode": "manual"})
    warmth: int = setting(0, label="Warmth", range=(-100, 100), fmt="{:+.0f}", flag="--warmth",
                          help="colour warmth, negative = cooler (sets manual)", implies={"mode": "manual"})
    saturation: float = setting(1.0, label="Saturation", range=(0.0, 2.0), step=0.05, fmt="{:.2f}×",
                                flag="--saturation", help="colour saturation, 1 = neutral (sets manual)",
                                implies={"mode": "manual"})


@dataclass(frozen=True)
class TouchUpSettings:
    strength: int = setting(0, label="Strength", range=(0, 100), fmt="{:.0f}%", flag="--touch-up", metavar="0-100",
                            help="skin touch-up strength; 0 = off (output equals input)")


@dataclass(frozen=True)
class AvatarSettings:
    mode: AvatarMode = setting(
        "off", label="Mode", flag="--avatar-mode",
        help="swap: your face becomes the photo's face; animate: the photo moves with your head and expression",
        choices={"off": "Off", "swap": "Face swap", "animate": "Animated photo"})
    photo: str = setting("", label="Photo", file="image", flag="--avatar", metavar="PHOTO",
                         help="avatar photo: one face looking at the camera (turns on swap unless --avatar-mode says otherwise)",
                         implies={"mode": "swap"})
    own_eyes_mouth: bool = setting(False, label="Face swap: show my own eyes and mouth", flag="--own-eyes-mouth",
                                   help="face swap: your own eyes, eyelids and mouth interior instead of the photo's "
                                        "(looks less like the photo's person)")


@dataclass(frozen=True)
class EyeContactSettings:
    enabled: bool = setting(False, label="Eye contact", flag="--eye-contact",
                            help="while you look at the screen, turn your eyes to meet the camera")
    camera: CameraPlace = setting("above", label="Camera sits", flag="--camera-position",
                                  help="where the camera sits: above the screen (most laptops) or below it",
                                  choices={"above": "Above the screen", "below": "Below the screen"})


@dataclass(frozen=True)
class KeyLightSettings:
    strength: int = setting(0, label="Strength", range=(0, 100), fmt="{:.0f}%", flag="--key-light", metavar="0-100",
                            help="a soft light from in front of your face, and a slightly dimmer room; 0 = off")


@dataclass(frozen=True)
class BadgeSettings:
    enabled: bool = setting(True, label='Show the "AI-altered" badge to the other people in the call', flag="--badge",
                            help='the visible "AI-altered" badge while an effect alters your face (turning it off '
                                 'is logged)')


@dataclass(frozen=True)
class BackgroundSettings:
    mode: BackgroundMode = setting(
        "blur", label="Background", flag="--background", metavar="MODE|FILE",
        help="what replaces the room behind you: off, blur, image, video, color, or a picture or video file",
        choices={"off": "Off", "blur": "Blur", "image": "Image", "video": "Video", "color": "Colour"},
        or_file={"image": "image", "video": "video"})
    blur: int = setting(60, label="Blur strength", range=(0, 100), fmt="{:.0f}%", flag="--blur", metavar="0-100",
                        help="background blur strength (turns blur on)", implies={"mode": "blur"})
    image: str = setting("", label="Picture", file="image", flag="--background-image", metavar="FILE",
                         help="background picture (turns the image background on)", implies={"mode": "image"})
    video: str = setting("", label="Video", file="video", flag="--background-video", metavar="FILE",
                         help="looping background video (turns the video background on)", implies={"mode": "video"})
    color: str = setting("#1e6e3c", label="Colour", file="color", flag="--color", metavar="#RRGGBB",
                         help="solid background colour (turns the colour background on)", implies={"mode": "color"})


@dataclass(frozen=True)
class AutoFrameSettings:
    enabled: bool = setting(False, label="Keep my face framed", flag="--auto-frame",
                            help="pan and zoom smoothly to keep your face framed, like a camera operator")
    max_zoom: float = setting(2.0, label="Maximum zoom", range=(1.0, 3.0), step=0.1, fmt="{:.1f}×",
                              flag="--frame-zoom", help="how far auto-framing may zoom in")
    speed: float = setting(0.5, label="Follow speed", range=(0.0, 1.0), step=0.05, fmt="{:.0%}",
                           flag="--frame-speed", help="how quickly auto-framing follows you (0 slow, 1 quick)")


# ---------------------------------------------------------------- the chain, in order

REGISTRY: tuple[EffectSpec, ...] = (
    EffectSpec(
        name="low_light", label="Low light", section="low_light", settings=LowLightSettings,
        build="livecam.effects.low_light:LowLight", enabled=lambda s: s.low_light.mode != "off",
        toggles=(Toggle("low_light", "Low light", "Low light", "Ctrl+L", field="mode", off="off", default_on="auto"),),
        tab="Low light",
        controls=("low_light.mode", "low_light.exposure", "low_light.contrast", "low_light.shadows",
                  "low_light.denoise", "low_light.warmth", "low_light.saturation"),
        bench={"low_light": {"background": {"mode": "off"}, "low_light": {"mode": "auto"}}},
        bench_all={"low_light": {"mode": "auto"}},
    ),
    EffectSpec(
        name="touch_up", label="Touch-up", section="touch_up", settings=TouchUpSettings,
        build="livecam.effects.touch_up:TouchUp", enabled=lambda s: s.touch_up.strength > 0,
        toggles=(Toggle("touch_up", "Touch-up", "Touch-up", "Ctrl+T", field="strength", off=0, default_on=50),),
        tab="Face", controls=("touch_up.strength",),
        bench={"touch_up": {"background": {"mode": "off"}, "touch_up": {"strength": 60}}},
        bench_all={"touch_up": {"strength": 60}},
    ),
    EffectSpec(
        name="avatar", label="Avatar", section="avatar", settings=AvatarSettings, reads=("runtime",),
        build="livecam.effects.avatar:build_avatar", enabled=lambda s: s.avatar.mode != "off",
        on_failure="conceal",  # the wearer chose not to show their face
        toggles=(Toggle("avatar", "Avatar", "Avatar", "Ctrl+Shift+A", field="mode", off="off", default_on="swap",
                        file="photo"),),
        tab="Face", controls=("avatar.mode", "avatar.photo", "avatar.own_eyes_mouth"), alters_face=True,
        bench={"swap": {"background": {"mode": "off"}, "avatar": {"mode": "swap"}},
               "animate": {"background": {"mode": "blur"}, "avatar": {"mode": "animate"}},
               "avatar": {"background": {"mode": "blur", "blur": 60}, "avatar": {"mode": "swap"}}},
    ),
    EffectSpec(
        # After the avatar: the eyes that go out (the wearer's, kept through a face swap) are the ones
        # turned. It reads the avatar section because the photo avatar shows a portrait whose eyes
        # are not where the wearer's landmarks say.
        name="eye_contact", label="Eye contact", section="eye_contact", settings=EyeContactSettings,
        reads=("avatar",), build="livecam.effects.eye_contact:EyeContact",
        enabled=lambda s: s.eye_contact.enabled, alters_face=True,
        on_failure="skip",  # a failure shows the wearer's own, unmodified eyes
        toggles=(Toggle("eye_contact", "Eye contact", "Eye contact", "Ctrl+Shift+E", field="enabled", off=False,
                        on=True),),
        tab="Face", controls=("eye_contact.enabled", "eye_contact.camera"),
        bench={"eye_contact": {"background": {"mode": "off"}, "eye_contact": {"enabled": True}}},
        bench_all={"eye_contact": {"enabled": True}},
    ),
    EffectSpec(
        name="background", label="Background", section="background", settings=BackgroundSettings,
        reads=("output", "capture"), build="livecam.effects.background:build_background",
        enabled=lambda s: s.background.mode != "off",
        on_failure="conceal",  # the room must stay hidden
        hides=lambda b: 0.0 if b.mode == "off" else b.blur / 101 if b.mode == "blur" else 1.0,
        toggles=(
            Toggle("blur", "Background blur", "Blur", "Ctrl+B", field="mode", off="off", on="blur"),
            Toggle("image", "Background image", "Image", "Ctrl+I", field="mode", off="off", on="image"),
            Toggle("video", "Background video", "Video", "Ctrl+Shift+V", field="mode", off="off", on="video", file="video"),
            Toggle("color", "Background colour", "Colour", "Ctrl+Shift+C", field="mode", off="off", on="color"),
        ),
        tab="Background",
        controls=("background.mode", "background.blur", "background.image:picture", "background.video",
                  "background.color", "segmentation.model", "segmentation.edge", "segmentation.temporal_smoothing"),
        bench={"blur": {"background": {"mode": "blur", "blur": 60}}, "image": {"background": {"mode": "image"}},
               "rvm": {"background": {"mode": "blur", "blur": 60}, "segmentation": {"model": "rvm"}}},
        bench_all={"background": {"mode": "blur", "blur": 60}},
    ),
    EffectSpec(
        # After the background: it lights the person as they will be seen. It reads the background
        # section to know whether the room behind is real (off, blur) and may be dimmed a little.
        name="key_light", label="Key light", section="key_light", settings=KeyLightSettings,
        reads=("background",), build="livecam.effects.key_light:KeyLight",
        enabled=lambda s: s.key_light.strength > 0,
        toggles=(Toggle("key_light", "Key light", "Key light", "Ctrl+K", field="strength", off=0, default_on=60),),
        tab="Face", controls=("key_light.strength",),
        bench={"key_light": {"background": {"mode": "off"}, "key_light": {"strength": 70}}},
        bench_all={"key_light": {"strength": 70}},
    ),
    EffectSpec(
        name="auto_frame", label="Auto-framing", section="auto_frame", settings=AutoFrameSettings,
        reads=("output",), build="livecam.effects.auto_frame:AutoFrame", enabled=lambda s: s.auto_frame.enabled,
        toggles=(Toggle("auto_frame", "Auto-framing", "Framing", "Ctrl+Shift+F", field="enabled", off=False,
                        on=True),),
        tab="Face", controls=("auto_frame.enabled", "auto_frame.max_zoom", "auto_frame.speed"),
        bench={"auto_frame": {"background": {"mode": "off"}, "auto_frame": {"enabled": True}}},
        bench_all={"auto_frame": {"enabled": True}},
    ),
)


def _badge(chain: tuple[EffectSpec, ...]) -> EffectSpec:
    """The disclosure badge, last in the chain so nothing paints over it. It is there while any effect
    that alters a face is on, and reads those effects' sections so a change to any of them reconsiders
    it; its own section says whether it is drawn (switching it off is logged, in place: no rebuild)."""
    altering = tuple(spec for spec in chain if spec.alters_face)
    return EffectSpec(
        name="badge", label="Disclosure", section="badge", settings=BadgeSettings,
        reads=tuple(dict.fromkeys(name for spec in altering for name in spec.sections)),
        build="livecam.effects.badge:Badge",
        enabled=lambda s: any(spec.enabled(s) for spec in altering),
        on_failure="conceal",  # an altered frame never leaves without its disclosure
        tab="Face", controls=("badge.enabled",),
    )


REGISTRY = (*REGISTRY, _badge(REGISTRY))

SPECS: dict[str, EffectSpec] = {spec.name: spec for spec in REGISTRY}


def effect_sections() -> list[tuple[str, type]]:
    """(section name, type) for every section an entry declares, in chain order."""
    return [(spec.section, spec.settings) for spec in REGISTRY if spec.settings is not None]


def toggles() -> list[tuple[EffectSpec, Toggle]]:
    return [(spec, toggle) for spec in REGISTRY for toggle in spec.toggles]


def bench_configs() -> dict[str, dict[str, dict[str, Any]]]:
    """Bench configuration name → settings changes on top of the defaults (other effects off).

    "all" is every effect's ``bench_all`` part together: every effect on but the avatar, which
    replaces the face the others work on.
    """
    configs: dict[str, dict[str, dict[str, Any]]] = {}
    everything: dict[str, dict[str, Any]] = {}
    for spec in REGISTRY:
        for name, changes in spec.bench.items():
            configs[name] = {section: dict(values) for section, values in changes.items()}
        for section, values in spec.bench_all.items():
            everything.setdefault(section, {}).update(values)
    configs["all"] = everything
    return configs


def sections_for(spec: EffectSpec, settings: Any) -> tuple[Any, ...]:
    """What an effect is built and updated from: its own section, then the sections it reads."""
    return tuple(getattr(settings, name) for name in spec.sections)


def build_effect(spec: EffectSpec, settings: Any) -> Any:
    """The effect for ``settings``, or None when it is off. Raises (one sentence) when it cannot be built."""
    if not spec.enabled(settings):
        return None
    return spec.builder()(*sections_for(spec, settings))
