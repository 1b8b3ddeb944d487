"""The settings window: a live before/after preview above tabs of controls.

Controls never touch the pipeline. Each builds new Settings through the store (``store.update``),
and the store hands them to the bridge, so a moved slider reaches the very next frame. Widgets react
only to the user (``clicked``, ``activated``, a slider moved); when settings change elsewhere (tray
menu, preset, shortcut) ``sync`` shows the new values without echoing them back.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from livecam import devices, resources
from livecam import settings as S
from livecam.effects import REGISTRY, EffectSpec
from livecam.gui import presets
from livecam.gui.actions import (
    IMAGE_FILTER,
    VIDEO_FILTER,
    LiveCamActions,
    background_title,
    user_backgrounds,
)
from livecam.gui.bridge import FramePair, LiveBridge, LiveStats
from livecam.gui.icons import STATE_COLORS, TOGGLE_STYLE, state_icon
from livecam.gui.store import SettingsStore
from livecam.gui.widgets import PREVIEW_SIZE, PreviewPane, SettingSlider
from livecam.media import kind_by_suffix
from livecam.setting_fields import field_of, literal_choices, meta, value_type

RESOLUTIONS = ((640, 360), (640, 480), (960, 540), (1280, 720), (1920, 1080))
FRAME_RATES = (15, 24, 25, 30, 60)
STATUS_MARKS = {"ok": ("✔", "#2e9d4f"), "info": ("ℹ", "#3b73b9"), "warn": ("!", "#c58a00"), "error": ("✖", "#d64541")}
# Tabs of the effects' controls come first, in this order; a tab an effect declares that is not
# listed here follows them.
TAB_ORDER = ("Background", "Face", "Low light")
COMBO_LABEL_CHARS = 12  # choices with longer words go in a drop-down, not a row of radio buttons


PROVIDER_TEXT = {"auto": "Automatic (the GPU when there is one)", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)",
                 "tensorrt": "NVIDIA GPU (TensorRT, fastest after a first-run build)", "directml": "GPU (DirectML)",
                 "coreml": "Apple Neural Engine / GPU (Core ML)"}


def provider_choices() -> list[tuple[str, str]]:
    """The providers this ONNX Runtime build offers, in words (auto and CPU always)."""
    from livecam.analysis.runtime import PROVIDER_NAMES, available_providers

    try:
        available = set(available_providers())
    except ImportError:
        available = set()
    return [(value, text) for value, text in PROVIDER_TEXT.items()
            if value in ("auto", "cpu") or PROVIDER_NAMES.get(value) in available]


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


def _file_name(path: str) -> str:
    return Path(path).name if path else "none chosen"


class SettingsWindow(QtWidgets.QWidget):
    checks_requested = QtCore.Signal()  # "look for cameras and run the doctor's checks again"

    def __init__(self, store: SettingsStore, bridge: LiveBridge, actions: LiveCamActions) -> None:
        super().__init__()
        self.store, self.bridge, self.actions = store, bridge, actions
        self.setWindowTitle("LiveCam settings")
        self.setWindowIcon(state_icon(bridge.state))
        self.addActions(actions.shortcut_actions())
        self.sliders: dict[str, SettingSlider] = {}
        self._cameras: list[dict] = []

        self.preview = PreviewPane()
        self.stats_line = QtWidgets.QLabel("Waiting for the first frame…")
        self.stats_line.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state_icon = QtWidgets.QLabel()
        self.state_line = QtWidgets.QLabel(wordWrap=True)
        self.state_line.setMinimumHeight(2 * self.fontMetrics().lineSpacing())  # room for a fix, no jumping
        self.state_line.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.state_line.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        state_row = QtWidgets.QHBoxLayout()
        state_row.addWidget(self.state_icon, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        state_row.addWidget(self.state_line, 1)

        self.tabs = QtWidgets.QTabWidget()
        self.choices: dict[str, QtWidgets.QButtonGroup | QtWidgets.QComboBox] = {}
        self.check_boxes: dict[str, QtWidgets.QCheckBox] = {}
        self.files: dict[str, QtWidgets.QLabel] = {}
        self.colors: dict[str, QtWidgets.QPushButton] = {}
        self.groups: dict[str, QtWidgets.QGroupBox] = {}
        self._owners: dict[str, EffectSpec] = {}
        for tab, specs in self._effect_tabs():
            self.tabs.addTab(self._effect_tab(specs), tab.replace("&", "&&"))
        self.tabs.addTab(self._camera_tab(), "Camera")
        self.tabs.addTab(self._output_tab(), "Output")

        layout = QtWidgets.QVBoxLayout(self)
        layout.setSizeConstraint(QtWidgets.QLayout.SizeConstraint.SetMinimumSize)  # grow, never overlap
        layout.addWidget(self.preview, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.stats_line)
        layout.addLayout(state_row)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(self._bottom_row())

        store.changed.connect(self.sync)
        store.rejected.connect(self.show_rejected)
        actions.presets_changed.connect(self._fill_presets)
        bridge.frame_ready.connect(self.show_frame)
        bridge.stats_ready.connect(self.show_stats)
        bridge.state_changed.connect(self.show_state)
        bridge.output_changed.connect(self.show_output)
        self.sync(store.settings)
        self.show_state(bridge.state, bridge.message)
        self._fill_presets()

    # ------------------------------------------------------------ building
    def _slider(self, key: str, label: str, step: float = 1, fmt=lambda v: f"{v:.0f}") -> SettingSlider:
        slider = SettingSlider(key, label, step, fmt)
        slider.edited.connect(self._slider_edited)
        self.sliders[key] = slider
        return slider

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
                form.addRow("", self._pair(reset))
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
                form.addRow(label, self._pair(combo))
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
            form.addRow(label, self._pair(self.bg_image))
        elif m.file == "color":
            button = QtWidgets.QPushButton()
            button.setFixedWidth(120)
            button.clicked.connect(lambda _=False, key=key: self._choose_color(key))
            self.colors[key] = button
            form.addRow(label, self._pair(button))
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
                form.addRow(label, self._pair(shown, button, self.kept_photos))
            else:
                form.addRow(label, self._pair(shown, button))

    def _camera_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(tab)
        self.camera = QtWidgets.QComboBox()
        self.camera.setMinimumWidth(320)
        self.camera.activated.connect(self._camera_chosen)
        refresh = QtWidgets.QPushButton("Look again")
        refresh.clicked.connect(self.check_devices)
        form.addRow("Camera", self._pair(self.camera, refresh))
        self.resolution = QtWidgets.QComboBox()
        self.resolution.activated.connect(self._resolution_chosen)
        form.addRow("Resolution", self._pair(self.resolution))
        self.fps = QtWidgets.QComboBox()
        self.fps.activated.connect(self._fps_chosen)
        form.addRow("Frame rate", self._pair(self.fps))
        self.face_range = QtWidgets.QComboBox()
        self.face_range.addItem("Near (within about 2 m)", "short")
        self.face_range.addItem("Far (across a room)", "full")
        self.face_range.activated.connect(lambda: self.store.update(face={"detector": self.face_range.currentData()}))
        form.addRow("Face distance", self._pair(self.face_range))
        self.provider = QtWidgets.QComboBox()
        self.provider.setToolTip("Where the neural networks run; the live line above says what they really got")
        for value, text in provider_choices():
            self.provider.addItem(text, value)
        self.provider.activated.connect(lambda: self.store.update(runtime={"provider": self.provider.currentData()}))
        form.addRow("Run models on", self._pair(self.provider))
        return tab

    def _output_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(tab)
        self.output_line = QtWidgets.QLabel("The output opens when LiveCam is on.", wordWrap=True)
        self.output_line.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.output_line)
        heading = QtWidgets.QLabel("<b>System check</b> (the same as <tt>livecam doctor</tt>)")
        layout.addWidget(heading)
        self.checks = QtWidgets.QLabel("Checking…", wordWrap=True)
        self.checks.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.checks.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        scroll = QtWidgets.QScrollArea(widgetResizable=True, frameShape=QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(self.checks)
        layout.addWidget(scroll, 1)
        again = QtWidgets.QPushButton("Check again")
        again.clicked.connect(self.check_devices)
        layout.addWidget(again, 0, QtCore.Qt.AlignmentFlag.AlignLeft)
        return tab

    def _bottom_row(self) -> QtWidgets.QHBoxLayout:
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Preset"))
        self.preset = QtWidgets.QComboBox()
        self.preset.setMinimumWidth(180)
        self.preset.activated.connect(self._preset_chosen)
        row.addWidget(self.preset)
        save = QtWidgets.QPushButton("Save as…")
        save.clicked.connect(self._save_preset)
        row.addWidget(save)
        self.delete_preset = QtWidgets.QPushButton("Delete")
        self.delete_preset.clicked.connect(self._delete_preset)
        row.addWidget(self.delete_preset)
        row.addStretch(1)
        on = QtWidgets.QToolButton()
        on.setDefaultAction(self.actions.running)
        on.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        on.setMinimumWidth(110)
        on.setStyleSheet(TOGGLE_STYLE)
        row.addWidget(on)
        close = QtWidgets.QPushButton("Close")
        close.setToolTip("Hide this window; LiveCam keeps running from the tray")
        close.clicked.connect(self.close)
        row.addWidget(close)
        return row

    @staticmethod
    def _pair(*widgets: QtWidgets.QWidget) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        layout = QtWidgets.QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in widgets:
            layout.addWidget(widget)
        layout.addStretch(1)
        return box

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
        kept = stored_avatars()
        if not kept:
            menu.addAction(QtGui.QAction("No photo copies are kept", menu, enabled=False))
        for item in kept:
            menu.addAction(f"Remove {item.name} ({item.size / 1024:.0f} KB)",
                           lambda name=item.name: self.remove_kept_photo(name))

    def remove_kept_photo(self, name: str, confirm: bool = True) -> bool:
        from livecam.analysis.avatar_photo import AvatarPhotoError, remove_stored_avatar

        if confirm:
            answer = QtWidgets.QMessageBox.question(
                self, "Remove avatar photo copy",
                f"Remove LiveCam's private copy {name}? Your original photo is not touched.")
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return False
        try:
            remove_stored_avatar(name)
        except (AvatarPhotoError, OSError) as exc:
            self.show_rejected(str(exc))
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
        color = QtWidgets.QColorDialog.getColor(current, self, "Colour")
        if color.isValid():
            self._edited(key, color.name())

    def _background_image_chosen(self, n: int) -> None:
        path = self.bg_image.itemData(n)
        if path is None:
            self.actions.choose_background_file()
        else:
            self.store.update(background={"mode": "image", "image": path})
        self.sync(self.store.settings)

    def _camera_chosen(self, n: int) -> None:
        source = self.camera.itemData(n)
        if source is None:
            source = self.actions.ask_file("Choose a video or picture to use as the camera",
                                           f"{VIDEO_FILTER};;{IMAGE_FILTER}")
        if source:
            self.store.update(capture={"source": source})
        self.sync(self.store.settings)

    def _resolution_chosen(self, n: int) -> None:
        width, height = self.resolution.itemData(n)
        self.store.update(capture={"width": width, "height": height})

    def _fps_chosen(self, n: int) -> None:
        fps = self.fps.itemData(n)
        self.store.update(capture={"fps": fps}, output={"fps": fps})

    def _preset_chosen(self, n: int) -> None:
        name = self.preset.itemData(n)
        if name:
            self.actions.switch_preset(name)
        self._select_preset(self.store.settings)

    def _save_preset(self) -> None:
        self.actions.dialog_parent = self
        self.actions.ask_save_preset()

    def _delete_preset(self) -> None:
        name = self.preset.currentData()
        if not name:
            return
        answer = QtWidgets.QMessageBox.question(self, "Delete preset", f"Delete the preset {name!r}?")
        if answer == QtWidgets.QMessageBox.StandardButton.Yes:
            try:
                presets.delete_preset(name)
            except presets.PresetError as exc:
                self.show_rejected(str(exc))
            self._fill_presets()

    # ------------------------------------------------------------ settings → widgets
    def sync(self, s: S.Settings) -> None:
        shown, self._shown = getattr(self, "_shown", None), s
        changed = S.changed_sections(shown, s) if shown is not None else None
        value = lambda key: getattr(getattr(s, key.split(".")[0]), key.split(".")[1])  # noqa: E731
        for key, slider in self.sliders.items():
            slider.set_value(value(key))
        for key, chooser in self.choices.items():
            if isinstance(chooser, QtWidgets.QComboBox):
                chooser.setCurrentIndex(max(0, chooser.findData(value(key))))
            else:
                _check_radio(chooser, value(key))
        for key, box in self.check_boxes.items():
            box.setChecked(value(key))
        for key, shown_file in self.files.items():
            shown_file.setText(_file_name(value(key)))
            shown_file.setToolTip(value(key))
        for key, button in self.colors.items():
            color = value(key)
            button.setText(color)
            text = "#000000" if QtGui.QColor(color).lightness() > 140 else "#ffffff"
            button.setStyleSheet(f"background: {color}; color: {text};")
        # Refilling the picture list makes thumbnails: only when the chosen picture changed, not on
        # every tick of a dragged blur slider.
        if hasattr(self, "bg_image") and (shown is None or shown.background.image != s.background.image):
            self._fill_background_images(s.background)
        if changed is None or "capture" in changed:
            self._fill_camera(s.capture)
        self.face_range.setCurrentIndex(max(0, self.face_range.findData(s.face.detector)))
        if self.provider.findData(s.runtime.provider) < 0:
            self.provider.addItem(f"{s.runtime.provider} (not available here)", s.runtime.provider)
        self.provider.setCurrentIndex(self.provider.findData(s.runtime.provider))
        self._select_preset(s)

    def _fill_background_images(self, b: S.BackgroundSettings) -> None:
        combo = self.bg_image
        combo.clear()
        paths = [*resources.background_images(), *(p for p in user_backgrounds() if kind_by_suffix(p) == "image")]
        if b.image and Path(b.image) not in paths:
            paths.append(Path(b.image))
        for path in paths:
            combo.addItem(self.actions.thumbnail(path), background_title(path), str(path))
            combo.setItemData(combo.count() - 1, str(path), QtCore.Qt.ItemDataRole.ToolTipRole)
        combo.addItem("Choose file…", None)
        current = combo.findData(b.image or str(resources.background_images()[0])) if paths else -1
        combo.setCurrentIndex(current if current >= 0 else combo.count() - 1)
        combo.setEnabled(True)

    def _fill_camera(self, c: S.CaptureSettings) -> None:
        self.camera.clear()
        self.camera.addItem("Automatic (first camera, else the demo clip)", "auto")
        for cam in self._cameras:
            value = cam["path"] or str(cam["index"])
            self.camera.addItem(f"Camera {cam['index']}: {cam['name']}", value)
        self.camera.addItem("Demo clip", "demo")
        if self.camera.findData(c.source) < 0:
            label = f"Camera {c.source}" if c.source.isdigit() or c.source.startswith("/dev/") else Path(c.source).name
            self.camera.addItem(label, c.source)
        self.camera.addItem("Video or picture file…", None)
        self.camera.setCurrentIndex(self.camera.findData(c.source))

        self.resolution.clear()
        sizes = list(RESOLUTIONS)
        if (c.width, c.height) not in sizes:
            sizes.append((c.width, c.height))
        for w, h in sorted(sizes):
            self.resolution.addItem(f"{w} × {h}", (w, h))
        self.resolution.setCurrentIndex(sorted(sizes).index((c.width, c.height)))

        self.fps.clear()
        rates = sorted(set(FRAME_RATES) | {c.fps})
        for fps in rates:
            self.fps.addItem(f"{fps} fps", fps)
        self.fps.setCurrentIndex(rates.index(c.fps))

    def _fill_presets(self) -> None:
        self._presets = presets.all_presets()
        self._select_preset(self.store.settings)

    def _select_preset(self, s: S.Settings) -> None:
        saved = getattr(self, "_presets", {})
        self.preset.clear()
        current = presets.matching_preset(s, saved)
        self.preset.addItem("Custom" if saved else "No presets yet", "")
        for name in saved:
            self.preset.addItem(name, name)
        self.preset.setCurrentIndex(max(0, self.preset.findData(current)) if current else 0)
        self.delete_preset.setEnabled(bool(current))

    # ------------------------------------------------------------ bridge → widgets
    def show_frame(self, pair: FramePair) -> None:
        if self.isVisible():
            self.preview.show_frames(pair.before, pair.after)

    def show_stats(self, stats: LiveStats) -> None:
        self.stats_line.setText(stats.describe())

    def show_state(self, state: str, message: str) -> None:
        self.setWindowIcon(state_icon(state))
        self.state_icon.setPixmap(state_icon(state).pixmap(20, 20))
        color = STATE_COLORS["error"] if state == "error" else self.palette().windowText().color().name()
        self.state_line.setText(f'<span style="color:{color}">{_html(message)}</span>')
        if state == "off":
            self.preview.clear("LiveCam is off")
            self.stats_line.setText("")

    def show_output(self, sentence: str, ok: bool) -> None:
        color = self.palette().windowText().color().name() if ok else STATE_COLORS["error"]
        self.output_line.setText(f'<b>Output:</b> <span style="color:{color}">{_html(sentence)}</span>')

    def show_rejected(self, sentence: str) -> None:
        self.state_line.setText(f'<span style="color:{STATE_COLORS["error"]}">{_html(sentence)}</span>')

    def show_checks(self, cameras: list[dict], lines: list[tuple[str, str]]) -> None:
        self._cameras = cameras
        self._fill_camera(self.store.settings.capture)
        rows = []
        for status, sentence in lines:
            mark, color = STATUS_MARKS.get(status, ("•", "#888888"))
            rows.append(f'<tr><td style="color:{color}; padding-right:8px"><b>{mark}</b></td>'
                        f"<td>{_html(sentence)}</td></tr>")
        self.checks.setText("<table cellspacing=4>" + "".join(rows) + "</table>")

    def check_devices(self) -> None:
        self.checks.setText("Checking…")
        self.checks_requested.emit()

    # ------------------------------------------------------------ window
    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self.actions.dialog_parent = self
        self.bridge.set_preview_size(PREVIEW_SIZE)
        if self.bridge.last_frame is not None:
            self.show_frame(self.bridge.last_frame)

    def hideEvent(self, event: QtGui.QHideEvent) -> None:
        super().hideEvent(event)
        self.bridge.set_preview_size(None)  # no preview copies while nobody looks


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def run_checks() -> tuple[list[dict], list[tuple[str, str]]]:
    """Cameras and the doctor's diagnosis (may take a moment: run it off the GUI thread)."""
    return devices.list_cameras(), devices.diagnose()
