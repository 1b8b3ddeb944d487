"""Red team, round 43: switching LiveCam off while a model run hangs, and a settings file that cannot be
written.

1. Switching LiveCam off (not Quit) while a model run hung kept the virtual camera open and the window
   "on" for the live runner's 5 s: the stop waited for the stuck frame, as a restart must never put a
   second runner on the pipeline beside it. Off now waits for the frame only briefly and releases the
   camera and the virtual camera at once; the frame stuck in the model is left on its thread, and a
   start made meanwhile waits for it, saying so, before anything opens.
2. A settings file made read-only (or a full disk) refused the save, and the tray logged "Could not save
   the settings" on every save attempt (each slider moved), dropped the pending changes from its
   to-save list and never tried again. It is now said once, in the tray's line as well as the log; the
   changes stay in memory, and are saved once the file can be written again, with no further change.
"""
from __future__ import annotations

import logging
import os
import threading
import time

import pytest

from livecam import settings as S

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from conftest import blur_on_camera  # noqa: E402
from live_doubles import ClosedOutput, kept_outputs  # noqa: E402

WAIT_MS = 15_000
OFF_WITHIN_S = 2.0  # as Quit since round 42; it took the runner's 5 s


# ------------------------------------------------------------------ 1. switching off while a model run hangs


@pytest.fixture
def beside(monkeypatch):
    """How many frames were ever inside ``Pipeline.process`` at once (two runners on one pipeline)."""
    from livecam.pipeline import Pipeline

    real, lock = Pipeline.process, threading.Lock()

    class Count:
        now = 0
        most = 0

    def process(self, *args, **kwargs):
        with lock:
            Count.now += 1
            Count.most = max(Count.most, Count.now)
        try:
            return real(self, *args, **kwargs)
        finally:
            with lock:
                Count.now -= 1

    monkeypatch.setattr(Pipeline, "process", process)
    return Count


def test_switching_off_while_a_model_run_hangs_releases_the_camera_at_once_and_on_again_waits_for_it(
        qtbot, hung_mask, beside):
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import STILL_FINISHING, LiveBridge

    opened, open_output = kept_outputs(ClosedOutput)
    sources: list = []

    def open_source(capture):
        from livecam.capture import open_source as real

        sources.append(real(capture))
        return sources[-1]

    settings = blur_on_camera()
    bridge = LiveBridge(settings, open_source=open_source, open_output=open_output)
    app = LiveCamApp(settings, bridge=bridge, persist=False, prefer_tray=False)
    try:
        app.start()
        qtbot.waitUntil(lambda: bridge.last_frame is not None, timeout=WAIT_MS)
        hung_mask.on = True
        assert hung_mask.hit.wait(WAIT_MS / 1000), "the mask model never ran after the hang was set"
        time.sleep(0.1)  # well inside the stuck run

        t0 = time.monotonic()
        app.actions.running.setChecked(False)  # the user switches LiveCam off
        qtbot.waitUntil(lambda: bridge.state == "off", timeout=WAIT_MS)
        took = time.monotonic() - t0
        assert took < OFF_WITHIN_S, f"switching off took {took:.1f} s with a model run stuck"
        assert opened[0].closed_at is not None and opened[0].closed_at - t0 < OFF_WITHIN_S
        assert "LiveCam is off" in app.front.message.text(), "the window still said LiveCam was on"

        # On again while the frame is still stuck: it says why it waits, and opens nothing yet.
        app.actions.running.setChecked(True)
        qtbot.waitUntil(lambda: bridge.message == STILL_FINISHING, timeout=WAIT_MS)
        time.sleep(0.5)
        qtbot.wait(50)
        assert bridge.state == "starting" and len(opened) == 1 and len(sources) == 1
        assert beside.most == 1, "a second runner ran on the pipeline beside the stuck one"

        # The stuck run returns: LiveCam starts, one runner at a time, frames flow again.
        hung_mask.on = False
        hung_mask.release.set()
        qtbot.waitUntil(lambda: bridge.state == "on" and len(opened) == 2, timeout=WAIT_MS)
        seen = bridge.last_frame.index if bridge.last_frame is not None else 0
        qtbot.waitUntil(lambda: bridge.last_frame is not None and bridge.last_frame.index > seen + 3,
                        timeout=WAIT_MS)
        assert beside.most == 1
    finally:
        hung_mask.on = False
        hung_mask.release.set()
        app.quit()


