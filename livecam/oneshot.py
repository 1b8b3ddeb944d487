"""One call to a driver that may never return, run where it cannot hold anyone up.

Opening a camera or a virtual camera goes through drivers that can block for good (a camera in a
bad state, one another program holds, a device being unplugged). Such a call runs on a daemon
thread of its own; the caller waits for it only as long as it chooses and then carries on, and the
thread ends whenever the driver lets it go (a daemon thread never holds the process's exit).
"""
from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

from livecam.not_running import not_running_for

# Set when the process was asked to stop (a stop signal, see stop_signals.catch_stop_signals): a wait given
# it as ``give_up`` ends at once. A stop during the virtual camera's open waited out the open's 5 s, and
# `livecam run`'s 2 s watchdog ended the process instead ("Stopping took longer than 2 s", exit 1).
STOP_ASKED = threading.Event()
_GIVE_UP_POLL_S = 0.02


class OneShot:
    """``fn()`` started at once on a daemon thread. ``done`` is set when it returned (``result``)
    or raised (``error``); ``started`` is its ``time.monotonic()`` start."""

    _excused_until = 0.0  # the process did not run until then (see excuse)

    def __init__(self, fn: Callable[[], Any], name: str = "livecam-oneshot") -> None:
        self.result: Any = None
        self.error: Exception | None = None
        self.done = threading.Event()
        self.started = time.monotonic()
        threading.Thread(target=self._run, args=(fn,), name=name, daemon=True).start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except Exception as exc:  # noqa: BLE001 - the caller says what it means
            self.error = exc
        finally:
            self.done.set()

    def wait(self, timeout: float) -> bool:
        """Whether it has finished (returned or raised) within ``timeout`` s from now."""
        return self.done.wait(max(0.0, timeout))

    def finished_within(self, limit: float, give_up: threading.Event | None = None) -> bool:
        """Whether it has finished within ``limit`` s of time the process ran: a stop meanwhile (Ctrl+Z,
        a paused VM) gives the call its ``limit`` afresh once the process goes on, as the model run
        guard does. Judged on the clock alone, a stop during an open made a working driver "hung".
        ``give_up`` set ends the wait early (False unless it has finished by then)."""
        asked = time.monotonic()
        while not self._wait(limit, give_up):
            now = time.monotonic()
            if give_up is not None and give_up.is_set():
                return self.done.is_set()
            if not not_running_for(asked, limit, now):
                return self.done.is_set()
            self.excuse(now)
            asked = now
        return True

    def _wait(self, limit: float, give_up: threading.Event | None) -> bool:
        if give_up is None:
            return self.done.wait(max(0.0, limit))
        # As one wait of ``limit`` in slices, counted rather than timed: time the process did not run is
        # finished_within's to judge, from the clock, after the wait.
        for _ in range(max(1, math.ceil(limit / _GIVE_UP_POLL_S))):
            if self.done.wait(min(_GIVE_UP_POLL_S, max(0.0, limit))) or give_up.is_set():
                break
        return self.done.is_set()

    def running_for(self, now: float | None = None) -> float:
        """Seconds since it started, or since the process last went on after not running (see
        :meth:`excuse`), until ``now`` (``time.monotonic()`` by default): only time the call could
        run counts against it."""
        return (time.monotonic() if now is None else now) - max(self.started, self._excused_until)

    def excuse(self, now: float) -> None:
        """The process did not run until ``now`` (livecam.not_running): neither did this call."""
        self._excused_until = max(self._excused_until, now)
