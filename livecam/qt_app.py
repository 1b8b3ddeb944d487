"""The one QApplication, made so that the libraries below Qt keep reading numbers the C way.

QApplication's constructor sets the C library's locale from the environment (``setlocale(LC_ALL, "")``),
LC_NUMERIC included. Under a locale that writes 0,5 (de_DE, fr_FR, ru_RU, pt_BR …), ONNX Runtime
imported after that (the tray app loads its models once its window is up) set itself up in that
locale, and every model answered differently for good: the landscape selfie model's mean person
probability on the same input went from 0.53 to 0.32, in the tray app but not in ``livecam run``.
Qt's documentation asks for this reset right after the application is made; Qt's own widgets
format numbers with QLocale, which it does not touch.
"""
from __future__ import annotations

import locale
from collections.abc import Sequence
from typing import Any


def application(argv: Sequence[str] = ()) -> Any:
    """The running QApplication, or a new one with ``argv``; C numbers either way."""
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(list(argv))
    locale.setlocale(locale.LC_NUMERIC, "C")
    return app
