"""The live loop behind the GUI, kept off the GUI thread.

It is the CLI's loop made of the same pieces (``open_source`` → ``Pipeline`` → ``PacedSender``, run by
``LiveRunner`` on its own thread). Opening and closing them, which can take a second for a camera,
runs on one control thread, one job at a time. The GUI thread only calls non-blocking methods and
gets back Qt signals: the newest before/after frame (never a backlog: if the GUI is busy, older
frames are skipped), stats twice a second, and a state ("on", "off", "starting", "error") with a
plain sentence.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np
from PySide6 import QtCore

from livecam import capture, idle
from livecam import output as outputs
from livecam.gui import relay
from livecam.live_runner import LiveRunner
from livecam.live_session import FRAME_WAIT_S, LiveSession
from livecam.not_running import rate
from livecam.output_gate import promises_more
from livecam.pipeline import Pipeline
from livecam.settings import Settings

log = logging.getLogger(__name__)

STATS_EVERY_S = 0.5
IDLE_SENTENCE = "No app is using the LiveCam camera: the webcam is off until one opens it."
STILL_FINISHING = ("LiveCam is starting: the last frame is still in an effect that has not answered yet; it "
                   "starts as soon as that frame is done.")
FINISHING_POLL_S = 0.1  # how often a start waiting for that frame looks whether it was switched off or quit
POLL_MS = 250

PROVIDER_WORDS = {
    "CPUExecutionProvider": "CPU",
    "CUDAExecutionProvider": "GPU (CUDA)",
    "TensorrtExecutionProvider": "GPU (TensorRT)",
    "DmlExecutionProvider": "GPU (DirectML)",
    "CoreMLExecutionProvider": "Core ML",
}
# Analysis stages in words; each effect's stage is called by its registry label.
ANALYSIS_WORDS = {"preprocess": "prepare", "inference": "segmentation", "refine": "mask edges",
                  "faces": "face tracking"}


def stage_words() -> dict[str, str]:
    from livecam.effects import REGISTRY

    return {**ANALYSIS_WORDS, **{spec.name: spec.label.lower() for spec in REGISTRY}}


STAGE_WORDS = stage_words()


@dataclass(frozen=True)
class FramePair:
    """One processed frame as the GUI sees it."""

    index: int  # frames processed since this run started
    output: np.ndarray  # the full-size frame that went to the output
    before: np.ndarray | None  # preview-size BGR input, None while no preview is wanted
    after: np.ndarray | None  # preview-size BGR output
    settings: Settings  # the settings this frame was processed with
    placeholder: bool  # the "camera disconnected" card, not a processed frame
    session: Any = field(default=None, repr=False, compare=False)  # its session's key: shown only while current


STATS_SEPARATOR = "   |   "


@dataclass(frozen=True)
class LiveStats:
    fps: float  # frames processed per second
    fps_out: float  # frames sent per second (repeats included)
    stages: dict[str, float] = field(default_factory=dict)  # median ms per stage, "total" included
    providers: dict[str, str] = field(default_factory=dict)  # model -> ONNX Runtime provider really used
    latency_ms: float | None = None
    problems: tuple[str, ...] = ()  # what the pipeline cannot do as asked, as plain sentences
    mask: str = ""  # which model makes the person mask and why, one sentence ("" before the first mask)

    def describe(self) -> str:
        return STATS_SEPARATOR.join(self.parts())

    def parts(self) -> list[str]:
        """The line's parts, each kept whole when the line is wrapped (:meth:`describe` joins them)."""
        parts = [f"{self.fps:.1f} fps"]
        stages = [f"{STAGE_WORDS.get(k, k)} {v:.1f}" for k, v in self.stages.items() if k != "total" and v >= 0.05]
        if stages:
            parts.append(" · ".join(stages) + " ms")
        if "total" in self.stages:
            parts.append(f"total {self.stages['total']:.1f} ms")
        if self.latency_ms is not None:
            parts.append(f"latency {self.latency_ms:.0f} ms")
        parts.append(self.provider_words())
        if self.mask:
            parts.append(self.mask)
        return parts

    def provider_words(self) -> str:
        names = sorted({PROVIDER_WORDS.get(p, p.replace("ExecutionProvider", "")) for p in self.providers.values()})
        return "models on " + " + ".join(names) if names else "no model running"


