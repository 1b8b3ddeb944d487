"""Red team, round 12: the promises at their choke points under faults nobody listed.

1. ``LIVECAM_CONFIG_DIR`` (or ``LIVECAM_DATA_HOME``) set to a relative path, or to a quoted
   ``~/cfg`` the shell did not expand, was followed from whatever folder LiveCam started in:
   ``livecam run --save`` made ``./cfg`` (or a folder named ``~``) in the working folder with the
   settings and the log in it, and the tray started from its autostart would look elsewhere and
   find none of them. Now one sentence, exit status 2, nothing written.
2. The log file took numba's debug records: a first start (a new install, an upgrade, or every
   start where numba cannot write its cache) wrote 2.3 MB of compiler steps, so the rotating log
   (1 MB, two old copies) lost the previous session's records, the traceback a user is asked to
   send, from all three files.
"""
from __future__ import annotations

import logging
import os
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam import cli
from livecam import settings as S
from livecam.media import read_image
from livecam.model_fetch import user_models_dir
from livecam.pipeline import Pipeline


# ------------------------------------------------------------------ 1. a relative folder in the environment

RELATIVE = ["cfg", "./cfg", "~/cfg", "../cfg"]


@pytest.mark.parametrize("value", RELATIVE)
def test_a_relative_config_folder_is_one_sentence_and_nothing_is_written(tmp_path, monkeypatch, capsys, value):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", value)
    status = cli.main(["run", "--source", "demo", "--output", "null", "--frames", "1", "--blur", "30", "--save"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("livecam: LIVECAM_CONFIG_DIR is ") and err.count("\n") == 1 and "full path" in err, err
    assert ("not expanded" in err) == value.startswith("~")
    assert list(work.iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["work"]


@pytest.mark.parametrize("value", RELATIVE)
def test_a_relative_data_folder_is_one_sentence(tmp_path, monkeypatch, capsys, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVECAM_DATA_HOME", value)
    with pytest.raises(S.SettingsError) as caught:
        user_models_dir()
    assert str(caught.value).startswith("LIVECAM_DATA_HOME is ") and "\n" not in str(caught.value)
    assert cli.main(["models", "list"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_full_and_unset_folders_are_used_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "data"))
    assert S.config_dir() == tmp_path / "cfg" and user_models_dir() == tmp_path / "data" / "models"
    monkeypatch.setenv("LIVECAM_CONFIG_DIR", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    if os.name != "nt" and os.uname().sysname != "Darwin":
        assert S.config_dir() == tmp_path / "home" / ".config" / "livecam"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG folders are the Linux layout")
@pytest.mark.parametrize("xdg, home", [("cache", "/home/someone"), ("~/cache", "/home/someone"), ("", "")])
def test_the_engine_cache_never_lands_in_the_working_folder(tmp_path, monkeypatch, xdg, home):
    """TensorRT's engines (and CoreML's models) go to the cache folder: a relative XDG_CACHE_HOME
    put them under the folder LiveCam was started in, an empty HOME under /.cache."""
    from livecam.analysis.runtime import user_cache_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.setenv("HOME", home)
    account = tmp_path / "account"
    monkeypatch.setattr("pwd.getpwuid", lambda uid: type("Entry", (), {"pw_dir": str(account)})())
    expected = Path(home or account) / ".cache" / "livecam"
    assert user_cache_dir() == expected


# ------------------------------------------------------------------ 2. the log keeps what it is for

def test_a_first_start_compiling_numba_loops_keeps_the_last_sessions_log(monkeypatch):
    import numba

    from livecam.cli import log_path, setup_logging

    numba_level = logging.getLogger("numba").level
    setup_logging()
    log_path().write_text("2026-12-06 08:00:00,000 ERROR livecam: the traceback the user was asked for\n")
    try:
        # A loop numba has not seen: compiled now, with its debug records.
        scaled = numba.njit(lambda a, k: a * k + np.float32(0.5))
        assert scaled(np.float32(2.0), np.float32(3.0)) == np.float32(6.5)
        logging.getLogger("livecam").debug("a detail the log file keeps")
    finally:
        cli.remove_log_handlers()
        logging.getLogger("numba").setLevel(numba_level)
    text = log_path().read_text()
    assert "the traceback the user was asked for" in text and "a detail the log file keeps" in text
    assert " numba." not in text, "numba's compiler steps went to the log"


# ------------------------------------------------------------------ 3. what a transparent picture hides stays hidden

SECRET = (0, 0, 255)  # BGR red: the colour under the transparent pixels
SHOWN = (255, 128, 0)  # BGR: the opaque pixels' colour


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png(rows: list[bytes], width: int, height: int, colour_type: int, extra: bytes = b"") -> bytes:
    """A PNG written by hand: the colour types OpenCV's encoder cannot make (grey + alpha, palette)."""
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + extra + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def _halves(w: int = 64, h: int = 48, depth=np.uint8) -> np.ndarray:
    """BGRA: the left half transparent over SECRET, the right half opaque SHOWN."""
    top = np.iinfo(depth).max
    image = np.zeros((h, w, 4), depth)
    image[:, : w // 2, :3] = np.array(SECRET, np.float64) / 255 * top
    image[:, w // 2:, :3] = np.array(SHOWN, np.float64) / 255 * top
    image[:, w // 2:, 3] = top
    return image


def _write(path: Path, kind: str) -> Path:
    w, h = 64, 48
    if kind == "rgba":
        cv2.imwrite(str(path), _halves())
    elif kind == "rgba 16-bit":
        cv2.imwrite(str(path), _halves(depth=np.uint16))
    elif kind == "webp":  # lossy WebP keeps the transparent pixels' colours
        path = path.with_suffix(".webp")
        cv2.imwrite(str(path), _halves(), [cv2.IMWRITE_WEBP_QUALITY, 90])
    elif kind == "grey + alpha":
        path.write_bytes(_png([bytes([76, 0] * (w // 2) + [200, 255] * (w // 2))] * h, w, h, 4))
    elif kind == "palette":
        palette = _chunk(b"PLTE", bytes(SECRET[::-1] + SHOWN[::-1])) + _chunk(b"tRNS", bytes([0, 255]))
        path.write_bytes(_png([bytes([0] * (w // 2) + [1] * (w // 2))] * h, w, h, 3, palette))
    elif kind == "colour key":
        key = _chunk(b"tRNS", struct.pack(">HHH", *SECRET[::-1]))
        path.write_bytes(_png([bytes(SECRET[::-1] * (w // 2) + SHOWN[::-1] * (w // 2))] * h, w, h, 2, key))
    return path


def _reddish(pixels: np.ndarray) -> bool:
    b, g, r = (pixels[..., i].astype(int) for i in range(3))
    return bool(((r - np.maximum(b, g)) > 60).any())


@pytest.mark.parametrize("kind", ["rgba", "rgba 16-bit", "webp", "grey + alpha", "palette", "colour key"])
def test_a_transparent_part_of_a_picture_shows_white_not_what_it_hides(tmp_path, kind):
    path = _write(tmp_path / "picture.png", kind)
    for image in (read_image(path), read_image(path, max_side=32), read_image(path, cover=(128, 96))):
        h, w = image.shape[:2]
        left, right = image[:, : w // 2 - w // 8], image[:, w // 2 + w // 8:]
        assert image.dtype == np.uint8 and image.shape[2] == 3
        assert not _reddish(image), "the transparent pixels' hidden colour is shown"
        assert left.min() >= 245, "the transparent part is white"
        spread = np.ptp(right.reshape(-1, 3).astype(int), axis=0).max()
        assert spread <= 8 and right.mean() < 230, "the opaque part keeps its colour"


def test_a_picture_without_transparency_is_decoded_as_before(tmp_path):
    picture = np.dstack(np.indices((48, 64)).astype(np.uint8)[::-1].tolist() + [np.full((48, 64), 99, np.uint8)])
    for suffix in (".png", ".webp"):
        path = tmp_path / f"plain{suffix}"
        cv2.imwrite(str(path), picture, [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else [])
        assert np.array_equal(read_image(path), cv2.imread(str(path), cv2.IMREAD_COLOR))


def test_a_background_picture_with_a_transparent_part_never_shows_what_it_hides(tmp_path):
    path = _write(tmp_path / "background.png", "palette")
    pipeline = Pipeline(S.from_dict({"background": {"mode": "image", "image": str(path)}}))
    try:
        grey = np.full((360, 640, 3), 128, np.uint8)  # nobody in the picture: the background everywhere
        outs = [pipeline.process(grey.copy()) for _ in range(3)]
    finally:
        pipeline.close()
    assert not any(_reddish(out) for out in outs)
