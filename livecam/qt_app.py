"""The one QApplication, made so that the libraries below Qt keep reading numbers the C way, and
only where Qt can open its platform.

QApplication's constructor sets the C library's locale from the environment (``setlocale(LC_ALL, "")``),
LC_NUMERIC included. Under a locale that writes 0,5 (de_DE, fr_FR, ru_RU, pt_BR …), ONNX Runtime
imported after that (the tray app loads its models once its window is up) set itself up in that
locale, and every model answered differently for good: the landscape selfie model's mean person
probability on the same input went from 0.53 to 0.32, in the tray app but not in ``livecam run``.
Qt's documentation asks for this reset right after the application is made; Qt's own widgets
format numbers with QLocale, which it does not touch.

Where Qt cannot open its platform (a DISPLAY left over from a session that ended, a missing xcb
library, an unknown QT_QPA_PLATFORM) its constructor aborts the whole process (exit 134). The tray
app asked first, but ``livecam run --output preview`` did not, nor the preview that stands in for a
missing virtual camera: ``livecam run``, and the tray app running as ``livecam run`` because it could
not start, died of the very abort it had just said it avoided. Asked here, every caller is covered.
"""
from __future__ import annotations

import locale
import os
from collections.abc import Sequence
from typing import Any

# Platforms built into every PySide6 wheel that need nothing of the system: no need to ask.
_NEED_NOTHING = ("offscreen", "minimal")
_REFUSED: dict[tuple[str, ...], str] = {}  # the platform settings Qt was found unable to open, and why


class NoWindows(RuntimeError):
    """Qt cannot open its platform here; ``str()`` is the reason, as a clause (qt_platform's words)."""


def application(argv: Sequence[str] = ()) -> Any:
    """The running QApplication, or a new one with ``argv``; C numbers either way. Raises NoWindows,
    instead of Qt's abort, where no QApplication can be made."""
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is None:
        where = tuple(os.environ.get(name, "") for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"))
        # Asked once: the tray that runs as `livecam run` instead then asks again for the preview.
        problem = _REFUSED.get(where) or _platform_problem()
        if problem:
            _REFUSED[where] = problem
            raise NoWindows(problem)
        app = QtWidgets.QApplication(list(argv))
    locale.setlocale(locale.LC_NUMERIC, "C")
    return app


def _platform_problem() -> str | None:
    from livecam import qt_platform

    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in _NEED_NOTHING:
        return None
    if qt_platform.no_display():
        return "there is no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    return qt_platform.gui_problem()
