"""The tray app on Qt's offscreen platform: real model, real frames, output kind "null".

Every test stops the live loop in teardown (``LiveCamApp.shutdown`` joins the worker threads with
timeouts), and every wait has a timeout, so a broken build fails instead of hanging.
"""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import time

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from livecam import output as outputs  # noqa: E402
from livecam import settings as S  # noqa: E402
from livecam.capture import FrameSource  # noqa: E402
from livecam.effects.background import parse_color  # noqa: E402
from livecam.gui import presets, pyside_problem  # noqa: E402
from livecam.gui.app import LiveCamApp  # noqa: E402
from livecam.gui.bridge import FramePair, LiveBridge  # noqa: E402
from livecam.gui.icons import STATE_COLORS, state_icon  # noqa: E402
from livecam.gui.tray import ControlWindow  # noqa: E402
from live_doubles import kept_outputs  # noqa: E402
from processes import needs_ffmpeg  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"

PYSIDE_PROBLEM = pyside_problem()
# A PySide6 that frees None aborts the whole test run after a few thousand Qt calls, so the Qt tests
# skip and test_this_pyside_can_run_the_tray_app fails with the sentence saying what to install.
needs_good_pyside = pytest.mark.skipif(PYSIDE_PROBLEM is not None, reason=str(PYSIDE_PROBLEM))

WAIT_MS = 15_000  # generous for a loaded 2-core machine; a pass takes a fraction of it
ASTRONAUT = FIXTURES / "sk_astronaut.png"


def base_settings(**changes) -> S.Settings:
    s = S.update(
        S.Settings(),
        capture={"source": str(ASTRONAUT), "width": 512, "height": 512, "fps": 30},
        output={"kind": "null", "fps": 30},
        background={"mode": "off"},
    )
    return S.update(s, **changes) if changes else s


def test_this_pyside_can_run_the_tray_app():
    assert PYSIDE_PROBLEM is None, PYSIDE_PROBLEM


@pytest.fixture
def make_app(qtbot):
    if PYSIDE_PROBLEM:
        pytest.skip(PYSIDE_PROBLEM)
    made: list[LiveCamApp] = []

    def make(settings: S.Settings | None = None, bridge_factory=None, start: bool = True) -> LiveCamApp:
        settings = settings or base_settings()
        bridge = bridge_factory(settings) if bridge_factory else None
        app = LiveCamApp(settings, bridge=bridge)
        made.append(app)
        if start:
            app.start()
        return app

    yield make
    for app in made:
        app.shutdown()
    # A check thread outliving its test would read the next test's (or the real) config folders.
    for app in made:
        assert app.wait_for_checks(60), "the device checks did not finish within a minute"


def wait_frame(qtbot, app: LiveCamApp, check, timeout: int = WAIT_MS) -> FramePair:
    """The newest delivered frame once ``check(frame)`` holds for it."""

    def ready() -> None:
        pair = app.bridge.last_frame
        assert pair is not None and not pair.placeholder and check(pair)

    qtbot.waitUntil(ready, timeout=timeout)
    return app.bridge.last_frame


def person_mask(app: LiveCamApp) -> np.ndarray:
    # The input is a still picture, so the mask is the same for every frame once smoothing settled.
    mask = app.bridge.pipeline.last_analysis.mask
    assert mask is not None
    return mask


def ui_responds(qtbot) -> None:
    """A zero-delay timer fires promptly: the GUI thread is not blocked."""
    fired = []
    QtCore.QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: fired == [True], timeout=1000)


# ------------------------------------------------------------------ menu, sliders, pixels


def test_menu_toggle_changes_settings_and_the_next_frames_pixels(make_app, qtbot, astronaut):
    app = make_app()
    first = wait_frame(qtbot, app, lambda p: p.settings.background.mode == "off")
    assert np.array_equal(first.output, astronaut), "with every effect off the picture goes out unchanged"

    color = app.actions.toggles["color"]
    assert color in app.actions.menu.actions() and not color.isChecked()
    color.trigger()
    assert app.store.settings.background.mode == "color" and color.isChecked()
    out = wait_frame(qtbot, app, lambda p: p.settings.background.mode == "color").output

    mask = person_mask(app)
    person, background = mask == 255, mask == 0
    assert 0.2 < person.mean() < 0.8 and background.mean() > 0.1
    bgr = np.array(parse_color(S.Settings().background.color))
    assert (np.abs(out[background].astype(int) - bgr).max(axis=1) <= 2).mean() > 0.99
    assert (out[person] == astronaut[person]).all(axis=1).mean() > 0.99

    color.trigger()  # and off again
    assert app.store.settings.background.mode == "off"
    again = wait_frame(qtbot, app, lambda p: p.settings.background.mode == "off").output
    assert np.array_equal(again, astronaut)


