"""A wait that wakes up much later than it asked: the process itself was not running meanwhile.

CLOCK_MONOTONIC goes on counting while a process is stopped (Ctrl+Z or SIGSTOP and then continued,
a paused VM, a machine swapping hard), and meanwhile none of its threads runs: not the camera's, not
the output's, not a model's. A watchdog that measures on that clock would blame one of them for
time in which nothing could run. Every watchdog that excuses such time (the camera's stuck check,
the paced sender's send and reopen deadlines, the model run guard, the recording's encoder
deadline) asks here, so they agree on what counts as "not running".
"""
from __future__ import annotations

# A wake-up this much later than asked is not scheduling noise on a busy machine (that is
# milliseconds, tens of them at worst) but time the process did not run.
NOT_RUNNING_S = 1.0


def not_running_for(asked: float, waited: float, now: float) -> float:
    """Seconds by which a wait of ``waited`` s begun at ``asked`` woke late, when that is so late the
    process did not run meanwhile (over NOT_RUNNING_S); 0.0 otherwise. All times are
    ``time.monotonic()``."""
    late = now - asked - max(0.0, waited)
    return late if late > NOT_RUNNING_S else 0.0
