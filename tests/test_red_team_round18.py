"""Red team round 18: last round's leftovers (the avatar photo check on the GUI thread, ``render`` to a
folder name, an unbounded ``bench --frames``, ``eval``'s sentence on stdout, ``doctor`` saying ok beside
a damaged model, a sound-only clip called damaged), then faults at library boundaries.

Each test failed on the start tree (1e8c9a2) unless it says it is a guard. tmp folders only; no
timed tests (a bound on a wait is a bound, never a measurement)."""
from __future__ import annotations

import argparse
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, written_long_ago

from livecam import settings as S

HOPPER = FIXTURES / "mpl_grace_hopper.jpg"
CHECK_MS = 60_000  # a bound on a check running off the GUI thread on a loaded machine, not a timing


def _clip(path: Path, frames: int = 4, size=(64, 48)) -> Path:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(frames):
        out.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
    out.release()
    return path


# -- 1. The avatar photo check runs off the GUI thread; the newest pick wins


@pytest.fixture
def photo_check(monkeypatch):
    """The avatar effect's photo load, replaced: it notes the thread it ran on and the photo, and
    waits for ``gate`` (set by the test) before answering for a photo named in ``held``."""
    from livecam.analysis import avatar_photo as ap

    seen: list[tuple[str, bool]] = []
    gate, held = threading.Event(), set()

    def load(path, **_):
        on_gui = threading.current_thread() is threading.main_thread()
        seen.append((Path(path).name, on_gui))
        if Path(path).name in held and not on_gui:
            gate.wait(CHECK_MS / 1000)  # bounded: a broken test fails, it does not hang
        if "noface" in Path(path).name:
            raise ap.AvatarPhotoError(f"No face was found in {path}; choose a photo with one face.")

    monkeypatch.setattr(ap, "load_avatar_photo", load)
    return seen, gate, held


def test_an_avatar_photo_is_checked_off_the_gui_thread(tmp_path, qtbot, photo_check):
    """Before: the face fit ran in store.update on the GUI thread (0.2-0.85 s of frozen tray per pick)."""
    from livecam.gui.store import SettingsStore

    seen, _, _ = photo_check
    photo = tmp_path / "me.jpg"
    photo.write_bytes(HOPPER.read_bytes())
    store = SettingsStore(S.Settings(), persist=False)
    store.update(avatar={"mode": "swap", "photo": str(photo)})
    qtbot.waitUntil(lambda: store.settings.avatar.photo == str(photo), timeout=CHECK_MS)
    assert seen == [("me.jpg", False)], "checked once, never on the GUI thread"
    assert store.settings.avatar.mode == "swap" and not store.checking


def test_a_second_photo_picked_while_the_first_is_checked_wins(tmp_path, qtbot, photo_check):
    """The older pick's answer, coming back after the newer pick, must not apply the older photo."""
    from livecam.gui.store import SettingsStore

    seen, gate, held = photo_check
    first, second = tmp_path / "first.jpg", tmp_path / "second.jpg"
    for p in (first, second):
        p.write_bytes(HOPPER.read_bytes())
    held.add(first.name)
    store = SettingsStore(S.Settings(), persist=False)
    photos: list[str] = []
    store.changed.connect(lambda s: photos.append(s.avatar.photo))
    store.update(avatar={"mode": "swap", "photo": str(first)})
    store.update(avatar={"mode": "swap", "photo": str(second)})
    gate.set()
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert store.wait_for_checks(CHECK_MS / 1000)
    assert photos == [str(second)]
    assert store.settings.avatar.photo == str(second)


def test_a_photo_refused_after_its_check_keeps_the_last_good_one_and_says_why(tmp_path, qtbot, photo_check):
    from livecam.gui.store import SettingsStore

    good, bad = tmp_path / "me.jpg", tmp_path / "noface.jpg"
    for p in (good, bad):
        p.write_bytes(HOPPER.read_bytes())
    store = SettingsStore(S.update(S.Settings(), avatar={"mode": "swap", "photo": str(good)}), persist=False)
    said: list[str] = []
    store.rejected.connect(said.append)
    store.update(avatar={"photo": str(bad)})
    qtbot.waitUntil(lambda: bool(said), timeout=CHECK_MS)
    assert said == [f"No face was found in {bad}; choose a photo with one face. "
                    "LiveCam keeps the previous avatar photo."]
    assert store.settings.avatar.photo == str(good) and not store.checking