def _sharpness(image: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_32F))[where].mean())


def test_blur_slider_reaches_the_next_frame(make_app, qtbot, astronaut):
    app = make_app(base_settings(background={"mode": "blur", "blur": 5}))
    app.show_settings()
    window = app.settings_window
    qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
    slider = window.sliders["background.blur"]
    light = wait_frame(qtbot, app, lambda p: p.settings.background.blur == 5 and p.before is not None)
    assert light.after is not None and light.after.shape == light.before.shape, "the window shows before/after"

    # The frames the processing thread has finished, counted on that thread: the GUI thread's newest
    # frame can be several behind on a busy machine, which is not the latency this test bounds.
    finished: list[int] = []
    publish = app.bridge._publish
    app.bridge._publish = lambda pair: (finished.append(pair.index), publish(pair))
    qtbot.waitUntil(lambda: bool(finished), timeout=WAIT_MS)
    at_change = finished[-1]
    slider.slider.setValue(slider.slider.maximum())  # as a drag to the right end does
    assert app.store.settings.background.blur == 100
    assert slider.value_label.text() == "100%"
    strong = wait_frame(qtbot, app, lambda p: p.settings.background.blur == 100)
    # The frame being processed when the slider moved may still use the old value; the one after not.
    # (+3: the GUI may see frames one late.)
    assert strong.index <= at_change + 3

    background = person_mask(app) == 0
    assert _sharpness(strong.output, background) < 0.5 * _sharpness(light.output, background)
    assert _sharpness(light.output, background) < _sharpness(astronaut, background)


def test_low_light_controls_follow_the_auto_manual_switch(make_app, qtbot):
    app = make_app(start=False)
    window = app.settings_window
    modes = window.choices["low_light.mode"]
    auto = next(b for b in modes.buttons() if b.property("value") == "auto")
    auto.click()
    assert app.store.settings.low_light.mode == "auto" and app.actions.toggles["low_light"].isChecked()
    manual_sliders = [window.sliders[f"low_light.{n}"] for n in ("exposure", "contrast", "shadows", "denoise",
                                                                   "warmth", "saturation")]
    assert not any(s.isEnabled() for s in manual_sliders), "in Auto the manual sliders are greyed"
    assert "choose Manual" in manual_sliders[0].toolTip()
    next(b for b in modes.buttons() if b.property("value") == "off").click()
    assert all(s.isEnabled() for s in manual_sliders), "off: a slider still means manual"
    exposure = window.sliders["low_light.exposure"]
    exposure.slider.setValue(exposure.slider.value() + 10)  # +1 stop: a manual slider means manual
    assert app.store.settings.low_light.exposure == pytest.approx(1.0)
    assert app.store.settings.low_light.mode == "manual"
    assert next(b for b in modes.buttons() if b.property("value") == "manual").isChecked()
    warmth = window.sliders["low_light.warmth"]
    warmth.slider.setValue(warmth.slider.maximum())
    assert app.store.settings.low_light.warmth == 100 and isinstance(app.store.settings.low_light.warmth, int)
    app.actions.toggles["low_light"].trigger()
    assert app.store.settings.low_light.mode == "off"
    app.actions.toggles["low_light"].trigger()
    assert app.store.settings.low_light.mode == "manual", "switching back on restores the last mode"


def test_on_with_no_output_does_not_claim_call_apps_see_it(make_app, qtbot):
    app = make_app()  # base_settings: output null
    qtbot.waitUntil(lambda: app.bridge.state == "on", timeout=WAIT_MS)
    assert app.bridge.message != "LiveCam is on."
    assert app.bridge.message == "LiveCam runs, but its output is set to none."
    from livecam.gui.bridge import on_sentence

    assert on_sentence(base_settings(output={"kind": "virtualcam"})) == "LiveCam is on."
    assert "preview" in on_sentence(base_settings(output={"kind": "preview"}))


