"""The GUI's one copy of the current Settings: every control changes it here, everyone listens.

Changes are validated by ``settings.update`` and saved to the same file the CLI reads, shortly after
the last change (a dragged slider saves once, not thirty times a second).
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any, NamedTuple

from PySide6 import QtCore

from livecam import settings as S
from livecam.chosen_files import Refusal, unusable_choice
from livecam.gui import relay

log = logging.getLogger(__name__)

SAVE_DELAY_MS = 500
# While the file cannot be written (made read-only, a full disk) the save is tried again this often, so
# the changes kept meanwhile are saved once it can be, with no further change needed.
SAVE_RETRY_MS = 5000
# A file check not back by then (a hung network drive, a decoder that never returns) is refused, so
# the choice is neither lost in silence nor "being checked" for ever; the first check loads the
# models and took up to 7 s on a loaded machine.
CHECK_LIMIT_S = 30.0
_NONE = object()


# A file check's answer: (the section refused on its own, or None for the whole choice; why), per refusal.
Refused = tuple[tuple[str | None, Refusal], ...]


class _Pending(NamedTuple):
    """A choice waiting for its file check: ``changes`` (for ``update``) or the whole ``settings``."""

    number: int
    changes: dict[str, dict[str, Any]] | None
    settings: S.Settings
    refused: str  # what the refusal sentence starts with ("" or "The preset 'X' was not applied: ")


class SettingsStore(QtCore.QObject):
    changed = QtCore.Signal(object)  # the new Settings
    rejected = QtCore.Signal(str)  # a plain sentence: why a change was not taken
    checking_changed = QtCore.Signal(str)  # "Checking the photo me.jpg …" while a chosen file is checked, then ""
    unsaved = QtCore.Signal(str)  # why the changes cannot be saved (once, when that starts), then "" once saved

    def __init__(self, settings: S.Settings, persist: bool = True, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._persist = persist
        self._saved = S.load() if persist else settings
        # Command-line flags (e.g. --source clip.mp4) are for this session: they stay out of the file
        # unless the user changes that field here.
        self._session_only = S.differences(self._saved, settings)
        self._written = settings  # the settings as of the last save: what changed since is the tray's own
        self._timer = QtCore.QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._timer.timeout.connect(lambda: self.flush(wait=False))
        self._dirty = False
        self.unsaved_reason = ""  # why the last save failed ("" while saving works)
        self._why = ""  # the last failed save's own sentence, without "kept while LiveCam runs"
        # A newly chosen file is checked off the GUI thread: an avatar photo by the effect's own load (a
        # face fit: 0.2-2.4 s), a background picture or video by a bounded decode (a 12 MP PNG: 230 ms,
        # a 4K video up to 320 ms, a file on a slow drive: unbounded), each of which froze the tray and
        # the settings window when run here.
        self._checks = _CheckThread()
        self._pending: _Pending | None = None
        self._numbered = 0
        self._last_check: Future | None = None
        relay.on_gui_thread()  # the check thread's answers come back through it
        self._limit = QtCore.QTimer(self, singleShot=True)
        self._limit.timeout.connect(self._check_overdue)

    @property
    def settings(self) -> S.Settings:
        return self._settings

    @property
    def checking(self) -> bool:
        """A chosen file is being checked; it is applied or refused when the check returns."""
        return self._pending is not None

    @property
    def checked_fields(self) -> tuple[str, ...]:
        """The file fields ("avatar.photo", "background.video", …) whose new file is being checked."""
        return _new_files(self._settings, self._pending.settings) if self._pending is not None else ()

    def checked_file(self, key: str) -> str:
        """The file being checked for the field ``key`` ("background.image"), or "" when none is: what a
        list of files shows as pending meanwhile, not as the one still in use."""
        if key not in self.checked_fields:
            return ""
        section, name = key.split(".")
        return getattr(getattr(self._pending.settings, section), name)

    @property
    def checking_sentence(self) -> str:
        """What is being checked, as the tray and the settings window say it meanwhile; "" when nothing."""
        checked = self._checked_file()
        return f"Checking the {checked} …" if checked else ""

    def _checked_file(self) -> str:
        """"photo me.jpg": the first file being checked, by its kind and name; "" when none is."""
        fields = self.checked_fields
        if not fields:
            return ""
        from livecam.messages import shown

        return f"{FILE_WORDS[fields[0]]} {shown(Path(self.checked_file(fields[0])).name)}"

    def _set_pending(self, pending: _Pending | None) -> None:
        before = self.checking_sentence
        self._pending = pending
        if pending is None:
            self._limit.stop()
        after = self.checking_sentence
        if after != before:
            self.checking_changed.emit(after)

    def update(self, **changes: dict[str, Any]) -> bool:
        """``store.update(background={"mode": "blur"})``; False (and ``rejected``) if a value is invalid.
        A newly chosen file is checked off the GUI thread: True then means "being checked", and the
        change is applied, or refused with ``rejected``, when the check returns (see ``checking``)."""
        try:
            new = S.update(self._settings, **changes)
        except (S.SettingsError, TypeError) as exc:
            self.rejected.emit(str(exc))
            return False
        if self._pending is not None and _overlap(self._pending, changes):
            self._set_pending(None)  # the user's newer choice of the same setting wins over the one being checked
        if _new_files(self._settings, new):
            pending = self._pending
            if pending is not None and pending.changes is not None:
                # Another file picked while one is checked: both are checked together, not the first dropped.
                merged = {k: {**pending.changes.get(k, {}), **changes.get(k, {})} for k in {*pending.changes, *changes}}
                self._check(_Pending(0, merged, S.update(self._settings, **merged), pending.refused))
            else:
                self._check(_Pending(0, changes, new, ""))
            return True
        self.replace(new)
        return True

    def choose(self, settings: S.Settings, refused: str = "") -> bool:
        """Replace the settings with ``settings`` (a preset) once the files newly named in them pass
        the check a picked file passes; a refusal is ``refused`` + its sentence. A new avatar photo is
        checked off the GUI thread, as in ``update``."""
        self._set_pending(None)  # a newer whole choice
        if _new_files(self._settings, settings):
            self._check(_Pending(0, None, settings, refused))
            return True
        self.replace(settings)
        return True

    def _check(self, pending: _Pending) -> None:
        self._numbered += 1
        pending = pending._replace(number=self._numbered)
        old = self._settings
        self._set_pending(pending)
        # Files of two sections picked one after the other (a photo while a picture was being checked) are
        # checked section by section: one refused must not drop the other in silence.
        parts = () if pending.changes is None else tuple(
            dict.fromkeys(key.partition(".")[0] for key in _new_files(old, pending.settings)))
        self._last_check = self._checks.submit(self._run_check, pending.number, old, pending.settings,
                                               parts if len(parts) > 1 else ())
        self._limit.start(int(CHECK_LIMIT_S * 1000))

    def _check_overdue(self) -> None:
        """The check did not come back within CHECK_LIMIT_S: refuse the choice, and check later choices
        on a new thread (the old one may never come back; its answer is dropped if it does)."""
        pending, checked = self._pending, self._checked_file()
        if pending is None:
            return
        self._set_pending(None)
        self._checks.abandon()
        self._checks = _CheckThread()
        self._last_check = None
        why = (f"The {checked or 'chosen file'} could not be checked within {CHECK_LIMIT_S:g} s (a slow or "
               "unreachable drive?); choose it again, or copy it to this computer first.")
        kept = "Nothing was changed."
        self.rejected.emit(_refusal_words(pending.refused, Refusal(why, kept)))

    def wait_for_checks(self, timeout: float) -> bool:
        """True when no file check is still running after at most ``timeout`` seconds (tests, clean exit);
        the answers still arrive through the event loop."""
        last = self._last_check  # the checks run one at a time, in order: the last one ends last
        if last is not None:
            wait([last], timeout)
        return last is None or last.done()

    def _run_check(self, number: int, old: S.Settings, new: S.Settings,
                   parts: tuple[str, ...] = ()) -> tuple[int, Refused]:
        """On the check thread; the answer is also the future's result, for ``settle`` at quit. With
        ``parts`` each of those sections' files is checked on its own (a refusal names its section)."""
        try:
            if parts:
                answers = ((p, unusable_choice(old, dataclasses.replace(old, **{p: getattr(new, p)}))) for p in parts)
                refused: Refused = tuple((p, r) for p, r in answers if r)
            else:
                refusal = unusable_choice(old, new)
                refused = ((None, refusal),) if refusal else ()
        except BaseException as exc:  # noqa: BLE001 - a file that was not checked is not taken; and an answer
            # must come back whatever was raised (a SystemExit from a library left the choice "being checked")
            log.warning("Checking the chosen files failed", exc_info=True)
            refused = ((None, Refusal(f"The chosen files could not be checked ({type(exc).__name__}); choose them "
                                      "again.", "Nothing was changed.")),)
        relay.answer(self._check_returned, number, refused)  # dropped if the store is gone (the app quit)
        return number, refused

    def _check_returned(self, number: int, refused: Refused) -> None:
        """On the GUI thread: apply or refuse the choice, unless a newer one replaced it meanwhile."""
        said = self._take_answer(number, refused)
        if said:
            self.rejected.emit(said)

    def _take_answer(self, number: int, refused: Refused) -> str:
        """Apply the pending choice ``number`` checked, or drop what was refused (a section refused on
        its own: the rest is applied); the refusals' sentences or "" (nothing to say, or an answer to a
        choice a newer one replaced)."""
        pending = self._pending
        if pending is None or pending.number != number:
            return ""
        self._set_pending(None)
        if pending.changes is None or any(part is None for part, _ in refused):
            if refused:
                return " ".join(_refusal_words(pending.refused, refusal) for _, refusal in refused)
            self.replace(pending.settings)
            return ""
        dropped = {part for part, _ in refused}
        changes = {section: fields for section, fields in pending.changes.items() if section not in dropped}
        said = [_refusal_words(pending.refused, Refusal(r.why, f"The {part} settings stay as they were."))
                for part, r in refused]
        try:
            # On top of what changed meanwhile (a slider moved while the photo was checked).
            new = S.update(self._settings, **changes)
        except (S.SettingsError, TypeError) as exc:
            return str(exc)
        self.replace(new)
        return " ".join(said)

    def settle(self, timeout: float) -> str:
        """At quit: wait up to ``timeout`` s for the check of a choice still being checked and take its
        answer now, so ``flush`` saves a file that passed (the event loop that would bring the answer has
        ended: a photo picked just before Quit was dropped in silence). A check not back by then is not
        taken, as an unchecked file never is. Returns what the user should hear, or "": the refusal, or
        that the choice was not kept; logged too, as no window shows it any more."""
        self.wait_for_checks(timeout)
        if self._pending is None:
            return ""
        last, said = self._last_check, ""
        if last is not None and last.done() and last.exception() is None:
            said = self._take_answer(*last.result())
        if self._pending is not None:  # still being checked
            said = (f"The {self._checked_file() or 'chosen file'} was still being checked when LiveCam quit, so "
                    "it was not kept; choose it again.")
            self._set_pending(None)
        if said:
            log.warning("%s", said)
        return said

    def replace(self, settings: S.Settings) -> None:
        if settings == self._settings:
            return
        self._settings = settings
        self.changed.emit(settings)
        if self._persist:
            self._dirty = True
            self._timer.start(SAVE_DELAY_MS)

    def to_save(self, wait: bool = True) -> S.Settings | None:
        """What the file holds now, with the changes made here since the last save on top. The whole
        copy written at each change threw away what another LiveCam (``run --save``, a second tray, an
        editor) had put in the file meanwhile. None while another program writes the file and ``wait``
        is False."""
        on_disk = self._on_disk(wait)
        if on_disk is None:
            return None
        mine = {key: value for key, value in S.differences(self._written, self._settings).items()
                if self._session_only.get(key, _NONE) != value}
        return S.with_changes(on_disk, mine)

    def _on_disk(self, wait: bool) -> S.Settings | None:
        """The file's settings; the last saved ones when it is missing or cannot be used. A file caught
        half written by another program (unreadable, and changed in the last SETTLE_S) is read again once
        it settles, for at most 2 x SETTLE_S when ``wait``, else None: taken for broken, the half file
        was kept as the .bak, and the save's rename threw away the whole one its writer then finished."""
        from livecam.private_files import check_folder

        path = S.settings_path()
        try:
            check_folder(path.parent)  # a file in a folder others may write to is not read (as load())
        except Exception:  # noqa: BLE001 - untrusted folder: what was saved last stands in
            return self._saved
        try:
            return S.read_settled(path, wait)
        except Exception:  # noqa: BLE001 - untrusted file: what was saved last stands in
            return self._saved

    def flush(self, wait: bool = True) -> None:
        """Write pending changes now (called on quit); ``wait=False`` (the save timer) tries again later
        while another program writes the file, instead of waiting for it."""
        self._timer.stop()
        if not self._dirty:
            return
        try:
            current = self._settings
            # Read, merge and rename under the writers' lock, merged again if the file changed meanwhile.
            settings = S.save_merged(lambda: self.to_save(wait), wait=wait)
        except S.SettingsError as exc:
            self._cannot_save(str(exc))
            return
        except OSError as exc:
            from livecam.private_files import reason

            self._cannot_save(f"The settings were not saved: {reason(exc)}.")
            return
        if settings is None:  # another program is writing the file: try again shortly
            self._timer.start(SAVE_DELAY_MS)
            return
        self._saved, self._written = settings, current
        self._dirty = False
        self._why = ""
        if self.unsaved_reason:
            self.unsaved_reason = ""
            log.info("The settings were saved: the file can be written again.")
            self.unsaved.emit("")

    def _cannot_save(self, why: str) -> None:
        """Keep the changes, try again in SAVE_RETRY_MS, and say so once: the sentence came on every save
        attempt (every slider moved) for as long as the file stayed read-only."""
        self._timer.start(SAVE_RETRY_MS)
        self._why = why
        if self.unsaved_reason:
            return
        self.unsaved_reason = (f"{why} Your changes are kept while LiveCam runs and saved as soon as the file can "
                               "be written.")
        log.error("%s", self.unsaved_reason)
        self.unsaved.emit(self.unsaved_reason)

    def lost_at_quit(self) -> str:
        """At quit, after the last ``flush``: the sentence saying the changes it could not save are lost, or
        "" when nothing is. The outage was said once, when it began, with "kept while LiveCam runs", and
        Quit then dropped the changes in silence."""
        if not (self._persist and self._dirty):
            return ""
        why = self._why or "The settings were not saved."
        return f"LiveCam quit with settings changes it could not save, so they are lost (set them again): {why}"


