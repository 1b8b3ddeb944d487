"""rvm live on a CPU: `auto` measures once and remembers (0600, config folder), picks rvm only under
the 25 fps budget and says why; the live profile and `render --like-live` name what ran."""
import json
import os
import stat
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest

from livecam import model_fetch
from livecam.analysis import Analyzer
from livecam.analysis import matting as M
from livecam.analysis import person_mask as PM
from livecam.analysis import rvm_live as L
from livecam.settings import Settings, update

from real_home import REAL_MODELS  # noqa: E402
FIXTURES = Path(__file__).parent / "fixtures"


def _settings(model="auto", provider="cpu", threads=1, **output) -> Settings:
    return update(Settings(), segmentation={"model": model}, runtime={"provider": provider, "threads": threads},
                  output=output or {})


@pytest.fixture
def fetched(monkeypatch):
    """rvm counts as fetched; measure() is replaced by a counter returning ``fetched.fps``."""
    monkeypatch.setattr(model_fetch, "status", lambda item=model_fetch.RVM: "ready: rvm")

    class Probe:
        fps = 28.0  # frames a second out of the paced loop
        others: ClassVar[dict] = {}  # profile -> its fps, where it differs
        calls = 0
        profiles: ClassVar[list] = []

    def measure(threads, profile=None):
        Probe.calls += 1
        Probe.profiles.append(profile)
        return L.Measured(Probe.others.get(profile, Probe.fps), 20.0, 45.0, profile.name)

    monkeypatch.setattr(L, "measure", measure)
    return Probe


def test_at_25_fps_auto_takes_rvm_and_says_why(fetched):
    fetched.fps = 26.0
    choice = L.auto_choice(1)
    assert choice.use_rvm and "26 fps" in choice.reason and M.CPU_LIVE.name in choice.reason
    assert choice.reason.count(". ") == 0 and choice.reason.endswith(".")


def test_under_25_fps_auto_keeps_the_fast_model_and_says_why(fetched):
    fetched.fps = L.TARGET_FPS - 0.5
    choice = L.auto_choice(1)
    assert not choice.use_rvm and "fast model" in choice.reason and f"under {L.TARGET_FPS}" in choice.reason


def test_the_measurement_is_made_once_and_kept_private(fetched):
    first = L.auto_choice(1)
    second = L.auto_choice(1)
    assert fetched.calls == 1 and first == second
    path = L.calibration_path()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    kept = json.loads(path.read_text())
    assert list(kept) == [L.machine_key(1)] and kept[L.machine_key(1)]["fps"] == 28.0
    assert kept[L.machine_key(1)]["p95_ms"] == 45.0 and first.profile is M.CPU_LIVE


def test_another_machine_key_measures_again(fetched, monkeypatch):
    L.auto_choice(1)
    monkeypatch.setattr(L, "_cpu_name", lambda: "another CPU")
    L.auto_choice(1)
    assert fetched.calls == 2 and len(json.loads(L.calibration_path().read_text())) == 2


def test_where_full_precision_is_too_slow_the_int8_profile_is_measured_and_taken(fetched):
    fetched.fps, fetched.others = 21.0, {M.CPU_LIVE_INT8: 27.0}
    choice = L.auto_choice(1)
    assert choice.use_rvm and choice.profile is M.CPU_LIVE_INT8 and M.CPU_LIVE_INT8.name in choice.reason
    assert fetched.profiles == list(M.CPU_PROFILES)
    assert L.auto_choice(1) == choice and fetched.calls == 3  # all remembered
    fetched.others = {}  # (a new CPU) none fits: the fast model, and why
    L.calibration_path().unlink()
    choice = L.auto_choice(1)
    assert not choice.use_rvm and f"under {L.TARGET_FPS}" in choice.reason


