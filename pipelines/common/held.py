"""Holding the stop signals from a process's first instant: the entry points (pipelines/entry.py, hence the `vsr`
console script and run_pipeline.py) block SIGINT, SIGTERM and SIGHUP before anything else of the program loads.
A signal sent meanwhile (during the imports, or the re-execution with the allocator settings, which keeps the
mask and the pending signals) stays pending until the one shutdown path (pipelines/common/shutdown.py) installs
its handlers and unblocks them: it then stops the run with 128 + N and one line, like any later signal.

Only `signal` is imported here, so that holding costs nothing before it takes effect.
"""

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def hold_signals() -> None:
    """Blocks the stop signals in the calling thread (and the threads it starts from now on)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