def fit_inside(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrink ``image`` to fit in (w, h) keeping its shape (the preview letterboxes, never crops)."""
    h, w = image.shape[:2]
    scale = min(size[0] / w, size[1] / h, 1.0)
    if scale >= 1.0:
        return image.copy()
    # INTER_AREA is fast only for halving (720p -> 448 wide directly costs ~15 ms, this ~0.5 ms):
    # halve with it while the picture is at least twice the target, which keeps the preview free of
    # aliasing, then take the rest with INTER_LINEAR.
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    while image.shape[1] >= 2 * target[0] and image.shape[0] >= 2 * target[1]:
        image = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return cv2.resize(image, target, interpolation=cv2.INTER_LINEAR)


class _Tap:
    """Stands in for both the source and the sender of a LiveRunner to copy frames and stats out.

    The runner calls ``latest()`` then ``pipeline.process()`` then ``submit()`` on one thread, so the
    input kept by ``latest`` and the output given to ``submit`` belong to the same frame. The input's
    preview copy is made before processing, as effects may draw into the frame they get.
    """

    def __init__(self, bridge: "LiveBridge", source: Any, sender: outputs.PacedSender, pipeline: Pipeline) -> None:
        self.bridge, self.source, self.sender, self.pipeline = bridge, source, sender, pipeline
        self.processed = 0
        self._index = -1
        self._before: np.ndarray | None = None
        self._placeholder = False
        self._times: collections.deque[float] = collections.deque(maxlen=60)
        self._last_stats = 0.0

    def latest(self, after: int = -1, timeout: float = 1.0):
        frame = self.source.latest(after=after, timeout=timeout)
        if frame.index != self._index:
            self._index = frame.index
            self._placeholder = frame.placeholder
            size = self.bridge.preview_size
            self._before = fit_inside(frame.image, size) if size else None
        return frame

    def submit(self, image: np.ndarray, capture_t: float) -> None:
        self.sender.submit(image, capture_t)
        self.processed += 1
        now = time.monotonic()
        self._times.append(now)
        size = self.bridge.preview_size
        after = fit_inside(image, size) if size else None
        self.bridge._publish(
            FramePair(self.processed, image, self._before, after, self.pipeline.effective_settings, self._placeholder,
                      self.sender)
        )
        if now - self._last_stats >= STATS_EVERY_S:
            self._last_stats = now
            self.bridge._publish_stats(self.stats(), self.sender)

    def stats(self) -> LiveStats:
        # Read here, on the processing thread, so the pipeline's timing tables never change mid-read.
        fps = rate(self._times)
        sent = self.sender.stats()
        return LiveStats(
            fps=fps,
            fps_out=sent["fps_out"],
            stages=self.pipeline.stage_ms(),
            providers=self.pipeline.providers(),
            latency_ms=sent["latency_ms_median"],
            problems=tuple(self.pipeline.problems()),
            mask=self.pipeline.analyzer.segmentation_reason,
        )


def _idle_state(live: LiveSession) -> tuple[str, str]:
    """The state line while the camera is paused: idle, unless an app watches and the resume failed (the
    app sees the paused card): then what is wrong, in the session's own sentence ("idle" said nothing)."""
    return ("error", live.problem) if live.problem else ("idle", IDLE_SENTENCE)


@dataclass
class _Session:
    live: LiveSession  # source and runner, paused while no app watches the virtual camera
    output: outputs.Output
    sender: outputs.PacedSender
    output_problem: str | None
    watch: Any = None  # the idle watch (idle.watch_output), None when always on or not a virtual camera


AWAITING = "; LiveCam switches to the virtual camera once it is there."
OPENING = "Opening the virtual camera: call apps can pick LiveCam once it is open."


def _awaited_problem(output: outputs.Output) -> str | None:
    """Why call apps cannot see an awaited virtual camera, once its first open has failed; else None."""
    reason = output.fallback_reason if getattr(output, "awaiting", False) else None
    return reason.rstrip(".") + AWAITING if reason else None


def _open_output(settings: Settings, width: int, height: int) -> tuple[outputs.Output, str | None]:
    """The output the settings ask for, as `livecam run` opens it (outputs.open_output), plus the sentence saying
    why call apps cannot see it yet: a virtual camera that is not there is awaited, with nothing sent meanwhile.

    "preview" means the GUI's own window here, so no second window opens. The virtual camera's first open is not
    waited for (wait=False): a slow driver held the control thread, so the toggle, Quit and the preview, for up
    to sinks.OPEN_LIMIT_S; it runs on the sender's reopen thread, and a failure is picked up by the poll.
    """
    from livecam.output_file import input_files

    o = settings.output
    if o.kind not in ("virtualcam", "file"):
        o = replace(o, kind="null")
    # As in `run`: a recording never replaces the clip, picture or photo it is made from.
    output = outputs.open_output(o, width, height, inputs=input_files(settings), preview=False, wait=False)
    return output, _awaited_problem(output)


def describe_output(output: outputs.Output, problem: str | None, settings: Settings) -> tuple[str, bool]:
    """(sentence, ok) about where frames go, for the settings window and the tray tooltip."""
    if problem:
        return f"Call apps cannot see LiveCam: {problem}", False
    # An awaited camera comes with a problem until it opens (see _camera_opened), once its first open failed.
    if getattr(output, "awaiting", False):
        return OPENING, True
    if isinstance(output, (outputs.VirtualCamOutput, outputs.AwaitedOutput)):
        return f'Sending to the {output.description}: pick "LiveCam" as the camera in your call app.', True
    if settings.output.kind == "file":
        return f"Recording to {output.description}.", True
    if settings.output.kind == "null":
        return "Nothing leaves LiveCam: the output is set to none, so no call app sees the picture.", True
    return "The picture shows only in this window (output is set to preview): no call app sees it.", True


OUTPUT_OFF = "The output opens when LiveCam is on."


def on_sentence(settings: Settings) -> str:
    """What "on" means for this output: only a virtual camera or a recording is seen outside LiveCam."""
    kind = settings.output.kind
    if kind == "null":
        return "LiveCam runs, but its output is set to none."
    if kind == "preview":
        return "LiveCam runs for its preview only."
    return "LiveCam is on."


class LiveBridge(QtCore.QObject):
    state_changed = QtCore.Signal(str, str)  # state, plain sentence
    frame_ready = QtCore.Signal(object)  # FramePair, always the newest
    stats_ready = QtCore.Signal(object)  # LiveStats
    output_changed = QtCore.Signal(str, bool)  # sentence, ok

    def __init__(
        self,
        settings: Settings,
        open_source: Callable[..., Any] = capture.open_source,
        open_output: Callable[[Settings, int, int], tuple[outputs.Output, str | None]] = _open_output,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._open_source = open_source
        self._open_output = open_output
        self._control = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livecam-control")
        self._pipeline: Pipeline | None = None
        self._session: _Session | None = None
        # The live session last stopped while its runner was still inside a frame (a model run stuck until
        # the run guard gives it up): the next start waits for it, as two runners on one pipeline must not be.
        self._finishing: LiveSession | None = None
        # The sender of the session whose frames and stats the GUI shows, None while off: a frame that was
        # stuck in a model run at "off" and came back later was still shown in the preview once (keyed by
        # the session, not by timing, as a quick off and on again reuses no sender).
        self._current: outputs.PacedSender | None = None
        self._want_running = False
        self._closed = False
        # Whether the control thread is making the first pipeline, with no device open yet (see _load).
        self._state_lock = threading.Lock()
        self._loading = False
        self.state, self.message = "off", "LiveCam is off."
        # The newest sentence about where frames go: a settings window opened after the output was
        # opened (the usual first start: tray first, window later) shows it instead of a stale default.
        self.output: tuple[str, bool] = (OUTPUT_OFF, True)
        self.preview_size: tuple[int, int] | None = None  # read by the processing thread
        self.last_frame: FramePair | None = None
        self.last_stats: LiveStats | None = None
        self._mail_lock = threading.Lock()
        self._mail: FramePair | None = None
        self._woken = False
        # The control and processing threads answer through the relay, not through signals of this
        # object: one emitted there while the app deleted the bridge here (Quit while the models load,
        # then the load's "off") reached a half-deleted object (see relay.py).
        relay.on_gui_thread()
        self._poll_timer = QtCore.QTimer(self, interval=POLL_MS)
        self._poll_timer.timeout.connect(self._poll)

    # ------------------------------------------------------------ GUI-thread API (never blocks)
    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def running(self) -> bool:
        return self._want_running

    @property
    def pipeline(self) -> Pipeline | None:
        return self._pipeline

    def start(self) -> None:
        if self._closed or self._want_running:
            return
        self._want_running = True
        self._set_state("starting", "LiveCam is starting…")
        self._submit(self._start_job)

    def stop(self) -> None:
        if self._closed or not self._want_running:
            return
        self._want_running = False
        self._submit(self._stop_job)

    def set_running(self, on: bool) -> None:
        self.start() if on else self.stop()

    def apply_settings(self, settings: Settings) -> None:
        """Use ``settings`` from the next frame on; a new camera or output reopens them (off-thread)."""
        old, self._settings = self._settings, settings
        if self._closed:
            return  # a choice taken at quit (``SettingsStore.settle``): saved, not built into a closed pipeline
        pipeline, session = self._pipeline, self._session
        if pipeline is not None:
            pipeline.apply(settings)
            if session is not None and promises_more(old, settings):
                # The frame repeated and the one being processed were made before the choice.
                session.sender.withdraw(time.monotonic(), pipeline.gate.safe)
        if self._want_running and (old.capture != settings.capture or old.output != settings.output):
            self._set_state("starting", "LiveCam is switching to the new camera or output…")
            self._submit(self._restart_job)

    def set_preview_size(self, size: tuple[int, int] | None) -> None:
        """Make preview copies of at most ``size`` (w, h) for each frame; None stops making them."""
        self.preview_size = size

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Release the camera, the virtual camera and the models; blocks up to ``timeout`` s (Quit)."""
        if self._closed:
            return True
        with self._state_lock:
            self._closed = True
            self._want_running = False
            loading = self._loading
        self._poll_timer.stop()
        future = self._control.submit(self._shutdown_job)
        self._control.shutdown(wait=False)
        if loading:
            # Nothing is open yet to release: the load finishes on its own thread, opens nothing, and
            # the shutdown job queued behind it closes what it made.
            log.info("LiveCam quits while its models are still loading.")
            return True
        try:
            future.result(timeout)
            return True
        except FutureTimeout:
            log.error("LiveCam could not release the camera within %.0f s; quitting anyway.", timeout)
            return False

    # ------------------------------------------------------------ control thread
    def _submit(self, job: Callable[[], None]) -> Future:
        return self._control.submit(self._guarded, job)

    def _answer_state(self, state: str, message: str) -> None:
        relay.answer(self._set_state, state, message)

    def _guarded(self, job: Callable[[], None]) -> None:
        try:
            job()
        except outputs.OutputError as exc:  # a recording LiveCam may not make: its sentence says why, no traceback
            log.error("%s", exc)
            self._answer_state("error", f"LiveCam could not start: {exc}")
        except Exception as exc:  # a job must never die silently and leave the GUI saying "starting"
            log.exception("LiveCam control job failed")
            self._answer_state("error", f"LiveCam could not start: {exc}")

    def _start_job(self) -> None:
        if not self._want_running or self._session is not None or not self._last_frame_done():
            return
        settings = self._settings
        if self._pipeline is None and not self._load(settings):
            return
        try:
            source = self._open_source(settings.capture)
        except capture.CaptureError as exc:
            self._answer_state("error", str(exc))
            return
        source.start()
        try:
            self._pipeline.apply(self._settings)  # the newest, should a change have come in meanwhile
            self._pipeline.reset_temporal()  # a new (or reopened) source: no mask history from the last one
            width, height = source.size
            output, problem = self._open_output(settings, width, height)
        except Exception:
            source.close()
            raise
        sender = outputs.PacedSender(output, settings.output.fps).start()
        pipeline = self._pipeline
        self.last_stats = None  # the last session's: its fps and problems are not this one's
        self._current = sender  # before its runner starts: its first frame is shown

        def make_runner(src: Any, frames: int) -> LiveRunner:
            tap = _Tap(self, src, sender, pipeline)  # stands in for source and sender to copy frames out
            return LiveRunner(tap, pipeline, tap, frames=frames)

        live = LiveSession(settings.capture, source, pipeline, sender, 0, make_runner=make_runner,
                           open_source=self._open_source)
        session = _Session(live, output, sender, problem)
        self._session = session

        def viewers_changed(watched: bool, t: float) -> None:  # the watch thread
            live.viewers_changed(watched, t)
            self._submit(lambda: self._follow_viewers(session))

        session.watch = idle.watch_output(output, settings.output.always_on, viewers_changed)
        log.info("Source: %s; output: %s", source.description, output.description)
        if getattr(output, "awaiting", False):
            output.when_open(lambda: relay.answer(self._camera_opened, session))
        elif problem:  # open_output said an awaited camera's
            log.warning("%s", problem)
        relay.answer(self._set_output, *describe_output(output, problem, settings))
        self._answer_state("on", on_sentence(settings))

    def _last_frame_done(self) -> bool:
        """Wait for the frame a stopped runner is still inside; False when switched off or quit meanwhile.

        Switching off leaves such a frame on its thread, so the camera and the virtual camera go at once
        (waited for, they stayed for the runner's 5 s); a start made meanwhile waits here, saying why."""
        live = self._finishing
        if live is not None and live.finishing:
            self._answer_state("starting", STILL_FINISHING)
            while not live.wait_finished(FINISHING_POLL_S):
                if not self._want_running or self._closed:
                    return False
        self._finishing = None
        return True

    def _load(self, settings: Settings) -> bool:
        """Make the pipeline before the camera opens; False when LiveCam was switched off or quit meanwhile.

        The first start loads the models, and numba compiles its loops on the first start after an
        install: seconds, during which Quit waited for the bridge's whole timeout. Done before any
        device opens, it holds nothing Quit must release, so Quit does not wait for it."""
        with self._state_lock:
            if self._closed:
                return False
            self._loading = True
        try:
            # Pictures, photos and models for a changed setting load on the pipeline's own builder
            # thread, so a change never stalls the frames going out.
            self._pipeline = Pipeline(settings, background_builds=True)
        finally:
            with self._state_lock:
                self._loading = False
                wanted = self._want_running and not self._closed
        return wanted

    def _follow_viewers(self, session: _Session) -> None:
        """On the control thread: pause or resume as the last viewer change asked."""
        if session is not self._session:
            return
        was_idle, was_problem = session.live.idle, session.live.problem
        session.live.follow_viewers()
        if session.live.idle and (not was_idle or session.live.problem != was_problem):
            self._answer_state(*_idle_state(session.live))
        elif was_idle and not session.live.idle:
            self._answer_state("on", on_sentence(self._settings))

    def _stop_job(self) -> None:
        self._current = None  # nothing this session still makes is shown from here on
        session, self._session = self._session, None
        if session is not None:
            if session.watch is not None:
                session.watch.close()
            session.live.close(frame_wait=FRAME_WAIT_S)
            if session.live.finishing:
                self._finishing = session.live
            session.sender.stop()
            session.output.close()  # a recording is finished here and can still fail (disk full)
            if getattr(session.output, "error", None):
                self._answer_state("error", session.output.error)
                return
        if not self._want_running:
            self._answer_state("off", "LiveCam is off: the camera and the virtual camera are released.")

    def _restart_job(self) -> None:
        if self._session is not None:
            self._stop_job()
        self._start_job()

    def _shutdown_job(self) -> None:
        self._stop_job()  # a runner still inside a stuck model run is left to end alone: no start follows
        if self._pipeline is not None:
            self._pipeline.close()

    # ------------------------------------------------------------ processing thread → GUI thread
    def _publish(self, pair: FramePair) -> None:
        if pair.session is not self._current:
            return  # a frame of a session already stopped: it must not replace the current one's
        with self._mail_lock:
            self._mail = pair
            wake = not self._woken
            self._woken = True
        if wake:
            relay.answer(self._deliver)

    def _publish_stats(self, stats: LiveStats, session: Any) -> None:
        if session is self._current:
            self.last_stats = stats

    def _deliver(self) -> None:
        with self._mail_lock:
            pair, self._mail = self._mail, None
            self._woken = False
        # Checked again here, on the GUI thread: the session may have stopped since it was published.
        if pair is not None and pair.session is self._current and not self._closed:
            self.last_frame = pair
            self.frame_ready.emit(pair)

    # ------------------------------------------------------------ GUI thread
    def _set_state(self, state: str, message: str) -> None:
        if state == "on" and not self._want_running:
            return  # a start finished after the user switched off; the stop job reports "off"
        if state in ("on", "starting", "idle"):
            self._poll_timer.start()
        elif state == "off":
            self._poll_timer.stop()
        if (state, message) != (self.state, self.message):
            self.state, self.message = state, message
            self.state_changed.emit(state, message)
        if state == "off":
            self._set_output(OUTPUT_OFF, True)
            self.last_frame = None  # a window shown later says "off", not the last session's picture

    def _camera_opened(self, session: _Session) -> None:
        """The awaited virtual camera opened: call apps see LiveCam now (its problem and the output's sentence go)."""
        if session is not self._session:
            return
        session.output_problem = None
        self._set_output(*describe_output(session.output, None, self._settings))

    def _set_output(self, sentence: str, ok: bool) -> None:
        if (sentence, ok) != self.output:
            self.output = (sentence, ok)
            self.output_changed.emit(sentence, ok)

    def _poll(self) -> None:
        session = self._session
        if session is None:
            return
        stats = self.last_stats
        if stats is not None:
            self.stats_ready.emit(stats)
        if not session.live.settled:
            self._submit(lambda: self._follow_viewers(session))  # e.g. idle waited for the first frame out
        if session.output_problem is None:
            problem = _awaited_problem(session.output)  # the first open failed, on the sender's reopen thread
            if problem:  # said in the log by the output itself
                session.output_problem = problem
                self._set_output(*describe_output(session.output, problem, self._settings))
        if session.live.idle:
            self._set_state(*_idle_state(session.live))
            return
        problems = []
        runner = session.live.runner
        if runner is not None and runner.done.is_set():
            problems.append(runner.error or "Processing stopped; turn LiveCam off and on again.")
        for part in (session.live.source, session.sender):
            if getattr(part, "error", None):
                problems.append(part.error)
        if session.output_problem:
            problems.append(session.output_problem)
        if stats is not None:
            problems.extend(stats.problems)
        if problems:
            self._set_state("error", " ".join(problems))
        else:
            self._set_state("on", on_sentence(self._settings))
