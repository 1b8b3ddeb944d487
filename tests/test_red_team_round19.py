"""Red team round 19: the choke points round 18 added (the store's file-check thread, ffprobe in
``livecam/streams.py``, the QApplication's locale in ``livecam/qt_app.py``, ``cli.number``) and the
GUI's remaining stalls (a chosen background picture or video checked on the GUI thread).

Each test failed on the start tree (2944994) unless it says it is a guard. tmp folders only; no
timed tests (a bound on a wait is a bound, never a measurement)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import FIXTURES

from livecam import settings as S

HOPPER = FIXTURES / "mpl_grace_hopper.jpg"
CHECK_MS = 60_000  # a bound on a check running off the GUI thread on a loaded machine, not a timing


@pytest.fixture
def held_checks(monkeypatch):
    """The two file checks (avatar photo load, background picture/video decode), replaced: each notes
    the file and whether it ran on the GUI thread, and waits for ``gate`` before answering for a file
    named in ``held``; a name holding "bad" is refused."""
    from livecam import chosen_files
    from livecam.analysis import avatar_photo as ap

    seen: list[tuple[str, bool]] = []
    gate, held = threading.Event(), set()

    def note(path) -> None:
        on_gui = threading.current_thread() is threading.main_thread()
        seen.append((Path(path).name, on_gui))
        if Path(path).name in held and not on_gui:
            gate.wait(CHECK_MS / 1000)  # bounded: a broken test fails, it does not hang

    def load(path, **_):
        note(path)
        if "bad" in Path(path).name:
            raise ap.AvatarPhotoError(f"No face was found in {path}; choose a photo with one face.")

    def background(old, new):
        for name in ("image", "video"):
            path = getattr(new, name)
            if path and path != getattr(old, name):
                note(path)
                if "bad" in Path(path).name:
                    return f"Background {name} {path} cannot be decoded; use another file."
        return None

    monkeypatch.setattr(ap, "load_avatar_photo", load)
    monkeypatch.setattr(chosen_files, "unusable_background", background)
    yield seen, gate, held
    gate.set()


@pytest.fixture
def tray(qtbot, held_checks):
    """The tray app (not started: no camera), its front the control window (offscreen has no tray)."""
    from livecam.gui.app import LiveCamApp

    app = LiveCamApp(S.Settings(), persist=False, prefer_tray=False)
    yield app
    held_checks[1].set()
    app.shutdown()
    assert app.wait_for_checks(CHECK_MS / 1000)


# -- 1. "Checking the photo …" while a picked photo is checked


def _pick_held_photo(tmp_path, tray, held, name):
    """A copy of the Hopper photo named ``name`` picked for the swap in ``tray``, its check held."""
    photo = tmp_path / name
    photo.write_bytes(HOPPER.read_bytes())
    held.add(name)
    tray.store.update(avatar={"mode": "swap", "photo": str(photo)})
    return photo


def test_the_settings_window_and_the_tray_say_a_photo_is_being_checked(tmp_path, qtbot, tray, held_checks):
    """Before: for the 0.1-2.4 s of the check the settings window and the tray showed the old photo
    name (none) as if the pick had been lost."""
    seen, gate, held = held_checks
    window = tray.settings_window
    photo = _pick_held_photo(tmp_path, tray, held, "me.jpg")
    assert tray.store.checking
    assert window.files["avatar.photo"].text() == "Checking the photo …"
    assert tray.actions.status.text() == "Checking the photo me.jpg …"
    assert "Checking the photo me.jpg …" in tray.front.message.text()
    assert "Checking the photo me.jpg …" in window.state_line.text()
    gate.set()
    qtbot.waitUntil(lambda: not tray.store.checking, timeout=CHECK_MS)
    assert tray.store.settings.avatar.photo == str(photo)
    assert window.files["avatar.photo"].text() == "me.jpg"
    assert tray.actions.status.text() == tray.bridge.message == "LiveCam is off."
    assert "Checking" not in tray.front.message.text() and "Checking" not in window.state_line.text()


def test_a_refused_photo_s_checking_line_gives_way_to_the_refusal(tmp_path, qtbot, tray, held_checks):
    seen, gate, held = held_checks
    window = tray.settings_window
    _pick_held_photo(tmp_path, tray, held, "bad.jpg")
    assert window.files["avatar.photo"].text() == "Checking the photo …"
    gate.set()
    qtbot.waitUntil(lambda: not tray.store.checking, timeout=CHECK_MS)
    assert tray.store.settings.avatar.mode == "off" and not tray.store.settings.avatar.photo
    assert window.files["avatar.photo"].text() == "none chosen"
    assert "No face was found" in window.state_line.text()
    assert tray.actions.status.text() == "LiveCam is off."


# -- 2. A chosen background picture or video is checked off the GUI thread too


@pytest.mark.parametrize("kind", ["video", "image"])
def test_a_background_file_is_checked_off_the_gui_thread(tmp_path, qtbot, held_checks, kind):
    """Before: the bounded decode ran in store.update on the GUI thread: 30-65 ms for a 1080p H.264
    clip, 45-320 ms for a 4K one, 230 ms for a 12 MP PNG, and without bound for a file on a slow drive."""
    from livecam.gui.store import SettingsStore

    seen, gate, held = held_checks
    path = tmp_path / ("clip.mp4" if kind == "video" else "beach.png")
    held.add(path.name)
    store = SettingsStore(S.Settings(), persist=False)
    said: list[str] = []
    store.checking_changed.connect(said.append)
    assert store.update(background={"mode": kind, kind: str(path)})
    assert store.checking and store.checked_fields == (f"background.{kind}",)
    word = "video" if kind == "video" else "picture"
    assert said == [f"Checking the {word} {path.name} …"]
    assert store.settings.background == S.Settings().background, "not taken before its check returned"
    gate.set()
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert seen == [(path.name, False)], "checked once, never on the GUI thread"
    assert (store.settings.background.mode, getattr(store.settings.background, kind)) == (kind, str(path))
    assert said[-1] == ""


def test_a_bad_background_video_is_refused_when_its_check_returns(tmp_path, qtbot, held_checks):
    from livecam.gui.store import SettingsStore

    store = SettingsStore(S.update(S.Settings(), background={"mode": "blur"}), persist=False)
    said: list[str] = []
    store.rejected.connect(said.append)
    store.update(background={"mode": "video", "video": str(tmp_path / "bad.mp4")})
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert said == [f"Background video {tmp_path / 'bad.mp4'} cannot be decoded; use another file. "
                    "LiveCam keeps the previous background."]
    assert store.settings.background.mode == "blur"


# -- 3. The check thread's choke points


def test_a_check_that_raises_a_base_exception_still_answers(tmp_path, qtbot, monkeypatch):
    """Before: a check that raised SystemExit/KeyboardInterrupt (not an Exception) was kept in the
    executor's future: no answer came back, the pick was lost in silence and ``checking`` stayed True."""
    from livecam.gui import store as store_module

    def check(old, new):
        raise SystemExit(3)

    monkeypatch.setattr(store_module, "unusable_choice", check)
    store = store_module.SettingsStore(S.Settings(), persist=False)
    said: list[str] = []
    store.rejected.connect(said.append)
    store.update(avatar={"mode": "swap", "photo": str(HOPPER)})
    qtbot.waitUntil(lambda: not store.checking, timeout=20_000)
    assert said == ["The chosen files could not be checked (SystemExit); choose them again. Nothing was changed."]
    assert store.settings.avatar.mode == "off"


