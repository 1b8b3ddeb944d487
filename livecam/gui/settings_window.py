"""The settings window: a live before/after preview above tabs of controls.

The effects' tabs come from the registry (gui/effect_controls.py); this module adds the camera and
output tabs, the preset row, and shows what the bridge reports (frames, stats, state, output).

Controls never touch the pipeline. Each builds new Settings through the store (``store.update``),
and the store hands them to the bridge, so a moved slider reaches the very next frame. Widgets react
only to the user (``clicked``, ``activated``, a slider moved); when settings change elsewhere (tray
menu, preset, shortcut) ``sync`` shows the new values without echoing them back.
"""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from livecam import devices, model_specs
from livecam import settings as S
from livecam.gui import presets
from livecam.gui.actions import IMAGE_FILTER, VIDEO_FILTER, LiveCamActions
from livecam.gui.bridge import STATS_SEPARATOR, FramePair, LiveBridge, LiveStats
from livecam.gui.icons import STATE_COLORS, TOGGLE_STYLE, state_icon
from livecam.gui.store import SettingsStore
from livecam.gui.effect_controls import EffectControls, pair
from livecam.gui.widgets import PREVIEW_SIZE, PreviewPane

RESOLUTIONS = ((640, 360), (640, 480), (960, 540), (1280, 720), (1920, 1080))
FRAME_RATES = (15, 24, 25, 30, 60)
TITLE_BAR = 40  # px a window manager's title bar and frame take, not known before the window is shown
STATUS_MARKS = {"ok": ("✔", "#2e9d4f"), "info": ("ℹ", "#3b73b9"), "warn": ("!", "#c58a00"), "error": ("✖", "#d64541")}


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


