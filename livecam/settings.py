"""The one settings object shared by the CLI, the GUI and the pipeline.

Frozen dataclasses, one per concern. Front ends never mutate settings: they build a new object
with :func:`dataclasses.replace` (or :func:`update`) and hand it to ``Pipeline.apply``; the pipeline
works out which sections changed and rebuilds only what those sections affect.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

log = logging.getLogger(__name__)

BackgroundMode = Literal["off", "blur", "image", "video", "color"]
SegmentationModel = Literal["auto", "landscape", "general", "rvm"]
FaceDetectorModel = Literal["short", "full"]
LowLightMode = Literal["off", "auto", "manual"]
AvatarMode = Literal["off", "swap", "animate"]
OutputKind = Literal["virtualcam", "preview", "file", "null"]


class SettingsError(ValueError):
    """A setting has a value LiveCam cannot use; the message says which and what is allowed."""


@dataclass(frozen=True)
class CaptureSettings:
    source: str = "auto"  # "auto" (first camera, else the bundled demo clip), a camera index, a video/image path, or "demo"
    width: int = 1280
    height: int = 720
    fps: int = 30


@dataclass(frozen=True)
class SegmentationSettings:
    # auto: rvm when a GPU provider really runs and the fetched file is there, else landscape
    model: SegmentationModel = "auto"
    temporal_smoothing: float = 0.9  # weight of the previous mask where the picture is still; 0 = raw per frame
    refine: bool = True  # guided-filter edge refinement with the frame as guide
    edge: float = 0.0  # -1 tighter (less room, may clip hair) .. +1 looser (keeps wisps, may show room)


@dataclass(frozen=True)
class BackgroundSettings:
    mode: BackgroundMode = "blur"
    blur: int = 60  # 0..100; 0 leaves the background untouched
    image: str = ""  # path of the replacement image
    video: str = ""  # path of the looping replacement video
    color: str = "#1e6e3c"  # solid background colour, #rrggbb


@dataclass(frozen=True)
class FaceSettings:
    detector: FaceDetectorModel = "short"
    max_faces: int = 1
    detect_every: int = 30  # re-run the detector at least every N frames while tracking
    smoothing: bool = True  # One Euro jitter filter on landmarks


@dataclass(frozen=True)
class TouchUpSettings:
    strength: int = 0  # 0..100; 0 = output equals input


@dataclass(frozen=True)
class LowLightSettings:
    mode: LowLightMode = "off"
    exposure: float = 0.0  # stops, -2..+3; 0 neutral
    contrast: float = 1.0  # 0.5..2; 1 neutral
    shadows: float = 1.0  # gamma on shadows, 0.3..1; 1 neutral (lower lifts shadows)
    denoise: int = 0  # 0..100; 0 neutral
    warmth: int = 0  # -100..100; 0 neutral
    saturation: float = 1.0  # 0..2; 1 neutral


@dataclass(frozen=True)
class AvatarSettings:
    mode: AvatarMode = "off"
    photo: str = ""  # path of the avatar photo (copied into the config folder on load)
    keep_eyes_mouth: bool = True  # face swap keeps the wearer's own eyes and mouth interior
    badge: bool = True  # the visible "AI-altered" badge; turning it off is logged


@dataclass(frozen=True)
class OutputSettings:
    kind: OutputKind = "virtualcam"
    device: str = ""  # virtual-camera device path; empty = the one labelled "LiveCam"
    path: str = "livecam.mp4"  # for kind="file"
    fps: int = 30  # frames go out at this steady rate
    overwrite: bool = False  # file output may replace an existing file
    always_on: bool = False  # keep the camera and processing running while no app reads the virtual camera


@dataclass(frozen=True)
class RuntimeSettings:
    provider: str = "auto"  # "auto", "cpu", "cuda", "tensorrt", "directml", "coreml"
    threads: int = 1  # intra-op threads per ONNX session


@dataclass(frozen=True)
class Settings:
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    segmentation: SegmentationSettings = field(default_factory=SegmentationSettings)
    background: BackgroundSettings = field(default_factory=BackgroundSettings)
    face: FaceSettings = field(default_factory=FaceSettings)
    touch_up: TouchUpSettings = field(default_factory=TouchUpSettings)
    low_light: LowLightSettings = field(default_factory=LowLightSettings)
    avatar: AvatarSettings = field(default_factory=AvatarSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)

    def __post_init__(self) -> None:
        validate(self)


PROVIDERS = ("auto", "cpu", "cuda", "tensorrt", "directml", "coreml")

# Numeric ranges, keyed "section.field". Checked by validate(); the GUI reads them for its sliders.
RANGES: dict[str, tuple[float, float]] = {
    "capture.width": (16, 7680),
    "capture.height": (16, 4320),
    "capture.fps": (1, 240),
    "segmentation.temporal_smoothing": (0.0, 0.95),
    "segmentation.edge": (-1.0, 1.0),
    "background.blur": (0, 100),
    "face.max_faces": (1, 8),
    "face.detect_every": (1, 1000),
    "touch_up.strength": (0, 100),
    "low_light.exposure": (-2.0, 3.0),
    "low_light.contrast": (0.5, 2.0),
    "low_light.shadows": (0.3, 1.0),
    "low_light.denoise": (0, 100),
    "low_light.warmth": (-100, 100),
    "low_light.saturation": (0.0, 2.0),
    "output.fps": (1, 240),
    "runtime.threads": (0, 64),
}


def choices(section: type, name: str) -> tuple[str, ...]:
    """The allowed values of a Literal-typed field, e.g. ``choices(BackgroundSettings, "mode")``."""
    return get_args(get_type_hints(section)[name])


def _check_section(name: str, section: Any) -> None:
    hints = get_type_hints(type(section))
    for f in fields(section):
        value = getattr(section, f.name)
        key = f"{name}.{f.name}"
        allowed = get_args(hints[f.name])
        if allowed and value not in allowed:
            raise SettingsError(f"{key} is {value!r}; choose one of {', '.join(allowed)}.")
        if key in RANGES:
            lo, hi = RANGES[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SettingsError(f"{key} must be a number between {lo} and {hi}, not {value!r}.")
            if not lo <= value <= hi:
                raise SettingsError(f"{key} is {value}; it must be between {lo} and {hi}.")


def validate(settings: Settings) -> None:
    for f in fields(settings):
        _check_section(f.name, getattr(settings, f.name))
    color = settings.background.color
    if not (len(color) == 7 and color.startswith("#") and all(c in "0123456789abcdefABCDEF" for c in color[1:])):
        raise SettingsError(f"background.color is {color!r}; write it as #rrggbb, e.g. #1e6e3c.")
    if settings.runtime.provider not in PROVIDERS:
        raise SettingsError(
            f"runtime.provider is {settings.runtime.provider!r}; choose one of {', '.join(PROVIDERS)}."
        )


def update(settings: Settings, **changes: dict[str, Any]) -> Settings:
    """``update(s, background={"mode": "image", "image": p})`` → a new validated Settings."""
    sections = {name: dataclasses.replace(getattr(settings, name), **values) for name, values in changes.items()}
    return dataclasses.replace(settings, **sections)


def changed_sections(old: Settings, new: Settings) -> set[str]:
    return {f.name for f in fields(Settings) if getattr(old, f.name) != getattr(new, f.name)}


# ---------------------------------------------------------------- persistence


def config_dir() -> Path:
    """Where settings, presets and avatar photos live (``$LIVECAM_CONFIG_DIR`` overrides)."""
    if os.environ.get("LIVECAM_CONFIG_DIR"):
        return Path(os.environ["LIVECAM_CONFIG_DIR"])
    if os.name == "nt":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "livecam"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def to_dict(settings: Settings) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def from_dict(data: dict[str, Any]) -> Settings:
    """Build Settings from a (possibly partial) dict; unknown keys are an error, missing keys default."""
    if not isinstance(data, dict):
        raise SettingsError("the settings file must hold a JSON object.")
    sections: dict[str, Any] = {}
    hints = get_type_hints(Settings)
    for name, values in data.items():
        if name not in hints:
            raise SettingsError(f"unknown settings section {name!r}.")
        if not isinstance(values, dict):
            raise SettingsError(f"settings section {name!r} must be an object.")
        cls = hints[name]
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"unknown setting {name}.{sorted(unknown)[0]}.")
        sections[name] = cls(**values)
    return Settings(**sections)


def save(settings: Settings, path: Path | None = None) -> Path:
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(to_dict(settings), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a crash mid-write never leaves a half file
    return path


def load(path: Path | None = None) -> Settings:
    """Load settings; a missing file gives defaults, a broken one gives defaults plus a warning and a
    ``.bak`` copy of the original so nothing the user wrote is lost."""
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        return from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, SettingsError, TypeError) as exc:
        backup = path.with_name(path.name + ".bak")
        try:
            shutil.copy2(path, backup)
            kept = f"the original is kept as {backup}"
        except OSError:
            kept = "and it could not be backed up"
        log.warning("Settings file %s is broken (%s); using defaults, %s.", path, exc, kept)
        return Settings()
