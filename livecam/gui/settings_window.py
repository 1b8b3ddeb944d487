"""The settings window: a live before/after preview above tabs of controls.

Controls never touch the pipeline. Each builds new Settings through the store (``store.update``),
and the store hands them to the bridge, so a moved slider reaches the very next frame. Widgets react
only to the user (``clicked``, ``activated``, a slider moved); when settings change elsewhere (tray
menu, preset, shortcut) ``sync`` shows the new values without echoing them back.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from livecam import devices, resources
from livecam import settings as S
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

BACKGROUND_MODES = {"off": "Off", "blur": "Blur", "image": "Image", "video": "Video", "color": "Colour"}
LOW_LIGHT_MODES = {"off": "Off", "auto": "Auto", "manual": "Manual"}
AVATAR_MODES = {"off": "Off", "swap": "Face swap", "animate": "Animated photo"}
RESOLUTIONS = ((640, 360), (640, 480), (960, 540), (1280, 720), (1920, 1080))
FRAME_RATES = (15, 24, 25, 30, 60)
STATUS_MARKS = {"ok": ("✔", "#2e9d4f"), "info": ("ℹ", "#3b73b9"), "warn": ("!", "#c58a00"), "error": ("✖", "#d64541")}
NEUTRAL_LOW_LIGHT = {f.name: f.default for f in dataclasses.fields(S.LowLightSettings) if f.name != "mode"}


def _signed(unit: str, digits: int = 1):
    return lambda v: f"{v:+.{digits}f}{unit}"


LOW_LIGHT_SLIDERS = (
    ("low_light.exposure", "Exposure", 0.1, _signed(" stops")),
    ("low_light.contrast", "Contrast", 0.05, lambda v: f"{v:.2f}×"),
    ("low_light.shadows", "Shadows", 0.05, lambda v: f"{v:.2f}"),
    ("low_light.denoise", "Denoise", 1, lambda v: f"{v:.0f}%"),
    ("low_light.warmth", "Warmth", 1, lambda v: f"{v:+.0f}"),
    ("low_light.saturation", "Saturation", 0.05, lambda v: f"{v:.2f}×"),
)


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
        self.tabs.addTab(self._background_tab(), "Background")
        self.tabs.addTab(self._face_tab(), "Touch-up && avatar")
        self.tabs.addTab(self._low_light_tab(), "Low light")
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

    def _background_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(tab)
        row, self.bg_mode = _radio_row(BACKGROUND_MODES)
        self.bg_mode.idClicked.connect(self._background_mode_clicked)
        form.addRow("Background", row)
        self._row(form, self._slider("background.blur", "Blur strength", 1, lambda v: f"{v:.0f}%"))

        self.bg_image = QtWidgets.QComboBox()
        self.bg_image.setIconSize(QtCore.QSize(48, 27))
        self.bg_image.setMinimumWidth(260)
        self.bg_image.activated.connect(self._background_image_chosen)
        form.addRow("Picture", self._pair(self.bg_image))

        self.bg_video = QtWidgets.QLabel()
        video_button = QtWidgets.QPushButton("Choose video…")
        video_button.clicked.connect(self._choose_video)
        form.addRow("Video", self._pair(self.bg_video, video_button))

        self.bg_color = QtWidgets.QPushButton()
        self.bg_color.setFixedWidth(120)
        self.bg_color.clicked.connect(self.actions.choose_background_color)
        form.addRow("Colour", self._pair(self.bg_color))

        self.seg_model = QtWidgets.QComboBox()
        self.seg_model.addItem("Fast (landscape model)", "landscape")
        self.seg_model.addItem("Detailed (general model)", "general")
        self.seg_model.activated.connect(
            lambda: self.store.update(segmentation={"model": self.seg_model.currentData()})
        )
        form.addRow("Person mask", self._pair(self.seg_model))
        self._row(form, self._slider("segmentation.temporal_smoothing", "Steadier edges", 0.05,
                                     lambda v: f"{v * 100:.0f}%"))
        return tab

    def _face_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(tab)
        touch = QtWidgets.QGroupBox("Touch-up")
        self._row(QtWidgets.QFormLayout(touch),
                  self._slider("touch_up.strength", "Strength", 1, lambda v: "off" if v == 0 else f"{v:.0f}%"))
        layout.addWidget(touch)

        avatar = QtWidgets.QGroupBox("Avatar")
        form = QtWidgets.QFormLayout(avatar)
        row, self.avatar_mode = _radio_row(AVATAR_MODES)
        self.avatar_mode.idClicked.connect(self._avatar_mode_clicked)
        form.addRow("Mode", row)
        self.avatar_photo = QtWidgets.QLabel()
        photo_button = QtWidgets.QPushButton("Choose photo…")
        photo_button.clicked.connect(self._choose_avatar_photo)
        form.addRow("Photo", self._pair(self.avatar_photo, photo_button))
        self.keep_eyes = QtWidgets.QCheckBox("Keep my own eyes and mouth (face swap)")
        self.keep_eyes.clicked.connect(lambda on: self.store.update(avatar={"keep_eyes_mouth": on}))
        form.addRow("", self.keep_eyes)
        self.badge = QtWidgets.QCheckBox('Show the "AI-altered" badge to the other people in the call')
        self.badge.clicked.connect(lambda on: self.store.update(avatar={"badge": on}))
        form.addRow("", self.badge)
        layout.addWidget(avatar)
        layout.addStretch(1)
        return tab

    def _low_light_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(tab)
        row, self.low_light_mode = _radio_row(LOW_LIGHT_MODES)
        self.low_light_mode.idClicked.connect(self._low_light_mode_clicked)
        reset = QtWidgets.QPushButton("Reset to neutral")
        reset.clicked.connect(lambda: self.store.update(low_light=dict(NEUTRAL_LOW_LIGHT)))
        row.addWidget(reset)
        layout.addLayout(row)
        self.manual_box = QtWidgets.QGroupBox("Manual adjustments")
        box = QtWidgets.QFormLayout(self.manual_box)
        for key, label, step, fmt in LOW_LIGHT_SLIDERS:
            self._row(box, self._slider(key, label, step, fmt))
        layout.addWidget(self.manual_box)
        layout.addStretch(1)
        return tab

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
    def _row(form: QtWidgets.QFormLayout, slider: SettingSlider) -> None:
        form.addRow(slider.label, slider)

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
    def _slider_edited(self, key: str, value: float) -> None:
        section, name = key.split(".")
        changes = {name: value}
        if key == "background.blur":
            changes["mode"] = "blur"  # dragging the blur strength means "blur, this much"
        self.store.update(**{section: changes})

    def _background_mode_clicked(self, n: int) -> None:
        mode = self.bg_mode.button(n).property("value")
        if mode == "off":
            self.actions.set_effect(self._current_background_key(), False)
        else:
            self.actions.set_effect(mode, True)
        self.sync(self.store.settings)

    def _current_background_key(self) -> str:
        return self.store.settings.background.mode if self.store.settings.background.mode != "off" else "blur"

    def _background_image_chosen(self, n: int) -> None:
        path = self.bg_image.itemData(n)
        if path is None:
            self.actions.choose_background_file()
        else:
            self.store.update(background={"mode": "image", "image": path})
        self.sync(self.store.settings)

    def _choose_video(self) -> None:
        path = self.actions.ask_file("Choose a background video", VIDEO_FILTER)
        if path:
            self.store.update(background={"mode": "video", "video": path})

    def _choose_avatar_photo(self) -> None:
        path = self.actions.ask_file("Choose the avatar photo (one face, looking at the camera)", IMAGE_FILTER)
        if path:
            mode = self.store.settings.avatar.mode
            self.store.update(avatar={"photo": path, "mode": "swap" if mode == "off" else mode})

    def _avatar_mode_clicked(self, n: int) -> None:
        mode = self.avatar_mode.button(n).property("value")
        if mode == "off" or self.store.settings.avatar.photo:
            self.store.update(avatar={"mode": mode})
        else:
            self._choose_avatar_photo()
            if self.store.settings.avatar.photo:
                self.store.update(avatar={"mode": mode})
        self.sync(self.store.settings)

    def _low_light_mode_clicked(self, n: int) -> None:
        self.store.update(low_light={"mode": self.low_light_mode.button(n).property("value")})

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
        for key, slider in self.sliders.items():
            section, name = key.split(".")
            slider.set_value(getattr(getattr(s, section), name))
        b = s.background
        _check_radio(self.bg_mode, b.mode)
        if changed is None or "background" in changed:
            self._fill_background_images(b)
        self.bg_video.setText(_file_name(b.video))
        self.bg_video.setToolTip(b.video)
        self.bg_color.setText(b.color)
        text = "#000000" if QtGui.QColor(b.color).lightness() > 140 else "#ffffff"
        self.bg_color.setStyleSheet(f"background: {b.color}; color: {text};")
        self.seg_model.setCurrentIndex(max(0, self.seg_model.findData(s.segmentation.model)))
        _check_radio(self.avatar_mode, s.avatar.mode)
        self.avatar_photo.setText(_file_name(s.avatar.photo))
        self.avatar_photo.setToolTip(s.avatar.photo)
        self.keep_eyes.setChecked(s.avatar.keep_eyes_mouth)
        self.badge.setChecked(s.avatar.badge)
        _check_radio(self.low_light_mode, s.low_light.mode)
        self.manual_box.setEnabled(s.low_light.mode == "manual")
        if changed is None or "capture" in changed:
            self._fill_camera(s.capture)
        self.face_range.setCurrentIndex(max(0, self.face_range.findData(s.face.detector)))
        self._select_preset(s)

    def _fill_background_images(self, b: S.BackgroundSettings) -> None:
        combo = self.bg_image
        combo.clear()
        paths = [*resources.background_images(), *(p for p in user_backgrounds() if p.suffix.lower() != ".mp4")]
        if b.image and Path(b.image) not in paths:
            paths.append(Path(b.image))
        for path in paths:
            combo.addItem(self.actions.thumbnail(path), background_title(path), str(path))
            combo.setItemData(combo.count() - 1, str(path), QtCore.Qt.ItemDataRole.ToolTipRole)
        combo.addItem("Choose file…", None)
        current = combo.findData(b.image) if b.image else -1
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
