"""Fail closed, isolate faults, update in place: the frame that leaves never shows more than the
user chose, one broken effect never stops the stream, and a slider never resets an effect."""
import logging
import threading
import time

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from conftest import FIXTURES, shared_data
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from pixels import is_hidden, room_clip, room_detail

from livecam import settings as S
from livecam.effects import avatar as avatar_module
from livecam.effects import background as background_module
from livecam.effects import touch_up as touch_up_module
from livecam.effects.base import NO_OUTPUTS, EffectBase
from livecam.live_runner import LiveRunner
from livecam.pipeline import FRESH_BUILDS, Pipeline
from livecam.types import Frame


class _Raising(EffectBase):
    """An effect that fails on the frames whose number is in ``bad`` (all frames when None)."""

    needs = frozenset({"mask"})

    def __init__(self, bad=None):
        self.calls = 0
        self.bad = bad

    def apply(self, image, analysis):
        self.calls += 1
        if self.bad is None or self.calls in self.bad:
            raise cv2.error("injected failure")
        return image, NO_OUTPUTS


def test_an_effect_that_raises_hides_the_frame_and_the_stream_goes_on(astronaut, monkeypatch, caplog):
    effect = _Raising()
    monkeypatch.setattr(background_module, "build_background", lambda *a: effect)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur"}))
    with caplog.at_level(logging.ERROR):
        outs = [pipeline.process(astronaut) for _ in range(40)]
    assert all(is_hidden(out, astronaut) for out in outs), "no frame may show the raw room"
    # Retried with back-off (frames 1, 2, 4, 8, 16, 32), not on every frame; after the sixth failure
    # in a row it is built afresh (here the same object) and retried from the start (33, 34, 36, 40).
    assert 9 <= effect.calls <= 11
    assert caplog.text.count("Background failed") == 1, "logged once"
    assert pipeline.failure_counts()["background"] == effect.calls
    assert any("keeps failing" in p for p in pipeline.problems())


def test_a_passing_frame_after_a_failure_shows_the_effect_again(astronaut, monkeypatch):
    effect = _Raising(bad={1})
    monkeypatch.setattr(background_module, "build_background", lambda *a: effect)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur"}))
    first, second = pipeline.process(astronaut), pipeline.process(astronaut)
    assert is_hidden(first, astronaut)
    assert np.array_equal(second, astronaut)  # the injected effect passes the frame through when it works
    assert not pipeline.problems()


class _Poisoned(EffectBase):
    """An effect whose first frame leaves a bad value in its own cache, so every later call raises: only
    a new effect works (the photo avatar under a one-off fault on the frame it fills its caches)."""

    needs = frozenset({"mask"})

    def __init__(self):
        self.poisoned = False

    def apply(self, image, analysis):
        if self.poisoned:
            raise ValueError("a cached value is not a number")
        self.poisoned = self.poisoned or not _Poisoned.first_done
        _Poisoned.first_done = True
        if self.poisoned:
            raise ValueError("a cached value is not a number")
        return image, NO_OUTPUTS


def test_an_effect_that_keeps_raising_is_built_afresh_and_comes_back(astronaut, monkeypatch):
    built = []
    monkeypatch.setattr(_Poisoned, "first_done", False, raising=False)
    monkeypatch.setattr(background_module, "build_background", lambda *a: built.append(_Poisoned()) or built[-1])
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur"}))
    outs = [pipeline.process(astronaut) for _ in range(60)]
    assert all(is_hidden(out, astronaut) for out in outs[:31]), "hidden while it fails"
    assert len(built) == 2, "built afresh once, after six failures in a row"
    assert all(np.array_equal(out, astronaut) for out in outs[40:]), "the new effect works"
    assert not pipeline.problems()