def test_a_photo_check_that_runs_out_of_memory_is_a_refusal_not_a_crash(tmp_path, qtbot, monkeypatch):
    """Before: MemoryError (a huge photo's decode) escaped store.update, i.e. a Qt slot."""
    from livecam.analysis import avatar_photo as ap
    from livecam.gui.store import SettingsStore

    def out_of_memory(*_a, **_k):
        raise MemoryError

    monkeypatch.setattr(ap, "load_avatar_photo", out_of_memory)
    photo = tmp_path / "huge.jpg"
    photo.write_bytes(HOPPER.read_bytes())
    store = SettingsStore(S.Settings(), persist=False)
    said: list[str] = []
    store.rejected.connect(said.append)
    store.update(avatar={"mode": "swap", "photo": str(photo)})
    qtbot.waitUntil(lambda: bool(said), timeout=CHECK_MS)
    assert said == [f"The avatar photo {photo} could not be checked (MemoryError); choose it again or another "
                    "photo. Nothing was changed."]
    assert (store.settings.avatar.mode, store.settings.avatar.photo) == ("off", "")


def test_switching_the_avatar_off_while_its_photo_is_checked_keeps_it_off(tmp_path, qtbot, photo_check):
    """The user's newer choice of the same setting wins over the answer still to come."""
    from livecam.gui.store import SettingsStore

    _, gate, held = photo_check
    photo = tmp_path / "me.jpg"
    photo.write_bytes(HOPPER.read_bytes())
    held.add(photo.name)
    store = SettingsStore(S.Settings(), persist=False)
    store.update(avatar={"mode": "swap", "photo": str(photo)})
    store.update(avatar={"mode": "off"})
    gate.set()
    assert store.wait_for_checks(CHECK_MS / 1000)
    qtbot.wait(50)  # deliver the (dropped) answer
    assert store.settings.avatar.mode == "off" and not store.checking


# -- 2. render to a name ending in a slash


def test_render_to_a_folder_name_is_refused_and_writes_nothing(tmp_path, capsys):
    """Before: Path("o.mp4/") dropped the slash and the render wrote the file o.mp4."""
    from livecam.render import render_file

    clip = _clip(tmp_path / "in.mp4")
    settings = S.update(S.Settings(), background={"mode": "off"})
    assert render_file(str(clip), f"{tmp_path}/o.mp4/", settings, progress=False) == 1
    assert capsys.readouterr().err == (f"livecam: {tmp_path}/o.mp4/ ends in /, so it names a folder, not a video "
                                       "file; give the file's name without the / at the end.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


# -- 3. bench --frames has an upper bound


def test_bench_refuses_a_frame_count_it_would_never_finish():
    """Before: --frames 99999999999999999999 was accepted and ran until stopped."""
    from livecam import bench

    args = argparse.Namespace(frames=99999999999999999999, effects="blur", sizes="64x48")
    with pytest.raises(S.SettingsError) as caught:
        bench._checked(args)
    assert str(caught.value) == "--frames must be at most 100000 per configuration, not 99999999999999999999."
    assert bench._checked(argparse.Namespace(frames=100_000, effects="blur", sizes="64x48"))  # guard: the limit runs


# -- 4. eval's "no test data" is an error: stderr


def test_eval_without_test_data_says_so_on_stderr(tmp_path, capsys):
    """Before: the sentence went to stdout (a script keeping stdout read it as the result)."""
    from livecam import quality

    assert quality.main(argparse.Namespace(data=str(tmp_path / "none"), model="landscape", json=True)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"livecam eval: no test data at {tmp_path / 'none'}; pass --data PATH (the folder with masks/ "
                   "and video/).\n")


# -- 5. doctor does not call the effects ok beside a damaged model


def test_doctor_does_not_say_ok_about_effects_whose_model_is_damaged(tmp_path, monkeypatch):
    """Before: "[ok] The saved effects can all run (background)" under the damaged-model error."""
    from livecam import doctor
    from livecam.analysis import runtime

    copy = tmp_path / "models"
    shutil.copytree(runtime.models_dir(), copy)
    monkeypatch.setattr(runtime, "models_dir", lambda: copy)
    onnx = copy / "selfie_segmentation_landscape.onnx"
    onnx.write_bytes(onnx.read_bytes()[:1000])
    S.save(S.update(S.Settings(), background={"mode": "blur"}))
    lines = doctor._effect_lines()
    assert [status for status, _ in lines] == ["warn"]
    assert lines[0][1] == ("The saved effects' files can be used, but background runs on LiveCam's models, and a "
                           "model file is damaged (see above): reinstall LiveCam before a call.")


def test_doctor_still_says_ok_when_the_models_are_whole():
    """Guard."""
    from livecam import doctor

    S.save(S.update(S.Settings(), background={"mode": "blur"}))
    assert doctor._effect_lines() == [("ok", "The saved effects can all run (background).")]


# -- 6. a sound-only file is named as such


@pytest.fixture
def sound_only_file(tmp_path):
    import subprocess

    from livecam.recording import find_ffmpeg

    ffmpeg = find_ffmpeg()
    if not ffmpeg or not Path(ffmpeg).with_name("ffprobe").is_file():
        pytest.skip("ffmpeg and ffprobe are not installed")
    path = tmp_path / "memo.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=0.3", "-c:a", "aac", str(path)], check=True)
    return path


