"""Command line: ``livecam [run|render|gui|devices|doctor|bench|eval]``.

Every command starts from the saved settings (the same file the GUI writes), applies the flags on
top, and hands one Settings object to the pipeline. Effect flags are declared once and shared by
``run``, ``render`` and ``gui``.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import logging
import logging.handlers
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from livecam import __version__

log = logging.getLogger("livecam")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, not {text!r}") from None


def number(kind: type) -> Callable[[str], Any]:
    """argparse's ``type`` for an int or float flag, whose refusal says how to write the number:
    argparse's own was "invalid float value: '0,5'", which a user of a decimal-comma locale (de_DE,
    fr_FR …) had to decode alone; for ``int`` also the 0.5 that is not a whole number."""
    example = "0.5" if kind is float else "30"

    def parse(text: str):
        quoted = repr(text) if len(text) <= 40 else f"'{text[:20]}…' ({len(text)} characters)"
        try:
            value = kind(text)
        except ValueError:
            pass
        else:
            # float() takes "nan", "inf" and "1e400" (= inf): no setting has a use for them, and the
            # range check said "not inf" to someone who typed 1e400.
            if kind is float and not math.isfinite(value):
                what = ("not a number" if math.isnan(value) else "too large a number" if value > 0
                        else "too large a negative number")
                raise argparse.ArgumentTypeError(f"{quoted} is {what}; write it like {example}")
            return value
        digits = text.strip().lstrip("+-").replace("_", "")
        if kind is int and digits.isdigit():  # past Python's 4300-digit limit for int()
            raise argparse.ArgumentTypeError(f"{quoted} is too large a number; write it like {example}")
        decimal_comma = digits.replace(",", "", 1).isdigit() and "," in text
        if kind is float and decimal_comma:
            raise argparse.ArgumentTypeError(f"{quoted} has a decimal comma; write it with a point: "
                                             f"{text.strip().replace(',', '.')}")
        what = "a number" if kind is float else "a whole number"
        raise argparse.ArgumentTypeError(f"{quoted} is not {what}; write it like {example}")

    parse.__name__ = kind.__name__  # argparse names the type in some of its messages
    return parse


def add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="camera index (0), device (/dev/video0), video or image file, 'demo' or 'auto'")
    p.add_argument("--size", type=_size, help="capture/output size, e.g. 1280x720")
    p.add_argument("--fps", type=number(int), help="capture and output frame rate")


def _flag_fields():
    """(section, field, meta) for every settings field that declares a command-line flag."""
    import dataclasses

    from livecam import settings as S
    from livecam.setting_fields import meta

    for section, cls in S.SECTIONS:
        for f in dataclasses.fields(cls):
            m = meta(f)
            if m.flag:
                yield section, cls, f, m


def _dest(section: str, name: str) -> str:
    return f"set__{section}__{name}"


def add_effect_options(p: argparse.ArgumentParser) -> None:
    """One flag per declared settings field (effects, masks, faces, runtime), help from its declaration."""
    from livecam.effects import SPECS

    effect_sections = {spec.section for spec in SPECS.values()}
    groups = {
        "effects": p.add_argument_group("effects"),
        "analysis": p.add_argument_group("person mask and face tracking"),
        "runtime": p.add_argument_group("runtime"),
    }
    for section, cls, f, m in _flag_fields():
        if section in ("capture", "output"):
            continue  # add_source_options / add_output_options
        group = groups["effects" if section in effect_sections else "runtime" if section == "runtime" else "analysis"]
        _add_flag(group, section, cls, f, m)


def _add_flag(group, section: str, cls: type, f, m) -> None:
    """The flag a settings field declares: its type, choices or range as metavar, and its help."""
    from livecam.setting_fields import literal_choices, value_type

    kind = value_type(cls, f.name)
    allowed = literal_choices(cls, f.name)
    kwargs: dict = {"dest": _dest(section, f.name), "default": None, "help": m.help}
    if kind is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        kwargs["type"] = number(kind) if kind in (int, float) else kind
        if allowed and not m.or_file:
            kwargs["choices"] = allowed
        else:
            kwargs["metavar"] = m.metavar or (f"{m.range[0]:g}..{m.range[1]:g}" if m.range else f.name.upper())
    group.add_argument(m.flag, **kwargs)


def _add_section_flags(group, wanted: str, only: tuple[str, ...] = (), leave: tuple[str, ...] = ()) -> None:
    for section, cls, f, m in _flag_fields():
        if section == wanted and (not only or f.name in only) and f.name not in leave:
            _add_flag(group, section, cls, f, m)


def _file_field(value: str, choices_: tuple, or_file: dict, flag: str) -> str:
    """For a flag that takes a mode or a file: the field the file ``value`` goes into."""
    from livecam.media import media_kind
    from livecam.messages import shown
    from livecam.settings import SettingsError

    kind = media_kind(value)
    if kind in or_file:
        return or_file[kind]
    if not os.path.exists(value):  # False for a name too long too: pathlib's exists() raised that
        raise SettingsError(f"{flag} {shown(value)} is neither one of {', '.join(choices_)} nor an existing file.")
    raise SettingsError(f"{flag} {shown(value)} is not a picture or a video LiveCam can read; use a JPEG, PNG or MP4 "
                        "file.")


def effect_changes(args: argparse.Namespace) -> dict[str, dict]:
    """The settings the effect flags ask for. A flag's ``implies`` (e.g. --blur turns blur on) never
    overrides a field the user set explicitly."""
    from livecam.setting_fields import field_of, literal_choices, meta

    explicit: dict[str, dict] = {}
    implied: dict[str, dict] = {}
    for section, cls, f, m in _flag_fields():
        value = getattr(args, _dest(section, f.name), None)
        if value is None:
            continue
        allowed = literal_choices(cls, f.name)
        if m.or_file and value not in allowed:
            target = _file_field(value, allowed, dict(m.or_file), m.flag)
            explicit.setdefault(section, {})[target] = value
            for k, v in meta(field_of(cls, target)).implies.items():
                explicit[section].setdefault(k, v)
            continue
        explicit.setdefault(section, {})[f.name] = value
        for k, v in m.implies.items():
            implied.setdefault(section, {}).setdefault(k, v)
    for section, values in implied.items():
        for k, v in values.items():
            explicit.setdefault(section, {}).setdefault(k, v)
    return explicit


def add_output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--output", choices=("virtualcam", "preview", "file", "null"),
                   help="where frames go: the LiveCam virtual camera (default), a preview window, a file, or nowhere")
    g.add_argument("--device", help="virtual-camera device (default: the one labelled LiveCam)")
    g.add_argument("--output-file", help="MP4 path for --output file (an existing file is never replaced without --overwrite)")
    g.add_argument("--frames", type=number(int), default=0, help="stop after N frames (0 = run until Ctrl+C)")
    g.add_argument("--save", action="store_true", help="save these options as the new defaults")
    # --overwrite, --always-on, … as OutputSettings declares them; --like-live only means something to render.
    _add_section_flags(g, "output", leave=("like_live",))


# Fields set by flags that are not declared on the field itself (add_source_options / add_output_options).
_PLAIN_FLAGS = {"capture.source": "--source", "capture.width": "--size", "capture.height": "--size",
                "capture.fps": "--fps", "output.fps": "--fps", "output.kind": "--output", "output.device": "--device",
                "output.path": "--output-file"}


def flag_names() -> dict[str, str]:
    """``"background.blur" -> "--blur"``: the flag a user types for each settings field that has one."""
    names = dict(_PLAIN_FLAGS)
    for section, _cls, f, m in _flag_fields():
        names[f"{section}.{f.name}"] = m.flag
    return names


def _check_flag_values(changes: dict[str, dict]) -> None:
    """Ranges are checked here, before the settings are, so the sentence names the flag the user typed."""
    import dataclasses

    from livecam import settings as S
    from livecam.messages import shown
    from livecam.setting_fields import out_of_range
    from livecam.settings import SettingsError

    classes = dict(S.SECTIONS)
    names = flag_names()
    for section, values in changes.items():
        for name, value in values.items():
            if section not in classes or name not in {f.name for f in dataclasses.fields(classes[section])}:
                continue  # S.update names what does not exist
            bounds = out_of_range(classes[section], name, value)
            if bounds:
                flag = names.get(f"{section}.{name}", f"{section}.{name}")
                if flag == "--size":
                    what = f"{value} px"
                else:  # an int too large for a float (--fps 1 and 400 zeros) made "{:g}" raise OverflowError
                    what = shown(value, 40) if isinstance(value, int) else f"{value:g}"
                raise SettingsError(f"{flag} must be between {bounds[0]:g} and {bounds[1]:g}, not {what}.")


def _name_the_flag(exc: Exception) -> Exception:
    """A settings sentence that starts with an internal key ("runtime.provider is ...") names the flag instead."""
    from livecam.settings import SettingsError

    key, _, rest = str(exc).partition(" ")
    flag = flag_names().get(key)
    return SettingsError(f"{flag} {rest}") if flag and rest else exc


def settings_from_args(args: argparse.Namespace):
    """Saved settings with the given flags applied on top."""
    from livecam import settings as S

    s = saved = S.load()
    changes: dict[str, dict] = effect_changes(args)

    def put(section: str, **values) -> None:
        values = {k: v for k, v in values.items() if v is not None}
        if values:
            changes.setdefault(section, {}).update(values)

    size = getattr(args, "size", None)
    put("capture", source=getattr(args, "source", None), fps=getattr(args, "fps", None))
    if size:
        put("capture", width=size[0], height=size[1])
    if getattr(args, "fps", None):
        put("output", fps=args.fps)
    put("output", kind=getattr(args, "output", None), device=getattr(args, "device", None),
        path=getattr(args, "output_file", None))
    _check_flag_values(changes)
    try:
        s = S.update(s, **changes)
    except S.SettingsError as exc:
        raise _name_the_flag(exc) from None
    if getattr(args, "save", False):
        from livecam.chosen_files import unusable_choice

        refusal = unusable_choice(saved, s)
        if refusal:  # saved, it would replace the last good background or photo in the file
            log.warning("%s Nothing was saved; give a file that works with --save.", refusal.why)
        else:
            mine = S.differences(saved, _files_in_full(s, saved))
            # Over what the file holds when written (read under the writers' lock), not over the copy
            # read at start: a tray's save in between kept.
            S.save_merged(lambda: S.with_changes(S.load(), mine))
            log.info("Saved settings to %s.", S.settings_path())
    return s


def _files_in_full(s, saved):
    """``s`` with each file named on this command line relative to the current folder written as a full
    path: saved as typed, "clip.mp4" meant another file (or none) when LiveCam next started elsewhere,
    and the tray, whose file dialogs give full paths, showed a picture that was not the one chosen."""
    from livecam import settings as S
    from livecam.setting_fields import meta

    changes: dict[str, dict] = {}
    for name, _cls in S.SECTIONS:
        section, before = getattr(s, name), getattr(saved, name)
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if (meta(f).file in ("image", "video", "source") and value and value != getattr(before, f.name)
                    and not os.path.isabs(value) and os.path.isfile(value)):
                changes.setdefault(name, {})[f.name] = os.path.abspath(value)
    return S.update(s, **changes) if changes else s


# ------------------------------------------------------------------ commands


def _frames(args: argparse.Namespace) -> int:
    from livecam.settings import SettingsError

    if args.frames < 0:  # it used to run one frame and exit 0
        raise SettingsError(f"--frames must be 0 (run until Ctrl+C) or more, not {args.frames}.")
    return args.frames


@contextlib.contextmanager
def _one_sender(settings) -> Iterator[str | None]:
    """Yields None while this is the only LiveCam sending to its virtual camera, else the sentence that
    stops it. v4l2loopback lets any number of programs write one device: two LiveCams (the tray started
    twice, `livecam run` beside the tray) took turns frame by frame, and a call showed the other one's
    picture between this one's, the raw room where the other hides nothing.

    The device node's own lock (``sinks.VirtualCamOutput``) is what keeps apart two LiveCams that name
    one device two ways; this one, keyed by the setting, is kept because it acts before anything opens:
    a second tray is stopped before its window, models and camera start (a tray with the camera off
    opens no device at all), and so is a second one on OBS's camera, which has no node to lock."""
    from livecam.private_files import FolderError, held_lock
    from livecam.settings import private_config_dir
    from livecam.sinks import already_sending

    if settings.output.kind != "virtualcam":
        yield None
        return
    device = settings.output.device
    name = "virtual-camera.lock" if not device else \
        f"virtual-camera-{hashlib.sha256(os.fsencode(device)).hexdigest()[:16]}.lock"
    try:
        folder = private_config_dir()
    except FolderError:
        yield None  # no folder of ours to lock in: the settings' own sentence says why
        return
    with held_lock(folder / name) as holder:
        yield None if holder is None else already_sending(holder)