def test_an_effect_that_always_raises_is_built_afresh_a_few_times_only(astronaut, monkeypatch):
    built = []
    monkeypatch.setattr(background_module, "build_background", lambda *a: built.append(_Raising()) or built[-1])
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur"}))
    outs = [pipeline.process(astronaut) for _ in range(400)]
    assert all(is_hidden(out, astronaut) for out in outs)
    assert len(built) == 1 + FRESH_BUILDS
    pipeline.apply(S.update(S.Settings(), background={"mode": "blur", "blur": 70}))  # new settings: new tries
    for _ in range(200):
        pipeline.process(astronaut)
    assert len(built) == 2 + 2 * FRESH_BUILDS


def test_a_failing_touch_up_is_skipped_not_hidden(astronaut, monkeypatch):
    class Broken(_Raising):
        needs = frozenset({"faces"})

    monkeypatch.setattr(touch_up_module, "TouchUp", lambda *a: Broken())
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "off"}, touch_up={"strength": 50}))
    out = pipeline.process(astronaut)
    assert np.array_equal(out, astronaut), "touch-up hides nothing, so failing it shows the frame as it is"


@pytest.mark.parametrize("content", [b"", b"this is text, not a picture", None])
def test_an_unusable_first_background_hides_the_frame(astronaut, tmp_path, content):
    path = tmp_path / "bg.jpg"
    if content is None:
        path.mkdir()  # a directory named like a picture
    else:
        path.write_bytes(content)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "image", "image": str(path)}))
    out = pipeline.process(astronaut)
    assert is_hidden(out, astronaut)
    assert len(pipeline.problems()) == 1 and "full blur" in pipeline.problems()[0]
    # Fixed by the user: the next frame shows the chosen effect.
    pipeline.apply(S.update(pipeline.settings, background={"mode": "color", "color": "#0000ff"}))
    out = pipeline.process(astronaut)
    assert not pipeline.problems() and (out[:40, -40:] == (255, 0, 0)).all()


@pytest.mark.parametrize("before", [{"mode": "blur", "blur": 0}, {"mode": "off"}, {"mode": "blur", "blur": 60}])
def test_a_new_background_that_fails_to_load_is_not_stood_in_for_by_a_weaker_one(astronaut, tmp_path, before):
    """gui27's state machine: a picture chosen over a blur of 0 and gone before it loaded left the
    previous effect (the blur of 0) standing in, and the room left while the settings said "image"."""
    pipeline = Pipeline(S.update(S.Settings(), background=before))
    pipeline.process(astronaut)
    pipeline.apply(S.update(pipeline.settings, background={"mode": "image", "image": str(tmp_path / "gone.png")}))
    out = pipeline.process(astronaut)
    assert is_hidden(out, astronaut)
    (problem,) = pipeline.problems()
    assert "gone.png" in problem and "full blur" in problem


def test_a_background_picture_that_fails_to_load_keeps_the_last_good_picture(astronaut, tmp_path):
    """Only a file changed: the last good picture stands in (it hides as much as the new one would)."""
    good = tmp_path / "office.png"
    cv2.imwrite(str(good), np.full((90, 160, 3), (0, 0, 255), np.uint8))
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "image", "image": str(good)}))
    pipeline.process(astronaut)
    pipeline.apply(S.update(pipeline.settings, background={"mode": "image", "image": str(tmp_path / "gone.png")}))
    out = pipeline.process(astronaut)
    assert (out[:40, -40:] == (0, 0, 255)).all(), "the last good picture"
    (problem,) = pipeline.problems()
    assert problem.endswith("LiveCam keeps the previous background.")


def test_turning_the_background_off_shows_the_frame(astronaut, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "image", "image": str(bad)}))
    pipeline.process(astronaut)
    pipeline.apply(S.update(pipeline.settings, background={"mode": "off"}))
    assert np.array_equal(pipeline.process(astronaut), astronaut)  # off is what the user chose
    assert not pipeline.problems()


def test_the_live_runner_keeps_going_when_processing_raises(astronaut):
    class Source:
        def __init__(self):
            self.i = 0

        def latest(self, after=-1, timeout=0.5):
            self.i += 1
            return Frame(astronaut, self.i, time.monotonic())

    class Pipe:
        def process(self, image, t=None):
            raise RuntimeError("boom")

    class Sender:
        def __init__(self):
            self.frames = []

        def submit(self, image, t):
            self.frames.append(image)

    sender = Sender()
    runner = LiveRunner(Source(), Pipe(), sender, frames=10).start()
    assert runner.wait(10)
    assert runner.error is None and runner.processed == 10 and runner.errors == 10
    assert all(is_hidden(f, astronaut) for f in sender.frames)