def test_a_check_that_never_returns_is_refused_and_the_next_pick_is_checked(tmp_path, qtbot, monkeypatch,
                                                                            held_checks):
    """Before: nothing bounded the check: a photo on a hung network drive stayed "being checked" for
    ever, and every later pick queued behind it on the one check thread, never answered."""
    from livecam.gui import store as store_module

    seen, gate, held = held_checks
    monkeypatch.setattr(store_module, "CHECK_LIMIT_S", 0.2)
    stuck, good = tmp_path / "stuck.jpg", tmp_path / "good.jpg"
    held.add(stuck.name)
    store = store_module.SettingsStore(S.Settings(), persist=False)
    said: list[str] = []
    store.rejected.connect(said.append)
    store.update(avatar={"mode": "swap", "photo": str(stuck)})
    qtbot.waitUntil(lambda: bool(said), timeout=CHECK_MS)
    assert said == ["The photo stuck.jpg could not be checked within 0.2 s (a slow or unreachable drive?); choose "
                    "it again, or copy it to this computer first. Nothing was changed."]
    assert not store.checking and store.settings.avatar.mode == "off"
    monkeypatch.setattr(store_module, "CHECK_LIMIT_S", CHECK_MS / 1000)
    store.update(avatar={"mode": "swap", "photo": str(good)})
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert store.settings.avatar.photo == str(good), "checked on a new thread while the old one hangs"
    gate.set()  # the stuck check comes back late: its answer is dropped
    qtbot.waitUntil(lambda: len(seen) == 2 and store.wait_for_checks(0), timeout=CHECK_MS)
    qtbot.wait(50)
    assert store.settings.avatar.photo == str(good) and said == said[:1]


