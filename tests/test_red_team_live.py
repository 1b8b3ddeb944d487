"""Red team on the live path (helper redteam5): faults at the camera boundary (what
``cv2.VideoCapture.read`` hands over), at the analysis thread while pipelining, and at the sender.

Each test injects its fault where a library or device meets LiveCam (a fake ``VideoCapture``
through ``CameraSource``'s opener, frames as a driver delivers them, an output's ``send``) and
checks the promise a user relies on: the loop keeps going, the frame that leaves shows no more
than they chose, and one fault costs one frame. Each test failed before the fix it names.
"""
from __future__ import annotations

import os
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import FIXTURES
from live_doubles import ListSender, ReadyCamera, RecordingOutput

from livecam import settings as S
from livecam.capture import CameraSource, Frame
from livecam.live_runner import LiveRunner
from livecam.output_gate import CARD_BGR
from livecam.pacing import PacedSender
from livecam.pipeline import Pipeline

W, H = 320, 240


@pytest.fixture(scope="module")
def still(astronaut) -> np.ndarray:
    return cv2.resize(astronaut, (W, H))


def _blur() -> S.Settings:
    return S.update(S.Settings(), segmentation={"model": "landscape"}, runtime={"provider": "cpu", "threads": 1},
                    background={"mode": "blur", "blur": 60}, capture={"width": W, "height": H})


class _Cap:
    """A ``cv2.VideoCapture`` stand-in: ``reads`` says what each read returns (then the picture)."""

    def __init__(self, picture: np.ndarray, reads: list, hold: threading.Event | None = None) -> None:
        """``hold``: the first read after ``reads`` waits for it (so a scripted frame is the newest
        until the loop has taken it)."""
        self.picture, self.reads, self.n, self.hold = picture, list(reads), 0, hold

    def isOpened(self) -> bool:
        return True

    def set(self, *args) -> bool:
        return True

    def release(self) -> None:
        pass

    def read(self):
        self.n += 1
        time.sleep(1 / 60)  # a camera's pace, so the loop is not starved of time
        if self.reads:
            return self.reads.pop(0)
        if self.hold is not None:
            self.hold.wait(5)
            self.hold = None
        return True, self.picture.copy()


def _live(source, frames: int, pipelining: bool = False, taken: threading.Event | None = None):
    """source → pipeline (blur) → paced sender → a recording null output, for ``frames`` frames;
    ``taken`` is set once the pipeline has been handed its first frame."""
    pipeline = Pipeline(_blur())
    if taken is not None:
        real = pipeline.process

        def process(image, t=None):
            taken.set()
            return real(image, t)

        pipeline.process = process
    output = RecordingOutput(W, H, 30)
    sender = PacedSender(output, 30).start()
    runner = LiveRunner(source, pipeline, sender, frames=frames, pipelining=pipelining)
    runner.pipelining = pipelining
    runner.start()
    try:
        finished = runner.wait(30)
    finally:
        runner.stop()
        sender.stop()
        pipeline.close()
    return finished, runner, output


# ------------------------------------------------------------ the camera boundary

def test_a_raw_yuyv_first_frame_at_a_smaller_size_costs_one_frame_not_the_stream(still):
    """Before: 'Processing stopped: expected (240, 320, 3) uint8, got (720, 1280, 3) uint8', nothing
    sent, ever. A camera whose driver hands over a raw two-channel frame before it converts (or a
    backend with RGB conversion off) is a picture LiveCam cannot read: that frame goes out as the
    card, of the camera's size, and the stream goes on."""
    reads = [(True, np.zeros((H, W, 2), np.uint8))]
    taken = threading.Event()
    source = CameraSource(0, W, H, 30, opener=lambda _: _Cap(still, reads, hold=taken)).start()
    try:
        finished, runner, output = _live(source, frames=8, taken=taken)
    finally:
        source.close()
    assert finished and runner.error is None, runner.error
    assert runner.processed == 8 and output.got
    for image in output.got:
        assert image.shape == (H, W, 3)
        assert np.abs(image.astype(np.int16) - still).mean() > 3  # the card or the blur: never the raw room


def test_a_raw_frame_after_good_ones_goes_out_as_the_card_of_their_size(still):
    """What holds: once a frame was good, an unreadable one is the card of the last good size."""
    pipeline = Pipeline(_blur())
    try:
        assert pipeline.process(still).shape == (H, W, 3)
        for junk in (np.zeros((H, W, 2), np.uint8), np.zeros((H, W, 3), np.int32), np.zeros((H, W, 5), np.uint8)):
            out = pipeline.process(junk)
            assert out.shape == (H, W, 3) and (out == CARD_BGR).all()
    finally:
        pipeline.close()


