"""The command line, end to end on small real inputs."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from livecam import cli
from processes import needs_ffmpeg


def _clip(path, frames=12, size=(160, 120)):
    astronaut = cv2.imread(str(__import__("conftest").FIXTURES / "sk_astronaut.png"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, size)
    for i in range(frames):
        writer.write(cv2.resize(astronaut[i * 4 :, :], size))
    writer.release()
    return path


def test_version_is_fast_and_does_not_import_heavy_modules():
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from livecam.cli import main;\ntry: main(['--version'])\n"
         "except SystemExit: pass\nprint('cv2' in sys.modules, 'onnxruntime' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    assert "livecam 0.1.0" in out.stdout and "False False" in out.stdout


@needs_ffmpeg
def test_render_keeps_size_and_frame_count_and_applies_the_effect(tmp_path):
    src = _clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mp4"
    assert cli.main(["render", str(src), str(dst), "--background", "color", "--color", "#00ff00", "--quiet"]) == 0
    cap = cv2.VideoCapture(str(dst))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 12 and frames[0].shape == (120, 160, 3)
    corner = np.stack([f[:10, -20:] for f in frames]).astype(int)  # the wall behind the astronaut
    assert np.abs(corner - (0, 255, 0)).mean() < 25


def test_render_missing_input_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["render", str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_run_with_null_output_stops_after_n_frames(tmp_path):
    src = _clip(tmp_path / "in.mp4")
    assert cli.main(["run", "--source", str(src), "--output", "null", "--frames", "5", "--blur", "40"]) == 0


def test_run_with_missing_source_says_what_to_do(tmp_path, capsys):
    assert cli.main(["run", "--source", str(tmp_path / "nope.mp4"), "--output", "null", "--frames", "1"]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err


def test_a_file_name_starting_with_a_dash_is_a_value_not_a_flag(tmp_path, capsys):
    clip = tmp_path / "-take2.mp4"
    assert cli.main(["run", "--source", str(clip)[len(str(tmp_path)) + 1:], "--frames", "1", "--output", "null"]) != 0
    err = capsys.readouterr().err
    assert "-take2.mp4 does not exist" in err and "expected one argument" not in err
    args = cli.parse_args(cli.build_parser(), ["run", "--source", "-take2.mp4", "--fps", "15"])
    assert args.source == "-take2.mp4" and args.fps == 15
    with pytest.raises(SystemExit):  # a forgotten value before a real flag is still argparse's error
        cli.parse_args(cli.build_parser(), ["run", "--source", "--fps", "15"])


def test_bad_setting_value_is_one_sentence_naming_the_flag(capsys):
    assert cli.main(["run", "--blur", "500", "--output", "null", "--frames", "1"]) == 2
    assert capsys.readouterr().err == "livecam: --blur must be between 0 and 100, not 500.\n"


@pytest.mark.parametrize("argv, sentence", [
    (["--frame-zoom", "9"], "--frame-zoom must be between 1 and 3, not 9."),
    (["--size", "8x8"], "--size must be between 16 and 7680, not 8 px."),
    (["--fps", "0"], "--fps must be between 1 and 240, not 0."),
    (["--color", "green"], "--color is 'green'; write it as #rrggbb, e.g. #1e6e3c."),
    (["--provider", "quantum"], "--provider is 'quantum'; choose one of auto, cpu, cuda, tensorrt, directml, coreml."),
])
def test_every_settings_error_names_the_flag(capsys, argv, sentence):
    assert cli.main(["run", *argv, "--output", "null", "--frames", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"livecam: {sentence}\n"


def test_every_settings_field_with_a_range_names_a_flag_in_its_errors():
    """The flag names come from the registry: no field with a flag is reported by its internal name."""
    names = cli.flag_names()
    for section, _cls, f, m in cli._flag_fields():
        assert names[f"{section}.{f.name}"] == m.flag


@pytest.mark.parametrize("argv, meant", [
    (["run", "--bakground", "off"], "--background"),
    (["render", "in.mp4", "out.mp4", "--blurr", "3"], "--blur"),
    (["gui", "--touchup", "40"], "--touch-up"),
])
def test_a_mistyped_flag_gets_the_closest_one_and_its_commands_usage(capsys, argv, meant):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    command = argv[0]
    assert err.startswith(f"usage: livecam {command} "), err  # the command's usage, not the top level's
    assert f"livecam {command} has no option {argv[1 if command != 'render' else 3]}; did you mean {meant}?" in err
    assert len(err.splitlines()) <= 3


def test_save_persists_flags_for_the_gui(tmp_path):
    from livecam import settings as S

    src = _clip(tmp_path / "in.mp4")
    assert cli.main(["run", "--source", str(src), "--output", "null", "--frames", "2", "--blur", "33", "--save"]) == 0
    assert S.load().background.blur == 33


def test_doctor_and_devices_print_plain_lines(capsys):
    cli.main(["doctor"])
    out = capsys.readouterr().out
    assert "virtual camera" in out.lower() and "ONNX Runtime providers" in out
    assert cli.main(["devices"]) == 0


def test_bench_json_shape(tmp_path, capsys):
    src = _clip(tmp_path / "in.mp4", frames=8, size=(320, 180))
    assert cli.main(["bench", "--json", "--frames", "5", "--clip", str(src), "--sizes", "320x180",
                     "--effects", "blur,image"]) == 0
    said = capsys.readouterr()
    report = json.loads(said.out)
    runs = [line for line in said.err.splitlines() if line.startswith("bench: 320x180")]
    assert ", 4 runs x 5 frames" in said.err and len(runs) == 4, said.err  # announced = really run
    assert {r["effect"] for r in report["results"]} == {"blur", "image"}
    row = report["results"][0]
    assert row["resolution"] == "320x180" and row["median_ms"] > 0 and row["p95_ms"] >= row["median_ms"]
    assert {"preprocess", "inference", "refine", "composite", "output_conversion", "decode"} <= set(row["stages"])
    assert row["provider"] == "CPUExecutionProvider" and row["threads"] == 1
    assert len(report["baseline"]) == 2 and report["baseline"][0]["stages"]["inference"] > 0


def test_every_option_of_every_command_has_help_text():
    import argparse

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, command in sub.choices.items():
        for action in command._actions:
            if action.option_strings and not (action.help and action.help.strip()):
                missing.append(f"{name} {'/'.join(action.option_strings)}")
            if not action.option_strings and action.dest != "help" and not action.help:
                missing.append(f"{name} <{action.dest}>")
    assert missing == []


def test_render_with_an_unusable_background_writes_nothing_and_says_so_once(tmp_path, capsys):
    src = _clip(tmp_path / "in.mp4")
    bad = tmp_path / "room.jpg"
    bad.write_text("not a picture")
    dst = tmp_path / "out.mp4"
    assert cli.main(["render", str(src), str(dst), "--background", str(bad), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert not dst.exists() and not list(tmp_path.glob(".out*")), "nothing half-written"
    assert err.count(str(bad)) == 1 and "Nothing was written" in err


@needs_ffmpeg
def test_render_never_replaces_a_file_without_overwrite(tmp_path, capsys):
    src = _clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"my holiday video")
    assert cli.main(["render", str(src), str(dst), "--quiet"]) == 1
    assert dst.read_bytes() == b"my holiday video" and "--overwrite" in capsys.readouterr().err
    assert cli.main(["render", str(src), str(dst), "--quiet", "--overwrite", "--background", "off"]) == 0
    assert cv2.VideoCapture(str(dst)).read()[0]
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"jpeg bytes")
    assert cli.main(["render", str(src), str(photo), "--quiet"]) == 1
    assert photo.read_bytes() == b"jpeg bytes"


def test_flags_imply_their_mode_but_never_override_an_explicit_one(tmp_path):
    parse = lambda *argv: cli.settings_from_args(cli.build_parser().parse_args(["run", *argv]))  # noqa: E731
    assert parse("--blur", "30").background.mode == "blur"
    assert parse("--exposure", "1").low_light.mode == "manual"
    assert parse("--exposure", "1", "--low-light", "auto").low_light.mode == "auto"
    assert parse("--avatar", "x.jpg").avatar.mode == "swap"
    assert parse("--avatar", "x.jpg", "--avatar-mode", "animate").avatar.mode == "animate"
    clip = _clip(tmp_path / "beach.wmv")  # a video whose suffix no list used to know
    s = parse("--background", str(clip))
    assert s.background.mode == "video" and s.background.video == str(clip)
    assert parse("--no-badge").badge.enabled is False
    assert parse("--auto-frame").auto_frame.enabled is True


def test_avatars_are_listed_and_removed_by_exact_name(tmp_path, capsys):
    from livecam.analysis.avatar_photo import load_avatar_photo, stored_avatars

    photo = tmp_path / "anna.jpg"
    photo.write_bytes((__import__("conftest").FIXTURES / "mpl_grace_hopper.jpg").read_bytes())
    kept = load_avatar_photo(photo).path
    assert cli.main(["avatars"]) == 0
    listing = capsys.readouterr().out
    assert kept.name in listing
    assert cli.main(["avatars", "remove", "anna"]) == 1, "only the exact listed name removes a copy"
    assert kept.is_file() and "No stored avatar photo" in capsys.readouterr().err
    assert cli.main(["avatars", "remove", kept.name]) == 0
    assert not kept.exists() and photo.is_file() and stored_avatars() == []
