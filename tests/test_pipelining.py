"""Pipelining in the live loop: frame n+1 is analysed on a second thread while frame n composites,
and what comes out is the same picture, frame for frame, as one frame at a time."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st
from live_doubles import ListSender, ReadyCamera

from livecam import settings as S
from livecam.capture import Frame
from livecam.live_runner import LiveRunner, Prefetch, usable_cores
from livecam.pipeline import Pipeline


def _clip(astronaut, n=12):
    """A person moving sideways a few pixels a frame, so every frame's mask differs."""
    return [np.ascontiguousarray(np.roll(astronaut, 6 * i, axis=1)) for i in range(n)]


def _run(settings, frames, pipelining):
    pipeline = Pipeline(settings)
    sender = ListSender()
    runner = LiveRunner(ReadyCamera(frames), pipeline, sender, frames=len(frames), pipelining=pipelining)
    runner.pipelining = pipelining  # the test machine may have one core; the logic is what is tested
    runner.start()
    assert runner.wait(120) and runner.error is None
    pipeline.close()
    return runner, sender


@pytest.mark.parametrize("changes", [{"background": {"mode": "blur", "blur": 60}},
                                     {"background": {"mode": "color", "color": "#20a040"}, "touch_up": {"strength": 50}}])
def test_pipelined_output_is_the_same_picture_as_one_at_a_time(astronaut, changes):
    settings = S.update(S.Settings(), segmentation={"model": "landscape"},
                        runtime={"provider": "cpu", "threads": 1}, **changes)
    frames = _clip(astronaut)
    serial, one = _run(settings, frames, False)
    piped, two = _run(settings, frames, True)
    assert serial.overlapped == 0 and piped.overlapped >= len(frames) - 2
    assert len(one.frames) == len(two.frames) == len(frames)
    assert two.times == one.times  # each frame goes out with its own capture time: latency stays honest
    for a, b in zip(one.frames, two.frames):
        assert np.array_equal(a, b)
    # And the room really is replaced (a pipelined frame is not the raw frame).
    assert not np.array_equal(two.frames[-1], frames[-1])


def test_a_picture_changing_effect_before_the_analysis_turns_pipelining_off(astronaut):
    settings = S.update(S.Settings(), segmentation={"model": "landscape"}, runtime={"provider": "cpu", "threads": 1},
                        background={"mode": "blur"}, low_light={"mode": "manual", "exposure": 0.5})
    frames = _clip(astronaut, 6)
    serial, one = _run(settings, frames, False)
    piped, two = _run(settings, frames, True)
    assert piped.overlapped == 0
    for a, b in zip(one.frames, two.frames):
        assert np.array_equal(a, b)


def test_prefetch_analyses_on_its_own_thread_and_in_order(astronaut):
    pipeline = Pipeline(S.update(S.Settings(), segmentation={"model": "landscape"},
                                 runtime={"provider": "cpu", "threads": 1}, background={"mode": "blur"}))
    analyzer = pipeline.analyzer
    seen = []
    real = analyzer.analyze

    def spy(image, needs, t=None):
        seen.append((threading.current_thread().name, t))
        return real(image, needs, t=t)

    analyzer.analyze = spy
    prefetch = Prefetch(pipeline)
    frames = _clip(astronaut, 3)
    for i, image in enumerate(frames):
        assert prefetch.start(Frame(image, i, float(i)))
    for image in frames:
        pipeline.process(image)
    prefetch.close()
    assert pipeline.analyzer is analyzer  # handed back
    assert [t for _, t in seen] == [0.0, 1.0, 2.0]
    assert all(name.startswith("livecam-analysis") for name, _ in seen)
    assert "analysis" in pipeline.last_timings


