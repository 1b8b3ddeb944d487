"""Any path or value quoted to the user is one printable line: no escape sequence, no newline, no
byte that cannot be printed, however the file was named."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecam.messages import escaped, short, shown
from processes import needs_ffmpeg

REPO = Path(__file__).resolve().parents[1]


def _safe(text: str) -> None:
    assert isinstance(text, str)
    assert text.isprintable(), repr(text)  # no control, format, separator (but space) or surrogate character
    assert "\x1b" not in text and "\n" not in text and "\r" not in text
    text.encode("utf-8")  # printable to any UTF-8 terminal (a lone surrogate would raise here)


@settings(max_examples=2000, deadline=None)
@given(st.text())
def test_any_text_is_shown_as_one_printable_line(text):
    _safe(shown(text))
    _safe(shown(text, limit=30))
    assert len(shown(text, limit=40)) <= 40 + len(f"... ({10 ** 9} characters)")


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_any_file_name_bytes_are_shown_as_one_printable_line(name):
    _safe(shown(name))
    _safe(shown(Path(os.fsdecode(name or b"x"))))  # a Path made from a non-UTF-8 name holds surrogates


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))
               | st.just(" ")))
def test_printable_text_is_shown_unchanged(text):
    assert escaped(text) == text


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.integers(), st.floats(), st.lists(st.text())))
def test_short_is_one_printable_line(value):
    _safe(short(value))


def test_the_usual_attacks_are_visible_escapes():
    assert shown("\x1b[31mred\x1b[0m.mp4") == "\\e[31mred\\e[0m.mp4"
    assert shown("a\nlivecam: all fine.mp4") == "a\\nlivecam: all fine.mp4"
    assert shown(b"caf\xe9.mp4") == "caf\\xe9.mp4"  # Latin-1 bytes: not UTF-8
    assert shown(Path(os.fsdecode(b"caf\xe9.mp4"))) == "caf\\xe9.mp4"
    assert shown("evil\u202egpj.mp4") == "evil\\u202egpj.mp4"  # right-to-left override
    assert shown("-leading-dash.mp4") == "-leading-dash.mp4"
    assert shown("café 東京.mp4") == "café 東京.mp4"


def test_the_terminal_and_the_log_get_escaped_sentences(tmp_path, capsys):
    from livecam.cli import log_path, remove_log_handlers, setup_logging

    setup_logging()
    try:
        logging.getLogger("livecam").warning("Video file %s is broken.", "x\x1b]0;pwned\x07\nlivecam: fine")
        logging.getLogger("livecam").warning("Video file %s is broken.", Path(os.fsdecode(b"\xff.mp4")))
    finally:
        remove_log_handlers()
    err = capsys.readouterr().err
    assert err.splitlines() == ["livecam: Video file x\\e]0;pwned\\x07\\nlivecam: fine is broken.",
                                "livecam: Video file \\xff.mp4 is broken."]
    logged = log_path().read_text()
    assert "\x1b" not in logged and "x\\e]0;pwned\\x07\\nlivecam: fine" in logged


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livecam", *args], cwd=cwd, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120, check=False)


@pytest.mark.parametrize("name", [b"\x1b[2J\x1b[31mclip.mp4", b"line\nbreak.mp4", b"caf\xe9.mp4",
                                  b"-leading-dash.mp4"])
def test_odd_file_names_give_one_escaped_sentence(tmp_path, name):
    """A missing file under each odd name: the command says so in one escaped line, no traceback."""
    done = _cli("run", "--output", "null", "--frames", "1", f"--source={os.fsdecode(name)}", cwd=tmp_path)
    err = done.stderr
    assert done.returncode != 0 and b"Traceback" not in err, err
    assert b"\x1b" not in err
    lines = err.decode("utf-8").splitlines()
    assert len(lines) == 1 and shown(name) in lines[0], err  # "does not exist", or "is not UTF-8"


@needs_ffmpeg
def test_a_leading_dash_input_works_after_a_double_dash(tmp_path, data_dir):
    """``render -- -clip.mp4 out.mp4``: a name starting with a dash is a file, not an option."""
    clip = tmp_path / "-clip.mp4"
    clip.symlink_to(data_dir / "video" / "lp_d0_greenscreen.mp4")
    done = _cli("render", "--quiet", "--blur", "40", "--", "-clip.mp4", "-out.mp4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "-out.mp4").stat().st_size > 10_000


def test_a_non_utf8_source_name_is_one_sentence_not_a_crash(tmp_path, data_dir):
    """A clip whose name is not UTF-8 (made on a Latin-1 system): handled or refused in one line."""
    name = b"caf\xe9.mp4"
    os.symlink(data_dir / "video" / "lp_d0_greenscreen.mp4", os.path.join(os.fsencode(tmp_path), name))
    done = _cli("run", "--output", "null", "--frames", "3", "--source", os.fsdecode(name), cwd=tmp_path)
    assert done.returncode >= 0, f"killed by signal {-done.returncode}"
    assert b"Traceback" not in done.stderr and b"\\udce9" not in done.stderr, done.stderr
    if done.returncode != 0:
        assert b"caf\\xe9.mp4" in done.stderr and len(done.stderr.decode().strip().splitlines()) <= 2, done.stderr