def test_switching_off_and_quitting_while_the_start_waits_for_the_stuck_frame_ends_at_once(qtbot, hung_mask):
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import STILL_FINISHING, LiveBridge

    opened, open_output = kept_outputs(ClosedOutput)

    settings = blur_on_camera()
    bridge = LiveBridge(settings, open_output=open_output)
    app = LiveCamApp(settings, bridge=bridge, persist=False, prefer_tray=False)
    try:
        app.start()
        qtbot.waitUntil(lambda: bridge.last_frame is not None, timeout=WAIT_MS)
        hung_mask.on = True
        assert hung_mask.hit.wait(WAIT_MS / 1000)
        app.actions.running.setChecked(False)
        qtbot.waitUntil(lambda: bridge.state == "off", timeout=WAIT_MS)
        app.actions.running.setChecked(True)
        qtbot.waitUntil(lambda: bridge.message == STILL_FINISHING, timeout=WAIT_MS)
        app.actions.running.setChecked(False)  # changed their mind: off again, without waiting
        qtbot.waitUntil(lambda: bridge.state == "off", timeout=2000)
        t0 = time.monotonic()
        app.quit()
        assert time.monotonic() - t0 < OFF_WITHIN_S
        assert len(opened) == 1, "an output was opened for a start the user had cancelled"
    finally:
        hung_mask.on = False
        hung_mask.release.set()
        app.quit()


# ------------------------------------------------------------------ 2. a settings file that cannot be written


def _read_only_settings() -> None:
    S.save(S.Settings())
    os.chmod(S.settings_path(), 0o400)


def test_a_read_only_settings_file_is_said_once_and_the_changes_are_saved_once_it_is_writable(
        qtbot, caplog, monkeypatch):
    from livecam.gui import store as G

    monkeypatch.setattr(G, "SAVE_RETRY_MS", 200)
    _read_only_settings()
    store = G.SettingsStore(S.load())
    said: list[str] = []
    store.unsaved.connect(said.append)
    with caplog.at_level(logging.INFO, logger="livecam"):
        for strength in (20, 30, 40):  # three slider moves, each saved on its own
            store.update(touch_up={"strength": strength})
            store.flush()
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert len(said) == 1 and "read-only" in said[0] and "kept" in said[0], said
        assert "\n" not in said[0] and "Errno" not in said[0]
        assert store.settings.touch_up.strength == 40, "the change was not kept in memory"
        assert S.load().touch_up.strength != 40

        os.chmod(S.settings_path(), 0o600)  # the user makes it writable; no further change is made
        qtbot.waitUntil(lambda: S.load().touch_up.strength == 40, timeout=5000)
    assert said == [said[0], ""]
    assert os.stat(S.settings_path()).st_mode & 0o777 == 0o600


def test_the_trays_line_says_once_that_the_settings_cannot_be_saved(qtbot):
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import LiveBridge

    _read_only_settings()
    settings = S.load()
    app = LiveCamApp(settings, bridge=LiveBridge(settings), persist=True, prefer_tray=False)
    try:
        app.store.update(touch_up={"strength": 40})
        app.store.flush()
        line = app.front.message.text()
        assert "read-only" in line and "kept" in line, line
        os.chmod(S.settings_path(), 0o600)
        app.store.flush()
        assert "read-only" not in app.front.message.text()
        assert S.load().touch_up.strength == 40
    finally:
        os.chmod(S.settings_path(), 0o600)
        app.quit()


def test_a_full_disk_during_the_save_is_one_plain_sentence_and_the_change_is_kept(qtbot, monkeypatch):
    import errno

    from livecam import private_files
    from livecam.gui import store as G

    S.save(S.Settings())
    store = G.SettingsStore(S.load())
    said: list[str] = []
    store.unsaved.connect(said.append)
    real = private_files.write_private

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(private_files, "write_private", full)
    store.update(touch_up={"strength": 40})
    store.flush()
    store.update(touch_up={"strength": 50})
    store.flush()
    assert len(said) == 1 and "\n" not in said[0] and "Errno" not in said[0] and said[0].endswith("."), said
    assert S.load() == S.Settings(), "the file was changed by a failed save"
    monkeypatch.setattr(private_files, "write_private", real)
    store.flush()
    assert S.load().touch_up.strength == 50 and said[-1] == ""