def test_pipelining_is_a_setting_and_needs_two_cores(monkeypatch):
    assert S.Settings().runtime.pipelining == "auto"  # on only where it shortens the time between frames

    class Pipe:
        settings = S.update(S.Settings(), runtime={"pipelining": "on"})

    source, sender = object(), object()
    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 1)
    assert LiveRunner(source, Pipe(), sender).pipelining is False
    Pipe.settings = S.Settings()
    assert LiveRunner(source, Pipe(), sender).auto is None  # auto: nothing to decide on one core
    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 2)
    assert LiveRunner(source, Pipe(), sender).pipelining is False  # auto starts one at a time
    assert LiveRunner(source, Pipe(), sender).auto is not None
    Pipe.settings = S.update(S.Settings(), runtime={"pipelining": "on"})
    assert LiveRunner(source, Pipe(), sender).pipelining is True
    # A tap that is both source and sender (the GUI's) pairs each input with the next output.
    assert LiveRunner(source, Pipe(), source).pipelining is False
    assert LiveRunner(source, Pipe(), source, pipelining="auto").auto is None
    Pipe.settings = S.update(S.Settings(), runtime={"pipelining": "off"})
    assert LiveRunner(source, Pipe(), sender).pipelining is False
    assert LiveRunner(source, Pipe(), sender).auto is None
    assert usable_cores() >= 1


@pytest.mark.parametrize("saved, now", [(True, "on"), (False, "auto")])
def test_a_saved_on_off_pipelining_setting_is_read_as_on_or_auto(saved, now):
    assert S.from_dict({"runtime": {"pipelining": saved}}).runtime.pipelining == now


def _feed(auto, frames, work_ms, period_ms, interval_ms):
    """``frames`` more frames into ``auto``: each took ``work_ms`` of stages, went out ``period_ms``
    after the one before, and the camera captures every ``interval_ms``."""
    clock = auto.__dict__.setdefault("test_clock", [0, 0.0])  # frames so far, time the last went out
    decisions = []
    for _ in range(frames):
        i = clock[0] = clock[0] + 1
        clock[1] += period_ms / 1e3
        timings = {"inference": work_ms / 2, "background": work_ms / 2, "total": 99.0, "analysis": 99.0}
        decisions.append(auto.observe(i, i * interval_ms / 1e3, timings, clock[1]))
    return decisions


def test_auto_pipelining_goes_on_only_when_a_frame_takes_most_of_the_camera_interval():
    from livecam.live_runner import AUTO_WINDOW, AutoPipelining

    auto = AutoPipelining()
    interval = 1000 / 30
    assert not any(_feed(auto, 3 * AUTO_WINDOW, 6.0, interval, interval))  # 6 ms of 33: nothing to gain
    assert not any(_feed(auto, AUTO_WINDOW, 0.75 * interval, interval, interval))
    assert _feed(auto, AUTO_WINDOW, 0.9 * interval, interval, interval)[-1]  # over 0.8 of it: on
    assert "ms of the camera's" in auto.reason
    assert all(_feed(auto, 2 * AUTO_WINDOW, 0.7 * interval, interval, interval))  # between: stays as it is
    assert not _feed(auto, AUTO_WINDOW, 0.5 * interval, interval, interval)[-1]  # under 0.6: off again


def test_auto_pipelining_goes_off_when_pipelined_frames_come_no_faster():
    """Frames waiting on processing (45 ms a frame for a 33 ms camera): pipelining goes on; when the
    frames then come no faster (the second core is taken), it goes off and waits before a retry."""
    from livecam.live_runner import AUTO_RETRY, AUTO_WINDOW, AutoPipelining

    auto = AutoPipelining()
    interval = 1000 / 30
    assert _feed(auto, AUTO_WINDOW, 45.0, 45.0, interval)[-1]
    assert all(_feed(auto, AUTO_WINDOW, 45.0, 30.0, interval))  # it helps: stays on
    assert not _feed(auto, AUTO_WINDOW, 45.0, 44.0, interval)[-1]
    assert "second core" in auto.reason
    assert not any(_feed(auto, AUTO_RETRY * AUTO_WINDOW, 45.0, 45.0, interval))  # waits
    assert _feed(auto, AUTO_WINDOW, 45.0, 45.0, interval)[-1]  # then tries again


