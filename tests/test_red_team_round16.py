"""Red team round 16: an avatar photo that cannot be used is refused where it is chosen (the tray, a
preset switch, ``run --save``) with the avatar effect's own sentence, and the last good photo is kept.

Each test failed on the start tree (a899556) unless it says it is a guard."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from livecam import settings as S
from livecam.analysis import avatar_photo as ap
from livecam.analysis.avatar_photo import AvatarPhotoError, load_avatar_photo

HOPPER = FIXTURES / "mpl_grace_hopper.jpg"
ASTRONAUT = FIXTURES / "sk_astronaut.png"
CHECK_MS = 60_000  # a bound on the photo check running off the GUI thread on a loaded machine, not a timing

pytestmark = pytest.mark.skipif(not (HOPPER.is_file() and ASTRONAUT.is_file()), reason="fixture photos absent")

# -- 1. An avatar photo that cannot be used never replaces the last good one


@pytest.fixture(scope="module")
def hopper_fit():
    image = cv2.imread(str(HOPPER))
    landmarks, _ = ap.fit_face(image)
    return image, landmarks


def _bad_photo(folder: Path, case: str, hopper_fit) -> Path:
    """A photo the avatar effect refuses, of the kind ``case`` names."""
    image, lm = hopper_fit
    path = folder / f"{case.replace(' ', '_')}.png"
    if case == "no face":
        picture = np.full((300, 400, 3), 128, np.uint8)
    elif case == "two faces":
        picture = np.hstack([cv2.resize(image, (512, 512)), cv2.imread(str(ASTRONAUT))])
    elif case == "one pixel":
        picture = np.full((1, 1, 3), 200, np.uint8)
    elif case == "cut by the border":
        picture = image[:, int(lm[1, 0]) - 20:]  # the face's right half cut away
    else:  # eyes hidden: dark lenses over both eyes
        picture = image.copy()
        for eye in (ap.regions.RIGHT_EYE, ap.regions.LEFT_EYE):
            centre, size = lm[list(eye), :2].mean(0), np.ptp(lm[list(eye), :2], 0)
            cv2.ellipse(picture, tuple(int(v) for v in centre), tuple(int(v) for v in size * (0.8, 1.5)), 0, 0, 360,
                        (25, 22, 20), -1)
    cv2.imwrite(str(path), picture)
    return path


def _effects_sentence(path: Path) -> str:
    """What the avatar effect says when it refuses ``path`` (nothing stored)."""
    with pytest.raises(AvatarPhotoError) as caught:
        load_avatar_photo(path, store=False)
    return str(caught.value)


CASES = ["no face", "two faces", "one pixel", "cut by the border", "eyes hidden"]


@pytest.mark.parametrize("case", CASES)
def test_an_avatar_photo_the_effect_refuses_is_refused_in_the_tray_and_the_last_good_one_kept(
        tmp_path, case, hopper_fit, qtbot):
    """Before: the tray took the photo and saved it over the last good one in the settings file; only
    the effect then said why (and the next start had no usable photo)."""
    from livecam.gui.store import SettingsStore

    good = tmp_path / "me.jpg"
    good.write_bytes(HOPPER.read_bytes())
    S.save(S.update(S.Settings(), avatar={"mode": "swap", "photo": str(good)}))
    store = SettingsStore(S.load())
    said: list[str] = []
    store.rejected.connect(said.append)
    bad = _bad_photo(tmp_path, case, hopper_fit)
    store.update(avatar={"photo": str(bad)})  # checked off the GUI thread (round 18)
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert said == [f"{_effects_sentence(bad)} LiveCam keeps the previous avatar photo."]
    assert bad.name in said[0]
    store.flush()
    assert (store.settings.avatar.mode, store.settings.avatar.photo) == ("swap", str(good))
    assert S.load().avatar.photo == str(good)
    assert ap.stored_copy(bad) is None  # no private copy of a refused photo


def test_turning_the_avatar_on_with_a_refused_photo_changes_nothing(tmp_path, hopper_fit, qtbot):
    """Before: turning the avatar on in the tray with a photo of no face took it: the avatar was on,
    with nothing it could show, and the file named the photo."""
    from livecam.effects import REGISTRY
    from livecam.gui.actions import LiveCamActions
    from livecam.gui.store import SettingsStore

    store = SettingsStore(S.Settings(), persist=False)
    actions = LiveCamActions(store)
    bad = _bad_photo(tmp_path, "no face", hopper_fit)
    actions.ask_file = lambda *_: str(bad)
    said: list[str] = []
    store.rejected.connect(said.append)
    spec = next(s for s in REGISTRY if s.section == "avatar")
    actions.set_choice(spec, "mode", "swap")
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert said == [f"{_effects_sentence(bad)} Nothing was changed."]
    assert (store.settings.avatar.mode, store.settings.avatar.photo) == ("off", "")


def test_a_usable_avatar_photo_is_taken_and_fitted_once(tmp_path, monkeypatch, qtbot):
    """What the check lets through, and the effect built next fits nothing again (before: the photo
    was first fitted by the effect, so the stub below failed)."""
    from livecam.gui.store import SettingsStore

    photo = tmp_path / "me.jpg"
    photo.write_bytes(HOPPER.read_bytes())
    store = SettingsStore(S.Settings(), persist=False)
    assert store.update(avatar={"mode": "animate", "photo": str(photo)})
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert store.settings.avatar.photo == str(photo)
    assert store.update(avatar={"own_eyes_mouth": True})  # an unchanged photo is not read again
    monkeypatch.setattr(ap, "fit_face", lambda *a, **k: pytest.fail("the photo was fitted twice"))
    assert load_avatar_photo(photo).path == ap.stored_copy(photo)
    assert (os.stat(ap.stored_copy(photo)).st_mode & 0o777) == 0o600


def test_a_preset_whose_photo_is_refused_is_not_applied(tmp_path, hopper_fit, qtbot):
    """Before: switching to a preset whose avatar photo had been replaced by one with no face (or
    deleted, with no kept copy) took it and saved it."""
    from livecam.gui import presets
    from livecam.gui.actions import LiveCamActions
    from livecam.gui.store import SettingsStore

    photo = tmp_path / "holiday.png"
    cv2.imwrite(str(photo), cv2.imread(str(HOPPER)))
    presets.save_preset("Holiday", S.update(S.Settings(), avatar={"mode": "swap", "photo": str(photo)}))
    _bad_photo(tmp_path, "no face", hopper_fit).replace(photo)
    store = SettingsStore(S.update(S.Settings(), background={"mode": "blur", "blur": 40}), persist=False)
    actions = LiveCamActions(store)
    said: list[str] = []
    store.rejected.connect(said.append)
    actions.switch_preset("Holiday")
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert said == [f"The preset 'Holiday' was not applied: {_effects_sentence(photo)} Nothing was changed."]
    assert (store.settings.avatar.mode, store.settings.background.blur) == ("off", 40)


def test_a_preset_whose_photo_moved_but_is_kept_is_applied(tmp_path, qtbot):
    """Guard: the check finds the kept copy of a moved original as the effect does."""
    from livecam.gui import presets
    from livecam.gui.actions import LiveCamActions
    from livecam.gui.store import SettingsStore

    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(HOPPER.read_bytes())
    load_avatar_photo(photo)  # the effect ran with it once: a private copy is kept
    presets.save_preset("Holiday", S.update(S.Settings(), avatar={"mode": "swap", "photo": str(photo)}))
    photo.unlink()
    store = SettingsStore(S.Settings(), persist=False)
    assert LiveCamActions(store).switch_preset("Holiday")
    qtbot.waitUntil(lambda: not store.checking, timeout=CHECK_MS)
    assert store.settings.avatar.photo == str(photo)


def test_run_save_with_a_refused_photo_keeps_the_saved_one(tmp_path, monkeypatch, caplog, hopper_fit):
    """Before: `livecam run --avatar group.png --save` wrote the refused photo over the saved one."""
    from livecam import cli

    monkeypatch.chdir(tmp_path)
    Path("me.jpg").write_bytes(HOPPER.read_bytes())
    bad = _bad_photo(tmp_path, "two faces", hopper_fit)

    def saved_by_cli(*argv: str) -> S.Settings:
        return cli.settings_from_args(cli.build_parser().parse_args(["run", *argv, "--save"]))

    saved_by_cli("--avatar", "me.jpg")
    with caplog.at_level("WARNING"):
        used = saved_by_cli("--avatar", bad.name, "--blur", "30")
    assert used.avatar.photo == bad.name  # this run still uses what was asked (and the effect refuses it)
    assert (S.load().avatar.photo, S.load().background.blur) == (str(tmp_path / "me.jpg"), 60)
    assert any(r.getMessage() == f"{_effects_sentence(bad)} Nothing was saved; give a file that works with --save."
               for r in caplog.records)
