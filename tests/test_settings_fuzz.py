"""A seeded fuzz corpus against the settings loader: every file gives Settings, never an exception.

The corpus is the broken files from issue 11 (deep nesting, 4300+ digit integers, a 50 MB value,
NaN and numbers where a path belongs, null/{}/7 avatar photos, a byte-order mark, wrong types in
every field) plus seeded random mutations of valid files. For each file ``load`` must return; a file
it calls broken must give exactly the defaults, exactly one warning no longer than a few hundred
characters, and a byte-identical ``.bak``; a file it accepts must give exactly what the JSON says.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import typing
from pathlib import Path

import pytest
from conftest import written_long_ago

from livecam import settings as S

SEED = 20251201
RANDOM_CASES = 300
LONGEST_WARNING = 600  # characters: a path, a reason and the backup's name, never a 50 MB value

ODD_VALUES = [None, True, False, 0, -1, 7, 1.5, -1e300, 10**40, "", "x", "\x00", "#zzzzzz", [], [1], {}, {"a": 1}]
FIELD_VALUES = [None, True, 7, -1.5, "x", [], {"a": 1}]  # one of each JSON kind, tried in every field


def _valid_variants() -> list[dict]:
    """A few valid settings dicts: defaults, everything switched on, and partial files."""
    full = S.to_dict(S.Settings())
    on = json.loads(json.dumps(full))
    on["background"].update(mode="image", image="/home/me/beach.jpg", blur=10)
    on["touch_up"]["strength"] = 55
    on["low_light"].update(mode="manual", exposure=1.5, denoise=40)
    on["avatar"].update(mode="swap", photo="/home/me/anna.jpg")
    on["badge"]["enabled"] = True
    on["capture"].update(source="0", width=640, height=480, fps=15)
    return [full, on, {"background": {"blur": 10}}, {"low_light": {"mode": "auto"}}, {}]


def _fixed_cases() -> list[tuple[str, bytes]]:
    cases: list[tuple[str, bytes]] = []
    for depth in (1000, 5000, 100_000):
        cases.append((f"list nesting {depth}", b"[" * depth + b"]" * depth))
        cases.append((f"object nesting {depth}", b'{"a":' * depth + b"1" + b"}" * depth))
        cases.append((f"nesting {depth} inside a field", b'{"capture": {"source": ' + b"[" * depth + b"]" * depth + b"}}"))
    for digits in (4301, 5000, 100_000):
        cases.append((f"{digits}-digit blur", b'{"background": {"blur": ' + b"9" * digits + b"}}"))
        cases.append((f"{digits}-digit top level", b"1" * digits))
    cases.append(("1e999", b'{"low_light": {"exposure": 1e999}}'))
    for const in (b"NaN", b"Infinity", b"-Infinity"):
        cases.append((f"background.image = {const.decode()}", b'{"background": {"image": ' + const + b"}}"))
        cases.append((f"exposure = {const.decode()}", b'{"low_light": {"exposure": ' + const + b"}}"))
    for value in (b"7", b"7.5", b"true", b"null", b"[]", b"{}"):
        cases.append((f"background.image = {value.decode()}", b'{"background": {"image": ' + value + b"}}"))
        cases.append((f"avatar.photo = {value.decode()}", b'{"avatar": {"photo": ' + value + b"}}"))
    cases.append(("BOM + valid", b"\xef\xbb\xbf" + json.dumps({"background": {"blur": 12}}).encode()))
    cases.append(("BOM + broken", b"\xef\xbb\xbf{"))
    cases.append(("UTF-16", json.dumps({"background": {"blur": 12}}).encode("utf-16")))
    cases.append(("latin-1", '{"background": {"image": "caf\xe9.jpg"}}'.encode("latin-1")))
    cases.append(("lone surrogate", b'{"capture": {"source": "\\ud800"}}'))
    cases.append(("NUL in a path", b'{"background": {"image": "a\\u0000b.jpg"}}'))
    cases.append(("huge key", b'{"' + b"k" * 200_000 + b'": {}}'))
    cases.append(("huge field name", b'{"capture": {"' + b"k" * 200_000 + b'": 1}}'))
    for text in ("", " ", "\n", "null", "[]", '"settings"', "0", "{", "}", '{"capture": ', '{"capture": {}}}',
                 '{"capture": []}', '{"capture": null}', '{"nonsense": {}}', "\x00" * 10):
        cases.append((f"text {text[:12]!r}", text.encode()))
    defaults = S.Settings()
    for section_field in dataclasses.fields(S.Settings):
        section = section_field.name
        for f in dataclasses.fields(getattr(defaults, section)):
            for value in FIELD_VALUES:
                cases.append((f"{section}.{f.name} = {value!r}", json.dumps({section: {f.name: value}}).encode()))
    return cases


def _json_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-10**6, 10**6)
    if kind == 3:
        return rng.uniform(-1e6, 1e6)
    if kind == 4:
        return "".join(rng.choice("ab#/.é0\\\" \n") for _ in range(rng.randrange(12)))
    if kind == 5:
        return rng.choice(ODD_VALUES)
    if kind in (6, 7):
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(_json_value(rng, depth + 1))[:8]: _json_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _mutate(rng: random.Random, valid: dict) -> bytes:
    """One random mutation of a valid file: typed (a value, key or section changed) or raw bytes."""
    data = json.loads(json.dumps(valid))
    if rng.random() < 0.5 and data:
        section = rng.choice(sorted(data))
        op = rng.randrange(5)
        if op == 0 and data[section]:
            data[section][rng.choice(sorted(data[section]))] = _json_value(rng)
        elif op == 1:
            data[section] = _json_value(rng)
        elif op == 2:
            data[rng.choice([section.upper(), section + "x", ""])] = data.pop(section)
        elif op == 3 and data[section]:
            key = rng.choice(sorted(data[section]))
            data[section][key + rng.choice(["_", "2", ""])] = data[section].pop(key)
        else:
            data[section] = [data[section]] * rng.randrange(1, 3)
        text = json.dumps(data, indent=rng.choice([None, 2]), ensure_ascii=rng.random() < 0.5)
        return text.encode()
    raw = bytearray(json.dumps(data, indent=2).encode())
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(5)
        pos = rng.randrange(len(raw) + 1)
        if op == 0 and raw:
            raw[min(pos, len(raw) - 1)] = rng.randrange(256)
        elif op == 1:
            del raw[pos : pos + rng.randrange(1, 20)]
        elif op == 2:
            raw[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif op == 3:
            raw[pos:pos] = rng.choice([b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"NaN", b"1e999", b"-", b"\xef\xbb\xbf"])
        else:
            del raw[pos:]
    return bytes(raw)


def corpus() -> list[tuple[str, bytes]]:
    rng = random.Random(SEED)
    valid = _valid_variants()
    cases = _fixed_cases()
    cases += [(f"random {i}", _mutate(rng, rng.choice(valid))) for i in range(RANDOM_CASES)]
    return cases


def _assert_well_typed(settings: S.Settings) -> None:
    """An independent oracle: every accepted value has its field's declared type (bool is not a number)."""
    for section_field in dataclasses.fields(settings):
        section = getattr(settings, section_field.name)
        hints = typing.get_type_hints(type(section))
        for f in dataclasses.fields(section):
            value, hint = getattr(section, f.name), hints[f.name]
            where = f"{section_field.name}.{f.name} = {value!r}"
            if typing.get_args(hint):
                assert value in typing.get_args(hint) and isinstance(value, str), where
            elif hint is bool:
                assert isinstance(value, bool), where
            elif hint is int:
                assert isinstance(value, int) and not isinstance(value, bool), where
            elif hint is float:
                assert isinstance(value, (int, float)) and not isinstance(value, bool), where
                assert math.isfinite(value), where
            elif hint is str:
                assert isinstance(value, str) and "\x00" not in value, where