def test_auto_pipelining_in_the_loop_switches_on_and_keeps_the_picture(astronaut, monkeypatch):
    """A camera far faster than processing: auto turns pipelining on mid-stream, and every frame is
    still the picture one at a time makes."""
    from livecam.live_runner import AUTO_WINDOW

    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 2)

    class FastCamera(ReadyCamera):
        def latest(self, after=-1, timeout=0.5):
            i = min(after + 1, len(self.frames) - 1)
            return Frame(self.frames[i], i, i / 1000.0)  # 1000 fps: every frame waits on processing

    settings = S.update(S.Settings(), segmentation={"model": "landscape"}, runtime={"provider": "cpu", "threads": 1},
                        background={"mode": "blur", "blur": 60})
    frames = _clip(astronaut, AUTO_WINDOW + 12)
    _, one = _run(settings, frames, False)
    pipeline, sender = Pipeline(settings), ListSender()
    runner = LiveRunner(FastCamera(frames), pipeline, sender, frames=len(frames))
    assert runner.auto is not None and not runner.pipelining
    runner.start()
    assert runner.wait(120) and runner.error is None
    pipeline.close()
    assert runner.pipelining and runner.overlapped >= 8
    assert not pipeline.pipelined  # the loop ended: nothing runs beside it any more
    for a, b in zip(one.frames, sender.frames):
        assert np.array_equal(a, b)


def test_the_loop_switches_pipelining_on_and_off_between_frames_as_auto_decides(astronaut, monkeypatch):
    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 2)

    class Scripted:
        """On from the 5th frame to the 14th."""

        on, reason, seen = False, "scripted", 0

        def observe(self, index, t, timings, now):
            self.seen += 1
            self.on = 5 <= self.seen < 15
            return self.on

    settings = S.update(S.Settings(), segmentation={"model": "landscape"}, runtime={"provider": "cpu", "threads": 1},
                        background={"mode": "color", "color": "#20a040"})
    frames = _clip(astronaut, 24)
    _, one = _run(settings, frames, False)
    pipeline = Pipeline(settings)
    states = []

    class Watching(ListSender):
        def submit(self, image, t):
            super().submit(image, t)
            states.append(runner.pipelining)

    sender = Watching()
    runner = LiveRunner(ReadyCamera(frames), pipeline, sender, frames=len(frames), pipelining="auto")
    runner.auto = Scripted()
    runner.start()
    assert runner.wait(120) and runner.error is None
    pipeline.close()
    assert states[:5] == [False] * 5 and True in states and states[-1] is False
    assert runner.overlapped >= 5 and pipeline.analyzer.__class__.__name__ == "Analyzer"  # handed back
    assert len(sender.frames) == len(frames)
    for a, b in zip(one.frames, sender.frames):
        assert np.array_equal(a, b)


# ------------------------------------------------------------ faults while pipelining (red team)

FIXTURES = __import__("pathlib").Path(__file__).resolve().parent / "fixtures"


