"""One call to a driver that may never return, run where it cannot hold anyone up.

Opening a camera or a virtual camera goes through drivers that can block for good (a camera in a
bad state, one another program holds, a device being unplugged). Such a call runs on a daemon
thread of its own; the caller waits for it only as long as it chooses and then carries on, and the
thread ends whenever the driver lets it go (a daemon thread never holds the process's exit).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from livecam.not_running import not_running_for


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

    def finished_within(self, limit: float) -> bool:
        """Whether it has finished within ``limit`` s of time the process ran: a stop meanwhile (Ctrl+Z,
        a paused VM) gives the call its ``limit`` afresh once the process goes on, as the model run
        guard does. Judged on the clock alone, a stop during an open made a working driver "hung"."""
        asked = time.monotonic()
        while not self.done.wait(max(0.0, limit)):
            now = time.monotonic()
            if not not_running_for(asked, limit, now):
                return self.done.is_set()
            self.excuse(now)
            asked = now
        return True

    def running_for(self, now: float | None = None) -> float:
        """Seconds since it started, or since the process last went on after not running (see
        :meth:`excuse`), until ``now`` (``time.monotonic()`` by default): only time the call could
        run counts against it."""
        return (time.monotonic() if now is None else now) - max(self.started, self._excused_until)

    def excuse(self, now: float) -> None:
        """The process did not run until ``now`` (livecam.not_running): neither did this call."""
        self._excused_until = max(self._excused_until, now)
