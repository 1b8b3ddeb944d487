"""Stand-ins for the two ends of the live loop, for driving ``LiveRunner`` in tests: a camera that
always has the next frame of a list ready (processing is the slow part), a sender that keeps
what it is handed, an output that keeps what it sends, and the base of the pyvirtualcam backends
the tests register."""
from __future__ import annotations

import threading
import time

import numpy as np

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


class RoomCamera(FrameSource):
    """A camera filming the same room at 30 fps."""

    def __init__(self, room: np.ndarray) -> None:
        super().__init__(room.shape[1], room.shape[0], 30, "room camera")
        self.room = room

    def _run(self) -> None:
        while not self._stop.wait(1 / 30):
            self._publish(self.room.copy())


class ModelAnswers:
    """ONNX Runtime's ``run`` patched: the answers of the models whose file names hold one of ``names``
    replaced by ``answer(outputs)`` while one is set (rounds 46, 49 and 52 inject faults there)."""

    def __init__(self, monkeypatch, names: tuple[str, ...] = ()) -> None:
        import onnxruntime as ort

        self.answer = None
        self.names = names
        real = ort.InferenceSession.run

        def run(session, *args, **kwargs):
            outs = real(session, *args, **kwargs)
            if self.answer is not None and any(n in session._model_path for n in self.names):
                return self.answer(outs)
            return outs

        monkeypatch.setattr(ort.InferenceSession, "run", run)