def test_render_of_a_sound_only_file_says_it_has_no_video(sound_only_file, tmp_path, capsys):
    """Before: "cannot be opened (damaged or an unsupported format); convert it to MP4 (H.264)" of an MP4."""
    from livecam.render import render_file

    assert render_file(str(sound_only_file), str(tmp_path / "o.mp4"), S.Settings(), progress=False) == 1
    assert capsys.readouterr().err == (f"livecam: {sound_only_file} has no video frames (it holds sound only); "
                                       "pass a video file.\n")
    assert not (tmp_path / "o.mp4").exists()


def test_a_damaged_file_is_still_called_damaged(tmp_path, sound_only_file):
    """Guard: only what ffprobe reads as sound-only gets the new sentence."""
    from livecam.capture import CaptureError, VideoReader

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 12)
    with pytest.raises(CaptureError, match=r"damaged or an unsupported format"):
        VideoReader(junk)


# -- 7. A comma-decimal locale (LC_NUMERIC) under the Qt front ends


@pytest.fixture(scope="module")
def comma_locale(tmp_path_factory):
    """Environment for a child process in de_DE.UTF-8 (decimal comma), compiled into a tmp folder
    (this machine ships only C and POSIX); skipped where localedef or its sources are missing."""
    import os
    import subprocess

    folder = tmp_path_factory.mktemp("locales")
    try:
        subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8", str(folder / "de_DE.UTF-8")],
                       capture_output=True, check=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("localedef cannot build de_DE.UTF-8 here")
    return {**os.environ, "LOCPATH": str(folder), "LC_ALL": "de_DE.UTF-8", "QT_QPA_PLATFORM": "offscreen"}


# The tray app's start (run_gui, in a child) with the app itself replaced by one that loads the
# landscape selfie model once the QApplication is up, as the real one does, and prints the model's mean
# person value on the Hopper portrait and the C library's decimal point then.
_MODEL_APP = """
import locale
import cv2

class App(StubApp):
    def start(self):
        from livecam.analysis.segmenter import Segmenter
        picture = cv2.imread(sys.argv[1])
        print(locale.localeconv()["decimal_point"], float(Segmenter("landscape").predict(picture).mean()))
        super().start()
"""


def _tray_child(env: dict) -> tuple[str, float]:
    from processes import run_gui_child

    point, mean = run_gui_child(_MODEL_APP, str(HOPPER), env=env).split()[-2:]
    return point, float(mean)


def test_the_tray_app_s_models_answer_the_same_under_a_comma_decimal_locale(comma_locale):
    """Before: QApplication set LC_NUMERIC from the environment and ONNX Runtime, imported after it,
    answered differently for good (mean person value 0.32 instead of 0.53 on this portrait)."""
    import livecam

    here = {**comma_locale, "PYTHONPATH": str(Path(livecam.__file__).resolve().parents[1])}  # this livecam
    plain = {**here, "LC_ALL": "C"}
    point, mean = _tray_child(here)
    _, wanted = _tray_child(plain)
    assert mean == wanted, "the same model on the same picture"
    assert point == "."


