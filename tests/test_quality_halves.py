"""``livecam eval``'s photos split once into a tuning and a reporting half (issue #19 "Keep"): by
source group, each group in both halves, no photo in both, and the scores given per half."""
import argparse
import json
import statistics
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam import quality as Q

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _index(root: Path, rows: list[tuple[str, str]]) -> None:
    (root / "masks").mkdir(parents=True, exist_ok=True)
    lines = ["id,split,group,size"] + [f"{i},dev,{g},10x10" for i, g in rows]
    (root / "masks" / "index.csv").write_text("\n".join(lines) + "\n")


def test_each_group_alternates_in_sorted_order_between_the_halves(tmp_path):
    _index(tmp_path, [("b2", "b"), ("a3", "a"), ("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c")])
    halves = Q.photo_halves(tmp_path, ["a2", "b1", "a1", "c1", "b2", "a3", "x9", "x1"])
    assert halves == {"a1": "tune", "a2": "report", "a3": "tune", "b1": "tune", "b2": "report", "c1": "tune",
                      # photos the index does not list are one group of their own
                      "x1": "tune", "x9": "report"}


def test_without_an_index_all_photos_are_one_group(tmp_path):
    halves = Q.photo_halves(tmp_path, ["c", "a", "b"])
    assert halves == {"a": "tune", "b": "report", "c": "tune"}


@pytest.mark.skipif(not (DATA / "masks" / "index.csv").is_file(), reason="shared test data not present")
def test_the_shared_photos_split_once_with_every_group_in_both_halves():
    import csv

    stems = sorted(p.stem for p in (DATA / "masks" / "dev" / "images").glob("*"))
    halves = Q.photo_halves(DATA, stems)
    assert set(halves) == set(stems) and set(halves.values()) == set(Q.HALVES)
    with open(DATA / "masks" / "index.csv", newline="") as f:
        group = {row["id"]: row["group"] for row in csv.DictReader(f)}
    for g in set(group.values()):
        members = [s for s in stems if group.get(s) == g]
        if len(members) > 1:
            assert {halves[s] for s in members} == set(Q.HALVES), g
    tune = sorted(s for s, h in halves.items() if h == "tune")
    # Fixed once: the tuning half never changes under the constants chosen on it.
    assert (len(tune), len(stems) - len(tune)) == (28, 27)
    assert tune[:4] == ["cihp_0002190", "cihp_0026375", "p3m_015cd10e", "p3m_0865636e"]


def _photo_folder(root: Path, astronaut: np.ndarray, n: int = 4) -> None:
    images, masks = root / "masks" / "dev" / "images", root / "masks" / "dev" / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    small = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)
    for i in range(n):
        truth = np.zeros((160, 160), np.uint8)
        cv2.circle(truth, (80, 95), 40 + 8 * i, 255, -1)  # a different outline each: different scores
        cv2.imwrite(str(images / f"p{i}.png"), small)
        cv2.imwrite(str(masks / f"p{i}.png"), truth)
    _index(root, [(f"p{i}", "g") for i in range(n)])


def test_eval_stills_gives_the_scores_per_half_and_per_photo(tmp_path, monkeypatch, astronaut):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "nothing"))
    _photo_folder(tmp_path, astronaut)
    out = Q.eval_stills(tmp_path, "landscape")
    photos = out["photos"]
    assert sorted(photos) == ["p0", "p1", "p2", "p3"] and out["images"] == 4
    assert [photos[p]["half"] for p in sorted(photos)] == ["tune", "report", "tune", "report"]
    for half in Q.HALVES:
        part = out["halves"][half]
        mine = [p for p in photos.values() if p["half"] == half]
        assert part["images"] == 2
        for name in ("raw", "final"):
            for key in Q.STILL_KEYS:
                assert part[name][key] == pytest.approx(statistics.mean(p[name][key] for p in mine), abs=2e-4)
    for name in ("raw", "final"):  # the overall means are all photos', as before
        assert out[name]["halo_light"] == pytest.approx(statistics.mean(p[name]["halo_light"] for p in photos.values()),
                                                        abs=2e-4)
    assert len({p["final"]["halo_dark"] for p in photos.values()}) == 4
    # One half alone: the same per-photo numbers (each photo starts afresh), the other half not run.
    tune = Q.eval_stills(tmp_path, "landscape", half="tune")
    assert sorted(tune["photos"]) == ["p0", "p2"] and tune["halves"]["report"] == {"images": 0}
    assert tune["photos"]["p2"] == photos["p2"]


def test_the_printed_report_gives_the_halo_per_half(tmp_path, monkeypatch, capsys, astronaut):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "nothing"))
    _photo_folder(tmp_path, astronaut)
    monkeypatch.setattr(Q, "wall_reference", lambda *a: None)
    assert Q.main(argparse.Namespace(data=str(tmp_path), json=True, model="landscape", sheet=None)) == 0
    stills = json.loads(capsys.readouterr().out)["models"]["landscape"]["stills"]
    assert Q.main(argparse.Namespace(data=str(tmp_path), json=False, model="landscape", sheet=None)) == 0
    out = capsys.readouterr().out
    for half, name in (("tune", "tuning half"), ("report", "reporting half")):
        s = stills["halves"][half]
        light = s["final"]["halo_light"] / s["raw"]["halo_light"]
        dark = s["final"]["halo_dark"] / s["raw"]["halo_dark"]
        assert (f"  {name} (2 photos): IoU raw {s['raw']['iou']:.4f} final {s['final']['iou']:.4f}, "
                f"halo {light:.3f} (light) {dark:.3f} (dark) of raw") in out.splitlines()


def test_an_index_that_cannot_be_read_is_said_and_the_photos_split_as_one_group(tmp_path, capsys):
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "index.csv").write_bytes(b"id,group\n\xff\xfe\x00broken\n")
    assert Q.photo_halves(tmp_path, ["b", "a"]) == {"a": "tune", "b": "report"}
    err = capsys.readouterr().err
    assert err.startswith(f"livecam eval: {tmp_path / 'masks' / 'index.csv'} cannot be read (")
    assert err.rstrip().endswith("; the photos are split as one group.")
