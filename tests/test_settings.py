import dataclasses
import json
import logging

import pytest

from livecam import settings as S


def test_defaults_are_valid_and_round_trip(tmp_path):
    s = S.Settings()
    path = S.save(s, tmp_path / "s.json")
    assert S.load(path) == s


def test_update_validates_ranges_and_choices():
    s = S.Settings()
    assert S.update(s, background={"blur": 80}).background.blur == 80
    with pytest.raises(S.SettingsError, match=r"background.blur is 200; it must be between 0 and 100"):
        S.update(s, background={"blur": 200})
    with pytest.raises(S.SettingsError, match="choose one of off, blur, image, video, color"):
        S.update(s, background={"mode": "sparkles"})
    with pytest.raises(S.SettingsError, match="#rrggbb"):
        S.update(s, background={"color": "green"})
    with pytest.raises(S.SettingsError, match="runtime.provider"):
        S.update(s, runtime={"provider": "quantum"})


def test_changed_sections():
    s = S.Settings()
    t = S.update(s, touch_up={"strength": 40}, background={"mode": "off"})
    assert S.changed_sections(s, t) == {"touch_up", "background"}


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"background": {"blur": 10}}))
    s = S.load(path)
    assert s.background.blur == 10 and s.background.mode == "blur" and s.capture == S.CaptureSettings()


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps({"background": {"blur": 999}}), json.dumps({"nonsense": {}}), json.dumps([1, 2]),
     json.dumps({"background": {"wobble": 1}}), b"\xff\xfe\x00garbage"],
)
def test_broken_file_gives_defaults_warning_and_backup(tmp_path, caplog, content):
    path = tmp_path / "settings.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    original = path.read_bytes()
    with caplog.at_level(logging.WARNING):
        s = S.load(path)
    assert s == S.Settings()
    backup = tmp_path / "settings.json.bak"
    assert backup.read_bytes() == original, "the user's file must be kept"
    assert "broken" in caplog.text and str(backup) in caplog.text


def test_config_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "x"))
    assert S.settings_path() == tmp_path / "x" / "settings.json"


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        S.Settings().background.blur = 3  # type: ignore[misc]
