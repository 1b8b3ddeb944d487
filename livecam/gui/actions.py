"""The controls the tray menu, the control window and the settings window share, as QActions.

One QAction per control, so a toggle made in one place shows checked everywhere and its keyboard
shortcut works from any LiveCam window. Every toggle only builds new Settings through the store;
whether an effect can run is the pipeline's business (it reports problems, the state line shows them).
"""
from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from livecam import resources
from livecam import settings as S
from livecam.effects import EffectSpec, Toggle, toggles
from livecam.gui import presets, relay
from livecam.gui.icons import state_icon
from livecam.gui.store import SettingsStore
from livecam.gui.thumbnails import Thumbnails
from livecam.gui.user_backgrounds import UserBackgrounds
from livecam.gui.widgets import roomy
from livecam.media import IMAGE_FILTER, IMAGE_SUFFIXES, VIDEO_FILTER, media_kind
from livecam.messages import shown
from livecam.private_files import private_dir
from livecam.setting_fields import field_of, meta

log = logging.getLogger(__name__)

PRESET_SHORTCUTS = 9  # Ctrl+1 .. Ctrl+9 switch to the first nine presets
MAKE_FOLDER_LIMIT_S = 5.0  # as a listing of it (user_backgrounds.LIST_LIMIT_S): past this the drive is away
FILTERS = {"image": IMAGE_FILTER, "video": VIDEO_FILTER}


def user_backgrounds_dir() -> Path:
    return S.config_dir() / "backgrounds"


def background_title(path: Path) -> str:
    """'kde_EveningGlow.jpg' -> 'Evening Glow'; 'my_office.png' -> 'my office'."""
    stem = path.stem
    if stem.startswith(("kde_", "mate_")):
        stem = stem.split("_", 1)[1]
        return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem)
    return stem.replace("_", " ")


def checking_title(path: Path) -> str:
    """A picture still being checked, as the tray menu and the settings window's list both show it."""
    return f"{background_title(path)} (checking …)"


