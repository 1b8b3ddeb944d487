"""Where the controls live between calls: a tray icon with the LiveCam menu, or, on desktops without
a tray (plain X servers, Qt's offscreen platform), a small control window with the same actions."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from livecam.effects import REGISTRY
from livecam.gui.actions import LiveCamActions
from livecam.gui.bridge import OPENING, OUTPUT_OFF
from livecam.gui.icons import MENU_BUTTON_STYLE, STATE_COLORS, TOGGLE_STYLE, state_icon

WELCOME_CONTROLS = "Click this icon for the settings and preview, right-click it for effects and presets."


class TrayFront(QtCore.QObject):
    """The system-tray icon: left click opens the settings, right click the LiveCam menu."""

    def __init__(self, actions: LiveCamActions, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.actions = actions
        self.state = "off"
        self.tray = QtWidgets.QSystemTrayIcon(state_icon("off"), self)
        self.tray.setContextMenu(actions.menu)
        self.tray.setToolTip("LiveCam")
        self.tray.activated.connect(self._activated)
        self._last_error = ""
        self._welcomed = False

    def _activated(self, reason: QtWidgets.QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QtWidgets.QSystemTrayIcon.ActivationReason.Trigger,
                      QtWidgets.QSystemTrayIcon.ActivationReason.DoubleClick):
            self.actions.settings_requested.emit()

    def set_state(self, state: str, message: str) -> None:
        self.state = state
        self.tray.setIcon(state_icon(state))
        self.tray.setToolTip(f"LiveCam: {message}")
        if state == "error" and message != self._last_error and self.tray.supportsMessages():
            self.tray.showMessage("LiveCam", message, QtWidgets.QSystemTrayIcon.MessageIcon.Warning, 8000)
        self._last_error = message if state == "error" else ""

    def say(self, sentence: str) -> None:
        """A problem that is not LiveCam's state (the settings cannot be saved), in the error's bubble."""
        self.tray.setToolTip(f"LiveCam: {sentence}")
        if self.tray.supportsMessages():
            self.tray.showMessage("LiveCam", sentence, QtWidgets.QSystemTrayIcon.MessageIcon.Warning, 8000)

    def show(self) -> None:
        self.tray.show()

    def show_output(self, sentence: str, ok: bool) -> None:
        """The first output that works is the welcome: where the picture goes (on a first start, "pick
        LiveCam in your call app") and where the controls are. It used to greet at once, before the
        output opened, and told a user with no virtual camera to pick one that did not exist; an
        output that fails says so in the error bubble instead."""
        if not ok or self._welcomed or sentence in (OUTPUT_OFF, OPENING):  # no output open yet
            return
        self._welcomed = True
        if self.tray.supportsMessages():
            self.tray.showMessage("LiveCam is running", f"{sentence} {WELCOME_CONTROLS}", state_icon("on"), 6000)

    def hide(self) -> None:
        self.tray.hide()


class ControlWindow(QtWidgets.QWidget):
    """The tray's menu as a small window, for desktops without a system tray. Closing it quits."""

    def __init__(self, actions: LiveCamActions) -> None:
        super().__init__()
        self.actions = actions
        self.state = "off"
        self.setWindowTitle("LiveCam")
        self.setWindowIcon(state_icon("off"))
        self.addActions(actions.shortcut_actions())

        self.icon = QtWidgets.QLabel()
        self.message = QtWidgets.QLabel("LiveCam is off.", wordWrap=True)
        self.message.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        head = QtWidgets.QHBoxLayout()
        head.addWidget(self.icon, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        head.addWidget(self.message, 1)
        head.addWidget(self._button(actions.running), 0, QtCore.Qt.AlignmentFlag.AlignTop)

        grid = QtWidgets.QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(8)
        for row, (title, keys) in enumerate(toggle_rows()):
            grid.addWidget(QtWidgets.QLabel(title), row, 0)
            for column, key in enumerate(keys, start=1):
                grid.addWidget(self._button(actions.toggles[key], toggle=True), row, column)
        pictures = self._menu_button("Pictures", actions.background_menu)
        grid.addWidget(pictures, 0, 5)

        row = QtWidgets.QHBoxLayout()
        row.addWidget(self._menu_button("Presets", actions.presets_menu))
        row.addStretch(1)
        row.addWidget(self._button(actions.open_settings))
        row.addWidget(self._button(actions.quit))

        layout = QtWidgets.QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addLayout(head)
        layout.addLayout(grid)
        layout.addLayout(row)
        self.set_state("off", "LiveCam is off.")
        self.setMinimumWidth(520)

    @staticmethod
    def _menu_button(text: str, menu: QtWidgets.QMenu) -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton(text=text, popupMode=QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setMenu(menu)
        # Fusion tucks the menu arrow into the bottom-right corner against the text; give it a column.
        button.setStyleSheet(MENU_BUTTON_STYLE)
        return button

    def _button(self, action: QtGui.QAction, toggle: bool = False) -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton()
        button.setDefaultAction(action)
        button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        shortcut = action.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText)
        if shortcut:
            button.setToolTip(f"{action.text()} ({shortcut})")
        if toggle or action.isCheckable():
            button.setStyleSheet(TOGGLE_STYLE)
            button.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
        return button

    def set_state(self, state: str, message: str) -> None:
        self.state = state
        icon = state_icon(state)
        self.setWindowIcon(icon)
        self.icon.setPixmap(icon.pixmap(32, 32))
        color = STATE_COLORS["error"] if state == "error" else self.palette().windowText().color().name()
        self.message.setText(f'<span style="color:{color}">{_html(message)}</span>')

    def say(self, sentence: str) -> None:
        """A problem that is not LiveCam's state (the settings cannot be saved), on the state's line until
        the state next changes."""
        self.message.setText(f'<span style="color:{STATE_COLORS["error"]}">{_html(sentence)}</span>')

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        # Without a tray nothing would be left to bring LiveCam back, so closing this window quits.
        event.ignore()
        self.actions.quit_requested.emit()


def toggle_rows(width: int = 4) -> list[tuple[str, list[str]]]:
    """The control window's rows of toggle buttons, from the registry: an effect with several
    toggles (the background's modes) gets a row of its own, the one-toggle effects share rows."""
    rows: list[tuple[str, list[str]]] = []
    singles: list[str] = []
    for spec in REGISTRY:
        if len(spec.toggles) > 1:
            rows.append((spec.label, [t.key for t in spec.toggles]))
        else:
            singles += [t.key for t in spec.toggles]
    for n in range(0, len(singles), width):
        rows.append(("Effects" if n == 0 else "", singles[n: n + width]))
    return rows


def make_front(actions: LiveCamActions, prefer_tray: bool = True) -> TrayFront | ControlWindow:
    if prefer_tray and QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
        return TrayFront(actions)
    return ControlWindow(actions)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
