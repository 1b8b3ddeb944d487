"""The tray app is often started without a terminal (a desktop menu entry, autostart): a sentence
that stops it from starting went to stderr only, so it simply did not appear. It is shown on the
desktop too, and only for the tray app and only where nobody reads stderr."""
from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6")
from PySide6 import QtWidgets  # noqa: E402

import livecam.gui  # noqa: E402
from livecam import cli  # noqa: E402


@pytest.fixture
def boxes(monkeypatch, tmp_path):
    shown: list[str] = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", staticmethod(lambda parent, title, text: shown.append(text)))
    # A platform someone sees (the tests' own is offscreen, where the box is skipped, see below).
    monkeypatch.setattr(livecam.gui, "UNSEEN_PLATFORMS", ())
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", "relative/cfg")  # a sentence before anything starts
    monkeypatch.chdir(tmp_path)
    return shown


def test_the_tray_without_a_terminal_shows_its_start_up_sentence(boxes, capsys, tmp_path):
    assert cli.main(["gui"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("livecam: LIVECAM_CONFIG_DIR is ") and err.count("\n") == 1
    assert len(boxes) == 1 and boxes[0].startswith("LIVECAM_CONFIG_DIR is ") and "full path" in boxes[0]
    assert list(tmp_path.iterdir()) == []


def test_plain_livecam_on_a_desktop_is_the_tray_and_shows_it_too(boxes, capsys, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    assert cli.main([]) == 2
    assert len(boxes) == 1 and capsys.readouterr().err.startswith("livecam: LIVECAM_CONFIG_DIR")


def test_a_terminal_or_another_command_gets_stderr_alone(boxes, capsys, monkeypatch):
    assert cli.main(["run", "--source", "demo", "--output", "null", "--frames", "1"]) == 2
    assert cli.main(["doctor"]) == 2
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert cli.main(["gui"]) == 2
    assert boxes == []
    assert capsys.readouterr().err.count("livecam: LIVECAM_CONFIG_DIR is ") == 3


def test_no_box_where_nobody_could_see_it(boxes, monkeypatch):
    monkeypatch.setattr(livecam.gui, "UNSEEN_PLATFORMS", ("offscreen", "minimal"))
    for platform in ("offscreen", "minimal"):
        monkeypatch.setenv("QT_QPA_PLATFORM", platform)
        assert cli.main(["gui"]) == 2
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert cli.main(["gui"]) == 2
    assert boxes == []
