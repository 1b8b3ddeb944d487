"""A model run that never returns (a GPU driver or provider that stops answering) costs the live
loop one deadline, not the session: the model is given up with one sentence, the frames keep
coming, and none of them shows more than the user chose."""
import threading
import time

import numpy as np
import onnxruntime as ort
import pytest
from pixels import is_hidden

from livecam import settings as S
from livecam.analysis import run_guard, runtime
from livecam.live_runner import LiveRunner
from livecam.pipeline import Pipeline
from livecam.types import Frame


@pytest.fixture
def short_deadlines(monkeypatch):
    monkeypatch.setattr(run_guard, "HANG_S", 0.3)
    monkeypatch.setattr(run_guard, "FIRST_RUN_S", 0.3)


@pytest.fixture
def hang(monkeypatch):
    """ONNX Runtime's run, blocking for good (until the test ends) while ``hang.on`` is set."""
    release = threading.Event()
    real_run = ort.InferenceSession.run

    class Hang:
        on = False
        models: tuple[str, ...] = ()  # file names that hang; () = every model

    def run(self, *args, **kwargs):
        if Hang.on and (not Hang.models or any(m in self._model_path for m in Hang.models)):
            release.wait()
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "run", run)
    yield Hang
    release.set()


def test_a_guarded_call_returns_results_and_raises_the_callers_errors(short_deadlines):
    guard = run_guard.RunGuard("test", runtime.ModelHung)
    assert guard.call(lambda a, b: a + b, 2, 3) == 5
    with pytest.raises(ValueError, match="bad input"):
        guard.call(lambda: (_ for _ in ()).throw(ValueError("bad input")))
    assert guard.call(np.add, 1, 1) == 2 and guard.hung is None  # an error is not a hang


def test_a_run_that_never_returns_raises_after_the_deadline_and_the_model_is_given_up(short_deadlines):
    guard = run_guard.RunGuard("face landmark", runtime.ModelHung)
    guard.call(lambda: None)
    stuck = threading.Event()
    t0 = time.monotonic()
    with pytest.raises(runtime.ModelHung, match="The face landmark model stopped answering") as info:
        guard.call(stuck.wait)
    assert 0.25 <= time.monotonic() - t0 < 3.0
    assert str(info.value).count(". ") <= 2 and "Restart LiveCam" in str(info.value)
    t0 = time.monotonic()
    with pytest.raises(runtime.ModelHung):
        guard.call(lambda: 1)  # given up: no second wait
    assert time.monotonic() - t0 < 0.1
    stuck.set()


def test_a_hung_session_leaves_the_pool_so_opening_the_model_again_starts_afresh(short_deadlines, hang):
    first = runtime.load_model("selfie_segmentation_landscape")
    x = np.zeros((1, *first.input_shape[1:]), np.float32)
    first.run(x)
    hang.on = True
    with pytest.raises(runtime.ModelHung):
        first.run(x)
    hang.on = False
    again = runtime.load_model("selfie_segmentation_landscape")
    assert again is not first
    assert again.run(x)[0].shape[0] == 1


def test_a_hung_person_mask_hides_the_frames_and_they_keep_coming(astronaut, short_deadlines, hang):
    """Blur on; the mask model stops answering from the 4th frame. Each frame after costs no
    deadline, every one is hidden, and the status says which model and what to do."""
    hang.models = ("selfie_segmentation",)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur", "blur": 80}))
    frames = [np.roll(astronaut, 4 * i, axis=1) for i in range(12)]  # moving: the model runs each frame
    try:
        for i, frame in enumerate(frames):
            hang.on = i >= 3
            t0 = time.monotonic()
            out = pipeline.process(frame)
            took = time.monotonic() - t0
            if i >= 3:
                assert is_hidden(out, frame), f"frame {i} shows the room"
            if i >= 4:
                assert took < 0.25, f"frame {i} waited {took:.2f} s on a model already given up"
        problems = " ".join(pipeline.problems())
        assert "stopped answering" in problems and "selfie_segmentation" in problems
    finally:
        hang.on = False
        pipeline.close()


