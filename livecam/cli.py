"""Command line: ``livecam [run|render|gui|devices|doctor|bench|eval]``.

Every command starts from the saved settings (the same file the GUI writes), applies the flags on
top, and hands one Settings object to the pipeline. Effect flags are declared once and shared by
``run``, ``render`` and ``gui``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from livecam import __version__

VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}
log = logging.getLogger("livecam")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, not {text!r}") from None


def add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="camera index (0), device (/dev/video0), video or image file, 'demo' or 'auto'")
    p.add_argument("--size", type=_size, help="capture/output size, e.g. 1280x720")
    p.add_argument("--fps", type=int, help="capture and output frame rate")


def add_effect_options(p: argparse.ArgumentParser) -> None:
    from livecam.settings import BackgroundSettings, LowLightSettings, choices

    g = p.add_argument_group("effects")
    g.add_argument(
        "--background",
        metavar="MODE|FILE",
        help=f"background: {', '.join(choices(BackgroundSettings, 'mode'))}, or an image/video file",
    )
    g.add_argument("--blur", type=int, metavar="0-100", help="background blur strength (turns blur on)")
    g.add_argument("--color", metavar="#RRGGBB", help="solid background colour (with --background color)")
    g.add_argument("--segmentation-model", choices=("landscape", "general"))
    g.add_argument("--touch-up", type=int, metavar="0-100", help="skin touch-up strength; 0 = off")
    g.add_argument("--low-light", choices=choices(LowLightSettings, "mode"), help="low-light enhancement")
    for name, help_ in (
        ("exposure", "stops, -2..3"),
        ("contrast", "0.5..2"),
        ("shadows", "gamma 0.3..1"),
        ("saturation", "0..2"),
    ):
        g.add_argument(f"--{name}", type=float, help=f"manual low-light {name} ({help_})")
    g.add_argument("--denoise", type=int, metavar="0-100", help="manual low-light temporal denoise")
    g.add_argument("--warmth", type=int, metavar="-100..100", help="manual low-light colour warmth")
    g.add_argument("--avatar", metavar="PHOTO", help="avatar photo (turns on --avatar-mode swap unless given)")
    g.add_argument("--avatar-mode", choices=("off", "swap", "animate"))
    g.add_argument("--keep-eyes-mouth", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--no-badge", action="store_true", help='hide the "AI-altered" badge (logged)')
    g.add_argument("--face-detector", choices=("short", "full"), help="short: within ~2 m, full: far faces")
    r = p.add_argument_group("runtime")
    r.add_argument("--provider", help="inference provider: auto, cpu, cuda, tensorrt, directml, coreml")
    r.add_argument("--threads", type=int, help="threads per model (1 is fastest on small machines)")


def add_output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--output", choices=("virtualcam", "preview", "file", "null"), help="where frames go")
    g.add_argument("--device", help="virtual-camera device (default: the one labelled LiveCam)")
    g.add_argument("--output-file", help="MP4 path for --output file")
    g.add_argument("--frames", type=int, default=0, help="stop after N frames (0 = run until Ctrl+C)")
    g.add_argument("--save", action="store_true", help="save these options as the new defaults")


def settings_from_args(args: argparse.Namespace):
    """Saved settings with the given flags applied on top."""
    from livecam import settings as S

    s = S.load()
    changes: dict[str, dict] = {}

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
    bg = getattr(args, "background", None)
    if getattr(args, "blur", None) is not None:
        put("background", mode="blur", blur=args.blur)
    if bg:
        modes = S.choices(S.BackgroundSettings, "mode")
        if bg in modes:
            put("background", mode=bg)
        elif Path(bg).suffix.lower() in VIDEO_EXTS:
            put("background", mode="video", video=bg)
        else:
            put("background", mode="image", image=bg)
    put("background", color=getattr(args, "color", None))
    put("segmentation", model=getattr(args, "segmentation_model", None))
    put("touch_up", strength=getattr(args, "touch_up", None))
    manual = {k: getattr(args, k, None) for k in ("exposure", "contrast", "shadows", "saturation", "denoise", "warmth")}
    put("low_light", mode=getattr(args, "low_light", None), **manual)
    if any(v is not None for v in manual.values()) and not getattr(args, "low_light", None):
        put("low_light", mode="manual")
    if getattr(args, "avatar", None):
        put("avatar", photo=args.avatar, mode=getattr(args, "avatar_mode", None) or "swap")
    else:
        put("avatar", mode=getattr(args, "avatar_mode", None))
    put("avatar", keep_eyes_mouth=getattr(args, "keep_eyes_mouth", None))
    if getattr(args, "no_badge", False):
        put("avatar", badge=False)
    put("face", detector=getattr(args, "face_detector", None))
    put("runtime", provider=getattr(args, "provider", None), threads=getattr(args, "threads", None))
    put("output", kind=getattr(args, "output", None), device=getattr(args, "device", None),
        path=getattr(args, "output_file", None))
    s = S.update(s, **changes)
    if getattr(args, "save", False):
        log.info("Saved settings to %s.", S.save(s))
    return s


# ------------------------------------------------------------------ commands


def cmd_run(args: argparse.Namespace) -> int:
    from livecam.app import run_live

    return run_live(settings_from_args(args), frames=args.frames)


def cmd_render(args: argparse.Namespace) -> int:
    from livecam.render import render_file

    return render_file(args.input, args.output_path, settings_from_args(args), progress=not args.quiet)


def cmd_gui(args: argparse.Namespace) -> int:
    from livecam.gui import run_gui

    return run_gui(settings_from_args(args))


def cmd_devices(args: argparse.Namespace) -> int:
    from livecam import devices

    cams = devices.list_cameras()
    print("Cameras:")
    for cam in cams or []:
        print(f"  {cam['index']}: {cam['name']}" + (f"  {cam['path']}" if cam.get("path") else ""))
    if not cams:
        print("  none found")
    print("Virtual cameras:")
    vcams = devices.list_virtual_cameras()
    for v in vcams:
        print(f"  {v['path']}  label={v['label']!r}  exclusive_caps={v.get('exclusive_caps')}  ready={v.get('ready')}")
    if not vcams:
        print("  none found")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from livecam import devices

    worst = 0
    for status, sentence in devices.diagnose():
        print(f"[{status}] {sentence}")
        if status.lower() in ("fail", "error"):
            worst = 1
    return worst


def cmd_bench(args: argparse.Namespace) -> int:
    from livecam.bench import main as bench_main

    return bench_main(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from livecam.quality import main as quality_main

    return quality_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="livecam", description="LiveCam: a virtual camera with effects for video calls.")
    p.add_argument("--version", action="version", version=f"livecam {__version__}")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command")

    run = sub.add_parser("run", help="process the camera and send it to the LiveCam virtual camera")
    add_source_options(run)
    add_effect_options(run)
    add_output_options(run)
    run.set_defaults(func=cmd_run)

    render = sub.add_parser("render", help="apply the effects to a video file offline")
    render.add_argument("input")
    render.add_argument("output_path", metavar="output")
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    add_effect_options(render)
    render.set_defaults(func=cmd_render)

    gui = sub.add_parser("gui", help="tray icon and settings window")
    add_source_options(gui)
    add_effect_options(gui)
    add_output_options(gui)
    gui.set_defaults(func=cmd_gui)

    sub.add_parser("devices", help="list cameras and virtual cameras").set_defaults(func=cmd_devices)
    sub.add_parser("doctor", help="check cameras, virtual camera and inference providers").set_defaults(func=cmd_doctor)

    bench = sub.add_parser("bench", help="per-stage timings and fps on a real clip")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--frames", type=int, default=300)
    bench.add_argument("--clip", help="video file (default: a clip from ../shared/data/video, else the demo)")
    bench.add_argument("--sizes", default="1280x720,1920x1080")
    bench.add_argument("--effects", default="blur,image", help="comma list of: " + "blur, image, touch_up, low_light, swap, animate")
    bench.add_argument("--threads", type=int, default=1)
    bench.add_argument("--provider", default="auto")
    bench.add_argument("--no-baseline", action="store_true")
    bench.set_defaults(func=cmd_bench)

    ev = sub.add_parser("eval", help="mask quality (IoU, boundary F) and flicker, raw vs refined")
    ev.add_argument("--data", help="test data folder (default ../shared/data)")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--model", default="both", choices=("landscape", "general", "both"))
    ev.set_defaults(func=cmd_eval)
    return p


def _has_desktop() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or argv[0].startswith("--") and argv[0] not in ("--version", "-h", "--help", "-v", "--verbose"):
        # Plain `livecam`: the tray app where there is a desktop, else the live loop with its fallbacks.
        argv = ["gui" if _has_desktop() and _gui_importable() else "run", *argv]
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="livecam: %(message)s", stream=sys.stderr
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from livecam.settings import SettingsError

    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"livecam: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _gui_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("PySide6") is not None


if __name__ == "__main__":
    sys.exit(main())
