"""The rvm path: recurrent state carried and reset, input size per use, the GPU code path (IO binding
through RecurrentRunner) on the CPU, `auto`, and the one-sentence fallback to landscape.

RVM itself is GPL-3.0 and not in the repository: a tiny ONNX graph with RVM's inputs and outputs
stands in (written as protobuf by hand, like tests/test_runtime.py, so no `onnx` package is needed):
    r1o = r1i + 1 (a frame counter), r2o..r4o = r2i..r4i,
    pha = src * r1o * 0.1 * (ratio / ratio), fgr = src.
A real fetched RVM is used too where one is there.
"""
import dataclasses
import hashlib
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import onnx_bytes as X

from livecam import model_fetch
from livecam.analysis import Analyzer
from livecam.analysis import matting as M
from livecam.analysis import person_mask as PM
from livecam.settings import Settings, update
from livecam.types import Analysis

FIXTURES = Path(__file__).parent / "fixtures"


def fake_rvm_bytes() -> bytes:
    return X.model(
        "fake_rvm",
        [X.node("Add", ["r1i", "one"], "r1o"), X.node("Identity", ["r2i"], "r2o"),
         X.node("Identity", ["r3i"], "r3o"), X.node("Identity", ["r4i"], "r4o"),
         X.node("Div", ["downsample_ratio", "downsample_ratio"], "unit"), X.node("Mul", ["r1o", "tenth"], "step"),
         X.node("Mul", ["step", "unit"], "gain"), X.node("Mul", ["src", "gain"], "pha"),
         X.node("Identity", ["src"], "fgr")],
        {"one": 1.0, "tenth": 0.1},
        [X.tensor_info("src", [1, 3, "h", "w"]), *(X.tensor_info(f"r{i}i", ["b", "c", "y", "x"]) for i in range(1, 5)),
         X.tensor_info("downsample_ratio", [1])],
        [X.tensor_info(name, ["n", "c", "h", "w"]) for name in ("fgr", "pha", "r1o", "r2o", "r3o", "r4o")],
    )


RED = (0, 0, 255)  # BGR; rvm reads RGB, so src channel 0 is 1.0 and pha = 0.1 x frame count


