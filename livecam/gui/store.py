"""The GUI's one copy of the current Settings: every control changes it here, everyone listens.

Changes are validated by ``settings.update`` and saved to the same file the CLI reads, shortly after
the last change (a dragged slider saves once, not thirty times a second).
"""
from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, NamedTuple

from PySide6 import QtCore

from livecam import settings as S
from livecam.chosen_files import Refusal, unusable_choice

log = logging.getLogger(__name__)

SAVE_DELAY_MS = 500
_NONE = object()


class _Pending(NamedTuple):
    """A choice waiting for its file check: ``changes`` (for ``update``) or the whole ``settings``."""

    number: int
    changes: dict[str, dict[str, Any]] | None
    settings: S.Settings
    refused: str  # what the refusal sentence starts with ("" or "The preset 'X' was not applied: ")


class SettingsStore(QtCore.QObject):
    changed = QtCore.Signal(object)  # the new Settings
    rejected = QtCore.Signal(str)  # a plain sentence: why a change was not taken
    _checked = QtCore.Signal(int, object)  # check number, Refusal | None (from the check thread)

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
        # A new avatar photo is checked by the effect's own load (a face fit: 0.2-0.85 s), which
        # froze the tray and the settings window when run here; it runs on this one thread instead.
        self._checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livecam-file-check")
        self._pending: _Pending | None = None
        self._numbered = 0
        self._last_check: Future | None = None
        self._checked.connect(self._check_returned, QtCore.Qt.ConnectionType.QueuedConnection)

    @property
    def settings(self) -> S.Settings:
        return self._settings

    @property
    def checking(self) -> bool:
        """A chosen avatar photo is being checked; it is applied or refused when the check returns."""
        return self._pending is not None

    def update(self, **changes: dict[str, Any]) -> bool:
        """``store.update(background={"mode": "blur"})``; False (and ``rejected``) if a value is invalid.
        A new avatar photo is checked off the GUI thread: True then means "being checked", and the
        change is applied, or refused with ``rejected``, when the check returns (see ``checking``)."""
        try:
            new = S.update(self._settings, **changes)
        except (S.SettingsError, TypeError) as exc:
            self.rejected.emit(str(exc))
            return False
        if self._pending is not None and _overlap(self._pending, changes):
            self._pending = None  # the user's newer choice of the same setting wins over the one being checked
        if _photo_chosen(self._settings, new):
            self._check(_Pending(0, changes, new, ""))
            return True
        refusal = unusable_choice(self._settings, new)
        if refusal:
            self.rejected.emit(f"{refusal.why} {refusal.kept}")
            return False
        self.replace(new)
        return True

    def choose(self, settings: S.Settings, refused: str = "") -> bool:
        """Replace the settings with ``settings`` (a preset) once the files newly named in them pass
        the check a picked file passes; a refusal is ``refused`` + its sentence. A new avatar photo is
        checked off the GUI thread, as in ``update``; False when refused here and now."""
        self._pending = None  # a newer whole choice
        if _photo_chosen(self._settings, settings):
            self._check(_Pending(0, None, settings, refused))
            return True
        refusal = unusable_choice(self._settings, settings)
        if refusal:
            self.rejected.emit(_refusal_words(refused, refusal))
            return False
        self.replace(settings)
        return True

    def _check(self, pending: _Pending) -> None:
        self._numbered += 1
        pending = pending._replace(number=self._numbered)
        self._pending = pending
        old = self._settings
        self._last_check = self._checks.submit(self._run_check, pending.number, old, pending.settings)

    def wait_for_checks(self, timeout: float) -> bool:
        """True when no file check is still running after at most ``timeout`` seconds (tests, clean exit);
        the answers still arrive through the event loop."""
        last = self._last_check  # the checks run one at a time, in order: the last one ends last
        if last is not None:
            wait([last], timeout)
        return last is None or last.done()

    def _run_check(self, number: int, old: S.Settings, new: S.Settings) -> None:
        """On the check thread."""
        try:
            refusal = unusable_choice(old, new)
        except Exception as exc:  # noqa: BLE001 - a file that was not checked is not taken
            log.warning("Checking the chosen files failed", exc_info=True)
            refusal = Refusal(f"The chosen files could not be checked ({type(exc).__name__}); choose them again.",
                              "Nothing was changed.")
        try:
            self._checked.emit(number, refusal)
        except RuntimeError:
            pass  # the store was deleted meanwhile (the app quit): nobody waits for the answer

    def _check_returned(self, number: int, refusal: Refusal | None) -> None:
        """On the GUI thread: apply or refuse the choice, unless a newer one replaced it meanwhile."""
        pending = self._pending
        if pending is None or pending.number != number:
            return
        self._pending = None
        if refusal:
            self.rejected.emit(_refusal_words(pending.refused, refusal))
            return
        if pending.changes is None:
            self.replace(pending.settings)
            return
        try:
            # On top of what changed meanwhile (a slider moved while the photo was checked).
            new = S.update(self._settings, **pending.changes)
        except (S.SettingsError, TypeError) as exc:
            self.rejected.emit(str(exc))
            return
        self.replace(new)

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


def _refusal_words(refused: str, refusal: Refusal) -> str:
    return f"{refused}{refusal.why} {refusal.kept}"


def _photo_chosen(old: S.Settings, new: S.Settings) -> bool:
    """Whether ``new`` names an avatar photo ``old`` did not: the check that is slow (a face fit)."""
    return bool(new.avatar.photo) and new.avatar.photo != old.avatar.photo


def _overlap(pending: _Pending, changes: dict[str, dict[str, Any]]) -> bool:
    """Whether ``changes`` sets a field the pending choice sets (all of them, for a whole preset)."""
    if pending.changes is None:
        return True
    return any(set(fields) & set(pending.changes.get(section, {})) for section, fields in changes.items())


def _differences(a: S.Settings, b: S.Settings) -> dict[tuple[str, str], Any]:
    out = {}
    for section in dataclasses.fields(S.Settings):
        sa, sb = getattr(a, section.name), getattr(b, section.name)
        for f in dataclasses.fields(sa):
            if getattr(sa, f.name) != getattr(sb, f.name):
                out[(section.name, f.name)] = getattr(sb, f.name)
    return out
