"""Stand-ins for the two ends of the live loop, for driving ``LiveRunner`` in tests: a camera that
always has the next frame of a list ready (processing is the slow part), a sender that keeps
what it is handed, an output that keeps what it sends, the bases of the OpenCV captures and
pyvirtualcam backends the tests make, a virtual camera that comes late, a call app watching one,
and faults injected into the models' answers."""
from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from livecam import devices, pacing, sinks
from livecam.capture import Frame, FrameSource
from livecam.sinks import NullOutput


class ReadyCamera:
    """A camera that always has the next frame ready, then repeats the last one."""

    def __init__(self, frames):
        self.frames = frames

    def latest(self, after=-1, timeout=0.5):
        i = min(after + 1, len(self.frames) - 1)
        return Frame(self.frames[i], i, float(i) / 30)


class ListSender:
    """Keeps each frame handed over and its capture time."""

    def __init__(self):
        self.frames, self.times = [], []

    def submit(self, image, t):
        self.frames.append(image)
        self.times.append(t)


class RecordingOutput(NullOutput):
    """The null output (the real frame checks), keeping each frame it sends in ``got``."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.got: list[np.ndarray] = []

    def _send(self, image: np.ndarray) -> None:
        super()._send(image)
        self.got.append(image)


class ClosedOutput(RecordingOutput):
    """A virtual camera stand-in that says when it was closed (``closed_at``) and how many frames it
    was handed after that (``after_close``)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.closed_at: float | None = None
        self.after_close = 0

    def _send(self, image: np.ndarray) -> None:
        if self.closed_at is not None:
            self.after_close += 1
        super()._send(image)

    def close(self) -> None:
        self.closed_at = time.monotonic()
        super().close()


def kept_outputs(kind=RecordingOutput):
    """(opened, open_output): an ``open_output`` for ``LiveBridge`` that opens a ``kind`` output of
    the size and fps asked for (no recording), and the list of every output it opened."""
    opened: list = []

    def open_output(settings, width: int, height: int):
        opened.append(kind(width, height, settings.output.fps))
        return opened[-1], None

    return opened, open_output


class BackendDouble:
    """The calls of a pyvirtualcam backend (see pyvirtualcam.camera.Backend) that every stand-in
    answers alike; a subclass adds ``__init__`` and ``send`` (and ``close`` where it does more).
    ``_device`` names the device it says it opened; a subclass sets its own."""

    _device = "/dev/video-test"
    closed = False

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return None  # no format of its own: pyvirtualcam converts the BGR frames it is sent


class LateDevice(BackendDouble):
    """A pyvirtualcam backend whose device is not there (no v4l2loopback yet) until ``there`` is set; with
    ``hang`` set, an open that finds it blocks in the driver until ``release`` is set (``hanging`` says one
    got that far). ``tries`` counts the opens, ``instances`` keeps the opened ones; ``path`` is the device
    node it says it opened. See :func:`late_device`."""

    path = "/dev/video-late"
    there = False
    hang = False
    tries = 0
    instances: list[LateDevice] = []
    release = threading.Event()
    hanging = threading.Event()

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        LateDevice.tries += 1
        if not LateDevice.there:
            raise RuntimeError("No v4l2 loopback device found at /dev/video[0-99]")
        if LateDevice.hang:
            LateDevice.hanging.set()
            LateDevice.release.wait(30)
        self.frames = 0
        self.closed = False
        LateDevice.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames += 1

    def device(self) -> str:
        return LateDevice.path


@contextlib.contextmanager
def late_device(monkeypatch, tmp_path: Path, backend: str, device: str):
    """:class:`LateDevice`, afresh, as the default pyvirtualcam backend ``backend`` saying it opened ``device``,
    with no real device and no display (the stand-in while it is awaited is the null output) and a quick
    reopen back-off; its hung opens are released and the backend dropped after the block."""
    import pyvirtualcam
    from pyvirtualcam.camera import BACKENDS

    monkeypatch.setattr(devices, "SYSFS_ROOT", tmp_path / "sys")  # no real devices leak in
    monkeypatch.setattr(sinks, "_default_backend", lambda: backend)
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_START_S", 0.02)
    monkeypatch.setattr(pacing, "REOPEN_BACKOFF_MAX_S", 0.1)
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    LateDevice.path, LateDevice.there, LateDevice.hang, LateDevice.tries = device, False, False, 0
    LateDevice.instances = []
    LateDevice.release, LateDevice.hanging = threading.Event(), threading.Event()
    pyvirtualcam.register_backend(backend, LateDevice)
    try:
        yield LateDevice
    finally:
        LateDevice.release.set()
        BACKENDS.pop(backend, None)


class CaptureDouble:
    """The calls of a ``cv2.VideoCapture`` that ``CameraSource`` makes, answered alike; a subclass gives
    ``_next()``, what each read hands back, at ``fps`` reads a second."""

    fps = 100

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def set(self, *args: Any) -> bool:
        return True

    def release(self) -> None:
        pass

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(1 / self.fps)
        return self._next()

    def _next(self) -> tuple[bool, np.ndarray | None]:
        raise NotImplementedError