@pytest.fixture
def fake_rvm(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "data"))
    path = model_fetch.model_path()
    path.parent.mkdir(parents=True)
    data = fake_rvm_bytes()
    path.write_bytes(data)
    monkeypatch.setitem(M.SPEC, "sha256", hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(M, "STATE_BOUND", None)  # its r1 is a frame counter, not a GRU's state
    return path


def _settings(model="rvm", provider="cpu", motion_gate=True, **segmentation) -> Settings:
    return update(Settings(), segmentation={"model": model, **segmentation},
                  runtime={"threads": 1, "provider": provider, "motion_gate": motion_gate})


@pytest.fixture
def every_frame(monkeypatch):
    """The live CPU profile with rvm on every frame, for what each single run of it must do."""
    monkeypatch.setattr(M, "CPU_LIVE", dataclasses.replace(M.CPU_LIVE, every=1))


def _frame(colour=RED, size=(1280, 720)) -> np.ndarray:
    return np.full((size[1], size[0], 3), colour, np.uint8)


def _alpha(mask) -> float:
    """The rvm alpha a mask level came from (the stage draws the outline at RVM_LEVEL)."""
    return float(np.median(mask)) / 255 * 2 * PM.RVM_LEVEL


def _level(stage, image) -> float:
    result = Analysis()
    stage.process(image, result)
    return _alpha(result.mask)


def test_recurrent_state_is_carried_and_reset_on_size_change_scene_cut_and_request(fake_rvm, every_frame):
    stage = PM.PersonMask(_settings())
    assert stage.model == "rvm" and stage.notice == ""
    assert [round(_level(stage, _frame()), 2) for _ in range(3)] == [0.1, 0.2, 0.3]
    assert round(_level(stage, _frame(size=(640, 360))), 2) == 0.1  # new size: new state
    assert round(_level(stage, _frame(size=(640, 360))), 2) == 0.2
    assert round(_level(stage, _frame((255, 255, 255), (640, 360))), 2) == 0.1  # scene cut (red → white)
    stage.reset()  # a new source
    assert round(_level(stage, _frame((255, 255, 255), (640, 360))), 2) == 0.1


def test_the_outline_is_drawn_at_rvm_level_and_raw_keeps_the_alpha(fake_rvm, every_frame):
    stage = PM.PersonMask(_settings())
    levels = []
    for _ in range(8):  # the fake's alpha rises by 0.1 a frame
        result = Analysis()
        stage.process(_frame(), result)
        levels.append((round(float(np.median(result.raw_mask)), 2), float(np.median(result.mask)) / 255))
    for alpha, shown in levels:
        assert abs(shown - min(1.0, alpha / (2 * PM.RVM_LEVEL))) < 0.01, levels
    assert [shown for alpha, shown in levels if alpha >= 2 * PM.RVM_LEVEL] and \
        all(shown == 1.0 for alpha, shown in levels if alpha >= 2 * PM.RVM_LEVEL)


def test_the_analyzer_fills_mask_foreground_and_small_from_rvm(fake_rvm, every_frame):
    analyzer = Analyzer(update(_settings(), background={"mode": "color"}))
    image = _frame()
    image[:, 640:] = (40, 90, 200)  # two colours, both with red for the fake alpha
    result = analyzer.analyze(image, {"mask", "foreground"})
    assert analyzer.segmentation_model == "rvm" and analyzer.broken == {}
    assert result.mask.shape == (720, 1280) and result.foreground.shape == image.shape
    assert result.raw_mask.shape == (360, 640)  # live on the CPU: the input is half the frame
    assert result.small.shape[1] == PM.SMALL_WIDTH and result.small_mask.shape == result.small.shape[:2]
    # The fake's foreground is its (half-size) input: rvm's colour on the edge pixels equals the
    # frame's, except where the half-size round trip blurs the step between the two colours.
    away = np.r_[0:636, 644:1280]
    fg = result.foreground  # a picture (wide band) or the edge pixels alone
    picture = fg if isinstance(fg, np.ndarray) else fg.image(image)
    assert np.abs(picture[:, away].astype(int) - image[:, away]).max() <= 1
    assert set(analyzer.providers()) == {"rvm"}
    analyzer.reset()
    assert round(_alpha(analyzer.analyze(image, {"mask"}).mask[:, :600]), 2) == 0.1


@pytest.mark.parametrize("io_binding", [False, True])
def test_gpu_code_path_with_io_binding_gives_the_same_frames(fake_rvm, every_frame, io_binding):
    """On a GPU the state stays on the device through IO binding; the same code runs here on the CPU."""
    net = M.Matting("cpu", 1, io_binding=io_binding)
    assert net.runner.io_binding is io_binding
    alphas = [float(net(_frame())[0].mean()) for _ in range(3)]
    assert np.allclose(alphas, [0.1, 0.2, 0.3], atol=1e-5)
    if io_binding:
        from onnxruntime import OrtValue

        assert all(isinstance(v, OrtValue) for v in net.runner._state.values())
    alpha, fgr = net(_frame((255, 0, 0)))
    assert fgr.shape == (360, 640, 3) and np.array_equal(fgr[0, 0], [255, 0, 0])  # BGR out, as given


def _count(stage, image, **settings) -> float:
    """The fake's frame counter as the stage's raw alpha shows it (rvm's own output or carried)."""
    result = Analysis()
    stage.process(image, result)
    return round(float(np.median(result.raw_mask)), 2)


def test_live_cpu_rvm_runs_on_every_third_frame_and_carries_its_matte_between(fake_rvm):
    stage = PM.PersonMask(_settings(motion_gate=False))
    assert stage._backend.profile is M.CPU_LIVE and M.CPU_LIVE.every == 3
    # The fake's alpha is 0.1 x the frames it has seen: it sees frames 1, 4 and 7 only.
    assert [_count(stage, _frame()) for _ in range(7)] == [0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.3]
    stage.reset()  # a new source: rvm runs on its first frame
    assert _count(stage, _frame()) == 0.1


def test_live_cpu_rvm_beside_the_loop_takes_its_result_two_frames_later(fake_rvm):
    stage = PM.PersonMask(_settings(motion_gate=False), rvm_profile=M.CPU_LIVE_BESIDE)
    profile = stage._backend.profile
    assert (profile.every, profile.lag) == (3, 2)
    # The fake's alpha is 0.1 x the frames it has seen. It sees the first frame at once, then frames
    # 4 and 7 on the worker thread, whose results are taken two frames later (frames 6 and 9).
    assert [_count(stage, _frame()) for _ in range(9)] == [0.1] * 5 + [0.2] * 3 + [0.3]
    assert any(t.name.startswith("livecam-rvm") for t in threading.enumerate())
    for _ in range(2):
        _count(stage, _frame())  # frame 10 starts a run on the worker ...
    stage.reset()  # ... and a new source forgets it: rvm starts afresh on the next frame
    assert [_count(stage, _frame()) for _ in range(3)] == [0.1] * 3


def test_on_a_still_picture_rvm_rests_until_max_hold(fake_rvm):
    stage = PM.PersonMask(_settings(motion_gate=True), rvm_profile=M.CPU_LIVE_BESIDE)
    follow = stage._backend.follow
    counts = [_count(stage, _frame()) for _ in range(follow.max_hold + follow.lag + 1)]
    # Started again on frame max_hold + 1 only, its result taken lag frames later; the recurrent
    # state is kept as it was meanwhile.
    assert counts == [0.1] * (follow.max_hold + follow.lag) + [0.2]
    assert stage.still is True  # the matte was reused unmoved: the faces may be too


@pytest.mark.parametrize("smoothing", [0.0, 0.6])
def test_on_still_edges_rvms_fresh_matte_settles_unless_smoothing_is_off(fake_rvm, smoothing):
    stage = PM.PersonMask(_settings(motion_gate=False, temporal_smoothing=smoothing), rvm_profile=M.CPU_LIVE_BESIDE)
    shown = []
    for _ in range(6):  # rvm sees frames 1 and 4 (taken on frame 6); the picture never changes
        result = Analysis()
        stage.process(_frame(), result)
        shown.append(round(_alpha(result.mask), 2))
    assert round(float(np.median(result.raw_mask)), 2) == 0.2  # rvm's own alpha moved on
    assert shown == ([0.1] * 6 if smoothing else [0.1] * 5 + [0.2])


def test_between_rvm_frames_its_matte_moves_with_the_picture(fake_rvm):
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (720, 1400, 3), dtype=np.uint8), (0, 0), 4)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    stage = PM.PersonMask(_settings(motion_gate=False))
    first = Analysis()
    stage.process(np.ascontiguousarray(texture[:, 60:1340]), first)  # rvm runs: alpha = 0.1 x red
    moved = Analysis()
    stage.process(np.ascontiguousarray(texture[:, 40:1320]), moved)  # the picture moves 20 px right
    key, carried = first.raw_mask, moved.raw_mask  # 640 x 360: the move is 10 px there
    inner = (slice(40, -40), slice(40, -40))
    shifted = np.abs(carried[inner] - np.roll(key, 10, axis=1)[inner]).mean()
    unmoved = np.abs(carried[inner] - key[inner]).mean()
    assert shifted < 0.15 * unmoved, (shifted, unmoved)


