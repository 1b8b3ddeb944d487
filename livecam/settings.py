"""The one settings object shared by the CLI, the GUI and the pipeline.

Frozen dataclasses, one per concern. The capture, analysis, output and runtime sections are declared
here; each effect's section is declared with the effect in the registry (:mod:`livecam.effects`),
and ``Settings`` is assembled from both, so a new effect adds its section without touching this
file. Every field carries its range, words and flag (:func:`livecam.setting_fields.setting`).

Front ends never mutate settings: they build a new object with :func:`update` and hand it to
``Pipeline.apply``; the pipeline works out which sections changed and updates or rebuilds only
what those sections affect.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import stat
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, get_args

from livecam.effects import (  # noqa: F401  (re-exported: the effects' sections are settings too)
    AvatarMode,
    AvatarSettings,
    BackgroundMode,
    BackgroundSettings,
    LowLightMode,
    LowLightSettings,
    TouchUpSettings,
    effect_sections,
)
from livecam import model_specs
from livecam.setting_fields import hints as field_hints
from livecam.messages import short, shown
from livecam.setting_fields import literal_choices, meta, setting, value_type

log = logging.getLogger(__name__)

# The model choices come from the one model table (livecam/model_specs.py).
SegmentationModel = Literal[("auto", *model_specs.names("person"))]
FaceDetectorModel = Literal[model_specs.names("face_detector")]
OutputKind = Literal["virtualcam", "preview", "file", "null"]
Pipelining = Literal["auto", "on", "off"]
PROVIDERS = ("auto", "cpu", "cuda", "tensorrt", "directml", "coreml")


class SettingsError(ValueError):
    """A setting has a value LiveCam cannot use; the message says which and what is allowed."""


@dataclass(frozen=True)
class CaptureSettings:
    # "auto" (first camera, else the bundled demo clip), a camera index, a device, a video/image path, or "demo"
    source: str = setting("auto", file="source", help="camera index (0), device (/dev/video0), video or image file, "
                          "'demo' or 'auto'")
    width: int = setting(1280, range=(16, 7680))
    height: int = setting(720, range=(16, 4320))
    fps: int = setting(30, range=(1, 240))


@dataclass(frozen=True)
class SegmentationSettings:
    # auto: rvm when fetched and a GPU really runs it or this CPU measured 25 fps with it, else landscape
    model: SegmentationModel = setting(
        "auto", label="Person mask", flag="--segmentation-model",
        help="person mask model: auto (rvm when fetched and a GPU or this CPU keeps 25 fps with it, else landscape), landscape (fast), "
             "general (detailed), rvm (best quality, slow without a GPU; `livecam models fetch rvm` first)",
        choices={"auto": "Automatic", **model_specs.words("person")})
    temporal_smoothing: float = setting(
        0.9, label="Steadier edges", range=(0.0, 0.95), step=0.05, fmt="{:.0%}", flag="--smoothing",
        help="weight of the previous mask where the picture is still, against edge flicker; 0 = raw per frame")
    refine: bool = setting(True, flag="--refine", help="snap the mask outline to the edges in the picture")
    edge: float = setting(0.0, label="Edge: tighter ↔ looser", range=(-1.0, 1.0), step=0.1, fmt="{:+.1f}",
                          flag="--edge", help="-1 tighter (less room, may clip hair) .. +1 looser (keeps wisps)")


@dataclass(frozen=True)
class FaceSettings:
    detector: FaceDetectorModel = setting(
        "short", label="Face distance", flag="--face-detector",
        help="short: faces within about 2 m, full: faces across a room",
        choices=model_specs.words("face_detector"))
    max_faces: int = setting(1, range=(1, 8))
    detect_every: int = setting(30, range=(1, 1000))  # re-run the detector at least every N frames while tracking
    smoothing: bool = True  # One Euro jitter filter on landmarks


@dataclass(frozen=True)
class OutputSettings:
    kind: OutputKind = "virtualcam"
    device: str = ""  # virtual-camera device path; empty = the one labelled "LiveCam"
    path: str = "livecam.mp4"  # for kind="file"
    fps: int = setting(30, range=(1, 240))  # frames go out at this steady rate
    overwrite: bool = setting(False, flag="--overwrite", help="let file output replace an existing file")
    always_on: bool = setting(False, flag="--always-on",
                              help="keep the camera and processing running while no app reads the virtual camera")
    # render only (live always runs this way): the models as the live loop runs them on this machine
    like_live: bool = setting(False, flag="--like-live",
                              help="render as a call sees it: every model as the live loop runs it on this machine "
                                   "(sizes, threads, precision); the summary names the profile")


@dataclass(frozen=True)
class RuntimeSettings:
    provider: str = setting("auto", flag="--provider", metavar="NAME",
                            help="inference provider: auto, cpu, cuda, tensorrt, directml, coreml")
    threads: int = setting(1, range=(0, 64), flag="--threads", metavar="N",
                           help="threads per model (1 is fastest on small machines; 0 = ONNX Runtime decides)")
    # "auto": only while one frame at a time takes most of the camera's frame interval, on 2 or more
    # cores (live_runner.AutoPipelining). Always on, it added latency and bought no frames where
    # processing was far under the interval, and on a loaded 2-core VM frames came slower.
    pipelining: Pipelining = setting(
        "auto", flag="--pipelining",
        help="live: analyse the next frame while this one is composited: auto (when processing one frame at a time "
             "takes most of the camera's frame interval, on 2 or more cores), on, off",
        choices={"auto": "Automatic", "on": "On", "off": "Off"})
    motion_gate: bool = setting(True, flag="--motion-gate",
                                help="reuse the last person mask and faces while the picture is still")


# Analysis sections first, the effects' in chain order, then where frames go and what runs them.
SECTIONS: tuple[tuple[str, type], ...] = (
    ("capture", CaptureSettings),
    ("segmentation", SegmentationSettings),
    ("face", FaceSettings),
    *effect_sections(),
    ("output", OutputSettings),
    ("runtime", RuntimeSettings),
)


def _post_init(self) -> None:
    validate(self)


Settings = dataclasses.make_dataclass(
    "Settings",
    [(name, cls, field(default_factory=cls)) for name, cls in SECTIONS],
    frozen=True,
    namespace={"__post_init__": _post_init, "__doc__": "Every setting, one frozen section per concern.",
               "__module__": __name__},
)

# Numeric ranges keyed "section.field", derived from the field declarations.
RANGES: dict[str, tuple[float, float]] = {
    f"{name}.{f.name}": meta(f).range for name, cls in SECTIONS for f in fields(cls) if meta(f).range
}


def section_type(name: str) -> type:
    return dict(SECTIONS)[name]


def choices(section: type, name: str) -> tuple[str, ...]:
    """The allowed values of a Literal-typed field, e.g. ``choices(BackgroundSettings, "mode")``."""
    return literal_choices(section, name)


def _check_section(name: str, section: Any) -> None:
    hints = field_hints(type(section))
    for f in fields(section):
        value = getattr(section, f.name)
        key = f"{name}.{f.name}"
        m = meta(f)
        allowed = get_args(hints[f.name])
        if allowed:
            if value not in allowed or type(value) is not type(allowed[0]):
                raise SettingsError(f"{key} is {short(value)}; choose one of {', '.join(map(str, allowed))}.")
            continue
        kind = value_type(type(section), f.name)
        if kind is bool:
            if not isinstance(value, bool):
                raise SettingsError(f"{key} must be true or false, not {short(value)}.")
        elif kind in (int, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind is int and isinstance(value, float):
                ok = False
            if not ok or (isinstance(value, float) and not math.isfinite(value)):
                what = "a whole number" if kind is int else "a number"
                raise SettingsError(f"{key} must be {what}, not {short(value)}.")
            if m.range:
                lo, hi = m.range
                if not lo <= value <= hi:
                    raise SettingsError(f"{key} is {short(value)}; it must be between {lo:g} and {hi:g}.")
        elif kind is str:
            if not isinstance(value, str):
                raise SettingsError(f"{key} must be text, not {short(value)}.")
            if not _is_utf8(value):  # a file name made on a non-UTF-8 system; JSON cannot keep it either
                raise SettingsError(f"{key} holds a name that is not UTF-8 text ({shown(value)}); rename the file "
                                    "so its name is UTF-8 and set it again.")
            if len(value) > m.max_length or "\x00" in value:
                # JSON may spell a NUL ("\u0000"); no file name or colour holds one.
                raise SettingsError(f"{key} is not a usable value ({short(value)}); set it again.")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate(settings: Any) -> None:
    for f in fields(settings):
        _check_section(f.name, getattr(settings, f.name))
    color = settings.background.color
    if not (len(color) == 7 and color.startswith("#") and all(c in "0123456789abcdefABCDEF" for c in color[1:])):
        raise SettingsError(f"background.color is {short(color)}; write it as #rrggbb, e.g. #1e6e3c.")
    if settings.runtime.provider not in PROVIDERS:
        raise SettingsError(
            f"runtime.provider is {short(settings.runtime.provider)}; choose one of {', '.join(PROVIDERS)}."
        )


def update(settings: Any, **changes: dict[str, Any]) -> Any:
    """``update(s, background={"mode": "image", "image": p})`` → a new validated Settings."""
    try:
        sections = {name: dataclasses.replace(getattr(settings, name), **values) for name, values in changes.items()}
    except TypeError as exc:  # an unknown field name
        raise SettingsError(f"unknown setting: {exc}") from None
    return dataclasses.replace(settings, **sections)


def differences(a: Any, b: Any) -> dict[tuple[str, str], Any]:
    """Each field whose value in ``b`` differs from ``a``: (section, field) -> ``b``'s value."""
    out = {}
    for section in fields(a):
        sa, sb = getattr(a, section.name), getattr(b, section.name)
        for f in fields(sa):
            if getattr(sa, f.name) != getattr(sb, f.name):
                out[(section.name, f.name)] = getattr(sb, f.name)
    return out