def test_the_settings_window_keeps_its_width_as_the_stats_line_grows(make_app, qtbot):
    app = make_app(start=False)
    app.show_settings()
    window = app.settings_window
    qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
    QtWidgets.QApplication.processEvents()
    width, hint = window.width(), window.minimumSizeHint().width()
    height = window.stats_line.height()
    long_line = "   |   ".join(["30.0 fps"] + [f"stage {n} 12.3 ms" for n in range(12)] + ["models on CPU"])
    window.stats_line.setText(long_line)
    QtWidgets.QApplication.processEvents()
    assert window.minimumSizeHint().width() == hint and window.width() == width
    assert window.stats_line.height() == height, "nor does it jump in height"
    assert window.stats_line.text() == long_line


def test_a_wrapped_stats_line_breaks_between_its_parts_not_after_a_bar(make_app, qtbot):
    """The line wrapped at any space, so a line could end in a dangling "|" (seen on the settings
    window at 1366x768); it now breaks in place of a separator, and keeps every part."""
    from livecam.gui.bridge import STATS_SEPARATOR, LiveStats

    app = make_app(start=False)
    app.show_settings()
    window = app.settings_window
    qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
    QtWidgets.QApplication.processEvents()
    stats = LiveStats(fps=29.9, fps_out=30.0, latency_ms=41.0, providers={"landscape": "CPUExecutionProvider"},
                      stages={"decode": 1.4, "preprocess": 0.6, "inference": 2.5, "refine": 1.4, "faces": 2.4,
                              "touch_up": 1.2, "eye_contact": 1.0, "key_light": 1.3, "total": 12.8},
                      mask="person mask: landscape (fast)")
    line = window.stats_line
    width = line.contentsRect().width()
    for shown_width in (width, 300):
        line.setFixedWidth(shown_width + line.width() - width)
        window.show_stats(stats)
        text = line.text()
        assert text.replace("\n", STATS_SEPARATOR) == stats.describe(), "every part, in order"
        rows = text.split("\n")
        assert len(rows) >= 2, "the sample is longer than the line: it wraps"
        for row in rows:
            assert not row.rstrip().endswith("|") and not row.lstrip().startswith("|")
            fits = line.fontMetrics().horizontalAdvance(row) <= line.contentsRect().width()
            assert fits or STATS_SEPARATOR not in row, row  # only a part wider than the line overflows


def test_exposure_slider_brightens_the_next_frames(make_app, qtbot, astronaut):
    pytest.importorskip("livecam.effects.low_light")
    app = make_app(base_settings(low_light={"mode": "manual"}))
    window = app.settings_window
    neutral = wait_frame(qtbot, app, lambda p: p.settings.low_light.exposure == 0).output
    exposure = window.sliders["low_light.exposure"]
    exposure.slider.setValue(exposure.slider.value() + 10)  # +1 stop
    bright = wait_frame(qtbot, app, lambda p: p.settings.low_light.exposure == 1.0).output
    assert bright.mean() > neutral.mean() + 15
    assert abs(float(neutral.mean()) - float(astronaut.mean())) < 3, "manual at neutral leaves the picture as it is"


def test_every_effect_has_a_menu_item_with_a_shortcut(make_app):
    app = make_app(start=False)
    menu_texts = [a.text() for a in app.actions.menu.actions()]
    for label in ("Background blur", "Background image", "Background video", "Background colour",
                  "Touch-up", "Low light", "Avatar", "LiveCam on", "Settings…", "Quit LiveCam"):
        assert label in menu_texts
    shortcuts = [a.shortcut().toString() for a in app.actions.toggles.values()]
    assert all(shortcuts) and len(set(shortcuts)) == len(shortcuts)
    assert all(a.isShortcutVisibleInContextMenu() for a in app.actions.toggles.values())
    submenus = [a.menu().title() for a in app.actions.menu.actions() if a.menu()]
    assert submenus == ["Background", "Presets"]


