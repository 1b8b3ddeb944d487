"""The output frame clock: :class:`PacedSender` gives call apps a steady fps whatever the processing speed.

The last frame is repeated when processing is late, stale frames are dropped when it is early, and
a picture that has not changed for ``CATCH_UP_AFTER_S`` (a stalled effect; on a machine that makes
frames slowly, CATCH_UP_SPACINGS of the time its frames take) is replaced by a
"catching up" card, so nobody watches a frozen room. Nothing in LiveCam calls ``time.sleep``: the
sender paces with :class:`livecam.capture.FrameClock`, which waits on an Event.

No output can block the clock: frames are handed to the output on a sink thread of their own, one
at a time; a tick that finds it still busy is counted as late (a recording then shows the previous
frame a little longer: it keeps real time through its timestamps), and a send that takes longer
than ``SINK_DEADLINE_S`` drops the output with a sentence while the stream goes on.
The sender also owns what happens when the output breaks: a lost virtual camera is closed and
reopened with back-off (``state`` "reopening", ``status`` says so in words), and one not there at the start
is tried the same way while its stand-in gets the frames (sinks.AwaitedOutput); a recording that
cannot go on (disk full) stops the sender for good (``state`` "failed", ``failed`` is set).
"""

from __future__ import annotations

import collections
import logging
import math
import statistics
import threading
import time
from typing import Any, Literal

import numpy as np

from livecam.capture import FrameClock, placeholder_image
from livecam.messages import shown
from livecam.not_running import not_running_for, rate, resumed_at
from livecam.oneshot import OneShot
from livecam.sinks import Output, OutputFailed

log = logging.getLogger("livecam.output")

SenderState = Literal["starting", "sending", "reopening", "paused", "failed"]
REOPEN_BACKOFF_START_S = 0.5
REOPEN_BACKOFF_MAX_S = 8.0
SINK_DEADLINE_S = 3.0  # an output whose send takes longer than this has hung
CATCH_UP_AFTER_S = 1.0  # no new frame for this long: the card replaces the frozen picture
# ... or for this many of the frames' own usual spacing, where that is longer: on a slow machine that
# makes a frame every second or two, a card between every two frames would flash, not tell of a stall.
CATCH_UP_SPACINGS = 4
CATCH_UP_MAX_S = 10.0  # however slow the frames have come, a picture this old is a stall
CATCHING_UP_TEXT = "catching up - one moment"  # Hershey fonts are ASCII-only


class _SinkThread:
    """Calls ``output.send`` on its own thread, one frame at a time, and notes when a send hangs."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.failure: Exception | None = None
        self.sent = 0
        self.last_sent_at: float | None = None
        self._cond = threading.Condition()
        self._slot: tuple[np.ndarray, float] | None = None
        self._busy_since: float | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="livecam-sink", daemon=True)
        self._thread.start()

    def offer(self, image: np.ndarray, t: float, wait: float = 0.0) -> bool:
        """Hand ``image`` over unless the last one is still being sent (waiting up to ``wait`` s for it)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._idle(), wait):
                return False
            self._slot = (image, t)
            self._busy_since = time.monotonic()
            self._cond.notify_all()
        return True

    def _idle(self) -> bool:
        return self._slot is None and self._busy_since is None

    def hung_for(self, now: float) -> float:
        busy = self._busy_since
        return 0.0 if busy is None else now - busy

    def excuse(self, now: float) -> None:
        """The process did not run until ``now``: a send in flight is timed from here, not from before."""
        with self._cond:
            if self._busy_since is not None:
                self._busy_since = max(self._busy_since, now)

    def drain(self, timeout: float) -> bool:
        """Wait until the frame handed over last has gone out; False if it did not in time."""
        with self._cond:
            return self._cond.wait_for(self._idle, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._slot is not None or self._closed)
                if self._slot is None:
                    return
                image, t = self._slot
                self._slot = None
            try:
                self.output.send(image, t)
            except Exception as exc:  # the sender decides what a failure means, on its own thread
                with self._cond:
                    self.failure = exc
                    self._busy_since = None
                    self._cond.notify_all()
                return
            with self._cond:
                self.sent += 1
                self.last_sent_at = time.monotonic()
                self._busy_since = None
                self._cond.notify_all()


