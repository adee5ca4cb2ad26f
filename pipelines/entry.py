"""The program's entry point, for the `vsr` console script and run_pipeline.py: importing this module first holds
the stop signals (pipelines/common/held.py), so that a Ctrl-C in the first instant, while the rest loads, still
ends the run the one way (exit 130 and `stopped by Ctrl-C`; docs/stopping.md). Only entry points import it."""

from pipelines.common.held import hold_signals

hold_signals()

from pipelines.cli import entry  # noqa: E402  (after the hold: the CLI's imports may take tens of milliseconds)

__all__ = ["entry"]
