"""``livecam eval``'s photos at realistic sizes (issue #19 "Keep"): every photo and its mask resized to
one width, the halo band kept at HALO_BAND pixels of the resized picture."""
import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam import quality as Q


def test_a_photo_goes_to_the_width_with_an_even_height_in_proportion():
    photo = np.arange(183 * 275 * 3, dtype=np.uint32).astype(np.uint8).reshape(183, 275, 3)
    wide = Q.at_width(photo, 640)
    assert wide.shape == (426, 640, 3)  # 183 x 640 / 275 = 425.9, to the nearest even number
    assert np.array_equal(wide, cv2.resize(photo, (640, 426), interpolation=cv2.INTER_CUBIC))
    big = np.full((1080, 1920, 3), 7, np.uint8)
    big[:, 960:] = 200
    small = Q.at_width(big, 640)
    assert small.shape == (360, 640, 3)
    assert np.array_equal(small, cv2.resize(big, (640, 360), interpolation=cv2.INTER_AREA))
    assert set(np.unique(small[:, 318:322])) <= {7, 200}  # shrunk by area: no ringing
    same = np.zeros((360, 640, 3), np.uint8)
    assert Q.at_width(same, 640) is same


def _folder(root: Path, astronaut: np.ndarray) -> None:
    images, masks = root / "masks" / "dev" / "images", root / "masks" / "dev" / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    small = cv2.resize(astronaut, (160, 120), interpolation=cv2.INTER_AREA)
    for i in range(2):
        truth = np.zeros((120, 160), np.uint8)
        cv2.circle(truth, (80, 75), 30 + 8 * i, 255, -1)
        cv2.imwrite(str(images / f"p{i}.png"), small)
        cv2.imwrite(str(masks / f"p{i}.png"), truth)


def test_eval_stills_scores_every_photo_and_its_mask_at_the_width(tmp_path, monkeypatch, astronaut):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "nothing"))
    _folder(tmp_path, astronaut)
    seen = []
    band = Q.outline_band

    def outline_band(alpha_true, width=Q.HALO_BAND):
        seen.append((alpha_true.shape, float(alpha_true.sum()), width))
        return band(alpha_true, width)

    monkeypatch.setattr(Q, "outline_band", outline_band)
    native = Q.eval_stills(tmp_path, "landscape")
    wide = Q.eval_stills(tmp_path, "landscape", width=640)
    assert native["width"] is None and wide["width"] == 640
    (n0, n1), (w0, w1) = seen[:2], seen[2:]
    assert n0[0] == n1[0] == (120, 160) and w0[0] == w1[0] == (480, 640)
    assert n0[2] == w0[2] == Q.HALO_BAND  # 6 px of the picture scored, at either size
    # The true mask goes along: 16 times the area (the disc's soft rim resized by a factor of 4).
    assert w0[1] == pytest.approx(16 * n0[1], rel=0.01) and w1[1] == pytest.approx(16 * n1[1], rel=0.01)
    for out in (native, wide):
        assert sorted(out["photos"]) == ["p0", "p1"]
        assert out["final"]["iou"] > 0 and out["raw"]["halo_light"] > 0
    # Enlarged 4 times, the same photo's raw outline is blurred over 4 times as many pixels.
    assert wide["raw"]["halo_light"] > native["raw"]["halo_light"]


def test_eval_takes_a_width_and_says_it(tmp_path, monkeypatch, capsys, astronaut):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "nothing"))
    _folder(tmp_path, astronaut)
    monkeypatch.setattr(Q, "wall_reference", lambda *a: None)
    monkeypatch.setattr(Q, "eval_clips", lambda *a, **k: {"clips": {}})
    args = dict(data=str(tmp_path), model="landscape", sheet=None, width=640)
    assert Q.main(argparse.Namespace(json=True, **args)) == 0
    stills = json.loads(capsys.readouterr().out)["models"]["landscape"]["stills"]
    assert stills["width"] == 640
    assert Q.main(argparse.Namespace(json=False, **args)) == 0
    assert "model: landscape  (2 photos with ground truth at 640 px wide, 0 clips)" in capsys.readouterr().out.splitlines()
    # Without the option (the CLI has no --width yet) the photos are scored as they are.
    assert Q.main(argparse.Namespace(json=True, data=str(tmp_path), model="landscape", sheet=None)) == 0
    assert json.loads(capsys.readouterr().out)["models"]["landscape"]["stills"]["width"] is None


def test_livecam_eval_refuses_a_width_no_photo_can_take_before_measuring_anything(capsys):
    from livecam.cli import main

    assert main(["eval", "--width", "-3", "--model", "landscape"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--width takes 32 to 7680 px, not -3" in err


def test_at_a_width_the_photos_not_enlarged_are_also_scored_apart(tmp_path, monkeypatch, astronaut):
    # An enlargement adds no detail and grows a truth mask's rim with it: the photos at least the width
    # wide are the ones that say how a frame of that size fares, so they are scored apart as well.
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "nothing"))
    images, masks = tmp_path / "masks" / "dev" / "images", tmp_path / "masks" / "dev" / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for name, width in (("big", 800), ("small", 160)):
        height = width * 3 // 4
        truth = np.zeros((height, width), np.uint8)
        cv2.circle(truth, (width // 2, height * 5 // 8), width * 3 // 16, 255, -1)
        cv2.imwrite(str(images / f"{name}.png"), cv2.resize(astronaut, (width, height), interpolation=cv2.INTER_AREA))
        cv2.imwrite(str(masks / f"{name}.png"), truth)
    wide = Q.eval_stills(tmp_path, "landscape", width=640)
    native = wide["native"]
    assert native["images"] == 1 and wide["images"] == 2
    big = wide["photos"]["big"]
    for name in ("raw", "final"):
        assert native[name] == pytest.approx(big[name], abs=1e-4)
        assert native[name] != pytest.approx(wide["photos"]["small"][name], abs=1e-4)
    half = wide["photos"]["big"]["half"]
    assert native["halves"][half]["images"] == 1 and native["halves"][half]["final"] == native["final"]
    # Every photo is at least 100 px wide: none is enlarged; as they are, there is nothing to set apart.
    assert Q.eval_stills(tmp_path, "landscape", width=100)["native"]["images"] == 2
    assert "native" not in Q.eval_stills(tmp_path, "landscape")


def test_eval_says_how_the_photos_not_enlarged_fare(tmp_path, monkeypatch, capsys, astronaut):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "nothing"))
    _folder(tmp_path, astronaut)
    monkeypatch.setattr(Q, "wall_reference", lambda *a: None)
    monkeypatch.setattr(Q, "eval_clips", lambda *a, **k: {"clips": {}})
    for width, said in ((640, "  photos at least 640 px wide (not enlarged): 0"),
                        (100, "  photos at least 100 px wide (not enlarged): 2, halo ")):
        assert Q.main(argparse.Namespace(json=False, data=str(tmp_path), model="landscape", sheet=None, width=width)) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line for line in lines if line.startswith(said)], lines