def test_cheap_changes_update_the_live_effect_in_place(astronaut):
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur"}, touch_up={"strength": 40},
                                 low_light={"mode": "manual", "exposure": 0.5, "denoise": 40}))
    for _ in range(3):
        pipeline.process(astronaut)
    before = {slot.spec.name: slot.effect for slot in pipeline._slots}
    denoiser = before["low_light"]._denoiser
    average = None if denoiser.average is None else denoiser.average.copy()
    pipeline.apply(S.update(pipeline.settings, background={"blur": 90}, touch_up={"strength": 80},
                            low_light={"exposure": 1.0}))
    pipeline.process(astronaut)
    after = {slot.spec.name: slot.effect for slot in pipeline._slots}
    for name in ("low_light", "touch_up", "background"):
        assert after[name] is before[name], f"{name} must be updated, not rebuilt"
    assert after["background"].strength == 90 and after["touch_up"].amount == 0.8
    assert after["low_light"]._denoiser is denoiser and average is not None  # the denoiser keeps its history


def test_expensive_changes_are_built_off_the_processing_thread(astronaut, tmp_path, monkeypatch):
    picture = np.full((32, 32, 3), (0, 200, 0), np.uint8)
    path = tmp_path / "green.png"
    cv2.imwrite(str(path), picture)
    built_on, release = [], threading.Event()
    real = background_module.build_background

    def slow_build(*args):
        built_on.append(threading.current_thread().name)
        if args[0].mode == "image":
            release.wait(10)
        return real(*args)

    monkeypatch.setattr(background_module, "build_background", slow_build)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "color", "color": "#ff0000"}),
                        background_builds=True)
    try:
        pipeline.apply(S.update(pipeline.settings, background={"mode": "image", "image": str(path)}))
        out = pipeline.process(astronaut)  # the picture is still loading: the red background stays
        assert (out[:40, -40:] == (0, 0, 255)).all()
        release.set()
        pipeline.wait_for_builds()
        out = pipeline.process(astronaut)
        assert (out[:40, -40:] == (0, 200, 0)).all()
        assert built_on[-1].startswith("livecam-build")
    finally:
        release.set()
        pipeline.close()


# ---------------------------------------------------------------- faults at the library boundary
# Faults nobody enumerated in the effects: ONNX Runtime returning garbage, OpenCV raising, an effect
# raising, from any frame on, for any while, under every effect that hides something. Scored on
# pixels: in the true background region of photos with known person masks, no frame that leaves
# keeps the room's fine detail.

PHOTOS = ("vik_105", "p3m_bc5cfad1", "p3m_015cd10e")  # detailed rooms; fault-free blur keeps <= 0.04 of it
ROOM_DETAIL = 0.3  # correlation of fine detail with the raw room: raw 1.0, blur 80 without faults <= 0.04
FRAMES = 14
ORT_FAULTS = ("nan", "inf", "zeros", "ones", "shape")
FAULTS = ORT_FAULTS + ("cv2_blur", "cv2_resize", "effect")
EFFECT_SETS = ("blur", "image", "color", "avatar")


class _Faults:
    """Which fault is on; the patched library functions ask it on every call."""

    kind: str | None = None
    active = False

    def on(self, kind: str) -> bool:
        return self.active and self.kind == kind


