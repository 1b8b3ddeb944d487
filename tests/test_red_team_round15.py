"""Red team round 15: the front ends rounds 7-14 attacked least (presets, the settings window, the
offline render, the settings file).

Each test failed on the start tree (a899556) unless it says it is a guard."""
from __future__ import annotations

import json
import os

import pytest

from livecam import settings as S
from livecam.gui import presets
from processes import needs_ffmpeg

CHECK_MS = 60_000  # a bound on the file check running off the GUI thread (round 19), not a timing

# -- 1. A preset saved by an older LiveCam


def _old_preset(avatar_extra: dict) -> None:
    """A preset as an older LiveCam saved it: every field of every section, the avatar section with
    fields that have since moved (badge) or gone (keep_eyes_mouth), and no badge section."""
    data = S.to_dict(S.update(S.Settings(), background={"mode": "blur", "blur": 70}, touch_up={"strength": 40}))
    sections = {name: data[name] for name in presets.PRESET_SECTIONS if name != "badge"}
    sections["avatar"] = {**sections["avatar"], **avatar_extra}
    presets.presets_dir().mkdir(parents=True, exist_ok=True)
    (presets.presets_dir() / "office.json").write_text(json.dumps({"name": "Office", "settings": sections}))


@pytest.mark.parametrize("extra", [{"keep_eyes_mouth": True}, {"badge": False},
                                   {"keep_eyes_mouth": False, "badge": True}])
def test_a_preset_saved_by_an_older_livecam_switches(extra):
    """Before: the preset was checked in today's shape (the settings file's migration) and listed,
    then applied in its own shape: switching to it said "unknown setting: AvatarSettings.__init__()
    got an unexpected keyword argument 'keep_eyes_mouth'" and changed nothing."""
    _old_preset(extra)
    assert presets.list_presets() == ["Office"]
    new = presets.apply_preset("Office", S.Settings())
    assert (new.background.mode, new.background.blur, new.touch_up.strength) == ("blur", 70, 40)
    if "badge" in extra:
        assert new.badge.enabled is extra["badge"]  # the old field's meaning is kept, as the settings file's
    assert presets.matching_preset(new) == "Office"


# -- 2. An output name --overwrite cannot replace is not sent to --overwrite


@needs_ffmpeg
@pytest.mark.parametrize("kind", ["folder", "link", "fifo"])
def test_an_output_name_overwrite_cannot_replace_says_so_without_overwrite(tmp_path, kind):
    """Before: a folder, a symbolic link or a FIFO at the output name got "already exists and LiveCam
    does not replace files; ... or add --overwrite to replace it", and --overwrite then refused it
    ("is a folder", "never writes through one", "not a regular file"): two tries for one answer."""
    from livecam.recording import OutputError, VideoWriter

    target = tmp_path / "out.mp4"
    if kind == "folder":
        target.mkdir()
    elif kind == "link":
        (tmp_path / "real.mp4").write_bytes(b"keep")
        target.symlink_to(tmp_path / "real.mp4")
    else:
        os.mkfifo(target)
    said = []
    for overwrite in (False, True):
        with pytest.raises(OutputError) as caught:
            VideoWriter(target, 64, 48, 15, overwrite=overwrite, timing="frames", publish="end")
        said.append(str(caught.value))
    assert said[0] == said[1] and "--overwrite to replace" not in said[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.mp4"] + (["real.mp4"] if kind == "link" else []))


# -- 3. A background picture or video that cannot be used never reaches the settings file


def _video(path, frames: int) -> None:
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for n in range(frames):
        writer.write(np.full((48, 64, 3), 40 + n, np.uint8))
    writer.release()


@pytest.mark.parametrize("case", ["damaged jpeg", "video named .jpg", "missing picture", "text named .mp4",
                                  "missing video"])
def test_a_background_file_that_cannot_be_used_is_refused_and_the_last_good_one_kept(tmp_path, case, qtbot):
    """Before: the tray took the file, the live picture kept the previous background ("LiveCam keeps
    the previous background") while the settings file was given the broken name: the next start hid
    the whole picture behind a blur, and the user's last good background was gone from the file."""
    import cv2
    import numpy as np

    from livecam.gui.store import SettingsStore

    good = tmp_path / "office.png"
    cv2.imwrite(str(good), np.full((90, 160, 3), 120, np.uint8))
    S.save(S.update(S.Settings(), background={"mode": "image", "image": str(good)}))
    store = SettingsStore(S.load())
    said: list[str] = []
    store.rejected.connect(said.append)
    bad = tmp_path / {"damaged jpeg": "bad.jpg", "video named .jpg": "clip.jpg", "missing picture": "gone.png",
                      "text named .mp4": "notes.mp4", "missing video": "gone.mp4"}[case]
    if case == "damaged jpeg":
        bad.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)
    elif case == "video named .jpg":
        _video(bad, 5)
    elif case == "text named .mp4":
        bad.write_text("not a video\n")
    key = "video" if bad.suffix == ".mp4" else "image"
    store.update(background={"mode": key, key: str(bad)})  # checked off the GUI thread since round 19
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert len(said) == 1 and bad.name in said[0] and said[0].endswith("LiveCam keeps the previous background.")
    store.flush()
    assert store.settings.background.image == str(good) and store.settings.background.mode == "image"
    assert (S.load().background.mode, S.load().background.image) == ("image", str(good))


