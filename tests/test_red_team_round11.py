"""Red team, round 11: the command line and the file pickers under faults nobody listed.

1. `livecam bench` took its own arguments unchecked: --frames 0 (or less) ended in an IndexError
   traceback after the runs, --sizes 0x0 in a cv2.error from the resize, an empty or malformed
   --sizes in a ValueError traceback, an odd side (161x121) in a cv2.error from the I420
   conversion, and --effects "" measured nothing and exited 0. A bench in
   which every row was skipped (a clip that does not decode, a provider that is not there) also
   exited 0, so a script read an empty report as a measurement. A pipe given as --clip hung the
   bench for good (the decoder waits for a writer; SIGTERM cannot interrupt it). Now each bad
   value is one sentence and exit status 2, the clip is opened once by render's VideoReader (a pipe,
   folder, device or undecodable file: one sentence, status 1), and a bench that measured nothing
   exits 1.
2. An avatar photo that is a folder, a device or a pipe was "does not exist; pick another file",
   sending the user looking for a file that is there; a name too long for the file system was
   "[Errno 36] File name too long: '…'" with the whole path (an OSError from the existence check,
   out of the avatar's own sentences). Now the reader's sentence says what the thing is.
3. A broken settings file (or a config folder other users may write to) was warned about at every
   read: `livecam doctor` reads the settings in two of its checks and printed the same sentence
   twice, the tray more often. settings.load now says it once per file as it is (a changed or
   replaced file is told again); the backup rule is unchanged.
4. A preset name of 60 letters outside the Basic Multilingual Plane (mathematical letters, CJK
   Extension B: 4 bytes each in UTF-8) passed the name check (at most 60 characters) and its file
   name fits (245 bytes), but saving it failed with "the name is too long": the temporary file
   beside it carried the whole name plus 14 bytes. write_private now shortens the temporary name.
"""
from __future__ import annotations

import argparse
import logging
import os
import string
import subprocess
import sys

import cv2
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from conftest import written_long_ago

from livecam import bench, cli
from livecam import settings as S
from livecam.analysis import avatar_photo
from livecam.analysis.avatar_photo import AvatarPhotoError, load_avatar_photo, read_photo
from livecam.gui import presets
from livecam.private_files import write_private
from livecam.settings import SettingsError


# ------------------------------------------------------------------ 1. bench arguments

def _bench(*extra: str) -> list[str]:
    return ["bench", "--no-baseline", "--frames", "2", "--sizes", "160x120", "--effects", "blur", *extra]


@pytest.mark.parametrize("flag, value, words", [
    ("--frames", "0", "--frames must be 1 or more, not 0."),
    ("--frames", "-5", "--frames must be 1 or more, not -5."),
    ("--sizes", "0x0", "--sizes: a width must be between 16"),
    ("--sizes", "640x99999", "--sizes: a height must be between 16 and 4320"),
    ("--sizes", "", "--sizes must be a comma list like 1280x720,1920x1080"),
    ("--sizes", "640x480,", "--sizes must be a comma list"),
    ("--sizes", "wide", "--sizes must be a comma list"),
    ("--sizes", "161x121", "--sizes: each side must be an even number of pixels, not '161x121'."),
    ("--effects", " , ", "--effects names no effect"),
])
def test_a_bad_bench_argument_is_one_sentence_and_status_2(tmp_path, capsys, flag, value, words):
    argv = _bench()
    argv[argv.index(flag) + 1] = value
    assert cli.main(argv) == 2  # was 1 with a traceback (IndexError, cv2.error, ValueError) or 0
    said = capsys.readouterr()
    lines = said.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in said.err, said.err
    assert said.out == ""  # nothing ran, no empty table