def with_changes(settings: Any, changes: dict[tuple[str, str], Any]) -> Any:
    """``settings`` with ``changes`` (as :func:`differences` gives them) on top, checked as a whole."""
    data = to_dict(settings)
    for (section, name), value in changes.items():
        data[section][name] = value
    return from_dict(data)


def changed_sections(old: Any, new: Any) -> set[str]:
    return {f.name for f in fields(Settings) if getattr(old, f.name) != getattr(new, f.name)}


# ---------------------------------------------------------------- persistence
#
# The settings file is the user's: it may be hand-edited, cut short by a crash, or anything at all.
# Loading never raises and never aborts: a file LiveCam cannot use gives the defaults, one warning
# that says why in a few words (never echoing a huge value), and a byte-identical private copy
# next to it, so nothing the user wrote is lost when the defaults are saved over it later.

MAX_SETTINGS_BYTES = 1024 * 1024  # a real settings file is about 2 kB
MAX_NUMBER_DIGITS = 100  # longer integers are refused before int() (which stops at 4300 digits)
MAX_BACKUPS = 50  # settings.json.bak, .bak.2 ... : distinct broken versions kept side by side
_COPY_LIMIT = 64 * 1024 * 1024  # a bigger "settings file" is moved aside instead of read into memory
# A settings file that cannot be read and changed less than this long ago is being written by another
# program (an editor writing in place, a script's "> settings.json"): it is read again once it settles,
# at start-up (load) as at the tray's save, instead of being called broken.
SETTLE_S = 1.0


