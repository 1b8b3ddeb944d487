"""Named presets: the effect settings saved as JSON in ``config_dir()/presets/<name>.json``.

A preset holds only what shapes the picture (background, touch-up, low light, avatar, masks and face
tracking); switching to one never changes the camera, the output or the inference provider.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livecam import settings as S
from livecam.effects import effect_sections
from livecam.messages import shown
from livecam.private_files import FolderError, reason, write_private

# What shapes the picture: the masks, the face tracking and every effect's own section.
PRESET_SECTIONS = ("segmentation", "face", *(name for name, _ in effect_sections()))
MAX_NAME = 60
NAMED = 5  # settings left out named in a sentence; the rest are counted


class PresetError(ValueError):
    """A preset cannot be saved or used; the message says why and what to do."""


def presets_dir() -> Path:
    return S.config_dir() / "presets"


def _slug(name: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in name.strip().lower()).strip("-")
    return "-".join(part for part in slug.split("-") if part)


def _path(name: str) -> Path:
    return presets_dir() / f"{_slug(name)}.json"


def check_name(name: str) -> str:
    """The name with spaces trimmed; raises PresetError when it cannot name a file."""
    name = name.strip()
    if not _slug(name):
        raise PresetError("A preset name needs at least one letter or digit.")
    if len(name) > MAX_NAME:
        raise PresetError(f"A preset name can have at most {MAX_NAME} characters.")
    return name


def exists(name: str) -> bool:
    # os.path.isfile, not Path.is_file: that raises for a config folder whose name is too long, and the
    # tray app did not start (its presets menu is filled as it starts).
    return bool(_slug(name)) and os.path.isfile(_path(name))


def save_preset(name: str, settings: S.Settings) -> Path:
    """Save the effect sections of ``settings`` as preset ``name`` (overwrites one of the same name)."""
    name = check_name(name)
    data = S.to_dict(settings)
    body = {"name": name, "settings": {section: data[section] for section in PRESET_SECTIONS}}
    try:
        return write_private(_path(name), json.dumps(body, indent=2) + "\n")
    except FolderError as exc:
        raise PresetError(exc.sentence(f"the preset {name!r} was not saved")) from None
    except OSError as exc:  # a full disk, a read-only one, a folder where the file goes
        raise PresetError(f"The preset {name!r} was not saved to {shown(str(_path(name)))}: {reason(exc)}.") \
            from None


def _broken(path: Path, why: str) -> PresetError:
    return PresetError(f"Preset file {shown(str(path))} is broken ({why}); save the preset again or delete the file.")


def _read(path: Path) -> dict[str, Any]:
    try:
        # settings' own reader: a FIFO or a device named *.json, or a huge file, never blocks the list.
        body = S.read_json(path)
    except S.Unusable as exc:
        raise _broken(path, str(exc)) from None
    if not isinstance(body, dict) or not isinstance(body.get("settings"), dict):
        raise _broken(path, "it holds no settings")
    if not isinstance(body.get("name"), str) or not _slug(body["name"]):
        raise _broken(path, "it has no name")
    if _slug(body["name"]) != path.stem:
        # A copied or renamed file: listed under its name, choosing it loaded another file or none.
        raise PresetError(f"Preset file {shown(str(path))} holds the preset {shown(body['name'], 60)!r}, whose "
                          f"file would be {shown(_slug(body['name']) + '.json', 60)}; rename the file or save the "
                          "preset again.")
    # A preset written by a newer LiveCam (a setting, a value or an effect this one does not know) was left out of
    # the menu whole, and said nothing: what this version knows is kept, each value checked as the settings file's
    # are, in today's shape (avatar.keep_eyes_mouth, avatar.badge of an older one). The file is never rewritten.
    found = S.salvaged_values(body["settings"])
    if found is None:
        raise _broken(path, "it holds no settings")
    kept, left = found
    # A section presets do not hold (the camera, the output) is never applied: a preset never switches them.
    left += [shown(name, 40) for name in kept if name not in PRESET_SECTIONS]
    kept = {name: values for name, values in kept.items() if name in PRESET_SECTIONS}
    if left and not kept:
        raise PresetError(f"Preset file {shown(str(path))} holds nothing this LiveCam can use ({_names(left)}: "
                          "written by a newer version, or broken); save the preset again or delete the file.")
    return {**body, "settings": kept, "left": left}


def _names(left: list[str]) -> str:
    return ", ".join(left[:NAMED]) + (f" and {len(left) - NAMED} more" if len(left) > NAMED else "")


def all_presets(tell: Callable[[str], None] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Every saved preset, name -> sections, sorted by name. A file with nothing usable is left out, and a
    preset with settings this version does not know keeps the rest: ``tell`` gets one sentence for each, once
    per file as it is now (and the log a warning)."""
    found = {}
    try:
        paths = list(presets_dir().glob("*.json"))
    except OSError:  # a folder name too long, a drive gone: no presets to offer; saving one says why
        paths = []
    for path in paths:
        try:
            body = _read(path)
        except PresetError as exc:
            _say_once(path, str(exc), tell)
            continue
        name = str(body["name"])
        if body["left"]:
            _say_once(path, f"The preset {shown(name, 60)!r} holds settings this LiveCam cannot use "
                            f"({_names(body['left'])}: written by a newer version, or edited by hand); it uses the "
                            f"rest, and its file {shown(str(path))} is left as it is.", tell)
        found[name] = body["settings"]
    return dict(sorted(found.items(), key=lambda item: item[0].casefold()))


def _say_once(path: Path, sentence: str, tell: Callable[[str], None] | None) -> None:
    # A reader that shows nothing (matching_preset) does not use up the telling, nor does a file gone since.
    if tell is not None and S.file_key(path) is not None and S.warn_once(path, sentence):
        tell(sentence)


def list_presets(tell: Callable[[str], None] | None = None) -> list[str]:
    return list(all_presets(tell))


def load_preset(name: str) -> dict[str, dict[str, Any]]:
    """The preset's sections, as ``{"background": {...}, ...}``."""
    path = _path(name) if _slug(name) else None
    if path is None or not os.path.isfile(path):
        raise PresetError(f"There is no preset called {name!r}; save one first.")
    return _read(path)["settings"]


def apply_preset(name: str, settings: S.Settings) -> S.Settings:
    """``settings`` with the preset's effect sections; everything else is kept."""
    return S.update(settings, **load_preset(name))


def matching_preset(settings: S.Settings, saved: dict[str, dict[str, Any]] | None = None) -> str | None:
    """The name of a saved preset equal to ``settings`` in every effect section, if any.

    ``saved`` is ``all_presets()`` read earlier (the window checks on every change and does not
    re-read the files each time).
    """
    saved = all_presets() if saved is None else saved
    current = S.to_dict(settings)
    for name, sections in saved.items():
        if all(current[section] == {**current[section], **values} for section, values in sections.items()):
            return name
    return None


def delete_preset(name: str) -> None:
    path = _path(name) if _slug(name) else None
    if path is None or not os.path.isfile(path):
        raise PresetError(f"There is no preset called {name!r}.")
    try:
        path.unlink()
    except OSError as exc:  # a read-only disk, a folder that is not ours to change
        raise PresetError(f"The preset {name!r} was not deleted: {reason(exc)}.") from None