def test_rvms_threads_sleep_between_steps_instead_of_spinning(fake_rvm):
    net = M.Matting("cpu", 2, gpu_possible=False)
    assert net.session.threads == 2
    assert net.session.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_input_size_per_use():
    inner = M.CPU_LIVE.inner
    assert M.plan(1280, 720, M.CPU_LIVE) == M.Plan(640, 360, inner / 640)  # live CPU: small
    assert M.plan(1280, 720, M.GPU_LIVE) == M.Plan(1280, 720, 0.5)  # GPU: full frame
    assert M.plan(1920, 1080, M.OFFLINE) == M.Plan(1920, 1080, 640 / 1920)  # render
    assert M.plan(160, 90, M.CPU_LIVE) == M.Plan(160, 90, 1.0)  # never upscaled


def test_the_edge_control_grows_and_shrinks_rvms_matte(fake_rvm):
    image = _frame()
    image[:, :400] = 0  # no red: alpha 0 on the left
    areas = []
    for edge in (-1.0, 0.0, 1.0):
        result = Analysis()
        PM.PersonMask(_settings(edge=edge)).process(image, result)
        areas.append(int((result.mask > 0).sum()))
    assert areas[0] < areas[1] < areas[2]


def test_missing_rvm_is_one_sentence_with_the_fetch_command_and_landscape_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "empty"))
    analyzer = Analyzer(_settings())
    result = analyzer.analyze(_frame((90, 120, 160)), {"mask"})
    assert result.mask is not None and analyzer.segmentation_model == "landscape"
    notice = analyzer.broken["rvm"]
    assert "livecam models fetch rvm" in notice and "landscape" in notice and notice.count(". ") == 0
    assert "mask" not in analyzer.broken  # the person mask itself still runs