def test_a_hung_face_model_under_a_face_swap_hides_and_the_live_loop_goes_on(astronaut, short_deadlines, hang):
    """The live loop end to end: the face models hang mid-stream; frames still reach the output at
    once after the deadline, none shows the wearer's own face."""
    from conftest import FIXTURES

    hang.models = ("face_landmark", "face_detection")
    pipeline = Pipeline(S.update(S.Settings(), avatar={"mode": "swap", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")},
                                 background={"mode": "off"}))
    pipeline.wait_for_builds()

    class Source:
        i = 0

        def latest(self, after=-1, timeout=0.5):
            self.i += 1
            hang.on = self.i > 5
            return Frame(np.roll(astronaut, 2 * (self.i % 5), axis=0), self.i, time.monotonic())

    class Sender:
        def __init__(self):
            self.frames: list[np.ndarray] = []

        def submit(self, image, t):
            self.frames.append(image)

    sender = Sender()
    runner = LiveRunner(Source(), pipeline, sender, frames=20, pipelining="off").start()
    try:
        assert runner.wait(20), "the live loop stopped at the hung model"
        assert runner.error is None and len(sender.frames) == 20
        assert all(is_hidden(f, astronaut) for f in sender.frames[6:])
        assert any("stopped answering" in p for p in pipeline.problems())
    finally:
        hang.on = False
        runner.stop()
        pipeline.close()


def test_within_patience_a_slow_run_is_waited_for_and_a_live_one_is_not(short_deadlines):
    slow = lambda: time.sleep(0.6) or "done"  # noqa: E731 - twice the live deadline
    guard = run_guard.RunGuard("matting", runtime.ModelHung)
    guard.call(lambda: None)
    with run_guard.patience(5.0):
        assert guard.call(slow) == "done" and guard.hung is None
    with pytest.raises(runtime.ModelHung):
        guard.call(slow)  # outside the block the live deadline holds again


def test_a_render_waits_for_a_model_slower_than_the_live_deadline(short_deadlines, monkeypatch, tmp_path):
    """An offline render of a huge frame runs a model for seconds (8K matting: 3-5 s here); that is
    slow, not hung: every frame is rendered with its background, none hidden, exit status 0."""
    from clips import moving_dot_clip

    from livecam import cli, recording
    from livecam.capture import VideoReader

    if recording.find_ffmpeg() is None:
        pytest.skip("ffmpeg is not installed")
    real_run = ort.InferenceSession.run

    def slow_run(self, *args, **kwargs):
        time.sleep(0.45)  # 1.5x the (shortened) live deadline, every run
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "run", slow_run)
    src, dst = moving_dot_clip(tmp_path / "in.mp4", frames=3), tmp_path / "out.mp4"
    assert cli.main(["render", str(src), str(dst), "--background", "color", "--color", "#00ff00", "--quiet"]) == 0
    with VideoReader(str(dst)) as reader:
        frames = list(reader)
    assert len(frames) == 3
    # no person in these frames: the colour background fills them (a hidden frame is a blur of the input)
    assert all(abs(int(f[..., 1].mean()) - 255) < 40 and f[..., 2].mean() < 60 for f in frames)


@pytest.mark.parametrize("hung", ["upload", "download"])
def test_a_device_copy_that_never_returns_is_a_hang_too(short_deadlines, monkeypatch, tmp_path, hung):
    """On a GPU a recurrent model's inputs go up and its outputs come down through io_binding; a
    stuck driver hangs those copies as surely as the run. They happen inside the guarded call."""
    from test_runtime import recurrent_model_bytes

    path = tmp_path / "recurrent.onnx"
    path.write_bytes(recurrent_model_bytes())
    session = runtime.ModelSession(name="recurrent", spec={}, provider="CPUExecutionProvider", threads=1,
                                   session=ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))
    runner = runtime.RecurrentRunner(session, state={"r1i": "r1o", "r2i": "r2o"}, io_binding=True)
    src = np.ones((1, 3), np.float32)
    runner.step({"src": src})
    release = threading.Event()
    if hung == "upload":
        real = ort.IOBinding.bind_cpu_input
        monkeypatch.setattr(ort.IOBinding, "bind_cpu_input", lambda *a: (release.wait(), real(*a))[1])
    else:
        real = ort.OrtValue.numpy
        monkeypatch.setattr(ort.OrtValue, "numpy", lambda self: (release.wait(), real(self))[1])
    t0 = time.monotonic()
    try:
        with pytest.raises(runtime.ModelHung, match="The recurrent model stopped answering"):
            runner.step({"src": src})
        assert time.monotonic() - t0 < 3.0
    finally:
        release.set()