_QUIT_CHILD = """
import sys, threading
from PySide6 import QtWidgets
from livecam import settings as S
from livecam.gui import store as store_module
QtWidgets.QApplication([])
store_module.unusable_choice = lambda old, new: threading.Event().wait()  # a drive that never answers
store = store_module.SettingsStore(S.Settings(), persist=False)
store.update(avatar={"mode": "swap", "photo": sys.argv[1]})
print("checking" if store.checking else "not checking", flush=True)
"""


def test_quitting_while_a_check_hangs_does_not_hang_livecam(tmp_path):
    """Before: the check ran on a ThreadPoolExecutor thread, which Python joins at exit: LiveCam,
    quit while a photo on a hung drive was checked, never exited."""
    import livecam

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(Path(livecam.__file__).resolve().parents[1])}
    try:
        done = subprocess.run([sys.executable, "-c", _QUIT_CHILD, str(HOPPER)], env=env, capture_output=True,
                              text=True, timeout=120)  # a bound on a hang, not a timing
    except subprocess.TimeoutExpired:
        pytest.fail("LiveCam did not exit while a file check hung")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["checking"]


def test_a_preset_switch_during_a_check_wins_over_the_checked_photo(tmp_path, qtbot, held_checks):
    """Guard: the preset chosen while a photo is checked is applied; the photo's late answer is dropped."""
    from livecam.gui import presets
    from livecam.gui.actions import LiveCamActions
    from livecam.gui.store import SettingsStore

    seen, gate, held = held_checks
    photo = tmp_path / "me.jpg"
    held.add(photo.name)
    presets.save_preset("Plain", S.update(S.Settings(), background={"mode": "blur", "blur": 40}))
    store = SettingsStore(S.Settings(), persist=False)
    actions = LiveCamActions(store)
    store.update(avatar={"mode": "swap", "photo": str(photo)})
    assert store.checking
    assert actions.switch_preset("Plain")
    assert not store.checking and store.settings.background.blur == 40
    gate.set()
    qtbot.waitUntil(lambda: store.wait_for_checks(0), timeout=CHECK_MS)
    qtbot.wait(50)
    assert store.settings.avatar.mode == "off" and not store.settings.avatar.photo


# -- 4. ffprobe (livecam/streams.py)


@pytest.fixture
def fake_ffprobe(tmp_path, monkeypatch):
    """An ffprobe beside a fake ffmpeg, running the shell lines the test gives."""
    from livecam import ffmpeg_tool

    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "ffmpeg").write_text("#!/bin/sh\nexit 0\n")
    monkeypatch.setattr(ffmpeg_tool, "find_ffmpeg", lambda: str(folder / "ffmpeg"))

    def make(body: str) -> Path:
        probe = folder / "ffprobe"
        probe.write_text(f"#!/bin/sh\n{body}\n")
        probe.chmod(0o755)
        return probe

    return make


@pytest.mark.parametrize("body", ["exec sleep 30", "sleep 30 & wait", "printf 'audio\\n\\377\\376video\\n'",
                                  "head -c 100000 /dev/urandom", "echo audio; exit 1", "kill -SEGV $$"])
def test_an_ffprobe_that_hangs_crashes_or_prints_garbage_says_no(tmp_path, monkeypatch, fake_ffprobe, body):
    """Guard: "not sound-only" (the general sentence stands) for whatever a broken ffprobe does; a hung
    one (its child holding the pipe, too) is killed at the time limit."""
    from livecam import streams

    monkeypatch.setattr(streams, "PROBE_TIMEOUT_S", 0.5)
    fake_ffprobe(body)
    memo = tmp_path / "memo.m4a"
    memo.write_bytes(b"\0" * 64)
    assert streams.sound_only(memo) is False


def test_without_ffprobe_nothing_is_asked(tmp_path, monkeypatch):
    """Guard."""
    from livecam import ffmpeg_tool, streams

    monkeypatch.setattr(ffmpeg_tool, "find_ffmpeg", lambda: None)
    assert streams.sound_only(tmp_path / "memo.m4a") is False
    monkeypatch.setattr(ffmpeg_tool, "find_ffmpeg", lambda: str(tmp_path / "ffmpeg"))  # no ffprobe beside it
    assert streams.sound_only(tmp_path / "memo.m4a") is False