def test_a_bench_that_measured_nothing_exits_1(capsys):
    from livecam.resources import demo_clip_path

    assert cli.main(_bench("--clip", str(demo_clip_path()), "--provider", "bogus")) == 1  # was 0
    said = capsys.readouterr()
    assert "skipped: blur @ 160x120: runtime.provider is 'bogus'" in said.out
    assert said.err.strip().splitlines()[-1] == "livecam bench: nothing was measured; each row's reason is above."


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_bench_clip_that_is_a_pipe_is_one_sentence_not_a_hang(tmp_path):
    """The decoder opened a pipe named as the clip and waited for a writer for good; LiveCam's SIGTERM
    handler could not run inside it, so only SIGKILL ended `livecam bench`."""
    pipe = tmp_path / "clip.mp4"
    os.mkfifo(pipe)
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    for clip in (pipe, folder):
        done = subprocess.run([sys.executable, "-m", "livecam", *_bench("--clip", str(clip))], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().splitlines()[-1] == f"livecam bench: {clip} is not a regular file; pass a video file."


_SIZE_TEXT = st.one_of(
    st.text(alphabet=string.digits + "x,-+ .", max_size=20),
    st.lists(st.tuples(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6)), max_size=3).map(
        lambda pairs: ",".join(f"{w}x{h}" for w, h in pairs)),
)


@hsettings(max_examples=300, deadline=None)
@given(frames=st.integers(-10**9, 10**9), sizes=_SIZE_TEXT, effects=st.text(" ,blur", max_size=8))
def test_bench_arguments_are_either_usable_or_one_sentence(frames, sizes, effects):
    args = argparse.Namespace(frames=frames, sizes=sizes, effects=effects)
    try:
        checked, names = bench._checked(args)
    except SettingsError as exc:
        assert "\n" not in str(exc) and str(exc).endswith(".")
        return
    assert frames >= 1 and names and all(n.strip() == n and n for n in names)
    assert checked and all(16 <= w <= 7680 and 16 <= h <= 4320 and w % 2 == h % 2 == 0 for w, h in checked)


# ------------------------------------------------------------------ 2. avatar photo paths

def test_an_avatar_photo_that_is_a_folder_is_called_a_folder(tmp_path):
    folder = tmp_path / "portrait.jpg"
    folder.mkdir()
    with pytest.raises(AvatarPhotoError) as caught:
        read_photo(folder)
    assert "is a folder, not an image" in str(caught.value) and "does not exist" not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_an_avatar_photo_that_is_a_pipe_is_not_called_missing(tmp_path):
    pipe = tmp_path / "portrait.jpg"
    os.mkfifo(pipe)
    with pytest.raises(AvatarPhotoError) as caught:
        read_photo(pipe)  # the reader opens it without blocking
    assert "is a pipe or a device, not an image; choose a JPEG, PNG, WebP, BMP or TIFF file." in str(caught.value)
    assert "does not exist" not in str(caught.value)


def test_a_missing_avatar_photo_is_still_called_missing(tmp_path):
    with pytest.raises(AvatarPhotoError, match="does not exist; pick another file"):
        read_photo(tmp_path / "gone.jpg")


def test_an_avatar_photo_name_too_long_is_a_sentence_not_errno_36(tmp_path):
    long_name = tmp_path / ("x" * 300 + ".jpg")  # over NAME_MAX (255) on every Linux file system
    for call in (lambda: read_photo(long_name), lambda: load_avatar_photo(long_name)):
        with pytest.raises(AvatarPhotoError) as caught:  # was OSError: [Errno 36] File name too long
            call()
        said = str(caught.value)
        assert "cannot be read (file name too long" in said.lower() and "choose another picture" in said
        assert "Errno" not in said and len(said) < 260  # the path shortened, not 300 x's


def test_a_usable_photo_still_loads(tmp_path):
    """Guard: the changed existence check lets a real photo through to the fit (and its kept copy)."""
    photo = tmp_path / "me.png"
    cv2.imwrite(str(photo), cv2.imread(str(__import__("conftest").FIXTURES / "sk_astronaut.png")))
    loaded = load_avatar_photo(photo)
    assert loaded.image.ndim == 3 and loaded.landmarks.shape[1] >= 2
    assert loaded.path.parent == avatar_photo.store_dir()


