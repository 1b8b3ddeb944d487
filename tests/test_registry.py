"""The effect registry is the one place an effect is declared, so it is checked as data: flags,
shortcuts and toggle keys are unique, the disclosure badge comes last, every control and toggle
names a real field, and every bench configuration is a valid settings change; the tools derive
their configurations from it, and the model table agrees with every list of model choices. (That
each bench configuration builds and runs is tests/test_effect_shape.py.)"""
from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

from livecam import cli
from livecam import settings as S
from livecam.effects import REGISTRY, SPECS, bench_configs, toggles
from livecam.setting_fields import field_of, literal_choices, meta, value_type

SECTION_TYPES = dict(S.SECTIONS)
WIDGETS = {"", "picture"}  # the control kinds the settings window knows besides the field's own


def _field(key: str) -> tuple[type, str]:
    section, _, name = key.partition(".")
    return SECTION_TYPES[section], name


def _repeated(values) -> list:
    return [v for v, n in Counter(values).items() if n > 1]


def test_every_flag_is_declared_once():
    flags = [m.flag for _, _, _, m in cli._flag_fields()]
    assert flags and _repeated(flags) == []
    plain = set(cli._PLAIN_FLAGS.values())
    assert not plain & set(flags), "a settings flag shadows a source/output flag"


def test_the_parser_accepts_every_declared_flag():
    parser = cli.build_parser()
    known = {o for name in ("run", "render") for a in parser.commands[name]._actions for o in a.option_strings}
    missing = [m.flag for section, _, _, m in cli._flag_fields() if m.flag not in known]
    assert missing == []


def test_toggle_keys_labels_and_shortcuts_are_unique():
    pairs = toggles()
    assert _repeated(t.key for _, t in pairs) == []
    assert _repeated(t.label for _, t in pairs) == []
    assert _repeated(t.shortcut for _, t in pairs) == []
    assert all(t.shortcut.startswith("Ctrl+") for _, t in pairs)


def test_toggle_shortcuts_do_not_clash_with_the_apps_own(request):
    pytest.importorskip("PySide6")
    request.getfixturevalue("qapp")
    from livecam.gui.actions import LiveCamActions
    from livecam.gui.store import SettingsStore

    actions = LiveCamActions(SettingsStore(S.Settings(), persist=False))
    keys = [a.shortcut().toString() for a in actions.shortcut_actions() if not a.shortcut().isEmpty()]
    assert len(keys) >= len(toggles()) + 5
    assert _repeated(keys) == []


def test_every_toggle_sets_a_real_field_to_allowed_values():
    for spec, toggle in toggles():
        cls = SECTION_TYPES[spec.section]
        field_of(cls, toggle.field)  # raises for a field that does not exist
        allowed = literal_choices(cls, toggle.field)
        for value in (toggle.off, toggle.on, toggle.default_on):
            if value is None:
                continue
            if allowed:
                assert value in allowed, f"{toggle.key}: {value!r} is not one of {allowed}"
            else:
                assert isinstance(value, value_type(cls, toggle.field)), f"{toggle.key}: {value!r}"
            S.update(S.Settings(), **{spec.section: {toggle.field: value}})  # validates
        if toggle.file:
            assert meta(field_of(cls, toggle.file)).file, f"{toggle.key}: {toggle.file} holds no file"


def test_the_badge_is_last_and_covers_every_face_altering_effect():
    assert REGISTRY[-1].name == "badge"
    badge = REGISTRY[-1]
    for spec in REGISTRY[:-1]:
        if spec.alters_face:
            assert set(spec.sections) <= set(badge.reads), f"the badge does not follow {spec.name}"
    assert badge.on_failure == "conceal"


def test_names_sections_and_settings_types_line_up():
    assert _repeated(spec.name for spec in REGISTRY) == []
    assert list(SPECS) == [spec.name for spec in REGISTRY]
    for spec in REGISTRY:
        assert spec.section in SECTION_TYPES, spec.name
        for section in spec.reads:
            assert section in SECTION_TYPES, f"{spec.name} reads unknown section {section}"
        if spec.settings is not None:
            assert SECTION_TYPES[spec.section] is spec.settings
        assert callable(spec.builder()), spec.build
        assert spec.enabled(S.Settings()) in (True, False)


