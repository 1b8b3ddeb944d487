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