class LiveCamActions(QtCore.QObject):
    settings_requested = QtCore.Signal()
    quit_requested = QtCore.Signal()
    recapture_requested = QtCore.Signal()  # photo avatar: take the next face as the neutral pose
    presets_changed = QtCore.Signal()
    said = QtCore.Signal(str)  # a sentence for where LiveCam's problems are said (a preset only partly usable)

    def __init__(self, store: SettingsStore, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.dialog_parent: QtWidgets.QWidget | None = None  # the window file dialogs belong to
        # What an effect had before it was switched off, so switching it on brings it back as it was.
        self._last_on: dict[str, Any] = {}
        self.thumbnails = Thumbnails(self)
        self.thumbnails.ready.connect(self._thumbnail_made)
        self._background_actions: dict[Path, QtGui.QAction] = {}  # the Background menu's pictures
        self.my_backgrounds = UserBackgrounds(user_backgrounds_dir, self)
        self.my_backgrounds.changed.connect(self._refresh_background_menu)
        relay.on_gui_thread()  # the folder made for "Open my backgrounds folder" comes back through it
        self._making: Path | None = None  # that folder, while it is being made
        self._last_folder = ""  # where this session's last file pick was
        self._making_limit = QtCore.QTimer(self, singleShot=True, interval=int(MAKE_FOLDER_LIMIT_S * 1000))
        self._making_limit.timeout.connect(self._making_overdue)

        self.status = QtGui.QAction("LiveCam is off.", self, enabled=False)
        self._message = "LiveCam is off."
        self.running = self._action("LiveCam on", "Ctrl+E", checkable=True)
        self.toggles: dict[str, QtGui.QAction] = {}
        self._toggles: dict[str, tuple[EffectSpec, Toggle]] = {t.key: (spec, t) for spec, t in toggles()}
        for _, toggle in self._toggles.values():
            action = self._action(toggle.label, toggle.shortcut, checkable=True)
            action.setIconText(toggle.short)  # what tool buttons show
            action.triggered.connect(lambda on, key=toggle.key: self.set_effect(key, on))
            self.toggles[toggle.key] = action
        self.open_settings = self._action("Settings…", "Ctrl+,")
        self.open_settings.triggered.connect(self.settings_requested)
        self.quit = self._action("Quit LiveCam", "Ctrl+Q")
        self.quit.triggered.connect(self.quit_requested)
        self.recapture = self._action("Re-capture neutral pose", "Ctrl+Shift+N")
        self.recapture.triggered.connect(self.recapture_requested)
        self.save_preset = self._action("Save current settings as preset…", "Ctrl+Shift+S")
        self.save_preset.triggered.connect(self.ask_save_preset)

        self.background_menu = QtWidgets.QMenu("Background")
        self.background_menu.aboutToShow.connect(self._fill_background_menu)
        self.presets_menu = QtWidgets.QMenu("Presets")
        self.presets_menu.aboutToShow.connect(self._fill_presets_menu)
        # Preset shortcuts must work before the menu was ever opened, so they are fixed actions.
        self.preset_actions = []
        for n in range(PRESET_SHORTCUTS):
            action = self._action("", f"Ctrl+{n + 1}")
            action.triggered.connect(lambda _=False, n=n: self._switch_preset_number(n))
            self.preset_actions.append(action)
        self.menu = self._build_menu()
        roomy(self.menu, self.background_menu, self.presets_menu)
        self._fill_background_menu()
        self._fill_presets_menu()
        store.changed.connect(self.sync)
        store.checking_changed.connect(self.show_checking)
        # An open Background menu follows a file's check (it is filled each time it opens).
        store.checking_changed.connect(self._refresh_background_menu)
        store.changed.connect(self._refresh_background_menu)
        self.sync(store.settings)

    def _action(self, text: str, shortcut: str = "", checkable: bool = False) -> QtGui.QAction:
        action = QtGui.QAction(text, self, checkable=checkable)
        if shortcut:
            action.setShortcut(QtGui.QKeySequence(shortcut))
            action.setShortcutVisibleInContextMenu(True)  # tray menus are context menus
        return action

    def _build_menu(self) -> QtWidgets.QMenu:
        menu = QtWidgets.QMenu("LiveCam")
        menu.addAction(self.status)
        menu.addAction(self.running)
        menu.addSeparator()
        for action in self.toggles.values():
            menu.addAction(action)
        menu.addAction(self.recapture)
        menu.addSeparator()
        menu.addMenu(self.background_menu)
        menu.addMenu(self.presets_menu)
        menu.addSeparator()
        menu.addAction(self.open_settings)
        menu.addAction(self.quit)
        return menu

    def shortcut_actions(self) -> list[QtGui.QAction]:
        """Actions whose shortcuts a LiveCam window should answer to."""
        return [self.running, *self.toggles.values(), self.recapture, self.open_settings, self.quit, self.save_preset,
                *self.preset_actions]

    # ------------------------------------------------------------ state
    def sync(self, settings: S.Settings) -> None:
        for key, (spec, toggle) in self._toggles.items():
            action = self.toggles[key]
            action.blockSignals(True)
            action.setChecked(is_on(settings, spec, toggle))
            action.blockSignals(False)

    def set_state(self, state: str, message: str) -> None:
        self.status.setIcon(state_icon(state))
        self._message = message
        self.show_checking(self.store.checking_sentence)

    def show_checking(self, sentence: str) -> None:
        """The status line says what is being checked while a chosen file is, then the state again."""
        text = sentence or self._message
        self.status.setText(_elide(text, 70))
        self.status.setToolTip(text)

    # ------------------------------------------------------------ effects
    def set_effect(self, key: str, on: bool) -> bool:
        """Switch one effect on or off; False when the user cancelled a needed file choice."""
        spec, toggle = self._toggles[key]
        current = getattr(getattr(self.store.settings, spec.section), toggle.field)
        if not on:
            if toggle.on is None and current != toggle.off:
                self._last_on[key] = current
            ok = self.store.update(**{spec.section: {toggle.field: toggle.off}})
        else:
            value = toggle.on if toggle.on is not None else self._last_on.get(key, toggle.default_on)
            ok = self.set_choice(spec, toggle.field, value)
        self.sync(self.store.settings)  # a cancelled choice must uncheck the item again
        return ok

    def set_choice(self, spec: EffectSpec, name: str, value: Any) -> bool:
        """Set ``spec.section.name`` to ``value``, first asking for the file an effect needs (e.g. the
        avatar photo) when none is chosen; False when the user cancelled."""
        changes = {name: value}
        section = getattr(self.store.settings, spec.section)
        for toggle in spec.toggles:
            if (toggle.field == name and toggle.file and value != toggle.off and toggle.on in (None, value)
                    and not getattr(section, toggle.file)):
                path = self.ask_for(spec.section, toggle.file)
                if not path:
                    return False
                changes[toggle.file] = path
        return self.store.update(**{spec.section: changes})

    def ask_for(self, section: str, name: str) -> str:
        """Ask for the file a settings field holds, with the words its declaration gives."""
        m = meta(field_of(S.section_type(section), name))
        title = f"Choose the {m.label.lower() or name}" + (f" ({m.help.split('(')[0].strip()})" if m.help else "")
        return self.ask_file(title, FILTERS.get(m.file or "", f"{IMAGE_FILTER};;{VIDEO_FILTER}"))

    def set_background_file(self, path: str) -> bool:
        key = "video" if media_kind(path) == "video" else "image"
        return self.store.update(background={"mode": key, key: path})

    def choose_background_file(self) -> bool:
        path = self.ask_file("Choose a background picture or video", f"{IMAGE_FILTER};;{VIDEO_FILTER}")
        return bool(path) and self.set_background_file(path)

    def choose_background_color(self) -> bool:
        current = QtGui.QColor(self.store.settings.background.color)
        color = QtWidgets.QColorDialog.getColor(current, self.dialog_parent, "Background colour")
        if not color.isValid():
            return False
        return self.store.update(background={"mode": "color", "color": color.name()})

    def ask_file(self, title: str, filter_: str) -> str:
        """A file path from the user, or "" if cancelled (tests replace this)."""
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.dialog_parent, title, self._start_folder(filter_), filter_)
        if path:
            self._last_folder = str(Path(path).parent)
        return path

    def _start_folder(self, filter_: str) -> str:
        """Where a file dialog opens: the folder of this session's last pick, else the user's Pictures
        (or Videos, for a video) folder, else home; every dialog opening in home sent a first-time
        user looking for where their photos are."""
        if self._last_folder:
            return self._last_folder
        kind = QtCore.QStandardPaths.StandardLocation
        where = QtCore.QStandardPaths.writableLocation(kind.MoviesLocation if filter_ == VIDEO_FILTER
                                                       else kind.PicturesLocation)
        return where if where and Path(where).is_dir() else str(Path.home())

    def open_backgrounds_folder(self) -> None:
        """Make the folder when it is missing, then open it in the file manager.

        Made off the GUI thread: on a mount that hangs, mkdir there froze the tray for good. Made
        private (0700, as the config folder it lies in): mkdir made the config folder itself 0755
        when this came first. A folder that does not answer within MAKE_FOLDER_LIMIT_S is said in one
        sentence, and is not opened when it answers later (a window out of nowhere)."""
        if self._making is not None:  # asked again meanwhile: the one under way serves
            if not self._making_limit.isActive():
                self._making_overdue()
            return
        self._making = folder = user_backgrounds_dir()
        self._making_limit.start()
        threading.Thread(target=self._make_folder, args=(folder,), name="livecam-backgrounds-folder",
                         daemon=True).start()

    def _make_folder(self, folder: Path) -> None:
        try:
            private_dir(folder)
            problem: Exception | None = None
        except (OSError, ValueError) as exc:  # FolderError (one sentence of its own), a refusal, a bad path
            problem = exc
        relay.answer(self._folder_made, folder, problem)

    def _folder_made(self, folder: Path, problem: Exception | None) -> None:
        in_time = self._making_limit.isActive()
        self._making = None
        self._making_limit.stop()
        if problem is not None:
            log.warning("The folder %s could not be made: %s", folder, problem)
            said = getattr(problem, "sentence", None)
            why = getattr(problem, "strerror", None) or problem
            self.store.rejected.emit(said("it was not opened") if said else
                                     f"The folder {shown(folder)} could not be made ({why}), so it was not opened.")
        elif in_time:
            QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(folder)))
        else:
            log.info("The folder %s answered after %g s; it was not opened then.", folder, MAKE_FOLDER_LIMIT_S)

    def _making_overdue(self) -> None:
        log.warning("The folder %s did not answer within %g s.", self._making, MAKE_FOLDER_LIMIT_S)
        self.store.rejected.emit(f"The folder {shown(self._making)} does not answer (is it on a drive that is away?), "
                                 "so it was not opened.")

    def thumbnail(self, path: Path) -> QtGui.QIcon:
        """The picture's icon once made off the GUI thread, an empty one until then (``thumbnails.ready``)."""
        return self.thumbnails.icon(path)

    def _thumbnail_made(self, path: Path) -> None:
        action = self._background_actions.get(path)
        if action is not None:
            action.setIcon(self.thumbnail(path))

    def _fill_background_menu(self) -> None:
        menu = self.background_menu
        menu.clear()
        self._background_actions = {}
        s = self.store.settings.background
        current = s.image if s.mode == "image" else s.video if s.mode == "video" else None
        # A picture or video being checked is the one ticked, marked so: the old one looked chosen, as if
        # the pick had been lost. One from elsewhere (Choose file…) gets a line of its own.
        checked = self.store.checked_file("background.image") or self.store.checked_file("background.video")
        ticked = checked or current
        self.my_backgrounds.refresh()  # the folder as of this opening; an open menu refills if it differs
        shipped = resources.background_images()
        mine, unlisted = self.my_backgrounds.paths or [], self.my_backgrounds.sentence
        for path in shipped:
            self._add_background(menu, path, ticked, checked)
        if mine or unlisted:
            menu.addSection("My backgrounds")
            for path in mine:
                self._add_background(menu, path, ticked, checked)
            if unlisted:
                menu.addAction(QtGui.QAction(unlisted, menu, enabled=False))
        if ticked and Path(ticked) not in [*shipped, *mine]:
            self._add_background(menu, Path(ticked), ticked, checked)
        menu.addSeparator()
        menu.addAction("Choose file…", self.choose_background_file)
        menu.addAction("Solid colour…", self.choose_background_color)
        menu.addAction("Open my backgrounds folder", self.open_backgrounds_folder)

    def _refresh_background_menu(self) -> None:
        if self.background_menu.isVisible():
            self._fill_background_menu()

    def _add_background(self, menu: QtWidgets.QMenu, path: Path, current: str | None, checked: str = "") -> None:
        if checked and path == Path(checked):
            # No thumbnail: the file may be on the slow drive its check is waiting for.
            action = menu.addAction(QtGui.QIcon(), checking_title(path))
        else:
            icon = self.thumbnail(path) if path.suffix.lower() in IMAGE_SUFFIXES else QtGui.QIcon()
            action = menu.addAction(icon, background_title(path))
            self._background_actions[path] = action
        action.setCheckable(True)
        action.setChecked(current is not None and Path(current) == path)
        action.setToolTip(str(path))
        action.triggered.connect(lambda _=False, p=str(path): self.set_background_file(p))

    # ------------------------------------------------------------ presets
    def switch_preset(self, name: str) -> bool:
        try:
            new = presets.apply_preset(name, self.store.settings)
        except (presets.PresetError, S.SettingsError) as exc:
            self.store.rejected.emit(str(exc))
            return False
        # A preset's picture or photo may have been moved or deleted since it was saved: as a picked file.
        return self.store.choose(new, refused=f"The preset {name!r} was not applied: ")

    def tell(self, sentence: str) -> None:
        """Say ``sentence`` from the event loop: the presets are first read while this is made, before the app
        has connected ``said``."""
        QtCore.QTimer.singleShot(0, self, lambda: self.said.emit(sentence))

    def _switch_preset_number(self, n: int) -> None:
        names = presets.list_presets(self.tell)
        if n < len(names):
            self.switch_preset(names[n])

    def save_current_preset(self, name: str) -> bool:
        try:
            presets.save_preset(name, self.store.settings)
        except (presets.PresetError, OSError) as exc:
            self.store.rejected.emit(str(exc))
            return False
        self._fill_presets_menu()
        self.presets_changed.emit()
        return True

    def ask_save_preset(self) -> bool:
        name, ok = QtWidgets.QInputDialog.getText(
            self.dialog_parent, "Save preset", "Name for the current effects (e.g. Meeting):"
        )
        if not ok or not name.strip():
            return False
        if presets.exists(name):
            answer = QtWidgets.QMessageBox.question(
                self.dialog_parent, "Save preset", f"A preset called {name.strip()!r} exists. Replace it?"
            )
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return False
        return self.save_current_preset(name)

    def _fill_presets_menu(self) -> None:
        menu = self.presets_menu
        menu.clear()
        names = presets.list_presets(self.tell)
        current = presets.matching_preset(self.store.settings) if names else None
        for n, name in enumerate(names):
            if n < PRESET_SHORTCUTS:
                action = self.preset_actions[n]
                action.setText(name)
            else:
                action = QtGui.QAction(name, menu)
                action.triggered.connect(lambda _=False, name=name: self.switch_preset(name))
            action.setCheckable(True)
            action.setChecked(name == current)
            menu.addAction(action)
        if not names:
            menu.addAction(QtGui.QAction("No presets yet", menu, enabled=False))
        menu.addSeparator()
        menu.addAction(self.save_preset)


def is_on(settings: S.Settings, spec: EffectSpec, toggle: Toggle) -> bool:
    value = getattr(getattr(settings, spec.section), toggle.field)
    return value == toggle.on if toggle.on is not None else value != toggle.off


def _elide(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
