"""tools/ab_interleaved.py: two checkouts in one process, frame by frame (here the same tree twice)."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        spec = importlib.util.spec_from_file_location("ab_interleaved", ROOT / "tools" / "ab_interleaved.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return module


def test_the_same_tree_twice_gives_the_same_pictures_and_cpu_per_stage():
    import livecam
    import livecam.pipeline

    tool = _tool()
    result = tool.compare([str(ROOT), str(ROOT)], "blur", (320, 180), 6)
    assert result["diff_max"] == 0 and result["frames"] == 6
    for stages in result["stages"]:
        assert {"preprocess", "refine", "background", "i420", "frame"} <= set(stages)
        median, mean = stages["frame"]
        assert median > 0 and mean > 0
        assert stages["frame"][1] >= stages["i420"][1]
    # The caller's own modules are back: classes imported before the run are still the ones in use.
    assert sys.modules["livecam"] is livecam and sys.modules["livecam.pipeline"] is livecam.pipeline
    assert "refine" in tool.table(result, ["a", "b"])


def test_a_registry_configuration_runs_with_the_bench_photo():
    tool = _tool()
    changes = tool._changes("swap")
    assert changes["avatar"]["mode"] == "swap" and Path(changes["avatar"]["photo"]).is_file()
    assert tool._changes('{"key_light": {"strength": 70}}') == {"key_light": {"strength": 70}}
    result = tool.compare([str(ROOT), str(ROOT)], "swap", (640, 360), 4)
    assert result["diff_max"] == 0
    for stages in result["stages"]:
        assert {"faces", "avatar", "frame"} <= set(stages)


def test_it_times_the_frames_the_bench_times(monkeypatch):
    """The clip in order and looped at its end, as ``livecam bench`` reads it: cycling the first 120
    frames left out the later ones, where low light's auto mode starts to work on the bench clip."""
    import cv2
    import numpy as np
    import pytest

    from livecam import bench

    clip = bench.default_clip()  # the shared data's s18 clip, 200+ frames
    if cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT) < 150:
        pytest.skip("needs a clip of 150 frames or more (the shared data's)")
    tool = _tool()
    seen = []

    def interleave(runs, images, frames, config, size):
        seen.extend(images)
        return {}

    monkeypatch.setattr(tool, "_interleave", interleave)
    monkeypatch.setattr(tool, "_load", lambda tree, changes, first: (None, {}))
    tool.compare([str(ROOT), str(ROOT)], "blur", (64, 36), 140, clip)
    expected = [f for f, _ in bench.frames_from(clip, (64, 36), 150)]
    assert len(seen) == 150
    assert all(np.array_equal(a, b) for a, b in zip(seen, expected))