@pytest.fixture
def faults(monkeypatch):
    state = _Faults()
    real_run, real_blur, real_resize = ort.InferenceSession.run, cv2.GaussianBlur, cv2.resize

    def run(self, names, feeds, *args, **kwargs):
        out = real_run(self, names, feeds, *args, **kwargs)
        if not state.active or state.kind not in ORT_FAULTS:
            return out
        if state.kind == "shape":
            return [np.zeros((1, 3), o.dtype) for o in out]
        value = {"nan": np.nan, "inf": np.inf, "zeros": 0.0, "ones": 1.0}[state.kind]
        return [np.full_like(o, value) if o.dtype.kind == "f" else o for o in out]

    def blur(*args, **kwargs):
        if state.on("cv2_blur"):
            raise cv2.error("injected GaussianBlur failure")
        return real_blur(*args, **kwargs)

    def resize(*args, **kwargs):
        if state.on("cv2_resize"):
            raise cv2.error("injected resize failure")
        return real_resize(*args, **kwargs)

    class Flow:
        """OpenCV's dense optical flow (the photo avatar's head ring follows it), failing on request."""

        def __init__(self, real):
            self._real = real

        def calc(self, *args, **kwargs):
            if state.on("cv2_flow"):
                raise cv2.error("injected optical-flow failure")
            return self._real.calc(*args, **kwargs)

    real_flow = cv2.DISOpticalFlow_create
    monkeypatch.setattr(ort.InferenceSession, "run", run)
    monkeypatch.setattr(cv2, "GaussianBlur", blur)
    monkeypatch.setattr(cv2, "resize", resize)
    monkeypatch.setattr(cv2, "DISOpticalFlow_create", lambda *a, **k: Flow(real_flow(*a, **k)))
    for cls in (background_module.BlurBackground, background_module.ImageBackground, avatar_module.FaceSwap,
                avatar_module.PhotoAvatar):
        real_apply = cls.apply

        def apply(self, image, analysis, _real=real_apply):
            if state.on("effect"):
                raise RuntimeError("injected effect failure")
            return _real(self, image, analysis)

        monkeypatch.setattr(cls, "apply", apply)
    return state


def _settings(effects: str) -> S.Settings:
    if effects == "avatar":
        return S.update(S.Settings(), avatar={"mode": "swap", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")},
                        background={"mode": "blur", "blur": 80})
    if effects == "image":
        picture = shared_data() / "backgrounds" / "1280x720" / "kde_Path.jpg"
        return S.update(S.Settings(), background={"mode": "image", "image": str(picture)})
    if effects == "color":
        return S.update(S.Settings(), background={"mode": "color", "color": "#1e6e3c"})
    return S.update(S.Settings(), background={"mode": "blur", "blur": 80})


@pytest.fixture(scope="module")
def clips():
    if not (shared_data() / "masks" / "dev").is_dir():
        pytest.skip("shared test data (masks/dev) not found")
    return {name: room_clip(name, FRAMES) for name in PHOTOS}


@hsettings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(FAULTS), effects=st.sampled_from(EFFECT_SETS), photo=st.sampled_from(PHOTOS),
       start=st.integers(0, 9), length=st.integers(1, FRAMES))
def test_no_fault_at_the_library_boundary_lets_the_room_out(clips, faults, kind, effects, photo, start, length):
    frames, rooms = clips[photo]
    faults.kind, faults.active = kind, False
    pipeline = Pipeline(_settings(effects))
    try:
        for i, (frame, room) in enumerate(zip(frames, rooms)):
            faults.active = start <= i < start + length
            out = pipeline.process(frame)  # never raises, whatever fails inside
            faults.active = False
            assert out.shape == frame.shape and out.dtype == np.uint8
            kept = room_detail(out[:, 12:], frame[:, 12:], room)
            assert kept < ROOM_DETAIL, f"frame {i}: {kept:.2f} of the room's detail left ({kind} from {start} for {length})"
    finally:
        faults.active = False
        pipeline.close()


def test_without_faults_the_effects_hide_the_room_and_the_score_sees_a_raw_one(clips):
    frames, rooms = clips[PHOTOS[0]]
    assert room_detail(frames[0][:, 12:], frames[0][:, 12:], rooms[0]) > 0.99
    for effects in EFFECT_SETS:
        pipeline = Pipeline(_settings(effects))
        outs = [pipeline.process(f) for f in frames]
        assert pipeline.gate.hidden == 0, f"{effects}: fine frames were hidden"
        assert max(room_detail(o[:, 12:], f[:, 12:], r) for o, f, r in zip(outs, frames, rooms)) < 0.1