# ------------------------------------------------------------------ 3. one warning per broken settings file

def _warned(caplog, path=None) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="livecam"):
        S.load(path)
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_doctor_says_a_broken_settings_file_once(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path))
    (tmp_path / "settings.json").write_text("{garbage")
    with caplog.at_level(logging.WARNING, logger="livecam"):
        cli.main(["doctor"])
    said = [r.getMessage() for r in caplog.records if "is broken" in r.getMessage()]
    assert len(said) == 1, said  # was 2: the effects check and the person-mask check each read it
    assert "the original is kept as" in said[0] and (tmp_path / "settings.json.bak").read_text() == "{garbage"


def test_a_broken_settings_file_is_told_again_once_it_changes(tmp_path, caplog):
    path = tmp_path / "settings.json"
    path.write_text("{first")
    written_long_ago(path)
    assert len(_warned(caplog, path)) == 1 and _warned(caplog, path) == []
    path.write_text("{second, longer")
    written_long_ago(path)
    again = _warned(caplog, path)
    assert len(again) == 1 and "settings.json.bak.2" in again[0]


def test_a_shared_config_folder_is_told_once(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "settings.json").write_text("{}")
    folder.chmod(0o777)
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(folder))
    first, second = _warned(caplog), _warned(caplog)
    assert len(first) == 1 and "can be written by other users" in first[0] and second == []
    folder.chmod(0o757)  # still not private, but another state: said again
    assert len(_warned(caplog)) == 1


# ------------------------------------------------------------------ 4. a long allowed name, written

def test_a_sixty_letter_preset_name_in_four_byte_letters_is_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "config"))
    name = "\U0001d400" * presets.MAX_NAME  # MATHEMATICAL BOLD CAPITAL A: a letter, 4 bytes in UTF-8
    chosen = S.update(S.Settings(), background={"mode": "blur", "blur": 37})
    saved = presets.save_preset(name, chosen)  # was PresetError: "... the name is too long"
    assert len(os.fsencode(saved.name)) == 245 and presets.list_presets() == [name]
    assert presets.apply_preset(name, S.Settings()).background.blur == 37
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no temporary file left
    assert saved.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("length", [200, 245, 255])
def test_write_private_takes_any_name_the_file_system_takes(tmp_path, length):
    path = tmp_path / ("n" * (length - 5) + ".json")
    for overwrite in (False, True):  # a new file (link), then replacing it (rename)
        if overwrite:
            write_private(path, b"second", overwrite=True)
        else:
            write_private(path, b"first", overwrite=False)
    assert path.read_bytes() == b"second" and sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("kind", ["folder", "pipe", "device", "long name", "missing", "dangling link"])
@pytest.mark.parametrize("what", ["picture", "video"])
def test_a_background_path_is_called_missing_only_when_nothing_is_there(tmp_path, kind, what):
    """The background picker had the avatar photo's fault: a folder, a pipe or /dev/zero was "does
    not exist", a 300-character name "[Errno 36] ..."; one check (media.nothing_at) decides for both."""
    from livecam.effects.background import BackgroundError, VideoBackground, load_background_image

    path = tmp_path / ("x" * 300 if kind == "long name" else "room")
    if kind == "folder":
        path.mkdir()
    elif kind == "pipe":
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"
    elif kind == "dangling link":
        path.symlink_to(tmp_path / "gone")
    with pytest.raises(BackgroundError) as caught:
        load_background_image(str(path)) if what == "picture" else VideoBackground(str(path))
    said = str(caught.value)
    assert ("does not exist" in said) == (kind in ("missing", "dangling link")), said
    assert "Errno" not in said and "\n" not in said and len(said) < 300, said