class SettingsWindow(QtWidgets.QWidget):
    checks_requested = QtCore.Signal()  # "look for cameras and run the doctor's checks again"

    def __init__(self, store: SettingsStore, bridge: LiveBridge, actions: LiveCamActions) -> None:
        super().__init__()
        self.store, self.bridge, self.actions = store, bridge, actions
        self.setWindowTitle("LiveCam settings")
        self.setWindowIcon(state_icon(bridge.state))
        self.addActions(actions.shortcut_actions())
        self._cameras: list[dict] = []

        self.preview = PreviewPane()
        self.stats_line = QtWidgets.QLabel("Waiting for the first frame…", wordWrap=True,
                                           textFormat=QtCore.Qt.TextFormat.PlainText)
        self.stats_line.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        # The line changes with every toggled effect: it wraps inside the width the rest of the window
        # asks for, in a fixed two-line height, instead of widening the window or making it jump.
        self.stats_line.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
        self.stats_line.setFixedHeight(2 * self.fontMetrics().lineSpacing() + 2)
        self.state_icon = QtWidgets.QLabel()
        self.state_line = QtWidgets.QLabel(wordWrap=True)
        self.state_line.setMinimumHeight(2 * self.fontMetrics().lineSpacing())  # room for a fix, no jumping
        self.state_line.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.state_line.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        state_row = QtWidgets.QHBoxLayout()
        state_row.addWidget(self.state_icon, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        state_row.addWidget(self.state_line, 1)

        self.tabs = QtWidgets.QTabWidget()
        self.controls = EffectControls(store, actions, self)
        self.controls.rejected.connect(self.show_rejected)
        for title, page in self.controls.tabs():
            self.tabs.addTab(_ScrolledTab(page), title.replace("&", "&&"))
        # The controls by field ("background.blur"), as tests and tools reach them.
        c = self.controls
        self.sliders, self.choices, self.check_boxes, self.files = c.sliders, c.choices, c.check_boxes, c.files
        self.colors, self.groups, self.bg_image, self.kept_photos = c.colors, c.groups, c.bg_image, c.kept_photos
        self.remove_kept_photo = self.controls.remove_kept_photo
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
        store.checking_changed.connect(self.show_checking)
        store.unsaved.connect(self.show_unsaved)
        actions.presets_changed.connect(self._fill_presets)
        bridge.frame_ready.connect(self.show_frame)
        bridge.stats_ready.connect(self.show_stats)
        bridge.state_changed.connect(self.show_state)
        bridge.output_changed.connect(self.show_output)
        self.sync(store.settings)
        self.show_state(bridge.state, bridge.message)
        self.show_output(*bridge.output)
        self._fill_presets()
        self._fit_screen()

    # ------------------------------------------------------------ building
    def _camera_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(tab)
        self.camera = QtWidgets.QComboBox()
        self.camera.setMinimumWidth(320)
        self.camera.activated.connect(self._camera_chosen)
        refresh = QtWidgets.QPushButton("Look again")
        refresh.clicked.connect(self.check_devices)
        form.addRow("Camera", pair(self.camera, refresh))
        self.resolution = QtWidgets.QComboBox()
        self.resolution.activated.connect(self._resolution_chosen)
        form.addRow("Resolution", pair(self.resolution))
        self.fps = QtWidgets.QComboBox()
        self.fps.activated.connect(self._fps_chosen)
        form.addRow("Frame rate", pair(self.fps))
        self.face_range = QtWidgets.QComboBox()
        for value, words in model_specs.words("face_detector").items():
            self.face_range.addItem(words, value)
        self.face_range.activated.connect(lambda: self.store.update(face={"detector": self.face_range.currentData()}))
        form.addRow("Face distance", pair(self.face_range))
        self.provider = QtWidgets.QComboBox()
        self.provider.setToolTip("Where the neural networks run; the live line above says what they really got")
        for value, text in provider_choices():
            self.provider.addItem(text, value)
        self.provider.activated.connect(lambda: self.store.update(runtime={"provider": self.provider.currentData()}))
        form.addRow("Run models on", pair(self.provider))
        return tab

    def _output_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(tab)
        self.output_line = QtWidgets.QLabel(wordWrap=True)
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

    # ------------------------------------------------------------ user → settings
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
        self.controls.sync(s)
        if changed is None or "capture" in changed:
            self._fill_camera(s.capture)
        self.face_range.setCurrentIndex(max(0, self.face_range.findData(s.face.detector)))
        if self.provider.findData(s.runtime.provider) < 0:
            self.provider.addItem(f"{s.runtime.provider} (not available here)", s.runtime.provider)
        self.provider.setCurrentIndex(self.provider.findData(s.runtime.provider))
        self._select_preset(s)

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
        self._presets = presets.all_presets(self.actions.tell)
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
        line = self.stats_line
        line.setText(wrapped(stats.parts(), line.fontMetrics(), line.contentsRect().width()))

    def show_state(self, state: str, message: str) -> None:
        self.setWindowIcon(state_icon(state))
        self.state_icon.setPixmap(state_icon(state).pixmap(20, 20))
        checking = self.store.checking_sentence
        if checking:
            # Said until the check returns (show_checking then shows the state): a state change meanwhile
            # (LiveCam switched off) read as if the pick had been dropped.
            self.state_line.setText(_html(checking))
        else:
            color = STATE_COLORS["error"] if state == "error" else self.palette().windowText().color().name()
            self.state_line.setText(f'<span style="color:{color}">{_html(message)}</span>')
        if state == "off":
            self.preview.clear("LiveCam is off")
            self.stats_line.setText("")

    def show_output(self, sentence: str, ok: bool) -> None:
        color = self.palette().windowText().color().name() if ok else STATE_COLORS["error"]
        self.output_line.setText(f'<b>Output:</b> <span style="color:{color}">{_html(sentence)}</span>')

    def show_checking(self, sentence: str) -> None:
        """A chosen file is being checked (``sentence``), or its check returned ("")."""
        self.controls.sync(self.store.settings)
        if sentence:
            self.state_line.setText(_html(sentence))
        else:
            self.show_state(self.bridge.state, self.bridge.message)  # a refusal, if any, comes next

    def show_unsaved(self, sentence: str) -> None:
        """The settings cannot be saved (``sentence``), or they were saved again ("")."""
        if sentence:
            self.show_rejected(sentence)
        else:
            self.show_state(self.bridge.state, self.bridge.message)

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
    def _fit_screen(self) -> None:
        """Open with every tab whole where the screen has room, else as tall as the screen: Qt's own
        first size is two thirds of the screen, which on a laptop showed a third of the Face tab."""
        self.layout().activate()
        room = self.screen().availableGeometry()
        hint, least = self.sizeHint(), self.minimumSizeHint()
        self.resize(max(least.width(), min(hint.width(), room.width())),
                    max(least.height(), min(hint.height(), room.height() - TITLE_BAR)))

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self.actions.dialog_parent = self
        self.bridge.set_preview_size(PREVIEW_SIZE)
        if self.bridge.last_frame is not None:
            self.show_frame(self.bridge.last_frame)

    def hideEvent(self, event: QtGui.QHideEvent) -> None:
        super().hideEvent(event)
        self.bridge.set_preview_size(None)  # no preview copies while nobody looks


class _ScrolledTab(QtWidgets.QScrollArea):
    """A tab page that scrolls. The tallest tab (Face: five effects) asked 1040 px of window, taller
    than a 1366 × 768 laptop or a 1080p screen at 150 %, so the On and Close buttons sat below the
    screen's edge; scrolled, a tab asks for little, and the window opens as tall as the screen allows."""

    def __init__(self, page: QtWidgets.QWidget) -> None:
        super().__init__(widgetResizable=True, frameShape=QtWidgets.QFrame.Shape.NoFrame)
        self.setWidget(page)
        # The tab's own lighter background shows through, as it did before the tabs scrolled.
        self.viewport().setAutoFillBackground(False)
        page.setAutoFillBackground(False)

    def sizeHint(self) -> QtCore.QSize:
        # The whole page (QScrollArea's own hint stops at 24 lines); _fit_screen bounds it by the screen.
        return self.widget().sizeHint() + QtCore.QSize(self.verticalScrollBar().sizeHint().width(), 0)


def wrapped(parts: list[str], metrics: QtGui.QFontMetrics, width: int) -> str:
    """``parts`` joined by the stats separator, a line break taking its place where the next part would
    not fit: a wrapped line no longer ends in a dangling "|". A part wider than the line is left for the
    label's own word wrap."""
    lines = [parts[0]] if parts else [""]
    for part in parts[1:]:
        joined = lines[-1] + STATS_SEPARATOR + part
        if width > 0 and metrics.horizontalAdvance(joined) > width:
            lines.append(part)
        else:
            lines[-1] = joined
    return "\n".join(lines)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def run_checks() -> tuple[list[dict], list[tuple[str, str]]]:
    """Cameras and the doctor's diagnosis (may take a moment: run it off the GUI thread)."""
    from livecam import doctor

    return devices.list_cameras(), doctor.diagnose()
