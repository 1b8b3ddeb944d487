"""Red team, round 44: round 43's two leftovers.

1. Quit while the settings file was still read-only lost the changes it could not save, and said
   nothing: the outage was said once, when it began, as "kept while LiveCam runs". Quit now says in
   one sentence, in the log (stderr), that they are lost, and does not wait on it.
2. A frame stuck in a model run when LiveCam was switched off, and back later, was still handed to the
   app's own preview once, over the "LiveCam is off" card; a settings window shown after "off" showed
   the last session's picture. Frames are now kept to the session that is current, by its identity.
"""
from __future__ import annotations

import logging
import os
import time

import pytest

from livecam import settings as S

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from conftest import blur_on_camera  # noqa: E402

WAIT_MS = 15_000
QUIT_WITHIN_S = 2.0


def test_quit_with_the_settings_file_still_read_only_says_once_that_the_changes_are_lost(qtbot, caplog):
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import LiveBridge

    S.save(S.Settings())
    os.chmod(S.settings_path(), 0o400)
    settings = S.load()
    app = LiveCamApp(settings, bridge=LiveBridge(settings), persist=True, prefer_tray=False)
    try:
        app.store.update(touch_up={"strength": 40})
        app.store.flush()  # refused: said once, "kept while LiveCam runs"
        with caplog.at_level(logging.INFO, logger="livecam"):
            t0 = time.monotonic()
            app.quit()
            took = time.monotonic() - t0
            app.shutdown()  # again, as aboutToQuit and run_gui do: said once only
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        lost = [m for m in said if "lost" in m]
        assert len(lost) == 1, said
        assert "read-only" in lost[0] and "\n" not in lost[0] and "Errno" not in lost[0], lost[0]
        assert "kept while LiveCam runs" not in lost[0]
        assert took < QUIT_WITHIN_S
        assert S.load().touch_up.strength != 40
    finally:
        os.chmod(S.settings_path(), 0o600)
        app.quit()


def test_quit_after_the_settings_were_saved_says_nothing_is_lost(qtbot, caplog):
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import LiveBridge

    S.save(S.Settings())
    os.chmod(S.settings_path(), 0o400)
    settings = S.load()
    app = LiveCamApp(settings, bridge=LiveBridge(settings), persist=True, prefer_tray=False)
    app.store.update(touch_up={"strength": 40})
    app.store.flush()
    os.chmod(S.settings_path(), 0o600)  # writable again before Quit: Quit saves them
    with caplog.at_level(logging.INFO, logger="livecam"):
        app.quit()
    assert not [r for r in caplog.records if "lost" in r.getMessage()]
    assert S.load().touch_up.strength == 40


def test_a_frame_stuck_at_off_that_returns_later_is_not_shown_in_the_preview(qtbot, hung_mask):
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import LiveBridge
    from live_doubles import RecordingOutput

    settings = blur_on_camera()
    bridge = LiveBridge(settings, open_output=lambda s, w, h: (RecordingOutput(w, h, s.output.fps), None))
    app = LiveCamApp(settings, bridge=bridge, persist=False, prefer_tray=False)
    try:
        app.start()
        window = app.settings_window
        window.show()
        qtbot.waitUntil(lambda: bridge.last_frame is not None, timeout=WAIT_MS)
        hung_mask.on = True
        assert hung_mask.hit.wait(WAIT_MS / 1000), "the mask model never ran after the hang was set"
        app.actions.running.setChecked(False)
        qtbot.waitUntil(lambda: bridge.state == "off", timeout=WAIT_MS)
        assert window.preview.after.text() == "LiveCam is off"
        shown: list = []
        bridge.frame_ready.connect(shown.append)
        stuck = bridge._finishing
        assert stuck is not None and stuck.finishing, "the frame did not stay stuck past off"

        hung_mask.on = False
        hung_mask.release.set()  # the stuck frame comes back, after "off"
        assert stuck.wait_finished(WAIT_MS / 1000)
        qtbot.wait(300)  # what the processing thread handed over arrives through the event loop
        assert shown == [], "a frame of the session switched off reached the preview"
        assert window.preview.after.text() == "LiveCam is off" and window.preview.after.pixmap().isNull()
        assert bridge.last_frame is None
        window.hide()
        window.show()  # shown again while off: the card, not the last session's picture
        assert window.preview.after.text() == "LiveCam is off" and window.preview.after.pixmap().isNull()
    finally:
        hung_mask.on = False
        hung_mask.release.set()
        app.quit()


# ------------------------------------------------------------------ 3. presets in a config folder whose name is too long


def test_the_tray_starts_and_its_presets_say_one_sentence_in_a_config_folder_whose_name_is_too_long(
        qtbot, tmp_path, monkeypatch):
    """Path.is_file and Path.glob raise ENAMETOOLONG (they swallow only a missing name): the presets menu,
    filled as the tray app starts, raised, and the tray app did not start at all; choosing, deleting or
    asking for a preset raised in its Qt slot."""
    from livecam.gui import presets
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import LiveBridge

    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / ("a" * 300)))
    settings = S.load()
    app = LiveCamApp(settings, bridge=LiveBridge(settings), persist=True, prefer_tray=False)
    try:
        window = app.settings_window
        assert window.preset.count() == 1 and not presets.exists("Meeting")
        said: list[str] = []
        app.store.rejected.connect(said.append)
        assert not app.actions.switch_preset("Meeting")
        assert not app.actions.save_current_preset("Meeting")
        with pytest.raises(presets.PresetError):
            presets.delete_preset("Meeting")
        assert len(said) == 2 and "too long" in said[1], said
        assert all("\n" not in s and "Errno" not in s and len(s) < 300 for s in said), said
    finally:
        app.quit()
