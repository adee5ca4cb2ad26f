"""The `vsr` command line (also `python run_pipeline.py`): one sub-command per job."""

from __future__ import annotations

import argparse
import importlib
import sys

from vsr.errors import VSRError

# Sub-command modules under pipelines.commands, in the order `--help` lists them.
COMMANDS = ["models", "upscale", "demo", "image", "evaluate", "compare", "live", "train", "cost", "bench", "export"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vsr", description="SAFMN video super-resolution")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"pipelines.commands.{name}").register(sub)
    return parser


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each setting (an option's `dest`) as the flag the user types, for errors that name a setting."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update(flag_names(sub))
        elif action.option_strings:
            names.setdefault(action.dest, max(action.option_strings, key=len))
    return names


def main(argv: list[str] | None = None) -> int:
    """Parse and run one command; returns the exit code: 0, 2 for a one-line error, 128 + N when signal N stopped
    it (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP). Safe to call in-process: it installs no signal handlers."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VSRError as exc:
        print(f"error: {exc.render(flag_names(parser))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return _interrupted(exc)


def _interrupted(exc: KeyboardInterrupt) -> int:
    from pipelines.common.stop import as_interrupted

    stopped = as_interrupted(exc)
    print(stopped.message(), file=sys.stderr, flush=True)
    return stopped.exit_code


def entry() -> int:
    """The program's entry point (imported through pipelines/entry.py, which holds the signals before anything
    else loads; held again here for a caller that came another way). The held signals are handled by the one
    shutdown path (pipelines/common/shutdown.py) once it is installed. It first re-executes once with the CPU
    allocator and OpenMP settings that must be in place before the process starts (1.5x and more on CPU, see
    vsr/engine/perf.py; VSR_NO_MALLOC_TUNING=1 turns it off); the signal mask and a signal sent meanwhile stay
    pending across the exec. Then it runs `main` and joins the tool's threads before the interpreter exits."""
    from pipelines.common.held import hold_signals
    from pipelines.common.shutdown import Shutdown
    from vsr.engine.perf import reexec_with_malloc_tunables

    hold_signals()
    reexec_with_malloc_tunables()
    shutdown = Shutdown()  # installed until the process ends: a signal while exiting must not kill it
    try:
        try:
            shutdown.install()
            code = main()
        finally:
            shutdown.mark_finished()
    except KeyboardInterrupt as exc:  # a signal before `main` ran, or as it returned (the handler raises once)
        code = _interrupted(exc)
    return shutdown.join_threads(code)


if __name__ == "__main__":
    sys.exit(entry())