@pytest.mark.parametrize("argv, said", [
    (["run", "--edge", "0,5"], "argument --edge: '0,5' has a decimal comma; write it with a point: 0.5"),
    (["run", "--fps", "29,97"], "argument --fps: '29,97' is not a whole number; write it like 30"),
    (["run", "--blur", "0.5"], "argument --blur: '0.5' is not a whole number; write it like 30"),
])
def test_a_number_flag_written_the_wrong_way_says_how_to_write_it(argv, said, capsys):
    """Before: argparse's "invalid float value: '0,5'", which names a Python type and no fix."""
    from livecam import cli

    with pytest.raises(SystemExit) as stopped:
        cli.parse_args(cli.build_parser(), argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"livecam run: error: {said}"


# -- 8. The settings loader, as a property (a guard: it held on the start tree too)


def _json_values():
    from hypothesis import strategies as st

    scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=12))
    return st.recursive(scalars, lambda inner: (st.lists(inner, max_size=3)
                                                | st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                        max_leaves=12)


def _sections() -> dict[str, type]:
    import dataclasses

    return {f.name: type(getattr(S.Settings(), f.name)) for f in dataclasses.fields(S.Settings)}


def _valid_value(cls, f):
    from hypothesis import strategies as st

    from livecam.setting_fields import literal_choices, meta, value_type

    choices, kind, m = literal_choices(cls, f.name), value_type(cls, f.name), meta(f)
    if choices:
        return st.sampled_from(choices)
    if kind is bool:
        return st.booleans()
    if kind in (int, float) and m.range:
        lo, hi = m.range
        return st.integers(int(lo), int(hi)) if kind is int else st.floats(lo, hi)
    return st.just(f.default)  # paths and colours: their own tests


def test_any_json_in_the_settings_file_loads_without_raising_and_valid_fields_survive():
    import dataclasses
    import json

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sections = _sections()
    shaped = st.fixed_dictionaries({}, optional={
        name: st.dictionaries(st.sampled_from([f.name for f in dataclasses.fields(cls)]), _json_values(), max_size=3)
        for name, cls in sections.items()})
    valid = st.fixed_dictionaries({}, optional={
        name: st.fixed_dictionaries({}, optional={f.name: _valid_value(cls, f) for f in dataclasses.fields(cls)})
        for name, cls in sections.items()})
    path = S.settings_path()

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(shaped | _json_values())
    def anything_loads(data):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        written_long_ago(path)  # a broken file just written was waited for a second per example
        assert isinstance(S.load(), S.Settings)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(valid)
    def valid_fields_survive(data):
        path.unlink(missing_ok=True)  # the broken files above filled every backup slot: a save keeps those
        S.save(S.from_dict(data))
        loaded = S.load()
        for section, values in data.items():
            for name, value in values.items():
                assert getattr(getattr(loaded, section), name) == value

    anything_loads()
    valid_fields_survive()


_PREVIEW_CHILD = """
import locale, sys
import cv2
from livecam import output as outputs
from livecam.analysis.segmenter import Segmenter

window = outputs.OUTPUTS["preview"](64, 48, 30)  # `run --output preview` opens it before the first frame's models
picture = cv2.imread(sys.argv[1])
print(locale.localeconv()["decimal_point"], float(Segmenter("landscape").predict(picture).mean()))
window.close()
"""


def test_the_preview_window_leaves_numbers_alone_too(comma_locale):
    """Before: `run --output preview` made its QApplication before the models loaded: the same fault."""
    import subprocess
    import sys

    import livecam

    here = {**comma_locale, "PYTHONPATH": str(Path(livecam.__file__).resolve().parents[1])}
    answers = []
    for env in (here, {**here, "LC_ALL": "C"}):
        done = subprocess.run([sys.executable, "-c", _PREVIEW_CHILD, str(HOPPER)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        answers.append(done.stdout.split()[-2:])
    assert answers[0][1] == answers[1][1], "the same model on the same picture"
    assert answers[0][0] == "."


def test_a_model_that_runs_out_of_memory_is_named_in_the_log(monkeypatch, caplog):
    """Before: MemoryError's text is empty, and the log said "Analysis (mask) failed: . LiveCam
    bridges ..."; the kind of failure is what the user (or a bug report) needs."""
    import logging

    import onnxruntime as ort

    from livecam.pipeline import Pipeline

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(ort.InferenceSession, "run", out_of_memory)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur", "blur": 60}))
    frame = np.full((72, 128, 3), 120, np.uint8)
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            pipeline.process(frame)
    said = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert said and all("failed: ." not in line for line in said), said
    assert any("MemoryError." in line for line in said), said