def test_effect_needing_a_file_asks_for_one_and_cancel_leaves_it_off(make_app, tmp_path, qtbot):
    app = make_app(start=False)
    asked = []
    app.actions.ask_file = lambda title, filter_: asked.append(title) or ""
    app.actions.toggles["avatar"].trigger()
    assert asked and app.store.settings.avatar.mode == "off"
    assert not app.actions.toggles["avatar"].isChecked()
    photo = str(FIXTURES / "mpl_grace_hopper.jpg")
    app.actions.ask_file = lambda title, filter_: photo
    app.actions.toggles["avatar"].trigger()
    qtbot.waitUntil(lambda: not app.store.checking, timeout=60_000)  # the photo is checked off the GUI thread
    assert app.store.settings.avatar.mode == "swap" and app.store.settings.avatar.photo == photo
    assert app.actions.toggles["avatar"].isChecked()


def test_background_menu_lists_bundled_and_own_pictures(make_app, qtbot):
    from livecam import resources
    from livecam.gui.actions import user_backgrounds_dir

    own = user_backgrounds_dir()
    own.mkdir(parents=True)
    cv2.imwrite(str(own / "my_office.png"), np.full((36, 64, 3), 128, np.uint8))
    app = make_app(start=False)
    # The folder is listed off the GUI thread (a hung mount froze the tray): the menu shows it once listed.
    qtbot.waitUntil(lambda: app.actions.my_backgrounds.paths is not None, timeout=60_000)
    app.actions.background_menu.aboutToShow.emit()
    texts = [a.text() for a in app.actions.background_menu.actions()]
    assert "Evening Glow" in texts and "my office" in texts and "Choose file…" in texts
    assert len(resources.background_images()) >= 5
    item = next(a for a in app.actions.background_menu.actions() if a.text() == "my office")
    item.trigger()
    qtbot.waitUntil(lambda: not app.store.checking, timeout=60_000)  # the picture is checked off the GUI thread
    assert app.store.settings.background.mode == "image"
    assert app.store.settings.background.image == str(own / "my_office.png")


# ------------------------------------------------------------------ presets and persistence


def test_presets_round_trip(tmp_path):
    meeting = S.update(S.Settings(), background={"mode": "color", "color": "#123456"}, touch_up={"strength": 40},
                       low_light={"mode": "manual", "exposure": 1.5})
    path = presets.save_preset("  Meeting  ", meeting)
    assert path.parent == S.config_dir() / "presets" and path.name == "meeting.json"
    assert presets.list_presets() == ["Meeting"]
    other = S.update(S.Settings(), capture={"source": "demo"}, background={"mode": "blur"})
    applied = presets.apply_preset("Meeting", other)
    assert applied.background == meeting.background and applied.touch_up == meeting.touch_up
    assert applied.low_light == meeting.low_light
    assert applied.capture == other.capture, "a preset never switches the camera"
    assert presets.matching_preset(applied) == "Meeting" and presets.matching_preset(other) is None

    with pytest.raises(presets.PresetError, match="letter or digit"):
        presets.save_preset("!!!", meeting)
    with pytest.raises(presets.PresetError, match="no preset called"):
        presets.load_preset("Evening")
    path.write_text('{"name": "Meeting", "settings": {"background": {"mode": "sparkles"}}}', encoding="utf-8")
    with pytest.raises(presets.PresetError, match="broken"):
        presets.load_preset("Meeting")
    assert presets.list_presets() == []


def test_presets_switch_from_the_menu_and_the_settings_window(make_app):
    app = make_app(base_settings(background={"mode": "blur", "blur": 30}), start=False)
    assert app.actions.save_current_preset("Blurry")
    app.actions.toggles["color"].trigger()
    assert app.store.settings.background.mode == "color"

    app.actions.presets_menu.aboutToShow.emit()
    item = next(a for a in app.actions.presets_menu.actions() if a.text() == "Blurry")
    assert item.shortcut().toString() == "Ctrl+1"
    item.trigger()
    assert app.store.settings.background.mode == "blur" and app.store.settings.background.blur == 30

    window = app.settings_window
    assert window.preset.currentText() == "Blurry"
    app.actions.toggles["blur"].trigger()
    assert window.preset.currentText() == "Custom"
    window.preset.activated.emit(window.preset.findData("Blurry"))
    assert app.store.settings.background.mode == "blur"