def test_a_usable_background_picture_or_video_is_taken(tmp_path, qtbot):
    """Guard: what the check lets through."""
    import cv2
    import numpy as np

    from livecam.gui.store import SettingsStore

    picture, clip = tmp_path / "p.jpg", tmp_path / "c.mp4"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 120, np.uint8))
    _video(clip, 5)
    store = SettingsStore(S.Settings(), persist=False)
    assert store.update(background={"mode": "image", "image": str(picture)})
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert store.update(background={"mode": "video", "video": str(clip)})
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert store.update(background={"blur": 30})  # unchanged files are not read again
    assert not store.checking
    assert (store.settings.background.mode, store.settings.background.video) == ("video", str(clip))


def test_a_preset_whose_picture_is_gone_is_refused_with_a_sentence(tmp_path, qtbot):
    """Before: switching to a preset whose background picture was deleted since took it: the live
    picture kept the previous background, the settings file got the missing name."""
    import cv2
    import numpy as np

    from livecam.gui.actions import LiveCamActions
    from livecam.gui.store import SettingsStore

    picture = tmp_path / "beach.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 200, np.uint8))
    presets.save_preset("Beach", S.update(S.Settings(), background={"mode": "image", "image": str(picture)}))
    picture.unlink()
    store = SettingsStore(S.update(S.Settings(), background={"mode": "blur", "blur": 40}), persist=False)
    actions = LiveCamActions(store)
    said: list[str] = []
    store.rejected.connect(said.append)
    actions.switch_preset("Beach")
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert len(said) == 1 and said[0].startswith("The preset 'Beach' was not applied: Background picture ")
    assert "beach.png does not exist" in said[0]
    assert (store.settings.background.mode, store.settings.background.blur) == ("blur", 40)


def _saved_by_cli(*argv: str) -> S.Settings:
    from livecam import cli

    return cli.settings_from_args(cli.build_parser().parse_args(["run", *argv, "--save"]))


def test_run_save_with_a_broken_background_keeps_the_saved_one(tmp_path, monkeypatch, caplog):
    """Before: `livecam run --background-image broken.jpg --save` wrote the broken name over the saved
    background; every later start hid the picture behind a blur. Now nothing is saved, and it says so."""
    import cv2
    import numpy as np

    monkeypatch.chdir(tmp_path)
    cv2.imwrite("office.png", np.full((90, 160, 3), 120, np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)
    _saved_by_cli("--background-image", "office.png")
    with caplog.at_level("WARNING"):
        used = _saved_by_cli("--background-image", "broken.jpg", "--blur", "30")
    assert used.background.image == "broken.jpg"  # this run still uses what was asked (and conceals)
    assert (S.load().background.image, S.load().background.blur) == (str(tmp_path / "office.png"), 60)
    assert any("broken.jpg is not a JPEG" in r.getMessage() and "Nothing was saved" in r.getMessage()
               for r in caplog.records)


def test_run_save_writes_files_named_from_here_as_full_paths(tmp_path, monkeypatch):
    """Before: `livecam run --source clip.mp4 --background-image office.png --save` saved "clip.mp4"
    and "office.png": started from another folder, LiveCam looked for them there (and the tray showed
    the names as if they were chosen)."""
    import cv2
    import numpy as np

    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    cv2.imwrite("office.png", np.full((90, 160, 3), 120, np.uint8))
    _video(tmp_path / "here" / "clip.mp4", 3)
    _saved_by_cli("--source", "clip.mp4", "--background-image", "office.png")
    saved = S.load()
    assert saved.capture.source == str(tmp_path / "here" / "clip.mp4")
    assert saved.background.image == str(tmp_path / "here" / "office.png")
    monkeypatch.chdir(tmp_path)
    _saved_by_cli("--source", "demo")  # names that are not files stay as typed
    assert S.load().capture.source == "demo" and S.load().background.image == str(tmp_path / "here" / "office.png")
