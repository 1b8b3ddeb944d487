"""A preset file written by a newer LiveCam (a setting or an effect this one does not know).

Before, such a preset was left out of the menu and the settings window whole, and nothing said why: the user's
"Meeting" was simply gone after going back to an older version. Now what this version knows is used, which
settings were left out is said once, a file with nothing usable is left out with one sentence naming it, and the
files are never rewritten.
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from livecam import settings as S  # noqa: E402
from livecam.gui import presets, pyside_problem  # noqa: E402

NEWER = {
    "name": "Meeting",
    "version": 99,
    "settings": {
        "background": {"mode": "blur", "blur": 60, "glow": 3},  # glow: a setting of a newer version
        "touch_up": {"strength": 40},
        "sparkles": {"enabled": True},  # an effect of a newer version
    },
}
FUTURE = {"name": "Future", "settings": {"sparkles": {"enabled": True}, "background": {"mode": "hologram"}}}


def _write(name: str, body: dict) -> bytes:
    path = presets.presets_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(body, indent=2).encode()
    path.write_bytes(data)
    return data


def test_a_preset_from_a_newer_version_keeps_what_this_one_knows_and_says_what_it_left_out_once():
    newer, future = _write("meeting.json", NEWER), _write("future.json", FUTURE)
    said: list[str] = []
    assert presets.list_presets(said.append) == ["Meeting"]
    assert presets.load_preset("Meeting") == {"background": {"mode": "blur", "blur": 60},
                                              "touch_up": {"strength": 40}}
    applied = presets.apply_preset("Meeting", S.Settings())
    assert (applied.background.mode, applied.background.blur, applied.touch_up.strength) == ("blur", 60, 40)
    assert presets.matching_preset(applied) == "Meeting"
    assert len(said) == 2, said
    meeting = next(s for s in said if "'Meeting'" in s)
    assert "background.glow" in meeting and "sparkles" in meeting and "meeting.json" in meeting
    assert "uses the rest" in meeting
    skipped = next(s for s in said if "future.json" in s)
    assert skipped.startswith("Preset file ") and "nothing this LiveCam can use" in skipped
    assert "background.mode" in skipped and "sparkles" in skipped
    assert "\n" not in skipped
    # Read again (the menu and the window read the presets each time they open): nothing said twice.
    assert presets.list_presets(said.append) == ["Meeting"] and presets.all_presets(said.append)
    assert len(said) == 2
    # The user's files are left as they were.
    assert (presets.presets_dir() / "meeting.json").read_bytes() == newer
    assert (presets.presets_dir() / "future.json").read_bytes() == future


@pytest.mark.skipif(pyside_problem() is not None, reason=str(pyside_problem()))
def test_the_tray_menu_offers_a_newer_preset_and_says_once_what_it_left_out(qtbot):
    from livecam.gui.app import LiveCamApp

    _write("meeting.json", NEWER)
    settings = S.update(S.Settings(), output={"kind": "null"}, background={"mode": "off"})
    app = LiveCamApp(settings, persist=False)
    said: list[str] = []
    app.actions.said.connect(said.append)
    try:
        qtbot.waitUntil(lambda: len(said) == 1, timeout=5000)  # read as the menu was made, said from the loop
        for _ in range(2):
            app.actions.presets_menu.aboutToShow.emit()
        app.show_settings()
        window = app.settings_window
        assert [window.preset.itemText(n) for n in range(window.preset.count())] == ["Custom", "Meeting"]
        item = next(a for a in app.actions.presets_menu.actions() if a.text() == "Meeting")
        item.trigger()
        qtbot.waitUntil(lambda: app.store.settings.background.mode == "blur", timeout=5000)
        assert app.store.settings.background.blur == 60 and app.store.settings.touch_up.strength == 40
        qtbot.wait(50)
        assert len(said) == 1 and "background.glow" in said[0] and "'Meeting'" in said[0]
    finally:
        app.shutdown()
        assert app.wait_for_checks(60)