def _swap_settings(**more):
    """The face swap alone: a frame it cannot prove swapped is hidden for the swap's sake only."""
    return S.update(S.Settings(), runtime={"provider": "cpu", "threads": 1}, background={"mode": "off"},
                    avatar={"mode": "swap", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")}, **more)


def test_a_failing_face_model_hides_a_pipelined_frame_while_the_next_one_is_analysed(astronaut, monkeypatch):
    """Before: the pipeline read ``analyzer.missing`` after taking frame n's analysis, but by then
    frame n+1's analysis (on the second thread) had reset it, so with the face model failing on
    every frame, frame n left as the raw frame (the swap had no face to draw on) instead of hidden."""
    import onnxruntime as ort

    pipeline = Pipeline(_swap_settings())
    analyzer = pipeline.analyzer
    real_run, real_analyze = ort.InferenceSession.run, analyzer.analyze
    now = {"t": None}
    entered, release = threading.Event(), threading.Event()

    def analyze(image, needs, t=None):
        now["t"] = t
        return real_analyze(image, needs, t=t)

    def run(self, *args, **kwargs):
        if now["t"] == 6.0:  # frame 6, analysed ahead: held half-way until frame 5 has gone out
            entered.set()
            release.wait(10)
        raise RuntimeError("injected ONNX Runtime fault")

    frames = _clip(astronaut, 7)
    monkeypatch.setattr(analyzer, "analyze", analyze)
    monkeypatch.setattr(ort.InferenceSession, "run", run)
    for i in range(5):  # the analyzer bridges 3 frames with the last faces, then they are missing
        pipeline.process(frames[i], float(i))
    assert "faces" in analyzer.missing and pipeline.concealed >= 1
    prefetch = Prefetch(pipeline)
    try:
        assert prefetch.start(Frame(frames[5], 5, 5.0)) and prefetch.start(Frame(frames[6], 6, 6.0))
        assert entered.wait(10)  # frame 6's analysis has begun (and reset the analyzer's ``missing``)
        concealed = pipeline.concealed
        out = pipeline.process(frames[5], 5.0)
        assert pipeline.concealed == concealed + 1
        assert np.abs(out.astype(np.int16) - frames[5]).mean() > 10  # not the raw frame
        release.set()
        out = pipeline.process(frames[6], 6.0)
        assert pipeline.concealed == concealed + 2
    finally:
        release.set()
        prefetch.close()
        monkeypatch.setattr(ort.InferenceSession, "run", real_run)
        pipeline.close()


def test_an_analysis_that_raises_while_pipelined_counts_as_missing(astronaut, monkeypatch):
    """An analysis raising on the second thread proves nothing: the frame is hidden, the next one
    (analysis back) is the effect's picture again."""
    settings = _swap_settings()
    pipeline = Pipeline(settings)
    analyzer = pipeline.analyzer
    real = analyzer.analyze
    frames = _clip(astronaut, 3)

    def analyze(image, needs, t=None):
        if t == 1.0:
            raise RuntimeError("injected analysis bug")
        return real(image, needs, t=t)

    monkeypatch.setattr(analyzer, "analyze", analyze)
    prefetch = Prefetch(pipeline)
    try:
        for i in range(3):
            assert prefetch.start(Frame(frames[i], i, float(i)))
        outs = [pipeline.process(frames[i], float(i)) for i in range(3)]
    finally:
        prefetch.close()
        pipeline.close()
    assert np.abs(outs[1].astype(np.int16) - frames[1]).mean() > 10  # hidden, not the raw frame
    assert pipeline.gate.reasons["the analysis a chosen effect needs is missing"] >= 1
    for out, image in ((outs[0], frames[0]), (outs[2], frames[2])):
        assert not np.array_equal(out, image)  # swapped (the astronaut's face is there)


STEPS = ["ok", "effect", "analysis", "stall", "placeholder", "settings", "junk", "gap"]


@pytest.fixture(scope="module")
def faulty_clip(astronaut):
    import cv2

    small = cv2.resize(astronaut, (192, 192))
    return [np.ascontiguousarray(np.roll(small, 3 * i, axis=1)) for i in range(20)]


def _loop_under_faults(frames, script, monkeypatch):
    """Runs ``script`` ([(auto wants pipelining after the frame, what happens to the frame)]) through
    the live loop; returns [(kind, raw picture, picture sent, frames hidden by the gate for it)]."""
    import time

    from livecam.effects import background as background_module
    from livecam.imaging import as_bgr8

    blur = S.update(S.Settings(), segmentation={"model": "landscape"}, runtime={"provider": "cpu", "threads": 1},
                    background={"mode": "blur", "blur": 60})
    color = S.update(blur, background={"mode": "color", "color": "#20a040"})
    pipeline = Pipeline(blur)
    pictures, kinds = {}, {}
    for i, (_, kind) in enumerate(script):
        image = frames[i % len(frames)].copy()
        if kind == "junk":
            image = image[..., :2].copy()  # a driver's frame that is no picture
        pictures[i], kinds[i] = image, kind
    bad = {id(pictures[i]) for i, k in kinds.items() if k == "effect"}
    analysis_faults = {id(pictures[i]): k for i, k in kinds.items() if k in ("analysis", "stall")}
    for cls in (background_module.BlurBackground, background_module.ImageBackground):
        real_apply = cls.apply

        def apply(self, image, analysis, _real=real_apply):
            if id(image) in bad:
                raise RuntimeError("injected effect failure")
            return _real(self, image, analysis)

        monkeypatch.setattr(cls, "apply", apply)
    analyzer = pipeline.analyzer
    real_analyze = analyzer.analyze

    def analyze(image, needs, t=None):
        fault = analysis_faults.get(id(image))
        if fault == "analysis":
            raise RuntimeError("injected analysis failure")
        if fault == "stall":
            time.sleep(0.2)
        return real_analyze(image, needs, t=t)

    monkeypatch.setattr(analyzer, "analyze", analyze)

    class Camera:
        gaps = set()

        def latest(self, after=-1, timeout=0.5):
            i = after + 1
            if i >= len(script):
                return None  # the source has ended
            if kinds[i] == "gap" and i not in self.gaps:
                self.gaps.add(i)
                return None  # nothing new within the timeout (a camera unplugged for a moment)
            if kinds[i] == "settings":
                pipeline.apply(color if pipeline.settings.background.mode == "blur" else blur)
            return Frame(pictures[i], i, i / 30, placeholder=kinds[i] == "placeholder")

    class Scripted:
        on, reason, seen = False, "scripted", 0

        def observe(self, index, t, timings, now):
            self.on = script[min(index, len(script) - 1)][0]
            return self.on

    sent = []

    class Sender:
        def submit(self, image, t):
            i = int(round(t * 30))
            sent.append((kinds[i], pictures[i], image, pipeline.concealed - sum(s[3] for s in sent)))

    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 2)
    runner = LiveRunner(Camera(), pipeline, Sender(), frames=len(script), pipelining="auto")
    runner.auto = Scripted()
    runner.start()
    try:
        assert runner.wait(60), "the loop froze"
    finally:
        runner.stop()
        pipeline.close()
    assert runner.error is None
    assert not pipeline.pipelined and pipeline.analyzer is analyzer  # handed back at the end
    return runner, sent, as_bgr8


@hsettings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.tuples(st.booleans(), st.sampled_from(STEPS)), min_size=4, max_size=14))
def test_switching_pipelining_under_faults_never_freezes_or_sends_the_raw_room(faulty_clip, monkeypatch, script):
    from livecam.output_gate import CARD_BGR

    with monkeypatch.context() as mp:
        runner, sent, as_bgr8 = _loop_under_faults(faulty_clip, script, mp)
    assert [k for k, *_ in sent] == [k for _, k in script]  # every frame went out once, in order
    for kind, raw, out, hidden in sent:
        if kind == "placeholder":
            assert out is raw  # the "retrying" card goes out as it is
            continue
        if kind == "junk":
            assert (out == CARD_BGR).all()  # (the size of the last picture, 1280x720 before any)
            continue
        assert out.dtype == np.uint8 and out.shape == (192, 192, 3)
        assert np.abs(out.astype(np.int16) - raw).mean() > 3  # never the raw room
        if kind in ("effect", "analysis"):
            assert hidden == 1, kind  # the effect the user chose could not run: hidden by the gate