class PacedSender:
    """Sends the newest submitted frame to ``output`` at a fixed fps on its own thread.

    ``submit`` never blocks and keeps only the newest frame. Each tick sends it; if nothing new
    came since the last tick the previous frame is sent again (a repeat), so call apps see a
    steady rate, and after ``CATCH_UP_AFTER_S`` without a new frame a "catching up" card goes out
    instead. Pacing is a fixed-period monotonic clock waited on an Event, so the time ``send``
    itself takes is absorbed. (pyvirtualcam's ``sleep_until_next_frame`` is not used: after a
    pause or a lost device its fps estimate makes it send hundreds of frames back to back.)
    ``stop()`` sends a frame still pending, then ends the thread; closing the output is left to
    its owner.

    Trouble with the output is visible in ``state`` and, in words, in ``status`` (None while all is
    well; ``error`` is the same sentence, for front ends that show problems):

    - "reopening": a recoverable output (the virtual camera) failed or hung; its handle is closed
      (or, when hung, dropped) and reopened with back-off, 0.5 s doubling to 8 s, until it is back.
    - "failed": any other output failed or hung (a recording on a full disk); the thread ends and
      ``failed`` is set, so the front end can stop with the sentence and a non-zero exit.
    - "paused": :meth:`pause` was called because nobody watches; nothing is sent until
      :meth:`resume` and a newly submitted frame.
    """

    def __init__(self, output: Output, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.output = output
        self.fps = float(fps)
        self.state: SenderState = "starting"
        self.status: str | None = None
        self.failed = threading.Event()
        self.reopen_attempts = 0  # attempts in the current outage
        self.resume_latency_s: float | None = None  # app opened the camera -> first frame out, last resume
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: tuple[np.ndarray, float] | None = None
        self._current: np.ndarray | None = None
        self._current_is_card = False  # a pause card is repeated as it is, never replaced
        self._current_t = math.inf  # the current frame's capture time; inf once it went through _hide
        self._withdrawn_before = -math.inf  # frames captured up to here go out only through _hide
        self._hide: Any = None
        self._pending_is_card = False
        self._fresh_at = 0.0  # when the current frame came in
        self._spacing: collections.deque[float] = collections.deque(maxlen=15)  # s between new frames
        self._catch_up_card: np.ndarray | None = None
        self._paused = False
        self._resume_since: float | None = None
        self._next_reopen = 0.0
        self._reopening: OneShot | None = None  # a reopen in flight, output.reopen() beside the sender
        self._reopen_told = False  # said once that the reopen in flight has not returned in time
        self._reopen_seen = 0.0  # time.monotonic() when the reopen in flight was last looked at
        self._reopen_delay = REOPEN_BACKOFF_START_S
        self._reopened = False  # reopened, and the output has not yet failed again
        self._back_at = 0.0  # time.monotonic() of the last reopen that worked
        self._back_sent = 0  # the sink's count of frames taken then
        self._flap_told: str | None = None  # the flap said once (see _flap), until the output is back for good
        self._flap_losses = 0  # losses in the flap going on
        self._sent = 0
        self._repeats = 0
        self._dropped = 0
        self._late = 0  # ticks whose frame could not go out because the output was still busy
        # Frames made and never sent: replaced while held back by a busy output. Not ``_late``, which
        # also counts the repeat ticks that lose nothing (a slow recording said 1000 of 1000 were lost).
        self._left_out = 0
        self._pending_held = False  # the pending frame found the output busy at a tick
        self._catching_up = 0  # ticks that sent the catching-up card
        self._send_times: collections.deque[float] = collections.deque(maxlen=max(2, int(2 * fps)))
        self._latencies: collections.deque[float] = collections.deque(maxlen=120)
        self._thread: threading.Thread | None = None
        self._sink = _SinkThread(output)
        # Its first open has just failed: the next try after the first back-off. One not tried yet (no reason
        # given, see open_output's wait) is tried at the first tick.
        if self._awaiting() and output.fallback_reason:
            self._next_reopen = time.monotonic() + self._reopen_delay

    def _awaiting(self) -> bool:
        """The output stands in for a virtual camera that is not there yet (sinks.AwaitedOutput): frames go to the
        stand-in while the camera is tried, as a lost one is reopened, with back-off."""
        return getattr(self.output, "awaiting", False)

    @property
    def error(self) -> str | None:
        """The sentence about a lost or failed output, or None (paused is not a problem)."""
        return self.status if self.state in ("reopening", "failed") else None

    def start(self) -> PacedSender:
        if self._thread is None:
            thread = threading.Thread(target=self._run, name="livecam-sender", daemon=True)
            thread.start()  # kept once it runs, as the capture's thread
            self._thread = thread
        return self

    def submit(self, image: np.ndarray, capture_t: float) -> None:
        """Hand over a processed frame and its capture time (``time.monotonic()``); never blocks."""
        self.output.check(image)  # wrong frames fail here, in the caller's thread, with a clear message
        with self._lock:
            if self._paused:
                return  # a frame finished while pausing: nobody is watching it
            if self._pending is not None:
                self._dropped += 1
                if self._pending_held:
                    self._left_out += 1
            self._pending = (image, capture_t)
            self._pending_held = False
        self._wake.set()

    def pause(self, last: np.ndarray | None = None) -> None:
        """Stop sending (nobody watches); the output stays open. Frames submitted meanwhile are dropped.

        ``last`` (e.g. a "starting the camera" card) is sent once before the pause and repeated
        after :meth:`resume` until a new frame comes: a virtual camera hands its last frame to the
        next app that opens it, which must not be a picture of the room from before the pause.
        """
        if last is not None:
            self.output.check(last)
        with self._lock:
            self._paused = True
            self._current = None  # on resume, no stale frame goes out
            self._pending = None if last is None else (last, time.monotonic())
            self._pending_is_card = last is not None
            self._pending_held = False
            if self.state not in ("failed", "reopening"):
                self.state, self.status = "paused", None
        self._wake.set()

    def withdraw(self, before: float, hide: Any) -> None:
        """Frames captured up to ``before`` (``time.monotonic()``) were made under settings that hid less
        than the user now chose: from now on they go out only through ``hide`` (which must not raise).

        Without this the repeat, and a frame still being processed under the old settings, kept the
        room going out after the user turned on an effect that hides it, until the next frame made
        under the new settings came: with that effect's first model run hanging or slow, for the
        catch-up card's 1-10 s."""
        with self._lock:
            self._withdrawn_before = max(self._withdrawn_before, before)
            self._hide = hide
        self._wake.set()

    def resume(self, since: float | None = None) -> None:
        """Send again from the next submitted frame. ``since``: when the app opened the camera
        (``time.monotonic()``), to measure ``resume_latency_s``."""
        with self._lock:
            self._paused = False
            self._resume_since = since if since is not None else time.monotonic()
            self._send_times.clear()  # fps_out is measured afresh, not across the pause
            if self.state == "paused":
                self.state = "starting"
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is pending and end the thread, within ``timeout`` s whatever the output does."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        reopening = self._reopening
        if reopening is not None and not self._awaiting():
            # Its owner closes the output next: not before a reopen in flight is done (an awaited camera that
            # opens after the close is let go by the output itself).
            reopening.done.wait(max(0.0, deadline - time.monotonic()))
        if not self._sink.drain(max(0.0, deadline - time.monotonic())):
            if hasattr(self.output, "deadline_s"):
                pass  # it bounds its own sends (a recording); its close() waits for or stops the last one
            else:
                log.warning("The %s did not take the last frame in time; it was dropped.", self.output.description)
                self.output.abort()
        self._sink.close()

    def __enter__(self) -> PacedSender:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """fps_out (over the last ~2 s), frames_sent, repeats, dropped, late (ticks the output was
        still busy, repeats included), left_out (frames made and never sent because the output was
        busy), catching_up (ticks that showed the card), latency_ms_median (or None), state
        and status."""
        with self._lock:
            times = list(self._send_times)
            latencies = list(self._latencies)
            sent, repeats, dropped, late = self._sent, self._repeats, self._dropped, self._late
            left_out = self._left_out
            state, status, catching_up = self.state, self.status, self._catching_up
        fps_out = rate(times)
        if state in ("paused", "reopening", "failed"):
            fps_out = 0.0
        return {
            "fps_out": fps_out,
            "frames_sent": sent,
            "repeats": repeats,
            "dropped": dropped,
            "late": late,
            "left_out": left_out,
            "catching_up": catching_up,
            "latency_ms_median": 1000 * statistics.median(latencies) if latencies else None,
            "state": state,
            "status": status,
        }

    def _run(self) -> None:
        clock = FrameClock(self.fps, self._stop)
        ran_at = time.monotonic()
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                idle = self._pending is None and (self._paused or self._current is None)
            if idle:  # nothing to send yet (start, or paused): wait without ticking
                self._wake.wait()
                clock = FrameClock(self.fps, self._stop)
                ran_at = time.monotonic()
                continue
            now = time.monotonic()
            if not_running_for(ran_at, clock.period, now):
                # This thread did not run for a second or more (the process was stopped and
                # continued, a paused VM): nor did the send in flight, which would otherwise be
                # judged hung the moment the process went on and the output dropped (a recording
                # ended for good), nor a reopen in flight.
                self._sink.excuse(now)
                reopening = self._reopening
                if reopening is not None:
                    reopening.excuse(now)
            ran_at = now
            if self._check_sink(now):
                return
            if self.state == "reopening":
                self._try_reopen()
                if not clock.wait():
                    break
                continue
            self._tick()
            if self._awaiting() or self._reopening is not None:  # an awaited camera tried, or its open collected
                self._try_reopen()
            if not clock.wait():
                break
        if self._pending is not None and self.state not in ("reopening", "failed"):
            # The last frame handed over still goes out (an N-frame file run gets all N).
            self._tick(wait=max(0.0, self._deadline() - self._sink.hung_for(time.monotonic())))
            self._sink.drain(self._deadline())
            self._check_sink()
        with self._lock:
            if self._pending is not None and not self._pending_is_card:
                self._left_out += 1  # made, and the output never took it

    def _check_sink(self, now: float | None = None) -> bool:
        """Act on a send that failed or hung; True once the sender has failed for good."""
        sink = self._sink
        if sink.failure is not None:
            self._output_broke(sink.failure)
        elif sink.hung_for(time.monotonic() if now is None else now) > self._deadline():
            self._output_hung()
        return self.state == "failed"

    def _tick(self, wait: float = 0.0) -> bool:
        """Send the newest frame, or repeat the previous one; True when the output took it."""
        now = time.monotonic()
        with self._lock:
            pending, self._pending = self._pending, None
            self._pending_held = False
            if pending is not None:
                if not self._pending_is_card and not self._current_is_card and self._current is not None \
                        and now - self._fresh_at < CATCH_UP_MAX_S:
                    self._spacing.append(now - self._fresh_at)
                self._current = pending[0]
                self._current_t = pending[1]
                self._current_is_card = self._pending_is_card
                self._pending_is_card = False
                self._fresh_at = now
            current = self._current
            withdrawn = (current is not None and not self._current_is_card
                         and self._current_t <= self._withdrawn_before)
            stalled = (pending is None and not self._current_is_card and self.state == "sending"
                       and now - max(self._fresh_at, resumed_at()) > self._catch_up_after())
        if current is None:
            return False
        if withdrawn:
            current = self._hidden(current)
        if stalled:
            current = self._card()
        if not self._sink.offer(current, now, wait):
            with self._lock:
                self._late += 1
                if pending is not None and self._pending is None:
                    self._pending = pending  # the newest frame is not lost: it goes at the next tick
                    self._pending_held = True
                elif pending is not None:
                    self._dropped += 1  # a newer frame came during the offer: this one never goes out
                    self._left_out += 1
            return False
        with self._lock:
            self._sent += 1
            self._send_times.append(now)
            # The device took a frame after an outage told as "opens but takes no frame" (the
            # program holding it let go): said, since the quiet reopens before it were not.
            back = self._flap_told is not None and self._sink.sent > self._back_sent and (
                self._flap_told == "no frame" or now - self._back_at >= REOPEN_BACKOFF_MAX_S)
            if back:
                self._flap_told = None
            if stalled:
                self._catching_up += 1
            if pending is None:
                self._repeats += 1
            else:
                self._latencies.append(now - pending[1])
            # After a resume, "sending" starts with the first new frame: until then the repeats
            # are the card shown while the source reopens. After a reopen, repeats count.
            fresh = pending is not None or self._resume_since is None
            if self.state != "sending" and not self._paused and fresh:
                self.state, self.status = "sending", None
                if self._resume_since is not None:
                    self.resume_latency_s = now - self._resume_since
                    self._resume_since = None
                    log.info("An app is watching: the first frame went out %.0f ms after it opened the camera.",
                             1000 * self.resume_latency_s)
        if back:
            log.warning("The %s takes frames again.", self.output.description)
        return True

    def _hidden(self, image: np.ndarray) -> np.ndarray:
        """``image``, withdrawn, through the hide function; kept as the frame repeated."""
        hidden = self._hide(image)
        with self._lock:
            if self._current is image:
                self._current, self._current_t = hidden, math.inf
        return hidden

    def _catch_up_after(self) -> float:
        """Seconds without a new frame that make a stall: CATCH_UP_AFTER_S, or CATCH_UP_SPACINGS of how
        long frames take on a machine that makes them slowly (at most CATCH_UP_MAX_S).

        How long frames take is their recent median spacing once three are known. Before that (the
        first frames after a start or a resume) it is how long the newest frame took from capture to
        out: a machine that needs seconds for one frame has not stalled between its first two."""
        if len(self._spacing) >= 3:
            usual = statistics.median(self._spacing)
        elif self._latencies:
            usual = self._latencies[-1]
        else:
            return CATCH_UP_AFTER_S
        return min(CATCH_UP_MAX_S, max(CATCH_UP_AFTER_S, CATCH_UP_SPACINGS * usual))

    def _deadline(self) -> float:
        # An output that checks its own sends (a recording) says how long they may take.
        return getattr(self.output, "deadline_s", SINK_DEADLINE_S)

    def _card(self) -> np.ndarray:
        if self._catch_up_card is None:
            self._catch_up_card = placeholder_image(self.output.width, self.output.height, CATCHING_UP_TEXT)
        return self._catch_up_card

    def _output_hung(self) -> None:
        """The output's send has not returned for SINK_DEADLINE_S: drop it (unblocking it if it can
        be) and carry on; its thread is left behind, never written to again."""
        self.output.abort()
        if not self.output.recoverable:
            with self._lock:
                self.state = "failed"
                self.status = (f"The {self.output.description} took no frame for {self._deadline():g} s "
                               "(it hung) and was stopped.")
            self.failed.set()
            return
        flapping = self._flap()
        (log.debug if flapping else log.warning)(
            "The %s hung for %g s; LiveCam drops it and reopens it.", self.output.description, self._deadline())
        self._sink = _SinkThread(self.output)
        self._lost(flapping, f"it hung for {self._deadline():g} s")

    def _output_broke(self, exc: Exception) -> None:
        if not self.output.recoverable:
            sentence = str(exc) if isinstance(exc, OutputFailed) else (
                f"Sending to the {self.output.description} failed ({exc}); it was stopped.")
            with self._lock:
                self.state, self.status = "failed", sentence
            self.failed.set()
            return
        # Close the dead handle now: writing to it again could block or crash in the driver.
        flapping = self._flap()
        (log.debug if flapping else log.warning)(
            "The %s stopped taking frames (%s); LiveCam reopens it.", self.output.description, exc)
        try:
            self.output.close()
        except Exception as close_exc:
            log.debug("closing the lost output failed: %s", close_exc)
        self._sink = _SinkThread(self.output)
        self._lost(flapping, shown(str(exc) or type(exc).__name__, 100))

    def _flap(self) -> str | None:
        """How the output failed again after a reopen that worked, or None for a fresh outage: "no frame" when it
        took none (a device held by another program, a driver in a bad state), "soon" when it took some but
        failed before it had stayed as long as the longest back-off (a driver that takes N frames, then errors).
        Each such reopen "worked", so every loss started a fresh outage: a reopen every half second for good,
        two warnings each, and the state flipping back to "sending". The same outage goes on instead."""
        if not self._reopened:
            return None
        if self._sink.sent <= self._back_sent:
            return "no frame"
        return "soon" if time.monotonic() - self._back_at < REOPEN_BACKOFF_MAX_S else None

    def _lost(self, flapping: str | None = None, why: str = "") -> None:
        with self._lock:
            self.reopen_attempts = 0
            if flapping:  # the same outage goes on: the back-off keeps growing, the sentence says why
                self._reopen_delay = min(self._reopen_delay * 2, REOPEN_BACKOFF_MAX_S)
                self._flap_losses += 1
            else:
                self._reopen_delay = REOPEN_BACKOFF_START_S
                self._flap_told = None
                self._flap_losses = 1
            self._reopened = False
            self._next_reopen = time.monotonic() + self._reopen_delay
            self.state = "reopening"
            fix = "close other programs that use it, or replug or reload the device"
            if flapping == "no frame":
                self.status = (f"The {self.output.description} opens but takes no frame ({why}); LiveCam tries "
                               f"again in {self._reopen_delay:g} s ({fix}).")
            elif flapping:
                self.status = (f"The {self.output.description} fails again soon after each reopen ({why}; lost "
                               f"{self._flap_losses} times); LiveCam tries again in {self._reopen_delay:g} s ({fix}).")
            else:
                self.status = f"The {self.output.description} was lost; reopening it in {self._reopen_delay:g} s."
            told = self._flap_told
            if flapping and told is None:
                self._flap_told = flapping
        if flapping and told is None:  # one sentence when the flap starts; "takes frames again" when it ends
            log.warning("%s", self.status)

    def _try_reopen(self) -> None:
        """One reopen at a time, on a thread of its own: a driver that hangs in open or close stops
        neither this thread (the stop, the status) nor the process; it is waited for, never doubled."""
        attempt = self._reopening
        if attempt is None:
            if time.monotonic() < self._next_reopen:
                return
            self.reopen_attempts += 1
            attempt = self._reopening = OneShot(self.output.reopen, name="livecam-reopen")
            self._reopen_told = False
            self._reopen_seen = attempt.started
        # A reopen that is quick (the usual case) is dealt with in this tick, as before. An awaited camera's open
        # is looked at again at the next tick: meanwhile the stand-in gets its frames on time, and the open has
        # its own limit (sinks.OPEN_LIMIT_S), so no hang is said for it here.
        awaiting = self._awaiting()
        waited = 0.0 if awaiting else min(self._deadline(), 1.0 / self.fps)
        if not attempt.wait(waited):
            if awaiting:
                return
            now = time.monotonic()
            # Stopped and continued since the reopen was last looked at, in this wait or between two ticks
            # (a stop that fell between them, outside any wait, was taken for a hang): not a hang.
            seen, self._reopen_seen = self._reopen_seen, now
            if not_running_for(seen, waited + 1.0 / self.fps, now):
                attempt.excuse(now)
            if attempt.running_for(now) > self._deadline() and not self._reopen_told:
                self._reopen_told = True
                log.warning("Reopening the %s has not returned for %g s (it hung in its driver); LiveCam waits "
                            "for it.", self.output.description, self._deadline())
                with self._lock:
                    self.status = (f"The {self.output.description} was lost, and reopening it has hung in its "
                                   "driver; LiveCam waits for it (replug or reload the device if it stays).")
            return
        self._reopening = None
        if attempt.error is not None:
            self._reopen_delay = min(self._reopen_delay * 2, REOPEN_BACKOFF_MAX_S)
            self._next_reopen = time.monotonic() + self._reopen_delay
            log.debug("reopening the output failed: %s", attempt.error)
            with self._lock:
                if awaiting:  # said once, by open_output; the stats line keeps the count
                    self.status = (f"The virtual camera is not there yet (attempt {self.reopen_attempts} failed, "
                                   f"next in {self._reopen_delay:g} s); {self.output.meanwhile}.")
                    return
                self.status = (
                    f"The {self.output.description} was lost; reopening it "
                    f"(attempt {self.reopen_attempts} failed, next in {self._reopen_delay:g} s)."
                )
            return
        self._reopened = True
        self._back_at, self._back_sent = time.monotonic(), self._sink.sent
        if awaiting or self.state != "reopening":  # the awaited camera opened (it said so): frames never stopped
            self._reopen_delay = REOPEN_BACKOFF_START_S
            with self._lock:
                self.status = None
            return
        (log.debug if self._flap_told else log.warning)(
            "The %s is back after %d attempt%s.", self.output.description, self.reopen_attempts,
            "" if self.reopen_attempts == 1 else "s")
        with self._lock:
            self.state, self.status = "starting", None  # "sending" once the next frame goes out