def config_dir() -> Path:
    """Where settings, presets and avatar photos live (``$LIVECAM_CONFIG_DIR`` overrides).

    Only the path: use :func:`private_config_dir` to create it."""
    given = folder_from_environment("LIVECAM_CONFIG_DIR")
    if given is not None:
        return given
    if os.name == "nt":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif os.uname().sysname == "Darwin":
        base = home_dir() / "Library" / "Application Support"
    else:
        base = xdg_folder("XDG_CONFIG_HOME", ".config")
    return base / "livecam"


def xdg_folder(variable: str, in_home: str) -> Path:
    """An XDG base folder: ``$variable`` where it is a full path, else ``in_home`` under the home
    folder. The XDG spec: a relative value is invalid and ignored (followed, it put files in
    whatever folder LiveCam was started in)."""
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else home_dir() / in_home


def folder_from_environment(variable: str) -> Path | None:
    """The folder an environment variable names, None when it is unset or empty. A relative one
    (``cfg``, or a quoted ``~/cfg`` the shell did not expand) would put personal files in whatever
    folder LiveCam was started in, a different one from the tray's autostart than from a terminal,
    so it is refused with one sentence (SettingsError) instead of followed."""
    value = os.environ.get(variable, "")
    if not value:
        return None
    if not os.path.isabs(value):
        tilde = " (a ~ is not expanded there)" if value.startswith("~") else ""
        raise SettingsError(f"{variable} is {shown(value, 80)}, not a full path{tilde}, so LiveCam would keep your "
                            "files in whatever folder it was started in; set it to a full path, or unset it.")
    return Path(value)