@pytest.mark.parametrize("content", [b"", b"truncated onnx", fake_rvm_bytes()[:-10]])
def test_a_damaged_or_other_version_file_is_one_sentence_and_landscape_runs(tmp_path, monkeypatch, content):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "data"))
    path = model_fetch.model_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    stage = PM.PersonMask(_settings())
    assert stage.model == "landscape"
    assert "does not match" in stage.notice and "livecam models fetch rvm" in stage.notice


def test_auto_on_the_cpu_never_touches_rvm(fake_rvm, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("auto opened rvm on the CPU")

    monkeypatch.setattr(M.Matting, "__init__", refuse)
    for provider in ("cpu", "auto"):  # this machine has no GPU provider
        stage = PM.PersonMask(_settings("auto", provider))
        assert stage.model == "landscape" and stage.notice == ""


@pytest.mark.parametrize("really_on_gpu, expected", [(True, "rvm"), (False, "landscape")])
def test_auto_takes_rvm_only_when_a_gpu_really_runs_it(fake_rvm, monkeypatch, really_on_gpu, expected):
    monkeypatch.setattr(PM, "_gpu_possible", lambda provider: True)  # a GPU provider is installed ...
    monkeypatch.setattr(M.Matting, "on_gpu", property(lambda self: really_on_gpu))  # ... and really runs (or fell back)
    assert PM.PersonMask(_settings("auto", "auto")).model == expected


from real_home import REAL_MODELS  # noqa: E402


@pytest.fixture
def real_rvm(monkeypatch):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(REAL_MODELS.parent))
    if not model_fetch.status().startswith("ready"):
        pytest.skip("rvm is not fetched (livecam models fetch rvm)")


def test_real_rvm_finds_the_person_and_settles(real_rvm):
    image = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    image = cv2.resize(image, (640, 640), interpolation=cv2.INTER_AREA)[:360]
    analyzer = Analyzer(_settings(), offline=True)
    masks = [analyzer.analyze(image, {"mask"}).mask for _ in range(4)]
    landscape = Analyzer(_settings("landscape")).analyze(image, {"mask"}).mask
    inter = ((masks[-1] > 127) & (landscape > 127)).sum()
    union = ((masks[-1] > 127) | (landscape > 127)).sum()
    assert inter / union > 0.85
    assert np.abs(masks[-1].astype(int) - masks[-2]).mean() < np.abs(masks[1].astype(int) - masks[0]).mean() + 1
