"""Named presets: the effect settings saved as JSON in ``config_dir()/presets/<name>.json``.

A preset holds only what shapes the picture (background, touch-up, low light, avatar, masks and face
tracking); switching to one never changes the camera, the output or the inference provider.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from livecam import settings as S
from livecam.effects import effect_sections
from livecam.messages import shown
from livecam.private_files import FolderError, reason, write_private

# What shapes the picture: the masks, the face tracking and every effect's own section.
PRESET_SECTIONS = ("segmentation", "face", *(name for name, _ in effect_sections()))
MAX_NAME = 60


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
    sections = body["settings"]
    unknown = set(sections) - set(PRESET_SECTIONS)
    if unknown:
        raise PresetError(f"Preset file {shown(str(path))} sets {shown(sorted(unknown)[0])}, which presets do not "
                          "hold; save it again.")
    try:
        S.from_dict(sections)  # validates every value before anything is applied
    except (ValueError, TypeError, RecursionError) as exc:
        raise _broken(path, shown(str(exc).rstrip("."))) from None
    # Applied as validated: a preset saved by an older LiveCam (avatar.keep_eyes_mouth, avatar.badge)
    # passed the check above in today's shape, then was applied in its old one and refused.
    return {**body, "settings": S.migrate(sections)}


def all_presets() -> dict[str, dict[str, dict[str, Any]]]:
    """Every saved preset, name -> sections, sorted by name; broken files are left out
    (``load_preset`` says what is wrong with one)."""
    found = {}
    try:
        paths = list(presets_dir().glob("*.json"))
    except OSError:  # a folder name too long, a drive gone: no presets to offer; saving one says why
        paths = []
    for path in paths:
        try:
            body = _read(path)
        except PresetError:
            continue
        found[str(body["name"])] = body["settings"]
    return dict(sorted(found.items(), key=lambda item: item[0].casefold()))


def list_presets() -> list[str]:
    return list(all_presets())


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
