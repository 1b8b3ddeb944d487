"""Red team on the settings file (helper redteam5): what LiveCam writes it must read back, whatever
the values, and saves that race must leave one whole private file.

These guard promises that held when tried ("bad input loses nothing", "personal files private and
never half-written"): any settings object LiveCam accepts, saved and loaded again, is the same
object, with no backup made (a backup means LiveCam took its own file for a broken one) and no
warning; two front ends saving at once (the tray and a ``run --save``) leave one of the two, whole.
"""
from __future__ import annotations

import logging
import os
import stat
import threading
from dataclasses import fields

from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from livecam import settings as S
from livecam.setting_fields import literal_choices, meta, value_type


def _field(section: str, cls: type, f) -> st.SearchStrategy:
    """Any value the field's declaration allows (its choices, its range, any text for a path)."""
    key = f"{section}.{f.name}"
    choices = literal_choices(cls, f.name)
    if choices:
        return st.sampled_from(choices)
    if key == "background.color":
        return st.from_regex(r"\A#[0-9a-fA-F]{6}\Z")
    if key == "runtime.provider":
        return st.sampled_from(S.PROVIDERS)
    kind, m = value_type(cls, f.name), meta(f)
    if kind is bool:
        return st.booleans()
    if kind is int:
        lo, hi = m.range or (-10**6, 10**6)
        return st.integers(int(lo), int(hi))
    if kind is float:
        lo, hi = m.range or (-1e6, 1e6)
        return st.floats(lo, hi, allow_nan=False)
    assert kind is str, key
    # File names: any Unicode text but NUL and lone surrogates (validation refuses those, saying so).
    return st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


SETTINGS = st.fixed_dictionaries(
    {name: st.fixed_dictionaries({f.name: _field(name, cls, f) for f in fields(cls)}) for name, cls in S.SECTIONS})


@hsettings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=SETTINGS)
def test_any_settings_livecam_accepts_come_back_the_same_from_its_own_file(tmp_path_factory, data, caplog):
    folder = tmp_path_factory.mktemp("cfg")
    path = folder / "settings.json"
    settings = S.from_dict(data)  # every value within its declaration is accepted
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        S.save(settings, path)
        assert S.load(path) == settings
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["settings.json"]  # no backup, no temporary left
    assert not caplog.records


def test_saves_that_race_leave_one_whole_private_file(tmp_path):
    path = tmp_path / "cfg" / "settings.json"
    variants = [S.update(S.Settings(), background={"blur": blur}) for blur in range(0, 100, 10)]
    start = threading.Barrier(len(variants))
    errors = []

    def save(settings):
        start.wait()
        try:
            for _ in range(5):
                S.save(settings, path)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(v,)) for v in variants]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert S.load(path) in variants
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]


def test_a_settings_file_that_is_a_link_stays_a_link(tmp_path):
    """A settings.json linked from a dotfiles folder: saving writes where the link points (0600, in a
    folder no one else may write to) and keeps the link; where others may write to that folder, one
    sentence and nothing changes. Before, the save replaced the user's link with a plain file."""
    kept = tmp_path / "dotfiles"
    kept.mkdir(mode=0o700)
    os.chmod(kept, 0o700)
    target = kept / "livecam.json"
    S.save(S.Settings(), target)
    link = tmp_path / "cfg" / "settings.json"
    link.parent.mkdir(mode=0o700)
    os.chmod(link.parent, 0o700)
    link.symlink_to(target)
    blurred = S.update(S.Settings(), background={"blur": 70})

    S.save(blurred, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert S.load(target) == blurred and S.load(link) == blurred
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert sorted(p.name for p in kept.iterdir()) == ["livecam.json"]  # no temporary left

    os.chmod(kept, 0o777)  # a folder anyone may write to: not a place for personal files
    before = target.read_bytes()
    try:
        S.save(S.Settings(), link)
    except S.SettingsError as exc:
        assert "not saved" in str(exc) and str(exc).count(". ") <= 2
    else:
        raise AssertionError("a save into a folder others can write to went through")
    finally:
        os.chmod(kept, 0o700)
    assert link.is_symlink() and target.read_bytes() == before