def _refusal_words(refused: str, refusal: Refusal) -> str:
    return f"{refused}{refusal.why} {refusal.kept}"


# The file fields a choice is checked for, each with the word a sentence names its file by.
FILE_WORDS = {"avatar.photo": "photo", "background.image": "picture", "background.video": "video"}


def _new_files(old: S.Settings, new: S.Settings) -> tuple[str, ...]:
    """The file fields in which ``new`` names a file ``old`` did not: what ``unusable_choice`` reads."""
    out = []
    for key in FILE_WORDS:
        section, name = key.split(".")
        chosen = getattr(getattr(new, section), name)
        if chosen and chosen != getattr(getattr(old, section), name):
            out.append(key)
    return tuple(out)


class _CheckThread:
    """One daemon thread that runs the file checks in order, as a one-thread executor would; a daemon,
    because a check that never returns (a hung network drive) must not keep LiveCam from quitting,
    and an executor's thread is joined when Python exits."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None  # started by the first check (most stores check nothing)

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args))
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="livecam-file-check", daemon=True)
            self._thread.start()
        return future

    def abandon(self) -> None:
        """Run nothing more here (the job running now, if any, finishes or not on its own)."""
        self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - kept for whoever waits, as an executor does
                future.set_exception(exc)


def _overlap(pending: _Pending, changes: dict[str, dict[str, Any]]) -> bool:
    """Whether ``changes`` sets a field the pending choice sets (all of them, for a whole preset)."""
    if pending.changes is None:
        return True
    return any(set(fields) & set(pending.changes.get(section, {})) for section, fields in changes.items())