def cmd_run(args: argparse.Namespace) -> int:
    from livecam.app import run_live

    settings = settings_from_args(args)
    with _one_sender(settings) as refused:
        if refused:
            return _cannot_start(refused, tray=False)
        return run_live(settings, frames=_frames(args))


def cmd_render(args: argparse.Namespace) -> int:
    from livecam.render import render_file

    return render_file(args.input, args.output_path, settings_from_args(args), progress=not args.quiet)


def cmd_gui(args: argparse.Namespace) -> int:
    from livecam.gui import run_gui
    from livecam.gui.single_instance import ALREADY_SHOWN, show_running_tray

    settings = settings_from_args(args)
    if show_running_tray():  # as most desktop apps started twice do: the first one's window comes up
        print(ALREADY_SHOWN)
        return 0
    return run_gui(settings, frames=_frames(args), one_sender=lambda: _one_tray_sender(settings))


@contextlib.contextmanager
def _one_tray_sender(settings) -> Iterator[int | None]:
    """``_one_sender`` for the tray, which takes it once its socket is claimed: None, or the exit code once
    the sentence is said (on stderr and on the desktop)."""
    with _one_sender(settings) as refused:
        yield None if refused is None else _cannot_start(refused, tray=True)


def cmd_devices(args: argparse.Namespace) -> int:
    from livecam import devices
    from livecam.messages import shown

    cams = devices.list_cameras()
    print("Cameras:")
    for cam in cams or []:
        # Names come from the devices themselves (USB descriptors): shown escaped.
        print(f"  {cam['index']}: {shown(cam['name'])}" + (f"  {shown(cam['path'])}" if cam.get("path") else ""))
    if not cams:
        print("  none found; LiveCam shows its demo clip until one is plugged in")
    print("Virtual cameras:")
    vcams = devices.list_virtual_cameras()
    for v in vcams:
        print(f"  {shown(v['path'])}  label={v['label']!r}  exclusive_caps={v.get('exclusive_caps')}  ready={v.get('ready')}")
    if not vcams:
        print("  none found; livecam doctor says how to create one")  # a bare "none found" left the user there
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from livecam import doctor
    from livecam.messages import escaped

    worst = 0
    for status, sentence in doctor.diagnose():
        print(f"[{status}] {escaped(sentence)}")
        if status.lower() in ("fail", "error"):
            worst = 1
    return worst