def home_dir() -> Path:
    """The user's home folder. An empty or relative $HOME (a service's environment, a typo) would
    put personal files under whatever folder LiveCam was started in (or /), so the account's own
    home is used then."""
    home = os.environ.get("HOME", "")
    if os.path.isabs(home):
        return Path(home)
    try:
        import pwd
    except ImportError:  # Windows: Path.home() reads its own variables
        pass
    else:
        try:
            home = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:  # a uid with no account (a container's --user 12345)
            home = ""
        # An empty or relative entry is no home either: the files would land in the current folder.
        if os.path.isabs(home):
            return Path(home)
        raise SettingsError(_NO_HOME)
    try:
        return Path.home()
    except RuntimeError:
        raise SettingsError(_NO_HOME) from None


_NO_HOME = ("LiveCam cannot tell which folder is your home ($HOME is not set and your account has none), so "
            "it has nowhere to keep your settings; set HOME, or LIVECAM_CONFIG_DIR and LIVECAM_DATA_HOME, "
            "to a folder of yours.")


def private_config_dir() -> Path:
    """The config folder, created owner-only (0700) when missing; an existing one is used only when it
    is ours and no one else may write to it (its mode is never changed). Raises FolderError.

    Anything that stores a personal file (settings, presets, avatar copies) goes through this, e.g.
    ``private_dir(private_config_dir() / "avatars")``, so the folder above it is checked too."""
    from livecam.private_files import private_dir

    return private_dir(config_dir())


def settings_path() -> Path:
    return config_dir() / "settings.json"


def to_dict(settings: Settings) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def migrate(data: dict) -> dict:
    """Settings written by older versions, in today's shape (a copy; ``data`` is left alone).

    - ``avatar.badge`` became ``badge.enabled`` when the badge came to cover every effect that
      alters a face; a ``badge`` section written alongside wins."""
    avatar = data.get("avatar")
    if isinstance(avatar, dict) and "badge" in avatar:
        data = dict(data)
        avatar = dict(avatar)
        old = avatar.pop("badge")
        data["avatar"] = avatar
        badge = data.get("badge")
        if badge is None:
            data["badge"] = {"enabled": old}
        elif isinstance(badge, dict) and "enabled" not in badge:
            data["badge"] = {**badge, "enabled": old}
    avatar = data.get("avatar")
    if isinstance(avatar, dict) and "keep_eyes_mouth" in avatar:
        # ``avatar.keep_eyes_mouth`` (on by default, and written whether or not anyone chose it) is
        # dropped: the swap now shows the photo's eyes and mouth unless ``own_eyes_mouth`` is chosen.
        data = {**data, "avatar": {k: v for k, v in avatar.items() if k != "keep_eyes_mouth"}}
    runtime = data.get("runtime")
    if isinstance(runtime, dict) and isinstance(runtime.get("pipelining"), bool):
        # ``runtime.pipelining`` was on/off, off by default (and written whether or not anyone chose
        # it): off becomes the new default "auto", on stays on.
        data = {**data, "runtime": {**runtime, "pipelining": "on" if runtime["pipelining"] else "auto"}}
    return data