@pytest.mark.parametrize("junk", ["empty", "flat"])
def test_one_empty_read_costs_one_frame_not_a_camera_reopen(still, junk, caplog):
    """Before: 'Camera 0 stopped unexpectedly (division by zero); LiveCam shows a placeholder and keeps
    retrying': the camera was released and opened again (a second or more of placeholder on a real
    webcam) for one empty buffer. A read that says ok but hands over no picture is a failed read."""
    bad = {"empty": np.zeros((0, 0, 3), np.uint8), "flat": np.zeros(W * H * 3, np.uint8)}[junk]
    caps = []

    def opener(_):
        caps.append(_Cap(still, [(True, bad)] if not caps else []))
        return caps[-1]

    source = CameraSource(0, W, H, 30, opener=opener).start()
    try:
        got = []
        last = -1
        deadline = time.monotonic() + 5
        while len(got) < 5 and time.monotonic() < deadline:
            frame = source.latest(after=last, timeout=0.5)
            last = frame.index
            if not frame.placeholder:
                got.append(frame)
        error = source.error
    finally:
        source.close()
    assert len(got) == 5 and all(f.image.shape == (H, W, 3) for f in got)
    assert len(caps) == 1, "the camera was closed and opened again for one empty read"
    assert error is None and "stopped unexpectedly" not in caplog.text


# ------------------------------------------------------------ pipelining: the picture analysed ahead

def _pipelined(frames, settings):
    pipeline = Pipeline(settings)
    analyzer = pipeline.analyzer
    real = analyzer.analyze
    seen = []

    def analyze(image, needs, t=None):
        seen.append((image.dtype, image.shape, image.flags.c_contiguous))
        return real(image, needs, t=t)

    analyzer.analyze = analyze
    sender = ListSender()
    runner = LiveRunner(ReadyCamera(frames), pipeline, sender, frames=len(frames), pipelining=True)
    runner.pipelining = True  # the logic is what is tested, whatever this machine's cores
    runner.start()
    try:
        assert runner.wait(60) and runner.error is None
    finally:
        runner.stop()
        pipeline.close()
    return runner, sender.frames, seen


@pytest.fixture(scope="module")
def moving(astronaut):
    small = cv2.resize(astronaut, (192, 192))
    return [np.ascontiguousarray(np.roll(small, 4 * i, axis=1)) for i in range(8)]


@pytest.mark.parametrize("kind", ["bgra", "u16", "strided"])
def test_pipelined_frames_in_any_pixel_format_are_analysed_once_as_bgr8(moving, kind):
    """Before: 16 analyses for 8 frames, half of them of the raw BGRA/16-bit picture (the face model
    refused those with an error in the log each time), and the blur differed from the same frames
    sent as BGR by up to 76 levels: the smoothed mask had taken in the raw picture's. The prefetched
    analysis must be of the very picture the pipeline composites."""
    convert = {"bgra": lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2BGRA),
               "u16": lambda f: f.astype(np.uint16) * 257,
               "strided": lambda f: np.repeat(f, 2, axis=1)[:, ::2]}[kind]
    settings = S.update(_blur(), eye_contact={"enabled": True})
    _, reference, _ = _pipelined(moving, settings)
    runner, out, seen = _pipelined([convert(f) for f in moving], settings)
    assert runner.overlapped >= len(moving) - 2
    assert len(seen) == len(moving), f"{len(seen)} analyses for {len(moving)} frames"
    assert all(d == np.uint8 and s[2:] == (3,) and c for d, s, c in seen)
    for a, b in zip(out, reference):
        assert np.array_equal(a, b)


# ------------------------------------------------------------ the face models returning a constant

@pytest.fixture
def constant_outputs(monkeypatch):
    """While on, every run of the models named (all: None) returns zeros or ones of the right shapes
    (a provider or driver fault)."""
    import onnxruntime as ort

    state = {"value": None, "models": None}
    real = ort.InferenceSession.run

    def run(self, names, feeds, *args, **kwargs):
        out = real(self, names, feeds, *args, **kwargs)
        model = os.path.basename(str(getattr(self, "_model_path", "")))
        if state["value"] is None or state["models"] is not None and model not in state["models"]:
            return out
        return [np.full_like(o, state["value"]) for o in out]

    monkeypatch.setattr(ort.InferenceSession, "run", run)
    return state


