"""Red team round 22: three known gaps (a file pick still being checked at quit, the picture list
during a check, a library's words as the sentence of a failed build) and the faults found by
attacking the choke points again.

Each test failed on the start tree (f4824b6) unless it says it is a guard. tmp folders only; no
timed tests (a bound on a wait is a bound, never a measurement)."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from pixels import is_hidden
from test_red_team_round19 import CHECK_MS, HOPPER, held_checks  # noqa: F401 - a fixture

from livecam import settings as S

# -------------------------------------------------------------- 1. a pick still being checked at quit


@pytest.fixture
def saving_tray(qtbot, held_checks, monkeypatch):  # noqa: F811 - the fixture imported above
    """The tray app that saves its settings (to the test's own folder), not started (no camera)."""
    from livecam.gui.app import LiveCamApp

    app = LiveCamApp(S.Settings(), persist=True, prefer_tray=False)
    yield app
    held_checks[1].set()
    app.shutdown()
    assert app.wait_for_checks(CHECK_MS / 1000)


def _photo(tmp_path: Path, name: str) -> Path:
    photo = tmp_path / name
    photo.write_bytes(HOPPER.read_bytes())
    return photo


def test_a_photo_whose_check_passed_just_before_quit_is_saved(tmp_path, saving_tray, held_checks):
    """Before: the answer came back through the event loop, which Quit had ended, and the settings
    were saved before the wait: the photo picked a moment before Quit was gone at the next start."""
    seen, gate, held = held_checks
    photo = _photo(tmp_path, "me.jpg")
    held.add(photo.name)
    saving_tray.store.update(avatar={"mode": "swap", "photo": str(photo)})
    assert saving_tray.store.checking
    gate.set()
    assert saving_tray.store.wait_for_checks(CHECK_MS / 1000)  # answered, the answer not yet delivered
    saving_tray.shutdown()
    assert (S.load().avatar.mode, S.load().avatar.photo) == ("swap", str(photo))


def test_a_photo_still_being_checked_at_quit_is_not_saved_and_that_is_said(tmp_path, saving_tray, held_checks,
                                                                           monkeypatch, caplog):
    """Before: dropped without a word after the 5 s wait. Never saved unchecked."""
    from livecam.gui import app as app_module

    seen, gate, held = held_checks
    monkeypatch.setattr(app_module, "CHECKS_AT_EXIT_S", 0.05)
    photo = _photo(tmp_path, "me.jpg")
    held.add(photo.name)
    saving_tray.store.update(background={"mode": "blur", "blur": 40})
    saving_tray.store.update(avatar={"mode": "swap", "photo": str(photo)})
    with caplog.at_level(logging.WARNING, logger="livecam.gui.store"):
        saving_tray.shutdown()
    assert [r.getMessage() for r in caplog.records if r.name == "livecam.gui.store"] == [
        "The photo me.jpg was still being checked when LiveCam quit, so it was not kept; choose it again."]
    saved = S.load()
    assert saved.background.blur == 40 and saved.avatar == S.Settings().avatar, "the rest is saved, the photo not"
    assert not saving_tray.store.checking


def test_a_photo_refused_just_before_quit_is_said_and_not_saved(tmp_path, saving_tray, held_checks, caplog):
    """Before: the refusal went to a window that was gone, and nothing said it."""
    seen, gate, held = held_checks
    photo = _photo(tmp_path, "bad.jpg")
    held.add(photo.name)
    saving_tray.store.update(avatar={"mode": "swap", "photo": str(photo)})
    gate.set()
    assert saving_tray.store.wait_for_checks(CHECK_MS / 1000)
    with caplog.at_level(logging.WARNING, logger="livecam.gui.store"):
        saving_tray.shutdown()
    said = [r.getMessage() for r in caplog.records if r.name == "livecam.gui.store"]
    assert said == [f"No face was found in {photo}; choose a photo with one face. Nothing was changed."]
    assert S.load().avatar == S.Settings().avatar


def test_settings_taken_after_quit_are_not_built_into_the_closed_pipeline():
    """Before: a choice applied after the bridge shut down (the checked photo above, or a late answer
    while the event loop still ran) was handed to the closed pipeline, which began building the new
    effect (models, a photo fit) while LiveCam quit."""
    from livecam.gui.bridge import LiveBridge

    class Pipeline:
        applied: list = []

        def apply(self, settings):
            self.applied.append(settings)

        def close(self):
            pass

    bridge = LiveBridge(S.Settings())
    bridge._pipeline = Pipeline()
    assert bridge.shutdown()
    bridge.apply_settings(S.update(S.Settings(), background={"mode": "off"}))
    assert Pipeline.applied == []


# -------------------------------------------------------------- 2. the picture list during a check


@contextlib.contextmanager
def _background_held_in_its_check(tmp_path, held_checks, name: str):
    """An app whose settings window shows the picture list, with the background ``name`` picked and its
    check held until the gate opens: yields (app, its window, the gate, the picked file, the picture
    the list showed before)."""
    from livecam.gui.app import LiveCamApp

    seen, gate, held = held_checks
    picked = _photo(tmp_path, name)
    held.add(picked.name)
    app = LiveCamApp(S.Settings(), persist=False, prefer_tray=False)
    try:
        window = app.settings_window
        old = window.bg_image.currentData()
        app.store.update(background={"mode": "image", "image": str(picked)})
        yield app, window, gate, picked, old
    finally:
        gate.set()
        app.shutdown()
        assert app.wait_for_checks(CHECK_MS / 1000)


def test_the_picture_list_and_the_tray_menu_show_a_picture_being_checked_as_pending(tmp_path, qtbot, held_checks):
    """Before: both kept the old picture selected (ticked) while the new one was checked, as if the
    pick had been lost; only the status line said "Checking the picture …"."""
    with _background_held_in_its_check(tmp_path, held_checks, "beach.jpg") as (app, window, gate, beach, old):
        assert app.store.checking and app.store.settings.background.image != str(beach)
        assert window.bg_image.currentData() == str(beach) != old
        assert window.bg_image.currentText() == "beach (checking …)"
        app.actions._fill_background_menu()
        ticked = [a.text() for a in app.actions.background_menu.actions() if a.isChecked()]
        assert ticked == ["beach (checking …)"]

        gate.set()
        qtbot.waitUntil(lambda: not app.store.checking, timeout=CHECK_MS)
        assert app.store.settings.background.image == str(beach)
        assert (window.bg_image.currentData(), window.bg_image.currentText()) == (str(beach), "beach")
        app.actions._fill_background_menu()
        assert [a.text() for a in app.actions.background_menu.actions() if a.isChecked()] == ["beach"]


def test_a_refused_picture_gives_the_list_back_to_the_old_one(tmp_path, qtbot, held_checks):
    """Before: the list showed no pending entry at all; now it goes again when its check refuses it."""
    with _background_held_in_its_check(tmp_path, held_checks, "bad.jpg") as (app, window, gate, bad, old):
        assert window.bg_image.currentText() == "bad (checking …)"
        gate.set()
        qtbot.waitUntil(lambda: not app.store.checking, timeout=CHECK_MS)
        assert window.bg_image.currentData() == old
        assert window.bg_image.findData(str(bad)) == -1


# -------------------------------------------------------------- 3. a library's words as the sentence


def test_a_face_kernel_that_raises_hides_the_swap_with_a_sentence_of_ours(astronaut, monkeypatch, caplog):
    """Before: 'division by zero. LiveCam hides the picture behind a full blur until this is fixed.':
    numba's words from the compiled crop loop, the face swap's photo read at build, as the sentence."""
    from livecam.analysis import avatar_photo, face_landmarker
    from livecam.pipeline import Pipeline

    def raises(*_args):
        raise ZeroDivisionError("division by zero")  # what a compiled loop raises for an integer / 0

    monkeypatch.setattr(avatar_photo, "_FITS", type(avatar_photo._FITS)())  # no fit kept from an earlier test
    monkeypatch.setattr(face_landmarker, "scaled_into", raises)
    settings = S.update(S.Settings(), runtime={"provider": "cpu", "threads": 1}, background={"mode": "off"},
                        avatar={"mode": "swap", "photo": str(HOPPER)})
    with caplog.at_level(logging.DEBUG, logger="livecam.trace"):
        pipeline = Pipeline(settings)
        try:
            out = pipeline.process(astronaut.copy())
            problems = pipeline.problems()
        finally:
            pipeline.close()
    assert is_hidden(out, astronaut)
    assert problems == [
        "Avatar could not be started because of a fault inside LiveCam (ZeroDivisionError); LiveCam's log has the "
        "details. LiveCam hides the picture behind a full blur until this is fixed."]
    assert any("division by zero" in r.getMessage() + str(r.exc_info) for r in caplog.records
               if r.name == "livecam.trace"), "the library's words are kept in the log"


def test_failed_keeps_livecam_s_own_sentences_and_words_the_rest():
    """Guard for LiveCam's own error kinds (their text is the sentence); the rest as above."""
    from livecam.analysis.avatar_photo import AvatarPhotoError
    from livecam.analysis.runtime import ModelError
    from livecam.messages import failed

    what = "Avatar could not be started"
    assert failed(what, ModelError("Model file x.onnx is corrupt; reinstall LiveCam.")) == (
        "Model file x.onnx is corrupt; reinstall LiveCam.")
    assert failed(what, AvatarPhotoError("No face was found in me.jpg")) == "No face was found in me.jpg."
    assert failed(what, MemoryError()) == "Avatar could not be started: there is not enough memory."
    assert failed(what, PermissionError(13, "Permission denied", "/x/\x1b[2Jme.jpg")) == (
        "Avatar could not be started: the file /x/\\e[2Jme.jpg cannot be used (permission is denied).")
    assert failed(what, cv2.error("OpenCV(4.10.0) resize.cpp:4152: error: (-215:Assertion failed)")) == (
        "Avatar could not be started because of a fault inside LiveCam (error); LiveCam's log has the details.")
    assert np.all([failed(what, exc()).startswith(what) for exc in (ZeroDivisionError, KeyError, IndexError)])


# -------------------------------------------------------------- 4. thumbnails on a slow or hung drive


def test_thumbnails_are_made_off_the_gui_thread_and_shown_when_made(tmp_path, qtbot, monkeypatch):
    """Before: the Background menu and the settings window's picture list decoded each thumbnail on
    the GUI thread: a 12 MP PNG froze the tray for 0.42 s (right after its check had passed off the
    GUI thread, and at the menu's first opening for each one among my backgrounds), and a picture
    on a drive that stopped answering froze it for good."""
    import threading

    from livecam import media
    from livecam.gui import actions as actions_module
    from livecam.gui.app import LiveCamApp

    folder = actions_module.user_backgrounds_dir()
    folder.mkdir(parents=True)
    slow = folder / "slow_drive.png"
    cv2.imwrite(str(slow), np.full((90, 160, 3), (200, 40, 10), np.uint8))
    gate, seen, real = threading.Event(), [], media.read_image

    def read(path, **kwargs):
        on_gui = threading.current_thread() is threading.main_thread()
        seen.append((Path(path).name, on_gui))
        if Path(path) == slow and not on_gui:
            gate.wait(CHECK_MS / 1000)  # a drive that does not answer yet; bounded: a broken test fails
        return real(path, **kwargs)

    monkeypatch.setattr(media, "read_image", read)
    monkeypatch.setattr(actions_module, "read_image", read, raising=False)  # where the start tree read them
    app = LiveCamApp(S.update(S.Settings(), background={"mode": "image", "image": str(slow)}), persist=False,
                     prefer_tray=False)
    try:
        window = app.settings_window
        app.actions._fill_background_menu()  # as opening the menu does
        item = next(a for a in app.actions.background_menu.actions() if a.text() == "slow drive")
        listed = window.bg_image.findData(str(slow))
        assert item.isChecked() and window.bg_image.currentIndex() == listed
        assert item.icon().isNull() and window.bg_image.itemIcon(listed).isNull(), "not made yet: the drive waits"
        gate.set()
        qtbot.waitUntil(lambda: not item.icon().isNull() and not window.bg_image.itemIcon(listed).isNull(),
                        timeout=CHECK_MS)
        colour = item.icon().pixmap(64, 36).toImage().pixelColor(32, 18)
        assert max(abs(colour.red() - 10), abs(colour.green() - 40), abs(colour.blue() - 200)) <= 2, colour.name()
        assert seen and not any(on_gui for _, on_gui in seen), seen
        assert [name for name, _ in seen].count(slow.name) == 1, "made once for both lists"
    finally:
        gate.set()
        app.shutdown()
        assert app.wait_for_checks(CHECK_MS / 1000)


# -------------------------------------------------------------- 5. a face model's wrong numbers


def swap_with_a_wrong_mesh(astronaut, monkeypatch, wrong) -> tuple[np.ndarray, list[np.ndarray]]:
    """A face swap on ``astronaut``: its last good frame of three, then 8 frames with the face-landmark
    model's mesh (crop pixels, (468, 3)) replaced by ``wrong(mesh)`` at ONNX Runtime's boundary."""
    import onnxruntime as ort

    from livecam.analysis import avatar_photo
    from livecam.pipeline import Pipeline

    monkeypatch.setattr(avatar_photo, "_FITS", type(avatar_photo._FITS)())
    real, broken = ort.InferenceSession.run, {"on": False}

    def run(self, names, feeds, *args, **kwargs):
        out = real(self, names, feeds, *args, **kwargs)
        if broken["on"] and [o.name for o in self.get_outputs()] == ["landmarks", "face_flag"]:
            out[0] = wrong(out[0].reshape(-1, 3)).reshape(out[0].shape)
        return out

    monkeypatch.setattr(ort.InferenceSession, "run", run)
    settings = S.update(S.Settings(), runtime={"provider": "cpu", "threads": 1}, background={"mode": "off"},
                        capture={"width": 512, "height": 512}, avatar={"mode": "swap", "photo": str(HOPPER)})
    pipeline = Pipeline(settings)
    try:
        good = [pipeline.process(astronaut.copy(), i / 30) for i in range(3)][-1]
        assert not np.array_equal(good, astronaut) and pipeline.concealed == 0, "the swap works before the fault"
        broken["on"] = True
        return good, [pipeline.process(astronaut.copy(), (i + 3) / 30) for i in range(8)]
    finally:
        pipeline.close()


def assert_the_swap_was_bridged_then_hidden(astronaut, good, outs) -> None:
    """A few frames bridged with the last good faces (the swap where it was), then hidden: the wearer's
    face, where the swap was, never goes out as it is."""
    swapped = (good != astronaut).any(axis=2)
    shown = [float((out == astronaut).all(axis=2)[swapped].mean()) for out in outs]
    assert max(shown) < 0.1, shown
    assert all(is_hidden(out, astronaut) for out in outs[-4:])


@pytest.mark.parametrize("fault", ["beside", "noise"])
def test_a_face_mesh_off_its_crop_or_of_no_face_s_shape_hides_the_swap(astronaut, monkeypatch, fault):
    """Before: the face-landmark model answering with finite numbers of the right shape but no face
    (a provider or driver fault: every point moved 150 of the crop's 192 pixels aside, or scattered
    over the crop) passed every check: the face swap was drawn beside the head or dissolved, and the
    wearer's own face went out, under the AI-altered badge, on every frame."""
    if fault == "beside":
        wrong = lambda mesh: mesh + np.float32([150, 0, 0])  # noqa: E731
    else:
        wrong = lambda mesh: np.random.default_rng(0).uniform(0, 192, mesh.shape).astype(np.float32)  # noqa: E731
    assert_the_swap_was_bridged_then_hidden(astronaut, *swap_with_a_wrong_mesh(astronaut, monkeypatch, wrong))


def test_every_face_mesh_of_the_shared_faces_passes_the_check(astronaut):
    """Guard: the check refuses none of the fixtures' faces (the shared set's 1013 runs: misfit at
    most 0.111 of the spread against the 0.35 refused), turned, scaled or moved on the crop."""
    from livecam.analysis import face_landmarker as FL
    from livecam.analysis.face_tracker import FaceTracker
    from livecam.settings import FaceSettings, RuntimeSettings

    seen: list[str] = []
    real = FL.mesh_fault

    def noted(mesh, n):
        seen.append(real(mesh, n))
        return seen[-1]

    tracker = FaceTracker(FaceSettings(), RuntimeSettings(provider="cpu", threads=1))
    try:
        FL.mesh_fault = noted
        for picture in (astronaut, cv2.imread(str(HOPPER)), cv2.rotate(astronaut, cv2.ROTATE_90_CLOCKWISE)):
            for scale in (0.5, 1.0):
                tracker.reset()
                assert tracker.process(cv2.resize(picture, None, fx=scale, fy=scale)), "a face is found"
    finally:
        FL.mesh_fault = real
    assert seen and seen == [""] * len(seen)