def from_dict(data: Any) -> Settings:
    """Build Settings from a (possibly partial) dict; unknown keys are an error, missing keys default.

    Raises SettingsError (one sentence, values cut short) for anything it cannot use."""
    if not isinstance(data, dict):
        raise SettingsError(f"the settings file must hold a JSON object, not {short(data)}.")
    data = migrate(data)
    sections: dict[str, Any] = {}
    hints = field_hints(Settings)
    for name, values in data.items():
        if name not in hints:
            raise SettingsError(f"unknown settings section {short(name)}.")
        if not isinstance(values, dict):
            raise SettingsError(f"settings section {name} must be an object, not {short(values)}.")
        cls = hints[name]
        known = {f.name for f in fields(cls)}
        unknown = [key for key in values if key not in known]
        if unknown:
            raise SettingsError(f"unknown setting {name}.{shown(unknown[0], 80)}.")
        sections[name] = cls(**values)
    try:
        return Settings(**sections)
    except SettingsError:
        raise
    except (TypeError, ValueError, RecursionError) as exc:  # a check that tripped over an odd value
        raise SettingsError(f"a setting holds a value of the wrong kind ({shown(str(exc), 80)}).") from None


def salvage(data: Any) -> tuple[Settings, list[str]] | None:
    """The settings in ``data`` this version can use, each setting checked on its own on top of those
    kept before it, and the names of those left out; None when ``data`` is no object of sections.

    A file written by a newer LiveCam (a setting or effect this one does not know) or one with a value
    of the wrong kind was thrown away whole: the session ran on the defaults, and a user who had chosen
    to appear as their avatar appeared as themselves."""
    found = salvaged_values(data)
    return None if found is None else (from_dict(found[0]), found[1])


def salvaged_values(data: Any) -> tuple[dict[str, dict[str, Any]], list[str]] | None:
    """:func:`salvage`'s sections and values as they were kept (only those ``data`` sets, in today's shape), for
    what holds a part of the settings (a preset), and the names of those left out."""
    if not isinstance(data, dict):
        return None
    try:
        data = migrate(data)
    except (TypeError, ValueError, AttributeError):
        return None
    hints = field_hints(Settings)
    kept: dict[str, dict[str, Any]] = {}
    left: list[str] = []
    for name, values in data.items():
        cls = hints.get(name) if isinstance(name, str) else None
        if cls is None or not isinstance(values, dict):
            left.append(shown(name, 40))
            continue
        known = {f.name for f in fields(cls)}
        for key, value in values.items():
            trial = {**kept, name: {**kept.get(name, {}), key: value}}
            try:
                if key not in known:
                    raise SettingsError(key)
                from_dict(trial)
            except (SettingsError, TypeError, ValueError, RecursionError):
                left.append(f"{name}.{shown(key, 40)}")
                continue
            kept = trial
    return kept, left


