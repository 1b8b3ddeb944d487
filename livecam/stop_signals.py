"""The stop signals: what ends `livecam run`, `render` and the GUI in order, and how a handler for them
is installed (the handler finishes the recording or removes its partial, then the process ends)."""
from __future__ import annotations

import signal
import threading
from typing import Any

from livecam.oneshot import STOP_ASKED

# The signals that end a run or a render in order (the recording finalised or its partial removed):
# SIGHUP too, sent when the terminal closes or an ssh session drops; its default action would leave
# an unfinished hidden temp file and an orphaned encoder behind.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def catch_stop_signals(handler: Any) -> dict[int, Any]:
    """Install ``handler`` for the STOP_SIGNALS (main thread only); returns the previous handlers.
    A signal someone chose to ignore stays ignored (``nohup livecam run`` survives its terminal)."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    STOP_ASKED.clear()  # a new run (in a process that ran one before: tests) starts with none asked

    def stop(*args: Any) -> None:
        STOP_ASKED.set()  # waits on a driver (the virtual camera's open) give up before the handler's watchdog
        handler(*args)

    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, stop)
    return previous