def test_the_loop_switches_pipelining_many_times_under_faults(faulty_clip, monkeypatch):
    """A fixed stormy script: on and off every frame or two, across every kind of fault."""
    script = [(i % 3 != 0, STEPS[i % len(STEPS)]) for i in range(40)]
    runner, sent, _ = _loop_under_faults(faulty_clip, script, monkeypatch)
    assert len(sent) == 40 and runner.overlapped >= 5
    assert all(h == 1 for k, _, _, h in sent if k in ("effect", "analysis"))


@hsettings(max_examples=80, deadline=None, database=None)
@given(st.lists(st.tuples(st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                          st.dictionaries(st.sampled_from(["inference", "background", "total", "analysis", "faces"]),
                                          st.floats(allow_nan=True, allow_infinity=True), max_size=4),
                          st.floats(-1e6, 1e6)), min_size=1, max_size=200))
def test_auto_pipelining_takes_any_readings_without_raising(readings):
    """Camera indices that jump back (a reconnect), NaN or infinite capture times and timings, a
    clock that runs backwards: the decision stays a bool and the loop never dies on it."""
    from livecam.live_runner import AutoPipelining

    auto = AutoPipelining()
    for index, t, timings, now in readings:
        assert auto.observe(index, t, timings, now) in (True, False)
