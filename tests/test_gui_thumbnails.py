"""The background menu's thumbnails: decoded by LiveCam's own picture reader, so a FIFO or a broken
file among the user's backgrounds gives an empty icon instead of freezing the tray."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
THUMB = ("import sys; from pathlib import Path; from PySide6 import QtWidgets; app = QtWidgets.QApplication([]); "
         "from livecam.gui.thumbnails import thumbnail_image; "
         "image = thumbnail_image(Path(sys.argv[1])); "
         "print(image is None, '' if image is None else image.pixelColor(image.width() // 2, image.height() // 2).name())")


def _thumbnail(path: Path) -> str:
    """The thumbnail of ``path`` in a child process, so a hang fails the test instead of blocking it."""
    try:
        done = subprocess.run([sys.executable, "-c", THUMB, str(path)], capture_output=True, text=True, timeout=60,
                              cwd=ROOT, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"the thumbnail of {path.name} did not return")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_among_my_backgrounds_gives_an_empty_icon_and_does_not_freeze_the_menu(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    assert _thumbnail(fifo) == "True"


def test_a_picture_gives_its_colours_and_a_broken_one_an_empty_icon(tmp_path):
    picture = np.zeros((360, 640, 3), np.uint8)
    picture[:] = (200, 40, 10)  # BGR: the thumbnail must show the colour, not channels swapped
    cv2.imwrite(str(tmp_path / "blue.png"), picture)
    null, colour = _thumbnail(tmp_path / "blue.png").split()
    assert null == "False"
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    assert abs(r - 10) <= 2 and abs(g - 40) <= 2 and abs(b - 200) <= 2
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a picture")
    assert _thumbnail(tmp_path / "cut.jpg") == "True"