MERGE_TRIES = 5  # re-merges when the file keeps changing between our read and our rename


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write ``settings`` atomically as an owner-only file (0600) in an owner-only folder (0700).

    Raises SettingsError with one sentence when they cannot be written, whatever the reason."""
    path = path or settings_path()
    with _writer_lock(path, wait=True):
        _write(settings, path)
    return path


def save_merged(merge: Callable[[], Settings | None], path: Path | None = None, wait: bool = True) -> Settings | None:
    """Read-modify-write the settings file: ``merge()`` reads the file and returns what to write (None:
    not now). Returns what was written, or None when ``merge`` said not now or, without ``wait``,
    another LiveCam is saving (the caller tries again later).

    The tray's save read the file, put its own changes on top and renamed the result in: a whole
    write by another program between the read and the rename was lost. Every LiveCam writer holds
    one advisory lock across read -> rename; and as an editor takes no lock, the file's state (inode,
    size, mtime_ns and its bytes) is compared just before the rename, and a file changed since the
    read is read and merged again. Raises SettingsError with one sentence when it cannot be written."""
    path = path or settings_path()
    with _writer_lock(path, wait) as held:
        if not held:
            return None
        for _ in range(MERGE_TRIES):
            before = _file_state(path)
            settings = merge()
            if settings is None:
                return None
            try:
                _write(settings, path, before)
            except _ChangedMeanwhile:
                continue
            return settings
    raise SettingsError(f"The settings were not saved to {shown(path)}: another program kept changing the file "
                        f"while LiveCam saved ({MERGE_TRIES} tries); close it and change a setting again.")


class _ChangedMeanwhile(Exception):
    """The settings file changed between our read and our rename."""


def _file_state(path: Path) -> tuple | None:
    """What tells a rewritten file from the one read: a rename (inode), an in-place write (size, mtime_ns)
    and, as an in-place write of the same size within one tick of the file system's clock (up to 2 s
    on some) leaves those three as they were, the bytes themselves (a settings file is a few kB)."""
    try:
        st, data = _read_bytes(path)
    except OSError:
        try:
            st, data = os.stat(path), None  # there but unreadable: its state without the bytes
        except OSError:
            return None
    return st.st_ino, st.st_size, st.st_mtime_ns, None if data is None else hashlib.sha256(data).digest()


def _write(settings: Settings, path: Path, before: tuple | None | object = ...) -> None:
    from livecam.private_files import FolderError, check_folder, reason, write_private

    def unchanged() -> None:
        if before is not ... and _file_state(path) != before:
            raise _ChangedMeanwhile

    try:
        if os.path.isdir(path.parent):
            check_folder(path.parent)  # refused first: no backup is made in a folder others may write to
        _keep_before_replacing(path)
        write_private(path, json.dumps(to_dict(settings), indent=2) + "\n", before_replace=unchanged)
    except FolderError as exc:
        raise SettingsError(exc.sentence("the settings were not saved")) from None
    except OSError as exc:
        raise SettingsError(f"The settings were not saved to {shown(path)}: {reason(exc)}.") from None


@contextlib.contextmanager
def _writer_lock(path: Path, wait: bool) -> Iterator[bool]:
    """The LiveCam writers' lock for the settings file at ``path``: its folder's. Yields True unlocked
    where the folder cannot be opened yet (the save makes it, or says why not): the state check
    before the rename still catches a write in between."""
    from livecam.private_files import folder_lock

    with contextlib.ExitStack() as stack:
        try:
            held = stack.enter_context(folder_lock(path.parent, wait))
        except OSError:
            held = True
        yield held


def _keep_before_replacing(path: Path) -> None:
    """Raise SettingsError unless the file at ``path`` may be replaced: missing, not a regular file
    (write_private says why it refuses those), settings LiveCam can read, or kept as a .bak copy.
    load() gives the defaults for a file it cannot read and keeps a copy, but where neither reading
    nor copying worked (another owner's file, a failing disk, a full one) the next save put the
    defaults over everything the user had set, and nothing of it was left."""
    if not os.path.isfile(path):
        return
    try:
        _parse(read_json(path))
        return
    except Exception:  # noqa: BLE001 - the file is untrusted input: unusable, so it is kept first
        pass
    if _backup(path) is None:
        raise SettingsError(f"The settings were not saved to {shown(path)}: the file there could be neither read "
                            "nor kept as a backup, so it is left as it is; move it away or make it readable.")


class Unusable(Exception):
    """Why a settings or preset file cannot be used, in a few plain words."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise Unusable(f"it holds a number {len(text)} digits long")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS * 4:
        raise Unusable(f"it holds a number {len(text)} characters long")
    value = float(text)
    if value in (float("inf"), float("-inf")):  # "1e999"; NaN cannot be spelled as a JSON number
        raise Unusable(f"it holds the number {shown(text, 40)}, which is too large")
    return value


def _parse_constant(text: str) -> float:
    raise Unusable(f"it holds {text}, which is not a number LiveCam can use")


class _Opened(io.BufferedReader):
    """A file opened by _open_regular, with its state: ``regular`` (only such a file may be read) and ``size``."""

    st: os.stat_result

    @property
    def regular(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)

    @property
    def size(self) -> int:
        return self.st.st_size


def _open_regular(path: Path) -> _Opened:
    """``path`` opened for reading without waiting: a FIFO would wait for a writer for ever, and a
    device never end, so read only what says ``regular``. Raises OSError."""
    f = _Opened(io.FileIO(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)), "rb"))
    f.st = os.fstat(f.fileno())
    return f


