"""The effects' tabs of the settings window, derived from the registry: one group per effect, one
control per field its entry lists (a slider for a range, radio buttons or a drop-down for choices,
a check box, a file, a colour, the picture list), and a "Reset to neutral" per group of sliders.

Controls never touch the pipeline: each edit builds new Settings through the store, with what the
field's declaration implies (dragging the blur strength means "blur, this much"). ``sync`` shows
settings that changed elsewhere without echoing them back.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from livecam import resources
from livecam import settings as S
from livecam.effects import REGISTRY, EffectSpec
from livecam.gui.actions import LiveCamActions, background_title, checking_title
from livecam.gui.store import FILE_WORDS, SettingsStore
from livecam.gui.widgets import SettingSlider
from livecam.media import kind_by_suffix
from livecam.setting_fields import field_of, literal_choices, meta, value_type

# Tabs of the effects' controls come first, in this order; a tab an effect declares that is not
# listed here follows them.
TAB_ORDER = ("Background", "Face", "Low light")
COMBO_LABEL_CHARS = 12  # choices with longer words go in a drop-down, not a row of radio buttons


def _mark_fetchable(combo: QtWidgets.QComboBox) -> None:
    """Say on the matting model's entry when it still has to be fetched (it cannot ship with LiveCam)."""
    from livecam import model_fetch

    index = combo.findData("rvm")
    status = model_fetch.status()
    if index >= 0 and not status.startswith("ready"):
        combo.setItemText(index, f"{combo.itemText(index)} – not downloaded: livecam models fetch rvm")
        combo.setItemData(index, status, QtCore.Qt.ItemDataRole.ToolTipRole)


def _field(key: str):
    section, name = key.split(".")
    return S.section_type(section), name


def _radio_row(options: dict[str, str]) -> tuple[QtWidgets.QHBoxLayout, QtWidgets.QButtonGroup]:
    row = QtWidgets.QHBoxLayout()
    group = QtWidgets.QButtonGroup(row)
    for n, (value, text) in enumerate(options.items()):
        button = QtWidgets.QRadioButton(text)
        button.setProperty("value", value)
        group.addButton(button, n)
        row.addWidget(button)
    row.addStretch(1)
    return row, group


def _check_radio(group: QtWidgets.QButtonGroup, value: str) -> None:
    for button in group.buttons():
        if button.property("value") == value:
            button.setChecked(True)


@functools.lru_cache(maxsize=None)
def _implied_mode(key: str) -> str | None:
    """The mode a slider's declaration implies (low light's manual sliders: "manual"), or None."""
    return meta(field_of(*_field(key))).implies.get("mode")


def _file_name(path: str) -> str:
    return Path(path).name if path else "none chosen"


def pair(*widgets: QtWidgets.QWidget) -> QtWidgets.QWidget:
    """Widgets side by side, left-aligned, as one form field."""
    box = QtWidgets.QWidget()
    layout = QtWidgets.QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return box