def _check_one(folder: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> str:
    """Load ``content``; returns "broken" or "valid" once every promise about it is checked."""
    folder.mkdir()
    path = folder / "settings.json"
    path.write_bytes(content)
    written_long_ago(path)  # these are finished files, not half written ones
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="livecam"):
        result = S.load(path)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert isinstance(result, S.Settings)
    if warnings:
        assert len(warnings) == 1, [r.getMessage()[:200] for r in warnings]
        message = warnings[0].getMessage()
        assert len(message) <= LONGEST_WARNING and "\n" not in message, message[:LONGEST_WARNING]
        if "LiveCam uses the rest" in message:
            # Kept: only what this version accepts (each setting checked), something the user chose.
            _assert_well_typed(result)
            assert result != S.Settings()
        else:
            assert result == S.Settings()
        assert (folder / "settings.json.bak").read_bytes() == content
        assert path.read_bytes() == content  # the file itself is left for the user too
        return "broken"
    # Accepted: it must say exactly what the file says (a BOM is allowed), in the declared types.
    assert result == S.from_dict(json.loads(content.decode("utf-8-sig")))
    _assert_well_typed(result)
    assert not (folder / "settings.json.bak").exists()
    return "valid"


def test_settings_fuzz_corpus_never_crashes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cases = corpus()
    assert len(cases) >= 500
    outcome = {"broken": 0, "valid": 0}
    crashes = []
    for i, (name, content) in enumerate(cases):
        try:
            outcome[_check_one(tmp_path / str(i), content, caplog)] += 1
        except Exception as exc:  # noqa: BLE001 - collected so the report names every failing case
            crashes.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
    print(f"settings fuzz: {len(cases)} cases, {outcome['broken']} broken and handled, "
          f"{outcome['valid']} valid, {len(crashes)} crashes")
    assert not crashes, "\n".join(crashes[:20])
    assert outcome["broken"] > 300 and outcome["valid"] > 20  # the corpus exercises both paths


def test_corpus_is_reproducible() -> None:
    assert corpus() == corpus()


def test_a_50_mb_source_is_refused_without_echoing_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    content = json.dumps({"capture": {"source": "/x" * 25_000_000}}).encode()
    assert _check_one(tmp_path / "big", content, caplog) == "broken"
    assert "over 1024 kB" in caplog.records[0].getMessage()