def test_settings_persist_in_the_shared_file_without_the_session_flags(make_app):
    # The settings came in with --source/--output style overrides; those stay out of the file.
    app = make_app(start=False)
    app.actions.toggles["blur"].trigger()
    app.store.flush()
    saved = S.load()
    assert saved.background.mode == "blur"
    assert saved.capture == S.CaptureSettings() and saved.output == S.OutputSettings()
    app.store.update(capture={"fps": 15})  # a choice made in the GUI is saved
    app.store.flush()
    assert S.load().capture.fps == 15


def test_invalid_value_is_refused_with_a_sentence(make_app):
    app = make_app(start=False)
    window = app.settings_window
    assert not app.store.update(background={"color": "green"})
    assert "#rrggbb" in window.state_line.text()
    assert app.store.settings.background.color == S.Settings().background.color


# ------------------------------------------------------------------ errors and threads


@needs_ffmpeg
def test_a_gui_recording_never_replaces_its_own_source(make_app, qtbot, tmp_path):
    import shutil

    source = tmp_path / "me.png"
    shutil.copy(ASTRONAUT, source)
    before = source.read_bytes()
    app = make_app(base_settings(capture={"source": str(source)},
                                 output={"kind": "file", "path": str(source), "overwrite": True}))
    qtbot.waitUntil(lambda: app.bridge.state == "error", timeout=WAIT_MS)
    assert str(source.name) in app.bridge.message
    assert source.read_bytes() == before


def test_missing_camera_shows_the_error_state_and_the_ui_keeps_working(make_app, qtbot):
    app = make_app(base_settings(capture={"source": "7"}))
    qtbot.waitUntil(lambda: app.bridge.state == "error", timeout=WAIT_MS)
    assert "Camera 7" in app.bridge.message and "not available" in app.bridge.message
    assert app.front.state == "error" and "Camera 7" in app.front.message.text()
    assert "Camera 7" in app.actions.status.toolTip()
    qtbot.waitUntil(lambda: app.bridge.last_frame is not None and app.bridge.last_frame.placeholder, timeout=WAIT_MS)
    ui_responds(qtbot)
    app.actions.toggles["blur"].trigger()
    assert app.store.settings.background.mode == "blur"
    ui_responds(qtbot)
    # Picking a working source clears the error.
    app.store.update(capture={"source": str(ASTRONAUT)})
    qtbot.waitUntil(lambda: app.bridge.state == "on", timeout=WAIT_MS)
    assert app.front.state == "on"


def test_unreadable_source_file_is_an_error_not_a_crash(make_app, qtbot, tmp_path):
    app = make_app(base_settings(capture={"source": str(tmp_path / "gone.mp4")}))
    qtbot.waitUntil(lambda: app.bridge.state == "error", timeout=WAIT_MS)
    assert "gone.mp4 does not exist" in app.bridge.message
    ui_responds(qtbot)


def test_a_recording_that_cannot_be_made_is_one_sentence_not_a_traceback(make_app, qtbot, tmp_path, caplog):
    """redteam28: a file output refused (its folder missing, read-only, ffmpeg absent) went up to the
    control job's catch-all and was logged with a traceback."""
    target = tmp_path / "no such folder" / "call.mp4"
    app = make_app(base_settings(output={"kind": "file", "path": str(target)}))
    qtbot.waitUntil(lambda: app.bridge.state == "error", timeout=WAIT_MS)
    assert "could not start" in app.bridge.message and "no such folder" in app.bridge.message
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
    ui_responds(qtbot)


class _BrokenSource(FrameSource):
    """Delivers a few real frames, then its reads fail the way a crashed driver would."""

    def __init__(self, image: np.ndarray) -> None:
        super().__init__(image.shape[1], image.shape[0], 30, "broken camera")
        self.image = image
        self.calls = 0

    def _run(self) -> None:
        while not self._stop.wait(1 / 30):
            self._publish(self.image.copy())

    def latest(self, after: int = -1, timeout: float = 1.0):
        self.calls += 1
        if self.calls > 5:
            raise OSError("device read failed")
        return super().latest(after, timeout)


