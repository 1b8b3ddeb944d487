"""A fault injector for the library boundaries a frame crosses, and the pixel checks of what leaves.

Every call LiveCam's frame path makes into ONNX Runtime (``InferenceSession.run``), OpenCV (the
``cv2`` functions the ``livecam`` modules reference), the compiled numba loops (the ``*_kernels``
modules' dispatchers, wherever a module holds one) and numpy's allocators (``np.empty`` and kin in a
``livecam`` module) goes through one :class:`Injector`, which counts the calls of each boundary and
makes the k-th misbehave in a chosen way. :func:`run_case` runs a configuration's frames through
``Pipeline.process`` with one such fault in one frame and reports, with pixels, what left: whether
the hidden region showed the raw room or face, whether an altered face left without its badge, and
whether the good frames after it came back. A case runs one frame at a time or through the live
loop with pipelining on (``LiveRunner``: frame n+1 analysed on a second thread while frame n
composites), and its fault goes in a chosen frame: by default the fourth, or a frame the face
detector runs on (the first: one face, tracked after; with room for more faces, its periodic runs;
after a face is lost, the frames it looks for it again). A case still hidden at the end of its
short run is run again over WINDOW frames (the pipeline builds an effect that keeps failing afresh
after about a second). An altered frame is one an effect that alters faces changed (the injector
watches those effects), so the badge is checked where it is due, whatever else lit or framed the face.

The tests (test_red_team_sweep.py) draw cases from this; ``python tests/fault_sweep.py`` runs the
whole sweep and prints every case that broke a promise.
"""
from __future__ import annotations

import functools
import sys
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZE = 256  # frames are scaled to SIZE x SIZE: every model still finds the face, each case is cheap
WARM = 3  # good frames before the faulty one (the models, masks and badge settle)
RECOVER = 8  # good frames after it; the last must leave as a good frame does
# Frames in a recovery run: enough for the pipeline's fresh build of an effect that keeps failing (its sixth
# failure in a row comes 31 frames after the first, with the backoff) and a margin after it.
WINDOW = 48
CELL = 4  # the raw room's checkerboard cell, px: a blur or a replacement picture leaves no trace of it
ROOM = np.zeros((SIZE, SIZE), bool)  # top corners: room, never the person (nor the badge, top right)
ROOM[4:52, 4:60] = ROOM[34:64, SIZE - 48:SIZE - 4] = True

PHOTO = str(ROOT / "tests" / "fixtures" / "mpl_grace_hopper.jpg")

# Every effect that needs no photo, over a blurred room.
_STUDIO = {"low_light": {"mode": "auto"}, "touch_up": {"strength": 60}, "eye_contact": {"enabled": True},
           "background": {"mode": "blur", "blur": 60}, "key_light": {"strength": 70}}
CONFIGS: dict[str, dict] = {
    "blur": {"background": {"mode": "blur", "blur": 60}},
    "image": {"background": {"mode": "image"}},
    "swap": {"background": {"mode": "off"}, "avatar": {"mode": "swap", "photo": PHOTO}},
    "animate": {"background": {"mode": "blur"}, "avatar": {"mode": "animate", "photo": PHOTO}},
    "all": {**_STUDIO, "auto_frame": {"enabled": True}},
    # The studio effects beside a swap (round 30): a fault in a call key light, eye contact or auto framing
    # makes must not let the wearer's face or the room out. Without auto framing the face check compares
    # the same place in the picture; with it, the room check and the badge still hold it.
    "studio_swap": {**_STUDIO, "avatar": {"mode": "swap", "photo": PHOTO}},
    "all_swap": {**_STUDIO, "auto_frame": {"enabled": True}, "avatar": {"mode": "swap", "photo": PHOTO}},
    "touch_up": {"background": {"mode": "off"}, "touch_up": {"strength": 60}},
    "low_light": {"background": {"mode": "off"}, "low_light": {"mode": "auto"}},
    # More faces (SCENES): room for three, the detector's periodic run every 4 frames (not 30: it falls in
    # a short run), two people in view; the wearer's face lost for a few frames, alone or beside another.
    "swap_two": {"background": {"mode": "off"}, "avatar": {"mode": "swap", "photo": PHOTO},
                 "face": {"max_faces": 3, "detect_every": 4}},
    "touch_up_two": {"background": {"mode": "off"}, "touch_up": {"strength": 60},
                     "face": {"max_faces": 3, "detect_every": 4}},
    "swap_lost": {"background": {"mode": "off"}, "avatar": {"mode": "swap", "photo": PHOTO}},
    "animate_lost": {"background": {"mode": "blur"}, "avatar": {"mode": "animate", "photo": PHOTO}},
    "swap_two_lost": {"background": {"mode": "off"}, "avatar": {"mode": "swap", "photo": PHOTO},
                      "face": {"max_faces": 3}},
}
SCENES = {"swap_two": "two", "touch_up_two": "two", "swap_lost": "lost", "animate_lost": "lost",
          "swap_two_lost": "two_lost"}
