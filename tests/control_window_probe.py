"""Run by tests/test_control_window_fit.py in its own process on a real X server (Xvfb): show the
control window with the longest state message it gets (the modprobe line), screenshot it and
report, as JSON, every text that does not fit its widget."""
import json
import sys
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from livecam import settings as S
from livecam.gui.actions import LiveCamActions
from livecam.gui.store import SettingsStore
from livecam.gui.tray import ControlWindow

MESSAGE = ("No virtual camera: the v4l2loopback module is not loaded; install v4l2loopback (e.g. sudo apt install "
           "v4l2loopback-dkms) and run: sudo modprobe v4l2loopback devices=1 video_nr=10 card_label=\"LiveCam\" "
           "exclusive_caps=1")


def clipped(window: QtWidgets.QWidget) -> list[str]:
    problems = []
    for button in window.findChildren(QtWidgets.QToolButton):
        fm = button.fontMetrics()
        text = button.text().replace("&&", "&")
        need_w = fm.horizontalAdvance(text)
        need_h = fm.height()  # ascent + descent: the descenders of g, p, y
        if button.width() < need_w + 8 or button.height() < need_h + 4:
            problems.append(f"button {text!r}: {button.width()}x{button.height()} for text {need_w}x{need_h}")
    for label in window.findChildren(QtWidgets.QLabel):
        if not label.text() or label.pixmap() is not None and not label.pixmap().isNull():
            continue
        doc = QtGui.QTextDocument()
        doc.setDefaultFont(label.font())
        doc.setHtml(label.text())
        doc.setDocumentMargin(0)
        doc.setTextWidth(label.contentsRect().width())
        if label.wordWrap() and doc.size().height() > label.contentsRect().height() + 1:
            problems.append(f"label {doc.toPlainText()[:40]!r}: {label.contentsRect().height()} px tall for "
                            f"{doc.size().height():.0f} px of text")
    screen = window.screen().availableGeometry()
    if window.frameGeometry().width() > screen.width():
        problems.append(f"window {window.width()} px wide on a {screen.width()} px screen")
    return problems


def main() -> int:
    out = Path(sys.argv[1])
    app = QtWidgets.QApplication([])
    store = SettingsStore(S.Settings(), persist=False)
    actions = LiveCamActions(store)
    window = ControlWindow(actions)
    window.set_state("error", MESSAGE)
    window.show()
    for _ in range(20):
        app.processEvents()
        QtCore.QThread.msleep(20)
    window.grab().save(str(out))
    print(json.dumps({"problems": clipped(window), "size": [window.width(), window.height()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