class Reader:
    """Another process that holds ``path`` open (as a call app holds the camera) until closed; ``opened``
    is when it had it open."""

    def __init__(self, path: Path) -> None:
        from livecam import idle

        self.proc = subprocess.Popen(["sh", "-c", 'exec 3<"$1"; read line', "sh", str(path)],
                                     stdin=subprocess.PIPE)
        assert until(lambda: self.proc.pid in idle.openers(str(path)), 5)
        self.opened = time.monotonic()

    def close(self) -> None:
        self.proc.communicate(b"bye\n", timeout=5)


def kept_sources(monkeypatch) -> list:
    """Every source ``capture.open_source`` opens from now on (the real ones), in order."""
    from livecam import capture

    sources: list = []
    real_open = capture.open_source

    def open_source(settings):
        sources.append(real_open(settings))
        return sources[-1]

    monkeypatch.setattr(capture, "open_source", open_source)
    return sources


class StoppedClock:
    """time.monotonic, plus the seconds the process is made to have "not run" (``offset``, or
    ``skip`` from another thread): a process stopped and continued, as its watchdogs see it."""

    def __init__(self, monkeypatch) -> None:
        self._real = time.monotonic
        self.offset = 0.0
        monkeypatch.setattr(time, "monotonic", self)  # threading keeps its own reference: real waits stay real

    def __call__(self) -> float:
        return self._real() + self.offset

    def skip(self, seconds: float, after: float = 0.0) -> threading.Thread:
        def go() -> None:
            time.sleep(after)
            self.offset += seconds
        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        return thread


def until(condition, timeout: float = 10.0) -> bool:
    """Whether ``condition()`` comes true within ``timeout`` real seconds (perf_counter: a test's
    StoppedClock moves time.monotonic, not this)."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _strided(o):
    wide = np.zeros(np.shape(o) + (2,), np.asarray(o).dtype)
    wide[..., 0] = o
    return wide[..., 0]


def _read_only(o):
    o = np.array(o)
    o.flags.writeable = False
    return o


# A model's answer in the forms ONNX Runtime may hand over besides a fresh C-ordered float32 array:
# each must leave the same picture (rounds 46 and 49 inject them at ``InferenceSession.run``).
ANSWER_FORMS = {
    "float16": lambda o: np.asarray(o).astype(np.float16),
    "float64": lambda o: np.asarray(o).astype(np.float64),
    "read-only": _read_only,
    "fortran": lambda o: np.asfortranarray(o),
    "strided": _strided,
}


class ModelAnswers:
    """ONNX Runtime's run, the answers of the models whose file names hold one of ``names`` replaced by
    ``answer(outputs)`` while one is set."""

    def __init__(self, monkeypatch, names: tuple[str, ...] = ()) -> None:
        import onnxruntime as ort

        self.answer: Callable[[list], list] | None = None
        self.names = names
        real = ort.InferenceSession.run

        def run(session, *args, **kwargs):
            outs = real(session, *args, **kwargs)
            if self.answer is not None and any(n in session._model_path for n in self.names):
                return self.answer(outs)
            return outs

        monkeypatch.setattr(ort.InferenceSession, "run", run)


class RaisingNowAndThen:
    """A model's answer (see ModelAnswers) that is its genuine one, but raises on the runs numbered n (from 1,
    counted in ``runs``) where n % ``every`` is ``at``."""

    def __init__(self, every: int, at: int) -> None:
        self.every, self.at, self.runs = every, at, 0

    def __call__(self, outs: list) -> list:
        self.runs += 1
        if self.runs % self.every == self.at:
            raise RuntimeError("ORT fault")
        return outs


def differences_in_form(models: ModelAnswers, form: str, pipeline: Callable[[], Any], frames: list) -> list[float]:
    """The mean difference, frame by frame, between what a fresh ``pipeline()`` lets out and what one lets
    out while ``models`` answer in ``form`` (of ANSWER_FORMS); the second one hid none of them."""
    genuine = pipeline()
    expected = [genuine.process(f) for f in frames]
    genuine.close()
    injected = pipeline()
    models.answer = lambda outs: [ANSWER_FORMS[form](o) for o in outs]
    try:
        outs = [injected.process(f) for f in frames]
    finally:
        models.answer = None
        injected.close()
    assert injected.gate.hidden == 0
    return [float(np.abs(out.astype(np.int16) - want).mean()) for out, want in zip(outs, expected)]


class RoomCamera(FrameSource):
    """A camera filming the same room at 30 fps."""

    def __init__(self, room: np.ndarray) -> None:
        super().__init__(room.shape[1], room.shape[0], 30, "room camera")
        self.room = room

    def _run(self) -> None:
        while not self._stop.wait(1 / 30):
            self._publish(self.room.copy())