@pytest.mark.parametrize("name", ["-i memo.m4a", "voice\nmemo.m4a", "http:memo.m4a", "-"])
def test_odd_file_names_are_probed_as_the_file_itself(tmp_path, monkeypatch, name):
    """Guard: names that look like options, URLs or hold a newline reach ffprobe as a descriptor."""
    import shutil

    from livecam import streams

    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("needs ffmpeg and ffprobe")
    monkeypatch.chdir(tmp_path)
    memo = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.3", "-c:a", "aac", "-f", "mp4",
                    "file:" + str(memo)], check=True, timeout=60)
    assert streams.sound_only(name) is True
    assert streams.sound_only(str(memo)) is True


# -- 5. The QApplication's locale (livecam/qt_app.py)

_LOCALE_CHILD = """
import locale
from livecam import settings as S
from livecam.qt_app import application
from livecam.gui.app import LiveCamApp
app = application(["livecam"])
live = LiveCamApp(S.Settings(), persist=False, prefer_tray=False)
window = live.settings_window
window.show()
from PySide6 import QtWidgets
QtWidgets.QColorDialog(window)
QtWidgets.QFileDialog(window)
app.processEvents()
print(locale.setlocale(locale.LC_NUMERIC), locale.localeconv()["decimal_point"])
live.shutdown()
live.wait_for_checks(60)
"""


@pytest.mark.parametrize("lc_all", ["xx_YY.UTF-8", "de_DE.UTF-8"])
def test_lc_numeric_stays_c_whatever_the_locale(lc_all, tmp_path_factory):
    """Guard: a locale that cannot be set starts the tray app all the same, and under a comma locale
    in LC_ALL the C library's numbers stay C through the settings window and its dialogs."""
    import livecam

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LC_ALL": lc_all, "HOME": str(tmp_path_factory.mktemp("h")),
           "PYTHONPATH": str(Path(livecam.__file__).resolve().parents[1])}
    if lc_all.startswith("de_DE"):
        folder = tmp_path_factory.mktemp("locales")
        try:
            subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8", str(folder / lc_all)],
                           capture_output=True, check=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            pytest.skip("localedef cannot build de_DE.UTF-8 here")
        env["LOCPATH"] = str(folder)
    done = subprocess.run([sys.executable, "-c", _LOCALE_CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["C", "."]


# -- 6. Number flags (cli.number)


def _flag_error(capsys, *argv: str) -> str:
    """The last line ``livecam run ARGV`` writes to stderr, where it stops before opening anything."""
    from livecam import cli

    try:
        code = cli.main(["run", "--source", "demo", "--output", "null", *argv])
    except SystemExit as exc:
        code = exc.code
    assert code in (1, 2)
    return capsys.readouterr().err.strip().splitlines()[-1]


HUGE = "1" + "0" * 400


@pytest.mark.parametrize("argv, words", [
    (("--fps", HUGE), "livecam: --fps must be between 1 and 240, not 10000000000000000000... (401 characters)."),
    (("--threads", HUGE), "livecam: --threads must be between 0 and 64, not 10000000000000000000... "
                          "(401 characters)."),
    (("--edge", "1e400"), "livecam run: error: argument --edge: '1e400' is too large a number; write it like 0.5"),
    (("--edge", "nan"), "livecam run: error: argument --edge: 'nan' is not a number; write it like 0.5"),
    (("--smoothing", "-inf"), "livecam run: error: argument --smoothing: '-inf' is too large a negative number; "
                              "write it like 0.5"),
    (("--fps", "9" * 5000), "livecam run: error: argument --fps: '99999999999999999999…' (5000 characters) is too "
                            "large a number; write it like 30"),
])
def test_number_flags_out_of_any_range_get_one_sentence(argv, words, capsys):
    """Before: --fps/--threads with a 400-digit number: OverflowError traceback ("{:g}" of an int too
    large for a float); 1e400 was refused as "not inf", nan as "not nan"; a 5000-digit number was
    "not a whole number" and quoted whole."""
    assert _flag_error(capsys, *argv) == words


def test_number_flags_in_range_are_still_numbers():
    """Guard."""
    from livecam import cli

    assert cli.number(float)("0.5") == 0.5 and cli.number(float)("-1") == -1.0
    assert cli.number(int)("1_000") == 1000 and cli.number(int)(" 30 ") == 30
    with pytest.raises(argparse.ArgumentTypeError, match="decimal comma"):
        cli.number(float)("0,5")