def test_the_stage_runs_the_profile_auto_measured(fetched, monkeypatch):
    seen = []

    class Opened:
        def __init__(self, *args, cpu_profile=None, **kwargs):
            seen.append(cpu_profile)
            self.on_gpu, self.profile = False, cpu_profile

        def reset(self):
            pass

    from livecam.analysis import matting

    monkeypatch.setattr(matting, "Matting", Opened)
    fetched.fps, fetched.others = 21.0, {M.CPU_LIVE_BESIDE: 27.0}
    stage = PM.PersonMask(_settings("auto"))
    assert stage.model == "rvm" and seen == [M.CPU_LIVE_BESIDE] and M.CPU_LIVE_BESIDE.name in stage.reason


def test_a_broken_calibration_file_is_measured_again(fetched):
    L.calibration_path().parent.mkdir(parents=True, exist_ok=True)
    L.calibration_path().write_text("{not json")
    assert L.auto_choice(1).use_rvm and fetched.calls == 1


def test_doctor_reports_without_measuring_or_opening_rvm(fetched, monkeypatch):
    # doctor (and the GUI's check thread) may run while the live loop opens rvm: it only reads.
    from livecam import settings as S
    from livecam.analysis import matting

    monkeypatch.setattr(matting, "prepare_live_copy", lambda *a, **k: pytest.fail("doctor made the int8 copy"))
    S.save(update(Settings(), segmentation={"model": "auto"}, runtime={"provider": "cpu", "threads": 1}))
    (level, line), = L.doctor_lines()
    assert fetched.calls == 0 and not L.calibration_path().exists()
    assert level == "info" and "first live start" in line
    L.auto_choice(1)  # the live loop measured it
    (level, line), = L.doctor_lines()
    assert fetched.calls == 1 and "28 fps" in line and line.startswith("Person mask: rvm")


def test_without_rvm_auto_says_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "none"))
    choice = L.auto_choice(1)
    assert not choice.use_rvm and "livecam models fetch rvm" in choice.reason


def test_the_person_mask_stage_gives_its_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "none"))
    analyzer = Analyzer(_settings("auto"))
    analyzer.analyze(np.full((72, 128, 3), 90, np.uint8), {"mask"})
    assert analyzer.segmentation_model == "landscape"
    assert "fast model" in analyzer.segmentation_reason and "fetch" in analyzer.segmentation_reason
    assert analyzer.profile == "live (landscape mask)"
    chosen = Analyzer(_settings("general"))
    chosen.analyze(np.full((72, 128, 3), 90, np.uint8), {"mask"})
    assert chosen.segmentation_reason == "Person mask: the general model, because it was chosen."


def test_auto_in_a_plain_render_never_measures(fetched):
    stage = PM.PersonMask(_settings("auto"), offline=True)
    assert stage.model == "landscape" and fetched.calls == 0 and "--like-live" in stage.reason


def test_live_profile_sizes_and_threads():
    assert M.plan(1280, 720, M.CPU_LIVE) == M.Plan(640, 360, M.CPU_LIVE.inner / 640)
    assert M.plan(1920, 1080, M.OFFLINE) == M.Plan(1920, 1080, 640 / 1920)
    assert M.live_threads(1, M.CPU_LIVE) == min(M.CPU_LIVE.min_threads, os.cpu_count())
    assert M.live_threads(4, M.CPU_LIVE) == 4 and M.live_threads(0, M.CPU_LIVE) == 0


def test_like_live_is_a_render_flag_that_reaches_the_settings():
    from livecam.cli import build_parser, settings_from_args

    args = build_parser().parse_args(["render", "in.mp4", "out.mp4", "--like-live"])
    assert settings_from_args(args).output.like_live is True
    args = build_parser().parse_args(["render", "in.mp4", "out.mp4"])
    assert settings_from_args(args).output.like_live is False


# ---------------------------------------------------------------- with the real fetched rvm


def _real_rvm() -> bool:
    return (REAL_MODELS / model_fetch.RVM.file).is_file()


@pytest.fixture
def real_rvm(monkeypatch):
    if not _real_rvm():
        pytest.skip("rvm is not fetched (livecam models fetch rvm)")
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(REAL_MODELS.parent))
    if not model_fetch.status().startswith("ready"):
        pytest.skip("the fetched rvm is damaged or another version")