HIDES_ROOM = {"blur", "image", "animate", "all", "animate_lost", "studio_swap", "all_swap"}
HIDES_FACE = {"swap", "animate", "swap_two", "swap_lost", "animate_lost", "swap_two_lost", "studio_swap",
              "all_swap"}

BOUNDARIES = ("ort", "cv2", "numba", "alloc")
KINDS: dict[str, tuple[str, ...]] = {
    "ort": ("raise", "nan", "inf", "huge", "negative", "denormal", "shape", "dtype", "empty", "constant0",
            "constant1"),
    "cv2": ("raise", "none", "shape", "dtype", "nan"),
    "numba": ("zerodiv", "index", "nan"),
    "alloc": ("memory",),
}


# ---------------------------------------------------------------- the injector

TAG = threading.local()  # .frame: the index of the frame the calls on this thread work for


class Injector:
    """Counts each boundary's calls; the ``at``-th call (0-based, counted from ``arm``) of
    ``boundary`` misbehaves as ``kind``. ``persist``: that call and every later one.

    Armed with a ``frame``, only the calls made for that frame count (each thread says which frame
    it works for in ``TAG.frame``): the live loop analyses frame n+1 on a second thread while frame
    n composites, so "calls since arming" would mix two frames' calls in an order the threads
    choose. Calls for a later frame misbehave only with ``persist``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = dict.fromkeys(BOUNDARIES, 0)
        self.names: dict[str, list[str]] = {b: [] for b in BOUNDARIES}
        self.callers: dict[str, list[str]] = {b: [] for b in BOUNDARIES}  # the module (or model) of each call
        self.boundary: str | None = None
        self.kind = ""
        self.at = -1
        self.persist = False
        self.frame: int | None = None
        self.fired: list[str] = []

    def arm(self, boundary: str | None, kind: str = "", at: int = -1, persist: bool = False,
            frame: int | None = None) -> None:
        with self.lock:
            self.counts = dict.fromkeys(BOUNDARIES, 0)
            self.names = {b: [] for b in BOUNDARIES}
            self.callers = {b: [] for b in BOUNDARIES}
            self.boundary, self.kind, self.at, self.persist, self.frame = boundary, kind, at, persist, frame
            self.fired = []

    def disarm(self) -> None:
        self.boundary = self.frame = None

    def hit(self, boundary: str, name: str, caller: str = "") -> str | None:
        """The fault for this call, or None. ``caller``: the livecam module (or model) calling."""
        with self.lock:
            if self.frame is not None:
                tagged = getattr(TAG, "frame", None)
                if tagged is None or tagged < self.frame:
                    return None
                if tagged > self.frame:
                    if boundary != self.boundary or not self.persist:
                        return None
                    self.fired.append(name)
                    return self.kind
            n = self.counts[boundary]
            self.counts[boundary] = n + 1
            self.names[boundary].append(name)
            self.callers[boundary].append(caller)
            if boundary != self.boundary or (n != self.at and not (self.persist and n > self.at)):
                return None
            self.fired.append(name)
            return self.kind


INJECTOR = Injector()
ALTERED: set[int] = set()  # frames in which an effect that alters faces changed the picture it was given


def _altering_apply(real):
    """An effect that alters faces (it provides ``altered``: the swap, the photo avatar, eye contact),
    watched: a frame it changed a pixel of is an altered frame, whatever the effect says and whatever
    the other effects (low light, key light, auto-framing) did to its brightness or framing."""
    @functools.wraps(real)
    def apply(self, image, *args, **kwargs):
        before = np.array(image, copy=True)  # eye contact writes into its own picture
        result = real(self, image, *args, **kwargs)
        out = result[0]
        if not (isinstance(out, np.ndarray) and out.shape == before.shape and np.array_equal(out, before)):
            ALTERED.add(getattr(TAG, "frame", None))
        return result
    return apply


def _spoiled_array(value, kind: str):
    """``value`` (an array) as a misbehaving library returns it."""
    if not isinstance(value, np.ndarray):
        return value
    if kind == "shape":
        return value[:-1] if value.ndim and value.shape[0] > 1 else np.zeros((3, 5), value.dtype)
    if kind == "dtype":
        return value.astype(np.float64 if value.dtype == np.uint8 else np.uint8)
    fill = {"nan": np.nan, "inf": np.inf, "huge": 3e38, "negative": -1e4, "denormal": 1e-42,
            "constant0": 0.0, "constant1": 1.0}[kind]
    if not np.issubdtype(value.dtype, np.floating):
        return np.full(value.shape, np.nan if kind == "nan" else fill, np.float32) if kind in ("nan", "inf") \
            else np.full(value.shape, fill).astype(value.dtype)
    return np.full(value.shape, fill, value.dtype)


def _ort_run(real):
    @functools.wraps(real)
    def run(self, output_names, input_feed, *args, **kwargs):
        kind = INJECTOR.hit("ort", "InferenceSession.run", Path(getattr(self, "_model_path", "") or "").stem)
        if kind == "raise":
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : injected")
        values = real(self, output_names, input_feed, *args, **kwargs)
        if kind is None:
            return values
        if kind == "empty":
            return []
        return [_spoiled_array(v, kind) for v in values]
    return run


def _tagged_guard(real):
    """``RunGuard.call`` runs the model on the guard's own thread: it works for the caller's frame."""
    @functools.wraps(real)
    def call(self, fn, *args):
        frame = getattr(TAG, "frame", None)

        def run(*a):
            TAG.frame = frame
            try:
                return fn(*a)
            finally:
                TAG.frame = None
        return real(self, run, *args)
    return call


def _cv2_call(name: str, real):
    def call(*args, **kwargs):
        kind = INJECTOR.hit("cv2", name, sys._getframe(1).f_globals.get("__name__", ""))
        if kind is None:
            return real(*args, **kwargs)
        if kind == "raise":
            raise cv2.error(f"OpenCV(4.x) injected: (-215:Assertion failed) in function '{name}'")
        if kind == "none":
            return None
        value = real(*args, **kwargs)
        if isinstance(value, tuple):
            return tuple(_spoiled_array(v, kind) for v in value)
        if kind == "nan":
            return np.full(value.shape, np.nan, np.float32) if isinstance(value, np.ndarray) else value
        return _spoiled_array(value, kind)
    call.__name__ = name
    return call


class _Cv2Proxy(types.ModuleType):
    """What a livecam module sees as ``cv2``: the real module, its functions counted."""

    def __init__(self) -> None:
        super().__init__("cv2")
        self._wrapped: dict[str, object] = {}

    def __getattr__(self, name: str):
        real = getattr(cv2, name)
        if not (isinstance(real, types.BuiltinFunctionType) or type(real).__name__ == "function"):
            return real  # constants, classes (cv2.error), submodules
        wrapped = self._wrapped.get(name)
        if wrapped is None:
            wrapped = self._wrapped[name] = _cv2_call(name, real)
        return wrapped


ALLOCATORS = ("empty", "zeros", "empty_like", "zeros_like", "full", "full_like", "ones", "ones_like")


class _NumpyProxy(types.ModuleType):
    """What a livecam module sees as ``np``: numpy, its allocators counted."""

    def __init__(self) -> None:
        super().__init__("numpy")
        for name in ALLOCATORS:
            setattr(self, name, self._allocator(name, getattr(np, name)))

    @staticmethod
    def _allocator(name: str, real):
        def allocate(*args, **kwargs):
            if INJECTOR.hit("alloc", f"np.{name}", sys._getframe(1).f_globals.get("__name__", "")) == "memory":
                raise MemoryError(f"Unable to allocate array (injected in np.{name})")
            return real(*args, **kwargs)
        return allocate

    def __getattr__(self, name: str):
        return getattr(np, name)


def _is_dispatcher(value) -> bool:
    return type(value).__name__ in ("CPUDispatcher", "Dispatcher") and hasattr(value, "py_func")


def _kernel_call(name: str, real):
    def call(*args, **kwargs):
        kind = INJECTOR.hit("numba", name, sys._getframe(1).f_globals.get("__name__", ""))
        if kind == "zerodiv":
            raise ZeroDivisionError("division by zero")
        if kind == "index":
            raise IndexError("index 512 is out of bounds for axis 0 with size 512")
        floats = [a for a in args if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)
                  and a.flags.writeable] if kind == "nan" else []
        before = [a.copy() for a in floats]
        value = real(*args, **kwargs)
        for a, b in zip(floats, before):
            if not np.array_equal(a, b, equal_nan=True):
                a[...] = np.nan  # the loop's output: what it wrote is NaN
        if kind == "nan" and isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
            value = np.full_like(value, np.nan)
        return value
    call.__name__ = name
    call.py_func = real.py_func
    return call


def frame_path_modules() -> list[types.ModuleType]:
    import livecam.analysis  # noqa: F401 - loads the frame path's modules
    import livecam.effects.avatar  # noqa: F401
    import livecam.pipeline  # noqa: F401

    skip = ("livecam.gui", "livecam.recording", "livecam.render", "livecam.live_", "livecam.pacing",
            "livecam.sinks", "livecam.cli")
    return [m for name, m in sorted(sys.modules.items())
            if name.startswith("livecam.") and not name.startswith(skip) and m is not None]


def install(monkeypatch) -> None:
    """Route every boundary of the frame path through INJECTOR (undone with ``monkeypatch``)."""
    import onnxruntime as ort

    from livecam.effects import REGISTRY

    for spec in REGISTRY:  # every effect's module loaded, so its names are patched too
        __import__(spec.build.partition(":")[0])
    from livecam.analysis.run_guard import RunGuard

    session = ort.InferenceSession
    monkeypatch.setattr(session, "run", _ort_run(session.run))
    altering = {cls for spec in REGISTRY for cls in vars(sys.modules[spec.build.partition(":")[0]]).values()
                if isinstance(cls, type) and "altered" in getattr(cls, "provides", ()) and "apply" in vars(cls)}
    for cls in altering:
        monkeypatch.setattr(cls, "apply", _altering_apply(cls.apply))
    monkeypatch.setattr(RunGuard, "call", _tagged_guard(RunGuard.call))
    cv2_proxy, np_proxy, kernels = _Cv2Proxy(), _NumpyProxy(), {}
    for module in frame_path_modules():
        jitted = False
        for name, value in list(vars(module).items()):
            if _is_dispatcher(value):
                jitted = True
                if id(value) not in kernels:
                    kernels[id(value)] = _kernel_call(name, value)
                monkeypatch.setattr(module, name, kernels[id(value)])
        if getattr(module, "cv2", None) is cv2:
            monkeypatch.setattr(module, "cv2", cv2_proxy)
        # Not where numba compiles: a loop compiled after this would find the proxy as its np.
        if getattr(module, "np", None) is np and not jitted:
            monkeypatch.setattr(module, "np", np_proxy)


# ---------------------------------------------------------------- frames and checks

def clip_frames(count: int = WARM + 1 + RECOVER) -> np.ndarray:
    """The shared talking clip scaled to SIZE, with a strong checkerboard in the top corners: the raw
    room, recognisable wherever it leaves."""
    clip = ROOT.parent / "shared" / "data" / "video" / "lp_d3_expressions.mp4"
    cap = cv2.VideoCapture(str(clip))
    frames = []
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    checker = (((yy // CELL) + (xx // CELL)) % 2).astype(bool)
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frame = cv2.resize(frame, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        room = np.zeros_like(frame)
        room[checker] = (0, 255, 255)
        room[~checker] = (255, 0, 255)
        frame[ROOM] = room[ROOM]
        frames.append(frame)
    cap.release()
    return np.stack(frames) if frames else np.zeros((0, SIZE, SIZE, 3), np.uint8)


SECOND = ROOT.parent / "shared" / "data" / "faces" / "single" / "fr_biden.jpg"  # someone beside the wearer
LOST = range(WARM + 1, WARM + 4)  # the "lost" scene's frames without the wearer's face


def scene_frames(scene: str, count: int = WARM + 1 + RECOVER) -> np.ndarray:
    """The clip (:func:`clip_frames`) as a scene. "one": as it is. "two": a second person beside the
    wearer (the clip's square on the left, a portrait of someone else on the right: SIZE x 2 SIZE),
    for the face detector's periodic run with room for more faces. "lost": the wearer's head cut
    out of frames LOST (the tracker loses the face, the detector runs on every frame until it is back);
    "two_lost": both."""
    frames = clip_frames(count)
    if scene == "two_lost":
        frames = scene_frames("two", count)
        frames[:, :, :SIZE] = scene_frames("lost", count)
    elif scene == "two":
        photo = cv2.imread(str(SECOND))
        if photo is None:
            return frames[:0]
        side = min(photo.shape[:2])
        second = cv2.resize(photo[:side, :side], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        frames = np.concatenate([frames, np.broadcast_to(second, frames.shape)], axis=2)
    elif scene == "lost":
        for i in LOST:
            if i < len(frames):
                frames[i, 20:, 62:206] = frames[i, 100:120, 4:24].reshape(-1, 3).mean(0).astype(np.uint8)  # the wall
    return np.ascontiguousarray(frames)


def settings_for(config: str):
    from livecam import settings as S

    changes = {"runtime": {"provider": "cpu", "threads": 1}, **CONFIGS[config]}
    return S.update(S.Settings(), **changes)


def room_shown(out: np.ndarray, raw: np.ndarray) -> float:
    """How much of the raw room's checkerboard the top corners show: the correlation of the
    output's corners with the input's (1: the room as it was; ~0: blurred, replaced or hidden)."""
    # Green less blue: +-255 across the checkerboard, one value wherever it is blurred or replaced.
    out, raw = out[:SIZE, :SIZE][ROOM], raw[:SIZE, :SIZE][ROOM]  # the clip's square (the left one of "two")
    a = out[:, 1].astype(np.float32) - out[:, 0]
    b = raw[:, 1].astype(np.float32) - raw[:, 0]
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return 0.0 if denominator == 0 else float((a * b).sum()) / denominator


def face_box(shape) -> tuple[slice, slice]:
    """The wearer's face's core in the clip (head-and-shoulders, face near the middle, upper half), in
    the clip's square (the left one of the "two" scene)."""
    h = shape[0]
    return slice(int(0.22 * h), int(0.55 * h)), slice(int(0.36 * h), int(0.64 * h))


def face_difference(out: np.ndarray, raw: np.ndarray) -> float:
    box = face_box(raw.shape)
    return float(np.abs(out[box].astype(np.int16) - raw[box].astype(np.int16)).mean())


@functools.lru_cache(maxsize=4)
def _badge_text(width: int, height: int) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Where the badge goes and its text pixels, worked out once by a clean run's :class:`Reference`
    (the badge's own OpenCV calls go through the injector too: never while a fault is armed)."""
    from livecam.effects.badge import Badge

    badge = Badge()
    x0, y0, x1, y1 = badge.position((width, height))
    _, alpha = badge._label_for(height)
    return (x0, y0, x1, y1), alpha[: y1 - y0, : x1 - x0] > 0.95


def badge_shown(out: np.ndarray) -> bool:
    """The badge's text pixels are white in ``out``."""
    (x0, y0, x1, y1), text = _badge_text(out.shape[1], out.shape[0])
    return bool(text.any() and (out[y0:y1, x0:x1][text] >= 200).all())


FPS = 30  # the clip's frame i was captured at i / FPS (the live loop's frames carry it; so do the others)
LIVE_LIMIT = 60.0  # s for a live run of the clip's frames: past it, the loop froze


@dataclass
class Case:
    config: str
    boundary: str
    kind: str
    at: int
    persist: bool = False
    frame: int = WARM  # the frame whose ``at``-th call misbehaves
    live: bool = False  # through the live loop with pipelining on (analysis on its own thread)

    def __str__(self) -> str:
        where = f"{'live ' if self.live else ''}frame {self.frame} " if self.live or self.frame != WARM else ""
        return f"{where}{self.config}/{self.boundary}/{self.kind}@{self.at}{'+' if self.persist else ''}"


@dataclass
class Outcome:
    case: Case
    fired: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # promises broken, in words
    hidden: int = 0  # frames that left concealed
    back: int | None = None  # frames from the fault to the first of the unhidden frames that end the run


def _detector_runs(pipeline) -> int:
    analyzer = pipeline.analyzer
    return getattr(getattr(getattr(analyzer, "_analyzer", analyzer), "_tracker", None), "detector_runs", 0)


class Reference:
    """A configuration's clean run: its outputs, what each frame's calls were, and the frames the
    face detector ran on."""

    def __init__(self, config: str, frames: np.ndarray) -> None:
        from livecam.pipeline import Pipeline

        self.config, self.frames = config, frames
        INJECTOR.arm(None)
        self.pipeline = Pipeline(settings_for(config))  # kept: the model pool keeps its sessions open
        self.outputs = []
        self.frame_calls: list[dict[str, list[str]]] = []
        self.frame_callers: list[dict[str, list[str]]] = []
        self.detector_frames: list[int] = []
        ALTERED.clear()
        for i, frame in enumerate(frames):
            INJECTOR.arm(None)
            runs = _detector_runs(self.pipeline)
            TAG.frame = i
            try:
                self.outputs.append(self.pipeline.process(frame, i / FPS))
            finally:
                TAG.frame = None
            self.frame_calls.append({b: list(v) for b, v in INJECTOR.names.items()})
            self.frame_callers.append({b: list(v) for b, v in INJECTOR.callers.items()})
            if _detector_runs(self.pipeline) > runs:
                self.detector_frames.append(i)
        self.calls = self.frame_calls[WARM]
        self.problems = self.pipeline.problems()
        self.concealed = self.pipeline.concealed
        self.face = [face_difference(o, f) for o, f in zip(self.outputs, frames)]
        self.badged = [badge_shown(o) for o in self.outputs]
        self.altered = sorted(ALTERED)  # frames an effect that alters faces changed

    def sites(self, boundary: str, frame: int = WARM) -> int:
        """Calls of ``boundary`` frame ``frame`` makes (in the clean run)."""
        return len(self.frame_calls[frame].get(boundary, ()))


class _Camera:
    """The clip as a camera that always has the next frame ready: the live loop starts the analysis
    of every frame but the first on its second thread while the frame before composites."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames

    def latest(self, after: int = -1, timeout: float = 0.5):
        from livecam.types import Frame

        i = min(after + 1, len(self.frames) - 1)
        return Frame(self.frames[i], i, i / FPS)


class _Sender:
    """Keeps each frame the live loop hands over, with whether the gate hid it."""

    def __init__(self, pipeline) -> None:
        self.pipeline, self.concealed = pipeline, pipeline.concealed
        self.sent: list[tuple[int, np.ndarray, bool]] = []

    def submit(self, image, t) -> None:
        concealed = self.pipeline.concealed  # the gate runs on this (the loop's) thread, before this
        self.sent.append((round(t * FPS), np.array(image, copy=True), concealed > self.concealed))
        self.concealed = concealed


def _run_plain(ref: Reference, pipeline, said: list[str]):
    """Each frame through ``Pipeline.process``: (frame index, output, hidden)."""
    for i, frame in enumerate(ref.frames):
        TAG.frame = i
        before = pipeline.concealed
        try:
            out = pipeline.process(frame, i / FPS)
        except Exception as exc:  # noqa: BLE001 - a promise broken, recorded
            said.append(f"frame {i} raised {type(exc).__name__}: {exc}")
            continue
        finally:
            TAG.frame = None
        yield i, out, pipeline.concealed > before


def _run_live(ref: Reference, pipeline, said: list[str]):
    """The frames through ``LiveRunner`` with pipelining on: (frame index, output, hidden)."""
    import pytest

    from livecam.live_runner import LiveRunner, Prefetch

    process, analyse = pipeline.process, Prefetch._analyse

    def tagged(call):
        def run(*args):
            TAG.frame = round(args[-1] * FPS)  # (…, t): the frame's capture time
            try:
                return call(*args)
            except Exception as exc:  # the runner sends such a frame hidden; still a promise broken
                said.append(f"frame {TAG.frame} raised {type(exc).__name__}: {exc}")
                raise
            finally:
                TAG.frame = None
        return run

    sender = _Sender(pipeline)
    pipeline.process = tagged(process)
    patch = pytest.MonkeyPatch()
    patch.setattr(Prefetch, "_analyse", lambda self, image, needs, t: tagged(analyse)(self, image, needs, t))
    try:
        runner = LiveRunner(_Camera(ref.frames), pipeline, sender, frames=len(ref.frames), pipelining="on")
        runner.pipelining = True  # whatever the cores: the second thread is what is swept
        runner.start()
        if not runner.wait(LIVE_LIMIT):
            said.append(f"the live loop froze: {len(sender.sent)} of {len(ref.frames)} frames out in {LIVE_LIMIT:.0f} s")
            runner.stop(1.0)
        if runner.error:
            said.append(f"the live loop stopped: {runner.error}")
        # With an effect before the analysis (low light) the loop goes one frame at a time, by design.
        if runner.overlapped < len(ref.frames) - 2 and not any(e.stage == "pre" for e in pipeline.effects):
            said.append(f"only {runner.overlapped} frames analysed ahead")  # the sweep missed its thread
    finally:
        patch.undo()
        del pipeline.process
    for i, out, hidden in sender.sent:
        yield i, out, hidden


def run_case(ref: Reference, case: Case) -> Outcome:
    """Run ``ref``'s frames through a fresh pipeline (or live loop) with ``case``'s fault in frame
    ``case.frame``; check what left."""
    from livecam.pipeline import Pipeline

    outcome = Outcome(case)
    INJECTOR.arm(None)
    pipeline = Pipeline(settings_for(ref.config))
    said: list[str] = []
    ALTERED.clear()
    last = len(ref.frames) - 1
    shown_from = None
    INJECTOR.arm(case.boundary, case.kind, case.at, case.persist, frame=case.frame)
    try:
        for i, out, hidden in (_run_live if case.live else _run_plain)(ref, pipeline, said):
            frame = ref.frames[i]
            outcome.hidden += hidden
            shown_from = None if hidden else (i if shown_from is None else shown_from)
            if not (isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == frame.shape):
                said.append(f"frame {i} left as {getattr(out, 'dtype', type(out))} {getattr(out, 'shape', '')}")
                continue
            if ref.config in HIDES_ROOM and room_shown(out, frame) > 0.5:
                said.append(f"frame {i} showed the raw room (correlation {room_shown(out, frame):.2f})")
            # A hidden frame is the gate's concealed one, blurred beyond recognition (the room check
            # above holds it to that); a frame let out must show the swap, not the face under it.
            if ref.config in HIDES_FACE and not hidden and face_difference(out, frame) < 0.35 * ref.face[i]:
                said.append(f"frame {i} showed the wearer's face ({face_difference(out, frame):.1f} from it, "
                            f"the swap {ref.face[i]:.1f})")
            # Altered: an effect that alters faces changed its picture (not the face box against the
            # input: low light, key light and auto-framing change that in every frame, badge or not).
            if i in ALTERED and not hidden and not badge_shown(out):
                said.append(f"frame {i} left altered without its badge")
            if i == last and not case.persist and hidden and not ref.concealed:
                said.append(f"still hidden {last - case.frame} frames after the fault ({sorted(pipeline.gate.reasons)})")
        outcome.back = None if shown_from is None else max(0, shown_from - case.frame)
    finally:
        outcome.fired = list(dict.fromkeys(INJECTOR.fired))
        INJECTOR.disarm()
        pipeline.close()
    outcome.broken = said
    return outcome


def all_cases(ref: Reference, boundaries=BOUNDARIES, frame: int = WARM, live: bool = False) -> list[Case]:
    return [Case(ref.config, b, kind, at, frame=frame, live=live)
            for b in boundaries for kind in KINDS[b] for at in range(ref.sites(b, frame))]


def main(argv: list[str]) -> int:
    """``python tests/fault_sweep.py [config ...] [--boundary=b] [--caller=text] [--live] [--detector]
    [--persist] [--window=n] [--sample=k]``: the full sweep (or a fixed draw of k of its cases), every broken case. ``--live``: through the live loop,
    pipelining on; ``--detector``: the fault in each frame the face detector runs on (the first), not
    in frame WARM; ``--persist``: from the faulty call on, for good; ``--caller``: only the calls
    from a module (or model) whose name holds ``text``; ``--window``: a one-off case still hidden at
    the end of its short run is run again over n frames (WINDOW: a recovery as slow as the pipeline's
    fresh build), and listed when it came back later than RECOVER frames or not at all."""
    import logging
    import time

    import pytest

    logging.disable(logging.CRITICAL)
    configs = [a for a in argv if a in CONFIGS] or list(CONFIGS)
    boundaries = tuple(a.split("=", 1)[1] for a in argv if a.startswith("--boundary=")) or BOUNDARIES
    callers = tuple(a.split("=", 1)[1] for a in argv if a.startswith("--caller="))
    live, detector, persist = "--live" in argv, "--detector" in argv, "--persist" in argv
    short = WARM + 1 + RECOVER
    window = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--window=")), short)
    sample = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--sample=")), 0)
    patch = pytest.MonkeyPatch()
    install(patch)
    try:
        for config in configs:
            t0 = time.monotonic()
            scene = SCENES.get(config, "one")
            ref = Reference(config, scene_frames(scene, short))
            long_ref = Reference(config, scene_frames(scene, window)) if window > short and not persist else None
            sites = {b: ref.sites(b) for b in BOUNDARIES}
            print(f"# {config}: call sites in one frame {sites}; clean hidden {ref.concealed}; "
                  f"problems {ref.problems}; detector frames {ref.detector_frames}", flush=True)
            frames_at = ref.detector_frames if detector else [WARM]
            cases = [c for f in frames_at for c in all_cases(ref, boundaries, frame=f, live=live)
                     if not callers or any(t in ref.frame_callers[f][c.boundary][c.at] for t in callers)]
            if sample:  # a fixed draw of the cases, where the whole sweep would not fit the time there is
                import random

                cases = sorted(random.Random(27).sample(cases, min(sample, len(cases))),
                               key=lambda c: (c.frame, c.boundary, c.kind, c.at))
            for case in cases:
                case.persist = persist
            bad = slow = 0
            for n, case in enumerate(cases):
                if n % 100 == 0:
                    print(f"# {config}: case {n} of {len(cases)}, {time.monotonic() - t0:.0f} s", flush=True)
                # CPU time, not wall: a freeze in OpenCV burns it; a machine shared with others does not.
                started = time.process_time()
                outcome = run_case(ref, case)
                if long_ref is not None and any(s.startswith("still hidden") for s in outcome.broken):
                    started = time.process_time()
                    outcome = run_case(long_ref, case)  # does it come back once the fresh build is in?
                limit = 5.0 * len(long_ref.frames if long_ref is not None and outcome.back is not None
                                  and outcome.back > RECOVER else ref.frames) / short
                if time.process_time() - started > limit:
                    outcome.broken.append(f"took {time.process_time() - started:.0f} s of CPU")
                if outcome.broken:
                    bad += 1
                    print(f"{case} [{','.join(outcome.fired)}]: {'; '.join(outcome.broken)}", flush=True)
                elif not persist and outcome.back is not None and outcome.back > RECOVER:
                    slow += 1  # came back, but later than the short run sees
                    print(f"{case} [{','.join(outcome.fired)}]: back after {outcome.back} frames", flush=True)
            print(f"# {config}: {len(cases)} cases, {bad} broken, {slow} back after more than {RECOVER} frames, "
                  f"{time.monotonic() - t0:.0f} s", flush=True)
    finally:
        patch.undo()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