def cmd_avatars(args: argparse.Namespace) -> int:
    """List or remove the private copies of avatar photos LiveCam keeps in its config folder."""
    import datetime

    from livecam.analysis.avatar_photo import AvatarPhotoError, remove_stored_avatar, store_dir, stored_avatars
    from livecam.messages import shown

    if args.avatars_command == "remove":
        try:
            path = remove_stored_avatar(args.name)
        except AvatarPhotoError as exc:
            print(f"livecam: {exc}", file=sys.stderr)
            return 1
        print(f"Removed {shown(path)}.")
        return 0
    try:
        kept = stored_avatars()
    except OSError as exc:  # the config folder's name too long, a drive gone: a traceback before
        from livecam.private_files import reason

        print(f"livecam: The kept avatar photos in {shown(store_dir())} cannot be listed ({reason(exc)}); check "
              "that folder, or LIVECAM_CONFIG_DIR if you set it.", file=sys.stderr)
        return 1
    if not kept:
        print(f"No avatar photos are kept (they would be in {shown(store_dir())}).")
        return 0
    print(f"Avatar photos kept in {shown(store_dir())} (private copies; remove one with: livecam avatars remove NAME):")
    for item in kept:
        when = datetime.datetime.fromtimestamp(item.modified).strftime("%Y-%m-%d %H:%M")
        print(f"  {shown(item.name)}  {item.size / 1024:.0f} KB  {when}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from livecam.bench import main as bench_main

    return bench_main(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from livecam.quality import main as quality_main

    return quality_main(args)


def _unknown_arguments(parser: argparse.ArgumentParser, extra: list[str]) -> str:
    """argparse's "unrecognized arguments", with the closest flag the command has."""
    import difflib

    flags = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    typed = [e.split("=", 1)[0] for e in extra if e.startswith("-")]
    if not typed:
        return f"unrecognized arguments: {' '.join(extra)}"
    close = difflib.get_close_matches(typed[0], flags, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{parser.prog} has no option {typed[0]}{hint} ({parser.prog} --help lists every option)"


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _all_parsers(child)


def _attach_dash_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--source -take2.mp4`` names a file: argparse would read ``-take2.mp4`` as an unknown flag
    and say "expected one argument". A value that is no flag of ours is attached as ``--source=…``."""
    flags, takes_value = set(), set()
    for each in _all_parsers(parser):
        for action in each._actions:
            flags.update(action.option_strings)
            if action.option_strings and action.nargs is None and not isinstance(
                    action, (argparse._StoreConstAction, argparse._StoreTrueAction, argparse._StoreFalseAction,
                             argparse._CountAction, argparse._HelpAction, argparse._VersionAction)):
                takes_value.update(action.option_strings)
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        value = argv[i + 1] if i + 1 < len(argv) else None
        if (token in takes_value and value is not None and value.startswith("-") and value != "-"
                and value.split("=", 1)[0] not in flags):
            out.append(f"{token}={value}")
            i += 2
            continue
        if token == "--":
            out.extend(argv[i:])
            break
        out.append(token)
        i += 1
    return out


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Like ``parser.parse_args``, but an unknown flag is reported by its own command, with its usage
    and the flag the user most likely meant (``--bakground`` → ``--background``)."""
    args, extra = parser.parse_known_args(_attach_dash_values(parser, argv))
    if extra:
        command = parser.commands.get(getattr(args, "command", None) or "", parser)
        command = command.commands.get(getattr(args, "avatars_command", None) or "", command) \
            if hasattr(command, "commands") else command
        command.error(_unknown_arguments(command, extra))
    return args


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="livecam", description="LiveCam: a virtual camera with effects for video calls.")
    p.add_argument("--version", action="version", version=f"livecam {__version__}")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command")
    p.commands = sub.choices  # type: ignore[attr-defined]  # parse_args reports errors by command

    run = sub.add_parser("run", usage="%(prog)s [options]",
                         help="process the camera and send it to the LiveCam virtual camera")
    add_source_options(run)
    add_effect_options(run)
    add_output_options(run)
    run.set_defaults(func=cmd_run)

    render = sub.add_parser("render", usage="%(prog)s [options] input output",
                            help="apply the effects to a video file offline")
    render.add_argument("input", help="video file to process")
    render.add_argument("output_path", metavar="output", help="MP4 file to write (never replaced without --overwrite)")
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_section_flags(render, "output", only=("overwrite", "like_live"))
    add_effect_options(render)
    render.set_defaults(func=cmd_render)

    gui = sub.add_parser("gui", usage="%(prog)s [options]", help="tray icon and settings window")
    add_source_options(gui)
    add_effect_options(gui)
    add_output_options(gui)
    gui.set_defaults(func=cmd_gui)

    avatars = sub.add_parser("avatars", help="the avatar photos LiveCam keeps: list them or remove one")
    avatars_sub = avatars.add_subparsers(dest="avatars_command", help="list (the default) or remove NAME")
    avatars_sub.add_parser("list", help="the kept photo copies, with size and date")
    remove = avatars_sub.add_parser("remove", help="delete one kept copy (your original photo is not touched)")
    remove.add_argument("name", help="the file name `livecam avatars list` shows")
    avatars.set_defaults(func=cmd_avatars, avatars_command="list")

    sub.add_parser("devices", help="list cameras and virtual cameras").set_defaults(func=cmd_devices)
    sub.add_parser("doctor", help="check cameras, virtual camera and inference providers").set_defaults(func=cmd_doctor)

    bench = sub.add_parser("bench", help="per-stage timings and fps on a real clip, against a mediapipe-style baseline")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    bench.add_argument("--frames", type=number(int), default=300, help="frames per configuration (default 300)")
    bench.add_argument("--clip", help="video file (default: a clip from ../shared/data/video, else the bundled demo)")
    bench.add_argument("--sizes", default="1280x720,1920x1080", help="comma list of WxH (default 1280x720,1920x1080)")
    bench.add_argument("--effects", default="blur,image",
                       help="comma list of configurations: " + ", ".join(_bench_names()) + " (default blur,image)")
    bench.add_argument("--threads", type=number(int), default=1, help="threads per model and for OpenCV (default 1)")
    bench.add_argument("--provider", default="auto", help="inference provider: auto, cpu, cuda, tensorrt, ...")
    bench.add_argument("--no-baseline", action="store_true", help="skip the mediapipe-style baseline rows")
    bench.add_argument("--model", choices=("landscape", "general", "rvm"),
                       help="segmentation model for the configurations that do not name one (default: auto)")
    bench.add_argument("--pipelined", action="store_true",
                       help="also time the live loop with pipelining (2 threads): frame interval and latency")
    bench.set_defaults(func=cmd_bench)

    ev = sub.add_parser("eval", help="mask quality (IoU, boundary F, halo) and flicker, raw vs refined")
    ev.add_argument("--data", help="test data folder with masks/ and video/ (default ../shared/data)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--model", default="all", choices=("all", "both", *_person_models()),
                    help="which person-mask model(s) to score: all (rvm too when fetched), both (landscape and "
                         "general), or one (default all)")
    ev.add_argument("--sheet", metavar="FOLDER", help="also write contact sheets (each model over a solid colour) there")
    ev.add_argument("--width", type=number(int), metavar="PX",
                    help="score the photos resized to this width, the halo band kept at 6 px (e.g. 640, 1280)")
    ev.set_defaults(func=cmd_eval)
    from livecam.model_fetch import add_models_command  # `livecam models fetch rvm` / `models list`
    add_models_command(sub)
    return p


LOG_BYTES = 1 << 20


def log_path() -> Path:
    from livecam.settings import config_dir

    return config_dir() / "livecam.log"


class _TerminalSafe(logging.Formatter):
    """Every logged sentence as one printable line: a file name with escape sequences or a newline,
    quoted in any message, can neither drive the terminal nor forge a line (tracebacks, which go only
    to the log file, keep their lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        from livecam.messages import escaped

        record.message = escaped(record.message)
        return super().formatMessage(record)


class _PrivateLog(logging.handlers.RotatingFileHandler):
    """The rotating log, opened 0600 and never through a symbolic link (see open_private_log).

    A log that cannot be written (a full disk, a quota, a read-only remount) is said once and then
    left alone: the logging module printed "--- Logging error ---" and a traceback to the terminal
    for every line after that, burying the sentences the user needs among them.
    """

    given_up = False

    def _open(self):
        from livecam.private_files import open_private_log

        return os.fdopen(open_private_log(self.baseFilename), "a", encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        if not self.given_up:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)  # a bad log call is a bug: the traceback says where
            return
        if self.given_up:
            return
        self.given_up = True
        from livecam.messages import shown
        from livecam.private_files import reason

        try:
            sys.stderr.write(f"livecam: The log file {shown(self.baseFilename)} cannot be written ({reason(exc)}); "
                             "LiveCam goes on without it.\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # no terminal either

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            pass  # what was left to flush cannot be written either: said already, or at exit nobody asks


def remove_log_handlers() -> None:
    """Take LiveCam's own handlers (console and log file) off the root logger, closing the file."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_livecam", False)]:
        root.removeHandler(handler)
        handler.close()


def setup_logging(verbose: bool = False) -> None:
    """Sentences to the terminal (each once), everything with tracebacks to a private log file."""
    remove_log_handlers()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    # numba logs each step of each compile at debug level: a first start (a new install, an upgrade,
    # a cache it cannot write) wrote 2.3 MB of it, rotating the previous session's log, the traceback
    # a user was asked for, out of all three files; with -v it buried the console.
    for noisy in ("PIL", "matplotlib", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(_TerminalSafe("livecam: %(message)s"))
    console._livecam = True  # type: ignore[attr-defined]
    root.addHandler(console)
    from livecam.private_files import FolderError, private_dir

    path = log_path()
    try:
        private_dir(path.parent)
    except OSError:
        return  # a read-only home or a refused folder (the settings say which) still gets the terminal
    try:
        to_file = _PrivateLog(path, maxBytes=LOG_BYTES, backupCount=2, encoding="utf-8")
    except FolderError as exc:
        log.warning(exc.sentence("LiveCam keeps no log this time"))
        return
    except OSError:
        return
    to_file.setLevel(logging.DEBUG)
    to_file.setFormatter(_TerminalSafe("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_file._livecam = True  # type: ignore[attr-defined]
    root.addHandler(to_file)


def _person_models() -> list[str]:
    """The person-mask models a user can pick (the settings' choices, less "auto")."""
    from typing import get_args

    from livecam.settings import SegmentationModel

    return [m for m in get_args(SegmentationModel) if m != "auto"]


def _bench_names() -> list[str]:
    from livecam.effects import bench_configs

    return list(bench_configs())


def _has_desktop() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _standard_descriptors_open() -> None:
    """Put /dev/null on any of descriptors 0-2 that LiveCam was started without (``2>&-``, a launcher
    that closes them). Left closed, the next file LiveCam opened took the number, and whatever writes
    to "stderr" below Python (Qt's and ONNX Runtime's warnings, a fatal error's report) wrote into it:
    the private log (``2>&-``), ffmpeg's message file under a recording (``>&- 2>&-``), or the tray's
    X11 connection (all three closed), where Qt's first warning hung the tray for good."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            null = os.open(os.devnull, os.O_RDWR)
        except OSError:
            return  # no /dev/null (a bare chroot): nothing better to put there
        if null != fd:  # the lowest free number, so this one unless a lower one was free too
            os.dup2(null, fd)
            os.close(null)
        else:
            os.set_inheritable(fd, True)  # as standard streams are: a child started later sees them open


def main(argv: list[str] | None = None) -> int:
    _standard_descriptors_open()  # first: an import opens files too
    from livecam.settings import SettingsError

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("--") and argv[0] not in ("--version", "-h", "--help", "-v", "--verbose"):
        # Plain `livecam`: the tray app where there is a desktop, else the live loop with its fallbacks.
        argv = ["gui" if _has_desktop() and _gui_importable() else "run", *argv]
    try:
        # Both reach the config folder (the defaults shown in --help, the log file): with no home
        # folder known (no $HOME, no account entry) its one sentence, not a traceback.
        parser = build_parser()
        args = parse_args(parser, argv)
        setup_logging(args.verbose)
    except SettingsError as exc:
        return _cannot_start(exc, argv[0] == "gui")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0

    if args.func is not cmd_gui:  # the GUI quits through Qt on its own signals; an exception would land in a slot
        _stop_signals_interrupt()
    try:
        # An ASCII locale (LC_ALL=C where Python does not switch to UTF-8, PYTHONIOENCODING=ascii)
        # made the first "—" or file name on stdout a UnicodeEncodeError traceback; stderr already
        # escapes what its encoding cannot show, and now stdout does the same.
        sys.stdout.reconfigure(errors="backslashreplace")
    except (AttributeError, ValueError, OSError):
        pass  # not a text stream of ours (a test's capture, None under pythonw)
    if sys.stdout is not None and not isinstance(sys.stdout, _TaggedStdout):
        sys.stdout = _TaggedStdout(sys.stdout)
    try:
        return args.func(args)
    except SettingsError as exc:
        return _cannot_start(exc, args.func is cmd_gui)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except _StdoutError as exc:
        from livecam.private_files import reason

        # `livecam models list > /dev/full`, a disk that filled up under a redirect: a sentence, no traceback.
        _reader_went_away()
        print(f"livecam: The output could not be written ({reason(exc.cause)}).", file=sys.stderr)
        return 1
    finally:
        if isinstance(sys.stdout, _TaggedStdout):
            sys.stdout = sys.stdout.stream


class _StdoutError(OSError):
    """Writing to stdout failed (a full disk under a redirect); ``cause`` is the OSError."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.cause = cause


class _TaggedStdout:
    """stdout, whose write errors are told apart from every other OSError of a command."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _StdoutError(exc) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _StdoutError(exc) from None

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _stop_signals_interrupt() -> None:
    """SIGTERM and SIGHUP end any command the way Ctrl+C does, by KeyboardInterrupt, so its
    cleanup runs: their default action kills the process on the spot, which left a half-fetched
    model's temporary folder behind and pip still downloading into it. ``run`` and ``render``
    install their own, orderly handlers over these."""
    from livecam.stop_signals import catch_stop_signals

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    catch_stop_signals(interrupt)


def _reader_went_away() -> int:
    """stdout's reader closed early (``livecam devices | head -1``): stop quietly, as tools killed
    by SIGPIPE do, instead of a traceback. Later writes (the interpreter's final flush) go to
    /dev/null so they cannot raise again. Not SIGPIPE's default action: that would kill a
    recording without finalising it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return 128 + 13  # 141, what a shell reports for a writer ended by SIGPIPE


def _cannot_start(exc: Exception, tray: bool) -> int:
    """One sentence on stderr; for the tray app also on the desktop, where it is often started
    without a terminal (a menu entry, autostart) and would otherwise just not appear."""
    from livecam.messages import escaped

    print(f"livecam: {escaped(exc)}", file=sys.stderr)
    if tray:
        try:
            from livecam.gui import tell_on_desktop

            tell_on_desktop(str(exc))
        except Exception:  # noqa: BLE001 - the sentence is on stderr already; a broken Qt must not hide it
            log.debug("the start-up sentence could not be shown on the desktop", exc_info=True)
    return 2


def _gui_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("PySide6") is not None


if __name__ == "__main__":
    sys.exit(main())