# ------------------------------------------------------------------ 3. names too long


def test_a_recording_in_a_folder_whose_name_is_too_long_is_one_sentence(tmp_path):
    """pathlib's is_dir() raises ENAMETOOLONG (it swallows only a missing name): `run --output-file` and
    `render` ended in a traceback, and `run` then aborted at the interpreter's end under the camera's thread
    ("terminate called without an active exception", exit 134)."""
    from livecam.output import OutputError
    from livecam.recording import FileOutput

    target = tmp_path / ("a" * 300) / "call.mp4"
    with pytest.raises(OutputError) as caught:
        FileOutput(target, 64, 64, 30)
    said = str(caught.value)
    assert "\n" not in said and "Errno" not in said and "too long" in said and said.endswith("."), said
    assert list(tmp_path.iterdir()) == []


def test_a_background_flag_whose_file_name_is_too_long_is_one_sentence(capsys):
    from livecam.cli import main

    code = main(["run", "--source", "demo", "--frames", "1", "--output", "null", "--background", "/tmp/" + "a" * 300])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "neither" in err, err
    assert len(err) < 400, "the whole name was printed"


def test_run_stops_the_camera_before_an_unexpected_error_at_its_start_goes_on(monkeypatch):
    """Any error while `livecam run` opened its output other than the two it says in a sentence went on
    with the camera's thread still decoding: after the traceback, the interpreter's end aborted under it
    ("terminate called without an active exception", exit 134, seen with a folder name too long)."""
    from livecam import app, capture
    from livecam import output as outputs

    opened, real = [], capture.open_source

    def open_source(capture_settings):
        opened.append(real(capture_settings))
        return opened[-1]

    def broken_output(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(capture, "open_source", open_source)
    monkeypatch.setattr(outputs, "open_output", broken_output)
    monkeypatch.setattr(app, "catch_stop_signals", lambda handler: {})
    settings = S.update(S.Settings(), capture={"source": "demo"}, output={"kind": "null"})
    with pytest.raises(OSError):
        app.run_live(settings, frames=3)
    assert opened and opened[0]._stop.is_set(), "the camera was left running"
    assert opened[0]._thread is None or not opened[0]._thread.is_alive()


def test_listing_the_kept_avatar_photos_in_a_config_folder_whose_name_is_too_long_is_one_sentence(
        monkeypatch, tmp_path, capsys):
    from livecam.cli import main

    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / ("a" * 300)))
    code = main(["avatars"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "too long" in err, err
    assert err.count("\n") == 1


def test_the_kept_avatar_photos_in_a_config_folder_whose_name_is_too_long_everywhere_else(
        tmp_path, monkeypatch, qtbot):
    """The lead's follow-up: the same folder broke ``livecam avatars remove`` (a traceback), raised in
    the tray's "kept photo copies" menu (a Qt slot), and a moved photo's look-up for its kept copy
    said the copy's 300-character name instead of the photo's own sentence."""
    from PySide6 import QtWidgets

    from livecam.analysis import avatar_photo as ap
    from livecam.gui.effect_controls import EffectControls

    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / ("a" * 300)))
    with pytest.raises(ap.AvatarPhotoError, match="cannot be listed .the name is too long"):
        ap.remove_stored_avatar("photo.png")
    assert ap.stored_copy(tmp_path / "gone.png") is None
    with pytest.raises(ap.AvatarPhotoError, match="gone.png"):
        ap.load_avatar_photo(tmp_path / "gone.png")
    menu = QtWidgets.QMenu()
    EffectControls._fill_kept_photos(None, menu)
    texts = [a.text() for a in menu.actions()]
    assert len(texts) == 1 and "cannot be listed (the name is too long)" in texts[0]
    assert not menu.actions()[0].isEnabled()