def test_every_control_is_a_real_field_with_words():
    for spec in REGISTRY:
        assert (spec.tab == "") == (not spec.controls), spec.name
        for control in spec.controls:
            key, _, widget = control.partition(":")
            cls, name = _field(key)
            f = field_of(cls, name)
            assert widget in WIDGETS, f"{control}: unknown widget {widget!r}"
            m = meta(f)
            if m.range:
                lo, hi = m.range
                assert lo < hi and lo <= f.default <= hi, control
            assert m.label or m.help, f"{control} has no words for people"


@pytest.mark.parametrize("name", sorted(bench_configs()))
def test_every_bench_configuration_is_a_valid_settings_change(name):
    changes = bench_configs()[name]
    settings = S.update(S.Settings(), **changes)
    on = [spec.name for spec in REGISTRY if spec.enabled(settings)]
    assert on, f"bench configuration {name} turns nothing on"


def test_the_all_configuration_has_every_effect_that_offers_a_part():
    everything = S.update(S.Settings(), **bench_configs()["all"])
    for spec in REGISTRY:
        if spec.bench_all:
            assert spec.enabled(everything), f"'all' leaves {spec.name} off"


def test_sections_have_no_field_without_a_default():
    for name, cls in S.SECTIONS:
        for f in dataclasses.fields(cls):
            assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING, \
                f"{name}.{f.name}"


def test_the_soak_tools_sets_are_the_bench_configurations_as_flags(tmp_path, monkeypatch):
    """tools/soak.py derives its `livecam run` flags from the registry: parsed back, each set gives
    exactly the settings of its bench configuration."""
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path))
    path = Path(__file__).resolve().parents[1] / "tools" / "soak.py"
    spec = importlib.util.spec_from_file_location("soak_tool", path)
    soak = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "soak_tool", soak)  # its dataclasses look themselves up
    spec.loader.exec_module(soak)
    sets = soak.effect_sets()
    assert set(sets) == set(bench_configs())
    parser = cli.build_parser()
    for name, flags in sets.items():
        got = cli.settings_from_args(parser.parse_args(["run", *flags]))
        want = S.update(S.Settings(), **bench_configs()[name])
        if want.avatar.mode != "off":
            want = S.update(want, avatar={"photo": str(soak.PHOTO)})
        if "background" not in bench_configs()[name]:
            want = S.update(want, background={"mode": "off"})
        assert got == want, name


def test_the_model_table_agrees_with_the_manifest_the_fetcher_and_every_choice():
    """livecam/model_specs.py is the one list of models; the manifest (checksums of the bundled
    files) and the fetcher (the fetched model's source) must say the same, and every list of model
    choices (settings, flags, settings window, evaluation) is the table's."""
    from typing import get_args

    from livecam import model_specs, quality
    from livecam.analysis import runtime
    from livecam.analysis.face_detector import SPECS as DETECTORS
    from livecam.analysis.segmenter import MODEL_NAMES
    from livecam.model_fetch import RVM

    shipped = runtime.manifest()["models"]
    for spec in model_specs.MODELS:
        if spec.fetched:
            assert (spec.file, spec.licence) == (RVM.name, "GPL-3.0"), spec.name
        else:
            assert spec.file in shipped, f"{spec.name}: {spec.file} is not in models/manifest.json"
            assert shipped[spec.file]["license"] == spec.licence, spec.name
    assert len({spec.name for spec in model_specs.MODELS}) == len(model_specs.MODELS)

    person = model_specs.names("person")
    assert get_args(S.SegmentationModel) == ("auto", *person)
    assert get_args(S.FaceDetectorModel) == model_specs.names("face_detector")
    assert set(MODEL_NAMES) | {RVM.name} == set(person)
    assert {name: d.model for name, d in DETECTORS.items()} == model_specs.bundled_files("face_detector")
    assert tuple(quality.MODELS) == person
    eval_choices = next(a for a in cli.build_parser().commands["eval"]._actions if "--model" in a.option_strings)
    assert tuple(eval_choices.choices) == ("all", "both", *person)
    words = meta(field_of(S.SegmentationSettings, "model")).choices
    assert list(words) == ["auto", *person]