def test_real_rvm_live_profile_finds_the_person(real_rvm):
    image = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    frame = cv2.resize(image, (1280, 1280), interpolation=cv2.INTER_AREA)[200:920]
    analyzer = Analyzer(_settings("rvm"))
    for _ in range(4):
        mask = analyzer.analyze(frame, {"mask"}).mask
    offline = Analyzer(_settings("rvm"), offline=True)
    for _ in range(4):
        full = offline.analyze(frame, {"mask"}).mask
    assert analyzer.profile == f"live ({M.CPU_LIVE.name})" and offline.profile == f"offline ({M.OFFLINE.name})"
    inter, union = ((mask > 127) & (full > 127)).sum(), ((mask > 127) | (full > 127)).sum()
    assert inter / union > 0.95  # the live profile draws the outline the full-size render draws


# ---------------------------------------------------------------- the int8 copy (made on the user's machine)


@pytest.fixture
def fake_fp32(monkeypatch):
    """A tiny stand-in with rvm's inputs and outputs in the (isolated) data folder, 0600, as fetched."""
    import hashlib

    from test_matting import fake_rvm_bytes

    path = model_fetch.model_path()
    path.parent.mkdir(parents=True)
    data = fake_rvm_bytes()
    path.write_bytes(data)
    path.chmod(0o600)
    monkeypatch.setitem(M.SPEC, "sha256", hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(M, "STATE_BOUND", None)  # its r1 is a frame counter, not a GRU's state
    return path


def test_the_int8_copy_is_made_once_next_to_the_fetched_file_and_as_private(fake_fp32):
    from livecam.analysis import rvm_quant as RQ
    from livecam.analysis.runtime import sha256_of

    said: list[str] = []
    record = M.prepare_live_copy(said.append)
    copy, kept = RQ.int8_path(fake_fp32), RQ.record_path(fake_fp32)
    assert copy.parent == fake_fp32.parent and copy.name == "rvm_mobilenetv3_int8.onnx"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600 and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert record["sha256"] == sha256_of(copy) and record["source_sha256"] == M.SPEC["sha256"]
    assert record["ratio"] == M.plan(1280, 720, M.CPU_LIVE).ratio and len(said) == 2
    assert not [p for p in fake_fp32.parent.iterdir() if p.name.startswith(".")]  # no work folder left
    made = copy.stat().st_mtime_ns
    assert M.prepare_live_copy(said.append) == record and copy.stat().st_mtime_ns == made and len(said) == 2


def test_live_rvm_on_a_cpu_runs_the_checked_int8_copy(fake_fp32):
    from livecam.analysis import rvm_quant as RQ

    net = M.Matting("cpu", 1, gpu_possible=False, cpu_profile=M.CPU_LIVE_INT8)
    assert net.profile is M.CPU_LIVE_INT8 and net.notice == ""
    assert net.session.session._model_path == str(RQ.int8_path(fake_fp32))
    RQ.int8_path(fake_fp32).write_bytes(b"changed on disk")  # a damaged copy is refused at load
    with pytest.raises(Exception, match="does not match"):
        M.load_model("rvm", "cpu", 2, spec={**M.SPEC, "sha256": json.loads(RQ.record_path(fake_fp32).read_text())["sha256"]},
                     path=RQ.int8_path(fake_fp32))


def test_without_the_onnx_package_live_rvm_runs_in_full_precision_and_says_why(fake_fp32, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    net = M.Matting("cpu", 1, gpu_possible=False, cpu_profile=M.CPU_LIVE_INT8)
    assert net.profile is M.CPU_LIVE_BESIDE and "pip install onnx" in net.notice
    alpha, _ = net(np.full((72, 128, 3), (0, 0, 255), np.uint8))
    assert alpha.shape == (72, 128)


def test_a_damaged_fetched_file_makes_no_copy(fake_fp32):
    from livecam.analysis import rvm_quant as RQ
    from livecam.analysis.runtime import ModelError

    fake_fp32.write_bytes(b"truncated")
    with pytest.raises(ModelError, match="livecam models fetch rvm"):
        M.prepare_live_copy(print)
    assert not RQ.int8_path(fake_fp32).exists() and not RQ.record_path(fake_fp32).exists()


def test_a_too_slow_verdict_is_measured_again_after_a_day(fetched, monkeypatch):
    fetched.fps = 20.0
    assert not L.auto_choice(1).use_rvm
    assert fetched.calls == len(M.CPU_PROFILES)  # each profile measured once
    assert not L.auto_choice(1).use_rvm and fetched.calls == len(M.CPU_PROFILES)  # within the day: remembered
    now = L.time.time()
    monkeypatch.setattr(L.time, "time", lambda: now + L.RECHECK_SLOW_S + 1)
    fetched.fps = 28.0  # the machine was only busy
    assert L.auto_choice(1).profile is M.CPU_LIVE and fetched.calls == len(M.CPU_PROFILES) + 1


def test_the_gui_live_line_says_which_model_makes_the_mask_and_why():
    pytest.importorskip("PySide6")
    from livecam.gui.bridge import LiveStats

    reason = "Person mask: rvm (rvm-cpu-live-1in3), because it kept 27 fps at 720p with the effects on this CPU."
    line = LiveStats(fps=25.0, fps_out=30.0, providers={"rvm": "CPUExecutionProvider"}, mask=reason).describe()
    assert line.endswith(reason) and "25.0 fps" in line


def test_real_calibration_paces_frames_like_a_camera(real_rvm):
    measured = L.measure(2, M.CPU_LIVE)
    assert measured.profile == M.CPU_LIVE.name
    # Never more frames out than the camera offers; one frame in three runs the network, so the
    # slowest frames cost well over the average.
    assert 0 < measured.fps <= L.CAMERA_FPS
    assert 0 < measured.mean_ms < measured.p95_ms and measured.p95_ms > 1.5 * measured.mean_ms


# ---------------------------------------------------------------- the live watch


def _watched(monkeypatch, budget: float, frames: int = 4) -> Analyzer:
    """auto took rvm (a tiny stand-in network) on this CPU; the watch looks every ``frames`` frames."""
    monkeypatch.setattr(PM, "WATCH_FRAMES", frames)
    monkeypatch.setattr(L, "budget_ms", lambda: budget)
    analyzer = Analyzer(_settings("auto"))
    frame = cv2.resize(cv2.imread(str(FIXTURES / "sk_astronaut.png")), (320, 180))
    for _ in range(2 * frames + 1):  # the first window is warm-up, the second is judged
        result = analyzer.analyze(frame, {"mask"})
        assert result.mask is not None and result.mask.shape == (180, 320)  # a mask on every frame
    return analyzer


def test_auto_rvm_that_turns_slow_live_hands_over_to_the_fast_model_and_says_so(fetched, fake_fp32, monkeypatch):
    analyzer = _watched(monkeypatch, budget=1e-6)  # every real frame is over this budget
    assert analyzer.segmentation_model == "landscape"
    sentence = analyzer.broken["rvm"]
    assert sentence == analyzer.segmentation_reason and "fast model for now" in sentence
    assert "too slow for 25 fps" in sentence and sentence.endswith(".") and "\n" not in sentence


def test_auto_rvm_within_its_budget_keeps_running(fetched, fake_fp32, monkeypatch):
    analyzer = _watched(monkeypatch, budget=1e6)
    assert analyzer.segmentation_model == "rvm" and "rvm" not in analyzer.broken


def test_a_chosen_rvm_is_never_swapped_by_the_watch(fake_fp32, monkeypatch):
    monkeypatch.setattr(model_fetch, "status", lambda item=model_fetch.RVM: "ready: rvm")
    monkeypatch.setattr(L, "budget_ms", lambda: 1e-6)
    monkeypatch.setattr(PM, "WATCH_FRAMES", 2)
    analyzer = Analyzer(_settings("rvm"))
    frame = np.full((180, 320, 3), 90, np.uint8)
    for _ in range(8):
        analyzer.analyze(frame, {"mask"})
    assert analyzer.segmentation_model == "rvm"


def test_auto_rvm_beside_the_loop_hands_over_when_its_runs_fall_behind(fetched, fake_fp32, monkeypatch):
    # The loop itself stays cheap on the worker-thread profile; what falls behind is rvm's runs.
    fetched.fps, fetched.others = 21.0, {M.CPU_LIVE_BESIDE: 27.0}
    real_infer = M.Matting.infer

    def slow_infer(self, tensor):  # each run is booked as taking 1 s: far behind a 3-frame cadence
        out = real_infer(self, tensor)
        self.run_ms[-1] = 1000.0
        return out

    monkeypatch.setattr(M.Matting, "infer", slow_infer)
    analyzer = _watched(monkeypatch, budget=1e6, frames=12)
    frame = np.full((180, 320, 3), 90, np.uint8)
    for _ in range(48):  # a busy machine may not have finished a worker run by the first look
        if analyzer.segmentation_model == "landscape":
            break
        analyzer.analyze(frame + np.uint8(_ % 2), {"mask"})
    assert analyzer.segmentation_model == "landscape" and "a run every 3 frames" in analyzer.broken["rvm"]


def test_auto_rvm_comes_back_when_its_trial_runs_say_the_cpu_has_room_again(fetched, fake_fp32, monkeypatch):
    # A busy machine: each rvm run takes 30 ms more (about twice a 15 ms budget); then the other
    # program ends and its runs, tried beside the fast model, take a few ms: after RETRY_WINDOWS
    # trials in a row that fit, rvm runs again.
    import time

    from livecam.analysis.runtime import RecurrentRunner

    busy = {"rvm": 0.03}
    real_step = RecurrentRunner.step

    def step(self, feeds, outputs=("fgr", "pha")):  # the network's run, as timed by the watch
        time.sleep(busy["rvm"])
        return real_step(self, feeds, outputs)

    monkeypatch.setattr(RecurrentRunner, "step", step)
    monkeypatch.setattr(PM, "WATCH_FRAMES", 4)
    monkeypatch.setattr(L, "budget_ms", lambda: 15.0)
    analyzer = Analyzer(_settings("auto"))
    person = cv2.resize(cv2.imread(str(FIXTURES / "sk_astronaut.png")), (320, 180))
    frames = (person, 255 - person)  # every frame a new picture: each model runs on each frame

    def windows_until(model: str, most: int) -> int:
        for n in range(1, most + 1):
            for i in range(4):
                result = analyzer.analyze(frames[i % 2], {"mask"})
                assert result.mask is not None and result.mask.shape == (180, 320)  # a mask on every frame
                time.sleep(0.01)  # the rest of the live frame: a trial run has time to end
            if analyzer.segmentation_model == model:
                return n
        raise AssertionError(f"still {analyzer.segmentation_model} after {most} windows")

    assert windows_until("landscape", 2) == 2  # rvm: a warm-up window, then one too slow
    assert "tries rvm again when the CPU has room" in analyzer.broken["rvm"]
    with pytest.raises(AssertionError, match="still landscape"):
        windows_until("rvm", 6)  # busy: no trial fits
    busy["rvm"] = 0.0  # the other program ends
    assert windows_until("rvm", 12) >= PM.RETRY_WINDOWS and "rvm" not in analyzer.broken
    reason = analyzer.segmentation_reason
    assert reason.startswith(f"Person mask: rvm ({M.CPU_LIVE.name}) again") and reason.endswith("25 fps allows.")
    # Busy again at once: handed over in rvm's first window, and its trials are spaced further apart.
    busy["rvm"] = 0.03
    assert windows_until("landscape", 1) == 1 and "rvm" in analyzer.broken
    busy["rvm"] = 0.0
    assert windows_until("rvm", 24) >= 2 + PM.RETRY_WINDOWS  # a window without a trial after each that failed
