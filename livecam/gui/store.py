"""The GUI's one copy of the current Settings: every control changes it here, everyone listens.

Changes are validated by ``settings.update`` and saved to the same file the CLI reads, shortly after
the last change (a dragged slider saves once, not thirty times a second).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from PySide6 import QtCore

from livecam import settings as S
from livecam.chosen_files import unusable_choice

log = logging.getLogger(__name__)

SAVE_DELAY_MS = 500
_NONE = object()


class SettingsStore(QtCore.QObject):
    changed = QtCore.Signal(object)  # the new Settings
    rejected = QtCore.Signal(str)  # a plain sentence: why a change was not taken

    def __init__(self, settings: S.Settings, persist: bool = True, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._persist = persist
        self._saved = S.load() if persist else settings
        # Command-line flags (e.g. --source clip.mp4) are for this session: they stay out of the file
        # unless the user changes that field here.
        self._session_only = _differences(self._saved, settings)
        self._written = settings  # the settings as of the last save: what changed since is the tray's own
        self._timer = QtCore.QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._timer.timeout.connect(self.flush)
        self._dirty = False

    @property
    def settings(self) -> S.Settings:
        return self._settings

    def update(self, **changes: dict[str, Any]) -> bool:
        """``store.update(background={"mode": "blur"})``; False (and ``rejected``) if a value is invalid."""
        try:
            new = S.update(self._settings, **changes)
        except (S.SettingsError, TypeError) as exc:
            self.rejected.emit(str(exc))
            return False
        refusal = unusable_choice(self._settings, new)
        if refusal:
            self.rejected.emit(f"{refusal.why} {refusal.kept}")
            return False
        self.replace(new)
        return True

    def replace(self, settings: S.Settings) -> None:
        if settings == self._settings:
            return
        self._settings = settings
        self.changed.emit(settings)
        if self._persist:
            self._dirty = True
            self._timer.start()

    def to_save(self) -> S.Settings:
        """What the file holds now, with the changes made here since the last save on top. The whole
        copy written at each change threw away what another LiveCam (``run --save``, a second tray, an
        editor) had put in the file meanwhile."""
        data = S.to_dict(self._on_disk())
        for (section, name), value in _differences(self._written, self._settings).items():
            if self._session_only.get((section, name), _NONE) != value:
                data[section][name] = value
        return S.from_dict(data)

    def _on_disk(self) -> S.Settings:
        """The file's settings; the last saved ones when it is missing or cannot be used."""
        from livecam.private_files import check_folder

        path = S.settings_path()
        try:
            check_folder(path.parent)  # a file in a folder others may write to is not read (as load())
            return S.from_dict(S.read_json(path))
        except Exception:  # noqa: BLE001 - untrusted file: what was saved last stands in
            return self._saved

    def flush(self) -> None:
        """Write pending changes now (called on quit)."""
        self._timer.stop()
        if not self._dirty:
            return
        self._dirty = False
        try:
            current = self._settings
            settings = self.to_save()
            S.save(settings)
            self._saved, self._written = settings, current
        except (OSError, S.SettingsError) as exc:
            log.error("Could not save the settings (%s); the changes last until LiveCam quits.", exc)


def _differences(a: S.Settings, b: S.Settings) -> dict[tuple[str, str], Any]:
    out = {}
    for section in dataclasses.fields(S.Settings):
        sa, sb = getattr(a, section.name), getattr(b, section.name)
        for f in dataclasses.fields(sa):
            if getattr(sa, f.name) != getattr(sb, f.name):
                out[(section.name, f.name)] = getattr(sb, f.name)
    return out