def test_source_failing_mid_run_shows_the_error_state(make_app, qtbot, astronaut):
    factory = lambda s: LiveBridge(s, open_source=lambda capture: _BrokenSource(astronaut))  # noqa: E731
    app = make_app(bridge_factory=factory)
    qtbot.waitUntil(lambda: app.bridge.state == "error", timeout=WAIT_MS)
    assert "Processing stopped" in app.bridge.message and "device read failed" in app.bridge.message
    assert app.front.state == "error"
    ui_responds(qtbot)


def test_processing_runs_off_the_gui_thread(make_app, qtbot, monkeypatch):
    from livecam.pipeline import Pipeline

    threads = set()
    original = Pipeline.process

    def recording(self, image, t=None):
        threads.add(threading.current_thread())
        return original(self, image, t)

    monkeypatch.setattr(Pipeline, "process", recording)
    app = make_app()
    wait_frame(qtbot, app, lambda p: p.index >= 3)
    assert threads and threading.main_thread() not in threads


class _RecordingOutput(outputs.NullOutput):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_off_and_quit_release_the_camera_and_the_output(make_app, qtbot):
    opened, open_output = kept_outputs(_RecordingOutput)
    app = make_app(bridge_factory=lambda s: LiveBridge(s, open_output=open_output))
    wait_frame(qtbot, app, lambda p: True)
    qtbot.waitUntil(lambda: app.bridge._session is not None, timeout=WAIT_MS)
    session = app.bridge._session
    runner, source = session.live.runner, session.live.source
    app.actions.running.trigger()  # off
    qtbot.waitUntil(lambda: app.bridge.state == "off", timeout=WAIT_MS)
    assert opened[0].closed and runner.done.is_set()
    assert not source._thread.is_alive() and not session.sender._thread.is_alive()
    assert "released" in app.bridge.message and app.front.state == "off"

    app.actions.running.trigger()  # on again: a fresh camera and output
    qtbot.waitUntil(lambda: app.bridge.state == "on" and len(opened) == 2, timeout=WAIT_MS)
    source = app.bridge._session.live.source
    app.shutdown()  # what Quit does before the event loop ends
    assert opened[1].closed and not source._thread.is_alive()
    assert app.bridge._session is None


def test_closing_the_settings_window_keeps_the_camera_running(make_app, qtbot):
    app = make_app()
    app.show_settings()
    window = app.settings_window
    qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
    seen = wait_frame(qtbot, app, lambda p: p.after is not None).index
    window.close()
    assert not window.isVisible() and app.bridge.running
    assert app.bridge.preview_size is None, "no preview copies are made while nobody looks"
    later = wait_frame(qtbot, app, lambda p: p.index > seen + 5)
    assert later.after is None and app.bridge.state == "on"


def test_without_a_tray_the_controls_live_in_a_window(make_app, qtbot):
    assert not QtWidgets.QSystemTrayIcon.isSystemTrayAvailable()  # true of the offscreen platform
    app = make_app(start=False)
    assert isinstance(app.front, ControlWindow)
    app.start()
    assert app.front.isVisible()
    qtbot.waitUntil(lambda: app.front.state == "on", timeout=WAIT_MS)
    quits = []
    app.actions.quit_requested.disconnect()
    app.actions.quit_requested.connect(lambda: quits.append(True))
    app.front.close()
    assert quits == [True], "closing the only window quits (nothing else could bring LiveCam back)"