@pytest.mark.parametrize("value", [0.0, 1.0])
@pytest.mark.parametrize("models", [None, ("face_landmark.onnx",)], ids=["every_model", "mesh_only"])
def test_face_models_returning_a_constant_never_show_the_wearers_face_under_a_swap(astronaut, constant_outputs, value,
                                                                                   models):
    """Before: from the fault on, the swap faded out (opacity 0.75, 0.56 ...) and from the 13th frame
    the wearer's face box left exactly as the camera saw it, every frame, with no sentence and nothing
    hidden. A detector that gives every anchor one score, or a mesh with every coordinate equal, is
    a fault (black, white, grey and noise pictures never give either): bridged for a few frames, then
    the frame is hidden."""
    constant_outputs["models"] = models
    picture = cv2.resize(astronaut, (320, 320))
    frames = [np.ascontiguousarray(np.roll(picture, i % 3, axis=1)) for i in range(24)]
    pipeline = Pipeline(S.update(S.Settings(), avatar={"mode": "swap", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")},
                                 background={"mode": "off"}))
    try:
        pipeline.process(frames[0])
        x0, y0, x1, y1 = pipeline.last_analysis.faces[0].box.astype(int)
        worst = 0.0
        for i, frame in enumerate(frames):
            constant_outputs["value"] = value if i >= 3 else None
            out = pipeline.process(frame)
            constant_outputs["value"] = None
            raw = (np.abs(out[y0:y1, x0:x1].astype(np.int16) - frame[y0:y1, x0:x1]).max(axis=2) <= 3).mean()
            worst = max(worst, raw)
        assert worst < 0.5, f"{worst:.2f} of the wearer's face box left as the camera saw it"
        assert pipeline.gate.reasons["the analysis a chosen effect needs is missing"] >= 10
    finally:
        pipeline.close()


# ------------------------------------------------------------ settings changed while a new effect is built

def _write_clip(path, frames=12, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 * i % 250, np.uint8))
    writer.release()
    return path


def test_a_build_superseded_by_a_newer_change_is_closed(still, tmp_path, monkeypatch):
    """Before: choose background video A, then B before A has loaded (the builder takes A first): A was
    built, never installed and never closed, so its decoder thread kept reading and decoding the file in
    real time for the rest of the session, one more for every such change."""
    from livecam.effects import background as background_module

    videos = [_write_clip(tmp_path / f"{name}.mp4") for name in ("a", "b")]
    release = threading.Event()
    built, closed = [], []
    real_build, real_close = background_module.build_background, background_module.VideoBackground.close

    def slow_build(*args):
        if args[0].mode != "video":
            return real_build(*args)
        release.wait(10)  # the first video is still loading when the second is chosen
        effect = real_build(*args)
        built.append(effect)
        return effect

    def close(self):
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(background_module, "build_background", slow_build)
    monkeypatch.setattr(background_module.VideoBackground, "close", close)
    settings = S.update(_blur(), background={"mode": "color", "color": "#20a040"})
    pipeline = Pipeline(settings, background_builds=True)
    try:
        for video in videos:
            pipeline.apply(S.update(settings, background={"mode": "video", "video": str(video)}))
            pipeline.process(still)
        release.set()
        pipeline.wait_for_builds()
        deadline = time.monotonic() + 10
        while len(built) < 2 and time.monotonic() < deadline:
            threading.Event().wait(0.05)
        pipeline.process(still)
    finally:
        release.set()
        pipeline.close()
    assert [e.path for e in built] == [str(v) for v in videos]
    assert all(any(c is e for c in closed) for e in built), "a superseded background video was never closed"
    assert not any(e.source._thread.is_alive() for e in built)


# ------------------------------------------------------------ nobody watching, then an app again, mid-frame

class _LiveCam:
    """A camera for LiveSession: opened again on resume, a new frame every 1/60 s."""

    size = (160, 160)

    def __init__(self, picture):
        self.picture, self.i = picture, 0

    def start(self):
        return self

    def close(self, timeout=5.0):
        pass

    def latest(self, after=-1, timeout=0.5):
        threading.Event().wait(1 / 60)
        self.i = max(self.i, after) + 1
        return Frame(np.ascontiguousarray(np.roll(self.picture, self.i, axis=1)), self.i, time.monotonic())


class _PausingSender(ListSender):
    slow: threading.Thread | None = None  # frames handed over from this thread take a moment

    def submit(self, image, t):
        if threading.current_thread() is self.slow:
            threading.Event().wait(0.5)
        super().submit(image, t)

    def pause(self, last=None):
        pass

    def resume(self, since=None):
        pass

    def stats(self):
        return {"frames_sent": len(self.frames)}


class _QuickStop(LiveRunner):
    """The live runner with a short stop wait (5 s in LiveCam), so a frame outlives it in a test's time."""

    def stop(self, timeout=0.3):
        super().stop(timeout)


