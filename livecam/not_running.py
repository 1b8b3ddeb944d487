"""A wait that wakes up much later than it asked: the process itself was not running meanwhile.

CLOCK_MONOTONIC goes on counting while a process is stopped (Ctrl+Z or SIGSTOP and then continued,
a paused VM, a machine swapping hard), and meanwhile none of its threads runs: not the camera's, not
the output's, not a model's. A watchdog that measures on that clock would blame one of them for
time in which nothing could run. Every watchdog that excuses such time (the camera's stuck check,
the paced sender's send and reopen deadlines, the model run guard, the recording's encoder
deadline) asks here, so they agree on what counts as "not running".
"""
from __future__ import annotations

from typing import Sequence

# A wake-up this much later than asked is not scheduling noise on a busy machine (that is
# milliseconds, tens of them at worst) but time the process did not run.
NOT_RUNNING_S = 1.0


_resumed_at = 0.0  # time.monotonic() when a wait last woke that late (the process went on again)


def not_running_for(asked: float, waited: float, now: float) -> float:
    """Seconds by which a wait of ``waited`` s begun at ``asked`` woke late, when that is so late the
    process did not run meanwhile (over NOT_RUNNING_S); 0.0 otherwise. All times are
    ``time.monotonic()``. Such a wake-up is kept for :func:`resumed_at`."""
    global _resumed_at
    late = now - asked - max(0.0, waited)
    if late <= NOT_RUNNING_S:
        return 0.0
    _resumed_at = max(_resumed_at, now)
    return late


def resumed_at() -> float:
    """When a thread of this process last found it had not run (``time.monotonic()``; 0.0: never).

    A thread that was busy, not waiting, when the process was stopped cannot tell by itself: the
    pipeline thread in the middle of a model run read the camera's last frame, two minutes old, and
    called the camera "not responding"; the sender, between two ticks, sent "catching up". Another
    thread that was waiting (the sender ticks 30 times a second) noticed, and its notice stands for
    the whole process."""
    return _resumed_at


def rate(times: Sequence[float]) -> float:
    """Events per second over ``times`` (``time.monotonic()``, oldest first), counting only those since
    the process last went on again: a window that spanned the stop said "0.5 fps" after every resume,
    for as long as the window lasted."""
    since = _resumed_at
    times = [t for t in times if t >= since]
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