class EffectControls(QtCore.QObject):
    """Builds the effects' tabs and keeps their controls in step with the settings."""

    rejected = QtCore.Signal(str)  # a sentence for the window's state line

    def __init__(self, store: SettingsStore, actions: LiveCamActions, dialog_parent: QtWidgets.QWidget) -> None:
        super().__init__(dialog_parent)
        self.store, self.actions, self._parent = store, actions, dialog_parent
        self.sliders: dict[str, SettingSlider] = {}
        self.choices: dict[str, QtWidgets.QButtonGroup | QtWidgets.QComboBox] = {}
        self.check_boxes: dict[str, QtWidgets.QCheckBox] = {}
        self.files: dict[str, QtWidgets.QLabel] = {}
        self.colors: dict[str, QtWidgets.QPushButton] = {}
        self.groups: dict[str, QtWidgets.QGroupBox] = {}
        self.bg_image: QtWidgets.QComboBox | None = None
        self.kept_photos: QtWidgets.QToolButton | None = None
        self._owners: dict[str, EffectSpec] = {}
        self._listed: tuple[str, str] | None = None  # (chosen picture, picture being checked) the list shows

    def tabs(self) -> list[tuple[str, QtWidgets.QWidget]]:
        """(title, page) for every tab the registry's entries declare, in TAB_ORDER."""
        return [(title, self._effect_tab(specs)) for title, specs in self._effect_tabs()]

    # ------------------------------------------------------------ building
    @staticmethod
    def _effect_tabs() -> list[tuple[str, list[EffectSpec]]]:
        tabs: dict[str, list[EffectSpec]] = {}
        for spec in REGISTRY:
            if spec.tab and spec.controls:
                tabs.setdefault(spec.tab, []).append(spec)
        rank = {name: n for n, name in enumerate(TAB_ORDER)}
        return sorted(tabs.items(), key=lambda item: rank.get(item[0], len(rank)))

    def _effect_tab(self, specs: list[EffectSpec]) -> QtWidgets.QWidget:
        """One group per effect, its controls derived from the fields its registry entry lists."""
        tab = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(tab)
        for spec in specs:
            group = QtWidgets.QGroupBox(spec.label)
            form = QtWidgets.QFormLayout(group)
            for control in spec.controls:
                key, _, widget = control.partition(":")
                self._owners[key] = spec
                self._add_control(form, spec, key, widget)
            ranged = [c.partition(":")[0] for c in spec.controls
                      if c.startswith(spec.section + ".") and c.partition(":")[0] in self.sliders]
            if ranged:
                reset = QtWidgets.QPushButton("Reset to neutral")
                reset.setToolTip("Put the sliders of this group back to their neutral values")
                reset.clicked.connect(lambda _=False, spec=spec, keys=tuple(ranged): self._reset(spec, keys))
                form.addRow("", pair(reset))
            self.groups[spec.name] = group
            layout.addWidget(group)
        layout.addStretch(1)
        return tab

    def _add_control(self, form: QtWidgets.QFormLayout, spec: EffectSpec, key: str, widget: str) -> None:
        cls, name = _field(key)
        m = meta(field_of(cls, name))
        label = m.label or name.replace("_", " ").capitalize()
        kind = value_type(cls, name)
        if literal_choices(cls, name):
            words = {v: m.choices.get(v, v) for v in literal_choices(cls, name)}
            if max(len(w) for w in words.values()) > COMBO_LABEL_CHARS:
                combo = QtWidgets.QComboBox()
                for value, text in words.items():
                    combo.addItem(text, value)
                combo.activated.connect(lambda _=0, key=key, combo=combo: self._choice_made(key, combo.currentData()))
                if key == "segmentation.model":
                    _mark_fetchable(combo)
                self.choices[key] = combo
                form.addRow(label, pair(combo))
            else:
                row, group = _radio_row(words)
                group.idClicked.connect(
                    lambda n, key=key, group=group: self._choice_made(key, group.button(n).property("value")))
                self.choices[key] = group
                form.addRow(label, row)
        elif kind is bool:
            box = QtWidgets.QCheckBox(label)
            box.setToolTip(m.help)
            box.clicked.connect(lambda on, key=key: self._edited(key, on))
            self.check_boxes[key] = box
            form.addRow("", box)
        elif m.range:
            slider = SettingSlider(key, label, m.step, m.fmt.format)
            slider.setToolTip(m.help)
            slider.edited.connect(self._edited)
            self.sliders[key] = slider
            form.addRow(slider.label, slider)
        elif widget == "picture":
            self.bg_image = QtWidgets.QComboBox()
            self.bg_image.setIconSize(QtCore.QSize(48, 27))
            self.bg_image.setMinimumWidth(260)
            self.bg_image.activated.connect(self._background_image_chosen)
            self.actions.thumbnails.ready.connect(self._thumbnail_made)
            self.actions.my_backgrounds.changed.connect(self._my_backgrounds_listed)
            form.addRow(label, pair(self.bg_image))
        elif m.file == "color":
            button = QtWidgets.QPushButton()
            button.setFixedWidth(120)
            button.clicked.connect(lambda _=False, key=key: self._choose_color(key))
            self.colors[key] = button
            form.addRow(label, pair(button))
        elif m.file in ("image", "video"):
            shown = QtWidgets.QLabel()
            button = QtWidgets.QPushButton(f"Choose {m.file}…" if m.file == "video" else "Choose picture…")
            button.clicked.connect(lambda _=False, key=key: self._choose_file(key))
            self.files[key] = shown
            if key == "avatar.photo":
                # LiveCam keeps a private copy of each avatar photo (so a moved original still works):
                # the user sees and removes them here as with `livecam avatars`.
                self.kept_photos = QtWidgets.QToolButton(text="Kept copies",
                                                         popupMode=QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
                menu = QtWidgets.QMenu(self.kept_photos)
                menu.aboutToShow.connect(lambda menu=menu: self._fill_kept_photos(menu))
                self.kept_photos.setMenu(menu)
                form.addRow(label, pair(shown, button, self.kept_photos))
            else:
                form.addRow(label, pair(shown, button))

    # ------------------------------------------------------------ user → settings
    def _edited(self, key: str, value: Any) -> None:
        """A slider or check box moved: the field, plus what its declaration implies (dragging the
        blur strength means "blur, this much"; a manual low-light slider means "manual")."""
        section, name = key.split(".")
        cls, _ = _field(key)
        changes = {**meta(field_of(cls, name)).implies, name: value}
        self.store.update(**{section: changes})

    def _fill_kept_photos(self, menu: QtWidgets.QMenu) -> None:
        from livecam.analysis.avatar_photo import stored_avatars

        menu.clear()
        try:
            kept = stored_avatars()
        except OSError as exc:  # the config folder's name too long, a drive gone: raised in a Qt slot before
            from livecam.private_files import reason

            menu.addAction(QtGui.QAction(f"The kept photo copies cannot be listed ({reason(exc)})", menu, enabled=False))
            return
        if not kept:
            menu.addAction(QtGui.QAction("No photo copies are kept", menu, enabled=False))
        for item in kept:
            menu.addAction(f"Remove {item.name} ({item.size / 1024:.0f} KB)",
                           lambda name=item.name: self.remove_kept_photo(name))

    def remove_kept_photo(self, name: str, confirm: bool = True) -> bool:
        from livecam.analysis.avatar_photo import AvatarPhotoError, remove_stored_avatar

        if confirm:
            answer = QtWidgets.QMessageBox.question(
                self._parent, "Remove avatar photo copy",
                f"Remove LiveCam's private copy {name}? Your original photo is not touched.")
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return False
        try:
            remove_stored_avatar(name)
        except AvatarPhotoError as exc:
            self.rejected.emit(str(exc))
            return False
        return True

    def _reset(self, spec: EffectSpec, keys: tuple[str, ...]) -> None:
        cls = S.section_type(spec.section)
        self.store.update(**{spec.section: {k.split(".")[1]: field_of(cls, k.split(".")[1]).default for k in keys}})

    def _choice_made(self, key: str, value: Any) -> None:
        section, name = key.split(".")
        spec = self._owners.get(key)
        if spec is not None and spec.section == section:
            self.actions.set_choice(spec, name, value)  # asks for the photo an avatar needs, etc.
        else:
            self.store.update(**{section: {name: value}})
        self.sync(self.store.settings)

    def _choose_file(self, key: str) -> None:
        section, name = key.split(".")
        path = self.actions.ask_for(section, name)
        if path:
            self._edited(key, path)

    def _choose_color(self, key: str) -> None:
        section, name = key.split(".")
        current = QtGui.QColor(getattr(getattr(self.store.settings, section), name))
        color = QtWidgets.QColorDialog.getColor(current, self._parent, "Colour")
        if color.isValid():
            self._edited(key, color.name())

    def _background_image_chosen(self, n: int) -> None:
        path = self.bg_image.itemData(n)
        if path is None:
            self.actions.choose_background_file()
        else:
            self.store.update(background={"mode": "image", "image": path})
        self.sync(self.store.settings)

    def _my_backgrounds_listed(self) -> None:
        if self._listed is not None:
            self._fill_background_images(*self._listed)

    def _thumbnail_made(self, path: Path) -> None:
        n, checked = self.bg_image.findData(str(path)), self._listed[1] if self._listed else ""
        if n >= 0 and not (checked and Path(checked) == path):  # the picture being checked has no icon yet
            self.bg_image.setItemIcon(n, self.actions.thumbnail(path))

    # ------------------------------------------------------------ settings → widgets
    def sync(self, s: S.Settings) -> None:
        value = lambda key: getattr(getattr(s, key.split(".")[0]), key.split(".")[1])  # noqa: E731
        for key, slider in self.sliders.items():
            slider.set_value(value(key))
            # A slider that means "manual" (its declaration implies a mode) has no say while the mode is
            # "auto", which picks its own values: grey it so it does not look as if it did.
            implied = _implied_mode(key)
            by_auto = implied is not None and getattr(getattr(s, key.split(".")[0]), "mode", None) == "auto"
            slider.setEnabled(not by_auto)
            slider.setToolTip(f"Auto sets this by itself; choose {str(implied).capitalize()} to set it."
                              if by_auto else "")
        for key, chooser in self.choices.items():
            if isinstance(chooser, QtWidgets.QComboBox):
                chooser.setCurrentIndex(max(0, chooser.findData(value(key))))
            else:
                _check_radio(chooser, value(key))
        for key, box in self.check_boxes.items():
            box.setChecked(value(key))
        checked = self.store.checked_fields
        for key, shown_file in self.files.items():
            if key in checked:
                # The new file is being checked (up to seconds for a photo): the old name would look as if
                # the pick had been lost, the new one as if it had been taken.
                shown_file.setText(f"Checking the {FILE_WORDS[key]} …")
                continue
            shown_file.setText(_file_name(value(key)))
            shown_file.setToolTip(value(key))
        for key, button in self.colors.items():
            color = value(key)
            button.setText(color)
            text = "#000000" if QtGui.QColor(color).lightness() > 140 else "#ffffff"
            button.setStyleSheet(f"background: {color}; color: {text};")
        # Refilling the picture list makes thumbnails: only when the chosen picture, or the one being
        # checked, changed, not on every tick of a dragged blur slider.
        listed = (s.background.image, self.store.checked_file("background.image"))
        if self.bg_image is not None and listed != self._listed:
            self._listed = listed
            self._fill_background_images(*listed)

    def _fill_background_images(self, image: str, checked: str = "") -> None:
        """The picture list, ``image`` selected; or ``checked``, the picture being checked, selected and
        marked so (the old one looked chosen, as if the pick had been lost), without a thumbnail: the
        file may be on the slow drive its check waits for."""
        combo = self.bg_image
        combo.clear()
        self.actions.my_backgrounds.refresh()  # off the GUI thread: the list refills when it comes back
        mine = self.actions.my_backgrounds.paths or []
        paths = [*resources.background_images(), *(p for p in mine if kind_by_suffix(p) == "image")]
        shown = checked or image
        if shown and Path(shown) not in paths:
            paths.append(Path(shown))
        for path in paths:
            if checked and path == Path(checked):
                combo.addItem(QtGui.QIcon(), checking_title(path), str(path))
            else:
                combo.addItem(self.actions.thumbnail(path), background_title(path), str(path))
            combo.setItemData(combo.count() - 1, str(path), QtCore.Qt.ItemDataRole.ToolTipRole)
        combo.addItem("Choose file…", None)
        current = combo.findData(str(Path(shown)) if shown else str(resources.background_images()[0])) if paths else -1
        combo.setCurrentIndex(current if current >= 0 else combo.count() - 1)
        combo.setEnabled(True)
        combo.setToolTip(self.actions.my_backgrounds.sentence)