def _read_bytes(path: Path) -> tuple[os.stat_result, bytes | None]:
    """The file's state and its first MAX_SETTINGS_BYTES + 1 bytes (None: not a regular file). Raises OSError."""
    with _open_regular(path) as f:
        return f.st, f.read(MAX_SETTINGS_BYTES + 1) if f.regular else None


def _read(path: Path) -> str:
    """The file's text (a UTF-8 byte-order mark is fine), or Unusable saying why not."""
    try:
        data = _read_bytes(path)[1]
    except OSError as exc:
        raise Unusable(f"it cannot be read: {exc.strerror or type(exc).__name__}") from None
    if data is None:
        raise Unusable("it is not a regular file")
    if len(data) > MAX_SETTINGS_BYTES:
        raise Unusable(f"it is over {MAX_SETTINGS_BYTES // 1024} kB; LiveCam's own files are a few kB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unusable(f"it is not UTF-8 text (byte {exc.start})") from None


def read_json(path: Path) -> Any:
    """What a small JSON file of ours (settings, a preset) holds, or Unusable saying why not.

    The one reader for such files: a FIFO, a device, a huge file, a number too long for int(), a
    NaN or nesting too deep for the parser each give a reason, never a hang or a traceback.
    """
    text = _read(path)
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise Unusable(f"it is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise Unusable("it is nested too deeply to be one of LiveCam's files") from None


def being_written(path: Path) -> bool:
    """Whether the file at ``path`` changed less than SETTLE_S ago (by the wall clock its time is kept in)."""
    try:
        return abs(time.time() - os.stat(path).st_mtime) < SETTLE_S
    except OSError:
        return False


def read_settled(path: Path, wait: bool = True) -> Settings | None:
    """The settings in the file at ``path``, or Unusable saying why not. A file caught half written
    (unusable, and changed in the last SETTLE_S) is read again until it settles, for at most
    2 x SETTLE_S when ``wait``; without ``wait`` that gives None at once (the caller tries later).
    Taken for broken, the half file was kept as the .bak and the session ran on the defaults (start-up),
    or a save replaced the whole file its writer then finished (the tray)."""
    give_up = time.monotonic() + 2 * SETTLE_S
    while True:
        try:
            return _parse(read_json(path))
        except Unusable:
            if not being_written(path) or (wait and time.monotonic() >= give_up):
                raise
            if not wait:
                return None
            time.sleep(0.05)


def _parse(data: Any) -> Settings:
    try:
        return from_dict(data)
    except SettingsError as exc:
        raise Unusable(shown(str(exc).rstrip("."))) from None
    except RecursionError:
        raise Unusable("it is nested too deeply to be a settings file") from None


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        with _open_regular(a) as fa, _open_regular(b) as fb:
            # A FIFO at NAME.bak beside an empty settings file (both "0 bytes") was opened and waited
            # for a writer for ever: LiveCam hung at its start.
            if not (fa.regular and fb.regular) or fa.size != fb.size:
                return False
            while True:
                chunk = fa.read(1 << 20)
                if chunk != fb.read(1 << 20):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


def _backup(path: Path) -> Path | None:
    """Keep the broken file as ``NAME.bak`` (or ``.bak.2``, ``.bak.3`` ... when an earlier, different
    backup exists): an owner-only, byte-identical copy. None when it could not be kept."""
    from livecam.private_files import copy_private

    for n in range(1, MAX_BACKUPS + 1):
        backup = path.with_name(path.name + (".bak" if n == 1 else f".bak.{n}"))
        if backup.exists():
            if _same_bytes(path, backup):
                return backup  # this very content is already kept
            continue
        try:
            if path.stat().st_size > _COPY_LIMIT:
                os.rename(path, backup)  # too big to copy through memory; nothing else can use it
            else:
                copy_private(path, backup, overwrite=False)
            return backup
        except FileExistsError:
            continue  # another LiveCam made it a moment ago: compare with the next name
        except OSError:
            return None
    return None


def load(path: Path | None = None) -> Settings:
    """Load settings. Never raises: a missing file gives the defaults; a file LiveCam cannot use gives
    the defaults, one warning, and a ``.bak`` copy of the original so nothing the user wrote is lost."""
    from livecam.private_files import FolderError, check_folder

    path = path or settings_path()
    if path == settings_path() and os.path.lexists(path.parent):
        try:
            check_folder(path.parent)
        except FolderError as exc:
            # Whoever may write there may have planted the file: it is not read.
            warn_once(path.parent, exc.sentence("LiveCam neither reads nor saves settings there and uses the defaults"),
                      folder=True)
            return Settings()
    if not os.path.lexists(path):
        return Settings()
    salvaged = None
    try:
        return read_settled(path)
    except Unusable as exc:
        reason = str(exc)
        try:
            salvaged = salvage(read_json(path))
        except Exception:  # noqa: BLE001 - the same untrusted file: what read_settled said stands
            salvaged = None
    except Exception as exc:  # noqa: BLE001 - the file is untrusted input and the defaults are safe
        reason = f"it holds something LiveCam cannot use ({type(exc).__name__})"
        log.debug("reading settings %s failed", shown(str(path)), exc_info=exc)
    backup = _backup(path) if os.path.isfile(path) else None
    kept = f"the original is kept as {shown(str(backup))}" if backup else "it could not be backed up"
    if salvaged is not None and salvaged[0] != Settings():  # something the user chose is still there
        result, left = salvaged
        names = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        sentence = (f"Settings file {shown(str(path))} holds settings this LiveCam cannot use ({names}: written by "
                    f"a newer version, or edited by hand); LiveCam uses the rest, {kept}.")
    else:
        result = Settings()
        sentence = f"Settings file {shown(str(path))} is broken ({reason}); LiveCam uses the defaults, {kept}."
    warn_once(path, sentence)
    return result


_TOLD: set[tuple] = set()  # file_key of each unusable file or folder already warned about


def warn_once(path: Path, sentence: str, folder: bool = False) -> bool:
    """Log ``sentence`` as a warning once per file as it is now (until it changes; a debug line after),
    and say whether it was said now. `livecam doctor` reads the settings in two checks and the tray
    reads settings and presets each time a menu opens: each said the same sentence again."""
    told = file_key(path, folder=folder)
    first = told is None or told not in _TOLD
    log.log(logging.WARNING if first else logging.DEBUG, "%s", sentence)
    if told is not None:
        _TOLD.add(told)
    return first


def file_key(path: Path, folder: bool = False) -> tuple | None:
    """This very file as it is now (a fixed, replaced or rewritten file is another key); for a folder,
    its owner and mode (what makes it unusable), not the files coming and going in it."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    key = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_mode, st.st_uid)
    return key if folder else (*key, st.st_size, st.st_mtime_ns)
