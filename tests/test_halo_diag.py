"""tools/halo_diag.py: the photo halo split into the outline's place and the edge colour, per source group."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam import quality as Q

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import halo_diag  # noqa: E402


def _disc(radius: int, size=(120, 160)) -> np.ndarray:
    out = np.zeros(size, np.uint8)
    cv2.circle(out, (80, 60), radius, 1, -1)
    return out > 0


def test_outline_offsets_say_how_far_the_outline_lies_outside_or_inside_the_truth():
    truth = _disc(30)
    out, inside = halo_diag.outline_offsets(_disc(27), truth)
    assert out == 0 and inside == pytest.approx(3, abs=0.4)  # a mask 3 px short of the truth all round
    out, inside = halo_diag.outline_offsets(_disc(32), truth)
    assert inside == 0 and out == pytest.approx(2, abs=0.4)
    assert halo_diag.outline_offsets(truth, truth) == (0.0, 0.0)


def test_halo_parts_split_the_outline_from_the_colour():
    frame = np.full((120, 160, 3), 90, np.uint8)
    truth = _disc(30).astype(np.float32)
    frame[truth > 0] = (30, 160, 220)
    short = _disc(27).astype(np.float32)
    parts = halo_diag.halo_parts(frame, truth, short, short, None)
    # The truth's own alpha with the frame's colours is the ideal: nothing left there.
    assert parts["truth_alpha"] == (0.0, 0.0)
    assert parts["final"] == parts["no_colour"] == parts["raw"] and min(parts["final"]) > 0
    # A wrong person colour counts wherever the mask takes it; the frame's own colours cost nothing.
    coloured = halo_diag.halo_parts(frame, truth, short, truth, frame // 2)
    assert coloured["final"] == coloured["truth_alpha"] and min(coloured["final"]) > 0
    assert coloured["no_colour"] == (0.0, 0.0)


def test_diagnose_groups_the_half_by_the_index_and_adds_them_up(tmp_path, monkeypatch, astronaut):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "nothing"))
    images, masks = tmp_path / "masks" / "dev" / "images", tmp_path / "masks" / "dev" / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    small = cv2.resize(astronaut, (160, 120), interpolation=cv2.INTER_AREA)
    lines = ["id,group"]
    for i, group in enumerate(("a", "a", "b", "b")):
        cv2.imwrite(str(images / f"p{i}.png"), small)
        cv2.imwrite(str(masks / f"p{i}.png"), _disc(30 + 3 * i).astype(np.uint8) * 255)
        lines.append(f"p{i},{group}")
    (tmp_path / "masks" / "index.csv").write_text("\n".join(lines) + "\n")
    which = Q.photo_halves(tmp_path, [f"p{i}" for i in range(4)])
    result = halo_diag.diagnose(tmp_path, "landscape", "tune")
    tuned = sorted(s for s, h in which.items() if h == "tune")
    assert tuned == ["p0", "p2"]  # one of each group
    assert set(result) == {"a", "b", "all"} and result["a"]["photos"] == result["b"]["photos"] == 1
    assert result["all"]["photos"] == 2
    for part in halo_diag.PARTS:
        assert result["all"][part] == pytest.approx(tuple((result["a"][part][i] + result["b"][part][i]) / 2
                                                          for i in (0, 1)))
    # The same picture against a larger truth disc: more of the truth left out by the same mask.
    assert result["b"]["in"] > result["a"]["in"]
    assert result["all"]["raw"][0] > 0
