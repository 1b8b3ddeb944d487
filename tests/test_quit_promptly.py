"""Quit returns at once whatever is still loading.

Once in firsthour24's walk, Quit right after an avatar photo was accepted took 10.02 s, the bridge's
whole shutdown timeout: ``Pipeline.close`` waited for the new avatar's build, which on the first start
after an install compiles numba's loops (27 s here). Quit during the first start waited the same 10 s
for the models to load. Each slow step here is held by an Event, so nothing depends on how fast the
machine is: a step that Quit waits for keeps it waiting until the test gives up (a bound, not a timing).
"""
from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from livecam import pipeline as pipeline_module  # noqa: E402
from livecam import settings as S  # noqa: E402
from livecam.gui import bridge as bridge_module  # noqa: E402
from livecam.gui.app import LiveCamApp  # noqa: E402
from livecam.gui.bridge import LiveBridge  # noqa: E402
from livecam.pipeline import Pipeline  # noqa: E402

GIVE_UP_S = 5.0  # the old code waited 10 s for a build, so anything that waits is still waiting here


class _Built:
    """What the held build makes: the test only needs to know whether it was closed."""

    stage, needs, provides = "post", frozenset(), frozenset()

    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


@pytest.fixture
def held_background(monkeypatch):
    """Builds of a colour background wait until ``release`` is set; ``entered`` says one is waiting."""
    real = pipeline_module.build_effect
    held = SimpleNamespace(entered=threading.Event(), release=threading.Event(), made=[])

    def build(spec, settings):
        if spec.name == "background" and settings.background.mode == "color":
            held.entered.set()
            held.release.wait()
            held.made.append(_Built())
            return held.made[-1]
        return real(spec, settings)

    monkeypatch.setattr(pipeline_module, "build_effect", build)
    yield held
    held.release.set()  # the builder thread is the whole process's: never leave it held


def _plain() -> S.Settings:
    return S.update(S.Settings(), background={"mode": "off"})


def _color(settings: S.Settings) -> S.Settings:
    return S.update(settings, background={"mode": "color", "color": "#20a040"})


def test_closing_a_pipeline_does_not_wait_for_a_build_and_closes_what_it_makes(held_background):
    pipeline = Pipeline(_plain(), background_builds=True)
    pipeline.apply(_color(_plain()))
    pipeline.process(np.full((48, 64, 3), 90, np.uint8))  # the frame that starts the build
    assert held_background.entered.wait(GIVE_UP_S), "the build never started"

    closer = threading.Thread(target=pipeline.close, daemon=True)
    closer.start()
    closer.join(GIVE_UP_S)
    assert not closer.is_alive(), "Pipeline.close waited for a build that was still running"
    assert pipeline.effects == [] and not held_background.made

    held_background.release.set()
    assert _made(held_background).closed.wait(GIVE_UP_S), "the dropped build's effect was never closed"
    assert pipeline.effects == [], "a build that ended after close was installed"


def _made(held) -> _Built:
    for _ in range(int(GIVE_UP_S / 0.05)):
        if held.made:
            return held.made[0]
        threading.Event().wait(0.05)
    raise AssertionError("the held build never returned")


# ------------------------------------------------------------ the tray app's Quit

WAIT_MS = 15_000


def _camera(astronaut, tmp_path) -> S.Settings:
    import cv2

    still = tmp_path / "camera.png"
    cv2.imwrite(str(still), astronaut[:256, :256])
    return S.update(_plain(), capture={"source": str(still), "width": 256, "height": 256, "fps": 30},
                    output={"kind": "null", "fps": 30})


def test_quit_while_a_new_effect_is_still_building_releases_the_camera_at_once(
        qtbot, astronaut, tmp_path, held_background):
    app = LiveCamApp(_camera(astronaut, tmp_path), persist=False)
    try:
        app.start()
        qtbot.waitUntil(lambda: app.bridge.last_frame is not None, timeout=WAIT_MS)
        source = app.bridge._session.live.source
        app.store.update(background={"mode": "color", "color": "#20a040"})
        assert held_background.entered.wait(GIVE_UP_S), "the new background's build never started"

        assert app.bridge.shutdown(timeout=GIVE_UP_S), "Quit waited for the background still being built"
        assert app.bridge._session is None and not source._thread.is_alive(), "the camera was not released"
        assert not held_background.made
    finally:
        held_background.release.set()
        app.shutdown()
    assert _made(held_background).closed.wait(GIVE_UP_S), "the dropped build's effect was never closed"


def test_quit_while_the_first_start_loads_its_models_opens_no_camera(qtbot, astronaut, tmp_path, monkeypatch):
    entered, release, made = threading.Event(), threading.Event(), []
    real = bridge_module.Pipeline

    def loading(settings, **options):
        entered.set()
        release.wait()  # the models loading, or numba compiling on the first start after an install
        made.append(real(settings, **options))
        return made[-1]

    monkeypatch.setattr(bridge_module, "Pipeline", loading)
    opened = []

    def open_source(capture):
        opened.append(capture)
        return bridge_module.capture.open_source(capture)

    bridge = LiveBridge(_camera(astronaut, tmp_path), open_source=open_source)
    try:
        bridge.start()
        assert entered.wait(GIVE_UP_S), "the first start never began loading"
        assert bridge.shutdown(timeout=GIVE_UP_S), "Quit waited for the models to load"
        assert not opened, "the camera was opened while nothing could use it yet"
    finally:
        release.set()
    bridge._control.shutdown(wait=True)  # the load ends, then the shutdown queued behind it runs
    assert not opened, "a start that ended after Quit opened the camera"
    assert bridge._session is None and made and made[0].effects == []