def test_an_app_reopening_the_camera_while_a_frame_is_stuck_gets_one_runner(astronaut, monkeypatch):
    """Before: an app closed the LiveCam camera while a frame was stuck in a model run (LiveCam gives a
    stuck run up after 10 s; the release waits 5 s), and an app opened it again at once: a second runner
    started beside the stuck one. When the stuck frame ended, its runner put the plain analyzer back
    under the new, pipelined runner: from then on every frame was analysed twice and every picture
    analysed ahead was kept (133 in 3 s at 160x160; 2.7 MB each at 720p), and the status said
    pipelining was off. The resume waits for the released runner's frame instead."""
    from livecam.live_session import LiveSession

    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 2)
    picture = cv2.resize(astronaut, (160, 160))
    settings = S.update(_blur(), runtime={"provider": "cpu", "threads": 1, "pipelining": "on"})
    pipeline = Pipeline(settings)
    real = pipeline.analyzer.analyze
    stuck, free, calls = threading.Event(), threading.Event(), []

    def analyze(image, needs, t=None):
        calls.append(t)
        if stuck.is_set():
            stuck.clear()
            free.wait(10)  # a model run stuck until the run guard gives it up
        return real(image, needs, t=t)

    monkeypatch.setattr(pipeline.analyzer, "analyze", analyze)
    sender = _PausingSender()
    session = LiveSession(settings.capture, _LiveCam(picture), pipeline, sender, 0,
                          make_runner=lambda src, n: _QuickStop(src, pipeline, sender, frames=n),
                          open_source=lambda capture: _LiveCam(picture))
    try:
        deadline = time.monotonic() + 10
        while session.runner.processed < 5 and time.monotonic() < deadline:
            threading.Event().wait(0.02)
        stuck.set()
        threading.Event().wait(0.3)
        released = session.runner
        sender.slow = released._thread  # the stuck frame's hand-off, once it comes, takes a moment too
        session.viewers_changed(False, time.monotonic())
        session.follow_viewers()  # released: its runner is still inside the stuck frame
        threading.Timer(0.5, free.set).start()  # the stuck run ends a while after the app came back
        session.viewers_changed(True, time.monotonic())
        session.follow_viewers()
        assert released.done.wait(10), "the stuck frame never ended"
        deadline = time.monotonic() + 10
        while session.runner is None and time.monotonic() < deadline:  # the main loop's poll
            threading.Event().wait(0.05)
            session.follow_viewers()
        runner = session.runner
        assert runner is not None, "the camera never came back"
        threading.Event().wait(0.3)
        start_calls, start_frames = len(calls), runner.processed
        threading.Event().wait(1.0)
        frames, analyses = runner.processed - start_frames, len(calls) - start_calls
        assert frames >= 5
        assert analyses <= frames + 2, f"{analyses} analyses for {frames} frames"
        assert pipeline.pipelined
    finally:
        free.set()
        session.close()
        pipeline.close()


# ------------------------------------------------------------ what held

def test_settings_changed_from_another_thread_mid_frame_while_pipelined_never_send_the_room(moving, monkeypatch):
    """The GUI thread calls ``apply`` whenever a slider moves, while the live loop composites frame n
    and analyses frame n+1 on a second thread: a storm of changes (background kind, person model,
    effects on and off, rebuilds off the processing thread) never lets a frame out raw, never stops
    the loop, and every frame goes out once."""
    import random

    frames = [np.ascontiguousarray(np.roll(f, 5 * i, axis=0)) for i, f in enumerate(moving * 4)]
    base = _blur()
    choices = [base, S.update(base, background={"mode": "color", "color": "#20a040"}),
               S.update(base, background={"blur": 30}, segmentation={"model": "general"}),
               S.update(base, background={"mode": "color", "color": "#20a040"}, touch_up={"strength": 50}),
               S.update(base, background={"blur": 80}, eye_contact={"enabled": True}, key_light={"strength": 60})]
    pipeline = Pipeline(base, background_builds=True)

    class Camera:
        def latest(self, after=-1, timeout=0.5):
            i = after + 1
            return None if i >= len(frames) else Frame(frames[i], i, i / 30)

    sent = []

    class Sender:
        def submit(self, image, t):
            sent.append((int(round(t * 30)), image))

    stop, rng = threading.Event(), random.Random(5)

    def storm():
        while not stop.is_set():
            pipeline.apply(rng.choice(choices))
            stop.wait(rng.random() * 0.01)

    runner = LiveRunner(Camera(), pipeline, Sender(), frames=len(frames), pipelining=True)
    runner.pipelining = True
    changer = threading.Thread(target=storm)
    changer.start()
    runner.start()
    try:
        assert runner.wait(60), "the loop froze"
    finally:
        stop.set()
        changer.join()
        runner.stop()
        pipeline.close()
    assert runner.error is None and runner.overlapped >= len(frames) // 2
    assert [i for i, _ in sent] == list(range(len(frames)))
    for i, image in sent:
        assert image.shape == frames[i].shape
        assert np.abs(image.astype(np.int16) - frames[i]).mean() > 3, f"frame {i} left as the camera saw it"