@pytest.mark.parametrize("kind", ["nan", "ones", "cv2_blur"])
def test_the_issue_cases_a_model_fault_after_10_frames_with_blur_80(data_dir, faults, kind):
    """Issue 17: NaN from every model after 10 frames (55 of 65 frames were the raw room), a mask
    saturating to all person (52 of 65), conceal() itself raising (a traceback)."""
    clip = data_dir / "video" / "lp_d9_webcam_room.mp4"
    capture = cv2.VideoCapture(str(clip))
    frames = [capture.read()[1] for _ in range(65)]
    capture.release()
    faults.kind = kind
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur", "blur": 80}))
    raw = 0
    for i, frame in enumerate(frames):
        faults.active = i >= 10
        out = pipeline.process(frame)
        faults.active = False
        same = (np.abs(out.astype(np.int16) - frame).max(axis=2) <= 3).mean()
        raw += same >= 0.95  # the person alone is far less than 95 % of this picture
    assert raw == 0
    assert pipeline.gate.hidden >= 50  # from the fault on (a held mask bridges the first few)


@pytest.fixture(scope="module")
def talking():
    """30 frames of a wearer talking at a webcam (a face, so the photo avatar's head, lids and the
    flow round the head all run)."""
    clip = shared_data() / "video" / "lp_d9_webcam_room.mp4"
    if not clip.is_file():
        pytest.skip("shared test data (video) not found")
    capture = cv2.VideoCapture(str(clip))
    frames = [capture.read()[1] for _ in range(30)]
    capture.release()
    return frames


@hsettings(max_examples=10, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(FAULTS + ("cv2_flow",)), start=st.integers(0, 20), length=st.integers(1, 30))
def test_no_fault_at_the_library_boundary_shows_the_wearer_instead_of_the_photo_avatar(talking, faults, kind,
                                                                                         start, length):
    """The photo avatar shows the portrait only: whatever fails inside it (a model, OpenCV, its
    optical flow, the effect itself), no frame that leaves is the wearer's own picture."""
    faults.kind, faults.active = kind, False
    pipeline = Pipeline(S.update(S.Settings(), avatar={"mode": "animate", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")},
                                 background={"mode": "blur", "blur": 80}))
    try:
        for i, frame in enumerate(talking):
            faults.active = start <= i < start + length
            out = pipeline.process(frame)
            faults.active = False
            assert out.shape == frame.shape and out.dtype == np.uint8
            same = (np.abs(out.astype(np.int16) - frame).max(axis=2) <= 3).mean()
            assert same < 0.5, f"frame {i}: {same:.2f} of it is the wearer's picture ({kind} from {start} for {length})"
    finally:
        faults.active = False
        pipeline.close()


def test_face_detection_ends_on_boxes_without_area():
    """A detector returning zeros (every box of size 0) made the weighted NMS loop forever."""
    from livecam.analysis.face_detector import weighted_nms

    faces = weighted_nms(np.zeros((5, 4), np.float32), np.zeros((5, 6, 2), np.float32), np.full(5, 0.5), 0.3)
    assert len(faces) == 5


def test_an_analysis_that_raises_hides_a_face_swaps_frame(astronaut, monkeypatch):
    """An analysis that raised used to leave the analyzer's ``missing`` as it was (empty), so a face
    swap (background off) whose analysis failed from the first frame let the wearer's face out."""
    pipeline = Pipeline(S.update(S.Settings(), avatar={"mode": "swap", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")},
                                 background={"mode": "off"}))
    try:
        for _ in range(3):
            pipeline.process(astronaut)  # the swap built and showing

        def broken(image, needs, t=None):
            raise RuntimeError("injected analysis fault")

        monkeypatch.setattr(pipeline.analyzer, "analyze", broken)
        for _ in range(5):
            out = pipeline.process(astronaut)
            assert np.abs(out.astype(np.int16) - astronaut).mean() > 20, "the wearer's frame went out"
        assert pipeline.gate.hidden >= 5
    finally:
        pipeline.close()