def test_shortcut_toggles_an_effect(make_app, qtbot):
    app = make_app(start=False)
    window = app.front
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=WAIT_MS)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_B, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert app.store.settings.background.mode == "blur"
    qtbot.keyClick(window, QtCore.Qt.Key.Key_B, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert app.store.settings.background.mode == "off"


@needs_good_pyside
def test_state_icons_are_green_grey_and_red(qapp):
    def centre_left(state: str) -> QtGui.QColor:
        return state_icon(state).pixmap(64, 64).toImage().pixelColor(6, 32)

    for state in ("on", "off", "error"):
        assert centre_left(state).name() == QtGui.QColor(STATE_COLORS[state]).name()


def test_the_provider_picker_lists_what_this_runtime_offers(make_app):
    from livecam.analysis.runtime import PROVIDER_NAMES, available_providers

    app = make_app(start=False)
    window = app.settings_window
    values = [window.provider.itemData(i) for i in range(window.provider.count())]
    assert values[:2] == ["auto", "cpu"]
    offered = set(available_providers())
    assert all(PROVIDER_NAMES[v] in offered for v in values[2:])
    window.provider.setCurrentIndex(values.index("cpu"))
    window.provider.activated.emit(values.index("cpu"))
    assert app.store.settings.runtime.provider == "cpu"


def test_every_registry_effect_has_its_controls_and_toggle(make_app):
    from livecam.effects import REGISTRY

    app = make_app(start=False)
    window = app.settings_window
    for spec in REGISTRY:
        for toggle in spec.toggles:
            assert toggle.key in app.actions.toggles
        for control in spec.controls:
            key = control.partition(":")[0]
            known = (window.sliders, window.choices, window.check_boxes, window.files, window.colors)
            assert any(key in group for group in known) or control.endswith(":picture"), key
    # A new effect's check box drives its settings: auto-framing is one registry entry and one module.
    window.check_boxes["auto_frame.enabled"].click()
    assert app.store.settings.auto_frame.enabled and app.actions.toggles["auto_frame"].isChecked()


def test_nobody_watching_releases_the_camera_and_an_app_brings_it_back(make_app, qtbot, monkeypatch):
    """Idle in the tray app: the viewer watch says nobody reads the virtual camera → the source
    closes and processing stops; an app opens it → frames flow again within a second."""
    from livecam import idle

    callbacks = []
    monkeypatch.setattr(idle, "watch_output", lambda output, always_on, on_change: callbacks.append(on_change))
    app = make_app()
    wait_frame(qtbot, app, lambda p: True)
    qtbot.waitUntil(lambda: app.bridge._session is not None and bool(callbacks), timeout=WAIT_MS)
    live = app.bridge._session.live
    source = live.source
    callbacks[0](False, time.monotonic())
    qtbot.waitUntil(lambda: app.bridge.state == "idle", timeout=WAIT_MS)
    assert live.idle and not source._thread.is_alive(), "the webcam is released"
    assert "webcam is off" in app.bridge.message
    frames = app.bridge.last_frame.index
    qtbot.wait(500)
    assert app.bridge.last_frame.index == frames, "no processing while idle"
    t0 = time.monotonic()
    callbacks[0](True, t0)
    qtbot.waitUntil(lambda: app.bridge.state == "on" and app.bridge.last_frame.index > frames + 2, timeout=WAIT_MS)
    print(f"resumed in {time.monotonic() - t0:.2f} s")
    assert live.source is not None and live.source._thread.is_alive()


def test_kept_avatar_copies_can_be_removed_from_the_settings_window(make_app, tmp_path):
    from livecam.analysis.avatar_photo import load_avatar_photo, stored_avatars

    photo = tmp_path / "me.jpg"
    photo.write_bytes((FIXTURES / "mpl_grace_hopper.jpg").read_bytes())
    kept = load_avatar_photo(photo).path
    app = make_app(start=False)
    window = app.settings_window
    menu = window.kept_photos.menu()
    menu.aboutToShow.emit()
    assert [a.text() for a in menu.actions()][0].startswith(f"Remove {kept.name}")
    assert window.remove_kept_photo(kept.name, confirm=False)
    assert stored_avatars() == [] and photo.is_file()
    menu.aboutToShow.emit()
    assert not menu.actions()[0].isEnabled()


def test_the_tray_app_quits_in_order_when_its_terminal_closes(tmp_path):
    """SIGHUP (the terminal closing, an ssh session dropping) quits like Quit: exit 0, in order."""
    import os
    import signal
    import subprocess
    import sys

    config = tmp_path / "config"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LIVECAM_CONFIG_DIR": str(config),
           "LIVECAM_DATA_HOME": str(tmp_path / "data")}
    # A terminal's process: SIGHUP at its default, whatever the test runner was started with (under
    # nohup it is ignored, and the app keeps an ignored SIGHUP ignored).
    proc = subprocess.Popen([sys.executable, "-m", "livecam", "gui", "--source", str(ASTRONAUT), "--output", "null"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        log = config / "livecam.log"
        deadline = time.monotonic() + 60
        while not (log.is_file() and "Source: image" in log.read_text(errors="replace")):
            assert proc.poll() is None and time.monotonic() < deadline, "the tray app did not start"
            time.sleep(0.2)
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(20) == 0  # its default action would have ended it with 129, camera held
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in proc.stderr.read()
